"""Raw zone: the day's delivery as files (CSV/JSON, gzip or not), exactly as the source delivered them.

The source is explicit (`DeliverySource.source`): the landing zone, or the synthetic generator. With
the landing zone a missing or incomplete drop fails the run before anything is stored, so nothing
downstream changes; nothing is ever generated in its place.
"""

import datetime as dt
import shutil
import time
import uuid
from pathlib import Path

from dagster import AssetExecutionContext, AssetSpec, BackfillPolicy, Config, MaterializeResult, multi_asset

from banking_lakehouse.entities import ENTITIES
from banking_lakehouse.generator import MANIFEST_FILE, GeneratorConfig, generate_day
from banking_lakehouse.generator.config import DEFAULT_DEFECT_RATES
from banking_lakehouse.partitions import daily_partitions_def
from banking_lakehouse.resources.delivery import DeliverySource
from banking_lakehouse.resources.lake import LakeResource
from banking_lakehouse.transforms.records import inspect_file
from banking_lakehouse.transforms.silver import file_spec


class RawDeliveryConfig(Config):
    """Volume and seed of a synthetic delivery (used only when the source is `synthetic`)."""

    rows: int = 100_000
    seed: int = 7
    defect_rates: dict[str, float] = {}  # overrides of the generator's per-code defect rates


def _describe(entity: str, path: Path, encoding: str) -> dict:
    """What the batch record keeps of a delivered file: name, size, checksum, records, blank lines.
    A file that cannot be read (header, quoting, compression) fails here, before anything is stored."""
    counted = inspect_file(path, file_spec(entity, path.name, encoding))
    return {
        "file": path.name,
        "bytes": path.stat().st_size,
        "sha256": counted.sha256,
        "records": counted.records,
        "blank_lines": counted.blank_lines,
    }


@multi_asset(
    specs=[
        AssetSpec(
            ["raw", entity.name],
            description=f"Delivered {entity.file} (or .gz) of the day, as received (defects included).",
            group_name="raw",
            kinds={entity.format},
            owners=["team:data-engineering"],
            tags={"layer": "raw"},
        )
        for entity in ENTITIES.values()
    ],
    partitions_def=daily_partitions_def,
    backfill_policy=BackfillPolicy.single_run(),
)
def raw_delivery(
    context: AssetExecutionContext, config: RawDeliveryConfig, lake: LakeResource, delivery: DeliverySource
):
    """Stores each day's delivery in the raw zone with its record: source, files, sizes, checksums, records.

    Landing drops are all checked (complete, every file readable) before any day is stored.
    """
    dates = list(context.partition_keys)
    context.instance.add_run_tags(context.run_id, {"banking/source": delivery.source})
    if delivery.source == "landing":
        drops = {d: delivery.landed_drop(d) for d in dates}
        workdir = lake.scratch / "landing" / uuid.uuid4().hex  # an S3 landing zone's files, fetched once
        try:
            files = {d: delivery.local_files(drops[d], workdir / d) for d in dates}
            described = {d: _describe_files(files[d], delivery.encoding) for d in dates}
            for d in dates:
                started = time.perf_counter()
                lake.store_delivery(
                    d,
                    {p.name: p for p in files[d].values()},
                    _record(d, "landing", delivery.encoding, drops[d].completed_at, described[d]),
                )
                _add_metadata(context, lake, d, "landing", described[d], time.perf_counter() - started)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    else:
        for d in dates:
            started = time.perf_counter()
            workdir = lake.scratch / "deliveries" / uuid.uuid4().hex
            try:
                generate_day(
                    GeneratorConfig(
                        date=dt.date.fromisoformat(d),
                        rows=config.rows,
                        seed=config.seed,
                        defect_rates={**DEFAULT_DEFECT_RATES, **config.defect_rates},
                    ),
                    workdir,
                )
                files = {name: workdir / e.file for name, e in ENTITIES.items()}
                described = _describe_files(files, "utf-8")
                stored = {p.name: p for p in [*files.values(), workdir / MANIFEST_FILE]}  # + the ground truth
                lake.store_delivery(d, stored, _record(d, "synthetic", "utf-8", dt.datetime.now(dt.UTC), described))
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
            _add_metadata(context, lake, d, "synthetic", described, time.perf_counter() - started)
    for entity in ENTITIES:
        yield MaterializeResult(asset_key=["raw", entity])


def _describe_files(files: dict[str, Path], encoding: str) -> dict[str, dict]:
    return {entity: _describe(entity, path, encoding) for entity, path in files.items()}


def _record(date: str, source: str, encoding: str, completed_at: dt.datetime, entities: dict) -> dict:
    """The batch record kept in the raw zone's manifest (and loaded into quality.batches)."""
    return {
        "date": date,
        "source": source,
        "encoding": encoding,
        "completed_at": completed_at.isoformat(),
        "ingested_at": dt.datetime.now(dt.UTC).isoformat(),
        "entities": entities,
    }


def _add_metadata(
    context: AssetExecutionContext,
    lake: LakeResource,
    date: str,
    source: str,
    described: dict[str, dict],
    seconds: float,
) -> None:
    """Each raw asset's own numbers for the day (a range run records every day separately)."""
    for entity, file in described.items():
        context.add_asset_metadata(
            {
                "dagster/row_count": file["records"],
                "bytes_written": file["bytes"],
                "blank_lines": file["blank_lines"],
                "sha256": file["sha256"],
                "source": source,
                "delivery_seconds": round(seconds, 2),
                "path": lake.raw_uri(date, file["file"]),
            },
            asset_key=["raw", entity],
            partition_key=date,
        )
