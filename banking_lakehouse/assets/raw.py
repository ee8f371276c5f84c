"""Raw zone: the day's delivery as files (CSV/JSON, gzip or not), exactly as the source delivered them.

The source is explicit (`DeliverySource.source`): the landing zone, or the synthetic generator. With
the landing zone a missing or incomplete drop fails the run before anything is stored, so nothing
downstream changes; nothing is ever generated in its place.

Each file is parsed here, once per run (`records.parse_file`, the files of a day in parallel worker
processes): the records Parquet is committed with the delivery, silver reads it, and the counts in
the delivery record come from the same pass. Meanwhile the Spark driver starts (`SparkResource` begins
when the run does).
"""

import datetime as dt
import shutil
import time
import uuid
from pathlib import Path

from dagster import AssetExecutionContext, AssetKey, AssetSpec, BackfillPolicy, Config, MaterializeResult, multi_asset
from pydantic import Field

from banking_lakehouse.assets.core_extraction import DayExtraction, Extractor
from banking_lakehouse.checks.factory import CheckInputs, check_specs, evaluate
from banking_lakehouse.entities import ENTITIES, MASTER_ENTITIES
from banking_lakehouse.generator import MANIFEST_FILE, GeneratorConfig, generate_day
from banking_lakehouse.generator.config import DEFAULT_DEFECT_RATES
from banking_lakehouse.partitions import daily_partitions_def
from banking_lakehouse.resources.core_banking import CoreBankingSource
from banking_lakehouse.resources.delivery import DeliverySource
from banking_lakehouse.resources.lake import LakeResource
from banking_lakehouse.resources.lake.raw_zone import records_file
from banking_lakehouse.transforms.records import FileReport, ParseJob, parse_files
from banking_lakehouse.transforms.silver import file_spec


class RawDeliveryConfig(Config):
    """Volume and seed of a synthetic delivery (used only when the source is `synthetic`)."""

    rows: int = Field(default=100_000, description="Transactions to generate for the day.")
    seed: int = Field(default=7, description="Seed: the same rows, seed and date give byte-identical files.")
    defect_rates: dict[str, float] = Field(
        default={}, description="Overrides of the generator's per-code defect rates (docs/quality.md)."
    )


def _description(path: Path, report: FileReport) -> dict:
    """What the batch record keeps of a delivered file: name, size, checksum, records, blank lines, and
    what its header held beyond or short of the contract."""
    return {
        "file": path.name,
        "bytes": path.stat().st_size,
        "sha256": report.sha256,
        "records": report.records,
        "blank_lines": report.blank_lines,
        "extra_columns": report.extra_columns,
        "missing_optional_columns": report.missing_optional_columns,
    }


def _parse_days(files: dict[str, dict[str, Path]], encoding: str, out: Path) -> dict[str, dict[str, dict]]:
    """Every file of every day parsed into its records (under out/<day>/), the files spread over the
    cores; day -> entity -> description. A file that cannot be read (header, quoting, compression)
    fails here, before anything is stored."""
    keys = [(d, e) for d, by_entity in files.items() for e in by_entity]
    for d in files:
        (out / d).mkdir(parents=True, exist_ok=True)
    reports = parse_files(
        [ParseJob(files[d][e], file_spec(e, files[d][e].name, encoding), out / d / records_file(e)) for d, e in keys]
    )
    described = {key: _description(files[key[0]][key[1]], report) for key, report in zip(keys, reports, strict=True)}
    return {d: {e: described[d, e] for e in by_entity} for d, by_entity in files.items()}


