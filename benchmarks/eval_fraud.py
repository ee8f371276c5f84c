"""Precision and recall of the fraud rules, and how well the risk score ranks, against the generator's truth.

python benchmarks/eval_fraud.py --days 7 --seed 7 [--rows 20000] [--start 2024-12-01]
Runs the days as ONE single-run backfill through the real assets (private lake and embedded
PostgreSQL under data/eval/, or BANKING_PG_DSN), then compares gold.fraud_transactions with the
manifests' fraud_ids. Per rule: precision and recall over all days, and `from_day_2` (history-based rules
cannot fire on the first day). The risk score ranks every fact transaction of the days (an unflagged one
scores 0): `risk_score` reports the area under its precision-recall curve (average precision) and the
precision of the 100 and 1 000 highest scores, for every injected fraud whatever its pattern.
Last line: one JSON object {pattern: {precision, recall, ...}, "risk_score": {...}}.
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


def ranking(scores: dict[str, float], truth: set[str], population: int, top: tuple[int, ...] = (100, 1_000)) -> dict:
    """Average precision of the transactions ranked by score (stepwise at each distinct score, as
    scikit-learn's average_precision_score; the population's unscored transactions tie at 0, last) and the
    precision of the k highest scores (ties at the k-th score counted at their block's precision)."""
    blocks: dict[float, list[int]] = {}  # score -> [transactions, frauds]
    for transaction_id, value in scores.items():
        block = blocks.setdefault(value, [0, 0])
        block[0] += 1
        block[1] += transaction_id in truth
    ordered = [blocks[v] for v in sorted(blocks, reverse=True)]
    unscored = population - len(scores)
    if unscored:
        ordered.append([unscored, len(truth - scores.keys())])
    average_precision, seen, hits, recalled = 0.0, 0, 0, 0.0
    for count, frauds in ordered:
        seen, hits = seen + count, hits + frauds
        recall = hits / len(truth) if truth else 0.0
        average_precision += (recall - recalled) * hits / seen
        recalled = recall
    report = {"auprc": round(average_precision, 4), "scored": len(scores), "population": population}
    for k in top:
        taken, expected = 0, 0.0
        for count, frauds in ordered:
            take = min(count, k - taken)
            taken, expected = taken + take, expected + take * frauds / count
            if taken == k:
                break
        report[f"precision_at_{k}"] = round(expected / k, 4) if taken == k else None
    return report


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
    everything = lambda per_day, days=dates: set().union(*(per_day.get(d, set()) for d in days))  # noqa: E731
    for pattern in RULE_WEIGHTS:
        report[pattern] = score(everything(predicted[pattern]), everything(truth[pattern]))
        later = score(everything(predicted[pattern], dates[1:]), everything(truth[pattern], dates[1:]))
        report[pattern]["from_day_2"] = {"precision": later["precision"], "recall": later["recall"]}
    frauds = set().union(*(everything(truth[p]) for p in RULE_WEIGHTS))
    scores = dict(
        postgres.fetch(
            "SELECT transaction_id, risk_score::float8 FROM gold.fraud_transactions WHERE batch_date = ANY(%s::date[])",
            (dates,),
        )
    )
    facts, missing = postgres.fetch(
        "SELECT count(*), %s::int - count(*) FILTER (WHERE transaction_id = ANY(%s::text[])) "
        "FROM gold.fact_transactions WHERE batch_date = ANY(%s::date[])",
        (len(frauds), sorted(frauds), dates),
    )[0]
    report["risk_score"] = ranking(scores, frauds, facts + missing)  # a fraud not in the fact is never ranked
    print(json.dumps(report))


if __name__ == "__main__":
    main()
