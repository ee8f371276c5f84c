"""Dagster's own storage (runs, events, schedules) in PostgreSQL, opted into locally with
BANKING_DAGSTER_STORAGE=postgres: a `dagster` database on the embedded server, unless BANKING_DAGSTER_PG_URL
names another. instance/dagster.postgres.yaml reads the URL from DAGSTER_PG_URL, which the Makefile exports from
`python -m banking_lakehouse dagster-storage-url`."""

from __future__ import annotations

import os
from urllib.parse import quote, urlencode

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from banking_lakehouse import settings
from banking_lakehouse.resources.postgres import embedded_server_uri

DATABASE = "dagster"


def database_url(server_uri: str, database: str) -> str:
    """The libpq URI of `database` on the server `server_uri` reaches, with host (a socket directory or a name),
    port and options as query parameters: a form SQLAlchemy reads too, once sqlalchemy_url names its driver."""
    params = {k: str(v) for k, v in conninfo_to_dict(server_uri).items() if k != "dbname"}
    userinfo = quote(params.pop("user", ""), safe="")
    if password := params.pop("password", ""):
        userinfo += ":" + quote(password, safe="")
    query = urlencode(params, quote_via=quote, safe="/")
    return f"postgresql://{userinfo + '@' if userinfo else ''}/{quote(database, safe='')}" + (
        f"?{query}" if query else ""
    )


def ensure_database(server_uri: str, database: str) -> None:
    """Creates `database` on the server unless it exists (a concurrent creator winning the race is fine)."""
    with psycopg.connect(server_uri, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone():
            return
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        except (psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):  # pg_database's unique index
            pass


def libpq_url() -> str:
    """BANKING_DAGSTER_PG_URL as given (a libpq URI), or the `dagster` database on the embedded server (started if
    needed, the database created if missing; a Unix socket and no password)."""
    if url := os.getenv("BANKING_DAGSTER_PG_URL"):
        return url
    server_uri = embedded_server_uri(settings.embedded_pg_dir())
    ensure_database(server_uri, DATABASE)
    return database_url(server_uri, DATABASE)


def sqlalchemy_url(url: str) -> str:
    """dagster-postgres's SQLAlchemy URL for a libpq URI: psycopg2 named, since SQLAlchemy 2.1 gives a bare
    postgresql:// to psycopg 3, on which dagster-postgres's `NOTIFY run_events, %s` fails at every event."""
    scheme, _, rest = url.partition("://")
    if scheme not in ("postgresql", "postgres"):
        raise ValueError("BANKING_DAGSTER_PG_URL is not a libpq URI (postgresql://user@host:port/database)")
    return f"postgresql+psycopg2://{rest}"


def holds_password(url: str) -> bool:
    """Whether the libpq URI carries a password (which the CLI must not print). libpq's parse error is not shown:
    it echoes the malformed part, password included."""
    try:
        return bool(conninfo_to_dict(url).get("password"))
    except psycopg.ProgrammingError:
        raise ValueError("BANKING_DAGSTER_PG_URL is not a libpq URI (postgresql://user@host:port/database)") from None
