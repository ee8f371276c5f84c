"""Incremental extraction of master data from the core-banking database, one day at a time.

The bookmark is kept by Dagster: each materialization of a core entity's `raw/<entity>` partition records
its extraction window and the bookmark after it in its metadata. A day's first extraction starts after
the bookmark of the latest earlier day extracted (none: a full load) and ends at the end of the day; a
re-run of a day reads its own recorded window again. A run that dies before the raw zone commits records
nothing, so the bookmark never advances past what was stored.

A source without history cannot give a past day's state: once a later day is extracted, an earlier day
never extracted before is refused rather than built from today's rows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dagster import AssetKey, AssetRecordsFilter, DagsterInstance

from banking_lakehouse.entities import ENTITIES
from banking_lakehouse.resources.core_banking import Bookmark, CoreBankingSource, ExtractionWindow
from banking_lakehouse.transforms.core_state import write_state

PREVIOUS_STATE = "previous_state"  # metadata: the day whose state this day's extraction was applied to
BOOKMARK = "bookmark"  # metadata prefix of the bookmark after the day


def _sha256(path: Path) -> str:
    with path.open("rb") as file:  # in chunks: an extraction may be a whole table's full load
        return hashlib.file_digest(file, "sha256").hexdigest()


class ExtractionRefused(RuntimeError):
    """The day cannot be extracted from a source that keeps no history."""


@dataclass(frozen=True)
class DayExtraction:
    """One entity's extraction for one day: what the raw zone stores and Dagster records."""

    date: str
    entity: str
    window: ExtractionWindow
    previous_state: str | None
    bookmark: Bookmark | None  # after this day: the extraction's last row, or the window's start if empty
    extracted: Path
    records: Path
    extracted_rows: int
    deleted_rows: int
    source_rows: int
    state_rows: int

    @property
    def file_name(self) -> str:
        return self.extracted.name

    def description(self) -> dict:
        """The delivery record's entry for the entity (as a delivered file's, plus the extraction's numbers)."""
        return {
            "file": self.file_name,
            "bytes": self.extracted.stat().st_size,
            "sha256": _sha256(self.extracted),
            "records": self.state_rows,
            "blank_lines": 0,
            "extra_columns": [],
            "missing_optional_columns": [],
            "source": "core",
            "extracted_rows": self.extracted_rows,
            "deleted_rows": self.deleted_rows,
            "source_rows": self.source_rows,
            "window": self.window.to_metadata(),
            PREVIOUS_STATE: self.previous_state,
        }

    def metadata(self) -> dict[str, str | int]:
        """What Dagster keeps of the day: the window, the bookmark after it, the numbers."""
        return {
            **self.window.to_metadata(),
            **(self.bookmark.to_metadata(BOOKMARK) if self.bookmark else {}),
            PREVIOUS_STATE: self.previous_state or "",
            "extracted_rows": self.extracted_rows,
            "deleted_rows": self.deleted_rows,
            "source_rows": self.source_rows,
            "state_rows": self.state_rows,
        }


def _recorded(instance: DagsterInstance, entity: str, date: str) -> dict[str, str] | None:
    """The extraction metadata of the day's latest materialization; None if it was never extracted."""
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(["raw", entity]), asset_partitions=[date]), limit=1
    ).records
    if not records:
        return None
    metadata = {k: v.value for k, v in records[0].asset_materialization.metadata.items()}
    return metadata if PREVIOUS_STATE in metadata else None  # a file delivery records no window


class Extractor:
    """Extracts a run's days in date order; a day's bookmark chains to the next day of the same run."""

    def __init__(self, instance: DagsterInstance, source: CoreBankingSource):
        self.instance, self.source = instance, source
        self._in_run: dict[tuple[str, str], DayExtraction] = {}

    def _start(self, entity: str, date: str) -> tuple[ExtractionWindow, str | None]:
        own = _recorded(self.instance, entity, date)
        if own is not None:  # a re-run: the same window onto the same previous state
            return ExtractionWindow.from_metadata(own), own[PREVIOUS_STATE] or None
        materialized = self.instance.get_materialized_partitions(AssetKey(["raw", entity]))
        recorded = {p: _recorded(self.instance, entity, p) for p in materialized}
        extracted = {p: metadata for p, metadata in recorded.items() if metadata is not None}
        later = sorted(p for p in extracted if p > date)
        if later:
            raise ExtractionRefused(
                f"raw/{entity} {date}: the core system keeps no history, so a day before the latest extracted "
                f"day ({later[-1]}) cannot be extracted for the first time; re-run extracted days or extract "
                "later days"
            )
        day = dt.date.fromisoformat(date)
        in_run = [d for (e, d) in self._in_run if e == entity and d < date]
        earlier = max([*(p for p in extracted if p < date), *in_run], default=None)
        if earlier is None:  # the first extraction: a full load
            return ExtractionWindow.through_day(None, day), None
        if earlier in in_run:
            after = self._in_run[entity, earlier].bookmark
        else:
            after = Bookmark.from_metadata(extracted[earlier], BOOKMARK)
        return ExtractionWindow.through_day(after, day), earlier

    def extract(self, entity: str, date: str, work_dir: Path, previous_records: Callable[[str], Path]) -> DayExtraction:
        """The day's extraction (Parquet) and state records under work_dir; `previous_records(day)` gives the
        local path of an earlier day's state records in the raw zone."""
        window, previous = self._start(entity, date)
        work_dir.mkdir(parents=True, exist_ok=True)
        extraction = self.source.extract(entity, window, work_dir / f"core_{entity}.parquet")
        in_run = self._in_run.get((entity, previous)) if previous else None
        previous_path = in_run.records if in_run else (previous_records(previous) if previous else None)
        records = work_dir / f"{entity}.state.parquet"
        state_rows = write_state(ENTITIES[entity], extraction.path, previous_path, records)
        day = DayExtraction(
            date=date,
            entity=entity,
            window=window,
            previous_state=previous,
            bookmark=extraction.bookmark or window.after,
            extracted=extraction.path,
            records=records,
            extracted_rows=extraction.rows,
            deleted_rows=extraction.deletes,
            source_rows=extraction.source_count,
            state_rows=state_rows,
        )
        self._in_run[entity, date] = day
        return day
