"""SQL over the lake: DuckDB with every committed table of the lake (local or S3) as a view named by its
layer, `silver.transactions`, `gold.fact_transactions`, `gold.dim_customer`, `quarantine.transactions`, ...

A view reads exactly the files the table's manifests name, so a partition being committed, a staging area
or a crashed write is never seen; the files are read through the lake's own pyarrow filesystem, so an S3
lake needs no DuckDB extension and DuckDB never holds a credential. The warehouse's views (`warehouse.sql`:
`gold.genuine_transactions`) are created over them too, so the analytics written for PostgreSQL run here
unchanged where the two dialects agree.

python -m banking_lakehouse sql "SELECT ..." | --file query.sql  [--out result.csv|result.parquet]
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import duckdb
import pyarrow.dataset as pads
import pyarrow.parquet as pq
from dagster import build_resources

from banking_lakehouse.resources.lake import LakeResource
from banking_lakehouse.sql import quoted, read_sql

OUTPUT_FORMATS = {".csv": "write_csv", ".parquet": "write_parquet"}
WAREHOUSE_VIEW = re.compile(r"^CREATE OR REPLACE VIEW .*?;$", re.MULTILINE | re.DOTALL)


def warehouse_views() -> list[str]:
    """The CREATE VIEW statements of warehouse.sql (plain SQL over gold tables the lake holds too)."""
    return WAREHOUSE_VIEW.findall(read_sql("warehouse.sql"))


def connect(lake: LakeResource) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with a view per committed lake table, plus the warehouse's views."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")  # timestamps shown as the lake stores them
    for layer, table in lake.table_keys():
        files = lake.committed_files([layer, table])
        if not files:
            continue
        # The newest version's columns: a column added since older partitions were written reads as null there.
        schema = pq.read_schema(files[-1], filesystem=lake.storage.fs)
        scan = f"_lake.{layer}.{table}"
        con.register(scan, pads.dataset(files, schema=schema, format="parquet", filesystem=lake.storage.fs))
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {quoted(layer)}")
        con.execute(f"CREATE VIEW {quoted(layer)}.{quoted(table)} AS SELECT * FROM {quoted(scan)}")  # noqa: S608 - quoted names
    for view in warehouse_views():
        try:
            con.execute(view)
        except duckdb.CatalogException:  # a table it reads is not in this lake yet
            continue
    return con


def lake_from_environment() -> LakeResource:
    """The deployment's lake (BANKING_LAKE_URI, S3 settings), its EnvVar fields resolved."""
    from banking_lakehouse import deployments

    with build_resources({"lake": deployments.lake()}) as resources:
        return resources.lake


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m banking_lakehouse sql",
        description="Run SQL (DuckDB) over the lake's committed tables: silver.*, gold.*, quarantine.*.",
    )
    parser.add_argument("query", nargs="?", help="the SQL to run")
    parser.add_argument("--file", type=Path, help="read the SQL from this file instead")
    parser.add_argument("--out", type=Path, help="write the result to a .csv or .parquet file instead of printing it")
    parser.add_argument("--max-rows", type=int, default=100, help="rows printed at most (default 100)")
    args = parser.parse_args(argv)
    if (args.query is None) == (args.file is None):
        parser.error("give the SQL as an argument or with --file (one of them)")
    if args.out and args.out.suffix not in OUTPUT_FORMATS:
        parser.error(f"--out {args.out}: the file name must end in {' or '.join(OUTPUT_FORMATS)}")
    query = args.query if args.query is not None else args.file.read_text()
    con = connect(lake_from_environment())
    try:
        result = con.sql(query)
        if result is None:  # a statement without rows
            return
        if args.out:
            getattr(result, OUTPUT_FORMATS[args.out.suffix])(str(args.out))
            print(f"wrote {args.out}")
        else:
            result.show(max_rows=args.max_rows, max_width=sys.maxsize)
    except duckdb.Error as error:
        sys.exit(f"lake sql: {error}")
