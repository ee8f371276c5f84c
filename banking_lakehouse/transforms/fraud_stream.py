"""The fraud rules that can judge a transaction as it arrives (docs/fraud.md, "Alerts within a minute").

Delivered rows (every field a string, as the landing contract names them) are typed as silver types them and
keyed as gold keys them, then:

- `large_amount` is stateless: each row is judged alone;
- `card_testing`, `velocity` and `impossible_travel` look at one account's transactions within at most
  RULE_HORIZON_SECONDS. The stream groups each account's transactions into event-time windows twice that
  long, starting every RULE_HORIZON_SECONDS: any group of transactions within the horizon lies whole in one
  of them, so the daily rules' own window functions (transforms/fraud.py), run inside each window, fire
  exactly where they fire over the whole history. A watermark bounds how long a window is kept.

The functions here are DataFrame -> DataFrame (no I/O): the streaming plumbing is assets/fraud_alerts.py.
"""

from __future__ import annotations

import operator
from functools import reduce

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from banking_lakehouse import reference as ref
from banking_lakehouse.entities import TRANSACTIONS
from banking_lakehouse.transforms.fraud import (
    RULE_HORIZON_SECONDS,
    card_testing,
    impossible_travel,
    large_amount,
    previous_card_use,
    velocity,
)
from banking_lakehouse.transforms.gold import surrogate_key
from banking_lakehouse.transforms.silver import amount_in_usd, normalized_country, parse_amount, parse_timestamp

STREAM_RULES = ("large_amount", "card_testing", "velocity", "impossible_travel")
WINDOWED_RULES = STREAM_RULES[1:]
# The delivered file as the contract declares it: every column a string, typed below as silver types it.
DELIVERED_SCHEMA = StructType([StructField(c, StringType()) for c in TRANSACTIONS.columns])
# An alert row, as gold.fraud_alerts holds it (alerted_at is the warehouse's clock).
ALERT_COLUMNS = (
    "transaction_id",
    "rule",
    "transaction_ts",
    "account_key",
    "customer_key",
    "merchant_key",
    "amount_usd",
    "source_file",
    "delivery_date",
)
_EVENT_COLUMNS = [c for c in ALERT_COLUMNS if c not in ("rule", "account_key")] + ["country", "is_card_present"]


def _field(column: str) -> Column:
    return F.nullif(F.trim(F.col(column)), F.lit(""))


def scored_transactions(delivered: DataFrame, source: Column, delivery_date: Column, secret: str) -> DataFrame:
    """The rows the rules can judge: typed as silver types them (amounts exact, timestamps UTC, USD by the
    reference rates), ids as gold's keyed-hash keys (never in clear). A row silver would quarantine for a
    missing id, an unparseable or non-positive amount, an unknown currency or an unparseable timestamp is
    left out; the daily batch quarantines it. `source`: where the row came from (`date=YYYY-MM-DD/<file>`);
    `delivery_date`: the batch (load) date it belongs to."""
    amount = parse_amount("amount")
    ids = {c: _field(c) for c in TRANSACTIONS.required if c.endswith("_id")}
    typed = delivered.select(
        *[column.alias(name) for name, column in ids.items()],
        parse_timestamp("transaction_ts").alias("transaction_ts"),
        amount.alias("_amount"),
        amount_in_usd(amount, F.upper(F.trim(F.col("currency")))).alias("amount_usd"),
        normalized_country("country").alias("country"),
        F.lower(F.trim(F.col("channel"))).isin(*ref.CARD_PRESENT_CHANNELS).alias("is_card_present"),
        source.alias("source_file"),
        delivery_date.alias("delivery_date"),
    )
    judged = [F.col(c).isNotNull() for c in [*ids, "transaction_ts", "amount_usd"]] + [F.col("_amount") > 0]
    return typed.where(reduce(operator.and_, judged)).select(
        "transaction_id",
        "transaction_ts",
        *[surrogate_key(c, secret).alias(c.replace("_id", "_key")) for c in ids if c != "transaction_id"],
        "amount_usd",
        (F.col("amount_usd") > ref.OUTLIER_THRESHOLD).alias("is_outlier"),
        "country",
        "is_card_present",
        "source_file",
        "delivery_date",
    )


def large_amount_alerts(scored: DataFrame) -> DataFrame:
    """`large_amount`, judged row by row."""
    return scored.where(large_amount()).select(
        "transaction_id", F.lit("large_amount").alias("rule"), *ALERT_COLUMNS[2:]
    )


def account_windows(scored: DataFrame, watermark: str) -> DataFrame:
    """Per account and event-time window (2 x RULE_HORIZON_SECONDS long, one every RULE_HORIZON_SECONDS)
    its transactions so far; windows ending before the watermark (the latest event time seen, less
    `watermark`) are dropped from the state, and rows older than it are not counted."""
    horizon = f"{RULE_HORIZON_SECONDS} seconds"
    return (
        scored.withWatermark("transaction_ts", watermark)
        .groupBy("account_key", F.window("transaction_ts", f"{2 * RULE_HORIZON_SECONDS} seconds", horizon))
        .agg(F.collect_list(F.struct(*_EVENT_COLUMNS)).alias("events"))
    )


def flagged_events(windows: DataFrame) -> DataFrame:
    """Each window's transactions (a re-delivered copy of an id once) with the windowed rules' columns;
    `impossible_travel` still without the customer's home country (see `windowed_alerts`)."""
    group = ["account_key", "window"]
    events = (
        windows.select(*group, F.explode("events").alias("e"))
        .select(*group, "e.*")
        .dropDuplicates([*group, "transaction_id"])
        .withColumn("_epoch", F.col("transaction_ts").cast("long"))
    )
    return events.withColumns(
        {"card_testing": card_testing(group), "velocity": velocity(group), **previous_card_use(group)}
    ).withColumn("_travel", impossible_travel(F.lit(None)))


def travellers(events: DataFrame) -> DataFrame:
    """customer_key of every customer `impossible_travel` may fire on, once its home country is known."""
    return events.where("_travel").select("customer_key").distinct()


def windowed_alerts(events: DataFrame, homes: DataFrame) -> DataFrame:
    """The windowed rules' alerts, once per transaction and rule. `homes`: (customer_key, country) for
    `travellers`; a customer without a row is judged as the daily rule judges an unknown home."""
    judged = events.join(
        F.broadcast(homes.select("customer_key", F.col("country").alias("_home"))), "customer_key", "left"
    ).withColumn("impossible_travel", impossible_travel(F.col("_home")))
    fired = F.array_compact(F.array(*[F.when(F.col(r), F.lit(r)) for r in WINDOWED_RULES]))
    return (
        judged.select("transaction_id", F.explode(fired).alias("rule"), *ALERT_COLUMNS[2:]).dropDuplicates(
            ["transaction_id", "rule"]
        )  # a transaction lies in two windows
    )
