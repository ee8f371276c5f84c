"""The main job: every asset of one (or a range of) daily batch(es)."""

from dagster import AssetSelection, define_asset_job

from banking_lakehouse.checks.freshness import warehouse_freshness_checks
from banking_lakehouse.partitions import daily_partitions_def

daily_pipeline_job = define_asset_job(
    "daily_pipeline_job",
    # Freshness is judged by its own sensor against the clock, not inside the run that loads the data.
    selection=AssetSelection.all() - AssetSelection.checks(*warehouse_freshness_checks),
    partitions_def=daily_partitions_def,
    description="raw -> silver -> gold -> warehouse, aggregates and fraud for the selected day(s).",
)
