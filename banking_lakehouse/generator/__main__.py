"""CLI: python -m banking_lakehouse.generator --date 2024-12-01 --rows 100000 --seed 7 --out DIR [--complete]

`--complete` writes the landing contract's `_SUCCESS` marker after the files, so a generated day can
be dropped into a landing zone (`--out <landing>/date=2024-12-01`) and picked up like a real delivery.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from pathlib import Path

from banking_lakehouse.generator import GeneratorConfig, generate_day
from banking_lakehouse.resources.delivery import SUCCESS_MARKER


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Generate one day of deterministic banking data.")
    parser.add_argument("--date", type=dt.date.fromisoformat, required=True)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", required=True, help="directory for the day's files")
    parser.add_argument("--complete", action="store_true", help="mark the drop complete (_SUCCESS) when written")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    manifest = generate_day(GeneratorConfig(date=args.date, rows=args.rows, seed=args.seed), args.out)
    if args.complete:
        (Path(args.out) / SUCCESS_MARKER).touch()
    summary = {k: manifest[k] for k in ("date", "seed", "rows", "defects", "fraud")}
    summary["seconds"] = round(time.perf_counter() - started, 2)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
