"""Fraud alerts within a minute: seconds from a drop's `_SUCCESS` marker to its alerts queryable in PostgreSQL.

python benchmarks/bench_alerts.py --rows 100000 [--seed 7] [--date 2024-12-02]
Generates one day's drop into a private landing zone (data/bench_alerts/landing), writes `_SUCCESS`, then runs
`fraud_alerts_job` as the sensor would start it (a new run: its Spark session starts in the run), over a fresh
lake (the stream's checkpoint) and an emptied gold.fraud_alerts (the embedded server under data/bench_alerts/,
or BANKING_PG_DSN). Measured from the marker's mtime: the first and the last alert's `alerted_at`, and the end
of the run; the sensor's tick (at most 15 s) comes on top. Also each stream rule's precision and recall against
the generator's ground truth. Last line: one JSON object.
"""

import argparse
import datetime as dt
import json
import shutil
import time

from dagster import DagsterInstance
from harness import QUIET, fresh_lake, private_definitions

from banking_lakehouse import settings
from banking_lakehouse.generator import GeneratorConfig, generate_day
from banking_lakehouse.resources.delivery import SUCCESS_MARKER
from banking_lakehouse.transforms.fraud_stream import STREAM_RULES

NAME = "bench_alerts"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--date", type=dt.date.fromisoformat, default=dt.date(2024, 12, 2))
    args = parser.parse_args()
    landing = settings.data_dir() / NAME / "landing"
    shutil.rmtree(landing, ignore_errors=True)
    fresh_lake(NAME)
    defs, _, postgres = private_definitions(NAME, landing=str(landing))
    postgres.ensure_schema()
    with postgres.connect() as conn:
        conn.execute("TRUNCATE gold.fraud_alerts")

    drop = landing / f"date={args.date.isoformat()}"
    manifest = generate_day(GeneratorConfig(date=args.date, rows=args.rows, seed=args.seed), drop)
    (drop / SUCCESS_MARKER).touch()
    marker = (drop / SUCCESS_MARKER).stat().st_mtime
    result = defs.resolve_job_def("fraud_alerts_job").execute_in_process(
        run_config=QUIET, instance=DagsterInstance.ephemeral(), raise_on_error=False
    )
    finished = time.time()
    if not result.success:
        raise SystemExit("fraud_alerts_job failed")

    first, last = postgres.fetch("SELECT min(alerted_at), max(alerted_at) FROM gold.fraud_alerts")[0]
    alerts = {rule: set() for rule in STREAM_RULES}
    for rule, transaction_id in postgres.fetch("SELECT rule, transaction_id FROM gold.fraud_alerts"):
        alerts[rule].add(transaction_id)
    quality = {}
    for rule, predicted in alerts.items():
        truth = set(manifest["fraud_ids"].get(rule, []))
        hits = len(predicted & truth)
        quality[rule] = {
            "alerts": len(predicted),
            "injected": len(truth),
            "precision": round(hits / len(predicted), 4) if predicted else 0.0,
            "recall": round(hits / len(truth), 4) if truth else 0.0,
        }
    report = {
        "rows": args.rows,
        "seconds_to_first_alert": round(first.timestamp() - marker, 2) if first else None,
        "seconds_to_all_alerts": round(last.timestamp() - marker, 2) if last else None,
        "seconds_to_run_end": round(finished - marker, 2),
        "rules": quality,
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
