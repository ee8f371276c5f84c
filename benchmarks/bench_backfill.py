"""A week as one single-run backfill versus seven separate runs, each variant on a fresh lake.

python benchmarks/bench_backfill.py --days 7 --rows 200000 [--start 2024-12-01] [--seed 7]
Every run is its own process, as a run launched by Dagster is, so each pays for its JVM: that, and
Spark jobs that cover all days at once, is what the single run saves. The embedded PostgreSQL is
started before timing. Last line: {"single_run_seconds", "separate_runs_seconds", "ratio", ...}.
"""

import argparse
import datetime as dt
import json
import subprocess
import sys
import time

from dagster import DagsterInstance
from harness import dates, fresh_lake, private_definitions, run_range

NAME = "bench_backfill"


def timed_run(first: str, last: str, rows: int, seed: int) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, __file__, "--run", first, last, "--rows", str(rows), "--seed", str(seed)], check=True
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2024, 12, 1))
    parser.add_argument("--run", nargs=2, metavar=("FIRST", "LAST"), help=argparse.SUPPRESS)  # one timed run
    args = parser.parse_args()
    if args.run:
        defs, _, _ = private_definitions(NAME)
        run_range(defs, DagsterInstance.ephemeral(), *args.run, args.rows, args.seed)
        return

    days = dates(args.start, args.days)
    private_definitions(NAME)[2].ensure_schema()  # starts the embedded server outside the timings
    fresh_lake(NAME)
    single = timed_run(days[0], days[-1], args.rows, args.seed)
    fresh_lake(NAME)
    separate = [timed_run(d, d, args.rows, args.seed) for d in days]
    print(
        json.dumps(
            {
                "days": args.days,
                "rows_per_day": args.rows,
                "single_run_seconds": round(single, 2),
                "separate_runs_seconds": round(sum(separate), 2),
                "ratio": round(sum(separate) / single, 2),
                "separate_run_seconds_each": [round(s, 2) for s in separate],
            }
        )
    )


if __name__ == "__main__":
    main()
