"""Every data-quality rule of SPEC §6, one line each: which asset, what kind, how severe, whether it blocks.

Blocking rules guard what flows downstream: a failure stops the run before gold or PostgreSQL change.
"""

from __future__ import annotations

from dataclasses import dataclass

from dagster import AssetCheckSeverity

from banking_lakehouse.transforms.silver import MASTER_SPECS, TRANSACTION_REQUIRED

ERROR, WARN = AssetCheckSeverity.ERROR, AssetCheckSeverity.WARN


@dataclass(frozen=True)
class Rule:
    name: str
    asset: str  # asset key path joined by "/"
    kind: str  # an evaluator in factory.EVALUATORS
    severity: AssetCheckSeverity
    blocking: bool
    description: str
    columns: tuple[str, ...] = ()
    threshold: float = 0.0


def _silver_rules(entity: str, id_column: str, required: list[str]) -> list[Rule]:
    asset = f"silver/{entity}"
    return [
        Rule(f"{id_column}_unique", asset, "unique", ERROR, True, f"{id_column} is unique in silver", (id_column,)),
        Rule("required_not_null", asset, "not_null", ERROR, True, "required columns have no nulls", tuple(required)),
        Rule("raw_accounted_for", asset, "accounting", ERROR, True,
             "raw rows = silver rows + quarantined rows (removed exact duplicates included)"),
        Rule("quarantine_rate_warn", asset, "quarantine_rate", WARN, False, "quarantine rate at most 1 %", threshold=0.01),
        Rule("quarantine_rate_error", asset, "quarantine_rate", ERROR, True, "quarantine rate at most 5 %", threshold=0.05),
    ]


RULES: tuple[Rule, ...] = (
    *_silver_rules("transactions", "transaction_id",
                   TRANSACTION_REQUIRED + ["transaction_date", "amount_usd", "currency", "channel", "status"]),
    *[r for e, s in MASTER_SPECS.items() for r in _silver_rules(e, s.id_column, s.required)],
    Rule("fact_references_dimensions", "warehouse/fact_transactions", "referential", ERROR, True,
         "every fact key exists in its dimension (orphans point at the -1 member)"),
    Rule("fact_matches_silver", "warehouse/fact_transactions", "fact_reconciliation", ERROR, True,
         "fact rows of the batch = silver transaction rows of the batch"),
    Rule("orphans_flagged", "warehouse/fact_transactions", "orphans", WARN, False,
         "fact rows of the batch pointing at an unknown customer, account or merchant"),
    Rule("amount_matches_fact", "warehouse/daily_customer_summary", "aggregate_reconciliation", ERROR, True,
         "Σ total_amount_usd of the batch = Σ amount_usd of the batch's fact rows"),
    Rule("amount_matches_fact", "warehouse/merchant_daily_summary", "aggregate_reconciliation", ERROR, True,
         "Σ total_amount_usd of the batch = Σ amount_usd of the batch's fact rows"),
)


def rules_for(asset: str) -> list[Rule]:
    return [r for r in RULES if r.asset == asset]
