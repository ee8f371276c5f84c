"""Silver: cleaned Parquet per entity plus its quarantine, written together from one read of the raw file."""


import datetime as dt
from functools import reduce

from dagster import AssetExecutionContext, AssetIn, AssetKey, AssetOut, BackfillPolicy, Output, multi_asset
from pyspark.sql import DataFrame, functions as F

from banking_lakehouse.checks.factory import CheckInputs, check_specs, evaluate
from banking_lakehouse.contracts import CONTRACTS, column_schema
from banking_lakehouse.generator import RAW_FILES
from banking_lakehouse.partitions import daily_partitions_def
from banking_lakehouse.resources.lake import LakeResource
from banking_lakehouse.resources.spark import SparkResource
from banking_lakehouse.transforms.raw_reader import read_raw
from banking_lakehouse.transforms.silver import MASTER_SPECS, TRANSACTION_COLUMNS, clean_master, clean_transactions

OWNERS = ["team:data-engineering"]


def _outs(entity: str) -> dict[str, AssetOut]:
    return {
        "silver": AssetOut(
            key=["silver", entity], description=f"Cleaned, typed, deduplicated {entity}.",
            kinds={"spark", "parquet"}, owners=OWNERS, tags={"layer": "silver"},
            metadata={"dagster/column_schema": column_schema(CONTRACTS[entity])},
        ),
        "quarantine": AssetOut(
            key=["quarantine", entity],
            description=f"Rejected {entity} lines: reason, record as delivered, file, line, batch date.",
            kinds={"spark", "parquet"}, owners=OWNERS, tags={"layer": "silver"},
        ),
    }


def _union(frames: list[DataFrame]) -> DataFrame:
    return reduce(DataFrame.unionByName, frames)


def _raw_format(entity: str) -> str:
    return "csv" if RAW_FILES[entity].endswith(".csv") else "json"


def _for_day(df: DataFrame, date: str) -> DataFrame:
    return df.where(F.col("batch_date") == F.lit(date).cast("date"))


def _publish(context, entity: str, silver: DataFrame, quarantine: DataFrame, spark, lake: LakeResource):
    by_reason = {r["reason"]: r["count"] for r in quarantine.groupBy("reason").count().collect()}
    yield Output(silver, output_name="silver")
    # Numeric per-reason counts, so the UI plots each reason across partitions.
    yield Output(quarantine, output_name="quarantine", metadata={f"quarantined_{k}": v for k, v in sorted(by_reason.items())})
    spark.catalog.clearCache()  # the cached classification (transforms.silver._split) is written out
    yield from evaluate(f"silver/{entity}", CheckInputs(list(context.partition_keys), lake, spark))


def build_master_asset(entity: str):
    spec = MASTER_SPECS[entity]

    @multi_asset(
        name=f"silver_{entity}",
        outs=_outs(entity),
        deps=[AssetKey(["raw", entity])],
        group_name="silver",
        partitions_def=daily_partitions_def,
        backfill_policy=BackfillPolicy.single_run(),
        check_specs=check_specs(f"silver/{entity}"),
    )
    def _asset(context: AssetExecutionContext, spark: SparkResource, lake: LakeResource):
        session = spark.get_session()
        cleaned = [
            clean_master(read_raw(session, lake.local_raw_file(d, RAW_FILES[entity]), spec.columns, _raw_format(entity)),
                         spec, dt.date.fromisoformat(d))
            for d in context.partition_keys
        ]
        yield from _publish(context, entity, _union([s for s, _ in cleaned]), _union([q for _, q in cleaned]), session, lake)

    return _asset


@multi_asset(
    name="silver_transactions",
    outs=_outs("transactions"),
    deps=[AssetKey(["raw", "transactions"])],
    ins={e: AssetIn(key=["silver", e]) for e in MASTER_SPECS},
    group_name="silver",
    partitions_def=daily_partitions_def,
    backfill_policy=BackfillPolicy.single_run(),
    check_specs=check_specs("silver/transactions"),
)
def silver_transactions(
    context: AssetExecutionContext, spark: SparkResource, lake: LakeResource,
    customers: DataFrame, accounts: DataFrame, merchants: DataFrame,
):
    """Amounts, timestamps and codes normalised; orphans kept and flagged against the day's master data."""
    session = spark.get_session()
    cleaned = [
        clean_transactions(
            read_raw(session, lake.local_raw_file(d, RAW_FILES["transactions"]), TRANSACTION_COLUMNS, "csv"),
            _for_day(customers, d), _for_day(accounts, d), _for_day(merchants, d), dt.date.fromisoformat(d),
        )
        for d in context.partition_keys
    ]
    yield from _publish(context, "transactions", _union([s for s, _ in cleaned]), _union([q for _, q in cleaned]), session, lake)


silver_master_assets = [build_master_asset(e) for e in MASTER_SPECS]
