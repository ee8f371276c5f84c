"""The fact load of one batch (PostgresResource.exchange_fact_batch: staging, COPY, index builds, attach)
vs its physical floor: `psql \\copy` of the same CSV into an unindexed table, then the same index builds.

python benchmarks/bench_load.py --rows 1000000
Uses BANKING_PG_DSN, else a private embedded server under data/bench_load/. Last line: one JSON object with
seconds (a first load of the batch), reload_seconds (replacing it), floor_seconds, ratio = seconds /
floor_seconds (target <= 1.0), and indexed_copy_seconds (`\\copy` into an already indexed table, the old way);
each the best of --repeat runs, alternating, each after a CHECKPOINT.
"""

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this tree's code (and data/), not an installed one
from banking_lakehouse import settings  # noqa: E402
from banking_lakehouse.resources import embedded_postgres  # noqa: E402
from banking_lakehouse.resources.copy_stream import csv_copyable  # noqa: E402
from banking_lakehouse.resources.postgres import PostgresResource  # noqa: E402
from banking_lakehouse.sql import read_sql  # noqa: E402

BATCH = dt.date(2030, 1, 31)


def fact_batch(rows: int, seed: int = 1) -> pa.Table:
    """A fact-shaped batch in January 2030 (synthetic values, real column types)."""
    rng = np.random.default_rng(seed)
    ts = np.datetime64("2030-01-01T00:00:00") + rng.integers(0, 31 * 86_400, rows).astype("timedelta64[s]")
    date = ts.astype("datetime64[D]")
    amount = pa.array(np.round(rng.lognormal(3.5, 1.0, rows), 2)).cast(pa.decimal128(18, 2))
    hour = (ts.astype("datetime64[h]") - date.astype("datetime64[h]")).astype(int)
    text = lambda values: pa.array(np.array(values, dtype=object)[rng.integers(0, len(values), rows)])  # noqa: E731
    flag = lambda p: pa.array(rng.random(rows) < p)  # noqa: E731
    return pa.table(
        {
            "transaction_key": pa.array(rng.integers(1, 2**62, rows)),
            "transaction_id": pa.array([f"B{i:09d}" for i in range(rows)]),
            "date_key": pa.array(np.char.replace(np.datetime_as_string(date), "-", "").astype(np.int32)),
            "customer_key": pa.array(rng.integers(1, 2**62, rows)),
            "account_key": pa.array(rng.integers(1, 2**62, rows)),
            "merchant_key": pa.array(rng.integers(1, 2**62, rows)),
            "customer_version_key": pa.array(rng.integers(1, 2**62, rows)),
            "account_version_key": pa.array(rng.integers(1, 2**62, rows)),
            "transaction_type_key": pa.array(rng.integers(1, 6, rows).astype(np.int16)),
            "transaction_ts": pa.array(ts.astype("datetime64[us]")).cast(pa.timestamp("us", tz="UTC")),
            "transaction_date": pa.array(date),
            "transaction_year": pa.array(np.full(rows, 2030, dtype=np.int32)),
            "transaction_month": pa.array(np.full(rows, 1, dtype=np.int32)),
            "transaction_day": pa.array((date - np.datetime64("2030-01-01")).astype(np.int32) + 1),
            "transaction_hour": pa.array(hour.astype(np.int32)),
            "day_of_week": pa.array(rng.integers(1, 8, rows).astype(np.int32)),
            "amount": amount,
            "currency": text(["USD", "EUR", "GBP"]),
            "amount_usd": amount,
            "channel": text(["online", "pos", "mobile", "atm", "branch"]),
            "status": text(["completed", "pending", "failed"]),
            "country": text(["US", "FR", "GB"]),
            "amount_category": text(["small", "medium", "large"]),
            "time_of_day": text(["morning", "afternoon", "evening", "night"]),
            "daily_transaction_count": pa.array(rng.integers(1, 20, rows).astype(np.int32)),
            "daily_cumulative_amount": amount,
            "is_card_present": flag(0.4),
            "is_high_risk": flag(0.03),
            "is_outlier": flag(0.0002),
            "is_international": flag(0.1),
            "is_orphan": flag(0.001),
            "is_late_arrival": flag(0.001),
            "batch_date": pa.array([BATCH] * rows, pa.date32()),
            "source_file": pa.array(["transactions.csv"] * rows),
            "source_line": pa.array(np.arange(2, rows + 2, dtype=np.int32)),
        }
    )


