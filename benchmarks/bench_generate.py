"""Times the generator: python benchmarks/bench_generate.py --rows 1000000

Last line: one JSON object with rows, seconds and rows_per_second.
"""

import argparse
import datetime as dt
import json
import tempfile
import time

from banking_lakehouse.generator import GeneratorConfig, generate_day


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--date", type=dt.date.fromisoformat, default=dt.date(2024, 12, 1))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        generate_day(GeneratorConfig(date=args.date, rows=args.rows, seed=args.seed), out)
        seconds = time.perf_counter() - started
    print(json.dumps({"rows": args.rows, "seconds": round(seconds, 2), "rows_per_second": round(args.rows / seconds)}))


if __name__ == "__main__":
    main()
