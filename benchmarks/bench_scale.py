"""Cost against volume: one day end to end at each size (default 1M and 10M rows), each in its own process.

python benchmarks/bench_scale.py [--rows 1000000 10000000] [--date 2024-12-01] [--seed 7]
Each size is `bench_pipeline.py` in a child process (its own JVM, a fresh lake, its own peak memory of
the process tree). Last line: one JSON object with `runs` (each size's total_seconds, peak_rss_bytes and
stages), `total_seconds` (all sizes), `peak_rss_bytes` (the largest) and `ratio` = t(largest) / t(smallest);
linear cost means a ratio near the ratio of the sizes (≤ 11 for 1M -> 10M).
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

PIPELINE = Path(__file__).with_name("bench_pipeline.py")


def measure(rows: int, date: str, seed: int) -> dict:
    command = [sys.executable, str(PIPELINE), "--rows", str(rows), "--date", date, "--seed", str(seed)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)  # noqa: S603 - our own script
    return json.loads(done.stdout.strip().splitlines()[-1])


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
                    {k: r[k] for k in ("rows", "total_seconds", "peak_rss_bytes", "peak_rss_gib", "stages")}
                    for r in runs
                ],
            }
        )
    )


if __name__ == "__main__":
    main()
