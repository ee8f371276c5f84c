"""History-keeping (SCD type 2) dimensions: one row per version of a key, valid over [valid_from, valid_to).

A batch's snapshot row is an observation of its key at `changed_at`: the source's `deleted_at`, else its
`updated_at` (core extraction: the exact time), else the batch date at 00:00 UTC (a delivered file: the
day's snapshot). A soft-deleted row starts an `is_deleted` version at its deletion time.

Merge rule (what makes loads idempotent and order-proof): a version is identified by (key, changed_at).
The run's observations and the stored versions are ordered by changed_at per key; an observation replaces
a stored version with the same (key, changed_at) (the same batch re-run or re-delivered); an observation
whose tracked values (and deleted flag) equal those of the version before it starts nothing and merges
into it. A stored version is never merged away by another batch's observation, even where an earlier day
run later now precedes it with equal values: facts already point at its key. valid_from, valid_to,
is_current and the version keys are then derived from that order alone. So re-running day d changes
nothing, and running an earlier day after later ones slots its versions in between without cutting the
later ones or moving a fact's version: the versions the days in order give, plus such a repeated version,
and except where a later day restored values an earlier one changed (A, B, A: run as A, A, then B, the
second A merged into the first and is no longer known).

Derived columns: the first version of a key is valid from VALID_FROM_START (facts older than the key's
first delivery find it), the current one until VALID_TO_END (far-future sentinels, not nulls, so a
validity test is a plain range test in Spark, DuckDB and PostgreSQL alike). The version key is the
durable key for the first version (a type-1 row migrates as its key's first version, facts keep their
key) and a hash of (durable key, valid_from) for later ones; -1 stays the unknown member.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

VALID_FROM_START = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
VALID_TO_END = dt.datetime(9999, 12, 31, tzinfo=dt.UTC)
# Columns of a snapshot row that say when it was observed, not what it holds.
OBSERVATION_COLUMNS = ("batch_date", "changed_at", "is_deleted")
VERSION_COLUMNS = ("valid_from", "valid_to", "is_current")


def observation() -> list[Column]:
    """A silver master row's change time and deleted flag (see the module docstring)."""
    return [
        F.coalesce("deleted_at", "updated_at", F.col("batch_date").cast("timestamp")).alias("changed_at"),
        F.col("deleted_at").isNotNull().alias("is_deleted"),
    ]


def version_key(key: str) -> Column:
    first = F.col("valid_from") == F.lit(VALID_FROM_START)
    return F.when(first, F.col(key)).otherwise(F.abs(F.xxhash64(key, "valid_from"))).cast("bigint")


def _as_versions(stored: DataFrame) -> DataFrame:
    """Stored rows as versions: a type-1 dimension written before versions existed holds each key's
    latest batch's row, which becomes the key's first version."""
    if "changed_at" in stored.columns:
        return stored
    return stored.withColumns({"changed_at": F.col("batch_date").cast("timestamp"), "is_deleted": F.lit(False)})


def merge_versions(
    stored: DataFrame | None, snapshots: DataFrame, key: str, version: str, unknown: dict[str, object]
) -> DataFrame:
    """The version table after merging the run's snapshots into the stored versions, plus the -1 member
    (`unknown`: its values besides the keys). Tracked values: every snapshot column but the key and
    OBSERVATION_COLUMNS."""
    tracked = [c for c in snapshots.columns if c not in (key, *OBSERVATION_COLUMNS)]
    columns = [key, *tracked, *OBSERVATION_COLUMNS]
    candidates = snapshots.select(*columns, F.lit(True).alias("_incoming"))
    if stored is not None:
        earlier = _as_versions(stored).where(F.col(key) != -1).select(*columns, F.lit(False).alias("_incoming"))
        candidates = earlier.unionByName(candidates)
    same_time = Window.partitionBy(key, "changed_at")
    latest = same_time.orderBy(F.col("batch_date").desc(), F.col("_incoming").desc())
    observations = (
        candidates.withColumn("_first_batch", F.min("batch_date").over(same_time))
        .withColumn("_rank", F.row_number().over(latest))
        .where("_rank = 1")
        .withColumn("batch_date", F.col("_first_batch"))  # a version counts from the batch that first delivered it
    )
    in_time = Window.partitionBy(key).orderBy("changed_at")
    differs = F.lit(False)
    for c in [*tracked, "is_deleted"]:
        differs = differs | ~F.col(c).eqNullSafe(F.lag(c).over(in_time))
    # A stored version stays even where it now equals the one before it: facts of its days point at its key.
    kept = differs | ~F.col("_incoming")
    starts = observations.withColumn("_starts", kept).where("_starts")  # the first always differs from none
    following = F.lead("changed_at").over(in_time)
    versions = starts.select(
        *columns,
        F.when(F.row_number().over(in_time) == 1, F.lit(VALID_FROM_START))
        .otherwise(F.col("changed_at"))
        .alias("valid_from"),
        F.coalesce(following, F.lit(VALID_TO_END)).alias("valid_to"),
        following.isNull().alias("is_current"),
    )
    versions = versions.select(version_key(key).alias(version), *versions.columns)
    values = {
        version: -1,
        key: -1,
        **unknown,
        "valid_from": VALID_FROM_START,
        "valid_to": VALID_TO_END,
        "is_current": True,
        "is_deleted": False,
    }
    member = versions.sparkSession.range(1).select(
        *[F.lit(values.get(f.name)).cast(f.dataType).alias(f.name) for f in versions.schema.fields]
    )
    return versions.unionByName(member)


def rows_after_each_batch(versions: DataFrame, dates: list[str]) -> dict[str, int]:
    """Versions after each batch of a run (the -1 member included): those first delivered by that batch
    or an earlier one, the same numbers whether the batches run as one run or one by one in order."""
    firsts = versions.groupBy("batch_date").count().collect()
    return {d: sum(n for first, n in firsts if first is None or first <= dt.date.fromisoformat(d)) for d in dates}


def version_at(rows: DataFrame, versions: DataFrame, key: str, version: str, at: str) -> DataFrame:
    """rows with `version`: the version of the row's `key` valid at its `at` time (every key's versions
    cover all time, the -1 member included, so each row finds exactly one). An equi-join on the key with
    the validity as its condition: Spark broadcasts a small version table (a 1M-row day's) and sort-merges
    a large one rather than holding it in every task."""
    valid = versions.select(
        F.col(key).alias("_v_key"), version, F.col("valid_from").alias("_v_from"), F.col("valid_to").alias("_v_to")
    )
    condition = (F.col(key) == F.col("_v_key")) & (F.col("_v_from") <= F.col(at)) & (F.col(at) < F.col("_v_to"))
    return rows.join(valid, condition, "left").drop("_v_key", "_v_from", "_v_to")
