"""CoreBankingSource: the bank's operational database (schema `core`), read incrementally.

An extraction reads one window of changes, rows whose (updated_at, id) is past the previous extraction's
bookmark and whose updated_at is before the window's end, in one REPEATABLE READ READ ONLY transaction (a
consistent snapshot: a row committed meanwhile is seen whole by the next window, never half by this one), streamed
by a server-side cursor into one Parquet file. Deletes are soft deletes: the row arrives with deleted_at set.
By default the source is a database `core_banking` on the project's embedded server, else BANKING_SOURCE_DSN.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
from dagster import ConfigurableResource
from psycopg import sql
from pydantic import Field, field_validator

from banking_lakehouse import settings
from banking_lakehouse.entities import CHANGE_COLUMNS, ENTITIES, MASTER_ENTITIES, Entity
from banking_lakehouse.resources.postgres import embedded_server_uri, redacted
from banking_lakehouse.sql import read_sql

SCHEMA = "core"
DEFAULT_DATABASE = "core_banking"  # the source's database on the embedded server when no DSN is given
READER_ROLE = "core_reader"  # the read-only role reader_role.sql creates
SOURCE_TIMES = ("created_at", *CHANGE_COLUMNS)  # the core tables' timestamps an extraction carries
TIMESTAMP = pa.timestamp("us", tz="UTC")
_lock = threading.Lock()
_created_databases: set[str] = set()


def _utc(value: dt.datetime, what: str) -> dt.datetime:
    if value.tzinfo is None:
        raise ValueError(f"{what} must be timezone-aware (UTC), got {value.isoformat()}")
    return value.astimezone(dt.UTC)


def _metadata_text(md: Mapping, key: str) -> str | None:
    """A metadata entry as text: a plain string, or a Dagster MetadataValue read back from an event."""
    value = md.get(key)
    value = getattr(value, "value", value)
    return None if value in (None, "") else str(value)


@dataclass(frozen=True)
class Bookmark:
    """The last (updated_at, id) an extraction read: the next one starts strictly after it."""

    updated_at: dt.datetime  # timezone-aware, UTC
    id: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "updated_at", _utc(self.updated_at, "a bookmark's updated_at"))

    def to_metadata(self, prefix: str) -> dict[str, str]:
        return {f"{prefix}_updated_at": self.updated_at.isoformat(), f"{prefix}_id": self.id}

    @classmethod
    def from_metadata(cls, md: Mapping, prefix: str) -> Bookmark | None:
        """The bookmark to_metadata(prefix) recorded; None when the entries are absent (no bookmark)."""
        updated_at, id_ = _metadata_text(md, f"{prefix}_updated_at"), _metadata_text(md, f"{prefix}_id")
        if updated_at is None or id_ is None:
            return None
        return cls(dt.datetime.fromisoformat(updated_at), id_)


@dataclass(frozen=True)
class ExtractionWindow:
    """Rows with (updated_at, id) > after (None: from the beginning, a full load) and updated_at < until."""

    after: Bookmark | None
    until: dt.datetime  # timezone-aware, UTC; exclusive

    def __post_init__(self) -> None:
        object.__setattr__(self, "until", _utc(self.until, "a window's until"))

    @classmethod
    def through_day(cls, after: Bookmark | None, day: dt.date) -> ExtractionWindow:
        """The window ending with day (until the next midnight UTC)."""
        return cls(after, dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.UTC))

    def to_metadata(self) -> dict[str, str]:
        after = self.after.to_metadata("window_after") if self.after else {}
        return after | {"window_until": self.until.isoformat()}

    @classmethod
    def from_metadata(cls, md: Mapping) -> ExtractionWindow:
        until = _metadata_text(md, "window_until")
        if until is None:
            raise KeyError("window_until: the metadata holds no extraction window")
        return cls(Bookmark.from_metadata(md, "window_after"), dt.datetime.fromisoformat(until))


@dataclass(frozen=True)
class Extraction:
    """What one extraction wrote."""

    path: Path
    rows: int  # rows written
    deletes: int  # of them, rows with deleted_at set
    source_count: int  # COUNT(*) of the window in the same snapshot: the reconciliation figure
    bookmark: Bookmark | None  # the last (updated_at, id) written; None when the window was empty

    def to_metadata(self) -> dict[str, str | int]:
        bookmark = self.bookmark.to_metadata("bookmark") if self.bookmark else {}
        return {"rows": self.rows, "deletes": self.deletes, "source_count": self.source_count} | bookmark


class SourceConnectionError(ConnectionError):
    """The core-banking source cannot be reached; the message never holds the DSN's password."""


def extraction_schema(entity: Entity) -> pa.Schema:
    """An extraction's columns: the entity's as text (as a file delivery carries them), then the three timestamps."""
    return pa.schema(
        [pa.field(c, pa.string()) for c in entity.columns] + [pa.field(c, TIMESTAMP) for c in SOURCE_TIMES]
    )


def core_entity(name: str) -> Entity:
    if name not in MASTER_ENTITIES:
        raise ValueError(f"{name!r} is not a master entity of the core-banking source ({', '.join(MASTER_ENTITIES)})")
    return ENTITIES[name]


