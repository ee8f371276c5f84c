"""Daily aggregates computed in Spark from the gold fact, per load batch."""

from dagster import AssetIn, BackfillPolicy, asset
from pyspark.sql import DataFrame

from banking_lakehouse.partitions import daily_partitions_def
from banking_lakehouse.resources.spark import SPARK_POOL
from banking_lakehouse.transforms import gold

AGGREGATE_ASSET_ARGS = dict(
    ins={"fact": AssetIn(key=["gold", "fact_transactions"])},
    group_name="aggregates",
    kinds={"spark", "parquet"},
    owners=["team:analytics"],
    tags={"layer": "gold"},
    partitions_def=daily_partitions_def,
    backfill_policy=BackfillPolicy.single_run(),
    pool=SPARK_POOL,
)


@asset(
    key=["gold", "daily_customer_summary"],
    description="Per customer and day: count, sums, merchants, risk.",
    **AGGREGATE_ASSET_ARGS,
)
def daily_customer_summary(fact: DataFrame) -> DataFrame:
    return gold.daily_customer_summary(fact)


@asset(
    key=["gold", "merchant_daily_summary"],
    description="Per merchant and day: count, sums, customers.",
    **AGGREGATE_ASSET_ARGS,
)
def merchant_daily_summary(fact: DataFrame) -> DataFrame:
    return gold.merchant_daily_summary(fact)
