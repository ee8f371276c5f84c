"""Runs a day as soon as its drop in the landing zone is marked complete (`_SUCCESS`), and the fraud alert
stream over it."""

import hashlib

from dagster import DefaultSensorStatus, RunRequest, SensorEvaluationContext, SkipReason, sensor

from banking_lakehouse import settings
from banking_lakehouse.jobs import daily_pipeline_job, fraud_alerts_job
from banking_lakehouse.resources.delivery import DeliverySource


@sensor(
    job=daily_pipeline_job,
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING if settings.automation_running() else DefaultSensorStatus.STOPPED,
)
def landing_zone_sensor(context: SensorEvaluationContext, delivery: DeliverySource):
    """One run per complete drop; a re-delivered day (a newer `_SUCCESS`) runs again."""
    if delivery.source != "landing":
        yield SkipReason(f"BANKING_SOURCE={delivery.source}: the landing zone is not the source")
        return
    for date, version in delivery.complete_drops():
        yield RunRequest(run_key=f"{date}:{version}", partition_key=date)


@sensor(
    job=fraud_alerts_job,
    minimum_interval_seconds=15,  # alerts within a minute of the marker: the run itself takes ~20 s
    default_status=DefaultSensorStatus.RUNNING if settings.automation_running() else DefaultSensorStatus.STOPPED,
)
def fraud_alerts_sensor(context: SensorEvaluationContext, delivery: DeliverySource):
    """One stream run whenever the set of complete drops changes (a new drop, a re-delivery): each run scores
    every drop completed since the last, so one request covers drops completed together."""
    if delivery.source != "landing":
        yield SkipReason(f"BANKING_SOURCE={delivery.source}: the landing zone is not the source")
        return
    drops = delivery.complete_drops()
    if not drops:
        yield SkipReason("no complete drop in the landing zone")
        return
    yield RunRequest(run_key=hashlib.sha256(repr(drops).encode()).hexdigest()[:16])
