"""Turns the rule table into AssetCheckSpecs on each asset, and evaluates them after the asset is written.

Contract rules of a silver asset (schema, completeness, uniqueness, validity) are counted in one DuckDB
scan of the written partitions (no Spark job to plan and compile); row accounting reads the commit
manifests; warehouse rules run SQL from sql/checks/.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property

import duckdb
import pyarrow.compute as pc
import pyarrow.parquet as pq
from dagster import (
    AssetCheckEvaluation,
    AssetCheckKey,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    MetadataValue,
    Output,
)
from pyspark.sql.pandas.types import from_arrow_type

from banking_lakehouse.checks.rules import (
    ANOMALY_MAD_SIGMAS,
    ANOMALY_MIN_HISTORY,
    ANOMALY_MIN_RELATIVE_BAND,
    ANOMALY_WINDOW_DAYS,
    Rule,
    rules_for,
)
from banking_lakehouse.contracts import CONTRACTS, contract_rules, expected_types
from banking_lakehouse.entities import ENTITIES
from banking_lakehouse.partitions import daily_partitions_def
from banking_lakehouse.resources.lake import LakeResource, markdown_table
from banking_lakehouse.resources.postgres import PostgresResource
from banking_lakehouse.sql import quoted, read_sql

EXAMPLE_ROWS = 5
CONTRACT_KINDS = frozenset({"contract_schema", "completeness", "uniqueness", "validity"})


@dataclass
class CheckInputs:
    """What evaluators may read: the batch dates of the run, the lake and the warehouse."""

    dates: list[str]
    lake: LakeResource
    postgres: PostgresResource | None = None
    _raw_rows: dict[str, int] = field(default_factory=dict, init=False, repr=False)

    def raw_rows(self, entity: str) -> int:
        """Delivered rows of the run's batches, counted once per evaluation for every rule that needs them."""
        if entity not in self._raw_rows:
            self._raw_rows[entity] = sum(self.lake.raw_rows(d, entity) for d in self.dates)
        return self._raw_rows[entity]

    @cached_property
    def fact_totals(self) -> tuple[int, int, Decimal]:
        """Rows, orphan rows and Σ amount_usd of the run's batches in the warehouse fact (one query per date)."""
        rows, orphans, amount = 0, 0, Decimal(0)
        for d in self.dates:
            r, o, a = self.postgres.fetch(_sql("fact_batch_totals.sql"), {"batch_date": d})[0]
            rows, orphans, amount = rows + r, orphans + o, amount + a
        return rows, orphans, amount


Outcome = tuple[int, dict]  # failing rows, metadata


def check_specs(asset: AssetKey) -> list[AssetCheckSpec]:
    """Partitioned check specs: each day's result belongs to that day, also in a multi-day run."""
    return [
        AssetCheckSpec(
            r.name, asset=asset, description=r.description, blocking=r.blocking, partitions_def=daily_partitions_def
        )
        for r in rules_for(asset)
    ]


def _markdown(rows: list[dict]) -> MetadataValue:
    return MetadataValue.md(markdown_table(rows) if rows else "_no failing rows_")


