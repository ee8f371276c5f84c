"""Where a day's delivery comes from, chosen explicitly (BANKING_SOURCE): the landing zone, or the
synthetic generator. The pipeline never falls back from one to the other.

The landing contract: `<landing>/date=YYYY-MM-DD/` holds one file per entity (`customers.csv`,
`accounts.csv`, `merchants.json`, `transactions.csv`, each optionally gzip-compressed as `<name>.gz`).
Master entities a deployment extracts from the core-banking database (BANKING_CORE_ENTITIES) are not in the
drop. The drop is complete when `_SUCCESS` exists; until then nothing reads it. A newer `_SUCCESS` is a
re-delivery of the day.
"""

from __future__ import annotations

import codecs
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from dagster import ConfigurableResource
from dagster_aws.s3 import S3Resource
from pydantic import Field, PrivateAttr, field_validator

from banking_lakehouse.entities import ENTITIES
from banking_lakehouse.resources.lake.storage import Storage, open_storage

SUCCESS_MARKER = "_SUCCESS"
COMPRESSED_SUFFIX = ".gz"


class DeliveryMissing(RuntimeError):
    """The day's drop is missing or incomplete: the run stops before anything is stored."""


@dataclass(frozen=True)
class Drop:
    """A complete drop in the landing zone: one file per entity, and when it was marked complete."""

    date: str
    directory: str  # as a person names it: a local path or s3://bucket/key
    files: dict[str, str]  # entity -> the delivered file's path in the landing storage
    completed_at: dt.datetime


class DeliverySource(ConfigurableResource):
    """The source of deliveries and, for the landing zone, where it is and how its files are encoded."""

    source: Literal["landing", "synthetic"] = Field(
        description="landing: ingest the landing zone only; synthetic: the deterministic generator (BANKING_SOURCE)"
    )
    landing_uri: str = Field(
        default="", description="landing zone: a directory or s3://bucket/prefix (BANKING_LANDING_DIR)"
    )
    encoding: str = Field(default="utf-8", description="encoding of delivered files (BANKING_LANDING_ENCODING)")
    s3: S3Resource | None = Field(default=None, description="endpoint and credentials of an s3:// landing zone")

    _storage: Storage | None = PrivateAttr(default=None)

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        codecs.lookup(value)  # an unknown name fails at load time, not in the middle of a run
        return value

    @property
    def storage(self) -> Storage:
        """The landing zone behind the same storage backends as the lake (local directory or S3)."""
        if self._storage is None:
            self._storage = open_storage(self.landing_uri, self.s3 or S3Resource())
        return self._storage

    def day_directory(self, date: str) -> str:
        return self.storage.path(f"date={date}")

    def landed_drop(self, date: str, entities: Iterable[str] = tuple(ENTITIES)) -> Drop:
        """The complete drop of `date` with a file for each of `entities` (those not extracted from the core
        system), or DeliveryMissing naming the date, the path and what is missing."""
        storage, directory = self.storage, self.day_directory(date)
        shown = storage.uri(directory)
        listed = {e.base_name: e for e in storage.list_files(directory)}
        marker = listed.get(SUCCESS_MARKER)
        if marker is None:
            state = "has no drop" if not storage.exists(directory) else f"is not complete: {SUCCESS_MARKER} is missing"
            raise DeliveryMissing(
                f"delivery {date}: landing directory {shown} {state} (BANKING_SOURCE=landing never "
                "generates data; deliver the files and the marker, or choose BANKING_SOURCE=synthetic)"
            )
        files, problems = {}, []
        for entity, name in ((n, ENTITIES[n].file) for n in entities):
            found = [listed[n] for n in (name, name + COMPRESSED_SUFFIX) if n in listed]
            if len(found) == 1:
                files[entity] = found[0]
            else:
                problems.append(
                    f"{name} or {name}{COMPRESSED_SUFFIX}"
                    if not found
                    else f"both {name} and {name}{COMPRESSED_SUFFIX}"
                )
        if problems:
            raise DeliveryMissing(
                f"delivery {date}: landing directory {shown} is marked complete but "
                + "; ".join(f"{'has' if p.startswith('both') else 'lacks'} {p}" for p in problems)
            )
        changed = [f.base_name for f in files.values() if f.mtime_ns > marker.mtime_ns]
        if changed:
            raise DeliveryMissing(
                f"delivery {date}: {', '.join(changed)} in {shown} changed after {SUCCESS_MARKER} was written "
                f"(still being copied?); re-write {SUCCESS_MARKER} when the drop is complete"
            )
        completed = dt.datetime.fromtimestamp(marker.mtime_ns / 1e9, dt.UTC)
        return Drop(date, shown, {entity: f.path for entity, f in files.items()}, completed)

    def local_files(self, drop: Drop, work_dir: Path) -> dict[str, Path]:
        """The drop's files on this machine for the driver to read: in place on disk, downloaded from S3."""
        work_dir.mkdir(parents=True, exist_ok=True)
        return {
            entity: self.storage.local_file(path, work_dir / path.rsplit("/", 1)[1])
            for entity, path in drop.files.items()
        }

    def complete_drops(self) -> list[tuple[str, int]]:
        """(date, marker mtime in ns) of every drop marked complete, oldest date first."""
        if not self.landing_uri:
            return []
        days = sorted(e.base_name for e in self.storage.list_dirs(self.storage.root) if e.base_name.startswith("date="))
        markers = self.storage.fs.get_file_info([self.storage.path(d, SUCCESS_MARKER) for d in days])
        return [(d.removeprefix("date="), m.mtime_ns) for d, m in zip(days, markers, strict=True) if m.is_file]
