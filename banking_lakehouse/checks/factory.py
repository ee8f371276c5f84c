"""Turns the rule table into AssetCheckSpecs on each asset, and evaluates them after the asset is written.

Spark-side rules of one asset (uniqueness, nulls) are counted in a single aggregation pass;
row accounting reads Parquet footers; warehouse rules run SQL from sql/checks/.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from decimal import Decimal

import pyarrow.compute as pc
from dagster import AssetCheckResult, AssetCheckSpec, AssetKey, MetadataValue
from pyspark.sql import SparkSession, functions as F

from banking_lakehouse import settings
from banking_lakehouse.checks.rules import Rule, rules_for
from banking_lakehouse.generator import RAW_FILES
from banking_lakehouse.resources.lake import LakeResource
from banking_lakehouse.resources.postgres import PostgresResource

EXAMPLE_ROWS = 5


@dataclass
class CheckInputs:
    """What evaluators may read: the batch dates of the run and the three I/O resources."""

    dates: list[str]
    lake: LakeResource
    spark: SparkSession | None = None
    postgres: PostgresResource | None = None

    @cached_property
    def fact_totals(self) -> tuple[int, int, Decimal]:
        """Rows, orphan rows and Σ amount_usd of the run's batches in the warehouse fact (one query per date)."""
        rows, orphans, amount = 0, 0, Decimal(0)
        for d in self.dates:
            r, o, a = self.postgres.fetch(_sql("fact_batch_totals.sql"), {"batch_date": d})[0]
            rows, orphans, amount = rows + r, orphans + o, amount + a
        return rows, orphans, amount


Outcome = tuple[int, dict]  # failing rows, metadata


def check_specs(asset: str) -> list[AssetCheckSpec]:
    return [
        AssetCheckSpec(r.name, asset=AssetKey(asset.split("/")), description=r.description, blocking=r.blocking)
        for r in rules_for(asset)
    ]


def _markdown(rows: list[dict]) -> MetadataValue:
    if not rows:
        return MetadataValue.md("_no failing rows_")
    head = list(rows[0])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(r[h]) for h in head) + " |" for r in rows]
    return MetadataValue.md("\n".join(lines))


def _spark_counts(asset: str, rules: list[Rule], inputs: CheckInputs) -> dict[str, Outcome]:
    """One pass over the written partition(s) counts every unique / not-null rule of the asset."""
    df = inputs.lake.read(inputs.spark, asset.split("/"), inputs.dates)
    aggs = []
    for r in rules:
        if r.kind == "unique":
            aggs.append((F.count(F.col(r.columns[0])) - F.countDistinct(r.columns[0])).alias(r.name))
        elif r.kind == "not_null":
            nulls = sum(F.col(c).isNull().cast("long") for c in r.columns)
            aggs.append(F.sum(F.when(nulls > 0, 1).otherwise(0)).alias(r.name))
    totals = df.agg(*aggs).first().asDict() if aggs else {}
    outcomes: dict[str, Outcome] = {}
    for r in rules:
        if r.name not in totals:
            continue
        failed = int(totals[r.name] or 0)
        examples: list[dict] = []
        if failed and r.kind == "unique":
            key = r.columns[0]
            dupes = df.groupBy(key).count().where("count > 1").limit(EXAMPLE_ROWS).collect()
            examples = [row.asDict() for row in dupes]
        elif failed:
            bad = df.where(" OR ".join(f"`{c}` IS NULL" for c in r.columns)).limit(EXAMPLE_ROWS)
            examples = [{c: row[c] for c in ("source_file", "source_line", *r.columns)} for row in bad.collect()]
        outcomes[r.name] = (failed, {"failed_rows": failed, "examples": _markdown(examples)})
    return outcomes


