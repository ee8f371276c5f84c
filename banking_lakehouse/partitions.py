"""Daily batches: one partition per delivery (load) date."""

from dagster import DailyPartitionsDefinition

from banking_lakehouse import settings

daily_partitions_def = DailyPartitionsDefinition(start_date=settings.start_date())


def range_tags(first: str, last: str) -> dict[str, str]:
    """The run tags that make one run cover the days first..last (what a single-run backfill sets)."""
    return {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
