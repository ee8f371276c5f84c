"""The main job: every asset of one (or a range of) daily batch(es).

Its run config is the launchpad's default, so a run started from the UI shows the synthetic delivery's
rows and seed before it starts (and the schedule, the sensor and backfills use the same): the raw asset's
defaults, or what BANKING_SYNTHETIC_ROWS / BANKING_SYNTHETIC_SEED say (`make dev ROWS=… SEED=…`).
"""

from dagster import AssetSelection, define_asset_job

from banking_lakehouse import settings
from banking_lakehouse.assets.fraud_alerts import FRAUD_ALERTS_KEY
from banking_lakehouse.assets.raw import RawDeliveryConfig
from banking_lakehouse.partitions import daily_partitions_def

SYNTHETIC_DELIVERY = RawDeliveryConfig(**settings.synthetic_delivery())

daily_pipeline_job = define_asset_job(
    "daily_pipeline_job",
    # Every daily asset; the fraud alert stream is not partitioned and runs on its own (fraud_alerts_job).
    selection=AssetSelection.all() - AssetSelection.assets(FRAUD_ALERTS_KEY),
    partitions_def=daily_partitions_def,
    config={"ops": {"raw_delivery": {"config": SYNTHETIC_DELIVERY.model_dump(include={"rows", "seed"})}}},
    description="raw -> silver -> gold -> warehouse, aggregates and fraud for the selected day(s). "
    "rows and seed size a synthetic delivery (BANKING_SOURCE=synthetic); the landing zone ignores them.",
)

fraud_alerts_job = define_asset_job(
    "fraud_alerts_job",
    selection=AssetSelection.assets(FRAUD_ALERTS_KEY),
    description="Fraud alerts from the drops completed since the last run (Structured Streaming, AvailableNow).",
)
