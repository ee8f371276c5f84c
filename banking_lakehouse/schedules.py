"""Runs yesterday's batch every morning (the partition of the day that just ended)."""

from dagster import DefaultScheduleStatus, build_schedule_from_partitioned_job

from banking_lakehouse import settings
from banking_lakehouse.jobs import daily_pipeline_job

daily_pipeline_schedule = build_schedule_from_partitioned_job(
    daily_pipeline_job,
    hour_of_day=2,
    minute_of_hour=0,
    default_status=DefaultScheduleStatus.RUNNING if settings.automation_running() else DefaultScheduleStatus.STOPPED,
)
