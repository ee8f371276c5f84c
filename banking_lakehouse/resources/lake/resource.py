"""LakeResource: where the lake lives (BANKING_LAKE_URI: a directory or s3://bucket/prefix) and the one
handle assets use for its raw zone and tables."""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path

from dagster import ConfigurableResource
from dagster_aws.s3 import S3Resource
from pydantic import Field, PrivateAttr

from banking_lakehouse.resources.lake.commit import Commits
from banking_lakehouse.resources.lake.raw_zone import RAW, RawZone
from banking_lakehouse.resources.lake.storage import Storage, open_storage
from banking_lakehouse.resources.lake.tables import Tables

_opening = threading.Lock()  # steps in threads (banking_lakehouse.executor) open the lake once


class LakeResource(RawZone, Tables, ConfigurableResource):
    """The lake: opened on first use, when crashed commits of earlier processes are also finished."""

    base_uri: str = Field(description="root of the lake: a local (or shared) directory or s3://bucket/prefix")
    s3: S3Resource | None = Field(default=None, description="endpoint and credentials of an s3:// lake")
    scratch_dir: str = Field(default="", description="local working space (default: the temp dir)")
    spark_s3a: bool = Field(default=False, description="the Spark session has the s3a connector (BANKING_SPARK_S3A)")

    _storage: Storage | None = PrivateAttr(default=None)
    _commits: Commits | None = PrivateAttr(default=None)

    @property
    def storage(self) -> Storage:
        with _opening:
            if self._storage is None:
                storage = open_storage(self.base_uri, self.s3 or S3Resource(), self.spark_s3a)
                self._commits = Commits(storage, self.scratch)
                self._commits.recover()
                self._storage = storage
        return self._storage

    @property
    def commits(self) -> Commits:
        self.storage  # noqa: B018 - opening the storage builds the commits
        return self._commits

    @property
    def scratch(self) -> Path:
        return Path(self.scratch_dir or tempfile.gettempdir()) / "banking_lakehouse_scratch"

    def staging_area(self):
        """A private area Spark can write and read, removed afterwards (see `commit`)."""
        return self.commits.staging_area()

    def recover(self) -> list[str]:
        return self.commits.recover()

    def table_keys(self) -> list[tuple[str, str]]:
        """(layer, table) of every table the lake holds, from its directories: the raw zone (delivered files,
        not tables) and work areas (`_staging`) aside."""
        layers = [
            e.base_name
            for e in self.storage.list_dirs(self.storage.root)
            if not e.base_name.startswith(("_", ".")) and e.base_name not in RAW
        ]
        return sorted(
            (layer, e.base_name) for layer in layers for e in self.storage.list_dirs(self.storage.path(layer))
        )
