"""Gold star schema: dimensions with stable surrogate keys, the enriched fact, the daily aggregates.

Surrogate keys are a keyed 64-bit hash of the natural key, so every run, day and cluster computes
the same key without a lookup table, and the key reveals nothing without the secret; -1 is the
`unknown` member that orphan rows point at. Natural ids and names in gold are keyed-hash tokens.

Each dimension exists twice in the lake: the day's full snapshot (`<dim>_snapshots`, one partition per
batch: the dimension as delivered) and the dimension itself, the -1 member included. dim_customer and
dim_account keep history (type 2, transforms/versions.py: one row per version, facts point at the version
valid at the transaction's time); dim_merchant is type 1 (one row per key, the latest batch's values:
merchant attributes matter as they are now, and no analysis asks for their past).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import NamedTuple

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from banking_lakehouse import reference as ref
from banking_lakehouse.transforms import versions

UNKNOWN_KEY = -1
TOTAL_TYPE = "decimal(38,2)"  # sums of decimal(18,2) amounts: room for any day's total


def surrogate_key(natural_key: str, secret: str) -> Column:
    return F.abs(F.xxhash64(F.lit(secret), F.col(natural_key))).cast("bigint")


def keyed_token(value: Column | str, secret: str) -> Column:
    """A keyed hash of a PII value: joinable, not reversible without the secret."""
    value = F.col(value) if isinstance(value, str) else value
    return F.concat(F.lit("tok_"), F.substring(F.sha2(F.concat(F.lit(secret), F.lit("|"), value), 256), 1, 24))


def dim_customer(customers: DataFrame, secret: str) -> DataFrame:
    """PII masked: id and name tokenised, email keeps its domain, phone its last 4 digits."""
    return customers.select(
        surrogate_key("customer_id", secret).alias("customer_key"),
        keyed_token("customer_id", secret).alias("customer_id"),
        keyed_token(F.concat_ws(" ", "first_name", "last_name"), secret).alias("customer_name"),
        F.regexp_replace("email", r"^[^@]+@", "***@").alias("email_masked"),
        F.concat(F.lit("***-"), F.substring(F.regexp_replace("phone", r"[^0-9]", ""), -4, 4)).alias("phone_masked"),
        "city",
        "country",
        "segment",
        "risk_rating",
        "join_date",
        "batch_date",
        *versions.observation(),
    )


def dim_account(accounts: DataFrame, secret: str) -> DataFrame:
    return accounts.select(
        surrogate_key("account_id", secret).alias("account_key"),
        keyed_token("account_id", secret).alias("account_id"),
        surrogate_key("customer_id", secret).alias("customer_key"),
        "account_type",
        "currency",
        "status",
        "opened_date",
        "batch_date",
        *versions.observation(),
    )


def dim_merchant(merchants: DataFrame, secret: str) -> DataFrame:
    return merchants.select(
        surrogate_key("merchant_id", secret).alias("merchant_key"),
        "merchant_id",
        F.col("name").alias("merchant_name"),
        "category",
        "mcc",
        "city",
        "country",
        "risk_level",
        "batch_date",
    )


class Dimension(NamedTuple):
    """A master-data dimension: its name, the silver entity it is built from, its key and its -1 member."""

    name: str
    entity: str
    key: str
    build: Callable[[DataFrame, str], DataFrame]  # (silver rows, PII secret) -> the dimension's rows
    unknown: dict[str, object]  # the -1 member's values besides its key (the rest null), as warehouse.sql seeds it
    description: str
    version_key: str | None = None  # type 2 (one row per version, keyed by this): build adds versions.observation()

    @property
    def current_path(self) -> list[str]:
        """The dimension in the lake: one row per key (type 1) or per version (type 2), and the -1 member."""
        return ["gold", self.name]

    @property
    def snapshots_path(self) -> list[str]:
        """The dimension as delivered with each batch: one partition per day."""
        return ["gold", f"{self.name}_snapshots"]


CUSTOMER_DIMENSION = Dimension(
    "dim_customer",
    "customers",
    "customer_key",
    dim_customer,
    {"customer_id": "unknown", "customer_name": "unknown"},
    "Customers with hashed surrogate keys; names tokenised, email and phone masked.",
    "customer_version_key",
)
ACCOUNT_DIMENSION = Dimension(
    "dim_account",
    "accounts",
    "account_key",
    dim_account,
    {"account_id": "unknown", "customer_key": UNKNOWN_KEY},
    "Accounts with surrogate keys and their customer's key.",
    "account_version_key",
)
DIMENSIONS = (
    CUSTOMER_DIMENSION,
    ACCOUNT_DIMENSION,
    Dimension(
        "dim_merchant",
        "merchants",
        "merchant_key",
        dim_merchant,
        {"merchant_id": "unknown", "merchant_name": "unknown"},
        "Merchants with category, MCC and risk level.",
    ),
)


def merged_dimension(stored: DataFrame | None, snapshots: DataFrame, dimension: Dimension) -> DataFrame:
    """The dimension after merging the run's snapshots: its versions (type 2) or current rows (type 1)."""
    if dimension.version_key:
        return versions.merge_versions(stored, snapshots, dimension.key, dimension.version_key, dimension.unknown)
    return current_dimension(stored, snapshots, dimension)


