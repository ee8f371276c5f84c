"""A delivered file as a Spark DataFrame of records, each with its line number and exact bytes.

`records.parse_file` splits and decodes the file once on the driver (RFC 4180, encodings, gzip) into a
Parquet file of records where every executor can read it (committed with the delivery by the raw
asset, or a staging area of the lake); Spark reads that with an explicit schema. Whole-file problems
raise RawFileError before Spark does any work.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from banking_lakehouse.entities import CHANGE_COLUMNS
from banking_lakehouse.resources.lake.commit import StagingArea
from banking_lakehouse.resources.lake.storage import LocalStorage, copy_file
from banking_lakehouse.transforms.records import FileReport, FileSpec, RawFileError, parse_file

__all__ = ["RawFileError", "read_raw", "read_records"]


def _blank_to_null(column: str) -> Column:
    return F.nullif(F.trim(F.col(column)), F.lit(""))


def read_raw(
    spark: SparkSession, path: Path, spec: FileSpec, area: StagingArea, batch_date: dt.date
) -> tuple[DataFrame, FileReport]:
    """Columns: `_raw` (record as text where it is not the UTF-8 of its bytes), `_raw_bytes` (as delivered),
    `_line` (where it starts), `_file`, `_parse_reason` (a quarantine reason found while reading, or null),
    every field as trimmed string, and the `batch_date` the file was delivered for.
    """
    parsed = area.path(batch_date.isoformat(), f"{spec.name}.parquet")
    if isinstance(area.storage, LocalStorage):
        Path(parsed).parent.mkdir(parents=True, exist_ok=True)
        report = parse_file(path, spec, Path(parsed))
    else:
        with tempfile.TemporaryDirectory() as local:
            report = parse_file(path, spec, Path(local, "records.parquet"))
            copy_file(LocalStorage.fs, str(Path(local, "records.parquet")), area.storage.fs, parsed)
    return read_records(spark, area.spark_uri(parsed), spec, batch_date), report


def read_records(spark: SparkSession, uri: str, spec: FileSpec, batch_date: dt.date) -> DataFrame:
    """The records Parquet `parse_file` (or a core extraction) wrote for a batch, as the columns silver
    classifies; a core record's change and delete times come along, already typed."""
    records = spark.read.parquet(uri)
    return records.select(
        "_raw",
        "_raw_bytes",
        "_line",
        F.lit(spec.name).alias("_file"),
        "_parse_reason",
        *[_blank_to_null(c).alias(c) for c in spec.columns],
        *[c for c in CHANGE_COLUMNS if c in records.columns],
        F.lit(batch_date).alias("batch_date"),
    )
