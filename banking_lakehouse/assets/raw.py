"""Raw zone: the day's delivery as files (CSV/JSON), exactly as a source system would drop them."""


import datetime as dt
import time

from dagster import AssetExecutionContext, AssetSpec, BackfillPolicy, Config, MaterializeResult, multi_asset

from banking_lakehouse.generator import MANIFEST_FILE, RAW_FILES, GeneratorConfig, generate_day
from banking_lakehouse.generator.config import DEFAULT_DEFECT_RATES
from banking_lakehouse.partitions import daily_partitions_def
from banking_lakehouse.resources.lake import LakeResource

RAW_ENTITIES = list(RAW_FILES)


class RawDeliveryConfig(Config):
    """Volume and seed of the generated delivery (the stand-in for the bank's source systems)."""

    rows: int = 100_000
    seed: int = 7
    defect_rates: dict[str, float] = {}  # overrides of the generator's per-code defect rates


@multi_asset(
    specs=[
        AssetSpec(
            ["raw", entity],
            description=f"Delivered {RAW_FILES[entity]} of the day, as received (defects included).",
            group_name="raw",
            kinds={"csv" if RAW_FILES[entity].endswith(".csv") else "json"},
            owners=["team:data-engineering"],
            tags={"layer": "raw"},
        )
        for entity in RAW_ENTITIES
    ],
    partitions_def=daily_partitions_def,
    backfill_policy=BackfillPolicy.single_run(),
)
def raw_delivery(context: AssetExecutionContext, config: RawDeliveryConfig, lake: LakeResource):
    """Takes each day's delivery from the landing zone when it is there, else generates it
    (deterministic in seed, date and rows) straight into the raw zone."""
    started, sources, names = time.perf_counter(), [], list(RAW_FILES.values())
    for d in context.partition_keys:
        landed = lake.landed_delivery(d, names)
        if landed:
            lake.store_raw(landed, d, names)
            sources.append("landing")
            continue
        workdir = lake.raw_workdir(d)
        generate_day(
            GeneratorConfig(
                date=dt.date.fromisoformat(d), rows=config.rows, seed=config.seed,
                defect_rates={**DEFAULT_DEFECT_RATES, **config.defect_rates},
            ),
            workdir,
        )
        lake.store_raw(workdir, d, [*names, MANIFEST_FILE])  # the manifest is the generator's ground truth
        sources.append("generator")
    for entity in RAW_ENTITIES:
        name = RAW_FILES[entity]
        yield MaterializeResult(
            asset_key=["raw", entity],
            metadata={
                "dagster/row_count": sum(lake.raw_rows(d, name) for d in context.partition_keys),
                "bytes_written": sum(lake.raw_bytes(d, name) for d in context.partition_keys),
                "source": ", ".join(sorted(set(sources))),
                "delivery_seconds": round(time.perf_counter() - started, 2),
                "path": lake.raw_uri(context.partition_keys[-1], name),
            },
        )
