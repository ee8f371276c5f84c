"""The warehouse on a loaded batch: analytics SQL, the analyst role, concurrent and killed loads."""

import datetime as dt
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from banking_lakehouse.sql import read_sql, sql_files
from banking_lakehouse_tests.conftest import private_database
from banking_lakehouse_tests.test_pipeline import DAY, pipeline  # noqa: F401  (the loaded-warehouse fixture)

ANALYTICS = sql_files("analytics")


@pytest.fixture(scope="module")
def postgres(postgres):
    """This module's warehouse holds only its lakes' batches: its analytics sums are exact over whole tables (a
    dimension load removes the versions of its keys its lake does not hold, such as another module's)."""
    return private_database(postgres, "warehouse_module")


@pytest.fixture(scope="module")
def loaded(pipeline, postgres):  # noqa: F811
    run, resources = pipeline
    postgres.ensure_schema()
    in_lake = DAY in resources["lake"].list_partitions(["gold", "fact_transactions"])  # this lake's, not another's
    if (
        not in_lake
        or not postgres.fetch("SELECT count(*) FROM gold.fact_transactions WHERE batch_date = %s", (DAY,))[0][0]
    ):
        run(DAY)
    return resources


def _as(postgres, role: str, query: str):
    with postgres.connect() as conn:
        conn.execute(f"SET ROLE {role}")
        return conn.execute(query).fetchall()


def test_there_are_eight_analytics_queries():
    assert [Path(p).stem for p in ANALYTICS] == [
        "channel_performance",
        "cohort_analysis",
        "customer_segmentation_rfm",
        "fraud_analysis",
        "fraud_rules_daily",
        "merchant_performance",
        "segment_history",
        "time_patterns",
    ]


@pytest.mark.parametrize("path", ANALYTICS, ids=[Path(p).stem for p in ANALYTICS])
def test_analytics_query_runs_as_analyst_and_returns_rows(loaded, postgres, path):
    rows = _as(postgres, "analyst", read_sql(path))
    assert rows


def test_analytics_results_are_plausible(loaded, postgres):
    channels = postgres.fetch(read_sql("analytics/channel_performance.sql"))
    assert {r[0] for r in channels} == {"online", "pos", "mobile", "atm", "branch"}
    assert sum(r[6] for r in channels) == pytest.approx(1, abs=0.001)
    total = postgres.fetch("SELECT count(*) FROM gold.fact_transactions")[0][0]
    assert sum(r[1] for r in channels) == total
    rfm = postgres.fetch(read_sql("analytics/customer_segmentation_rfm.sql"))
    assert all(1 <= r[5] <= 5 and 1 <= r[6] <= 5 and 1 <= r[7] <= 5 for r in rfm)
    fraud = postgres.fetch(read_sql("analytics/fraud_analysis.sql"))
    assert "large_amount" in {r[0] for r in fraud}
    daily = postgres.fetch(read_sql("analytics/fraud_rules_daily.sql"))
    assert sum(r[2] for r in daily) == sum(r[2] for r in fraud)  # every alert counted once per rule
    assert {(r[0], r[1]) for r in daily} == set(
        postgres.fetch("SELECT DISTINCT batch_date, unnest(string_to_array(rules, ',')) FROM gold.fraud_transactions")
    )
    by_segment = postgres.fetch(read_sql("analytics/segment_history.sql"))
    known = postgres.fetch("SELECT count(*), sum(amount_usd) FROM gold.fact_transactions WHERE customer_key <> -1")
    assert [(sum(r[4] for r in by_segment), sum(r[6] for r in by_segment))] == known  # each fact row once


