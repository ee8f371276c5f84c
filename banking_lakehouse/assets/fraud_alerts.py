"""Fraud alerts within a minute of a drop: Spark Structured Streaming over the landing zone's complete drops
(`resources/alert_stream.py`), the rules of `transforms/fraud_stream.py`, alerts into `gold.fraud_alerts`.

Each run drains what arrived since the last (`Trigger.AvailableNow`, one file per micro-batch) and stops, so it
runs as an ordinary Dagster asset, started by `fraud_alerts_sensor` when a drop completes. Exactly once: the
checkpoint records the files each micro-batch read and commits a batch only after its sink returned; the sink
inserts a batch's alerts in one transaction (COPY into a staging table, INSERT … ON CONFLICT DO NOTHING on
(transaction_id, rule)), so a batch replayed after a crash inserts nothing twice.
"""

import time
from collections import Counter
from collections.abc import Callable
from typing import Literal

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    BackfillPolicy,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
)
from psycopg import sql
from pydantic import Field
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from banking_lakehouse import settings
from banking_lakehouse.resources.alert_stream import StreamLocation
from banking_lakehouse.resources.delivery import DeliverySource
from banking_lakehouse.resources.lake import LakeResource
from banking_lakehouse.resources.pii import PiiKeyResource
from banking_lakehouse.resources.postgres import PostgresResource
from banking_lakehouse.resources.spark import SparkResource
from banking_lakehouse.sql import read_sql
from banking_lakehouse.transforms.fraud_stream import (
    DELIVERED_SCHEMA,
    STREAM_RULES,
    account_windows,
    flagged_events,
    large_amount_alerts,
    scored_transactions,
    travellers,
    windowed_alerts,
)

FRAUD_ALERTS_KEY = AssetKey(["warehouse", "fraud_alerts"])
RECONCILED_CHECK = "alerts_reconciled_with_daily_rules"
FRAUD_ALERTS_POOL = "fraud_alerts"  # one slot (the instance's default limit): one stream run, one checkpoint user
STAGE_TABLE = sql.Identifier("fraud_alerts_stage")
SHUFFLE_PARTITIONS = "spark.sql.shuffle.partitions"
HOMES_SCHEMA = "customer_key bigint, country string"
DROP_PATH = r"(date=([0-9]{4}-[0-9]{2}-[0-9]{2}))/delivery=[0-9]+/([^/]+)$"


class FraudAlertsConfig(Config):
    """How the stream reads and how long it waits for late transactions."""

    checkpoint: str = Field(
        default=settings.stream_checkpoint(),
        description="root of the stream's checkpoint and admitted files (BANKING_STREAM_CHECKPOINT); "
        "empty: the lake's _streams/fraud_alerts",
    )
    watermark: str = Field(
        default="3 days",
        description="how late a transaction may arrive and still count in the windowed rules (the landing "
        "contract's late arrivals are up to 3 days old)",
    )
    source: Literal["files", "kafka"] = Field(
        default=settings.stream_source(), description="files: the landing zone; kafka: BANKING_STREAM_SOURCE=kafka"
    )
    state_partitions: int = Field(
        default=4,
        description="partitions of the windowed rules' state (fixed when the checkpoint is created): few on one "
        "machine, where every partition costs each micro-batch a task; more on a cluster",
    )


class AlertSink:
    """Writes alert DataFrames to gold.fraud_alerts, each in one transaction, and counts what was new."""

    def __init__(self, postgres: PostgresResource):
        self.postgres = postgres
        self.inserted: Counter[str] = Counter()

    def write(self, alerts: DataFrame) -> None:
        rows = alerts.toArrow()
        if rows.num_rows == 0:
            return
        with self.postgres.connect() as conn:
            conn.execute(read_sql("fraud_alerts/stage.sql"))
            self.postgres.copy_rows(conn, STAGE_TABLE, rows)
            self.inserted.update(rule for (rule,) in conn.execute(read_sql("fraud_alerts/insert.sql")).fetchall())

    def write_large_amounts(self, alerts: DataFrame, _batch_id: int) -> None:
        self.write(alerts)

    def write_windows(self, windows: DataFrame, _batch_id: int) -> None:
        """The windowed rules over the windows this micro-batch changed; the home countries
        `impossible_travel` needs come from the warehouse's current customers. The batch is computed once
        (its state read once): a batch that only moved the watermark changed no window and writes nothing."""
        windows = windows.persist()
        events = flagged_events(windows).persist()
        try:
            if windows.isEmpty():
                return
            keys = [row.customer_key for row in travellers(events).collect()]
            homes = self.postgres.fetch(read_sql("fraud_alerts/homes.sql"), {"customer_keys": keys}) if keys else []
            self.write(windowed_alerts(events, windows.sparkSession.createDataFrame(homes, HOMES_SCHEMA)))
        finally:
            events.unpersist()
            windows.unpersist()