def _rows(con: duckdb.DuckDBPyConnection, query: str, parameters: dict) -> list[dict]:
    cursor = con.execute(query, parameters)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def contract_outcomes(asset: AssetKey, inputs: CheckInputs) -> dict[str, dict[str, Outcome]]:
    """Per day: schema drift from the written files' schema, then one DuckDB scan (grouped by day) counting
    every completeness, uniqueness and validity rule; failing rows' examples only where a count is not 0."""
    model = CONTRACTS[asset.path[-1]]
    written = inputs.lake.arrow_dataset(asset.path, *inputs.dates)
    required, unique, validity = contract_rules(model)
    expected = expected_types(model)
    actual = {f.name: from_arrow_type(f.type).simpleString() for f in written.schema}
    drift = [
        {"column": c, "contract": expected.get(c, "-"), "written": actual.get(c, "-")}
        for c in sorted(expected.keys() | actual.keys())
        if expected.get(c) != actual.get(c)
    ]
    schema = (len(drift), {"columns_differing": len(drift), "examples": _markdown(drift)})
    if drift:  # the rules below name columns that may not exist
        return {d: {"contract_schema": schema} for d in inputs.dates}

    con = duckdb.connect()  # the partitions streamed from the lake's own filesystem (local or S3)
    con.execute("SET TimeZone = 'UTC'")  # examples' timestamps as the lake stores them
    con.register("part", written)
    parameters: dict[str, object] = {}
    failing = []
    for i, rule in enumerate(validity):
        condition, values = rule.failing(f"rule{i}")
        failing.append(condition)
        parameters |= values
    incomplete = " OR ".join(f"{quoted(c)} IS NULL" for c in required)
    invalid = " OR ".join(failing)
    counts = {"incomplete": incomplete, "invalid": invalid}
    counts |= {f"null_{c}": f"{quoted(c)} IS NULL" for c in required}
    counts |= {f"invalid_{i}": condition for i, condition in enumerate(failing)}
    aggregates = [f"count(*) FILTER (WHERE {condition}) AS {quoted(name)}" for name, condition in counts.items()]
    aggregates += [f"count({quoted(c)}) - count(DISTINCT {quoted(c)}) AS {quoted('duplicate_' + c)}" for c in unique]
    query = f"SELECT strftime(batch_date, '%Y-%m-%d') AS _day, {', '.join(aggregates)} FROM part GROUP BY ALL"  # noqa: S608 - quoted names, bound values
    by_day = {r.pop("_day"): r for r in _rows(con, query, parameters)}

    def examples(date: str, condition: str, values: dict, columns: list[str]) -> MetadataValue:
        selected = ", ".join(quoted(c) for c in dict.fromkeys(["source_file", "source_line", *columns]))
        query = f"SELECT {selected} FROM part WHERE batch_date = $day AND ({condition}) LIMIT {EXAMPLE_ROWS}"  # noqa: S608
        return _markdown(_rows(con, query, {**values, "day": date}))

    def repeated(date: str, column: str) -> list[dict]:
        c = quoted(column)
        query = f"SELECT {c}, count(*) AS count FROM part WHERE batch_date = $day GROUP BY {c} HAVING count(*) > 1 LIMIT {EXAMPLE_ROWS}"  # noqa: S608,E501
        return _rows(con, query, {"day": date})

    names = [*counts, *[f"duplicate_{c}" for c in unique]]
    outcomes = {}
    for date in inputs.dates:
        totals = {name: int(by_day.get(date, {}).get(name) or 0) for name in names}
        duplicates = sum(totals[f"duplicate_{c}"] for c in unique)
        dup_examples = [row for c in unique if totals[f"duplicate_{c}"] for row in repeated(date, c)]
        outcomes[date] = {
            "contract_schema": schema,
            "completeness": (
                totals["incomplete"],
                {
                    **{f"nulls_{c}": totals[f"null_{c}"] for c in required},
                    "examples": examples(date, incomplete, {}, required) if totals["incomplete"] else _markdown([]),
                },
            ),
            "uniqueness": (duplicates, {"duplicate_values": duplicates, "examples": _markdown(dup_examples)}),
            "validity": (
                totals["invalid"],
                {
                    **{f"{r.column}_{r.check}": totals[f"invalid_{i}"] for i, r in enumerate(validity)},
                    "examples": examples(date, invalid, parameters, sorted({r.column for r in validity}))
                    if totals["invalid"]
                    else _markdown([]),
                },
            ),
        }
    return outcomes


def _accounting(asset: AssetKey, rule: Rule, inputs: CheckInputs) -> Outcome:
    entity = asset.path[-1]
    raw = inputs.raw_rows(entity)
    silver = sum(inputs.lake.partition_stats(["silver", entity], d)["rows"] for d in inputs.dates)
    quarantined = sum(inputs.lake.partition_stats(["quarantine", entity], d)["rows"] for d in inputs.dates)
    missing = raw - silver - quarantined
    return abs(missing), {
        "raw_rows": raw,
        "silver_rows": silver,
        "quarantined_rows": quarantined,
        "unaccounted_rows": missing,
    }


def _quarantine_rate(asset: AssetKey, rule: Rule, inputs: CheckInputs) -> Outcome:
    entity = asset.path[-1]
    raw = inputs.raw_rows(entity)
    reasons = [inputs.lake.read_arrow(["quarantine", entity], d).column("reason") for d in inputs.dates]
    counted = sum(pc.sum(pc.not_equal(r, "exact_duplicate")).as_py() or 0 for r in reasons)
    rate = counted / raw if raw else 0.0
    failed = counted if rate > rule.threshold else 0
    return failed, {
        "quarantined_rows": counted,
        "raw_rows": raw,
        "quarantine_rate": round(rate, 6),
        "threshold": rule.threshold,
    }


def _batch_freshness(asset: AssetKey, rule: Rule, inputs: CheckInputs) -> Outcome:
    newest = {}
    for d in inputs.dates:
        dates = inputs.lake.read_arrow(["silver", "transactions"], d, columns=["transaction_date"]).column(0)
        latest = pc.max(dates).as_py() if len(dates) else None
        newest[d] = latest.isoformat() if latest else "no rows"
    stale = [d for d, latest in newest.items() if latest != d]
    return len(stale), {"stale_batches": len(stale), "newest_transaction_date": ", ".join(newest.values())}


