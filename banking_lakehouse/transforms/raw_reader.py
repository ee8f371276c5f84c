"""A delivered file as a Spark DataFrame of records, each with its line number and exact bytes.

`records.parse_file` splits and decodes the file once (RFC 4180, encodings, gzip) into a Parquet
file of records; Spark reads that with an explicit schema. Whole-file problems raise RawFileError
before Spark does any work.
"""

from __future__ import annotations

from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession, functions as F

from banking_lakehouse.transforms.records import FileReport, FileSpec, RawFileError, parse_file

__all__ = ["RawFileError", "read_raw"]


def _blank_to_null(column: str) -> Column:
    return F.nullif(F.trim(F.col(column)), F.lit(""))


def read_raw(spark: SparkSession, path: Path, spec: FileSpec, work_dir: Path) -> tuple[DataFrame, FileReport]:
    """Columns: `_raw` (record as text where it is not the UTF-8 of its bytes), `_raw_bytes` (as delivered), `_line` (where it starts), `_file`,
    `_parse_reason` (a quarantine reason found while reading, or null) and every field as trimmed string.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    parsed = work_dir / f"{spec.name}.parquet"
    report = parse_file(path, spec, parsed)
    df = spark.read.parquet(str(parsed)).select(
        "_raw", "_raw_bytes", "_line", F.lit(spec.name).alias("_file"), "_parse_reason",
        *[_blank_to_null(c).alias(c) for c in spec.columns],
    )
    return df, report
