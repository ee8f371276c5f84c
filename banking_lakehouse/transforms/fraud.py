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

from banking_lakehouse.transforms.fraud_history import spending_of, spending_profile

LARGE_AMOUNT_USD = 30_000
SMALL_AMOUNT_USD = 5
MIN_HISTORY = 3
SPIKE_MULTIPLE = 20  # far above any organic ticket, and above the other patterns' injected amounts
RULE_WEIGHTS = {
    "large_amount": 40,
    "card_testing": 35,
    "velocity": 30,
    "impossible_travel": 45,
    "risky_merchant_night": 40,
    "spending_spike": 30,
}


def _in_dense_window(df: DataFrame, by: list[str], seconds: int, minimum: int, flag: str) -> DataFrame:
    """Flags every row that lies in some `seconds`-long window holding at least `minimum` rows of its group."""
    order = F.col("_epoch")
    trailing = Window.partitionBy(*by).orderBy(order).rangeBetween(-seconds, 0)
    leading = Window.partitionBy(*by).orderBy(order).rangeBetween(0, seconds)
    return (
        df.withColumn("_trailing", F.count(F.lit(1)).over(trailing))
        .withColumn(flag, F.max("_trailing").over(leading) >= minimum)
        .drop("_trailing")
    )


def detect_fraud(batch: DataFrame, history: DataFrame, customers: DataFrame) -> DataFrame:
    """The rules given the earlier transactions themselves (all of them: the median unbounded), the
    reference the running statistics reproduce."""
    return fraud_rules(batch, spending_of(history), history.select("account_key", "amount_usd"), customers)


def fraud_rules(batch: DataFrame, spending: DataFrame, earlier_amounts: DataFrame, customers: DataFrame) -> DataFrame:
    """Rows of `batch` on which at least one rule fired, with the rules, a 0-100 risk score and a severity.

    `spending`: per customer the count, Σ and Σ² of earlier amounts; `earlier_amounts`: (account_key,
    amount_usd) rows the account median covers besides the batch.
    """
    df = batch.withColumn("_epoch", F.col("transaction_ts").cast("long"))

    small = _in_dense_window(
        df.where(F.col("amount_usd") < SMALL_AMOUNT_USD), ["account_key", "merchant_key"], 600, 5, "card_testing"
    ).select("transaction_id", "card_testing")
    velocity = _in_dense_window(df, ["account_key"], 3_600, 10, "velocity").select("transaction_id", "velocity")

    previous = Window.partitionBy("account_key").orderBy(
        "_epoch", "transaction_id"
    )  # ties broken: same result every run
    home = customers.select("customer_key", F.col("country").alias("_home"))
    travel = (
        df.where("is_card_present")
        .withColumn("_prev_country", F.lag("country").over(previous))
        .withColumn("_prev_epoch", F.lag("_epoch").over(previous))
        .join(F.broadcast(home), "customer_key", "left")
        .select(
            "transaction_id",
            (
                (F.col("country") != F.col("_prev_country"))
                & (F.col("_epoch") - F.col("_prev_epoch") < 7_200)
                & (F.col("country") != F.coalesce(F.col("_home"), F.col("_prev_country")))
            ).alias("impossible_travel"),
        )
    )

    # The account's typical ticket over its history and this batch: robust even for a quiet account.
    account_median = (
        earlier_amounts.unionByName(df.select("account_key", "amount_usd"))
        .groupBy("account_key")
        .agg(F.median("amount_usd").alias("_account_median"))
    )
    past = spending_profile(spending)
    flagged = (
        df.join(account_median, "account_key", "left")
        .join(past, "customer_key", "left")
        .join(small, "transaction_id", "left")
        .join(velocity, "transaction_id", "left")
        .join(travel, "transaction_id", "left")
        .withColumn("large_amount", (F.col("amount_usd") > LARGE_AMOUNT_USD) & ~F.col("is_outlier"))
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
