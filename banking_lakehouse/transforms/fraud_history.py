"""Running statistics of the earlier batches, so a day's fraud rules never re-read the history itself.

Each day's statistics are the previous day's plus the day's facts, in bounded state:

- per customer, the count, Σ amount_usd and Σ amount_usd² of its ordinary amounts (up to LARGE_AMOUNT_USD)
  as exact decimals: the mean and sample standard deviation `spending_spike` needs follow from them for
  any history length;
- per account, its MEDIAN_WINDOW most recent transactions (by transaction_ts, then transaction_id): their
  amounts (an exact median over an unbounded history cannot be kept in bounded state), channels and
  countries (the account's habits `account_takeover` compares with), and when it was last active
  (`dormant_reactivation`).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from banking_lakehouse.fraud_patterns import LARGE_AMOUNT_USD
from banking_lakehouse.transforms.gold import average

# ~6 days of a typical account (~5 transactions a day): enough for a median that 14 odd tickets cannot
# move, recent enough to follow a changing habit, and ~1 KiB of state per account.
MEDIAN_WINDOW = 30

AMOUNT_TYPE = "decimal(18,2)"
SPENDING_TYPES = {
    "customer_key": "bigint",
    "n": "bigint",
    "amount_sum": "decimal(38,2)",
    "amount_sq_sum": "decimal(38,4)",
}
CUSTOMER_SPENDING = ", ".join(f"{name} {kind}" for name, kind in SPENDING_TYPES.items())
RECENT_FIELDS = {
    "transaction_ts": "timestamp",
    "transaction_id": "string",
    "amount_usd": AMOUNT_TYPE,
    "channel": "string",
    "country": "string",
}
RECENT_ENTRY = "struct<" + ",".join(f"{name}:{kind}" for name, kind in RECENT_FIELDS.items()) + ">"
ACCOUNT_RECENT = f"account_key bigint, recent array<{RECENT_ENTRY}>"


def empty(spark: SparkSession, schema: str) -> DataFrame:
    """No rows, of `schema` (a DDL string): the statistics before the first day. Filtered to nothing, the
    optimizer plans it as an empty local relation: no task runs for it (a bare `createDataFrame([])` in
    local mode starts Python workers to read its no rows), in local mode and through Spark Connect alike."""
    return spark.createDataFrame([], schema).where(F.lit(False))


def _spending_columns() -> list[Column]:
    return [F.col(name).cast(kind).alias(name) for name, kind in SPENDING_TYPES.items()]


def spending_of(facts: DataFrame) -> DataFrame:
    """Per known customer: count, Σ amount and Σ amount² of these facts (the unknown customer -1 is no one's),
    ordinary amounts only: one above LARGE_AMOUNT_USD is `large_amount`'s to judge, and would otherwise
    hide every later spike of its customer behind an inflated mean and deviation."""
    amount = F.col("amount_usd")
    return (
        facts.where((F.col("customer_key") != -1) & (amount <= LARGE_AMOUNT_USD))
        .groupBy("customer_key")
        .agg(F.count("*").alias("n"), F.sum(amount).alias("amount_sum"), F.sum(amount * amount).alias("amount_sq_sum"))
        .select(_spending_columns())
    )


def customer_spending(previous: DataFrame, facts: DataFrame) -> DataFrame:
    """The previous statistics plus the day's facts (sums of exact decimals: the order never matters)."""
    return (
        previous.select(*SPENDING_TYPES)
        .unionByName(spending_of(facts))
        .groupBy("customer_key")
        .agg(*(F.sum(c).alias(c) for c in list(SPENDING_TYPES)[1:]))
        .select(_spending_columns())
    )


def spending_profile(spending: DataFrame) -> DataFrame:
    """Mean, sample standard deviation and count per customer and batch_date served, as F.avg, F.stddev_samp
    and F.count give them."""
    n = F.col("n").cast("decimal(20,0)")
    mean = average(F.col("amount_sum"), F.col("n"))  # as F.avg gives it
    # (n Σx² - (Σx)²) / (n (n - 1)): the numerator exact (no cancellation), only the division in double.
    spread = n * F.col("amount_sq_sum") - F.col("amount_sum") * F.col("amount_sum")
    std = F.when(F.col("n") > 1, F.sqrt(spread.cast("double") / (F.col("n") * (F.col("n") - 1)).cast("double")))
    return spending.select("batch_date", "customer_key", mean.alias("_mean"), std.alias("_std"), F.col("n").alias("_n"))


def _entries(recent: DataFrame) -> Column:
    """The stored entries as RECENT_ENTRY: a window written before an entry field existed reads it as null."""
    stored = set(recent.schema["recent"].dataType.elementType.fieldNames())
    entries = F.transform("recent", lambda e: F.struct(*(e[f] if f in stored else F.lit(None) for f in RECENT_FIELDS)))
    return F.explode(entries.cast(f"array<{RECENT_ENTRY}>"))


def account_recent(previous: DataFrame, facts: DataFrame, window: int | None = MEDIAN_WINDOW) -> DataFrame:
    """Per account, its `window` most recent transactions (all of them: None) over the previous window and
    the day's facts."""
    entry = F.struct(*RECENT_FIELDS)
    merged = (
        previous.select("account_key", _entries(previous).alias("_entry"))
        .unionByName(facts.select("account_key", entry.cast(RECENT_ENTRY).alias("_entry")))
        .groupBy("account_key")
        .agg(F.sort_array(F.collect_list("_entry")).alias("_all"))  # by ts, then id: ties broken, every run
    )
    size = F.size("_all")
    kept = (
        F.col("_all")
        if window is None
        else F.slice("_all", F.greatest(size - window + 1, F.lit(1)), F.least(size, F.lit(window)))
    )
    return merged.select("account_key", kept.cast(f"array<{RECENT_ENTRY}>").alias("recent"))


def account_habits(recent: DataFrame) -> DataFrame:
    """Per account and batch_date served, from its recent window: when it was last active (`_last_epoch`,
    seconds), the channels and countries it used, and how many entries know them (`_habit_n`; windows
    stored before channels were kept know none)."""
    known = F.filter("recent", lambda e: e["channel"].isNotNull())
    return recent.select(
        "batch_date",
        "account_key",
        F.array_max("recent.transaction_ts").cast("long").alias("_last_epoch"),
        F.array_distinct(known["channel"]).alias("_seen_channels"),
        F.array_distinct(known["country"]).alias("_seen_countries"),
        F.size(known).alias("_habit_n"),
    )


def recent_amounts(recent: DataFrame) -> DataFrame:
    """One row per amount in the accounts' windows: the history the account median covers."""
    return recent.select("batch_date", "account_key", F.explode("recent.amount_usd").alias("amount_usd"))
