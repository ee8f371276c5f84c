"""The lake: a raw zone of delivered files and Parquet tables in Hive-style date=YYYY-MM-DD partitions,
on a local disk or in S3 (BANKING_LAKE_URI=s3://bucket/prefix).

A run publishes only its own partitions, each one committed whole. Every partition (raw deliveries
included) holds a `_committed.json` manifest naming its files, and readers go through it. Work in
progress lives in `<lake>/_staging/<token>/`, outside every table, so no reader (nor a glob of a
table's `*.parquet`) ever sees it; only Parquet files and the manifest reach a table directory.

Commit protocol, journaled so that a crash at any point is completed or undone at the next access
(`recover`, run once per process when the storage opens):
- local disk: journal {live, staged, retired}; rename live -> retired (inside the staging area),
  staged -> live; drop retired and the journal. Recovery rolls a journaled commit forward.
- S3: journal {live, files}; upload the new files beside the old ones; replace the manifest by one PUT
  (S3's atomic step); delete the old version's files and the journal. Recovery deletes whichever
  version the manifest does not name.
A staging area whose process is gone (same host, dead PID; another host's after 24 h) has its
journaled commits finished, then is removed.

Spark reads and writes local paths itself. On S3 it does the same through `s3a://` where the session
has that connector (`spark_s3a`, the docker image); a pip-only install has none, so the lake stages
Spark's output locally and uploads it, and downloads the committed files Spark is to read.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import psutil
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
STAGING = "_staging"
OWNER_FILE = "_owner.json"
JOURNAL_PREFIX = "_journal-"
FOREIGN_AREA_GRACE = dt.timedelta(hours=24)
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


class LakeWriteError(ValueError):
    """An output the lake refuses to publish (rows outside the run's partitions)."""


def _owner() -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname(), "started": dt.datetime.now(dt.UTC).isoformat()}


def _owner_is_gone(owner: dict | None) -> bool:
    """A staging area's process has ended: on this host its PID is gone (or now names a younger process);
    an area of another host (a container since replaced, say) counts as gone after FOREIGN_AREA_GRACE."""
    if not owner:
        return True
    started = dt.datetime.fromisoformat(owner["started"]) if owner.get("started") else None
    if owner.get("host") != socket.gethostname():
        return started is not None and dt.datetime.now(dt.UTC) - started > FOREIGN_AREA_GRACE
    try:
        process = psutil.Process(int(owner["pid"]))
    except psutil.NoSuchProcess:
        return True
    return started is not None and process.create_time() > started.timestamp() + 1  # the PID was reused


