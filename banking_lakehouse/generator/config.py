"""Typed generator settings: volumes, defect rates and fraud rates."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

# Transaction defect codes (docs/quality.md) -> share of the day's rows. Defaults sum to about 2 %.
DEFAULT_DEFECT_RATES: dict[str, float] = {
    "exact_duplicate": 0.0015,
    "conflicting_duplicate": 0.0010,
    "missing_required": 0.0015,
    "invalid_amount": 0.0010,
    "formatted_amount": 0.0030,
    "mixed_timestamp": 0.0030,
    "invalid_timestamp": 0.0010,
    "currency_noise": 0.0020,
    "invalid_currency": 0.0005,
    "country_noise": 0.0010,
    "categorical_noise": 0.0020,
    "non_positive_amount": 0.0010,
    "outlier": 0.0002,
    "orphan_customer": 0.0005,
    "orphan_merchant": 0.0005,
    "orphan_account": 0.0005,
    "late_arrival": 0.0010,
}

# Master-data defect codes -> share of the entity's rows.
DEFAULT_MASTER_DEFECT_RATES: dict[str, dict[str, float]] = {
    "customers": {
        "duplicate_id": 0.002,
        "missing_required": 0.002,
        "invalid_email": 0.002,
        "invalid_phone": 0.002,
        "country_noise": 0.005,
    },
    "accounts": {"duplicate_id": 0.002, "missing_required": 0.002},
    "merchants": {"duplicate_id": 0.005, "missing_required": 0.005, "country_noise": 0.01},
}

# Fraud pattern (docs/fraud.md) -> injected rows per 100 000 transactions (at least one burst each).
DEFAULT_FRAUD_PER_100K: dict[str, float] = {
    "large_amount": 20,
    "card_testing": 30,  # 5 bursts of 6
    "velocity": 36,  # 3 bursts of 12
    "impossible_travel": 10,
    "risky_merchant_night": 10,
    "spending_spike": 10,
    # Patterns banks report on: enough that a 20 000-row day has a few instances of each.
    "structuring": 20,  # bursts of 3-5 deposits or transfers received
    "dormant_reactivation": 20,  # fewer where the dormant accounts cannot be spread over DORMANT_DAYS (fraud.py)
    "round_amount_burst": 25,  # bursts of 4-6 transfers
    "rapid_pass_through": 20,  # pairs: money in, then most of it out
    "account_takeover": 20,
}

CARD_TESTING_BURST = 6
VELOCITY_BURST = 12


@dataclass(frozen=True)
class GeneratorConfig:
    """Everything that determines a day's files: same config, same bytes."""

    date: dt.date
    rows: int = 100_000
    seed: int = 7
    defect_rates: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_DEFECT_RATES))
    master_defect_rates: dict[str, dict[str, float]] = field(
        default_factory=lambda: {k: dict(v) for k, v in DEFAULT_MASTER_DEFECT_RATES.items()}
    )
    fraud_per_100k: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_FRAUD_PER_100K))

    def __post_init__(self) -> None:
        if self.rows < 1_000:
            raise ValueError(f"rows must be at least 1000, got {self.rows}")
        unknown = set(self.defect_rates) - set(DEFAULT_DEFECT_RATES)
        if unknown:
            raise ValueError(f"unknown defect codes: {sorted(unknown)}")

    @property
    def n_customers(self) -> int:
        return max(300, self.rows // 8)  # ~5 transactions per account a day, as in a retail bank

    @property
    def n_merchants(self) -> int:
        return max(200, self.rows // 200)