def delivered_transactions(
    spark: SparkSession, location: StreamLocation, source: str, encoding: str
) -> tuple[DataFrame, Column, Column]:
    """The delivered rows as a stream of strings, where each came from, and its drop's date. Files: the
    admitted drops, one file per micro-batch. Kafka (BANKING_STREAM_KAFKA_OPTIONS, e.g.
    `kafka.bootstrap.servers=broker:9092 subscribe=transactions`): one CSV line per message, in the
    contract's column order, its drop the day Kafka stamped it."""
    if source == "kafka":
        ddl = ", ".join(f"`{f.name}` STRING" for f in DELIVERED_SCHEMA)
        messages = spark.readStream.format("kafka").options(**settings.key_value_pairs("BANKING_STREAM_KAFKA_OPTIONS"))
        rows = messages.load().select(
            F.from_csv(F.col("value").cast("string"), ddl).alias("row"), "topic", "partition", "offset", "timestamp"
        )
        where = F.format_string("kafka:%s/%d@%d", "topic", "partition", "offset")
        return rows.select("row.*", "topic", "partition", "offset", "timestamp"), where, F.to_date("timestamp")
    rows = (
        spark.readStream.schema(DELIVERED_SCHEMA)
        .option("header", True)
        .option("multiLine", True)  # RFC 4180: quoted fields may hold line breaks
        .option("escape", '"')  # and doubled quotes
        .option("encoding", encoding)
        .option("maxFilesPerTrigger", 1)  # one drop per micro-batch: a crash replays one drop at most
        .csv(location.input_glob)
        .withColumn("_path", F.col("_metadata.file_path"))
    )
    where = F.concat_ws("/", F.regexp_extract("_path", DROP_PATH, 1), F.regexp_extract("_path", DROP_PATH, 3))
    return rows, where, F.to_date(F.regexp_extract("_path", DROP_PATH, 2))


def run_alert_stream(
    spark: SparkSession,
    location: StreamLocation,
    secret: str,
    sink: AlertSink,
    config: FraudAlertsConfig,
    encoding: str = "utf-8",
) -> dict[str, int]:
    """Runs the stateless and the windowed query until each has read everything available, then stops;
    the input rows each read. A failure of either stops both and raises (the checkpoint keeps what committed)."""
    rows, where, delivery_date = delivered_transactions(spark, location, config.source, encoding)
    scored = scored_transactions(rows, where, delivery_date, secret)
    queries: dict[str, tuple[DataFrame, str, Callable]] = {
        "large_amount": (large_amount_alerts(scored), "append", sink.write_large_amounts),
        "windowed": (account_windows(scored, config.watermark), "update", sink.write_windows),
    }
    # A query keeps the session's settings it started with (its checkpoint, the state's partitions).
    previous = spark.conf.get(SHUFFLE_PARTITIONS)
    spark.conf.set(SHUFFLE_PARTITIONS, str(config.state_partitions))
    try:
        started = [
            frame.writeStream.queryName(f"fraud_alerts_{name}")
            .outputMode(mode)
            .foreachBatch(write)
            .option("checkpointLocation", location.checkpoint(name))
            .trigger(availableNow=True)
            .start()
            for name, (frame, mode, write) in queries.items()
        ]
    finally:
        spark.conf.set(SHUFFLE_PARTITIONS, previous)
    try:
        for query in started:
            query.awaitTermination()
    finally:
        for query in started:
            query.stop()
    return {
        name: sum(p["numInputRows"] for p in query.recentProgress) for name, query in zip(queries, started, strict=True)
    }


