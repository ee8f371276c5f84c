"""Running fraud statistics in the lake: partition d covers every fact with batch_date <= d, yet is built
from partition d-1 and the day's facts only, so a day costs the same on the 3rd or the 300th day of
history, and the dependency on the previous day is an edge of the asset graph."""

import datetime as dt
from collections.abc import Callable, Sequence
from functools import reduce
from typing import NamedTuple

from dagster import (
    AssetDep,
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetsDefinition,
    TimeWindowPartitionMapping,
    asset,
)
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from banking_lakehouse.assets import FRAUD_ASSET
from banking_lakehouse.resources.lake import LakePartitionMissing, LakeResource
from banking_lakehouse.resources.spark import SPARK_POOL, SparkResource
from banking_lakehouse.transforms.fraud_history import (
    ACCOUNT_RECENT,
    CUSTOMER_SPENDING,
    account_recent,
    customer_spending,
    empty,
)

FACT_KEY = ["gold", "fact_transactions"]
PREVIOUS_DAY = TimeWindowPartitionMapping(start_offset=-1, end_offset=-1)


class Statistics(NamedTuple):
    """One running-statistics table: everything its asset and its readers need."""

    key: list[str]
    schema: str
    step: Callable[[DataFrame, DataFrame], DataFrame]  # (previous day's statistics, the day's facts) -> the day's
    description: str


SPENDING = Statistics(
    ["gold", "customer_spending_history"],
    CUSTOMER_SPENDING,
    customer_spending,
    "Per customer, over every batch up to the day: count, Σ amount_usd and Σ amount_usd² (exact decimals).",
)
RECENT = Statistics(
    ["gold", "account_recent_amounts"],
    ACCOUNT_RECENT,
    account_recent,
    "Per account, its most recent transactions up to the day (time, amount, channel, country): the window "
    "the fraud median and habits cover.",
)


def previous_statistics(spark: SparkSession, lake: LakeResource, table: Statistics, dates: Sequence[str]) -> DataFrame:
    """The statistics each day d of `dates` starts from: partition d-1 of the table, its batch_date set to d,
    the day it serves. A day on the first day of history (no earlier fact) starts from none.

    A missing previous day while earlier facts exist is refused: starting from empty there would
    silently forget them.
    """
    stored = set(lake.list_partitions(table.key))
    served = {d: (dt.date.fromisoformat(d) - dt.timedelta(days=1)).isoformat() for d in dates}
    missing = {d: day_before for d, day_before in served.items() if day_before not in stored}
    facts = lake.list_partitions(FACT_KEY) if missing else []
    for date, day_before in missing.items():
        earlier = [d for d in facts if d < date]
        if earlier:
            name = "/".join(table.key)
            raise LakePartitionMissing(
                f"{name} {date} is built from {name} {day_before}, which is missing, while facts of earlier days "
                f"exist ({earlier[0]} .. {earlier[-1]}): starting from empty would forget them. Materialize "
                f"{name} for {day_before} first (or backfill the range from {earlier[0]} to {date})"
            )
    present = [day_before for day_before in served.values() if day_before in stored]
    if not present:
        return empty(spark, f"{table.schema}, batch_date date")
    return lake.read(spark, table.key, present).withColumn("batch_date", F.date_add("batch_date", 1))


def _running_statistics(table: Statistics) -> AssetsDefinition:
    @asset(
        key=table.key,
        ins={"fact": AssetIn(key=FACT_KEY)},
        deps=[AssetDep(AssetKey(table.key), partition_mapping=PREVIOUS_DAY)],
        description=table.description,
        **FRAUD_ASSET,
        pool=SPARK_POOL,
    )
    def statistics(
        context: AssetExecutionContext, spark: SparkResource, lake: LakeResource, fact: DataFrame
    ) -> DataFrame:
        session = spark.spark_session
        state = previous_statistics(session, lake, table, context.partition_keys[:1])
        per_day = []
        for i, d in enumerate(context.partition_keys):  # a range day by day, in order, each from the one before
            day = F.lit(d).cast("date")
            state = table.step(state, fact.where(F.col("batch_date") == day))
            if i + 1 < len(context.partition_keys):
                # Checkpointed where a day follows: day k's plan starts from stored rows, not from k nested days
                # of plans. The last day's state is computed once, by the write.
                state = state.localCheckpoint()
            per_day.append(state.withColumn("batch_date", day))
        # One sorted file per day: the same rows whether a day runs alone or in a range.
        return reduce(DataFrame.unionByName, per_day).repartition("batch_date").sortWithinPartitions(state.columns[0])

    return statistics


customer_spending_history = _running_statistics(SPENDING)
account_recent_amounts = _running_statistics(RECENT)