def _accounting(asset: str, rule: Rule, inputs: CheckInputs) -> Outcome:
    entity = asset.split("/")[1]
    raw = sum(inputs.lake.raw_rows(d, RAW_FILES[entity]) for d in inputs.dates)
    silver = sum(inputs.lake.partition_stats(["silver", entity], d)["rows"] for d in inputs.dates)
    quarantined = sum(inputs.lake.partition_stats(["quarantine", entity], d)["rows"] for d in inputs.dates)
    missing = raw - silver - quarantined
    return abs(missing), {"raw_rows": raw, "silver_rows": silver, "quarantined_rows": quarantined, "unaccounted_rows": missing}


def _quarantine_rate(asset: str, rule: Rule, inputs: CheckInputs) -> Outcome:
    entity = asset.split("/")[1]
    raw = sum(inputs.lake.raw_rows(d, RAW_FILES[entity]) for d in inputs.dates)
    reasons = [inputs.lake.read_arrow(["quarantine", entity], d).column("reason") for d in inputs.dates]
    counted = sum(pc.sum(pc.not_equal(r, "exact_duplicate")).as_py() or 0 for r in reasons)
    rate = counted / raw if raw else 0.0
    failed = counted if rate > rule.threshold else 0
    return failed, {"quarantined_rows": counted, "raw_rows": raw, "quarantine_rate": round(rate, 6), "threshold": rule.threshold}


def _sql(name: str) -> str:
    return (settings.SQL_DIR / "checks" / name).read_text()


def _referential(asset: str, rule: Rule, inputs: CheckInputs) -> Outcome:
    missing: dict[str, int] = {}
    for d in inputs.dates:
        for dimension, count in inputs.postgres.fetch(_sql("fact_referential.sql"), {"batch_date": d}):
            missing[dimension] = missing.get(dimension, 0) + count
    return sum(missing.values()), {f"missing_{k}_keys": v for k, v in missing.items()}


def _fact_reconciliation(asset: str, rule: Rule, inputs: CheckInputs) -> Outcome:
    silver = sum(inputs.lake.partition_stats(["silver", "transactions"], d)["rows"] for d in inputs.dates)
    fact = inputs.fact_totals[0]
    return abs(silver - fact), {"silver_rows": silver, "fact_rows": fact}


def _orphans(asset: str, rule: Rule, inputs: CheckInputs) -> Outcome:
    orphans = inputs.fact_totals[1]
    return orphans, {"orphan_rows": orphans}


def _aggregate_reconciliation(asset: str, rule: Rule, inputs: CheckInputs) -> Outcome:
    table = asset.split("/")[1]
    aggregate = Decimal(0)
    for d in inputs.dates:
        data = inputs.lake.read_arrow(["gold", table], d)
        aggregate += pc.sum(data.column("total_amount_usd")).as_py() or Decimal(0)
    fact = inputs.fact_totals[2]
    difference = aggregate - fact
    return int(difference != 0), {"aggregate_amount_usd": float(aggregate), "fact_amount_usd": float(fact), "difference": float(difference)}


EVALUATORS: dict[str, Callable[[str, Rule, CheckInputs], Outcome]] = {
    "accounting": _accounting,
    "quarantine_rate": _quarantine_rate,
    "referential": _referential,
    "fact_reconciliation": _fact_reconciliation,
    "orphans": _orphans,
    "aggregate_reconciliation": _aggregate_reconciliation,
}


def evaluate(asset: str, inputs: CheckInputs) -> Iterator[AssetCheckResult]:
    """Yields one AssetCheckResult per rule of the asset, with failing counts and examples."""
    rules = rules_for(asset)
    spark_outcomes = _spark_counts(asset, rules, inputs) if inputs.spark is not None else {}
    for rule in rules:
        failed, metadata = spark_outcomes.get(rule.name) or EVALUATORS[rule.kind](asset, rule, inputs)
        yield AssetCheckResult(
            asset_key=AssetKey(asset.split("/")),
            check_name=rule.name,
            passed=failed == 0,
            severity=rule.severity,
            metadata={"failed_rows": failed, **metadata},
        )
