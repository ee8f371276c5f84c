"""Precision and recall of the fraud rules against the generator's ground truth.

python benchmarks/eval_fraud.py --days 7 --seed 7 [--rows 20000] [--start 2024-12-01]
Runs the days as ONE single-run backfill through the real assets (private lake and embedded
PostgreSQL under data/eval/, or BANKING_PG_DSN), then compares gold.fraud_transactions with the
manifests' fraud_ids. `spending_spike` needs history, so it cannot fire on the first day; its
recall is reported over all days (first_day_excluded_recall shows it without day one).
Last line: one JSON object {pattern: {precision, recall, ...}}.
"""

import argparse
import datetime as dt
import json

import harness
from dagster import DagsterInstance
from harness import fresh_lake, private_definitions, run_range

from banking_lakehouse.generator import MANIFEST_FILE
from banking_lakehouse.transforms.fraud import RULE_WEIGHTS


def score(predicted: set[str], truth: set[str]) -> dict:
    hits = len(predicted & truth)
    return {
        "precision": round(hits / len(predicted), 4) if predicted else 0.0,
        "recall": round(hits / len(truth), 4) if truth else 0.0,
        "flagged": len(predicted),
        "injected": len(truth),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2024, 12, 1))
    args = parser.parse_args()
    fresh_lake("eval")
    defs, lake, postgres = private_definitions("eval")
    dates = harness.dates(args.start, args.days)
    run_range(defs, DagsterInstance.ephemeral(), dates[0], dates[-1], args.rows, args.seed)
    truth: dict[str, dict[str, set[str]]] = {p: {} for p in RULE_WEIGHTS}
    for d in dates:
        manifest = json.loads(lake.raw_text(d, MANIFEST_FILE))
        for pattern, ids in manifest["fraud_ids"].items():
            truth[pattern][d] = set(ids)
    fired = postgres.fetch(
        "SELECT batch_date::text, transaction_id, rules FROM gold.fraud_transactions WHERE batch_date = ANY(%s::date[])",
        (dates,),
    )
    predicted: dict[str, dict[str, set[str]]] = {p: {d: set() for d in dates} for p in RULE_WEIGHTS}
    for batch, transaction_id, rules in fired:
        for rule in rules.split(","):
            predicted[rule][batch].add(transaction_id)
    report = {}
    for pattern in RULE_WEIGHTS:
        everything = lambda per_day, days=dates: set().union(*(per_day.get(d, set()) for d in days))  # noqa: E731
        report[pattern] = score(everything(predicted[pattern]), everything(truth[pattern]))
        if pattern == "spending_spike":
            later = score(everything(predicted[pattern], dates[1:]), everything(truth[pattern], dates[1:]))
            report[pattern]["first_day_excluded_recall"] = later["recall"]
            report[pattern]["first_day_excluded_precision"] = later["precision"]
    print(json.dumps(report))


if __name__ == "__main__":
    main()
