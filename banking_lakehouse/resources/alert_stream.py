"""Where the fraud alert stream keeps its state, and which delivered files it may read.

Spark's file source reads every file that appears under its path; it cannot wait for a sibling `_SUCCESS`.
So the stream never reads the landing zone itself: its input is a directory of its own, and a transactions
file enters it only from a drop marked complete (`DeliverySource.landed_drop`: the marker is there, no file
changed after it), copied whole under a name no later drop reuses:

    <stream root>/input/date=YYYY-MM-DD/delivery=<marker mtime ns>/transactions.csv[.gz]

A re-delivered day (a newer `_SUCCESS`) is a new file there, scored again; its alerts are inserted once.
The checkpoint (`<stream root>/checkpoint/<query>`) records which input files each micro-batch read, so a
file is scored exactly once across restarts.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from dagster_aws.s3 import S3Resource

from banking_lakehouse.entities import TRANSACTIONS
from banking_lakehouse.resources.delivery import DeliveryMissing, DeliverySource
from banking_lakehouse.resources.lake import LakeResource
from banking_lakehouse.resources.lake.storage import Storage, copy_file, open_storage

STREAM_DIR = "_streams/fraud_alerts"  # in the lake, beside _staging: outside every table
HEADER_BYTES = 65_536


class StreamLocationError(ValueError):
    """The stream has no place Spark can write its checkpoint."""


@dataclass(frozen=True)
class Admitted:
    """What one admission pass did: drops newly given to the stream, and complete drops it left out (why)."""

    drops: list[str]  # date=YYYY-MM-DD/delivery=<ns>
    refused: dict[str, str]  # date -> reason


class StreamLocation:
    """The stream's root: `input/` (admitted files) and `checkpoint/` (Spark's offsets, commits and state)."""

    def __init__(self, storage: Storage):
        self.storage = storage

    @classmethod
    def of(cls, lake: LakeResource, checkpoint_uri: str = "") -> StreamLocation:
        """`checkpoint_uri` (BANKING_STREAM_CHECKPOINT), else the lake's STREAM_DIR where Spark writes the lake."""
        s3 = lake.s3 or S3Resource()
        if checkpoint_uri:
            return cls(open_storage(checkpoint_uri, s3, lake.spark_s3a))
        if not lake.storage.spark_reaches:
            raise StreamLocationError(
                f"the lake {lake.base_uri} is on S3 and Spark has no s3a connector (BANKING_SPARK_S3A), so the fraud "
                "alert stream cannot keep its checkpoint there: set BANKING_STREAM_CHECKPOINT to a directory Spark "
                "can write (a local path, or s3:// with s3a)"
            )
        return cls(open_storage(lake.storage.uri(lake.storage.path(STREAM_DIR)), s3, lake.spark_s3a))

    @property
    def input_glob(self) -> str:
        """The file source's path: every admitted transactions file."""
        return self.storage.spark_uri(self.storage.path("input", "date=*", "delivery=*", f"{TRANSACTIONS.file}*"))

    def checkpoint(self, query: str) -> str:
        return self.storage.spark_uri(self.storage.path("checkpoint", query))

    def admitted_drops(self) -> list[str]:
        """date=…/delivery=… of every admitted file, oldest date first."""
        days = (
            self.storage.list_dirs(self.storage.path("input"))
            if self.storage.exists(self.storage.path("input"))
            else []
        )
        return sorted(
            f"{d.base_name}/{v.base_name}"
            for d in days
            for v in self.storage.list_dirs(d.path)
            if self.storage.list_files(v.path)
        )

    def admit_complete_drops(self, delivery: DeliverySource) -> Admitted:
        """Copies the transactions file of every complete drop not admitted yet into `input/`. A drop the
        daily run would refuse (a file missing or changed after `_SUCCESS`), or whose header does not start
        with the contract's columns in order (the stream reads columns by position), is left out and named."""
        admitted, refused = set(self.admitted_drops()), {}
        new = []
        for date, version in delivery.complete_drops():
            name = f"date={date}/delivery={version}"
            if name in admitted:
                continue
            try:
                drop = delivery.landed_drop(date, [TRANSACTIONS.name])
            except DeliveryMissing as missing:
                refused[date] = str(missing)
                continue
            source = drop.files[TRANSACTIONS.name]
            problem = _header_problem(delivery, source)
            if problem:
                refused[date] = problem
                continue
            file_name = source.rsplit("/", 1)[1]
            # Copied beside the input tree, then moved in: the file source never sees a partial file.
            partial = self.storage.path("incoming", f"{date}-{version}-{file_name}")
            self.storage.create_dir(self.storage.path("incoming"))
            copy_file(delivery.storage.fs, source, self.storage.fs, partial)
            self.storage.create_dir(self.storage.path("input", f"date={date}", f"delivery={version}"))
            self.storage.fs.move(partial, self.storage.path("input", name, file_name))
            new.append(name)
        return Admitted(new, refused)


def _header_problem(delivery: DeliverySource, path: str) -> str | None:
    """Why the stream cannot read the file's columns by position, or None when its header starts with the
    contract's columns in order (any case; a BOM and extra trailing columns allowed)."""
    with delivery.storage.fs.open_input_stream(path, compression="detect") as stream:
        head = stream.read(HEADER_BYTES).decode(delivery.encoding, errors="replace").lstrip("\ufeff")
    header = [c.strip().lower() for c in next(csv.reader(io.StringIO(head.splitlines()[0] if head else "")), [])]
    expected = list(TRANSACTIONS.columns)
    if header[: len(expected)] == expected:
        return None
    return (
        f"{path}: the header is not the contract's column order ({', '.join(expected)}); the stream reads "
        "columns by position, so this drop is left to the daily run"
    )
