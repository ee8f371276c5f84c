"""`make stop-postgres` with a stale PID file and with a live server: safe, and honest about what it did."""

import subprocess
import sys

import psycopg

from banking_lakehouse.resources.postgres import PostgresResource, stop_embedded


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_stale_pid_file_is_removed_and_nothing_is_started(tmp_path):
    (tmp_path / "postmaster.pid").write_text(f"{_dead_pid()}\n/some/dir\n")
    assert stop_embedded(tmp_path).startswith("removed the stale")
    assert not (tmp_path / "postmaster.pid").exists()
    assert stop_embedded(tmp_path).startswith("no embedded PostgreSQL server")


def test_a_live_server_is_stopped(run_dir):
    data_dir = run_dir / "stoppable"
    postgres = PostgresResource(embedded_dir=str(data_dir))
    assert postgres.fetch("SELECT 1") == [(1,)]
    uri = postgres.uri()
    assert stop_embedded(data_dir).startswith("stopped the embedded PostgreSQL server")
    assert not (data_dir / "postmaster.pid").exists()
    try:
        psycopg.connect(uri, connect_timeout=3).close()
        reachable = True
    except psycopg.OperationalError:
        reachable = False
    assert not reachable
