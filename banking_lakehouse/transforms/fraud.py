"""Fraud rules (docs/fraud.md) as Spark window functions over the batch and the earlier batches' statistics.

Most rules judge each row within its account's rows: one shuffle of the batch by account serves all their
windows. Rules whose rows are rare by shape (`card_testing`, `structuring`, `round_amount_burst`,
`rapid_pass_through`: tiny amounts, amounts in a band, round amounts, large in and out) are judged on those few
candidate rows alone and merged with the others' flagged rows by id, so they add a filtered read of the day, not
a sort of every row.

On the first batch there is no history, so `spending_spike` and `account_takeover` cannot fire; the spike
needs at least MIN_HISTORY earlier transactions of the customer, whose mean and sample standard deviation
come from exact running sums (`fraud_history`). `risky_merchant_night` and `account_takeover` compare with
the account's median over its earlier transactions and the batch (the batch alone on the first day). Since
the median and the account's habits are kept in bounded state, "earlier" means the account's MEDIAN_WINDOW
most recent earlier transactions: the result equals the one over the whole history while an account has at
most that many, and follows its recent habit after.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable
from functools import reduce

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from banking_lakehouse import reference as ref
from banking_lakehouse.fraud_patterns import (
    CARD_TESTING_MIN,
    CARD_TESTING_SECONDS,
    DORMANT_DAYS,
    DORMANT_OUTFLOW_USD,
    LARGE_AMOUNT_USD,
    MIN_HISTORY,
    PASS_THROUGH_MIN_USD,
    PASS_THROUGH_SECONDS,
    PASS_THROUGH_SHARE,
    REPORTING_THRESHOLD_USD,
    ROUND_BURST_MIN,
    ROUND_BURST_SECONDS,
    ROUND_MIN_AMOUNT,
    ROUND_UNIT,
    SMALL_AMOUNT_USD,
    SPIKE_MULTIPLE,
    STRUCTURING_FLOOR_SHARE,
    STRUCTURING_MIN,
    STRUCTURING_SECONDS,
    TAKEOVER_MIN_USD,
    TAKEOVER_MULTIPLE,
    TRAVEL_SECONDS,
    VELOCITY_MIN,
    VELOCITY_SECONDS,
)
from banking_lakehouse.transforms.fraud_history import (
    ACCOUNT_RECENT,
    account_habits,
    account_recent,
    empty,
    recent_amounts,
    spending_of,
    spending_profile,
)

# The longest time a rule looks across: every group a windowed rule fires on lies within this span.
RULE_HORIZON_SECONDS = max(CARD_TESTING_SECONDS, VELOCITY_SECONDS, TRAVEL_SECONDS)
# A transaction id is unique within its batch only.
FIRED_KEY = ("batch_date", "transaction_id")
RULE_WEIGHTS = {
    "large_amount": 40,
    "card_testing": 35,
    "velocity": 30,
    "impossible_travel": 45,
    "risky_merchant_night": 40,
    "spending_spike": 30,
    "structuring": 45,
    "dormant_reactivation": 40,
    "round_amount_burst": 35,
    "rapid_pass_through": 45,
    "account_takeover": 50,
}


def _in_dense_window(by: list[str | Column], seconds: int, minimum: int) -> Column:
    """Whether the row lies in some `seconds`-long window holding at least `minimum` rows of its group
    (the most rows any window ending within `seconds` after the row holds)."""
    order = F.col("_epoch")
    trailing = Window.partitionBy(*by).orderBy(order).rangeBetween(-seconds, 0)
    leading = Window.partitionBy(*by).orderBy(order).rangeBetween(0, seconds)
    return F.max(F.count(F.lit(1)).over(trailing)).over(leading) >= minimum


def spending_spike() -> Column:
    """A spike against the customer's earlier spending (`spending_profile`'s columns)."""
    return (
        (F.col("_n") >= MIN_HISTORY)
        & (F.col("amount_usd") > F.col("_mean") + 4 * F.col("_std"))
        & (F.col("amount_usd") > SPIKE_MULTIPLE * F.col("_mean"))
        & (F.col("amount_usd") <= LARGE_AMOUNT_USD)
        & ~F.col("is_outlier")
    )


def card_testing(group: list[str]) -> Column:
    """`card_testing` over rows with `_epoch` (seconds), windowed within `group` (one account's rows)."""
    small = F.col("amount_usd") < SMALL_AMOUNT_USD
    return small & _in_dense_window([*group, "merchant_key", small], CARD_TESTING_SECONDS, CARD_TESTING_MIN)


def card_testing_bursts(batch: DataFrame) -> DataFrame:
    """Ids (and batch dates) of the batch's rows `card_testing` fires on, judged on its small rows alone (a
    tiny share of a day; the unknown account and merchant -1 are grouped as any other, as in `card_testing`)."""
    small = batch.where(F.col("amount_usd") < SMALL_AMOUNT_USD).withColumn(
        "_epoch", F.col("transaction_ts").cast("long")
    )
    return small.withColumn("_fired", card_testing(["batch_date", "account_key"])).where("_fired").select(*FIRED_KEY)


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


def _type_in(types: Iterable[str]) -> Column:
    return F.col("transaction_type_key").isin(*sorted(ref.TRANSACTION_TYPE_KEYS[t] for t in types))


def _credit() -> Column:
    """Money into the account (the unknown type is neither credit nor debit)."""
    return _type_in(ref.CREDIT_TYPES)


def _debit() -> Column:
    return _type_in(set(ref.TRANSACTION_TYPES) - ref.CREDIT_TYPES)


def round_amount_burst(batch: DataFrame) -> DataFrame:
    """Ids (and batch dates) of the batch's outgoing transfers of whole ROUND_UNITs (in their own currency)
    that lie, with ROUND_BURST_MIN - 1 more of the same account's, within ROUND_BURST_SECONDS (judged on
    those few rows)."""
    is_round = (
        _type_in(["transfer"])
        & (F.col("amount") % ROUND_UNIT == 0)
        & (F.col("amount") >= ROUND_MIN_AMOUNT)
        & ~F.col("is_outlier")
    )
    return _dense_few(batch.where(is_round), "account_key", ROUND_BURST_SECONDS, ROUND_BURST_MIN)


def _dense_few(candidates: DataFrame, by: str, seconds: int, minimum: int) -> DataFrame:
    """Ids of the candidate rows that lie in some `seconds`-long window holding `minimum` of their `by`'s
    rows of the same batch."""
    return (
        candidates.where(F.col(by) != -1)
        .withColumn("_epoch", F.col("transaction_ts").cast("long"))
        .withColumn("_fired", _in_dense_window(["batch_date", by], seconds, minimum))
        .where("_fired")
        .select(*FIRED_KEY)
    )


def dormant_reactivation(is_dormant: Column) -> Column:
    """`dormant_reactivation` given `account_habits`' `_last_epoch` (null: no activity in the history) and
    whether the day's master data marks the account dormant."""
    idle = F.col("_epoch") - F.col("_last_epoch") >= DORMANT_DAYS * 86_400
    dormant = F.when(F.col("_last_epoch").isNull(), F.coalesce(is_dormant, F.lit(False))).otherwise(idle)
    return _debit() & (F.col("amount_usd") >= DORMANT_OUTFLOW_USD) & ~F.col("is_outlier") & dormant


def account_takeover(home: Column) -> Column:
    """`account_takeover` given `account_habits`' columns, the account median and the customer's home."""
    new = lambda habit, value: ~F.coalesce(F.array_contains(habit, value), F.lit(False))  # noqa: E731
    return (
        _debit()
        & (F.col("_habit_n") >= MIN_HISTORY)
        & new(F.col("_seen_channels"), F.col("channel"))
        & new(F.col("_seen_countries"), F.col("country"))
        & (F.col("country") != F.coalesce(home, F.lit("")))
        & (F.col("amount_usd") >= TAKEOVER_MIN_USD)
        & (F.col("amount_usd") >= TAKEOVER_MULTIPLE * F.col("_account_median"))
        & ~F.col("is_outlier")
    )


def structuring(batch: DataFrame) -> DataFrame:
    """Ids (and batch dates) of the batch's cash deposits and transfers just under the reporting threshold
    that lie, with STRUCTURING_MIN - 1 more of the same customer's, within STRUCTURING_SECONDS (a customer's
    accounts together: judged on those few rows, not on a shuffle of the whole batch by customer)."""
    band = (F.col("amount_usd") >= STRUCTURING_FLOOR_SHARE * REPORTING_THRESHOLD_USD) & (
        F.col("amount_usd") < REPORTING_THRESHOLD_USD
    )
    candidates = batch.where(band & _type_in(["deposit", "transfer_in", "transfer"]))
    return _dense_few(candidates, "customer_key", STRUCTURING_SECONDS, STRUCTURING_MIN)


def rapid_pass_through(batch: DataFrame) -> DataFrame:
    """Ids (and batch dates) of the money that came into an account and left it again within
    PASS_THROUGH_SECONDS: a credit of at least PASS_THROUGH_MIN_USD and a later debit of between
    PASS_THROUGH_SHARE and all of it in the same batch (both flagged; a join of those few large rows)."""
    large = batch.where(
        (F.col("amount_usd") >= PASS_THROUGH_SHARE * PASS_THROUGH_MIN_USD)
        & ~F.col("is_outlier")
        & (F.col("account_key") != -1)  # the unknown account is no one's: no money passes through it
    ).select(
        *FIRED_KEY,
        "account_key",
        F.col("transaction_ts").cast("long").alias("_epoch"),
        "amount_usd",
        _credit().alias("_credit"),
        _debit().alias("_debit"),
    )
    money_in = large.where(F.col("_credit") & (F.col("amount_usd") >= PASS_THROUGH_MIN_USD)).alias("i")
    money_out = large.where(F.col("_debit")).alias("o")
    pairs = money_in.join(
        money_out,
        (F.col("i.account_key") == F.col("o.account_key"))
        & (F.col("i.batch_date") == F.col("o.batch_date"))
        & (F.col("o._epoch") >= F.col("i._epoch"))
        & (F.col("o._epoch") - F.col("i._epoch") <= PASS_THROUGH_SECONDS)
        & (F.col("o.amount_usd") <= F.col("i.amount_usd"))
        & (F.col("o.amount_usd") >= PASS_THROUGH_SHARE * F.col("i.amount_usd")),
    )
    return pairs.select(
        F.col("i.batch_date").alias("batch_date"),
        F.explode(F.array("i.transaction_id", "o.transaction_id")).alias("transaction_id"),
    )


# A flagged transaction's columns besides its rules (batch_date last).
FLAGGED_COLUMNS = (
    "transaction_id",
    "transaction_key",
    "transaction_date",
    "transaction_ts",
    "customer_key",
    "account_key",
    "merchant_key",
    "amount_usd",
    "batch_date",
)


def detect_fraud(
    batch: DataFrame, history: DataFrame, customers: DataFrame, accounts: DataFrame, window: int | None = None
) -> DataFrame:
    """The rules given the earlier transactions themselves, the reference the running statistics reproduce:
    each account's median and habits over its `window` latest earlier transactions (None: all of them),
    the same history serving every batch date of `batch`."""
    nothing = empty(history.sparkSession, ACCOUNT_RECENT)
    served = batch.select("batch_date").distinct()
    spending, recent = spending_of(history), account_recent(nothing, history, window)
    return fraud_rules(batch, spending.crossJoin(served), recent.crossJoin(served), customers, accounts)


def fraud_rules(
    batch: DataFrame, spending: DataFrame, recent: DataFrame, customers: DataFrame, accounts: DataFrame
) -> DataFrame:
    """Rows of `batch` on which at least one rule fired, with the rules, a 0-100 risk score and a severity.

    `spending`: per customer the count, Σ and Σ² of earlier amounts; `recent`: per account the earlier
    transactions its median and habits cover (`fraud_history.account_recent`); `customers`, `accounts`:
    the day's dimension snapshots (home country, status). Each input may hold several days, every row
    tagged with the batch_date it serves (for the statistics: the day after the one they cover), and
    each day is judged on its own: the batch date is part of every window, join and grouping key, so
    a range costs one pass, not one per day.
    """
    # Every window is over one account's rows of one batch (with the batch/history mark in the key): one
    # shuffle by account for them all, the account's earlier amounts riding along as marked rows for its median.
    batch_rows = F.col("_in_batch")
    rows = batch.withColumns({"_epoch": F.col("transaction_ts").cast("long"), "_in_batch": F.lit(True)}).unionByName(
        recent_amounts(recent).withColumn("_in_batch", F.lit(False)), allowMissingColumns=True
    )
    account, customer = ["batch_date", "account_key"], ["batch_date", "customer_key"]
    group = [*account, "_in_batch"]
    dormant = accounts.where(F.col("status") == "dormant").select(*account, F.lit(True).alias("_dormant"))
    homes = customers.select(*customer, F.col("country").alias("_home"))
    by_row = (
        rows.repartition("account_key")
        .withColumns(
            {
                # The account's typical ticket over its history and this batch: robust even for a quiet account.
                "_account_median": F.median("amount_usd").over(Window.partitionBy(*account)),
                "velocity": velocity(group),
                **previous_card_use(group),
            }
        )
        .where(batch_rows)
        .join(account_habits(recent), account, "left")
        .join(F.broadcast(dormant.dropDuplicates(account)), account, "left")
        .join(F.broadcast(homes), customer, "left")
        .join(F.broadcast(spending_profile(spending)), customer, "left")
        .withColumns(
            {
                "impossible_travel": impossible_travel(F.col("_home")),
                "large_amount": large_amount(),
                "risky_merchant_night": F.col("is_high_risk")
                & (F.hour("transaction_ts") < 5)
                & (F.col("amount_usd") > 5 * F.col("_account_median")),
                "dormant_reactivation": dormant_reactivation(F.col("_dormant")),
                "account_takeover": account_takeover(F.col("_home")),
                "spending_spike": spending_spike(),
            }
        )
    )
    # The rules judged on few candidate rows fire on few rows: merged with the others' (few too) by id,
    # never joined into the whole batch.
    few_rules = {
        "card_testing": card_testing_bursts,
        "structuring": structuring,
        "round_amount_burst": round_amount_burst,
        "rapid_pass_through": rapid_pass_through,
    }
    row_rules = [r for r in RULE_WEIGHTS if r not in few_rules]
    fired_by_row = by_row.where(_any(row_rules)).select(*FLAGGED_COLUMNS, *row_rules)
    fired_few = (
        reduce(
            DataFrame.unionByName, (rule(batch).withColumn("_rule", F.lit(name)) for name, rule in few_rules.items())
        )
        .groupBy(*FIRED_KEY)
        .agg(*(F.max(F.col("_rule") == name).alias(name) for name in few_rules))
    )
    fired_few = batch.join(F.broadcast(fired_few), list(FIRED_KEY)).select(*FLAGGED_COLUMNS, *few_rules)
    flagged = (
        fired_by_row.unionByName(fired_few, allowMissingColumns=True)
        .groupBy(*FLAGGED_COLUMNS)
        .agg(*(F.coalesce(F.max(r), F.lit(False)).alias(r) for r in RULE_WEIGHTS))
        # `spending_spike` is the catch-all: a spike that no more specific rule explains (a reactivated
        # dormant account, a takeover, structured or passed-through money are spikes too).
        .withColumn("spending_spike", F.col("spending_spike") & ~_any(r for r in RULE_WEIGHTS if r != "spending_spike"))
    )
    fired: list[Column] = [F.when(F.col(r), F.lit(r)) for r in RULE_WEIGHTS]
    score = sum(F.when(F.col(r), F.lit(w)).otherwise(0) for r, w in RULE_WEIGHTS.items())
    return (
        flagged.withColumn("_rules", F.array_compact(F.array(*fired)))
        .where(F.size("_rules") > 0)
        .withColumn("risk_score", F.least(F.lit(100), score).cast("decimal(5,2)"))
        .select(
            *FLAGGED_COLUMNS[:-1],
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


def _any(rules: Iterable[str]) -> Column:
    """Whether any of the rules' columns is true (null counts as not fired)."""
    return reduce(operator.or_, (F.coalesce(F.col(r), F.lit(False)) for r in rules))
