"""The lake: a raw zone of delivered files and Parquet tables in Hive-style date=YYYY-MM-DD partitions.

A run publishes only its own partitions, each one swapped in whole: Spark writes every partition
of the run into a staging directory, then each staged partition replaces the live one by rename,
so readers see either the previous version or the new one, never a mix.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
from dagster import (
    ConfigurableIOManager,
    ConfigurableResource,
    InputContext,
    MetadataValue,
    OutputContext,
    TableColumn,
    TableSchema,
)
from pydantic import Field
from pyspark.sql import DataFrame, SparkSession, functions as F
from pyspark.sql.pandas.types import to_arrow_schema

from banking_lakehouse.resources.spark import SparkResource

PARTITION_COLUMN = "batch_date"
PREVIEW_ROWS = 5


def markdown_table(rows: list[dict]) -> str:
    """A few rows as a Markdown table, for previews and check examples in the UI."""
    if not rows:
        return "_no rows_"
    head = list(rows[0])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(r[h]) for h in head) + " |" for r in rows]
    return "\n".join(lines)


class LakePartitionMissing(FileNotFoundError):
    """A partition an asset needs has not been materialized."""


class LakeResource(ConfigurableResource):
    """Where the lake lives (BANKING_LAKE_URI) and how partitions are laid out, published and read."""

    base_uri: str = Field(description="root of the lake: a local directory")
    landing_uri: str = Field(default="", description="landing zone watched for deliveries (BANKING_LANDING_DIR)")

    @property
    def root(self) -> Path:
        return Path(self.base_uri)

    def raw_dir(self, date: str) -> Path:
        return self.root / "raw" / f"date={date}"

    def landed_delivery(self, date: str, file_names: Sequence[str]) -> Path | None:
        """The landing directory of `date` if it holds every expected file, else None."""
        if not self.landing_uri:
            return None
        directory = Path(self.landing_uri) / f"date={date}"
        return directory if all((directory / name).is_file() for name in file_names) else None

    def ingest(self, landed: Path, date: str, file_names: Sequence[str]) -> None:
        """Copies a landed delivery into the raw zone, each file swapped in whole."""
        target = self.raw_dir(date)
        target.mkdir(parents=True, exist_ok=True)
        for name in file_names:
            staged = target / f".{name}.ingest"
            shutil.copyfile(landed / name, staged)
            staged.replace(target / name)

    def raw_rows(self, date: str, file_name: str) -> int:
        """Data rows of a delivered file: its lines, less the header of a CSV."""
        with (self.raw_dir(date) / file_name).open("rb") as handle:
            lines = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 24), b""))
        return lines - (1 if file_name.endswith(".csv") else 0)

    def table_root(self, key_path: Sequence[str]) -> Path:
        return self.root.joinpath(*key_path)

    def partition_dir(self, key_path: Sequence[str], date: str) -> Path:
        return self.table_root(key_path) / f"date={date}"

    def list_partitions(self, key_path: Sequence[str]) -> list[str]:
        """Dates of the published partitions of a table, oldest first."""
        root = self.table_root(key_path)
        return sorted(p.name.removeprefix("date=") for p in root.glob("date=*") if p.is_dir())

    def publish(self, df: DataFrame, key_path: Sequence[str], dates: Sequence[str]) -> dict[str, dict[str, int]]:
        """Writes df (one batch_date per partition) and swaps in exactly `dates`; returns rows/bytes per date."""
        root = self.table_root(key_path)
        token = uuid.uuid4().hex
        staging = root / "_staging" / token
        (
            df.withColumn("date", F.date_format(F.col(PARTITION_COLUMN), "yyyy-MM-dd"))
            .write.mode("overwrite")
            .partitionBy("date")
            .parquet(str(staging))
        )
        arrow_schema = to_arrow_schema(df.schema, timezone="UTC")
        stats = {}
        try:
            for date in dates:
                staged = staging / f"date={date}"
                if not staged.exists():  # an empty partition is still a published, readable partition
                    staged.mkdir(parents=True)
                    pq.write_table(arrow_schema.empty_table(), staged / "part-00000-empty.snappy.parquet")
                live = root / f"date={date}"
                retired = root / "_staging" / f"{token}-retired-{date}"
                if live.exists():
                    live.rename(retired)
                staged.rename(live)
                shutil.rmtree(retired, ignore_errors=True)
                stats[date] = self.partition_stats(key_path, date)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return stats

    def _files(self, key_path: Sequence[str], date: str) -> list[Path]:
        directory = self.partition_dir(key_path, date)
        if not directory.is_dir():
            raise LakePartitionMissing(
                f"lake partition {'/'.join(key_path)} date={date} not found at {directory}: materialize it first"
            )
        return sorted(directory.glob("*.parquet"))

    def partition_stats(self, key_path: Sequence[str], date: str) -> dict[str, int]:
        """Row count from Parquet footers (no Spark job) and bytes on disk."""
        files = self._files(key_path, date)
        return {
            "rows": sum(pq.read_metadata(f).num_rows for f in files),
            "bytes": sum(f.stat().st_size for f in files),
        }

    def read(self, spark: SparkSession, key_path: Sequence[str], dates: Sequence[str]) -> DataFrame:
        for date in dates:
            self._files(key_path, date)  # a missing partition fails here with the asset and date named
        paths = [str(self.partition_dir(key_path, d)) for d in dates]
        return spark.read.option("basePath", str(self.table_root(key_path))).parquet(*paths).drop("date")

    def read_arrow(self, key_path: Sequence[str], date: str, columns: list[str] | None = None) -> pa.Table:
        files = self._files(key_path, date)
        return pads.dataset([str(f) for f in files], format="parquet").to_table(columns=columns)


class LakeIOManager(ConfigurableIOManager):
    """Spark DataFrames in and out of the lake, one Hive-style partition per daily batch."""

    lake: LakeResource
    spark: SparkResource

    def handle_output(self, context: OutputContext, obj: DataFrame) -> None:
        dates = list(context.asset_partition_keys)
        started = time.perf_counter()
        stats = self.lake.publish(obj, context.asset_key.path, dates)
        rows = sum(s["rows"] for s in stats.values())
        sample = self.lake.read_arrow(context.asset_key.path, dates[-1]).slice(0, PREVIEW_ROWS)
        metadata = {}
        if "dagster/column_schema" not in (context.definition_metadata or {}):  # contracts declare their own
            metadata["dagster/column_schema"] = TableSchema(
                columns=[TableColumn(f.name, f.dataType.simpleString()) for f in obj.schema.fields]
            )
        context.add_output_metadata(
            {
                **metadata,
                "dagster/row_count": rows,
                "bytes_written": sum(s["bytes"] for s in stats.values()),
                "write_seconds": round(time.perf_counter() - started, 2),
                "path": str(self.lake.table_root(context.asset_key.path)),
                "partitions_written": len(stats),
                "preview": MetadataValue.md(markdown_table(sample.to_pylist())),
            }
        )

    def load_input(self, context: InputContext) -> DataFrame:
        dates = list(context.asset_partition_keys)
        return self.lake.read(self.spark.get_session(), context.asset_key.path, dates)
