"""Runs a day as soon as its complete delivery lands in the landing zone."""

from pathlib import Path

from dagster import RunRequest, SensorEvaluationContext, sensor

from banking_lakehouse.generator import RAW_FILES
from banking_lakehouse.jobs import daily_pipeline_job
from banking_lakehouse.resources.lake import LakeResource


@sensor(job=daily_pipeline_job, minimum_interval_seconds=60)
def landing_zone_sensor(context: SensorEvaluationContext, lake: LakeResource):
    """One run per complete drop (all four files); a re-delivered day (newer files) runs again."""
    landing = Path(lake.landing_uri) if lake.landing_uri else None
    if landing is None or not landing.is_dir():
        return
    for directory in sorted(landing.glob("date=*")):
        date = directory.name.removeprefix("date=")
        if lake.landed_delivery(date, list(RAW_FILES.values())) is None:
            continue  # still arriving
        version = max((directory / name).stat().st_mtime_ns for name in RAW_FILES.values())
        yield RunRequest(run_key=f"{date}:{version}", partition_key=date)