def reconciliation(postgres: PostgresResource, location: StreamLocation) -> AssetCheckResult:
    """Per drop the daily pipeline has loaded and rule both have: the alerts it confirms, and the differences."""
    streamed = sorted({d.split("/")[0].removeprefix("date=") for d in location.admitted_drops()})
    rows = postgres.fetch(read_sql("fraud_alerts/reconcile.sql"), {"streamed": streamed, "rules": list(STREAM_RULES)})
    totals = {k: sum(r[i] for r in rows) for i, k in enumerate(["alerts", "confirmed", "stream_only", "daily_only"], 2)}
    table = "\n".join(
        ["| batch | rule | alerts | confirmed | stream only | daily only |", "|---|---|---|---|---|---|"]
        + [f"| {d} | {r} | {a} | {c} | {s} | {o} |" for d, r, a, c, s, o in rows]
    )
    return AssetCheckResult(
        check_name=RECONCILED_CHECK,
        passed=totals["stream_only"] == 0 and totals["daily_only"] == 0,
        severity=AssetCheckSeverity.WARN,
        metadata={
            **{k: MetadataValue.int(v) for k, v in totals.items()},
            "batches_reconciled": MetadataValue.int(len({r[0] for r in rows})),
            "per_batch_and_rule": MetadataValue.md(table),
        },
    )


@asset(
    key=FRAUD_ALERTS_KEY,
    group_name="fraud",
    kinds={"spark", "postgres"},
    owners=["team:fraud-analytics"],
    tags={"layer": "stream"},
    pool=FRAUD_ALERTS_POOL,
    # No partitions to batch, but an operator's `--select '*' --partition-range …` needs every asset single-run.
    backfill_policy=BackfillPolicy.single_run(),
    description="Near-real-time fraud alerts (large amount, card testing, velocity, impossible travel) from a "
    "Spark Structured Streaming query over the landing zone's complete drops; each file scored exactly once.",
    check_specs=[
        AssetCheckSpec(
            RECONCILED_CHECK,
            asset=FRAUD_ALERTS_KEY,
            description="every alert of a drop the daily pipeline loaded is flagged by gold.fraud_transactions "
            "for the same rule, and the reverse; differences counted per batch and rule",
        )
    ],
)
def fraud_alerts(
    context: AssetExecutionContext,
    config: FraudAlertsConfig,
    spark: SparkResource,
    lake: LakeResource,
    delivery: DeliverySource,
    postgres: PostgresResource,
    pii: PiiKeyResource,
):
    """Not partitioned: the stream's unit is a delivered file, tracked by its checkpoint, not a day."""
    started = time.monotonic()
    postgres.ensure_schema()
    location = StreamLocation.of(lake, config.checkpoint)
    admitted = location.admit_complete_drops(delivery) if config.source == "files" else None
    for date, reason in (admitted.refused if admitted else {}).items():
        context.log.warning(f"fraud alerts: drop {date} not scored: {reason}")
    sink = AlertSink(postgres)
    if config.source == "files" and not location.admitted_drops():
        context.log.info("fraud alerts: no complete drop in the landing zone yet, nothing to score")
        rows_read = {"large_amount": 0}  # and no Spark session started
    else:
        rows_read = run_alert_stream(spark.spark_session, location, pii.key, sink, config, delivery.encoding)
    yield MaterializeResult(
        metadata={
            "rows_read": MetadataValue.int(rows_read["large_amount"]),
            "drops_admitted": MetadataValue.int(len(admitted.drops) if admitted else 0),
            "drops_refused": MetadataValue.int(len(admitted.refused) if admitted else 0),
            **{f"new_alerts_{rule}": MetadataValue.int(sink.inserted[rule]) for rule in STREAM_RULES},
            "alerts_total": MetadataValue.int(postgres.count_rows("gold.fraud_alerts")),
            "stream_seconds": MetadataValue.float(round(time.monotonic() - started, 3)),
        }
    )
    yield reconciliation(postgres, location)
