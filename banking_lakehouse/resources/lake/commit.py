"""Staging areas and journaled commits: a partition is published whole, and a crash at any point is
completed or undone at the next access (`recover`, run once per process when the lake opens).

Work in progress lives in `<lake>/_staging/<token>/`, outside every table, so no reader (nor a glob of a
table's `*.parquet`) ever sees it. Where Spark cannot reach the lake (an S3 lake without s3a), Spark
stages in local scratch instead and only the journals sit in the lake. Each area carries its owner's
PID and host: an area whose process is gone (same host, dead PID; another host's after 24 h) has its
journaled commits finished, then is removed. How a commit switches versions is the storage backend's
(`Storage.publish` / `Storage.finish`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

from banking_lakehouse.resources.lake.storage import LocalStorage, Storage

STAGING = "_staging"
OWNER_FILE = "_owner.json"
JOURNAL_PREFIX = "_journal-"
FOREIGN_AREA_GRACE = dt.timedelta(hours=24)


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


@dataclass(frozen=True)
class StagingArea:
    """A private directory Spark can write and read (`spark_uri`), removed when the work is done."""

    token: str
    storage: Storage
    root: str

    def path(self, *parts: str) -> str:
        return "/".join([self.root, *parts])

    def spark_uri(self, path: str) -> str:
        return self.storage.spark_uri(path)

    @classmethod
    def local(cls, directory: Path) -> StagingArea:
        """A plain local directory as an area (tests, tools)."""
        directory.mkdir(parents=True, exist_ok=True)
        return cls(uuid.uuid4().hex, LocalStorage(str(directory)), str(directory))


class Commits:
    """Staging areas, journals and recovery over the lake's storage (and local scratch where needed)."""

    def __init__(self, storage: Storage, scratch: Path):
        self.storage = storage
        # Where Spark stages: the lake itself, or local scratch when Spark cannot reach the lake.
        self.spark_storage = storage if storage.spark_reaches else LocalStorage(str(scratch))

    def _areas(self, token: str = "") -> list[tuple[Storage, str]]:
        stores = [self.spark_storage] + ([self.storage] if self.spark_storage is not self.storage else [])
        return [(s, s.path(STAGING, *([token] if token else []))) for s in stores]

    @contextmanager
    def staging_area(self) -> Iterator[StagingArea]:
        """A new area where Spark can stage (the first one), plus the lake's own for journals."""
        token = uuid.uuid4().hex
        areas = self._areas(token)
        for storage, root in areas:
            storage.create_dir(root)
            storage.write_bytes(f"{root}/{OWNER_FILE}", json.dumps(_owner()).encode())
        try:
            yield StagingArea(token, *areas[0])
        finally:
            for storage, root in areas:
                storage.remove_tree(root)

    def commit_dir(self, area: StagingArea, live: str, staged: str, manifest: dict) -> None:
        """Publishes a staged directory of files (no manifest yet) as `live`, `manifest` committed last."""
        journal_path = self.storage.path(STAGING, area.token, f"{JOURNAL_PREFIX}{uuid.uuid4().hex[:12]}.json")
        journal = self.storage.publish(journal_path, live, area.storage, staged, manifest)
        self.storage.finish(journal, journal_path)

    def recover(self) -> list[str]:
        """Finishes the journaled commits of staging areas whose process is gone, then removes the areas.

        Returns the tokens cleaned. Areas of live processes (or of recent ones of other hosts) stay.
        """
        cleaned = []
        for storage, root in self._areas():
            for area in storage.list_dirs(root):
                if not _owner_is_gone(storage.read_json(f"{area.path}/{OWNER_FILE}")):
                    continue
                if storage is self.storage:
                    journals = sorted(
                        e.path
                        for e in storage.list_files(area.path)
                        if e.base_name.startswith(JOURNAL_PREFIX) and e.base_name.endswith(".json")
                    )
                    for path in journals:
                        self.storage.finish(json.loads(storage.read_bytes(path)), path)
                storage.remove_tree(area.path)
                cleaned.append(area.base_name)
        return cleaned