def _sql(name: str) -> str:
    return read_sql(f"checks/{name}")


def _referential(asset: AssetKey, rule: Rule, inputs: CheckInputs) -> Outcome:
    missing: dict[str, int] = {}
    for d in inputs.dates:
        for dimension, count in inputs.postgres.fetch(_sql("fact_referential.sql"), {"batch_date": d}):
            missing[dimension] = missing.get(dimension, 0) + count
    return sum(missing.values()), {f"missing_{k}_keys": v for k, v in missing.items()}


def _version_integrity(count: str) -> Callable[[AssetKey, Rule, CheckInputs], Outcome]:
    """A type-2 rule over the asset's whole version table (sql/checks/version_integrity.sql): `count` its
    failing rows; every count goes in the metadata."""

    def evaluator(asset: AssetKey, rule: Rule, inputs: CheckInputs) -> Outcome:
        query = _sql("version_integrity.sql")
        with inputs.postgres.connect() as conn:
            cursor = conn.execute(query, {"dimension": asset.path[-1]})
            counts = dict(zip([c.name for c in cursor.description], cursor.fetchone(), strict=True))
        return counts[count], counts

    return evaluator


def _fact_versions(asset: AssetKey, rule: Rule, inputs: CheckInputs) -> Outcome:
    misplaced: dict[str, int] = {}
    for d in inputs.dates:
        for dimension, count in inputs.postgres.fetch(_sql("fact_versions.sql"), {"batch_date": d}):
            misplaced[dimension] = misplaced.get(dimension, 0) + count
    return sum(misplaced.values()), {f"misplaced_{k}_versions": v for k, v in sorted(misplaced.items())}


def _fact_reconciliation(asset: AssetKey, rule: Rule, inputs: CheckInputs) -> Outcome:
    silver = sum(inputs.lake.partition_stats(["silver", "transactions"], d)["rows"] for d in inputs.dates)
    fact = inputs.fact_totals[0]
    return abs(silver - fact), {"silver_rows": silver, "fact_rows": fact}


def _orphans(asset: AssetKey, rule: Rule, inputs: CheckInputs) -> Outcome:
    rows, orphans, _ = inputs.fact_totals
    rate = orphans / rows if rows else 0.0
    failed = orphans if rate > rule.threshold else 0
    return failed, {"orphan_rows": orphans, "orphan_rate": round(rate, 6), "threshold": rule.threshold}


def _lake_history(inputs: CheckInputs, key: list[str], first: str, last: str) -> list[str]:
    return [d for d in inputs.lake.list_partitions(key) if first <= d <= last]


def _silver_rows(inputs: CheckInputs, first: str, last: str) -> dict[str, float]:
    key = ["silver", "transactions"]
    return {d: inputs.lake.partition_stats(key, d)["rows"] for d in _lake_history(inputs, key, first, last)}


def _quarantined_share(inputs: CheckInputs, first: str, last: str) -> dict[str, float]:
    """Quarantined rows over delivered records, per batch (manifests only: no data read)."""
    rates = {}
    for d in _lake_history(inputs, ["quarantine", "transactions"], first, last):
        raw = inputs.lake.raw_rows(d, "transactions")
        rates[d] = inputs.lake.partition_stats(["quarantine", "transactions"], d)["rows"] / raw if raw else 0.0
    return rates


def _warehouse_metric(column: str):
    def values(inputs: CheckInputs, first: str, last: str) -> dict[str, float]:
        rows = inputs.postgres.fetch(_sql("batch_metrics.sql"), {"first": first, "last": last})
        metrics = {
            d.isoformat(): {"amount_usd": float(amount), "fraud_rate": fraud / facts if facts else 0.0}
            for d, facts, amount, fraud in rows
        }
        return {d: m[column] for d, m in metrics.items()}

    return values


METRICS: dict[str, Callable[[CheckInputs, str, str], dict[str, float]]] = {
    "silver_rows": _silver_rows,
    "quarantine_rate": _quarantined_share,
    "amount_usd": _warehouse_metric("amount_usd"),
    "fraud_rate": _warehouse_metric("fraud_rate"),
}


