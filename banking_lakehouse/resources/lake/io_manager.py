"""LakeIOManager: Spark DataFrames in and out of the lake, one partition per daily batch, with each
partition's own numbers (rows, bytes, a preview) recorded on it, also in a multi-day run."""

from __future__ import annotations

import time

from dagster import ConfigurableIOManager, InputContext, MetadataValue, OutputContext, TableColumn, TableSchema
from pyspark.sql import DataFrame

from banking_lakehouse.resources.lake.resource import LakeResource
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


class LakeIOManager(ConfigurableIOManager):
    lake: LakeResource
    spark: SparkResource

    def handle_output(self, context: OutputContext, obj: DataFrame) -> None:
        dates = list(context.asset_partition_keys)
        started = time.perf_counter()
        stats = self.lake.publish(obj, context.asset_key.path, dates)
        metadata = {
            "write_seconds": round(time.perf_counter() - started, 2),
            "path": self.lake.table_uri(context.asset_key.path),
        }
        if "dagster/column_schema" not in (context.definition_metadata or {}):  # contracts declare their own
            metadata["dagster/column_schema"] = TableSchema(
                columns=[TableColumn(f.name, f.dataType.simpleString()) for f in obj.schema.fields]
            )
        context.add_output_metadata(metadata)
        for date, written in stats.items():
            sample = self.lake.head_arrow(context.asset_key.path, date, PREVIEW_ROWS)
            context.step_context.add_asset_metadata(
                {
                    "dagster/row_count": written["rows"],
                    "bytes_written": written["bytes"],
                    "preview": MetadataValue.md(markdown_table(sample.to_pylist())),
                },
                asset_key=context.asset_key,
                partition_key=date,
            )

    def load_input(self, context: InputContext) -> DataFrame:
        return self.lake.read(self.spark.spark_session, context.asset_key.path, list(context.asset_partition_keys))
