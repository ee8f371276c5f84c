"""The fraud alert stream: real Spark Structured Streaming over a landing zone, alerts in a real PostgreSQL.

Two crafted drops, each rule firing a known number of times beside quiet look-alikes; the same stream is run
again, with a new drop, after a crash between the sink's insert and Spark's commit, and next to a drop not
marked complete.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip

import psycopg
import pytest
from dagster import DagsterInstance, RunRequest, SkipReason, build_sensor_context, materialize

from banking_lakehouse.assets.fraud_alerts import (
    RECONCILED_CHECK,
    AlertSink,
    FraudAlertsConfig,
    delivered_transactions,
    fraud_alerts,
    reconciliation,
    run_alert_stream,
)
from banking_lakehouse.entities import TRANSACTIONS
from banking_lakehouse.resources.alert_stream import StreamLocation, StreamLocationError
from banking_lakehouse.resources.delivery import SUCCESS_MARKER, DeliverySource
from banking_lakehouse.resources.lake import LakeResource
from banking_lakehouse.sensors import fraud_alerts_sensor
from banking_lakehouse.transforms.gold import surrogate_key
from banking_lakehouse_tests.conftest import make_resources, private_database, s3_resource

SECRET = "test-key"
DAY1, DAY2 = dt.date(2024, 12, 2), dt.date(2024, 12, 3)
# Alerts each drop must raise: the crafted fraud below, nothing from the background or the look-alikes.
EXPECTED = {
    DAY1: {"large_amount": 3, "card_testing": 6, "velocity": 12, "impossible_travel": 1},
    DAY2: {"large_amount": 2, "card_testing": 0, "velocity": 10, "impossible_travel": 2},
}


def _row(tid, day, minute, amount, account, *, merchant="M1", channel="online", country="US", currency="USD"):
    ts = dt.datetime.combine(day, dt.time()) + dt.timedelta(minutes=minute)
    customer = f"C-{account}"
    return [tid, account, customer, merchant, ts.strftime("%Y-%m-%dT%H:%M:%SZ"), amount, currency, "purchase", channel,
            "completed", country]  # fmt: skip


def _drop_rows(day: dt.date) -> list[list[str]]:
    d = day.day
    rows = [  # background: 40 accounts, 5 ordinary purchases each, 2 hours apart
        _row(f"{d}-bg-{a}-{i}", day, 120 * i + a, f"{20 + a + i}.50", f"A{a:03}") for a in range(40) for i in range(5)
    ]
    large = 3 if day == DAY1 else 2
    rows += [_row(f"{d}-large-{i}", day, 60 + i, "45,000.00" if i else "$45000", f"L{i}") for i in range(large)]
    rows += [
        _row(f"{d}-edge-30000", day, 70, "30000.00", "L9"),  # not above the threshold
        _row(f"{d}-outlier", day, 71, "2500000", "L9"),  # an outlier is a data error, not fraud
        _row(f"{d}-bad-currency", day, 72, "50000", "L9", currency="XXX"),  # quarantined by silver: not judged
        _row("", day, 73, "50000", "L9"),  # no id: not judged
    ]
    if day == DAY1:
        rows += [_row(f"{d}-ct-{i}", day, 300 + i, "1.00", "CT1", merchant="M9") for i in range(6)]
        rows += [_row(f"{d}-ct-quiet-{i}", day, 300 + i, "1.00", "CT2", merchant="M9") for i in range(4)]
        rows += [_row(f"{d}-vel-{i}", day, 400 + 4 * i, "50.00", "V1") for i in range(12)]
        rows += [_row(f"{d}-vel-quiet-{i}", day, 400 + 4 * i, "50.00", "V2") for i in range(9)]
        rows += [
            _row(f"{d}-trip-us", day, 600, "80.00", "T1", channel="pos", country="US"),
            _row(f"{d}-trip-fr", day, 660, "80.00", "T1", channel="pos", country="France"),  # 1 h later: alert
            _row(f"{d}-slow-us", day, 600, "80.00", "T2", channel="pos", country="US"),
            _row(f"{d}-slow-fr", day, 800, "80.00", "T2", channel="pos", country="FR"),  # 3 h 20 later: none
            _row(f"{d}-late-us", day, 1420, "80.00", "T3", channel="pos", country="US"),
        ]
    else:
        rows += [_row(f"{d}-vel-{i}", day, 500 + 5 * i, "75.00", "V3") for i in range(10)]
        rows += [
            _row(f"{d}-trip-de", day, 30, "80.00", "T1", channel="atm", country="DE"),  # 13 h after France: none
            _row(f"{d}-trip-es", day, 100, "80.00", "T1", channel="pos", country="ES"),  # 70 min after: alert
            _row(f"{d}-early-fr", day, 20, "80.00", "T3", channel="pos", country="FR"),  # 40 min after the US: alert
        ]
    return rows


def _write_drop(landing, day: dt.date, *, complete: bool, gz: bool = False, reordered: bool = False) -> None:
    directory = landing / f"date={day.isoformat()}"
    directory.mkdir(parents=True)
    path = directory / (TRANSACTIONS.file + (".gz" if gz else ""))
    order = slice(None, None, -1 if reordered else 1)  # a valid delivery too, but not in the contract's order
    with gzip.open(path, "wt", newline="") if gz else path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(TRANSACTIONS.columns[order])
        writer.writerows(row[order] for row in _drop_rows(day))
    if complete:
        (directory / SUCCESS_MARKER).touch()


def _alerts(postgres) -> dict[dt.date, dict[str, int]]:
    counts: dict[dt.date, dict[str, int]] = {DAY1: {}, DAY2: {}}
    for day, rule, n in postgres.fetch("SELECT delivery_date, rule, count(*) FROM gold.fraud_alerts GROUP BY 1, 2"):
        counts[day][rule] = n
    return counts


def _expected(*days) -> dict[dt.date, dict[str, int]]:
    return {d: {r: n for r, n in EXPECTED[d].items() if n} if d in days else {} for d in (DAY1, DAY2)}


class CrashAfterInsert(AlertSink):
    """The sink, dying after its first windowed insert commits and before Spark commits the micro-batch."""

    def write_windows(self, windows, batch_id):
        super().write_windows(windows, batch_id)
        raise RuntimeError("crash between the insert and the checkpoint's commit")


@pytest.fixture(scope="module")
def stream(tmp_path_factory, postgres):
    root = tmp_path_factory.mktemp("alerts")
    warehouse = private_database(postgres, "fraud_alerts_test")
    warehouse.ensure_schema()
    lake = LakeResource(base_uri=str(root / "lake"), scratch_dir=str(root / "scratch"))
    return root / "landing", StreamLocation.of(lake), warehouse


def _run(spark, stream, sink=None):
    landing, location, warehouse = stream
    admitted = location.admit_complete_drops(DeliverySource(source="landing", landing_uri=str(landing)))
    sink = sink or AlertSink(warehouse)
    rows = run_alert_stream(spark, location, SECRET, sink, FraudAlertsConfig(checkpoint=""))
    return admitted, sink, rows


def test_alerts_once_per_file_across_runs_new_drops_and_crashes(spark, stream):
    landing, location, warehouse = stream
    _write_drop(landing, DAY1, complete=True)
    _write_drop(landing, DAY2, complete=False, gz=True)  # every row there, no marker yet

    admitted, sink, rows = _run(spark, stream)
    assert admitted.drops == [f"date={DAY1}/delivery={(landing / f'date={DAY1}' / SUCCESS_MARKER).stat().st_mtime_ns}"]
    assert rows == {"large_amount": len(_drop_rows(DAY1)), "windowed": len(_drop_rows(DAY1))}  # every row read
    assert _alerts(warehouse) == _expected(DAY1)
    assert dict(sink.inserted) == EXPECTED[DAY1]
    ids = {
        r for (r,) in warehouse.fetch("SELECT transaction_id FROM gold.fraud_alerts WHERE rule = 'impossible_travel'")
    }
    assert ids == {"2-trip-fr"}

    # Nothing new: a second run adds nothing.
    admitted, sink, rows = _run(spark, stream)
    assert admitted.drops == [] and sum(sink.inserted.values()) == 0 and rows == {"large_amount": 0, "windowed": 0}
    assert _alerts(warehouse) == _expected(DAY1)

    # The drop completes; the run dies after inserting its first windowed batch, before Spark commits it.
    (landing / f"date={DAY2}" / SUCCESS_MARKER).touch()
    with pytest.raises(Exception, match="crash between the insert"):
        _run(spark, stream, CrashAfterInsert(warehouse))
    # A new session over the same checkpoint replays the batch: every alert exactly once.
    admitted, sink, _ = _run(spark.newSession(), stream)
    assert admitted.drops == []  # admitted by the crashed run already
    assert _alerts(warehouse) == _expected(DAY1, DAY2)
    assert sink.inserted["velocity"] == 0  # inserted before the crash; the replay added none
    assert (
        warehouse.fetch("SELECT count(*), count(DISTINCT (transaction_id, rule)) FROM gold.fraud_alerts")[0]
        == (sum(EXPECTED[DAY1].values()) + sum(EXPECTED[DAY2].values()),) * 2
    )
    # Ids only as gold's keyed hashes; each alert names the delivered file it came from.
    key = spark.createDataFrame([("V1",)], "account_id string").select(surrogate_key("account_id", SECRET)).first()[0]
    assert warehouse.fetch(
        "SELECT DISTINCT account_key, source_file FROM gold.fraud_alerts WHERE rule = 'velocity' AND delivery_date = %s",
        [DAY1],
    ) == [(key, f"date={DAY1}/transactions.csv")]
    assert warehouse.fetch("SELECT DISTINCT source_file FROM gold.fraud_alerts WHERE delivery_date = %s", [DAY2]) == [
        (f"date={DAY2}/transactions.csv.gz",)
    ]


def test_reconciliation_counts_confirmed_alerts_and_both_differences(stream):
    _, location, warehouse = stream
    with psycopg.connect(warehouse.uri(), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO quality.batches VALUES (%s, 'transactions', 'landing', 'transactions.csv', 1, 'x', 'utf-8', "
            "1, 0, 1, 0, now(), now()) ON CONFLICT DO NOTHING",
            [DAY1],
        )
        flagged = [("2-large-0", "large_amount,velocity"), ("2-large-1", "large_amount"), ("2-only-daily", "velocity")]
        for tid, rules in flagged:
            conn.execute(
                "INSERT INTO gold.fraud_transactions VALUES (%s, 1, %s, now(), 1, 1, 1, 1, %s, 1, 40, 'medium', %s) "
                "ON CONFLICT DO NOTHING",
                [tid, DAY1, rules, DAY1],
            )
    result = reconciliation(warehouse, location)
    metadata = {k: v.value for k, v in result.metadata.items() if k != "per_batch_and_rule"}
    alerts = sum(EXPECTED[DAY1].values())
    # DAY2 is not loaded by the daily pipeline yet: pending, not a difference.
    assert metadata == {
        "alerts": alerts,
        "confirmed": 2,
        "stream_only": alerts - 2,
        "daily_only": 2,  # 2-large-0's velocity and 2-only-daily's
        "batches_reconciled": 1,
    }
    assert result.passed is False


def test_the_asset_scores_complete_drops_and_leaves_a_reordered_header_to_the_daily_run(
    tmp_path, spark_resource, postgres
):
    landing = tmp_path / "landing"
    _write_drop(landing, DAY1, complete=True, gz=True)
    _write_drop(landing, DAY2, complete=True, reordered=True)
    delivery = DeliverySource(source="landing", landing_uri=str(landing))
    warehouse = private_database(postgres, "fraud_alerts_asset_test")
    synthetic = make_resources(str(tmp_path / "lake"), spark_resource, warehouse)  # no landing zone: nothing to score
    idle = materialize([fraud_alerts], resources=synthetic).get_asset_materialization_events()[0].materialization
    assert (idle.metadata["rows_read"].value, idle.metadata["alerts_total"].value) == (0, 0)
    result = materialize(
        [fraud_alerts], resources=make_resources(str(tmp_path / "lake"), spark_resource, warehouse, delivery=delivery)
    )

    metadata = {k: v.value for k, v in result.get_asset_materialization_events()[0].materialization.metadata.items()}
    assert {k: metadata[f"new_alerts_{k}"] for k in EXPECTED[DAY1]} == EXPECTED[DAY1]
    assert (metadata["drops_admitted"], metadata["drops_refused"], metadata["rows_read"]) == (
        1,
        1,
        len(_drop_rows(DAY1)),
    )
    assert metadata["alerts_total"] == sum(EXPECTED[DAY1].values())
    (check,) = result.get_asset_check_evaluations()
    assert check.check_name == RECONCILED_CHECK and check.passed  # no drop loaded by the daily run yet: nothing differs
    assert check.metadata["batches_reconciled"].value == 0


def test_the_sensor_requests_a_run_when_the_complete_drops_change(tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    delivery = DeliverySource(source="landing", landing_uri=str(landing))

    def evaluate():
        with build_sensor_context(instance=instance, resources={"delivery": delivery}) as context:
            return list(fraud_alerts_sensor(context))

    with DagsterInstance.ephemeral() as instance:
        _write_drop(landing, DAY1, complete=False)
        assert [type(r) for r in evaluate()] == [SkipReason]
        (landing / f"date={DAY1}" / SUCCESS_MARKER).touch()
        first = evaluate()
        assert [type(r) for r in first] == [RunRequest] and evaluate()[0].run_key == first[0].run_key
        _write_drop(landing, DAY2, complete=True)
        assert evaluate()[0].run_key != first[0].run_key


def test_the_kafka_switch_needs_sparks_kafka_package(spark, stream):
    """BANKING_STREAM_SOURCE=kafka reads through Spark's own Kafka source; without its package Spark says so."""
    with pytest.raises(Exception, match="data source: kafka"):
        delivered_transactions(spark, stream[1], "kafka", "utf-8")


