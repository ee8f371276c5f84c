"""Warehouse health: what a DBA looks at after each load — table sizes and rows, the fact's monthly
partitions, index usage and the slowest statements — recorded as metadata so the UI plots it per day."""

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from banking_lakehouse.assets import WAREHOUSE_ASSET
from banking_lakehouse.assets.warehouse import LOADS
from banking_lakehouse.resources.lake import markdown_table
from banking_lakehouse.resources.postgres import PostgresResource
from banking_lakehouse.sql import read_sql

TOP = {"limit": 10}


def _query(postgres: PostgresResource, name: str, params: dict | None = None) -> list[dict]:
    with postgres.connect() as conn:
        cursor = conn.execute(read_sql(f"health/{name}.sql"), params)
        columns = [c.name for c in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def _slowest_queries(postgres: PostgresResource) -> str:
    preloaded = postgres.fetch(
        "SELECT current_setting('shared_preload_libraries') LIKE '%pg_stat_statements%'"
        " AND EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements')"
    )[0][0]
    if not preloaded:
        return (
            "_pg_stat_statements is not available on this server: add it to shared_preload_libraries "
            "and run CREATE EXTENSION pg_stat_statements to see the slowest statements here._"
        )
    return markdown_table(_query(postgres, "slowest_queries", TOP))


@asset(
    key=["warehouse", "health"],
    deps=[AssetKey(["warehouse", load.name]) for load in LOADS],
    description="Warehouse health after the day's loads: rows and bytes per table, fact partitions, "
    "index usage, slowest statements (pg_stat_statements where the server has it).",
    **WAREHOUSE_ASSET,
)
def warehouse_health(context: AssetExecutionContext, postgres: PostgresResource) -> MaterializeResult:
    tables = _query(postgres, "tables")
    numeric = {}  # flat numeric keys: the UI plots each one across partitions
    for table in tables:
        table["rows"] = postgres.count_rows(table["table_name"])
        numeric[f"rows {table['table_name']}"] = table["rows"]
        numeric[f"bytes {table['table_name']}"] = table["total_bytes"]
    partitions = _query(postgres, "fact_partitions")
    return MaterializeResult(
        metadata={
            **numeric,
            "database_bytes": postgres.fetch("SELECT pg_database_size(current_database())")[0][0],
            "fact_partitions": len(partitions),
            "tables": MetadataValue.md(markdown_table(tables)),
            "fact_partition_list": MetadataValue.md(markdown_table(partitions)),
            "index_usage": MetadataValue.md(markdown_table(_query(postgres, "index_usage", TOP))),
            "slowest_queries": MetadataValue.md(_slowest_queries(postgres)),
        }
    )