def apply_schema(conn: psycopg.Connection, script: str = "core/schema.sql") -> None:
    """Applies a re-runnable script, serialised with other processes by an advisory lock."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('banking_lakehouse core ddl'))")
        conn.execute(read_sql(script))


def _window_condition(entity: Entity, window: ExtractionWindow) -> tuple[sql.Composable, dict]:
    id_column = sql.Identifier(entity.id_column)
    params: dict = {"until": window.until}
    condition = sql.SQL("updated_at < %(until)s")
    if window.after is not None:
        params |= {"after_updated_at": window.after.updated_at, "after_id": window.after.id}
        condition = sql.SQL("(updated_at, {}) > (%(after_updated_at)s, %(after_id)s) AND {}").format(
            id_column, condition
        )
    return condition, params


def _record_batch(rows: list[tuple], schema: pa.Schema) -> pa.RecordBatch:
    columns = list(zip(*rows, strict=True))
    return pa.RecordBatch.from_arrays(
        [pa.array(values, f.type) for values, f in zip(columns, schema, strict=True)], schema=schema
    )


class CoreBankingSource(ConfigurableResource):
    """The core-banking PostgreSQL: BANKING_SOURCE_DSN, or the database `core_banking` on the embedded server."""

    dsn: str | None = Field(default=None, description="libpq URI; set through the BANKING_SOURCE_DSN env var")
    entities: list[str] = Field(default=[], description="master entities taken from the core system")
    embedded_dir: str = Field(default_factory=lambda: str(settings.embedded_pg_dir()))

    @field_validator("entities")
    @classmethod
    def _master_entities(cls, names: list[str]) -> list[str]:
        for name in names:
            core_entity(name)
        return names

    def uri(self) -> str:
        """The DSN, or the embedded server's `core_banking` database (created the first time)."""
        if self.dsn:
            return self.dsn
        owner = embedded_server_uri(Path(self.embedded_dir))
        uri = urlunparse(urlparse(owner)._replace(path=f"/{DEFAULT_DATABASE}"))
        with _lock:
            if uri not in _created_databases:
                with psycopg.connect(owner, autocommit=True) as conn:
                    exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DEFAULT_DATABASE,))
                    if exists.fetchone() is None:
                        try:
                            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DEFAULT_DATABASE)))
                        except psycopg.errors.DuplicateDatabase:
                            pass  # another process created it meanwhile
                _created_databases.add(uri)
        return uri

    def connect(self) -> psycopg.Connection:
        """A connection in UTC with ISO dates; errors name the source without its password."""
        uri = self.uri()
        try:
            conn = psycopg.connect(uri)
        except (psycopg.Error, ValueError) as error:  # libpq echoes a malformed DSN, password included
            raise SourceConnectionError(
                f"cannot connect to the core-banking source at {redacted(uri)} (BANKING_SOURCE_DSN): "
                f"{redacted(str(error), uri)}"
            ) from None
        conn.execute("SET TIME ZONE 'UTC'; SET DateStyle = 'ISO, YMD'")
        conn.commit()
        return conn

    def ensure_schema(self) -> None:
        """Creates the `core` tables where they are missing (core/schema.sql; a bank's own source has them)."""
        with self.connect() as conn:
            apply_schema(conn)

    def ensure_reader_role(self) -> None:
        """Creates the read-only role a bank's DBA grants the extraction (core/reader_role.sql)."""
        with self.connect() as conn:
            apply_schema(conn, "core/reader_role.sql")

    def extract(
        self,
        entity: str,
        window: ExtractionWindow,
        out: Path,
        batch_rows: int = 50_000,
        on_batch: Callable[[int], None] | None = None,
    ) -> Extraction:
        """The window's rows, ordered by (updated_at, id), into one Parquet file at `out` (written under a temporary
        name, then renamed), batch_rows at a time. One snapshot for the rows and their count, so the same window
        over an unchanged source gives the same bytes. on_batch(rows so far) runs after each batch is written."""
        spec = core_entity(entity)
        schema = extraction_schema(spec)
        condition, params = _window_condition(spec, window)
        table = sql.Identifier(SCHEMA, spec.name)
        columns = sql.SQL(", ").join(
            [sql.SQL("{}::text").format(sql.Identifier(c)) for c in spec.columns]
            + [sql.Identifier(c) for c in SOURCE_TIMES]
        )
        select = sql.SQL("SELECT {} FROM {} WHERE {} ORDER BY updated_at, {}").format(
            columns, table, condition, sql.Identifier(spec.id_column)
        )
        count = sql.SQL("SELECT count(*) FROM {} WHERE {}").format(table, condition)
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        temporary = out.with_name(f".{out.name}.{uuid.uuid4().hex}.tmp")
        rows = deletes = 0
        last: tuple | None = None
        try:
            with self.connect() as conn:
                conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
                conn.read_only = True
                with conn.transaction():
                    with (
                        conn.cursor(name=f"extract_{spec.name}") as cursor,
                        pq.ParquetWriter(temporary, schema, compression="snappy") as writer,
                    ):
                        cursor.execute(select, params)
                        while batch := cursor.fetchmany(batch_rows):
                            writer.write_batch(_record_batch(batch, schema))
                            rows += len(batch)
                            deletes += sum(1 for row in batch if row[-1] is not None)
                            last = batch[-1]
                            if on_batch is not None:
                                on_batch(rows)
                    # counted after the stream, in its snapshot: a row committed meanwhile is in neither
                    source_count = conn.execute(count, params).fetchone()[0]
            os.replace(temporary, out)
        finally:
            temporary.unlink(missing_ok=True)
        updated_at = len(spec.columns) + SOURCE_TIMES.index("updated_at")
        bookmark = None if last is None else Bookmark(last[updated_at], last[spec.columns.index(spec.id_column)])
        return Extraction(out, rows, deletes, source_count, bookmark)
