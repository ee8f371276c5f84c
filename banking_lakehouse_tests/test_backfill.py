"""A 3-day range as one single-run backfill (the tags a Dagster backfill sets), then single days re-run."""

import json

import pytest
from dagster import DagsterInstance

from banking_lakehouse.definitions import build_definitions
from banking_lakehouse.generator import MANIFEST_FILE
from banking_lakehouse_tests.conftest import make_resources
from banking_lakehouse_tests.test_pipeline import QUARANTINE_CODES

DAYS = ["2024-12-05", "2024-12-06", "2024-12-07"]
ROWS, SEED = 2_000, 23
FACT = ["gold", "fact_transactions"]


@pytest.fixture(scope="module")
def backfill(spark, spark_resource, postgres, run_dir):
    resources = make_resources(str(run_dir / "backfill_lake"), spark_resource, postgres)
    job = build_definitions(resources).get_job_def("daily_pipeline_job")
    instance = DagsterInstance.ephemeral()

    def run(seed: int = SEED, partition_key: str | None = None, tags: dict | None = None):
        result = job.execute_in_process(
            partition_key=partition_key, tags=tags, instance=instance,
            run_config={"ops": {"raw_delivery": {"config": {"rows": ROWS, "seed": seed}}}},
        )
        assert result.success
        return result

    return run, resources["lake"]


def _expected_fact_rows(lake, date: str) -> int:
    defects = json.loads(lake.raw_text(date, MANIFEST_FILE))["defects"]
    return ROWS - sum(defects[code] for code in QUARANTINE_CODES)


def _state(postgres, lake, date: str) -> tuple:
    rows, amount = postgres.fetch(
        "SELECT count(*), sum(amount_usd) FROM gold.fact_transactions WHERE batch_date = %s", (date,)
    )[0]
    return rows, amount, lake.partition_manifest(FACT, date)["version"]


def test_range_run_writes_each_day_and_a_rerun_replaces_only_its_day(backfill, postgres):
    run, lake = backfill
    result = run(tags={"dagster/asset_partition_range_start": DAYS[0], "dagster/asset_partition_range_end": DAYS[-1]})

    # One run, every asset materialized once per day of the range.
    per_asset = {}
    for event in result.get_asset_materialization_events():
        per_asset.setdefault(event.asset_key.to_user_string(), []).append(event.partition)
    assert per_asset["warehouse/fact_transactions"] == DAYS and per_asset["silver/transactions"] == DAYS
    assert len(result.get_asset_check_evaluations()) == 34  # checks cover the whole range at once
    assert all(e.passed for e in result.get_asset_check_evaluations() if e.severity.value == "ERROR")
    before = {d: _state(postgres, lake, d) for d in DAYS}
    for d in DAYS:
        assert before[d][0] == _expected_fact_rows(lake, d) == lake.partition_stats(["silver", "transactions"], d)["rows"]
    assert len({b[1] for b in before.values()}) == 3  # three different deliveries, not one day three times

    # A new delivery for the middle day, re-run alone: that day's lake version and rows are replaced,
    # the other two days are untouched in the lake and in PostgreSQL.
    run(seed=SEED + 1, partition_key=DAYS[1])
    after = {d: _state(postgres, lake, d) for d in DAYS}
    assert after[DAYS[0]] == before[DAYS[0]] and after[DAYS[2]] == before[DAYS[2]]
    assert after[DAYS[1]][0] == _expected_fact_rows(lake, DAYS[1])
    assert after[DAYS[1]][1] != before[DAYS[1]][1] and after[DAYS[1]][2] != before[DAYS[1]][2]
