"""Fraud: the rules of docs/fraud.md over each batch and the running statistics of the batches before it
(all days of a range in one pass)."""

from dagster import AssetDep, AssetExecutionContext, AssetIn, AssetKey, asset
from pyspark.sql import DataFrame

from banking_lakehouse.assets import FRAUD_ASSET
from banking_lakehouse.assets.fraud_history import FACT_KEY, PREVIOUS_DAY, RECENT, SPENDING, previous_statistics
from banking_lakehouse.resources.lake import LakeResource
from banking_lakehouse.resources.spark import SPARK_POOL, SparkResource
from banking_lakehouse.transforms.fraud import fraud_rules
from banking_lakehouse.transforms.gold import ACCOUNT_DIMENSION, CUSTOMER_DIMENSION


@asset(
    key=["gold", "fraud_transactions"],
    # The customers and accounts as delivered with the day's batch (home country, status that day).
    ins={
        "fact": AssetIn(key=FACT_KEY),
        "customers": AssetIn(key=CUSTOMER_DIMENSION.snapshots_path),
        "accounts": AssetIn(key=ACCOUNT_DIMENSION.snapshots_path),
    },
    # Day N reads the statistics of day N-1 (never the earlier facts themselves).
    deps=[AssetDep(AssetKey(s.key), partition_mapping=PREVIOUS_DAY) for s in (SPENDING, RECENT)],
    description="Transactions on which a fraud rule fired: the rules, a 0-100 risk score and a severity.",
    **FRAUD_ASSET,
    pool=SPARK_POOL,
)
def fraud_transactions(
    context: AssetExecutionContext,
    spark: SparkResource,
    lake: LakeResource,
    fact: DataFrame,
    customers: DataFrame,
    accounts: DataFrame,
) -> DataFrame:
    session = spark.spark_session
    dates = context.partition_keys
    flagged = fraud_rules(
        fact,
        previous_statistics(session, lake, SPENDING, dates),
        previous_statistics(session, lake, RECENT, dates),
        customers,
        accounts,
    )
    # One sorted file per day (flagged rows are few): the same bytes whether a day runs alone or in a range.
    return flagged.repartition("batch_date").sortWithinPartitions("transaction_id")
