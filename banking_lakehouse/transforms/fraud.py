"""Fraud rules (docs/fraud.md) as Spark window functions over the batch and the earlier batches' statistics.

On the first batch there is no history, so `spending_spike` cannot fire; it needs at least
MIN_HISTORY earlier transactions of the customer, whose mean and sample standard deviation come from
exact running sums (`fraud_history`). `risky_merchant_night` compares with the account's median over
its earlier transactions and the batch (the batch alone on the first day). Since the median is kept
in bounded state, "earlier" means the account's MEDIAN_WINDOW most recent earlier transactions: the
result equals the median over the whole history while an account has at most that many, and follows
its recent habit after.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from banking_lakehouse.fraud_patterns import (
    CARD_TESTING_MIN,
    CARD_TESTING_SECONDS,
    LARGE_AMOUNT_USD,
    MIN_HISTORY,
    SMALL_AMOUNT_USD,
    SPIKE_MULTIPLE,
    TRAVEL_SECONDS,
    VELOCITY_MIN,
    VELOCITY_SECONDS,
)
from banking_lakehouse.transforms.fraud_history import spending_of, spending_profile

# The longest time a rule looks across: every group a windowed rule fires on lies within this span.
RULE_HORIZON_SECONDS = max(CARD_TESTING_SECONDS, VELOCITY_SECONDS, TRAVEL_SECONDS)
RULE_WEIGHTS = {
    "large_amount": 40,
    "card_testing": 35,
    "velocity": 30,
    "impossible_travel": 45,
    "risky_merchant_night": 40,
    "spending_spike": 30,
}


def _in_dense_window(by: list[str | Column], seconds: int, minimum: int) -> Column:
    """Whether the row lies in some `seconds`-long window holding at least `minimum` rows of its group
    (the most rows any window ending within `seconds` after the row holds)."""
    order = F.col("_epoch")
    trailing = Window.partitionBy(*by).orderBy(order).rangeBetween(-seconds, 0)
    leading = Window.partitionBy(*by).orderBy(order).rangeBetween(0, seconds)
    return F.max(F.count(F.lit(1)).over(trailing)).over(leading) >= minimum


def card_testing(group: list[str]) -> Column:
    """`card_testing` over rows with `_epoch` (seconds), windowed within `group` (one account's rows)."""
    small = F.col("amount_usd") < SMALL_AMOUNT_USD
    return small & _in_dense_window([*group, "merchant_key", small], CARD_TESTING_SECONDS, CARD_TESTING_MIN)


def velocity(group: list[str]) -> Column:
    """`velocity` over rows with `_epoch` (seconds), windowed within `group` (one account's rows)."""
    return _in_dense_window(group, VELOCITY_SECONDS, VELOCITY_MIN)


def previous_card_use(group: list[str]) -> dict[str, Column]:
    """`_prev_country`, `_prev_epoch`: the group's previous transaction of the same kind (card-present or
    not), ties broken by id so every run gives the same result."""
    previous = Window.partitionBy(*group, "is_card_present").orderBy("_epoch", "transaction_id")
    return {"_prev_country": F.lag("country").over(previous), "_prev_epoch": F.lag("_epoch").over(previous)}


def impossible_travel(home: Column) -> Column:
    """`impossible_travel` given `previous_card_use`'s columns and the customer's home country (null: unknown)."""
    return (
        F.col("is_card_present")
        & (F.col("country") != F.col("_prev_country"))
        & (F.col("_epoch") - F.col("_prev_epoch") < TRAVEL_SECONDS)
        & (F.col("country") != F.coalesce(home, F.col("_prev_country")))
    )


def large_amount() -> Column:
    """`large_amount`: above LARGE_AMOUNT_USD; outliers (above 1 000 000) are data errors, not fraud."""
    return (F.col("amount_usd") > LARGE_AMOUNT_USD) & ~F.col("is_outlier")


def detect_fraud(batch: DataFrame, history: DataFrame, customers: DataFrame) -> DataFrame:
    """The rules given the earlier transactions themselves (all of them: the median unbounded), the
    reference the running statistics reproduce."""
    return fraud_rules(batch, spending_of(history), history.select("account_key", "amount_usd"), customers)


def fraud_rules(batch: DataFrame, spending: DataFrame, earlier_amounts: DataFrame, customers: DataFrame) -> DataFrame:
    """Rows of `batch` on which at least one rule fired, with the rules, a 0-100 risk score and a severity.

    `spending`: per customer the count, Σ and Σ² of earlier amounts; `earlier_amounts`: (account_key,
    amount_usd) rows the account median covers besides the batch.
    """
    # Every window is over one account's rows (with the batch/history mark in the key): one shuffle by
    # account for them all, the account's earlier amounts riding along as marked rows for its median.
    batch_rows = F.col("_in_batch")
    rows = batch.withColumns({"_epoch": F.col("transaction_ts").cast("long"), "_in_batch": F.lit(True)}).unionByName(
        earlier_amounts.withColumn("_in_batch", F.lit(False)), allowMissingColumns=True
    )
    group = ["account_key", "_in_batch"]
    flagged = (
        rows.repartition("account_key")
        .withColumns(
            {
                # The account's typical ticket over its history and this batch: robust even for a quiet account.
                "_account_median": F.median("amount_usd").over(Window.partitionBy("account_key")),
                "card_testing": card_testing(group),
                "velocity": velocity(group),
                **previous_card_use(group),
            }
        )
        .where(batch_rows)
        .join(F.broadcast(customers.select("customer_key", F.col("country").alias("_home"))), "customer_key", "left")
        .join(F.broadcast(spending_profile(spending)), "customer_key", "left")
        .withColumn("impossible_travel", impossible_travel(F.col("_home")))
        .withColumn("large_amount", large_amount())
        .withColumn(
            "risky_merchant_night",
            F.col("is_high_risk")
            & (F.hour("transaction_ts") < 5)
            & (F.col("amount_usd") > 5 * F.col("_account_median")),
        )
        .withColumn(
            "spending_spike",
            (F.col("_n") >= MIN_HISTORY)
            & (F.col("amount_usd") > F.col("_mean") + 4 * F.col("_std"))
            & (F.col("amount_usd") > SPIKE_MULTIPLE * F.col("_mean"))
            & (F.col("amount_usd") <= LARGE_AMOUNT_USD)
            & ~F.col("is_outlier"),
        )
    )
    fired: list[Column] = [F.when(F.coalesce(F.col(r), F.lit(False)), F.lit(r)) for r in RULE_WEIGHTS]
    score = sum(F.when(F.coalesce(F.col(r), F.lit(False)), F.lit(w)).otherwise(0) for r, w in RULE_WEIGHTS.items())
    return (
        flagged.withColumn("_rules", F.array_compact(F.array(*fired)))
        .where(F.size("_rules") > 0)
        .withColumn("risk_score", F.least(F.lit(100), score).cast("decimal(5,2)"))
        .select(
            "transaction_id",
            "transaction_key",
            "transaction_date",
            "transaction_ts",
            "customer_key",
            "account_key",
            "merchant_key",
            "amount_usd",
            F.array_join("_rules", ",").alias("rules"),
            F.size("_rules").alias("rule_count"),
            "risk_score",
            F.when(F.col("risk_score") >= 70, "critical")
            .when(F.col("risk_score") >= 45, "high")
            .when(F.col("risk_score") >= 30, "medium")
            .otherwise("low")
            .alias("severity"),
            "batch_date",
        )
    )
