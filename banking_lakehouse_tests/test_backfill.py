"""A 3-day range as one single-run backfill (the tags a Dagster backfill sets): each day records exactly
what a single-day run records, and a single day re-run replaces only that day."""

import json

import pytest
from dagster import AssetCheckKey, AssetKey, DagsterInstance

from banking_lakehouse.checks.rules import RULES
from banking_lakehouse.definitions import build_definitions
from banking_lakehouse.generator import MANIFEST_FILE
from banking_lakehouse.generator.defects import QUARANTINED_DEFECTS
from banking_lakehouse.partitions import range_tags
from banking_lakehouse_tests.conftest import make_resources, private_database

DAYS = ["2024-12-05", "2024-12-06", "2024-12-07"]
ROWS, SEED = 2_000, 23
FACT = ["gold", "fact_transactions"]
RANGE = range_tags(DAYS[0], DAYS[-1])
# A whole-warehouse reading taken after the run (sizes, all batches' rows): not a per-day number.
SNAPSHOT_ASSETS = {"warehouse/health"}
# How Spark happened to encode the same rows into Parquet (timings aside, the only layout-dependent key).
PHYSICAL = {"bytes_written"}


def _runner(lake_dir, spark_resource, postgres):
    resources = make_resources(str(lake_dir), spark_resource, postgres)
    job = build_definitions(resources).resolve_job_def("daily_pipeline_job")
    instance = DagsterInstance.ephemeral()

    def run(seed: int = SEED, partition_key: str | None = None, tags: dict | None = None):
        result = job.execute_in_process(
            partition_key=partition_key,
            tags=tags,
            instance=instance,
            run_config={"ops": {"raw_delivery": {"config": {"rows": ROWS, "seed": seed}}}},
        )
        assert result.success
        return result

    run.instance = instance
    return run, resources["lake"]


@pytest.fixture(scope="module")
def range_warehouse(postgres):
    """A database of the module's own: the warehouse holds exactly this lake's batches (a dimension load
    removes the versions of its keys the lake does not hold, such as another module's)."""
    return private_database(postgres, "range_days")


@pytest.fixture(scope="module")
def backfill(spark, spark_resource, range_warehouse, run_dir):
    return _runner(run_dir / "backfill_lake", spark_resource, range_warehouse)


@pytest.fixture(scope="module")
def separate_warehouse(postgres):
    """A second database on the same server, so the single-day runs load into an empty warehouse too."""
    return private_database(postgres, "single_days")


def _numbers(result) -> dict:
    """(kind, asset or check, partition) -> numeric metadata, timings left out."""

    def numeric(metadata):
        return {
            k: v.value
            for k, v in metadata.items()
            if isinstance(v.value, (int, float))
            and not isinstance(v.value, bool)
            and k not in PHYSICAL
            and not k.endswith("_seconds")
        }

    numbers = {}
    for event in result.get_asset_materialization_events():
        key = event.asset_key.to_user_string()
        if key not in SNAPSHOT_ASSETS:
            numbers[("asset", key, event.partition)] = numeric(event.materialization.metadata)
    for check in result.get_asset_check_evaluations():
        numbers[("check", f"{check.asset_key.to_user_string()}:{check.check_name}", check.partition)] = {
            "passed": check.passed,
            **numeric(check.metadata),
        }
    return numbers


def test_a_range_run_records_each_day_exactly_as_single_day_runs_do(
    backfill, spark_resource, separate_warehouse, run_dir
):
    run, _ = backfill
    ranged = _numbers(run(tags=RANGE))
    single_run, _ = _runner(run_dir / "single_day_lake", spark_resource, separate_warehouse)
    singles = {}
    for day in DAYS:
        singles |= _numbers(single_run(partition_key=day))
    assert {k[2] for k in ranged} == set(DAYS)
    assert len(ranged) == len(singles) > 3 * 60  # every asset and check, once per day
    differing = {k: (ranged[k], singles.get(k)) for k in ranged if ranged[k] != singles.get(k)}
    assert differing == {}
    amounts = {ranged[("check", "warehouse/fact_transactions:amount_anomaly", d)]["value"] for d in DAYS}
    assert len(amounts) == 3  # each day its own Σ amount, not the range's total three times
    for asset, check in (
        ("silver/transactions", "raw_accounted_for"),
        ("warehouse/fact_transactions", "fact_matches_silver"),
    ):
        history = run.instance.event_log_storage.get_asset_check_execution_history(
            AssetCheckKey(AssetKey(asset.split("/")), check), limit=50
        )
        # One resolved record per day of the range: no planned-but-never-evaluated ("Skipped") rows.
        assert sorted((r.partition, r.status.value) for r in history) == [(d, "SUCCEEDED") for d in DAYS]


def _expected_fact_rows(lake, date: str) -> int:
    defects = json.loads(lake.raw_text(date, MANIFEST_FILE))["defects"]
    return ROWS - sum(defects[code] for code in QUARANTINED_DEFECTS)


def _state(postgres, lake, date: str) -> tuple:
    rows, amount = postgres.fetch(
        "SELECT count(*), sum(amount_usd) FROM gold.fact_transactions WHERE batch_date = %s", (date,)
    )[0]
    return rows, amount, lake.partition_manifest(FACT, date)["version"]


def test_range_run_writes_each_day_and_a_rerun_replaces_only_its_day(backfill, range_warehouse):
    postgres = range_warehouse
    run, lake = backfill
    result = run(tags=RANGE)

    # One run, every asset materialized once per day of the range.
    per_asset = {}
    for event in result.get_asset_materialization_events():
        per_asset.setdefault(event.asset_key.to_user_string(), []).append(event.partition)
    assert per_asset["warehouse/fact_transactions"] == DAYS and per_asset["silver/transactions"] == DAYS
    evaluations = result.get_asset_check_evaluations()
    assert sorted(e.partition for e in evaluations) == sorted(DAYS * len(RULES))  # every check, once per day
    assert all(e.passed for e in result.get_asset_check_evaluations() if e.severity.value == "ERROR")
    before = {d: _state(postgres, lake, d) for d in DAYS}
    for d in DAYS:
        assert (
            before[d][0] == _expected_fact_rows(lake, d) == lake.partition_stats(["silver", "transactions"], d)["rows"]
        )
    assert len({b[1] for b in before.values()}) == 3  # three different deliveries, not one day three times

    # A new delivery for the middle day, re-run alone: that day's lake version and rows are replaced,
    # the other two days are untouched in the lake and in PostgreSQL.
    run(seed=SEED + 1, partition_key=DAYS[1])
    after = {d: _state(postgres, lake, d) for d in DAYS}
    assert after[DAYS[0]] == before[DAYS[0]] and after[DAYS[2]] == before[DAYS[2]]
    assert after[DAYS[1]][0] == _expected_fact_rows(lake, DAYS[1])
    assert after[DAYS[1]][1] != before[DAYS[1]][1] and after[DAYS[1]][2] != before[DAYS[1]][2]
