"""LakeIOManager: Spark DataFrames in and out of the lake, one partition per daily batch, with each
partition's own numbers (rows, bytes, a preview) recorded on it, also in a multi-day run. An asset whose
definition metadata sets `lake/layout: current` has one current table instead (its asset records its rows)."""

from __future__ import annotations

import time

from dagster import ConfigurableIOManager, InputContext, MetadataValue, OutputContext, TableColumn, TableSchema
from pyspark.sql import DataFrame

from banking_lakehouse.resources.lake.resource import LakeResource
from banking_lakehouse.resources.lake.tables import CURRENT, LAYOUT
from banking_lakehouse.resources.spark import SparkResource

PREVIEW_ROWS = 5


def markdown_table(rows: list[dict]) -> str:
    """A few rows as a Markdown table, for previews and check examples in the UI."""
    if not rows:
        return "_no rows_"
    head = list(rows[0])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(r[h]) for h in head) + " |" for r in rows]
    return "\n".join(lines)


def is_current(definition_metadata: dict | None) -> bool:
    return (definition_metadata or {}).get(LAYOUT) == CURRENT


class LakeIOManager(ConfigurableIOManager):
    lake: LakeResource
    spark: SparkResource

    def handle_output(self, context: OutputContext, obj: DataFrame) -> None:
        key_path = context.asset_key.path
        current = is_current(context.definition_metadata)
        started = time.perf_counter()
        if current:
            per_date = {None: self.lake.publish_current(obj, key_path)}
        else:
            per_date = self.lake.publish(obj, key_path, list(context.asset_partition_keys))
        metadata = {
            "write_seconds": round(time.perf_counter() - started, 2),
            "path": self.lake.table_uri(key_path),
        }
        if "dagster/column_schema" not in (context.definition_metadata or {}):  # contracts declare their own
            metadata["dagster/column_schema"] = TableSchema(
                columns=[TableColumn(f.name, f.dataType.simpleString()) for f in obj.schema.fields]
            )
        for date, written in per_date.items():
            sample = self.lake.head_arrow(key_path, date, PREVIEW_ROWS)
            numbers = {
                "bytes_written": written["bytes"],
                "preview": MetadataValue.md(markdown_table(sample.to_pylist())),
            }
            if current:  # the run's one version; its asset records the table's rows after each day of the run
                metadata |= numbers
            else:
                context.step_context.add_asset_metadata(
                    {"dagster/row_count": written["rows"], **numbers}, asset_key=context.asset_key, partition_key=date
                )
        context.add_output_metadata(metadata)

    def load_input(self, context: InputContext) -> DataFrame:
        """A partitioned table's partitions of the run; a current table's current version."""
        current = context.upstream_output is not None and is_current(context.upstream_output.definition_metadata)
        dates = [None] if current else list(context.asset_partition_keys)
        return self.lake.read(self.spark.spark_session, context.asset_key.path, dates)
