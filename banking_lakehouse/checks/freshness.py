"""Freshness: the warehouse must hold yesterday's batch by 06:00 UTC (a WARN, evaluated by a sensor)."""

from dagster import AssetKey, build_sensor_for_freshness_checks, build_time_partition_freshness_checks

warehouse_freshness_checks = build_time_partition_freshness_checks(
    assets=[AssetKey(["warehouse", "fact_transactions"])], deadline_cron="0 6 * * *", timezone="UTC"
)
freshness_checks_sensor = build_sensor_for_freshness_checks(freshness_checks=warehouse_freshness_checks)
