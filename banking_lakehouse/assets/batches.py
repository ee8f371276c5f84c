"""quality.batches: where each batch came from and what became of every delivered file's records."""

import datetime as dt

import pyarrow as pa
from dagster import AssetExecutionContext, AssetKey, MaterializeResult, asset

from banking_lakehouse.assets import WAREHOUSE_ASSET
from banking_lakehouse.checks.freshness import WAREHOUSE_FRESHNESS
from banking_lakehouse.entities import ENTITIES
from banking_lakehouse.resources.lake import LakeResource
from banking_lakehouse.resources.postgres import PostgresResource

TABLE = "quality.batches"


def batch_rows(lake: LakeResource, date: str) -> pa.Table:
    """One row per entity of the day's delivery: file, size, checksum, encoding, record accounting, times."""
    delivery = lake.delivery(date)
    rows = []
    for entity, described in delivery["entities"].items():
        rows.append(
            {
                "batch_date": dt.date.fromisoformat(date),
                "entity": entity,
                "source": described.get("source", delivery["source"]),  # core: extracted from the core system
                "file_name": described["file"],
                "bytes": described["bytes"],
                "sha256": described["sha256"],
                "encoding": delivery["encoding"],
                "raw_records": described["records"],
                "blank_lines": described["blank_lines"],
                "silver_rows": lake.partition_stats(["silver", entity], date)["rows"],
                "quarantined_rows": lake.partition_stats(["quarantine", entity], date)["rows"],
                "completed_at": dt.datetime.fromisoformat(delivery["completed_at"]),
                "ingested_at": dt.datetime.fromisoformat(delivery["ingested_at"]),
            }
        )
    return pa.Table.from_pylist(rows)


@asset(
    key=["warehouse", "batches"],
    deps=[AssetKey([layer, e]) for e in ENTITIES for layer in ("raw", "silver", "quarantine")],
    description=f"{TABLE} in PostgreSQL: per batch and file, the source (landing, synthetic or core), size, "
    "SHA-256, encoding, records delivered, rows in silver and in quarantine, and when it arrived.",
    **WAREHOUSE_ASSET,
    freshness_policy=WAREHOUSE_FRESHNESS,
)
def warehouse_batches(context: AssetExecutionContext, lake: LakeResource, postgres: PostgresResource):
    for date in context.partition_keys:
        data = batch_rows(lake, date)
        postgres.replace_rows(TABLE, data, {"batch_date": date})
        context.add_asset_metadata(
            {"dagster/row_count": data.num_rows, "source": data.column("source")[0].as_py(), "table": TABLE},
            partition_key=date,
        )
    return MaterializeResult()