class LakeResource(ConfigurableResource):
    """Where the lake lives (BANKING_LAKE_URI) and how partitions are laid out, published and read."""

    base_uri: str = Field(description="root of the lake: a local directory or s3://bucket/prefix")
    s3: S3Resource | None = Field(default=None, description="endpoint and credentials of an s3:// lake")
    scratch_dir: str = Field(default="", description="local working space (default: the temp dir)")
    spark_s3a: bool = Field(default=False, description="the Spark session has the s3a connector (BANKING_SPARK_S3A)")

    _storage: Storage | None = PrivateAttr(default=None)

    @property
    def storage(self) -> Storage:
        if self._storage is None:
            self._storage = open_storage(self.base_uri, self.s3 or S3Resource())
            self.recover()
        return self._storage

    @property
    def spark_via_scratch(self) -> bool:
        """An S3 lake whose Spark has no s3a: Spark reads and writes local scratch, the lake moves the bytes."""
        return self.storage.is_s3 and not self.spark_s3a

    @property
    def scratch(self) -> Path:
        return Path(self.scratch_dir or tempfile.gettempdir()) / "banking_lakehouse_scratch"

    # ---- staging and the commit journal -------------------------------------------------------

    @contextmanager
    def staging_area(self) -> Iterator[tuple[str, pafs.FileSystem, str]]:
        """(token, filesystem, root) of a private staging area outside every table; removed afterwards.

        On a local lake (or an S3 lake with s3a) it is `<lake>/_staging/<token>`; otherwise Spark stages
        in local scratch and only the commit journal sits in the bucket. Both carry the owner's PID.
        """
        storage, token = self.storage, uuid.uuid4().hex
        areas = [(storage.fs, storage.path(STAGING, token))]
        if self.spark_via_scratch:
            areas.insert(0, (LOCAL, str(self.scratch / STAGING / token)))
        for fs, root in areas:
            if fs is LOCAL or not storage.is_s3:
                fs.create_dir(root)
            with fs.open_output_stream(f"{root}/{OWNER_FILE}") as out:
                out.write(json.dumps(_owner()).encode())
        try:
            yield token, *areas[0]
        finally:
            for fs, root in areas:
                self._remove_area(fs, root)

    def _remove_area(self, fs: pafs.FileSystem, root: str) -> None:
        if fs is self.storage.fs and self.storage.is_s3:  # no empty 'directory' markers left behind
            entries = fs.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
            self.storage.delete_files([e.path for e in entries if e.type == pafs.FileType.File])
        elif fs.get_file_info(root).type != pafs.FileType.NotFound:
            fs.delete_dir(root)

    def _journal_dir(self, token: str) -> str:
        """Journals live in the lake itself (beside the data they protect), even when Spark stages locally."""
        return self.storage.path(STAGING, token)

    def _write_journal(self, token: str, name: str, journal: dict) -> str:
        path = f"{self._journal_dir(token)}/{JOURNAL_PREFIX}{name}.json"
        if not self.storage.is_s3:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            partial = Path(f"{path}.partial")
            partial.write_text(json.dumps(journal))
            partial.replace(path)
        else:
            self.storage.write_bytes(path, json.dumps(journal).encode())
        return path

    def _finish(self, journal: dict, journal_path: str) -> None:
        """Completes (or, on S3 before the manifest PUT, undoes) one journaled commit; idempotent."""
        if self.storage.is_s3:
            live, manifest = journal["live"], self._manifest_or_none(journal["live"])
            keep = set(manifest["files"]) if manifest else set()
            stale = [i.path for i in self.storage.fs.get_file_info(pafs.FileSelector(live, allow_not_found=True))
                     if i.base_name not in keep and i.base_name != COMMIT_FILE]
            self.storage.delete_files(stale)
            self.storage.delete_files([journal_path])
            return
        live, staged, retired = Path(journal["live"]), Path(journal["staged"]), Path(journal["retired"])
        if staged.exists():
            if live.exists():
                retired.parent.mkdir(parents=True, exist_ok=True)
                live.rename(retired)
            live.parent.mkdir(parents=True, exist_ok=True)
            staged.rename(live)
        shutil.rmtree(retired, ignore_errors=True)
        Path(journal_path).unlink(missing_ok=True)

    def recover(self) -> list[str]:
        """Finishes the journaled commits of staging areas whose process is gone, then removes the areas.

        Returns the tokens cleaned. Areas of live processes (or of other hosts) are left alone.
        """
        storage, cleaned = self._storage, []
        areas = [(storage.fs, storage.path(STAGING))]
        if storage.is_s3 and not self.spark_s3a:
            areas.append((LOCAL, str(self.scratch / STAGING)))
        for fs, root in areas:
            for area in fs.get_file_info(pafs.FileSelector(root, allow_not_found=True)):
                if area.type != pafs.FileType.Directory:
                    continue
                try:
                    owner = json.loads(_read(fs, f"{area.path}/{OWNER_FILE}"))
                except (FileNotFoundError, ValueError):
                    owner = None
                if not _owner_is_gone(owner):
                    continue
                if fs is storage.fs:
                    journals = [e for e in fs.get_file_info(pafs.FileSelector(area.path))
                                if e.base_name.startswith(JOURNAL_PREFIX) and e.base_name.endswith(".json")]
                    for entry in sorted(journals, key=lambda e: e.base_name):
                        self._finish(json.loads(_read(fs, entry.path)), entry.path)
                self._remove_area(fs, area.path)
                cleaned.append(area.base_name)
        return cleaned

    def _commit_dir(self, token: str, live: str, staged_fs: pafs.FileSystem, staged: str, manifest: dict) -> None:
        """Publishes a staged directory of files (no manifest yet) as `live`, with `manifest` committed last."""
        name = uuid.uuid4().hex[:12]
        if self.storage.is_s3:
            journal = self._write_journal(token, name, {"live": live, "files": manifest["files"]})
            for file_name in manifest["files"]:
                copy_file(staged_fs, f"{staged}/{file_name}", self.storage.fs, f"{live}/{file_name}")
            self.storage.write_bytes(f"{live}/{COMMIT_FILE}", json.dumps(manifest).encode())
            self._finish({"live": live}, journal)
            return
        Path(staged, COMMIT_FILE).write_text(json.dumps(manifest))
        retired = f"{self._journal_dir(token)}/retired-{name}"
        journal = {"live": live, "staged": staged, "retired": retired}
        self._finish(journal, self._write_journal(token, name, journal))

    # ---- raw zone ----------------------------------------------------------------------------

    def raw_path(self, date: str, file_name: str = "") -> str:
        return self.storage.path("raw", f"date={date}", *([file_name] if file_name else []))

    def raw_uri(self, date: str, file_name: str = "") -> str:
        return self.storage.uri(self.raw_path(date, file_name))

    def store_delivery(self, date: str, files: Mapping[str, Path], delivery: dict) -> None:
        """Commits a day's delivered files (name -> local path) and its record (`delivery`) as one version
        of the raw zone's `date=` partition: a reader sees the previous delivery or this one, whole."""
        with self.staging_area() as (token, fs, root):
            staged = f"{root}/raw-{date}"
            fs.create_dir(staged)
            for name, source in files.items():
                copy_file(LOCAL, str(source), fs, f"{staged}/{name}")
            manifest = {"version": token, "files": sorted(files), **delivery}
            self._commit_dir(token, self.raw_path(date), fs, staged, manifest)

    def delivery(self, date: str) -> dict:
        """The committed delivery of `date`: its source, files (name, bytes, sha256, records) and times."""
        return self._manifest(["raw"], date)

    def local_raw_file(self, date: str, file_name: str) -> Path:
        """A committed raw file on local disk for reading (downloaded from an S3 lake, cached by version)."""
        if file_name not in self.delivery(date)["files"]:
            raise LakePartitionMissing(f"raw delivery date={date} has no file {file_name}")
        if not self.storage.is_s3:
            return Path(self.raw_path(date, file_name))
        return self._download(self.raw_path(date, file_name), self.delivery(date)["version"])

    def raw_rows(self, date: str, entity: str) -> int:
        """Records delivered for an entity (header excluded), as counted when the delivery was stored."""
        return self.delivery(date)["entities"][entity]["records"]

    def raw_text(self, date: str, file_name: str) -> str:
        return self.storage.read_bytes(self.raw_path(date, file_name)).decode()

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

    def _manifest_or_none(self, partition: str) -> dict | None:
        try:
            return json.loads(self.storage.read_bytes(f"{partition}/{COMMIT_FILE}"))
        except FileNotFoundError:
            return None

    def _manifest(self, key_path: Sequence[str], date: str) -> dict:
        path = self.partition_path(key_path, date)
        manifest = self._manifest_or_none(path)
        if manifest is None:
            raise LakePartitionMissing(
                f"lake partition {'/'.join(key_path)} date={date} not found at {self.storage.uri(path)}: "
                "materialize it first"
            )
        return manifest

    def partition_manifest(self, key_path: Sequence[str], date: str) -> dict:
        """The committed version of a partition: {version, files, rows, bytes}."""
        return self._manifest(key_path, date)

    def partition_stats(self, key_path: Sequence[str], date: str) -> dict[str, int]:
        """Rows and bytes of the committed partition (from its manifest: no Spark job, no footer reads)."""
        manifest = self.partition_manifest(key_path, date)
        return {"rows": manifest["rows"], "bytes": manifest["bytes"]}

    def _file_paths(self, key_path: Sequence[str], date: str) -> list[str]:
        directory = self.partition_path(key_path, date)
        return [f"{directory}/{name}" for name in self.partition_manifest(key_path, date)["files"]]

    def publish(self, df: DataFrame, key_path: Sequence[str], dates: Sequence[str]) -> dict[str, dict[str, int]]:
        """Writes df (one batch_date per partition) and commits exactly `dates`; returns rows/bytes per date.

        Rows of any other batch_date are refused (LakeWriteError naming the asset and the dates) before
        anything is committed: a run never publishes, nor silently drops, another run's partitions.
        """
        with self.staging_area() as (token, fs, root):
            (
                df.withColumn("date", F.date_format(F.col(PARTITION_COLUMN), "yyyy-MM-dd"))
                .write.mode("overwrite")
                .partitionBy("date")
                .parquet(root if fs is LOCAL else self.storage.spark_uri(root))
            )
            written = {i.base_name.removeprefix("date=") for i in fs.get_file_info(pafs.FileSelector(root))
                       if i.type == pafs.FileType.Directory and i.base_name.startswith("date=")}
            outside = sorted(written - set(dates))
            if outside:
                raise LakeWriteError(
                    f"asset {'/'.join(key_path)}: output holds rows of batch_date {', '.join(outside)}, "
                    f"outside the run's partitions {', '.join(dates)}; nothing was published"
                )
            arrow_schema = to_arrow_schema(df.schema, timezone="UTC")
            return {date: self._commit_partition(key_path, date, token, fs, f"{root}/date={date}", arrow_schema)
                    for date in dates}

    def _commit_partition(self, key_path, date, token, staged_fs, staged, arrow_schema) -> dict[str, int]:
        staged_fs.create_dir(staged)
        entries = staged_fs.get_file_info(pafs.FileSelector(staged))
        files = sorted(i.base_name for i in entries if i.base_name.endswith(".parquet"))
        # Spark's checksums and markers never reach a table directory: a glob sees data files only.
        for entry in entries:
            if not entry.base_name.endswith(".parquet"):
                staged_fs.delete_file(entry.path)
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
        self._commit_dir(token, live, staged_fs, staged, manifest)
        if self.spark_via_scratch:
            self._cache_committed(live, token, staged, files)
        return {"rows": manifest["rows"], "bytes": manifest["bytes"]}

    def read(self, spark: SparkSession, key_path: Sequence[str], dates: Sequence[str]) -> DataFrame:
        paths = [(p, self.partition_manifest(key_path, d)["version"])
                 for d in dates for p in self._file_paths(key_path, d)]  # a missing partition fails here, named
        if self.spark_via_scratch:
            return spark.read.parquet(*(str(self._download(p, v)) for p, v in paths))
        return spark.read.parquet(*(self.storage.spark_uri(p) for p, _ in paths))

    def _cache_committed(self, live: str, version: str, staged: str, files: list[str]) -> None:
        """Spark's local output becomes the local copy of the version it just committed."""
        cache = self.scratch / "downloads" / live / version
        shutil.rmtree(cache.parent, ignore_errors=True)  # earlier versions of this partition
        cache.mkdir(parents=True)
        for name in files:
            Path(staged, name).rename(cache / name)

    def _download(self, path: str, version: str) -> Path:
        """A committed file in the local cache, by version, so a cached copy is always the committed one."""
        directory, name = path.rsplit("/", 1)
        local = self.scratch / "downloads" / directory / version / name
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


