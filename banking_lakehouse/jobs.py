"""The main job: every asset of one (or a range of) daily batch(es)."""

from dagster import AssetSelection, define_asset_job

from banking_lakehouse.partitions import daily_partitions_def

daily_pipeline_job = define_asset_job(
    "daily_pipeline_job",
    selection=AssetSelection.all(),
    partitions_def=daily_partitions_def,
    description="raw -> silver -> gold -> warehouse, aggregates and fraud for the selected day(s).",
)
