"""A week as one single-run backfill versus seven separate runs, each variant on a fresh lake; or, with
--per-day, the cost of each day when days run one by one over the same lake, as the daily schedule runs them.

python benchmarks/bench_backfill.py --days 7 --rows 200000 [--start 2024-12-01] [--seed 7]
python benchmarks/bench_backfill.py --per-day --days 30 --rows 200000
Every run is its own process, as a run launched by Dagster is, so each pays for its JVM: that, and
Spark jobs that cover all days at once, is what the single run saves. The embedded PostgreSQL is
started before timing. Last line: {"single_run_seconds", "separate_runs_seconds", "ratio", ...}, or
with --per-day {"run_seconds_each", "last_over_first", "fraud_seconds_each", "fraud_last_over_first",
"steps_growing"} (mean of the last 3 days over the first 3): a day's cost must not grow with the history
before it (target last_over_first <= 1.2); steps_growing names the steps whose own ratio exceeds 1.2.
"""

import argparse
import datetime as dt
import json
import statistics
import subprocess
import sys
import time

from dagster import DagsterInstance
from harness import dates, fresh_lake, private_definitions, run_range, step_seconds

NAME = "bench_backfill"
EDGE_DAYS = 3  # first and last days averaged: one day's noise is not a trend


def timed_run(first: str, last: str, rows: int, seed: int) -> tuple[float, dict[str, float]]:
    """Wall seconds of one run in its own process, and the seconds of each of its steps."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, "--run", first, last, "--rows", str(rows), "--seed", str(seed)],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    return time.perf_counter() - started, json.loads(done.stdout.splitlines()[-1])


def one_run(first: str, last: str, rows: int, seed: int) -> None:
    """The --run child: the run, then its step seconds as the last line."""
    defs, _, _ = private_definitions(NAME)
    instance = DagsterInstance.ephemeral()
    print(json.dumps(step_seconds(instance, run_range(defs, instance, first, last, rows, seed))))


def fraud_steps() -> set[str]:
    graph = private_definitions(NAME)[0].resolve_asset_graph()
    return {k.to_python_identifier() for k in graph.get_all_asset_keys() if graph.get(k).group_name == "fraud"}


def last_over_first(seconds: list[float]) -> float:
    return round(statistics.mean(seconds[-EDGE_DAYS:]) / max(statistics.mean(seconds[:EDGE_DAYS]), 0.01), 2)


def single_versus_separate(days: list[str], rows: int, seed: int) -> dict:
    fresh_lake(NAME)
    single, _ = timed_run(days[0], days[-1], rows, seed)
    fresh_lake(NAME)
    separate = [timed_run(d, d, rows, seed)[0] for d in days]
    return {
        "single_run_seconds": round(single, 2),
        "separate_runs_seconds": round(sum(separate), 2),
        "ratio": round(sum(separate) / single, 2),
        "separate_run_seconds_each": [round(s, 2) for s in separate],
    }


def per_day(days: list[str], rows: int, seed: int) -> dict:
    fresh_lake(NAME)
    runs, steps = zip(*(timed_run(d, d, rows, seed) for d in days), strict=True)
    fraud_group = fraud_steps()
    fraud = [round(sum(s.get(step, 0.0) for step in fraud_group), 2) for s in steps]
    per_step = {step: last_over_first([s.get(step, 0.0) for s in steps]) for step in steps[0]}
    return {
        "run_seconds_each": [round(s, 2) for s in runs],
        "last_over_first": last_over_first(runs),
        "fraud_seconds_each": fraud,
        "fraud_last_over_first": last_over_first(fraud),
        "steps_growing": {step: r for step, r in sorted(per_step.items()) if r > 1.2},  # where a rise comes from
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2024, 12, 1))
    parser.add_argument("--per-day", action="store_true", help="each day its own run over the same lake")
    parser.add_argument("--run", nargs=2, metavar=("FIRST", "LAST"), help=argparse.SUPPRESS)  # one timed run
    args = parser.parse_args()
    if args.run:
        one_run(*args.run, args.rows, args.seed)
        return

    days = dates(args.start, args.days)
    private_definitions(NAME)[2].ensure_schema()  # starts the embedded server outside the timings
    measure = per_day if args.per_day else single_versus_separate
    print(json.dumps({"days": args.days, "rows_per_day": args.rows, **measure(days, args.rows, args.seed)}))


if __name__ == "__main__":
    main()