def _read(fs: pafs.FileSystem, path: str) -> bytes:
    with fs.open_input_stream(path) as handle:
        return handle.read()


class LakeIOManager(ConfigurableIOManager):
    """Spark DataFrames in and out of the lake, one Hive-style partition per daily batch."""

    lake: LakeResource
    spark: SparkResource

    def handle_output(self, context: OutputContext, obj: DataFrame) -> None:
        dates = list(context.asset_partition_keys)
        started = time.perf_counter()
        stats = self.lake.publish(obj, context.asset_key.path, dates)
        metadata = {"write_seconds": round(time.perf_counter() - started, 2),
                    "path": self.lake.table_uri(context.asset_key.path)}
        if "dagster/column_schema" not in (context.definition_metadata or {}):  # contracts declare their own
            metadata["dagster/column_schema"] = TableSchema(
                columns=[TableColumn(f.name, f.dataType.simpleString()) for f in obj.schema.fields]
            )
        context.add_output_metadata(metadata)
        for date, written in stats.items():  # each partition's own numbers, also in a multi-day run
            sample = self.lake.head_arrow(context.asset_key.path, date, PREVIEW_ROWS)
            context.step_context.add_asset_metadata(
                {
                    "dagster/row_count": written["rows"],
                    "bytes_written": written["bytes"],
                    "preview": MetadataValue.md(markdown_table(sample.to_pylist())),
                },
                asset_key=context.asset_key,
                partition_key=date,
            )

    def load_input(self, context: InputContext) -> DataFrame:
        dates = list(context.asset_partition_keys)
        return self.lake.read(self.spark.get_session(), context.asset_key.path, dates)