def test_a_lake_on_s3_without_s3a_needs_a_checkpoint_spark_can_write(tmp_path, s3_server):
    s3 = s3_resource(s3_server)
    lake = LakeResource(base_uri="s3://lake/alerts", s3=s3, scratch_dir=str(tmp_path / "scratch"))
    with pytest.raises(StreamLocationError, match="set BANKING_STREAM_CHECKPOINT"):
        StreamLocation.of(lake)

    # With BANKING_STREAM_CHECKPOINT local, complete drops of an S3 landing zone are admitted there.
    body = b"\r\n".join(
        [",".join(TRANSACTIONS.columns).encode(), b"T1,A1,C1,M1,2024-12-02T10:00:00Z,12.00,USD,p,pos,c,US"]
    )
    client = s3.get_client()
    client.put_object(Bucket="lake", Key=f"alerts_landing/date={DAY1}/{TRANSACTIONS.file}", Body=body)
    client.put_object(Bucket="lake", Key=f"alerts_landing/date={DAY1}/{SUCCESS_MARKER}", Body=b"")
    client.put_object(Bucket="lake", Key=f"alerts_landing/date={DAY2}/{TRANSACTIONS.file}", Body=body)  # no marker
    location = StreamLocation.of(lake, str(tmp_path / "stream"))
    admitted = location.admit_complete_drops(
        DeliverySource(source="landing", landing_uri="s3://lake/alerts_landing", s3=s3)
    )
    assert [d.split("/")[0] for d in admitted.drops] == [f"date={DAY1}"] and admitted.refused == {}
    assert (tmp_path / "stream" / "input" / admitted.drops[0] / TRANSACTIONS.file).read_bytes() == body
    assert location.input_glob == f"file://{tmp_path}/stream/input/date=*/delivery=*/{TRANSACTIONS.file}*"
    assert (
        location.admit_complete_drops(
            DeliverySource(source="landing", landing_uri="s3://lake/alerts_landing", s3=s3)
        ).drops
        == []
    )
