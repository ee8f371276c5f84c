"""The fact's load by partition exchange (sql/fact_partitions.sql): each month of a batch is COPied into a fresh
unindexed table, indexed once, and swapped for the batch's old leaf. Maintaining the indexes row by row during
the COPY costs several times more than building them once afterwards.

All of it is one transaction: a load that dies leaves nothing behind, and COPY FREEZE (allowed into a table
created in the same transaction) writes rows already frozen and all-visible, so neither the index builds nor
the first readers rewrite every page to set hint bits, and index-only scans work at once. Only the exchange
at its end locks what readers use, until the commit right after."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
from psycopg import sql

if TYPE_CHECKING:
    from banking_lakehouse.resources.postgres import PostgresResource

FACT_TABLE = "gold.fact_transactions"


@dataclass(frozen=True)
class Exchanged:
    rows: int  # rows of the batch's leaves now
    rows_replaced: int  # rows of the batch's leaves before the exchange
    months: list[dt.date]  # first days of the months the batch's leaves are in now


def months_of(dates: pa.Array) -> list[dt.date]:
    return sorted({d.replace(day=1) for d in pc.unique(dates).to_pylist()})


def _in_month(month: dt.date) -> pc.Expression:
    following = (month + dt.timedelta(days=32)).replace(day=1)
    date = pc.field("transaction_date")
    return (date >= pc.scalar(month)) & (date < pc.scalar(following))


def exchange_batch(postgres: PostgresResource, data: pa.Table | pads.Dataset, batch_date: dt.date | str) -> Exchanged:
    """Replaces the batch's leaves with `data`'s rows: readers see the whole old batch until the transaction
    commits, then the whole new one. Loads of one batch take turns (an advisory lock); loads of different
    batches run side by side. A dataset (the lake's partition) is streamed: memory never holds the batch."""
    batch = dt.date.fromisoformat(str(batch_date))
    rows = data if isinstance(data, pads.Dataset) else pads.dataset(data)
    dates = rows.to_table(columns=["transaction_date"]).column(0)
    months = postgres.ensure_fact_partitions(dates)  # committed: other loads see them
    with postgres.connect() as conn:
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"{FACT_TABLE} batch {batch}",))
        for month in months:
            leaf = conn.execute("SELECT gold.create_fact_stage(%s, %s)", (month, batch)).fetchone()[0]
            stage = sql.Identifier("gold_stage", leaf)
            postgres.copy_rows(conn, stage, rows, freeze=True, where=None if len(months) == 1 else _in_month(month))
            conn.execute("SELECT gold.build_fact_indexes(%s::regclass)", (stage.as_string(conn),))
        replaced = conn.execute("SELECT gold.exchange_fact_batch(%s, %s)", (batch, months)).fetchone()[0]
    return Exchanged(rows=len(dates), rows_replaced=replaced, months=months)
