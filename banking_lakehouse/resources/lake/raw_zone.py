"""The raw zone: each day's delivered files exactly as received, committed as one version of the
`raw/date=YYYY-MM-DD` partition whose manifest is the delivery record (source, files, sizes, checksums,
records, times)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from banking_lakehouse.resources.lake.storage import LocalStorage, copy_file, file_uri
from banking_lakehouse.resources.lake.tables import LakePartitionMissing

RAW = ("raw",)


def records_file(entity: str) -> str:
    """The parsed records of an entity's delivered file, committed beside it (`records.parse_file`)."""
    return f"{entity}.records.parquet"


class RawZone:
    """Delivered files (mixed into LakeResource, which provides storage, commits and tables)."""

    def raw_path(self, date: str, file_name: str = "") -> str:
        return self.storage.path(*RAW, f"date={date}", *([file_name] if file_name else []))

    def raw_uri(self, date: str, file_name: str = "") -> str:
        return self.storage.uri(self.raw_path(date, file_name))

    def store_delivery(self, date: str, files: Mapping[str, Path], delivery: dict) -> None:
        """Commits a day's delivered files (name -> local path) and its record (`delivery`) as one version
        of the raw zone's `date=` partition: a reader sees the previous delivery or this one, whole."""
        with self.staging_area() as area:
            staged = area.path(f"raw-{date}")
            area.storage.create_dir(staged)
            for name, source in files.items():
                copy_file(LocalStorage.fs, str(source), area.storage.fs, f"{staged}/{name}")
            manifest = {"version": area.token, "files": sorted(files), **delivery}
            self.commits.commit_dir(area, self.raw_path(date), staged, manifest)

    def delivery(self, date: str) -> dict:
        """The committed delivery of `date`: its source, files (name, bytes, sha256, records) and times."""
        return self.partition_manifest(RAW, date)

    def local_raw_file(self, date: str, file_name: str) -> Path:
        """A committed raw file on this machine, for the driver's record reader (an S3 lake's file is
        downloaded once per version). Spark never reads raw files: it reads the parsed records."""
        delivery = self.delivery(date)
        if file_name not in delivery["files"]:
            raise LakePartitionMissing(f"raw delivery date={date} has no file {file_name}")
        return self._download(self.raw_path(date, file_name), delivery["version"])

    def records_uri(self, date: str, entity: str) -> str | None:
        """Where Spark reads the parsed records of an entity's delivery; None for a delivery stored before
        records were kept with it (its file is then parsed again)."""
        delivery = self.delivery(date)
        if records_file(entity) not in delivery["files"]:
            return None
        path = self.raw_path(date, records_file(entity))
        if self.storage.spark_reaches:
            return self.storage.spark_uri(path)
        return file_uri(str(self._download(path, delivery["version"])))

    def raw_rows(self, date: str, entity: str) -> int:
        """Records delivered for an entity (header excluded), as counted when the delivery was stored."""
        return self.delivery(date)["entities"][entity]["records"]

    def raw_text(self, date: str, file_name: str) -> str:
        return self.storage.read_bytes(self.raw_path(date, file_name)).decode()
