"""The code location as the UI shows it: every asset described and owned, and yesterday scheduled daily."""

import datetime as dt

from dagster import BackfillPolicy, DagsterInstance, build_schedule_context

from banking_lakehouse.assets.fraud_alerts import FRAUD_ALERTS_KEY, RECONCILED_CHECK
from banking_lakehouse.definitions import defs
from banking_lakehouse.executor import threaded_in_process_executor

KINDS_BY_LAYER = {
    "raw": {"csv", "json"},
    "silver": {"spark", "parquet"},
    "gold": {"spark", "parquet"},
    "warehouse": {"postgres"},
    "stream": {"spark", "postgres"},
}


def test_every_asset_has_description_owner_group_layer_and_kinds():
    graph = defs.resolve_asset_graph()
    keys = sorted(graph.get_all_asset_keys())
    assert len(keys) == 35
    for key in keys:
        node = graph.get(key)
        assert node.description and node.owners and node.group_name != "default", key
        layer = node.tags["layer"]
        assert node.kinds and node.kinds <= KINDS_BY_LAYER[layer], (key, node.kinds)
        if key == FRAUD_ALERTS_KEY:  # the stream's unit is a delivered file, tracked by its checkpoint
            assert node.partitions_def is None
        else:
            assert node.partitions_def is not None, key
        # Every asset single-run: `dagster asset materialize --select '*' --partition-range …` (README) needs it.
        assert node.backfill_policy == BackfillPolicy.single_run(), key


def test_the_daily_job_runs_every_daily_asset_and_the_alert_job_the_stream():
    graph = defs.resolve_asset_graph()
    daily = defs.get_job_def("daily_pipeline_job")
    assert set(daily.asset_layer.selected_asset_keys) == set(graph.get_all_asset_keys()) - {FRAUD_ALERTS_KEY}
    assert daily.executor_def is threaded_in_process_executor  # launched runs load PostgreSQL beside Spark
    alerts = defs.get_job_def("fraud_alerts_job")
    assert alerts.asset_layer.selected_asset_keys == {FRAUD_ALERTS_KEY}
    assert {c.name for c in alerts.asset_layer.asset_graph.get_check_keys_for_assets([FRAUD_ALERTS_KEY])} == {
        RECONCILED_CHECK
    }


def test_schedule_runs_yesterdays_partition_at_two():
    schedule = defs.get_schedule_def("daily_pipeline_job_schedule")
    assert schedule.cron_schedule == "0 2 * * *"
    with DagsterInstance.ephemeral() as instance:
        context = build_schedule_context(instance=instance, scheduled_execution_time=dt.datetime(2024, 12, 10, 2, 0))
        requests = schedule.evaluate_tick(context).run_requests
    assert [r.partition_key for r in requests] == ["2024-12-09"]
