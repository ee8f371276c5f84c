"""Cost against volume: one day end to end at each size (default 1M and 10M rows), each in its own process.

python benchmarks/bench_scale.py [--rows 1000000 10000000] [--date 2024-12-01] [--seed 7]
Each size's day is first generated into a landing zone under data/bench_scale/ (untimed, as a bank's
systems deliver it), then `bench_pipeline.py --landing` runs it in a child process: its own JVM, a fresh
lake, its own peak memory of the process tree. Last line: one JSON object with `runs` (each size's total_seconds, peak_rss_bytes and
stages), `total_seconds` (all sizes), `peak_rss_bytes` (the largest) and `ratio` = t(largest) / t(smallest);
linear cost means a ratio near the ratio of the sizes (≤ 11 for 1M -> 10M).
"""

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

from banking_lakehouse import settings

PIPELINE = Path(__file__).with_name("bench_pipeline.py")


def _last_json(command: list[str]) -> dict:
    done = subprocess.run(command, check=True, capture_output=True, text=True)  # noqa: S603 - our own scripts
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(rows: int, date: str, seed: int) -> dict:
    landing = settings.data_dir() / "bench_scale" / f"landing-{rows}"
    shutil.rmtree(landing, ignore_errors=True)
    drop = ["--date", date, "--rows", str(rows), "--seed", str(seed)]
    generated = _last_json(
        [
            sys.executable,
            "-m",
            "banking_lakehouse.generator",
            *drop,
            "--out",
            str(landing / f"date={date}"),
            "--complete",
        ]
    )
    try:
        return _last_json([sys.executable, str(PIPELINE), *drop, "--landing", str(landing)]) | {
            "generator_seconds": generated["seconds"]
        }
    finally:
        shutil.rmtree(landing, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--date", default="2024-12-01")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    runs = []
    for rows in sorted(args.rows):
        runs.append(measure(rows, args.date, args.seed))
        print(json.dumps(runs[-1]), flush=True)  # each size as it finishes
    smallest, largest = runs[0], runs[-1]
    print(
        json.dumps(
            {
                "rows": [r["rows"] for r in runs],
                "total_seconds": round(sum(r["total_seconds"] for r in runs), 2),
                "peak_rss_bytes": max(r["peak_rss_bytes"] for r in runs),
                "ratio": round(largest["total_seconds"] / smallest["total_seconds"], 2),
                "size_ratio": round(largest["rows"] / smallest["rows"], 2),
                "runs": [
                    {
                        k: r[k]
                        for k in (
                            "rows",
                            "total_seconds",
                            "peak_rss_bytes",
                            "peak_rss_gib",
                            "generator_seconds",
                            "stages",
                        )
                    }
                    for r in runs
                ],
            }
        )
    )


if __name__ == "__main__":
    main()
