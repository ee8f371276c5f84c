"""Reads a delivered file line by line, keeping each record exactly as delivered with its line number.

Whole-file problems (missing, empty, wrong header or delimiter, truncated) stop the run with a
RawFileError naming the file; a single bad line becomes a `malformed_record` quarantine row.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession, Window, functions as F


class RawFileError(ValueError):
    """A delivered file that cannot be processed at all."""


def _check_file(path: Path, columns: list[str], fmt: str) -> None:
    if not path.is_file():
        raise RawFileError(f"{path}: file is missing")
    size = path.stat().st_size
    if size == 0:
        raise RawFileError(f"{path}: file is empty")
    with path.open("rb") as handle:
        handle.seek(size - 1)
        if handle.read(1) != b"\n":
            raise RawFileError(f"{path}: file is truncated (last line has no line ending)")
        handle.seek(0)
        first = handle.readline().decode("utf-8", errors="replace").rstrip("\r\n")
    if fmt == "csv":
        header = next(csv.reader(io.StringIO(first)), [])
        if header != columns:
            hint = " (wrong delimiter?)" if len(header) == 1 and len(columns) > 1 else ""
            raise RawFileError(f"{path}: line 1: header {header} does not match expected {columns}{hint}")
        if size == len(first) + 1:
            raise RawFileError(f"{path}: file has a header but no data rows")


def _line_numbers(df: DataFrame) -> DataFrame:
    """1-based file line of each row, from split offsets and each split's row ids (no Python UDF)."""
    ids = df.select(
        F.input_file_block_start().alias("_block"), F.monotonically_increasing_id().alias("_mid")
    )
    blocks = ids.groupBy("_block").agg(F.min("_mid").alias("_first_mid"), F.count("*").alias("_rows"))
    before = F.coalesce(F.sum("_rows").over(Window.orderBy("_block").rowsBetween(Window.unboundedPreceding, -1)), F.lit(0))
    blocks = blocks.select("_block", "_first_mid", before.alias("_lines_before"))
    return (
        df.withColumn("_block", F.input_file_block_start())
        .withColumn("_mid", F.monotonically_increasing_id())
        .join(F.broadcast(blocks), "_block")
        .withColumn("_line", (F.col("_lines_before") + F.col("_mid") - F.col("_first_mid") + 1).cast("int"))
        .drop("_block", "_mid", "_first_mid", "_lines_before")
    )


def _blank_to_null(column: str) -> Column:
    return F.nullif(F.trim(F.col(column)), F.lit(""))


def read_raw(spark: SparkSession, path: Path, columns: list[str], fmt: str) -> DataFrame:
    """Columns: `_raw` (line as delivered), `_line`, `_file`, `_malformed`, and every field as trimmed string."""
    _check_file(path, columns, fmt)
    text = spark.read.text(str(path)).withColumnRenamed("value", "_raw")
    numbered = _line_numbers(text)
    schema = ", ".join(f"`{c}` string" for c in columns) + ", `_corrupt` string"
    if fmt == "csv":
        numbered = numbered.where(F.col("_line") > 1)
        parsed = F.from_csv("_raw", schema, {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": "_corrupt"})
    else:
        parsed = F.from_json("_raw", schema, {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": "_corrupt"})
    return numbered.select(
        "_raw",
        "_line",
        F.lit(path.name).alias("_file"),
        parsed.alias("_p"),
    ).select(
        "_raw",
        "_line",
        "_file",
        (F.col("_p._corrupt").isNotNull() | F.col("_p").isNull()).alias("_malformed"),
        *[F.col(f"_p.`{c}`").alias(c) for c in columns],
    ).select("_raw", "_line", "_file", "_malformed", *[_blank_to_null(c).alias(c) for c in columns])
