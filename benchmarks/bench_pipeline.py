"""One day end to end: generation and every asset with all its checks, through the demo's code path.

python benchmarks/bench_pipeline.py --rows 1000000 [--date 2024-12-01] [--seed 7] [--landing DIR]
A fresh lake under data/bench_pipeline/ (embedded PostgreSQL there, or BANKING_PG_DSN). The JVM's
start-up is inside the run, as it is for a user. With --landing, the day is read from that landing zone
(a complete drop under DIR/date=<date>/, e.g. written by `python -m banking_lakehouse.generator --complete`)
instead of being generated in the run. Last line: one JSON object with
total_seconds, peak_rss_bytes (this process plus the Spark JVM and parse workers), ratio (total_seconds
over the 60 s target for 1M rows, scaled to --rows), jvm_cpu_seconds (the Spark JVM's CPU: total, JIT
compiler, garbage collector), java (the driver's Java version and whether it started from the AOT cache),
stages (seconds per Dagster step, `raw_delivery` being generation and parsing) and rows.
"""

import argparse
import datetime as dt
import json
import time

from dagster import DagsterInstance
from harness import PeakMemory, fresh_lake, jvm_cpu_seconds, private_definitions, run_range, spark_java, step_seconds

TARGET_SECONDS_PER_MILLION = 60  # issue 13: 1M transactions end to end in <= 60 s on 2 cores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--date", type=lambda s: dt.date.fromisoformat(s).isoformat(), default="2024-12-01")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--landing", help="a landing zone holding the day's complete drop (not generated then)")
    args = parser.parse_args()
    fresh_lake("bench_pipeline")
    defs, lake, _ = private_definitions("bench_pipeline", args.landing)
    instance = DagsterInstance.ephemeral()
    with PeakMemory() as memory:
        started = time.perf_counter()
        run_id = run_range(defs, instance, args.date, args.date, args.rows, args.seed)
        total = time.perf_counter() - started
        jvm_cpu = jvm_cpu_seconds()
    stages = step_seconds(instance, run_id)
    print(
        json.dumps(
            {
                "rows": args.rows,
                "total_seconds": round(total, 2),
                "ratio": round(total / (TARGET_SECONDS_PER_MILLION * args.rows / 1_000_000), 3),
                "peak_rss_bytes": memory.peak_bytes,
                "peak_rss_gib": round(memory.peak_bytes / 2**30, 2),
                "jvm_cpu_seconds": jvm_cpu,
                "java": spark_java(),
                "silver_rows": lake.partition_stats(["silver", "transactions"], args.date)["rows"],
                "stages": dict(sorted(stages.items(), key=lambda kv: -kv[1])),
            }
        )
    )


if __name__ == "__main__":
    main()
