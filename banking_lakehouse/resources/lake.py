"""The lake: a raw zone of delivered files and Parquet tables in Hive-style date=YYYY-MM-DD partitions,
on a local disk or in S3 (BANKING_LAKE_URI=s3://bucket/prefix).

A run publishes only its own partitions, each one committed whole. Every partition holds a
`_committed.json` manifest naming its files, rows and bytes, and readers go through it:
- local disk: the staged partition directory (manifest inside) replaces the live one by rename;
- S3: the new files are uploaded beside the old ones, then the manifest is replaced by one PUT
  (S3's atomic step), then the old version's files are deleted.
Either way a reader sees the previous version or the new one, and a write that fails before its
commit leaves the previous version in place.

Spark reads and writes local paths itself. On S3 it does the same through `s3a://` where the session
has that connector (`spark_s3a`, the docker image); a pip-only install has none, so the lake stages
Spark's output locally and uploads it, and downloads the committed files Spark is to read.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs
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
from dagster_aws.s3 import S3Resource
from pydantic import Field, PrivateAttr
from pyspark.sql import DataFrame, SparkSession, functions as F
from pyspark.sql.pandas.types import to_arrow_schema

from banking_lakehouse.resources.spark import SparkResource
from banking_lakehouse.resources.storage import Storage, copy_file, open_storage

PARTITION_COLUMN = "batch_date"
COMMIT_FILE = "_committed.json"
PREVIEW_ROWS = 5
LOCAL = pafs.LocalFileSystem()


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

    base_uri: str = Field(description="root of the lake: a local directory or s3://bucket/prefix")
    s3: S3Resource | None = Field(default=None, description="endpoint and credentials of an s3:// lake")
    landing_uri: str = Field(default="", description="landing zone watched for deliveries (BANKING_LANDING_DIR)")
    scratch_dir: str = Field(default="", description="local working space of an S3 lake (default: the temp dir)")
    spark_s3a: bool = Field(default=False, description="the Spark session has the s3a connector (BANKING_SPARK_S3A)")

    _storage: Storage | None = PrivateAttr(default=None)

    @property
    def storage(self) -> Storage:
        if self._storage is None:
            self._storage = open_storage(self.base_uri, self.s3 or S3Resource())
        return self._storage

    @property
    def spark_via_scratch(self) -> bool:
        """An S3 lake whose Spark has no s3a: Spark reads and writes local scratch, the lake moves the bytes."""
        return self.storage.is_s3 and not self.spark_s3a

    @property
    def scratch(self) -> Path:
        return Path(self.scratch_dir or tempfile.gettempdir()) / "banking_lakehouse_scratch"

    # ---- raw zone ----------------------------------------------------------------------------

    def raw_path(self, date: str, file_name: str = "") -> str:
        return self.storage.path("raw", f"date={date}", *([file_name] if file_name else []))

    def raw_uri(self, date: str, file_name: str = "") -> str:
        return self.storage.uri(self.raw_path(date, file_name))

    def raw_workdir(self, date: str) -> Path:
        """Local directory to assemble a delivery in: the raw zone itself on a local lake."""
        if self.storage.is_s3:
            return self.scratch / "deliveries" / f"date={date}"
        return Path(self.raw_path(date))

    def landed_delivery(self, date: str, file_names: Sequence[str]) -> Path | None:
        """The landing directory of `date` if it holds every expected file, else None."""
        if not self.landing_uri:
            return None
        directory = Path(self.landing_uri) / f"date={date}"
        return directory if all((directory / name).is_file() for name in file_names) else None

    def store_raw(self, source: Path, date: str, file_names: Sequence[str]) -> None:
        """Puts a delivery into the raw zone, each file swapped in whole (a rename, or one S3 upload)."""
        if self.storage.is_s3:
            for name in file_names:
                copy_file(LOCAL, str(source / name), self.storage.fs, self.raw_path(date, name))
            if source == self.raw_workdir(date):  # a generated delivery: S3 holds it now
                shutil.rmtree(source)
            return
        for name in file_names:
            target = self.raw_path(date, name)
            if source / name != Path(target):
                staged = Path(target).with_name(f".{name}.ingest")
                staged.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source / name, staged)
                staged.replace(target)

    def local_raw_file(self, date: str, file_name: str) -> Path:
        """A raw file on local disk for Spark to read (downloaded from an S3 lake)."""
        if not self.storage.is_s3:
            return Path(self.raw_path(date, file_name))
        local = self.scratch / "downloads" / "raw" / f"date={date}" / file_name
        local.parent.mkdir(parents=True, exist_ok=True)
        if self.storage.exists(self.raw_path(date, file_name)):  # a missing file is reported by the raw reader
            copy_file(self.storage.fs, self.raw_path(date, file_name), LOCAL, str(local))
        else:
            local.unlink(missing_ok=True)
        return local

    def raw_bytes(self, date: str, file_name: str) -> int:
        return self.storage.fs.get_file_info(self.raw_path(date, file_name)).size

    def raw_text(self, date: str, file_name: str) -> str:
        return self.storage.read_bytes(self.raw_path(date, file_name)).decode()

    def raw_rows(self, date: str, file_name: str) -> int:
        """Data rows of a delivered file: its lines, less the header of a CSV."""
        with self.storage.fs.open_input_stream(self.raw_path(date, file_name)) as handle:
            lines = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 24), b""))
        return lines - (1 if file_name.endswith(".csv") else 0)

    # ---- tables ------------------------------------------------------------------------------

    def table_path(self, key_path: Sequence[str]) -> str:
        return self.storage.path(*key_path)

    def table_uri(self, key_path: Sequence[str]) -> str:
        return self.storage.uri(self.table_path(key_path))

    def partition_path(self, key_path: Sequence[str], date: str) -> str:
        return self.storage.path(*key_path, f"date={date}")

    def list_partitions(self, key_path: Sequence[str]) -> list[str]:
        """Dates of the committed partitions of a table, oldest first."""
        entries = self.storage.fs.get_file_info(pafs.FileSelector(self.table_path(key_path), allow_not_found=True))
        dates = sorted(e.base_name.removeprefix("date=") for e in entries
                       if e.type == pafs.FileType.Directory and e.base_name.startswith("date="))
        manifests = self.storage.fs.get_file_info([f"{self.partition_path(key_path, d)}/{COMMIT_FILE}" for d in dates])
        return [d for d, m in zip(dates, manifests) if m.type == pafs.FileType.File]

    def partition_manifest(self, key_path: Sequence[str], date: str) -> dict:
        """The committed version of a partition: {version, files, rows, bytes}."""
        path = f"{self.partition_path(key_path, date)}/{COMMIT_FILE}"
        try:
            return json.loads(self.storage.read_bytes(path))
        except FileNotFoundError:
            raise LakePartitionMissing(
                f"lake partition {'/'.join(key_path)} date={date} not found at {self.storage.uri(path)}: "
                "materialize it first"
            ) from None

    def partition_stats(self, key_path: Sequence[str], date: str) -> dict[str, int]:
        """Rows and bytes of the committed partition (from its manifest: no Spark job, no footer reads)."""
        manifest = self.partition_manifest(key_path, date)
        return {"rows": manifest["rows"], "bytes": manifest["bytes"]}

    def _file_paths(self, key_path: Sequence[str], date: str) -> list[str]:
        directory = self.partition_path(key_path, date)
        return [f"{directory}/{name}" for name in self.partition_manifest(key_path, date)["files"]]

    def publish(self, df: DataFrame, key_path: Sequence[str], dates: Sequence[str]) -> dict[str, dict[str, int]]:
        """Writes df (one batch_date per partition) and commits exactly `dates`; returns rows/bytes per date."""
        storage = self.storage  # opened (and an S3 bucket checked) before Spark does any work
        token = uuid.uuid4().hex
        if self.spark_via_scratch:
            staged_fs, staged_root = LOCAL, str(self.scratch / "staging" / token)
            spark_target = staged_root
        else:
            staged_fs, staged_root = storage.fs, storage.path(*key_path, "_staging", token)
            spark_target = storage.spark_uri(staged_root)
        (
            df.withColumn("date", F.date_format(F.col(PARTITION_COLUMN), "yyyy-MM-dd"))
            .write.mode("overwrite")
            .partitionBy("date")
            .parquet(spark_target)
        )
        arrow_schema = to_arrow_schema(df.schema, timezone="UTC")
        try:
            return {
                date: self._commit(key_path, date, staged_fs, f"{staged_root}/date={date}", token, arrow_schema)
                for date in dates
            }
        finally:
            if staged_fs.get_file_info(staged_root).type != pafs.FileType.NotFound:
                staged_fs.delete_dir(staged_root)

    def _commit(self, key_path, date, staged_fs, staged, token, arrow_schema) -> dict[str, int]:
        staged_fs.create_dir(staged)
        files = sorted(i.base_name for i in staged_fs.get_file_info(pafs.FileSelector(staged))
                       if i.base_name.endswith(".parquet"))
        if not files:  # an empty partition is still a published, readable partition
            files = [f"part-{token}-empty.snappy.parquet"]
            pq.write_table(arrow_schema.empty_table(), f"{staged}/{files[0]}", filesystem=staged_fs)
        manifest = {
            "version": token,
            "files": files,
            "rows": sum(pq.read_metadata(f"{staged}/{f}", filesystem=staged_fs).num_rows for f in files),
            "bytes": sum(i.size for i in staged_fs.get_file_info([f"{staged}/{f}" for f in files])),
        }
        live = self.partition_path(key_path, date)
        if self.storage.is_s3:
            for name in files:
                copy_file(staged_fs, f"{staged}/{name}", self.storage.fs, f"{live}/{name}")
            self.storage.write_bytes(f"{live}/{COMMIT_FILE}", json.dumps(manifest).encode())
            stale = [i.path for i in self.storage.fs.get_file_info(pafs.FileSelector(live))
                     if i.base_name not in files and i.base_name != COMMIT_FILE]
            self.storage.delete_files(stale)  # the previous version, now unreferenced
            self._cache_committed(live, staged, files)
        else:
            Path(staged, COMMIT_FILE).write_text(json.dumps(manifest))
            retired = Path(self.storage.path(*key_path, "_staging", f"{token}-retired-{date}"))
            if Path(live).exists():
                Path(live).rename(retired)
            Path(staged).rename(live)
            shutil.rmtree(retired, ignore_errors=True)
        return {"rows": manifest["rows"], "bytes": manifest["bytes"]}

    def read(self, spark: SparkSession, key_path: Sequence[str], dates: Sequence[str]) -> DataFrame:
        paths = [p for d in dates for p in self._file_paths(key_path, d)]  # a missing partition fails here, named
        if self.spark_via_scratch:
            return spark.read.parquet(*(str(self._download(p)) for p in paths))
        return spark.read.parquet(*(self.storage.spark_uri(p) for p in paths))

    def _cache_committed(self, live: str, staged: str, files: list[str]) -> None:
        """Drops the local copies of the previous version; Spark's local output becomes the new one's."""
        cache = self.scratch / "downloads" / live
        shutil.rmtree(cache, ignore_errors=True)
        if self.spark_via_scratch:
            cache.mkdir(parents=True)
            for name in files:
                Path(staged, name).rename(cache / name)

    def _download(self, path: str) -> Path:
        """A committed file in the local cache; file names are unique per version, so a cached copy is current."""
        local = self.scratch / "downloads" / path
        if not local.exists():
            local.parent.mkdir(parents=True, exist_ok=True)
            partial = local.with_name(f".{local.name}.{uuid.uuid4().hex}")
            copy_file(self.storage.fs, path, LOCAL, str(partial))
            partial.rename(local)
        return local

    def _dataset(self, key_path: Sequence[str], date: str) -> pads.Dataset:
        return pads.dataset(self._file_paths(key_path, date), format="parquet", filesystem=self.storage.fs)

    def read_arrow(self, key_path: Sequence[str], date: str, columns: list[str] | None = None) -> pa.Table:
        return self._dataset(key_path, date).to_table(columns=columns)

    def head_arrow(self, key_path: Sequence[str], date: str, rows: int) -> pa.Table:
        """The first rows of a partition, reading no more of it than they need."""
        return self._dataset(key_path, date).head(rows)


class LakeIOManager(ConfigurableIOManager):
    """Spark DataFrames in and out of the lake, one Hive-style partition per daily batch."""

    lake: LakeResource
    spark: SparkResource

    def handle_output(self, context: OutputContext, obj: DataFrame) -> None:
        dates = list(context.asset_partition_keys)
        started = time.perf_counter()
        stats = self.lake.publish(obj, context.asset_key.path, dates)
        rows = sum(s["rows"] for s in stats.values())
        sample = self.lake.head_arrow(context.asset_key.path, dates[-1], PREVIEW_ROWS)
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
                "path": self.lake.table_uri(context.asset_key.path),
                "partitions_written": len(stats),
                "preview": MetadataValue.md(markdown_table(sample.to_pylist())),
            }
        )

    def load_input(self, context: InputContext) -> DataFrame:
        dates = list(context.asset_partition_keys)
        return self.lake.read(self.spark.get_session(), context.asset_key.path, dates)