def current_dimension(current: DataFrame | None, snapshots: DataFrame, dimension: Dimension) -> DataFrame:
    """The current dimension after merging batches' snapshots: per key the row of the latest batch that
    delivered it (a batch re-run after later ones never brings its older values back; the same batch
    re-run replaces its own rows), plus the -1 member. Keys are never removed, as in the warehouse."""
    key = dimension.key
    candidates = snapshots.withColumn("_incoming", F.lit(True))
    if current is not None:
        earlier = current.where(F.col(key) != UNKNOWN_KEY).withColumn("_incoming", F.lit(False))
        candidates = earlier.unionByName(candidates, allowMissingColumns=True)  # a column added since: null
    latest = Window.partitionBy(key).orderBy(F.col("batch_date").desc(), F.col("_incoming").desc())
    merged = candidates.withColumn("_rank", F.row_number().over(latest)).where("_rank = 1").drop("_rank", "_incoming")
    values = {key: UNKNOWN_KEY, **dimension.unknown}
    unknown = merged.sparkSession.range(1).select(
        *[F.lit(values.get(f.name)).cast(f.dataType).alias(f.name) for f in merged.schema.fields]
    )
    return merged.unionByName(unknown)


def rows_after_each_batch(
    current: DataFrame | None, snapshots: DataFrame, key: str, dates: list[str]
) -> dict[str, int]:
    """Rows of the current dimension after each batch of a run is merged in (the -1 member included):
    the same numbers whether the batches run as one run or one by one."""
    seen = snapshots.select(key, "batch_date")
    if current is not None:  # keys already present count from the start (no batch_date)
        seen = seen.unionByName(
            current.where(F.col(key) != UNKNOWN_KEY).select(key, F.lit(None).cast("date").alias("batch_date"))
        )
    present = F.when(F.count("*") > F.count("batch_date"), F.lit(None).cast("date")).otherwise(F.min("batch_date"))
    firsts = seen.groupBy(key).agg(present.alias("first")).groupBy("first").count().collect()
    return {d: 1 + sum(n for first, n in firsts if first is None or first <= dt.date.fromisoformat(d)) for d in dates}


def _key_or_unknown(natural_key: str, orphan_flag: str, secret: str) -> Column:
    return F.when(F.col(orphan_flag), F.lit(UNKNOWN_KEY).cast("bigint")).otherwise(surrogate_key(natural_key, secret))


def amount_category(amount_usd: Column) -> Column:
    return (
        F.when(amount_usd < 10, "micro")
        .when(amount_usd < 100, "small")
        .when(amount_usd < 1_000, "medium")
        .when(amount_usd < 10_000, "large")
        .otherwise("very_large")
    )


def time_of_day(hour: Column) -> Column:
    return F.when(hour < 6, "night").when(hour < 12, "morning").when(hour < 18, "afternoon").otherwise("evening")