def test_analyst_reads_gold_only_and_writes_nothing(loaded, postgres):
    assert _as(postgres, "analyst", "SELECT count(*) FROM gold.dim_customer")[0][0] > 1
    for query in (
        "SELECT count(*) FROM quality.quarantine",
        "DELETE FROM gold.fact_transactions",
        "UPDATE gold.dim_customer SET city = 'x'",
        "INSERT INTO gold.dim_date (date_key, date, year, quarter, month, month_name, day, day_of_week, day_name,"
        " week_of_year, is_weekend) VALUES (1, '1900-01-01', 1900, 1, 1, 'x', 1, 1, 'x', 1, false)",
        "CREATE TABLE gold.scratch (x int)",
        "SELECT gold.ensure_fact_partition('2031-01-01')",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            _as(postgres, "analyst", query)


def test_gold_holds_no_clear_ids(loaded, postgres):
    ids = postgres.fetch(
        "SELECT customer_id FROM gold.dim_customer WHERE customer_key <> -1 "
        "UNION ALL SELECT account_id FROM gold.dim_account WHERE account_key <> -1"
    )
    assert ids and all(i.startswith("tok_") for (i,) in ids)


def _batch(resources, batch: str, month: str) -> pa.Table:
    """The loaded day's fact rows re-stamped as batch `<month>-<batch[-2:]>`, all dated mid-month."""
    data = resources["lake"].read_arrow(["gold", "fact_transactions"], DAY)
    mid_month = dt.date.fromisoformat(f"{month}-15")
    stamps = {
        "batch_date": mid_month.replace(day=int(batch[-2:])),
        "transaction_date": mid_month,
    }
    for column, value in stamps.items():
        data = data.set_column(
            data.schema.get_field_index(column), column, pa.array([value] * data.num_rows, pa.date32())
        )
    ids = pc.binary_join_element_wise(data.column("transaction_id"), pa.scalar(batch), "-")
    return data.set_column(data.schema.get_field_index("transaction_id"), "transaction_id", ids)


def _count(postgres, batch_date):
    return postgres.fetch("SELECT count(*) FROM gold.fact_transactions WHERE batch_date = %s", (batch_date,))[0][0]


def test_two_batches_of_a_new_month_load_at_the_same_time(loaded, postgres):
    batches = {f"2025-03-{d:02d}": _batch(loaded, f"b{d:02d}", "2025-03") for d in (3, 4)}
    errors = []

    def load(batch_date, data):
        try:
            postgres.ensure_fact_partitions(data.column("transaction_date"))
            postgres.replace_rows("gold.fact_transactions", data, {"batch_date": batch_date})
        except Exception as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=load, args=item) for item in batches.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for batch_date, data in batches.items():
        assert _count(postgres, batch_date) == data.num_rows
    assert postgres.fetch("SELECT to_regclass('gold.fact_transactions_2025_03') IS NOT NULL")[0][0]


KILLED_LOAD = textwrap.dedent("""
    import os, signal, sys
    import psycopg, pyarrow.parquet as pq
    import banking_lakehouse.resources.postgres as pg
    data = pq.read_table(sys.argv[2])
    pg.COPY_CHUNK_ROWS = 500
    real_write, calls = psycopg.Copy.write, []
    def write_then_die(copy, chunk):
        calls.append(1)
        if len(calls) == 4:  # the COPY's header and two chunks already sent inside the open transaction
            os.kill(os.getpid(), signal.SIGKILL)
        return real_write(copy, chunk)
    psycopg.Copy.write = write_then_die
    pg.PostgresResource(dsn=sys.argv[1]).replace_rows("gold.fact_transactions", data, {"batch_date": sys.argv[3]})
""")


def test_a_load_killed_half_way_leaves_the_previous_state(loaded, postgres, tmp_path):
    import pyarrow.parquet as pq

    batch_date = "2025-03-03"
    before = postgres.fetch(
        "SELECT count(*), sum(amount_usd) FROM gold.fact_transactions WHERE batch_date = %s", (batch_date,)
    )[0]
    assert before[0] > 1_000
    replacement = _batch(loaded, "b03", "2025-03")
    pq.write_table(replacement.slice(0, 3_000), tmp_path / "replacement.parquet")
    done = subprocess.run(
        [sys.executable, "-c", KILLED_LOAD, postgres.uri(), str(tmp_path / "replacement.parquet"), batch_date],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    after = postgres.fetch(
        "SELECT count(*), sum(amount_usd) FROM gold.fact_transactions WHERE batch_date = %s", (batch_date,)
    )[0]
    assert after == before
