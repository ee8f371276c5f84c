"""The code location: assembles assets, checks, jobs, schedules, sensors and resources. No logic lives here."""

from dagster import Definitions, JobDefinition, load_assets_from_modules

from banking_lakehouse import (
    deployments,
    quiet,  # noqa: F401 - first: silences notices raised while assets are defined
    settings,
)
from banking_lakehouse.assets import (
    aggregates,
    batches,
    fraud,
    fraud_alerts,
    fraud_history,
    gold,
    health,
    raw,
    silver,
    warehouse,
)
from banking_lakehouse.executor import threaded_in_process_executor
from banking_lakehouse.jobs import daily_pipeline_job, fraud_alerts_job
from banking_lakehouse.schedules import daily_pipeline_schedule
from banking_lakehouse.sensors import fraud_alerts_sensor, landing_zone_sensor

# The daily assets (one partition = one batch), and the fraud alert stream beside them (not partitioned).
ASSET_MODULES = [raw, silver, gold, aggregates, fraud_history, fraud, warehouse, batches, health]
STREAM_ASSET_MODULES = [fraud_alerts]


def build_definitions(resources: dict) -> Definitions:
    """The same code location over any resources (local, DSN, a benchmark's private lake)."""
    return Definitions(
        assets=load_assets_from_modules(ASSET_MODULES + STREAM_ASSET_MODULES),
        jobs=[daily_pipeline_job, fraud_alerts_job],
        schedules=[daily_pipeline_schedule],
        sensors=[landing_zone_sensor, fraud_alerts_sensor],
        resources=resources,
        # One process, one SparkSession per run (the multiprocess executor would start a JVM per step);
        # steps whose inputs are ready run side by side in threads.
        executor=threaded_in_process_executor,
    )


settings.owner_only_files()
defs = build_definitions(deployments.resources())


def daily_pipeline() -> JobDefinition:
    """The daily job as `dagster.execute_job` reconstructs it: the demo runs it with the job's own executor,
    as a launched run does (`execute_in_process` would run its steps one after another)."""
    return defs.resolve_job_def("daily_pipeline_job")
