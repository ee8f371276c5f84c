"""How people reach the warehouse (`make psql`, `make psql-admin`, `make dsn`): a psql session as the read-only
analyst or as the owner, with the psql of the embedded server's own major version (installed by pip with the
server), and the connection strings BI tools and pandas take. A password is never printed nor put on a command line:
psql receives it in PGPASSWORD, which only the same user can read."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import NoReturn
from urllib.parse import quote

import psycopg
from dagster import build_resources
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from banking_lakehouse import (
    deployments,
    quiet,  # noqa: F401 - platformdirs' note on XDG_RUNTIME_DIR stays off the console
    settings,
)
from banking_lakehouse.dagster_storage import database_url
from banking_lakehouse.resources import embedded_postgres
from banking_lakehouse.resources.postgres import ANALYST_ROLE, PostgresResource, WarehouseConnectionError, redacted


def warehouse() -> PostgresResource:
    """The deployment's warehouse (embedded, or BANKING_PG_DSN's server), started if needed, with its schemas and
    roles applied and the analyst's password set from BANKING_ANALYST_PASSWORD."""
    with build_resources({"postgres": deployments.resources()["postgres"]}) as built:
        postgres = built.postgres
    postgres.ensure_schema()
    return postgres


def owner_conninfo(postgres: PostgresResource) -> dict[str, str]:
    return {k: str(v) for k, v in conninfo_to_dict(postgres.uri()).items()}


def analyst_conninfo(postgres: PostgresResource) -> dict[str, str]:
    """The owner's server and database as the analyst, with BANKING_ANALYST_PASSWORD (the embedded server's socket
    needs none)."""
    params = {k: v for k, v in owner_conninfo(postgres).items() if k != "password"}
    params |= {"user": ANALYST_ROLE, "dbname": postgres.fetch("SELECT current_database()")[0][0]}
    if password := settings.analyst_password():
        params["password"] = password
    return params


def client_dsns(host: str, port: int | str, database: str, user: str = ANALYST_ROLE) -> dict[str, str]:
    """What each kind of client takes to reach database on host:port as user (the password is asked for apart)."""
    where = f"{host}:{port}/{quote(database, safe='')}"
    return {
        "psql, libpq": f"postgresql://{quote(user, safe='')}@{where}",
        "DBeaver (JDBC)": f"jdbc:postgresql://{where}?user={quote(user, safe='')}",
        "Power BI": f"server {host}:{port}, database {database}",
        "pandas, SQLAlchemy": f"postgresql+psycopg://{quote(user, safe='')}@{where}",
    }


def tcp_endpoint(postgres: PostgresResource) -> tuple[str, int | str] | str:
    """Where the analyst logs in over TCP, as (host, port), or why nowhere: BANKING_PG_DSN's host, or the embedded
    server's listener as it runs (a changed setting applies at its next start, which this says)."""
    if postgres.dsn:
        host, port = (conninfo_to_dict(postgres.dsn).get(k) for k in ("host", "port"))
        if not host or str(host).startswith("/"):
            return "none: BANKING_PG_DSN names a Unix socket"
        return str(host), port or 5432
    port, wanted = embedded_postgres.listening_port(settings.embedded_pg_dir()), settings.pg_listen_port()
    if port != wanted:
        running = f"listens on port {port}" if port else "has no TCP listener"
        return (
            f"the running server {running}, the settings say {f'port {wanted}' if wanted else 'none'}: "
            "`make stop-postgres`, then `make dsn` starts it with them"
        )
    if port is None:
        return (
            "none: set BANKING_PG_LISTEN_TCP=1 and BANKING_ANALYST_PASSWORD, then `make stop-postgres` and `make dsn`"
        )
    return embedded_postgres.LISTEN_ADDRESS, port


def dsn_text(postgres: PostgresResource) -> str:
    """The owner's and the analyst's connection strings, without a password."""
    analyst = analyst_conninfo(postgres)
    analyst.pop("password", None)
    lines = [
        f"owner (make psql-admin){'' if postgres.dsn else ', Unix socket only'}:",
        f"  {redacted(postgres.uri())}",
        "analyst, read-only (make psql):",
        f"  {database_url(make_conninfo(**analyst), analyst['dbname'])}",
    ]
    endpoint = tcp_endpoint(postgres)
    if isinstance(endpoint, str):
        return "\n".join([*lines, f"analyst over TCP: {endpoint}"])
    lines.append("analyst over TCP (password: the value of BANKING_ANALYST_PASSWORD, scram-sha-256):")
    dsns = client_dsns(*endpoint, database=analyst["dbname"])
    return "\n".join(lines + [f"  {client + ':':<20} {dsn}" for client, dsn in dsns.items()])


def open_psql(as_analyst: bool, psql_args: Sequence[str]) -> NoReturn:
    """Replaces this process by psql connected as the analyst or the owner; psql_args (e.g. -c "SELECT 1") follow."""
    try:
        postgres = warehouse()
        params = analyst_conninfo(postgres) if as_analyst else owner_conninfo(postgres)
    except (ValueError, RuntimeError, WarehouseConnectionError, psycopg.Error) as error:
        sys.exit(redacted(str(error)))
    env = dict(os.environ)
    if password := params.pop("password", None):
        env["PGPASSWORD"] = password
    psql = str(embedded_postgres.psql_binary())
    os.execve(psql, [psql, f"--dbname={make_conninfo(**params)}", *psql_args], env)  # noqa: S606 - argv, no shell


def print_dsns() -> None:
    try:
        print(dsn_text(warehouse()))
    except (ValueError, RuntimeError, WarehouseConnectionError, psycopg.Error) as error:
        sys.exit(redacted(str(error)))
