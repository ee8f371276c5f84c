"""Gold in the lake: dimensions and the enriched fact, as Parquet for downstream Spark.

Each dimension is kept as the day's snapshot (`gold/<dim>_snapshots`, a partition per batch, what the
fraud rules of that day read) and as the dimension (`gold/<dim>`, plus the -1 member: what people join
facts to, and what the warehouse's dimension holds): dim_customer and dim_account one row per version
(type 2, merged as transforms/versions.py states), dim_merchant one row per key (type 1). The fact reads
the merged versions, so each transaction points at the version valid at its time.
"""

from dagster import AssetExecutionContext, AssetIn, AssetKey, AssetOut, BackfillPolicy, Output, asset, multi_asset
from pyspark.sql import DataFrame

from banking_lakehouse.partitions import daily_partitions_def
from banking_lakehouse.resources.lake import CURRENT, LAYOUT, LakePartitionMissing, LakeResource
from banking_lakehouse.resources.pii import PiiKeyResource
from banking_lakehouse.resources.spark import SPARK_POOL, SparkResource
from banking_lakehouse.transforms import gold, versions
from banking_lakehouse.transforms.gold import DIMENSIONS

VERSIONED = [d for d in DIMENSIONS if d.version_key]

OWNERS = ["team:data-engineering"]
LAKE_KINDS = {"spark", "parquet"}
GOLD_STEP = {
    "group_name": "gold",
    "partitions_def": daily_partitions_def,
    "backfill_policy": BackfillPolicy.single_run(),
    "pool": SPARK_POOL,
}


def _out(key: list[str], description: str, **kwargs) -> AssetOut:
    return AssetOut(key=key, description=description, kinds=LAKE_KINDS, owners=OWNERS, tags={"layer": "gold"}, **kwargs)


@multi_asset(
    outs={
        f"{d.name}_snapshots": _out(
            d.snapshots_path, f"{d.description} The full snapshot delivered with each batch (one partition per day)."
        )
        for d in DIMENSIONS
    },
    ins={d.entity: AssetIn(key=["silver", d.entity]) for d in DIMENSIONS},
    # A batch reaches gold whole: dimensions wait for the day's transactions to pass their blocking checks.
    deps=[AssetKey(["silver", "transactions"])],
    **GOLD_STEP,
)
def gold_dimension_snapshots(pii: PiiKeyResource, customers: DataFrame, accounts: DataFrame, merchants: DataFrame):
    silver = {"customers": customers, "accounts": accounts, "merchants": merchants}
    return tuple(d.build(silver[d.entity], pii.key) for d in DIMENSIONS)


@multi_asset(
    outs={
        d.name: _out(
            d.current_path,
            f"{d.description} "
            + (
                "History: one row per version (valid_from, valid_to, is_current, is_deleted)"
                if d.version_key
                else "Current: one row per key (the latest batch's values)"
            )
            + " and the -1 unknown member.",
            metadata={LAYOUT: CURRENT},
        )
        for d in DIMENSIONS
    },
    ins={f"{d.name}_snapshots": AssetIn(key=d.snapshots_path) for d in DIMENSIONS},
    **GOLD_STEP,
)
def gold_dimensions(
    context: AssetExecutionContext,
    spark: SparkResource,
    lake: LakeResource,
    dim_customer_snapshots: DataFrame,
    dim_account_snapshots: DataFrame,
    dim_merchant_snapshots: DataFrame,
):
    """Merges the run's snapshots into each dimension, committed whole (re-runs and backfills of earlier
    days never bring older values back nor duplicate or cut versions). A history-keeping dimension's
    merge is cached while its versions are counted and written, so it is computed once."""
    snapshots = {
        "dim_customer": dim_customer_snapshots,
        "dim_account": dim_account_snapshots,
        "dim_merchant": dim_merchant_snapshots,
    }
    merged = []
    for d in DIMENSIONS:
        try:
            current = lake.read(spark.spark_session, d.current_path, [None])
        except LakePartitionMissing:  # the first batch
            current = None
        day = snapshots[d.name]
        # One file sorted by key: the same bytes whatever the run's shape.
        dimension = gold.merged_dimension(current, day, d).repartition(1)
        if d.version_key:
            dimension = dimension.sortWithinPartitions(d.key, "valid_from").persist()
            counts = versions.rows_after_each_batch(dimension, context.partition_keys)
        else:
            dimension = dimension.sortWithinPartitions(d.key)
            counts = gold.rows_after_each_batch(current, day, d.key, context.partition_keys)
        for date, rows in counts.items():
            context.add_asset_metadata(
                {"dagster/row_count": rows}, asset_key=AssetKey(d.current_path), partition_key=date
            )
        merged.append((d.name, dimension))
    for name, dimension in merged:
        yield Output(dimension, output_name=name)
    for _, dimension in merged:
        dimension.unpersist()


@asset(
    key=["gold", "fact_transactions"],
    ins={
        "transactions": AssetIn(key=["silver", "transactions"]),
        "customers": AssetIn(key=["silver", "customers"]),
        "merchants": AssetIn(key=["silver", "merchants"]),
        **{d.name: AssetIn(key=d.current_path) for d in VERSIONED},
    },
    description="One row per valid transaction, keyed to every dimension (and to the customer's and account's "
    "version valid at its time), with derived analytics columns.",
    kinds=LAKE_KINDS,
    owners=OWNERS,
    tags={"layer": "gold"},
    **GOLD_STEP,
)
def fact_transactions(
    context: AssetExecutionContext,
    pii: PiiKeyResource,
    transactions: DataFrame,
    customers: DataFrame,
    merchants: DataFrame,
    dim_customer: DataFrame,
    dim_account: DataFrame,
) -> DataFrame:
    versions_of = {"dim_customer": dim_customer, "dim_account": dim_account}
    return gold.fact_transactions(transactions, customers, merchants, versions_of, pii.key)
