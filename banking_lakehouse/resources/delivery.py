"""Where a day's delivery comes from, chosen explicitly (BANKING_SOURCE): the landing zone, or the
synthetic generator. The pipeline never falls back from one to the other.

The landing contract: `<landing>/date=YYYY-MM-DD/` holds one file per entity (`customers.csv`,
`accounts.csv`, `merchants.json`, `transactions.csv`, each optionally gzip-compressed as `<name>.gz`).
The drop is complete when `_SUCCESS` exists; until then nothing reads it. A newer `_SUCCESS` is a
re-delivery of the day.
"""

from __future__ import annotations

import codecs
import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from dagster import ConfigurableResource
from pydantic import Field, field_validator

from banking_lakehouse.entities import ENTITIES

SUCCESS_MARKER = "_SUCCESS"
COMPRESSED_SUFFIX = ".gz"


class DeliveryMissing(RuntimeError):
    """The day's drop is missing or incomplete: the run stops before anything is stored."""


@dataclass(frozen=True)
class Drop:
    """A complete drop in the landing zone: one file per entity, and when it was marked complete."""

    date: str
    directory: Path
    files: dict[str, Path]  # entity -> delivered file
    completed_at: dt.datetime


class DeliverySource(ConfigurableResource):
    """The source of deliveries and, for the landing zone, where it is and how its files are encoded."""

    source: Literal["landing", "synthetic"] = Field(
        description="landing: ingest the landing zone only; synthetic: the deterministic generator (BANKING_SOURCE)"
    )
    landing_uri: str = Field(default="", description="landing zone directory (BANKING_LANDING_DIR)")
    encoding: str = Field(default="utf-8", description="encoding of delivered files (BANKING_LANDING_ENCODING)")

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        codecs.lookup(value)  # an unknown name fails at load time, not in the middle of a run
        return value

    def day_directory(self, date: str) -> Path:
        return Path(self.landing_uri) / f"date={date}"

    def landed_drop(self, date: str) -> Drop:
        """The complete drop of `date`, or DeliveryMissing naming the date, the path and what is missing."""
        directory = self.day_directory(date)
        marker = directory / SUCCESS_MARKER
        if not marker.is_file():
            state = "has no drop" if not directory.is_dir() else f"is not complete: {SUCCESS_MARKER} is missing"
            raise DeliveryMissing(
                f"delivery {date}: landing directory {directory} {state} (BANKING_SOURCE=landing never "
                "generates data; deliver the files and the marker, or choose BANKING_SOURCE=synthetic)"
            )
        files, problems = {}, []
        for entity, name in ((n, e.file) for n, e in ENTITIES.items()):
            found = [directory / n for n in (name, name + COMPRESSED_SUFFIX) if (directory / n).is_file()]
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
                f"delivery {date}: landing directory {directory} is marked complete but "
                + "; ".join(f"{'has' if p.startswith('both') else 'lacks'} {p}" for p in problems)
            )
        changed = [p.name for p in files.values() if p.stat().st_mtime_ns > marker.stat().st_mtime_ns]
        if changed:
            raise DeliveryMissing(
                f"delivery {date}: {', '.join(changed)} in {directory} changed after {SUCCESS_MARKER} was written "
                f"(still being copied?); re-write {SUCCESS_MARKER} when the drop is complete"
            )
        completed = dt.datetime.fromtimestamp(marker.stat().st_mtime, dt.UTC)
        return Drop(date, directory, files, completed)

    def complete_drops(self) -> list[tuple[str, int]]:
        """(date, marker mtime in ns) of every drop marked complete, oldest date first."""
        landing = Path(self.landing_uri) if self.landing_uri else None
        if landing is None or not landing.is_dir():
            return []
        return [
            (directory.name.removeprefix("date="), (directory / SUCCESS_MARKER).stat().st_mtime_ns)
            for directory in sorted(landing.glob("date=*"))
            if (directory / SUCCESS_MARKER).is_file()
        ]
