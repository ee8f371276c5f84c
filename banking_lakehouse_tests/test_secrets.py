"""Secrets and permissions: no password in any error, log or event whatever the DSN's mistake; the lake
owner-only; the development PII key refused outside a laptop."""

import stat

import pytest
from dagster import DagsterInstance, EnvVar, asset, materialize
from pyspark.sql import functions as F

from banking_lakehouse import settings
from banking_lakehouse.resources.lake import LakeResource
from banking_lakehouse.resources.pii import PiiKeyResource
from banking_lakehouse.resources.postgres import PostgresResource

SECRET = "s3cr@t-Pa55"


@asset
def warehouse_probe(postgres: PostgresResource) -> None:
    postgres.count_rows("gold.fact_transactions")


@pytest.mark.parametrize(
    "dsn",
    [
        f"postgress://loader:{SECRET}@127.0.0.1:5432/warehouse",  # a mistyped scheme
        f"postgresql://loader:{SECRET}@127.0.0.1:99999/warehouse",  # a port out of range
        f"postgresql://loader:{SECRET}@127.0.0.1:1/warehouse",  # nothing listening
        f"postgresql://loader:{SECRET}@/warehouse?host=/no/such/dir",  # no such socket
        f"host=127.0.0.1 port=1 user=loader password={SECRET}",  # key=value form
    ],
)
def test_no_password_in_run_storage_logs_or_console(dsn, tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("BANKING_PG_DSN", dsn)
    (tmp_path / "home").mkdir()
    with DagsterInstance.local_temp(str(tmp_path / "home")) as instance:
        result = materialize(
            [warehouse_probe],
            resources={"postgres": PostgresResource(dsn=EnvVar("BANKING_PG_DSN"))},
            instance=instance,
            raise_on_error=False,
        )
        assert not result.success
        events = "\n".join(str(record) for record in instance.all_logs(result.run_id))
    assert "cannot connect to PostgreSQL at" in events and "***" in events
    stored = "\n".join(
        p.read_text(errors="replace")
        for p in (tmp_path / "home").rglob("*")
        if p.is_file() and p.suffix in (".out", ".err", ".log", ".json", ".txt", ".complete", "")
    )
    console = capfd.readouterr()
    for where, text in {
        "events": events,
        "storage and compute logs": stored,
        "console": console.out + console.err,
    }.items():
        assert SECRET not in text and "s3cr" not in text, where


def test_the_lake_is_owner_only(spark, tmp_path):
    settings.owner_only_files()
    lake = LakeResource(base_uri=str(tmp_path / "lake"), scratch_dir=str(tmp_path / "scratch"))
    lake.publish(
        spark.range(10).withColumn("batch_date", F.lit("2024-12-01").cast("date")), ["silver", "probe"], ["2024-12-01"]
    )
    (tmp_path / "drop.csv").write_text("a\n1\n")
    lake.store_delivery("2024-12-01", {"drop.csv": tmp_path / "drop.csv"}, {"entities": {}})
    written = [p for p in (tmp_path / "lake").rglob("*")]
    assert written and all(stat.S_IMODE(p.stat().st_mode) == (0o700 if p.is_dir() else 0o600) for p in written), {
        str(p): oct(stat.S_IMODE(p.stat().st_mode)) for p in written
    }


def test_the_development_pii_key_is_refused_outside_a_laptop():
    @asset
    def tokenised(pii: PiiKeyResource) -> None:
        pass

    assert materialize([tokenised], resources={"pii": PiiKeyResource()}).success
    result = materialize([tokenised], resources={"pii": PiiKeyResource(deployment="docker")}, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_failure)
    assert "development PII key is refused outside a local deployment" in str(failure.event_specific_data)
    assert materialize([tokenised], resources={"pii": PiiKeyResource(key="a-real-secret", deployment="docker")}).success