def _records(out: Path, date: str, entities: list[str]) -> dict[str, Path]:
    return {records_file(e): out / date / records_file(e) for e in entities}


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
    check_specs=[spec for entity in MASTER_ENTITIES for spec in check_specs(AssetKey(["raw", entity]))],
    partitions_def=daily_partitions_def,
    backfill_policy=BackfillPolicy.single_run(),
)
def raw_delivery(
    context: AssetExecutionContext,
    config: RawDeliveryConfig,
    lake: LakeResource,
    delivery: DeliverySource,
    core_banking: CoreBankingSource,
):
    """Stores each day's delivery in the raw zone with its record: source, files, sizes, checksums, records.

    Landing drops are all checked (complete, every file readable) before any day is stored. Master entities
    the deployment takes from the core-banking database are extracted for each day just before it is stored.
    """
    dates = list(context.partition_keys)
    context.instance.add_run_tags(context.run_id, {"banking/source": delivery.source})
    from_files = [e for e in ENTITIES if e not in core_banking.entities]
    extractor = Extractor(context.instance, core_banking)
    run_dir = lake.scratch / "deliveries" / uuid.uuid4().hex  # this run's files, until their day is committed
    try:
        if delivery.source == "landing":
            drops = {d: delivery.landed_drop(d, from_files) for d in dates}
            files = {d: delivery.local_files(drops[d], run_dir / "landing" / d) for d in dates}  # S3: fetched once
            described = _parse_days(files, delivery.encoding, run_dir / "records")
            for d in dates:
                started = time.perf_counter()
                stored = {p.name: p for p in files[d].values()} | _records(run_dir / "records", d, from_files)
                delivered = (described[d], "landing", delivery.encoding, drops[d].completed_at)
                _store_day(context, lake, extractor, run_dir, d, stored, delivered, started)
        else:
            for d in dates:
                started = time.perf_counter()
                generated = run_dir / "generated" / d
                generate_day(
                    GeneratorConfig(
                        date=dt.date.fromisoformat(d),
                        rows=config.rows,
                        seed=config.seed,
                        defect_rates={**DEFAULT_DEFECT_RATES, **config.defect_rates},
                    ),
                    generated,
                )
                files = {name: generated / ENTITIES[name].file for name in from_files}
                described = _parse_days({d: files}, "utf-8", run_dir / "records")[d]
                stored = {p.name: p for p in [*files.values(), generated / MANIFEST_FILE]}  # + ground truth
                stored |= _records(run_dir / "records", d, from_files)
                delivered = (described, "synthetic", "utf-8", dt.datetime.now(dt.UTC))
                _store_day(context, lake, extractor, run_dir, d, stored, delivered, started)
                shutil.rmtree(generated, ignore_errors=True)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    for entity in ENTITIES:
        yield MaterializeResult(asset_key=["raw", entity])
    for entity in MASTER_ENTITIES:
        yield from evaluate(context, AssetKey(["raw", entity]), CheckInputs(dates, lake))


def _store_day(
    context: AssetExecutionContext,
    lake: LakeResource,
    extractor: Extractor,
    run_dir: Path,
    date: str,
    stored: dict[str, Path],
    delivered: tuple[dict[str, dict], str, str, dt.datetime],
    started: float,
) -> None:
    """Extracts the day's core entities, then commits the day whole (delivered files, their records, the
    extractions and the batch record) and records each raw asset's numbers. `delivered`: the delivered
    files' descriptions, the source, their encoding and when the delivery completed."""
    described, source, encoding, completed_at = delivered
    extractions = _extract(extractor, lake, date, run_dir / "core" / date)
    entities = described | {e: day.description() for e, day in extractions.items()}
    lake.store_delivery(
        date, stored | _extracted_files(extractions), _record(date, source, encoding, completed_at, entities)
    )
    _add_metadata(context, lake, date, source, described, extractions, time.perf_counter() - started)


def _extract(extractor: Extractor, lake: LakeResource, date: str, work_dir: Path) -> dict[str, DayExtraction]:
    """The day's extraction of every core entity, each applied to its previous state in the raw zone."""
    return {
        entity: extractor.extract(
            entity, date, work_dir, lambda day, e=entity: lake.local_raw_file(day, records_file(e))
        )
        for entity in extractor.source.entities
    }


def _extracted_files(extractions: dict[str, DayExtraction]) -> dict[str, Path]:
    """What the raw zone keeps of an extraction: the extracted rows as the source gave them, and the state."""
    files = {}
    for entity, day in extractions.items():
        files[day.file_name] = day.extracted
        files[records_file(entity)] = day.records
    return files


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
    extractions: dict[str, DayExtraction],
    seconds: float,
) -> None:
    """Each raw asset's own numbers for the day (a range run records every day separately); a core
    entity's carry its extraction window and the bookmark after it."""
    for entity, day in extractions.items():
        context.add_asset_metadata(
            {
                "dagster/row_count": day.extracted_rows,
                "bytes_written": day.extracted.stat().st_size,
                "source": "core",
                "delivery_seconds": round(seconds, 2),
                "path": lake.raw_uri(date, day.file_name),
                **day.metadata(),
            },
            asset_key=["raw", entity],
            partition_key=date,
        )
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