def _anomaly(asset: AssetKey, rule: Rule, inputs: CheckInputs) -> Outcome:
    """The batch's value against the earlier batches' (robust band: median ± max(k·1.4826·MAD, 10 %, floor)).

    Silent until enough history; the history is whatever earlier batches are committed when the check
    runs, so a day of a range run sees the days before it exactly as a single-day run would."""
    date = inputs.dates[0]
    first = (dt.date.fromisoformat(date) - dt.timedelta(days=ANOMALY_WINDOW_DAYS)).isoformat()
    values = METRICS[rule.metric](inputs, first, date)
    value = values.get(date, 0.0)
    history = [v for d, v in sorted(values.items()) if d < date]
    if len(history) < ANOMALY_MIN_HISTORY:
        return 0, {
            "value": value,
            "history_batches": len(history),
            "band": f"insufficient history: needs {ANOMALY_MIN_HISTORY} earlier batches",
        }
    median = statistics.median(history)
    mad = statistics.median(abs(v - median) for v in history)
    half = max(ANOMALY_MAD_SIGMAS * 1.4826 * mad, ANOMALY_MIN_RELATIVE_BAND * abs(median), rule.min_band)
    low, high = median - half, median + half
    return int(not low <= value <= high), {
        "value": value,
        "median": median,
        "band_low": round(low, 6),
        "band_high": round(high, 6),
        "history_batches": len(history),
    }


def _aggregate_reconciliation(asset: AssetKey, rule: Rule, inputs: CheckInputs) -> Outcome:
    table = asset.path[-1]
    aggregate = Decimal(0)
    for d in inputs.dates:
        data = inputs.lake.read_arrow(["gold", table], d)
        aggregate += pc.sum(data.column("total_amount_usd")).as_py() or Decimal(0)
    fact = inputs.fact_totals[2]
    difference = aggregate - fact
    return int(difference != 0), {
        "aggregate_amount_usd": float(aggregate),
        "fact_amount_usd": float(fact),
        "difference": float(difference),
    }


def _extraction_reconciliation(asset: AssetKey, rule: Rule, inputs: CheckInputs) -> Outcome:
    """A core entity's day: the source's count of the window, taken in the extraction's own snapshot, against
    the rows and distinct ids of the extracted Parquet the raw zone committed. A file delivery extracts nothing."""
    entity, (date,) = asset.path[-1], inputs.dates
    delivered = inputs.lake.delivery(date)["entities"][entity]
    if delivered.get("source") != "core":
        return 0, {"source": "file delivery (nothing extracted)"}
    extracted = pq.read_table(
        inputs.lake.local_raw_file(date, delivered["file"]), columns=[ENTITIES[entity].id_column]
    ).column(0)
    repeated = len(extracted) - pc.count_distinct(extracted).as_py()
    return abs(delivered["source_rows"] - len(extracted)) + repeated, {
        "source": "core",
        "source_rows": delivered["source_rows"],
        "extracted_rows": len(extracted),
        "repeated_ids": repeated,
    }


EVALUATORS: dict[str, Callable[[AssetKey, Rule, CheckInputs], Outcome]] = {
    "accounting": _accounting,
    "quarantine_rate": _quarantine_rate,
    "referential": _referential,
    "version_overlaps": _version_integrity("overlapping"),
    "version_gaps": _version_integrity("gaps"),
    "version_current": _version_integrity("keys_without_one_current"),
    "fact_versions": _fact_versions,
    "fact_reconciliation": _fact_reconciliation,
    "orphans": _orphans,
    "aggregate_reconciliation": _aggregate_reconciliation,
    "batch_freshness": _batch_freshness,
    "anomaly": _anomaly,
    "extraction_reconciliation": _extraction_reconciliation,
}


def evaluate(
    context: AssetExecutionContext, asset: AssetKey, inputs: CheckInputs
) -> Iterator[AssetCheckEvaluation | Output]:
    """Every rule of the asset evaluated for each day of the run, each result recorded against its own
    partition (with failing counts and examples); a failed blocking ERROR rule stops the step once all
    are recorded, so nothing downstream materializes on top of it."""
    rules = rules_for(asset)
    contract = contract_outcomes(asset, inputs) if any(r.kind in CONTRACT_KINDS for r in rules) else {}
    for date in inputs.dates:
        day = CheckInputs([date], inputs.lake, inputs.postgres)
        for rule in rules:
            if rule.kind in CONTRACT_KINDS:
                failed, metadata = contract[date].get(rule.kind, (1, {"skipped": "contract_schema failed"}))
            else:
                failed, metadata = EVALUATORS[rule.kind](asset, rule, day)
            yield AssetCheckEvaluation(
                asset_key=asset,
                check_name=rule.name,
                passed=failed == 0,
                severity=rule.severity,
                blocking=rule.blocking,
                metadata={"failed_rows": failed, **metadata},
                partition=date,
            )
    # The check outputs Dagster expects once per step; the evaluations above carry the results.
    outputs = {spec.key: name for name, spec in context.assets_def.check_specs_by_output_name.items()}
    for rule in rules:
        yield Output(None, output_name=outputs[AssetCheckKey(asset, rule.name)])
