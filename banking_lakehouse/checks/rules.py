"""Every data-quality rule (docs/quality.md), one line each: which asset, what kind, how severe, whether it blocks.

Blocking (ERROR) rules guard what flows downstream: a failure stops the run before gold or
PostgreSQL change. WARN rules report without stopping. Silver completeness, uniqueness and
validity come from the pandera contracts in contracts.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from dagster import AssetCheckSeverity, AssetKey

from banking_lakehouse import settings
from banking_lakehouse.contracts import CONTRACTS
from banking_lakehouse.entities import MASTER_ENTITIES
from banking_lakehouse.transforms.gold import DIMENSIONS

ERROR, WARN = AssetCheckSeverity.ERROR, AssetCheckSeverity.WARN


@dataclass(frozen=True)
class Rule:
    name: str
    asset: AssetKey
    kind: str  # an evaluator in factory.EVALUATORS (or a contract kind counted in one DuckDB scan)
    severity: AssetCheckSeverity
    blocking: bool
    description: str
    threshold: float = 0.0
    metric: str = ""  # what an anomaly rule watches (factory.METRICS)
    min_band: float = 0.0  # an anomaly band's least half-width in the metric's own unit


# Anomaly rules: the batch's value against the same value of the earlier batches (robust: median and MAD).
ANOMALY_WINDOW_DAYS = 14  # history: the batches of the 14 days before
ANOMALY_MIN_HISTORY = 5  # silent (passed, "insufficient history") until this many earlier batches
ANOMALY_MAD_SIGMAS = 3.5  # band half-width in MAD-based standard deviations (1.4826 · MAD)
ANOMALY_MIN_RELATIVE_BAND = 0.10  # and never narrower than ±10 % of the median (a perfectly steady history)
RATE_MIN_BAND = 0.005  # nor, for a share, than ±0.5 percentage points (a small batch rounds its counts)


def _silver_rules(entity: str) -> list[Rule]:
    asset = AssetKey(["silver", entity])
    return [
        Rule("contract_schema", asset, "contract_schema", ERROR, True, "columns and types equal the pandera contract"),
        Rule("completeness", asset, "completeness", ERROR, True, "no nulls in the contract's required columns"),
        Rule("uniqueness", asset, "uniqueness", ERROR, True, "the contract's unique columns hold no duplicates"),
        Rule("validity", asset, "validity", ERROR, True, "allowed values, patterns and ranges of the contract hold"),
        Rule(
            "raw_accounted_for",
            asset,
            "accounting",
            ERROR,
            True,
            "raw rows = silver rows + quarantined rows (removed exact duplicates included)",
        ),
        Rule(
            "quarantine_rate_warn",
            asset,
            "quarantine_rate",
            WARN,
            False,
            "quarantined share of the batch at most the warn rate (BANKING_QUARANTINE_WARN_RATE)",
            threshold=settings.quarantine_warn_rate(),
        ),
        Rule(
            "quarantine_rate_error",
            asset,
            "quarantine_rate",
            ERROR,
            True,
            "quarantined share of the batch at most the error rate (BANKING_QUARANTINE_ERROR_RATE)",
            threshold=settings.quarantine_error_rate(),
        ),
    ]


SILVER_TRANSACTIONS = AssetKey(["silver", "transactions"])
FACT = AssetKey(["warehouse", "fact_transactions"])
FRAUD = AssetKey(["warehouse", "fraud_transactions"])
CUSTOMER_SUMMARY = AssetKey(["warehouse", "daily_customer_summary"])
MERCHANT_SUMMARY = AssetKey(["warehouse", "merchant_daily_summary"])

# History-keeping (type 2) dimensions: each version table's validity, and the fact's pointers at versions.
VERSION_RULES: tuple[Rule, ...] = (
    *[
        Rule(name, AssetKey(["warehouse", d.name]), kind, ERROR, True, description)
        for d in DIMENSIONS
        if d.version_key
        for name, kind, description in (
            ("versions_do_not_overlap", "version_overlaps", "no two versions of a key are valid at the same time"),
            ("versions_leave_no_gaps", "version_gaps", "each version of a key ends where its next version starts"),
            ("one_current_version", "version_current", "exactly one current version per key, and it is the last"),
        )
    ],
    Rule(
        "fact_points_at_valid_versions",
        FACT,
        "fact_versions",
        ERROR,
        True,
        "each fact row's customer and account version key is a version of its key valid at transaction_ts",
    ),
)

RULES: tuple[Rule, ...] = (
    *[r for entity in CONTRACTS for r in _silver_rules(entity)],
    *[
        Rule(
            "extraction_reconciled",
            AssetKey(["raw", entity]),
            "extraction_reconciliation",
            ERROR,
            True,
            "core-banking extraction: rows changed in the window in the source (counted in the extraction's "
            "snapshot) = rows in the raw zone, each id once",
        )
        for entity in MASTER_ENTITIES
    ],
    Rule(
        "batch_freshness",
        SILVER_TRANSACTIONS,
        "batch_freshness",
        WARN,
        False,
        "the batch holds transactions of its own delivery date (not a stale re-delivery)",
    ),
    Rule(
        "fact_references_dimensions",
        FACT,
        "referential",
        ERROR,
        True,
        "every fact key exists in its dimension (orphans point at the -1 member)",
    ),
    Rule(
        "fact_matches_silver",
        FACT,
        "fact_reconciliation",
        ERROR,
        True,
        "fact rows of the batch = silver transaction rows of the batch",
    ),
    Rule(
        "orphans_flagged",
        FACT,
        "orphans",
        WARN,
        False,
        "share of the batch's fact rows pointing at an unknown customer, account or merchant at most the "
        "orphan warn rate (BANKING_ORPHAN_WARN_RATE)",
        threshold=settings.orphan_warn_rate(),
    ),
    Rule(
        "row_count_anomaly",
        SILVER_TRANSACTIONS,
        "anomaly",
        WARN,
        False,
        "the batch's silver rows within the robust band of the earlier batches (median ± MAD)",
        metric="silver_rows",
    ),
    Rule(
        "quarantine_rate_anomaly",
        SILVER_TRANSACTIONS,
        "anomaly",
        WARN,
        False,
        "the batch's quarantined share within the robust band of the earlier batches",
        metric="quarantine_rate",
        min_band=RATE_MIN_BAND,
    ),
    Rule(
        "amount_anomaly",
        FACT,
        "anomaly",
        WARN,
        False,
        "the batch's Σ amount_usd (outliers left out) within the robust band of the earlier batches",
        metric="amount_usd",
    ),
    Rule(
        "fraud_rate_anomaly",
        FRAUD,
        "anomaly",
        WARN,
        False,
        "the batch's flagged share within the robust band of the earlier batches",
        metric="fraud_rate",
        min_band=RATE_MIN_BAND,
    ),
    Rule(
        "amount_matches_fact",
        CUSTOMER_SUMMARY,
        "aggregate_reconciliation",
        ERROR,
        True,
        "Σ total_amount_usd of the batch = Σ amount_usd of the batch's fact rows",
    ),
    Rule(
        "amount_matches_fact",
        MERCHANT_SUMMARY,
        "aggregate_reconciliation",
        ERROR,
        True,
        "Σ total_amount_usd of the batch = Σ amount_usd of the batch's fact rows",
    ),
    *VERSION_RULES,
)


def rules_for(asset: AssetKey) -> list[Rule]:
    return [r for r in RULES if r.asset == asset]
