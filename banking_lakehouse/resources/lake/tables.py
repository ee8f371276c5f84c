"""The lake's Parquet tables: Hive-style `date=YYYY-MM-DD` partitions, each committed whole with a
`_committed.json` manifest (version, files, rows, bytes) that every reader goes through; or a current table
(`CURRENT`: a dimension's one row per key), whose directory is committed whole with its manifest at the top.

The partition methods take `date=None` for a current table: the unit committed is then the table itself."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import to_arrow_schema

from banking_lakehouse.resources.lake.commit import StagingArea
from banking_lakehouse.resources.lake.storage import COMMIT_FILE, file_uri

PARTITION_COLUMN = "batch_date"
# Definition metadata of an asset whose lake table is one current version, not a partition per batch.
LAYOUT = "lake/layout"
CURRENT = "current"


class LakePartitionMissing(FileNotFoundError):
    """A partition an asset needs has not been materialized."""


class LakeWriteError(ValueError):
    """An output the lake refuses to publish (rows outside the run's partitions)."""


class Tables:
    """Partitioned tables of the lake (mixed into LakeResource, which provides storage and commits)."""

    def table_path(self, key_path: Sequence[str]) -> str:
        return self.storage.path(*key_path)

    def table_uri(self, key_path: Sequence[str]) -> str:
        return self.storage.uri(self.table_path(key_path))

    def partition_path(self, key_path: Sequence[str], date: str | None) -> str:
        return self.storage.path(*key_path, f"date={date}") if date else self.table_path(key_path)

    def list_partitions(self, key_path: Sequence[str]) -> list[str]:
        """Dates of the committed partitions of a table, oldest first."""
        dates = sorted(
            e.base_name.removeprefix("date=")
            for e in self.storage.list_dirs(self.table_path(key_path))
            if e.base_name.startswith("date=")
        )
        manifests = self.storage.fs.get_file_info([f"{self.partition_path(key_path, d)}/{COMMIT_FILE}" for d in dates])
        return [d for d, m in zip(dates, manifests, strict=True) if m.type == pafs.FileType.File]

    def partition_manifest(self, key_path: Sequence[str], date: str | None) -> dict:
        """The committed version of a partition: {version, files, rows, bytes} (for raw: the delivery)."""
        path = self.partition_path(key_path, date)
        manifest = self.storage.read_json(f"{path}/{COMMIT_FILE}")
        if manifest is None:
            unit = f"partition {'/'.join(key_path)} date={date}" if date else f"table {'/'.join(key_path)}"
            raise LakePartitionMissing(f"lake {unit} not found at {self.storage.uri(path)}: materialize it first")
        return manifest

    def partition_stats(self, key_path: Sequence[str], date: str | None) -> dict[str, int]:
        """Rows and bytes of the committed partition (from its manifest: no Spark job, no footer reads)."""
        manifest = self.partition_manifest(key_path, date)
        return {"rows": manifest["rows"], "bytes": manifest["bytes"]}

    def _file_paths(self, key_path: Sequence[str], date: str | None) -> list[str]:
        directory = self.partition_path(key_path, date)
        return [f"{directory}/{name}" for name in self.partition_manifest(key_path, date)["files"]]

    def is_current(self, key_path: Sequence[str]) -> bool:
        """Whether the table is committed as one current version (its manifest at the top)."""
        return self.storage.exists(f"{self.table_path(key_path)}/{COMMIT_FILE}")

    def committed_files(self, key_path: Sequence[str]) -> list[str]:
        """Every committed data file of a table: its current version's, or those of each committed partition.

        Files a manifest does not name (a commit under way, a staged or crashed write) are never listed."""
        if self.is_current(key_path):
            return self._file_paths(key_path, None)
        return [p for d in self.list_partitions(key_path) for p in self._file_paths(key_path, d)]

    def publish(self, df: DataFrame, key_path: Sequence[str], dates: Sequence[str]) -> dict[str, dict[str, int]]:
        """Writes df (one batch_date per partition) and commits exactly `dates`; returns rows/bytes per date.

        Rows of any other batch_date are refused (LakeWriteError naming the asset and the dates) before
        anything is committed: a run never publishes, nor silently drops, another run's partitions.
        """
        with self.staging_area() as area:
            # `date` is batch_date under another name (a date value names its directory yyyy-MM-dd), so rows
            # already ordered by batch_date (a window's output) reach the writer without another sort.
            (
                df.withColumn("date", F.col(PARTITION_COLUMN))
                .write.mode("overwrite")
                .partitionBy("date")
                .parquet(area.spark_uri(area.root))
            )
            written = {
                e.base_name.removeprefix("date=")
                for e in area.storage.list_dirs(area.root)
                if e.base_name.startswith("date=")
            }
            outside = sorted(written - set(dates))
            if outside:
                raise LakeWriteError(
                    f"asset {'/'.join(key_path)}: output holds rows of batch_date {', '.join(outside)}, "
                    f"outside the run's partitions {', '.join(dates)}; nothing was published"
                )
            arrow_schema = to_arrow_schema(df.schema, timezone="UTC")
            return {
                date: self._commit(self.partition_path(key_path, date), area.path(f"date={date}"), area, arrow_schema)
                for date in dates
            }

    def publish_current(self, df: DataFrame, key_path: Sequence[str]) -> dict[str, int]:
        """Writes df as the table's one current version and commits it whole; returns its rows and bytes.

        Partitions of an earlier per-batch layout of the table are removed once the current version is live."""
        with self.staging_area() as area:
            df.write.mode("overwrite").parquet(area.spark_uri(area.path(CURRENT)))
            table = self.table_path(key_path)
            written = self._commit(table, area.path(CURRENT), area, to_arrow_schema(df.schema, timezone="UTC"))
        for partition in self.storage.list_dirs(table):
            if partition.base_name.startswith("date="):
                self.storage.remove_tree(partition.path)
        return written

    def _commit(self, live: str, staged: str, area: StagingArea, arrow_schema: pa.Schema) -> dict[str, int]:
        storage = area.storage
        storage.create_dir(staged)
        entries = storage.list_files(staged)
        files = sorted(e.base_name for e in entries if e.base_name.endswith(".parquet"))
        # Spark's checksums and markers never reach a table directory: a glob sees data files only.
        storage.delete_files([e.path for e in entries if not e.base_name.endswith(".parquet")])
        if not files:  # an empty partition is still a published, readable partition
            files = [f"part-{area.token}-empty.snappy.parquet"]
            pq.write_table(arrow_schema.empty_table(), f"{staged}/{files[0]}", filesystem=storage.fs)
        manifest = {
            "version": area.token,
            "files": files,
            "rows": sum(pq.read_metadata(f"{staged}/{f}", filesystem=storage.fs).num_rows for f in files),
            "bytes": sum(i.size for i in storage.fs.get_file_info([f"{staged}/{f}" for f in files])),
        }
        self.commits.commit_dir(area, live, staged, manifest)
        if not self.storage.spark_reaches:
            self._cache_committed(live, area.token, staged, files)
        return {"rows": manifest["rows"], "bytes": manifest["bytes"]}

    def read(self, spark: SparkSession, key_path: Sequence[str], dates: Sequence[str | None]) -> DataFrame:
        paths = [
            (p, self.partition_manifest(key_path, d)["version"]) for d in dates for p in self._file_paths(key_path, d)
        ]  # a missing partition fails here, named
        if self.storage.spark_reaches:
            return spark.read.parquet(*(self.storage.spark_uri(p) for p, _ in paths))
        return spark.read.parquet(*(file_uri(str(self._download(p, v))) for p, v in paths))

    @property
    def _downloads(self) -> Path:
        return self.scratch / "downloads"

    def _cache_committed(self, live: str, version: str, staged: str, files: list[str]) -> None:
        """Spark's local output becomes the local copy of the version it just committed."""
        cache = self._downloads / live / version
        shutil.rmtree(cache.parent, ignore_errors=True)  # earlier versions of this partition
        cache.mkdir(parents=True)
        for name in files:
            Path(staged, name).rename(cache / name)

    def _download(self, path: str, version: str) -> Path:
        """A committed file on this machine; a downloaded copy is cached by version, so it is always the committed one."""
        directory, name = path.rsplit("/", 1)
        copy = self._downloads / directory / version / name
        return self.storage.local_file(path, copy)

    def arrow_dataset(self, key_path: Sequence[str], *dates: str | None) -> pads.Dataset:
        """The committed partition (or partitions) as one pyarrow dataset: read in batches, it never needs
        to fit in memory."""
        files = [p for d in dates for p in self._file_paths(key_path, d)]
        return pads.dataset(files, format="parquet", filesystem=self.storage.fs)

    def read_arrow(self, key_path: Sequence[str], date: str | None, columns: list[str] | None = None) -> pa.Table:
        return self.arrow_dataset(key_path, date).to_table(columns=columns)

    def head_arrow(self, key_path: Sequence[str], date: str | None, rows: int) -> pa.Table:
        """The first rows of a partition, reading no more of it than they need: the first pages of its first
        files (a dataset's head decodes whole row groups of every file ahead: ~1 GB for a 1M-row fact)."""
        batches: list[pa.RecordBatch] = []
        for path in self._file_paths(key_path, date):
            missing = rows - sum(b.num_rows for b in batches)
            if missing <= 0:
                break
            with self.storage.fs.open_input_file(path) as handle:
                parquet = pq.ParquetFile(handle)
                schema = parquet.schema_arrow
                batches += itertools.islice(parquet.iter_batches(batch_size=missing), 1)
        return pa.Table.from_batches(batches, schema=schema)
