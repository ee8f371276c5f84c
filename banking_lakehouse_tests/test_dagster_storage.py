"""Dagster's own storage in PostgreSQL (dagster.postgres.yaml, BANKING_DAGSTER_STORAGE=postgres): an instance built
from that file materializes a partitioned asset and starts a schedule, and the runs, events and schedule states
are read back from PostgreSQL's tables — nothing is kept in SQLite."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid

import psycopg
import pytest
import sqlalchemy
import yaml
from dagster import (
    AssetKey,
    DagsterInstance,
    DailyPartitionsDefinition,
    Definitions,
    MaterializeResult,
    asset,
    build_schedule_from_partitioned_job,
    define_asset_job,
    materialize,
)
from dagster._config import process_config
from dagster._core.scheduler.instigation import InstigatorStatus
from dagster._core.storage.config import pg_config
from dagster._core.test_utils import in_process_test_workspace
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage
from dagster_postgres.utils import pg_url_from_config
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from banking_lakehouse import dagster_storage, settings
from banking_lakehouse.__main__ import print_dagster_storage_url

DAY = "2024-12-05"
daily = DailyPartitionsDefinition(start_date="2024-12-01")


@asset(partitions_def=daily)
def daily_numbers() -> MaterializeResult:
    return MaterializeResult(metadata={"rows": 3})


daily_numbers_schedule = build_schedule_from_partitioned_job(
    define_asset_job("daily_numbers_job", selection=[daily_numbers], partitions_def=daily)
)
defs = Definitions(assets=[daily_numbers], schedules=[daily_numbers_schedule])


def _drop_database(server_uri: str, name: str) -> None:
    with psycopg.connect(server_uri, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def dagster_pg_url(postgres) -> str:
    """A fresh database for Dagster on the suite's server, created the way libpq_url() creates `dagster`; its
    libpq URI (the instance gets its SQLAlchemy URL)."""
    server_uri = postgres.uri()
    name = f"dagster_test_{uuid.uuid4().hex[:8]}"
    dagster_storage.ensure_database(server_uri, name)
    dagster_storage.ensure_database(server_uri, name)  # a second call finds it
    yield dagster_storage.database_url(server_uri, name)
    _drop_database(server_uri, name)


@pytest.fixture
def instance(tmp_path, dagster_pg_url, monkeypatch) -> DagsterInstance:
    """The instance `make dev` / `make demo` build with BANKING_DAGSTER_STORAGE=postgres: the repo's file, the URL
    from DAGSTER_PG_URL."""
    shutil.copy(settings.PROJECT_DIR / "instance" / "dagster.postgres.yaml", tmp_path / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_PG_URL", dagster_storage.sqlalchemy_url(dagster_pg_url))
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        yield instance


def test_the_postgres_instance_config_differs_from_the_local_one_only_in_storage():
    local = yaml.safe_load((settings.PROJECT_DIR / "instance" / "dagster.yaml").read_text())
    postgres = yaml.safe_load((settings.PROJECT_DIR / "instance" / "dagster.postgres.yaml").read_text())
    assert postgres.pop("storage") == {"postgres": {"postgres_url": {"env": "DAGSTER_PG_URL"}}}
    assert postgres == local


def test_runs_and_materialization_events_live_in_postgres(instance, dagster_pg_url, tmp_path):
    assert isinstance(instance.run_storage, PostgresRunStorage)
    assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
    assert isinstance(instance.schedule_storage, PostgresScheduleStorage)

    result = materialize([daily_numbers], partition_key=DAY, instance=instance)
    assert result.success

    with psycopg.connect(dagster_pg_url) as conn:
        runs = conn.execute("SELECT run_id, pipeline_name, status, partition FROM runs").fetchall()
        events = conn.execute(
            "SELECT run_id, asset_key, partition FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION'"
        ).fetchall()
    assert runs == [(result.run_id, "__ephemeral_asset_job__", "SUCCESS", DAY)]
    assert events == [(result.run_id, AssetKey("daily_numbers").to_string(), DAY)]

    latest = instance.get_latest_materialization_event(AssetKey("daily_numbers"))
    assert latest is not None and latest.run_id == result.run_id
    assert latest.asset_materialization.partition == DAY
    assert latest.asset_materialization.metadata["rows"].value == 3
    assert not list(tmp_path.rglob("*.db"))  # no SQLite storage beside it


def test_schedule_states_live_in_postgres(instance, dagster_pg_url):
    origin = LoadableTargetOrigin(executable_path=sys.executable, module_name=__name__, attribute="defs")
    with in_process_test_workspace(instance, origin) as workspace:
        (location,) = workspace.code_locations
        (repository,) = location.get_repositories().values()
        schedule = repository.get_schedule(daily_numbers_schedule.name)
        instance.start_schedule(schedule)

        def stored() -> tuple:
            state = instance.get_instigator_state(schedule.get_remote_origin_id(), schedule.selector_id)
            with psycopg.connect(dagster_pg_url) as conn:
                rows = conn.execute("SELECT selector_id, status, instigator_type FROM instigators").fetchall()
            return state.status, rows

        assert stored() == (InstigatorStatus.RUNNING, [(schedule.selector_id, "RUNNING", "SCHEDULE")])
        instance.stop_schedule(schedule.get_remote_origin_id(), schedule.selector_id, schedule)
        assert stored() == (InstigatorStatus.STOPPED, [(schedule.selector_id, "STOPPED", "SCHEDULE")])


@pytest.mark.skipif(bool(os.getenv("BANKING_TEST_PG_DSN")), reason="the embedded server's `dagster` database")
def test_the_cli_creates_the_dagster_database_on_the_embedded_server_and_prints_its_url(postgres, run_dir):
    """What the Makefile exports as DAGSTER_PG_URL: the suite's embedded server is the data dir's server here."""
    env = {**os.environ, "BANKING_DATA_DIR": str(run_dir), "BANKING_DAGSTER_STORAGE": "postgres"}
    env.pop("BANKING_DAGSTER_PG_URL", None)
    try:
        printed = subprocess.run(
            [sys.executable, "-m", "banking_lakehouse", "dagster-storage-url"],
            env=env,
            cwd=settings.PROJECT_DIR,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        server = conninfo_to_dict(postgres.uri())
        assert printed == f"postgresql+psycopg2://postgres@/dagster?host={server['host']}&port={server['port']}\n"
        with psycopg.connect(dagster_storage.database_url(postgres.uri(), "dagster")) as conn:
            assert conn.execute("SELECT current_database(), current_user").fetchone() == ("dagster", "postgres")
    finally:
        _drop_database(postgres.uri(), dagster_storage.DATABASE)


def test_database_url_keeps_the_server_and_swaps_the_database():
    socket = dagster_storage.database_url("postgresql://postgres:@/postgres?host=/tmp/a%20b", "dagster")
    assert socket == "postgresql://postgres@/dagster?host=/tmp/a%20b"
    remote = dagster_storage.database_url("postgresql://bob:p%40ss@db.example:6543/wh?sslmode=require", "dagster")
    assert conninfo_to_dict(remote) == {
        "user": "bob",
        "password": "p@ss",
        "dbname": "dagster",
        "host": "db.example",
        "port": "6543",
        "sslmode": "require",
    }


def test_dagster_storage_urls_name_psycopg2(monkeypatch):
    """SQLAlchemy 2.1 gives a bare postgresql:// to psycopg 3, on which dagster-postgres's NOTIFY fails: the local
    URL and the docker instance's storage both name psycopg2."""
    local = dagster_storage.sqlalchemy_url("postgresql://postgres:@/postgres?host=/tmp/pg")
    for name in ("DAGSTER_PG_HOST", "DAGSTER_PG_DB", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD"):
        monkeypatch.setenv(name, "dagster")
    docker = yaml.safe_load((settings.PROJECT_DIR / "docker" / "dagster.yaml").read_text())["storage"]["postgres"]
    docker = pg_url_from_config(process_config(pg_config(), docker).value)
    assert [sqlalchemy.make_url(url).get_driver_name() for url in (local, docker)] == ["psycopg2", "psycopg2"]


def test_the_cli_never_prints_a_password(monkeypatch, capsys):
    monkeypatch.setenv("BANKING_DAGSTER_STORAGE", "postgres")
    for url in ("postgresql://bob:s3cret@db.example/dagster", "bob:s3cret@db.example"):  # the second is malformed
        monkeypatch.setenv("BANKING_DAGSTER_PG_URL", url)
        with pytest.raises((SystemExit, ValueError)) as raised:
            print_dagster_storage_url()
        assert "s3cret" not in str(raised.value) and "s3cret" not in "".join(capsys.readouterr())
    monkeypatch.setenv("BANKING_DAGSTER_STORAGE", "sqlite")
    with pytest.raises(SystemExit, match="SQLite"):
        print_dagster_storage_url()
