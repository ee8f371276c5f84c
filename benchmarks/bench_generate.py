"""Times the generator: python benchmarks/bench_generate.py --rows 1000000 [--chunk-rows 1000000]

Last line: one JSON object with rows, seconds, cpu_seconds (all threads; the machine may be shared),
rows_per_second and peak_rss_mb (the process's high-water mark, interpreter and imports included).
"""

import argparse
import datetime as dt
import json
import resource
import tempfile
import time

from banking_lakehouse.generator import CHUNK_ROWS, GeneratorConfig, generate_day


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--date", type=dt.date.fromisoformat, default=dt.date(2024, 12, 1))
    parser.add_argument("--chunk-rows", type=int, default=CHUNK_ROWS, help="transactions rendered as text at once")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as out:
        started, cpu_started = time.perf_counter(), time.process_time()
        generate_day(GeneratorConfig(date=args.date, rows=args.rows, seed=args.seed), out, chunk_rows=args.chunk_rows)
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    result = {
        "rows": args.rows,
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu_seconds, 2),
        "rows_per_second": round(args.rows / seconds),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,  # Linux: KiB
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