def timed(step) -> float:
    started = time.perf_counter()
    step()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    postgres = PostgresResource(
        dsn=os.getenv("BANKING_PG_DSN") or None, embedded_dir=str(settings.data_dir() / "bench_load" / "postgres")
    )
    postgres.ensure_schema()
    data = fact_batch(args.rows)
    loaded_columns = postgres.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'gold'"
        " AND table_name = 'fact_transactions' AND column_default IS NULL ORDER BY ordinal_position"
    )
    assert data.column_names == [name for (name,) in loaded_columns], "fact_batch lags sql/warehouse.sql's fact"
    columns = ", ".join(data.column_names)

    def psql(*commands: str) -> None:
        steps = [arg for command in commands for arg in ("-c", command)]
        subprocess.run(
            [embedded_postgres.psql_binary(), postgres.uri(), "-q", "-v", "ON_ERROR_STOP=1", *steps],
            check=True,
            env={**os.environ, "PGTZ": "UTC"},
            stdout=subprocess.DEVNULL,
        )

    def checkpoint() -> None:
        with postgres.connect(autocommit=True) as conn:
            conn.execute("CHECKPOINT")

    runs = {name: [] for name in ("ours", "reload", "floor_copy", "floor_indexes", "indexed_copy")}
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "batch.csv"
        pacsv.write_csv(csv_copyable(data), csv_path, pacsv.WriteOptions(include_header=False))
        copy = "\\copy {} (" + columns + f") FROM '{csv_path}' WITH (FORMAT csv)"
        for _ in range(args.repeat):
            postgres.exchange_fact_batch(data.slice(0, 0), BATCH)  # the batch absent: a first load
            checkpoint()
            runs["ours"].append(timed(lambda: postgres.exchange_fact_batch(data, BATCH)))
            checkpoint()
            runs["reload"].append(timed(lambda: postgres.exchange_fact_batch(data, BATCH)))

            with postgres.connect() as conn:
                conn.execute(read_sql("bench_psql_table.sql"))
            checkpoint()
            runs["floor_copy"].append(timed(lambda: psql(copy.format("bench.fact_copy"))))
            runs["floor_indexes"].append(timed(lambda: psql("SELECT gold.build_fact_indexes('bench.fact_copy')")))
            checkpoint()
            runs["indexed_copy"].append(timed(lambda: psql(copy.format("bench.fact_indexed_copy"))))
    counts = postgres.fetch(
        "SELECT (SELECT count(*) FROM gold.fact_transactions WHERE batch_date = %s),"
        " (SELECT count(*) FROM bench.fact_copy), (SELECT count(*) FROM bench.fact_indexed_copy)",
        (BATCH,),
    )[0]
    assert counts == (args.rows,) * 3, counts
    postgres.exchange_fact_batch(data.slice(0, 0), BATCH)
    floors = [c + i for c, i in zip(runs["floor_copy"], runs["floor_indexes"], strict=True)]
    seconds, floor = min(runs["ours"]), min(floors)
    print(
        json.dumps(
            {
                "rows": args.rows,
                "seconds": round(seconds, 2),
                "reload_seconds": round(min(runs["reload"]), 2),
                "floor_seconds": round(floor, 2),
                "ratio": round(seconds / floor, 3),
                "indexed_copy_seconds": round(min(runs["indexed_copy"]), 2),
                "runs": {name: [round(s, 2) for s in values] for name, values in runs.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