def fact_transactions(
    transactions: DataFrame,
    customers: DataFrame,
    merchants: DataFrame,
    versions_of: dict[str, DataFrame],
    secret: str,
) -> DataFrame:
    """One row per silver transaction, keyed to every dimension (to a type-2 dimension's durable key and to
    its version valid at transaction_ts; `versions_of`: each type-2 dimension's name -> its versions),
    with the analysts' derived columns."""
    type_key = F.create_map(*[F.lit(x) for pair in ref.TRANSACTION_TYPE_KEYS.items() for x in pair])
    home = customers.select("customer_id", "batch_date", F.col("country").alias("_home_country"))
    risk = merchants.select("merchant_id", "batch_date", F.col("risk_level").alias("_merchant_risk"))
    day = Window.partitionBy("batch_date", "customer_id", "transaction_date").orderBy(
        "transaction_ts", "transaction_id"
    )
    hour = F.hour("transaction_ts")
    keyed = transactions.withColumns(
        {
            "customer_key": _key_or_unknown("customer_id", "is_orphan_customer", secret),
            "account_key": _key_or_unknown("account_id", "is_orphan_account", secret),
            "merchant_key": _key_or_unknown("merchant_id", "is_orphan_merchant", secret),
        }
    )
    versioned = [d for d in DIMENSIONS if d.version_key]
    for d in versioned:
        keyed = versions.version_at(keyed, versions_of[d.name], d.key, d.version_key, "transaction_ts")
    return (
        keyed.join(F.broadcast(home), ["customer_id", "batch_date"], "left")
        .join(F.broadcast(risk), ["merchant_id", "batch_date"], "left")
        .select(
            F.abs(F.xxhash64("transaction_id")).cast("bigint").alias("transaction_key"),
            "transaction_id",
            F.date_format("transaction_date", "yyyyMMdd").cast("int").alias("date_key"),
            "customer_key",
            "account_key",
            "merchant_key",
            *[d.version_key for d in versioned],
            type_key[F.col("transaction_type")].cast("smallint").alias("transaction_type_key"),
            "transaction_ts",
            "transaction_date",
            F.year("transaction_date").alias("transaction_year"),
            F.month("transaction_date").alias("transaction_month"),
            F.dayofmonth("transaction_date").alias("transaction_day"),
            hour.alias("transaction_hour"),
            ((F.dayofweek("transaction_date") + 5) % 7 + 1).alias("day_of_week"),  # ISO: 1 = Monday
            "amount",
            "currency",
            "amount_usd",
            "channel",
            "status",
            "country",
            amount_category(F.col("amount_usd")).alias("amount_category"),
            time_of_day(hour).alias("time_of_day"),
            F.row_number().over(day).cast("int").alias("daily_transaction_count"),
            F.sum("amount_usd").over(day).cast(TOTAL_TYPE).alias("daily_cumulative_amount"),
            "is_card_present",
            F.coalesce(F.col("_merchant_risk") == "high", F.lit(False)).alias("is_high_risk"),
            "is_outlier",
            F.coalesce(F.col("country") != F.col("_home_country"), F.lit(False)).alias("is_international"),
            (F.col("is_orphan_customer") | F.col("is_orphan_account") | F.col("is_orphan_merchant")).alias("is_orphan"),
            "is_late_arrival",
            "batch_date",
            "source_file",
            "source_line",
        )
    )


def average(total: Column, count: Column) -> Column:
    """F.avg of a decimal(18,2) column, from its sum and row count: the sum as decimal(28,2) over the count,
    rounded to decimal(22,6), as Spark's own average computes it."""
    return (total.cast("decimal(28,2)") / count.cast("decimal(20,0)")).cast("decimal(22,6)")


def _summary(fact: DataFrame, key: str, distinct: str, counted_as: str, flags: dict[str, str]) -> DataFrame:
    """Per batch, day and `key`: count, Σ, average and maximum of amount_usd, how many `distinct` values
    (`counted_as`) and how many rows hold each flag column (`flags`: output name -> column). Aggregated per
    (`key`, `distinct`) first, then per `key`: the distinct count without Spark's doubling of every row."""
    keys = ["batch_date", "transaction_date", key]
    pairs = fact.groupBy(*keys, distinct).agg(
        F.count("*").alias("_n"),
        F.sum("amount_usd").alias("_sum"),
        F.max("amount_usd").alias("_max"),
        *[F.sum(F.col(column).cast("long")).alias(f"_{name}") for name, column in flags.items()],
    )
    n, total = F.sum("_n"), F.sum("_sum")
    return pairs.groupBy(*keys).agg(
        n.alias("transaction_count"),
        total.cast(TOTAL_TYPE).alias("total_amount_usd"),
        average(total, n).cast("decimal(18,2)").alias("avg_amount_usd"),
        F.max("_max").cast("decimal(18,2)").alias("max_amount_usd"),
        F.count(distinct).alias(counted_as),
        *[F.sum(f"_{name}").alias(name) for name in flags],
    )


def daily_customer_summary(fact: DataFrame) -> DataFrame:
    return _summary(
        fact,
        "customer_key",
        "merchant_key",
        "merchant_count",
        {"international_count": "is_international", "high_risk_count": "is_high_risk"},
    )


def merchant_daily_summary(fact: DataFrame) -> DataFrame:
    return _summary(fact, "merchant_key", "customer_key", "customer_count", {}).drop("max_amount_usd")
