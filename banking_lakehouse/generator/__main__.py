"""CLI: python -m banking_lakehouse.generator --date 2024-12-01 --rows 100000 --seed 7 --out DIR [--complete]

`--complete` writes the landing contract's `_SUCCESS` marker after the files, so a generated day can
be dropped into a landing zone (`--out <landing>/date=2024-12-01`) and picked up like a real delivery.

The core-banking source (BANKING_SOURCE_DSN, else the database `core_banking` on the embedded server):
  python -m banking_lakehouse.generator core-seed --seed 7 --rows 100000 --as-of 2024-12-01
  python -m banking_lakehouse.generator core-day --seed 7 --date 2024-12-01   (prints the day's ground truth)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

from banking_lakehouse.generator import GeneratorConfig, generate_day
from banking_lakehouse.resources.delivery import SUCCESS_MARKER

CORE_COMMANDS = ("core-seed", "core-day")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] and argv[0] in CORE_COMMANDS:
        core_main(argv)
        return
    parser = argparse.ArgumentParser(
        description="Generate one day of deterministic banking data.",
        epilog=f"The core-banking source: {' | '.join(CORE_COMMANDS)} (see their --help).",
    )
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


def core_main(argv: list[str]) -> None:
    """Seeds the core-banking source, or applies one day of changes to it."""
    from banking_lakehouse.generator.core_banking import apply_core_day, seed_core
    from banking_lakehouse.resources.core_banking import CoreBankingSource

    parser = argparse.ArgumentParser(prog="python -m banking_lakehouse.generator", description=core_main.__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    seed = commands.add_parser("core-seed", help="insert a seed's population into an empty `core` schema")
    seed.add_argument("--as-of", type=dt.date.fromisoformat, required=True, help="rows are stamped before this day")
    seed.add_argument("--rows", type=int, default=100_000, help="the synthetic transactions' rows a day (sizes it)")
    day = commands.add_parser("core-day", help="apply one day of changes (once per day, in date order)")
    day.add_argument("--date", type=dt.date.fromisoformat, required=True)
    for command in (seed, day):
        command.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    source = CoreBankingSource(dsn=os.getenv("BANKING_SOURCE_DSN") or None)
    with source.connect() as conn:
        if args.command == "core-seed":
            result = {"seeded": seed_core(conn, args.seed, args.as_of, args.rows)}
        else:
            result = apply_core_day(conn, args.seed, args.date)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
