"""Silver: cleaned Parquet per entity plus its quarantine, written together from one read of the raw file."""

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from functools import reduce

from dagster import AssetExecutionContext, AssetIn, AssetKey, AssetOut, BackfillPolicy, Output, multi_asset
from pyspark.sql import DataFrame, SparkSession

from banking_lakehouse.checks.factory import CheckInputs, check_specs, evaluate
from banking_lakehouse.contracts import CONTRACTS, column_schema
from banking_lakehouse.entities import MASTER_ENTITIES
from banking_lakehouse.partitions import daily_partitions_def
from banking_lakehouse.resources.lake import LakeResource
from banking_lakehouse.resources.lake.commit import StagingArea
from banking_lakehouse.resources.spark import SPARK_POOL, SparkResource
from banking_lakehouse.transforms.raw_reader import read_raw, read_records
from banking_lakehouse.transforms.silver import MASTER_SPECS, clean_master, clean_transactions, file_spec

OWNERS = ["team:data-engineering"]


def _outs(entity: str) -> dict[str, AssetOut]:
    return {
        "silver": AssetOut(
            key=["silver", entity],
            description=f"Cleaned, typed, deduplicated {entity}.",
            kinds={"spark", "parquet"},
            owners=OWNERS,
            tags={"layer": "silver"},
            metadata={"dagster/column_schema": column_schema(CONTRACTS[entity])},
        ),
        "quarantine": AssetOut(
            key=["quarantine", entity],
            description=f"Rejected {entity} lines: reason, record as delivered, file, line, batch date.",
            kinds={"spark", "parquet"},
            owners=OWNERS,
            tags={"layer": "silver"},
        ),
    }


class RawReader:
    """Reads the committed raw files of an entity for the run's days, in each delivery's declared encoding.

    Parsed records live in a staging area of the lake until the silver outputs are written; what the
    reader noticed beyond records (blank lines, extra or missing optional columns) is kept per day.
    """

    def __init__(self, spark: SparkSession, lake: LakeResource, area: StagingArea):
        self.spark, self.lake, self.area = spark, lake, area
        self.reports: dict[str, dict] = {}

    def read(self, entity: str, dates: list[str]) -> DataFrame:
        """Every day's records as one frame, each record tagged with its batch_date."""
        days = [self._read_day(entity, d) for d in dates]
        return reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), days)

    def _read_day(self, entity: str, date: str) -> DataFrame:
        batch_date = dt.date.fromisoformat(date)
        delivery = self.lake.delivery(date)
        delivered = delivery["entities"][entity]
        spec = file_spec(entity, delivered["file"], delivery["encoding"])
        records = self.lake.records_uri(date, entity)
        if records is not None:  # parsed when the delivery was stored
            df, report = read_records(self.spark, records, spec, batch_date), delivered
        else:
            df, parsed = read_raw(self.spark, self.lake.local_raw_file(date, spec.name), spec, self.area, batch_date)
            report = asdict(parsed)
        self.reports[date] = {
            "raw_records": report["records"],
            "blank_lines": report["blank_lines"],
            "extra_columns": ", ".join(report["extra_columns"]) or "none",
            "missing_optional_columns": ", ".join(report["missing_optional_columns"]) or "none",
        }
        return df


@contextmanager
def raw_reader(spark: SparkSession, lake: LakeResource) -> Iterator[RawReader]:
    with lake.staging_area() as area:
        yield RawReader(spark, lake, area)


def _publish(
    context, entity: str, silver: DataFrame, quarantine: DataFrame, spark, lake: LakeResource, reader: RawReader
):
    counts = quarantine.groupBy("batch_date", "reason").count().collect()
    for date in context.partition_keys:  # per day, so a range run records each day's own numbers
        context.add_asset_metadata(reader.reports[date], asset_key=["silver", entity], partition_key=date)
        # Numeric per-reason counts, so the UI plots each reason across partitions.
        by_reason = {r["reason"]: r["count"] for r in counts if r["batch_date"].isoformat() == date}
        context.add_asset_metadata(
            {f"quarantined_{k}": v for k, v in sorted(by_reason.items())},
            asset_key=["quarantine", entity],
            partition_key=date,
        )
    yield Output(silver, output_name="silver")
    yield Output(quarantine, output_name="quarantine")
    spark.catalog.clearCache()  # the cached classification (transforms.silver._split) is written out
    yield from evaluate(context, AssetKey(["silver", entity]), CheckInputs(list(context.partition_keys), lake))


def build_master_asset(entity: str):
    spec = MASTER_SPECS[entity]

    @multi_asset(
        name=f"silver_{entity}",
        outs=_outs(entity),
        deps=[AssetKey(["raw", entity])],
        group_name="silver",
        partitions_def=daily_partitions_def,
        backfill_policy=BackfillPolicy.single_run(),
        pool=SPARK_POOL,
        check_specs=check_specs(AssetKey(["silver", entity])),
    )
    def _asset(context: AssetExecutionContext, spark: SparkResource, lake: LakeResource):
        session = spark.spark_session
        with raw_reader(session, lake) as reader:
            silver, quarantine = clean_master(reader.read(entity, list(context.partition_keys)), spec)
            yield from _publish(context, entity, silver, quarantine, session, lake, reader)

    return _asset


@multi_asset(
    name="silver_transactions",
    outs=_outs("transactions"),
    deps=[AssetKey(["raw", "transactions"])],
    ins={e: AssetIn(key=["silver", e]) for e in MASTER_ENTITIES},
    group_name="silver",
    partitions_def=daily_partitions_def,
    backfill_policy=BackfillPolicy.single_run(),
    pool=SPARK_POOL,
    check_specs=check_specs(AssetKey(["silver", "transactions"])),
)
def silver_transactions(
    context: AssetExecutionContext,
    spark: SparkResource,
    lake: LakeResource,
    customers: DataFrame,
    accounts: DataFrame,
    merchants: DataFrame,
):
    """Amounts, timestamps and codes normalised; orphans kept and flagged against the day's master data
    (all days of a range in one pass)."""
    session = spark.spark_session
    with raw_reader(session, lake) as reader:
        raw = reader.read("transactions", list(context.partition_keys))
        silver, quarantine = clean_transactions(raw, customers, accounts, merchants)
        yield from _publish(context, "transactions", silver, quarantine, session, lake, reader)


silver_master_assets = [build_master_asset(e) for e in MASTER_ENTITIES]
