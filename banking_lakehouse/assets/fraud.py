"""Fraud: the rules of SPEC §3.2 over each batch and the customers' earlier batches."""

from functools import reduce

from dagster import AssetExecutionContext, AssetIn, BackfillPolicy, asset
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from banking_lakehouse.partitions import daily_partitions_def
from banking_lakehouse.resources.lake import LakeResource
from banking_lakehouse.resources.spark import SPARK_POOL, SparkResource
from banking_lakehouse.transforms.fraud import detect_fraud

FACT_KEY = ["gold", "fact_transactions"]


def _earlier_fact(spark, lake: LakeResource, date: str) -> DataFrame:
    """Every fact partition published before `date` (the history the spending-spike rule needs)."""
    earlier = [d for d in lake.list_partitions(FACT_KEY) if d < date]
    if not earlier:
        return lake.read(spark, FACT_KEY, [date]).limit(0)
    return lake.read(spark, FACT_KEY, earlier)


@asset(
    key=["gold", "fraud_transactions"],
    ins={"fact": AssetIn(key=FACT_KEY), "customers": AssetIn(key=["gold", "dim_customer"])},
    description="Transactions on which a fraud rule fired: the rules, a 0-100 risk score and a severity.",
    group_name="fraud",
    kinds={"spark", "parquet"},
    owners=["team:fraud-analytics"],
    tags={"layer": "gold"},
    partitions_def=daily_partitions_def,
    backfill_policy=BackfillPolicy.single_run(),
    pool=SPARK_POOL,
)
def fraud_transactions(
    context: AssetExecutionContext, spark: SparkResource, lake: LakeResource, fact: DataFrame, customers: DataFrame
) -> DataFrame:
    session = spark.spark_session
    per_day = []
    for d in context.partition_keys:
        day = F.lit(d).cast("date")
        per_day.append(
            detect_fraud(
                fact.where(F.col("batch_date") == day),
                _earlier_fact(session, lake, d),
                customers.where(F.col("batch_date") == day),
            )
        )
    # One sorted file per day (flagged rows are few): the same bytes whether a day runs alone or in a range.
    return reduce(DataFrame.unionByName, per_day).repartition("batch_date").sortWithinPartitions("transaction_id")
