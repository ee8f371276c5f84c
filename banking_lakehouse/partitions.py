"""Daily batches: one partition per delivery (load) date."""

from dagster import DailyPartitionsDefinition

from banking_lakehouse import settings

daily_partitions_def = DailyPartitionsDefinition(start_date=settings.start_date())
