"""Raw zone: the day's delivery as files (CSV/JSON, gzip or not), exactly as the source delivered them.

The source is explicit (`DeliverySource.source`): the landing zone, or the synthetic generator. With
the landing zone a missing or incomplete drop fails the run before anything is stored, so nothing
downstream changes; nothing is ever generated in its place.
"""

import datetime as dt
import hashlib
import shutil
import time
import uuid
from pathlib import Path

from dagster import AssetExecutionContext, AssetSpec, BackfillPolicy, Config, MaterializeResult, multi_asset

from banking_lakehouse.generator import MANIFEST_FILE, RAW_FILES, GeneratorConfig, generate_day
from banking_lakehouse.generator.config import DEFAULT_DEFECT_RATES
from banking_lakehouse.partitions import daily_partitions_def
from banking_lakehouse.resources.delivery import DeliverySource, raw_format
from banking_lakehouse.resources.lake import LakeResource
from banking_lakehouse.transforms.records import count_records

RAW_ENTITIES = list(RAW_FILES)
HASH_CHUNK_BYTES = 8 << 20


class RawDeliveryConfig(Config):
    """Volume and seed of a synthetic delivery (used only when the source is `synthetic`)."""

    rows: int = 100_000
    seed: int = 7
    defect_rates: dict[str, float] = {}  # overrides of the generator's per-code defect rates


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _describe(entity: str, path: Path) -> dict:
    """What the batch record keeps of a delivered file: name, size, checksum, records, blank lines."""
    counted = count_records(path, path.name, raw_format(entity))
    return {"file": path.name, "bytes": path.stat().st_size, "sha256": _sha256(path),
            "records": counted.records, "blank_lines": counted.blank_lines}


@multi_asset(
    specs=[
        AssetSpec(
            ["raw", entity],
            description=f"Delivered {RAW_FILES[entity]} (or .gz) of the day, as received (defects included).",
            group_name="raw",
            kinds={raw_format(entity)},
            owners=["team:data-engineering"],
            tags={"layer": "raw"},
        )
        for entity in RAW_ENTITIES
    ],
    partitions_def=daily_partitions_def,
    backfill_policy=BackfillPolicy.single_run(),
)
def raw_delivery(context: AssetExecutionContext, config: RawDeliveryConfig, lake: LakeResource,
                 delivery: DeliverySource):
    """Stores each day's delivery in the raw zone with its record: source, files, sizes, checksums, records."""
    dates = list(context.partition_keys)
    drops = {d: delivery.landed_drop(d) for d in dates} if delivery.source == "landing" else {}
    context.instance.add_run_tags(context.run_id, {"banking/source": delivery.source})
    for d in dates:
        started = time.perf_counter()
        workdir = lake.scratch / "deliveries" / uuid.uuid4().hex
        try:
            if delivery.source == "landing":
                files, completed_at = drops[d].files, drops[d].completed_at
                extra = {}
            else:
                generate_day(
                    GeneratorConfig(date=dt.date.fromisoformat(d), rows=config.rows, seed=config.seed,
                                    defect_rates={**DEFAULT_DEFECT_RATES, **config.defect_rates}),
                    workdir,
                )
                files, completed_at = {e: workdir / RAW_FILES[e] for e in RAW_ENTITIES}, dt.datetime.now(dt.UTC)
                extra = {MANIFEST_FILE: workdir / MANIFEST_FILE}  # the generator's ground truth, never read by the pipeline
            entities = {e: _describe(e, path) for e, path in files.items()}
            record = {
                "date": d, "source": delivery.source, "encoding": delivery.encoding if delivery.source == "landing" else "utf-8",
                "completed_at": completed_at.isoformat(), "ingested_at": dt.datetime.now(dt.UTC).isoformat(),
                "entities": entities,
            }
            lake.store_delivery(d, {p.name: p for p in [*files.values(), *extra.values()]}, record)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        for entity, described in entities.items():
            context.add_asset_metadata(
                {
                    "dagster/row_count": described["records"],
                    "bytes_written": described["bytes"],
                    "blank_lines": described["blank_lines"],
                    "sha256": described["sha256"],
                    "source": delivery.source,
                    "delivery_seconds": round(time.perf_counter() - started, 2),
                    "path": lake.raw_uri(d, described["file"]),
                },
                asset_key=["raw", entity],
                partition_key=d,
            )
    for entity in RAW_ENTITIES:
        yield MaterializeResult(asset_key=["raw", entity])
