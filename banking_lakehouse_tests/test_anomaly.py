"""Checks that learn: a day at 30 % of normal volume is flagged against the trailing history, normal days
stay green, and the checks stay silent until enough history exists."""

import datetime as dt

from dagster import DagsterInstance

from banking_lakehouse.checks.rules import ANOMALY_MIN_HISTORY
from banking_lakehouse.definitions import build_definitions
from banking_lakehouse.partitions import range_tags
from banking_lakehouse_tests.conftest import make_resources

DAYS = [(dt.date(2024, 9, 1) + dt.timedelta(days=i)).isoformat() for i in range(7)]
NORMAL_ROWS, LOW_ROWS, SEED = 3_400, 1_020, 31


def test_a_day_at_thirty_percent_volume_warns_and_normal_days_stay_green(spark, spark_resource, postgres, run_dir):
    job = build_definitions(make_resources(str(run_dir / "anomaly_lake"), spark_resource, postgres)).resolve_job_def(
        "daily_pipeline_job"
    )
    instance = DagsterInstance.ephemeral()

    def run(rows: int, **kwargs):
        result = job.execute_in_process(
            instance=instance, run_config={"ops": {"raw_delivery": {"config": {"rows": rows, "seed": SEED}}}}, **kwargs
        )
        assert result.success  # WARN checks report, they never stop the run
        return {(c.check_name, c.partition): c for c in result.get_asset_check_evaluations()}

    normal = run(
        NORMAL_ROWS,
        tags=range_tags(DAYS[0], DAYS[-2]),
    )
    low = run(LOW_ROWS, partition_key=DAYS[-1])

    rows = normal[("row_count_anomaly", DAYS[ANOMALY_MIN_HISTORY - 1])]
    assert rows.passed and rows.metadata["history_batches"].value == ANOMALY_MIN_HISTORY - 1
    assert rows.metadata["band"].value.startswith("insufficient history")
    steady = normal[("row_count_anomaly", DAYS[ANOMALY_MIN_HISTORY])]  # the first day with enough history
    assert steady.passed and steady.metadata["history_batches"].value == ANOMALY_MIN_HISTORY
    assert all(
        normal[(name, DAYS[ANOMALY_MIN_HISTORY])].passed for name in ("quarantine_rate_anomaly", "amount_anomaly")
    )

    flagged = low[("row_count_anomaly", DAYS[-1])]
    assert not flagged.passed and flagged.severity.value == "WARN"
    metadata = {k: v.value for k, v in flagged.metadata.items()}
    assert metadata["history_batches"] == 6 and metadata["median"] == steady.metadata["value"].value
    assert metadata["value"] < metadata["band_low"] < metadata["median"] < metadata["band_high"]
    assert metadata["value"] / metadata["median"] < 0.31
    assert low[("quarantine_rate_anomaly", DAYS[-1])].passed  # the share quarantined did not change
