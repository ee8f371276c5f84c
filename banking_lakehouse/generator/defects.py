"""Defect injection (docs/quality.md): each chosen row carries exactly one defect, so every count is exact."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from banking_lakehouse import reference as ref
from banking_lakehouse.entities import TRANSACTIONS
from banking_lakehouse.generator.config import GeneratorConfig
from banking_lakehouse.generator.master import noisy_country

IN_PLACE = [
    "missing_required",
    "invalid_amount",
    "formatted_amount",
    "mixed_timestamp",
    "invalid_timestamp",
    "currency_noise",
    "invalid_currency",
    "country_noise",
    "categorical_noise",
    "non_positive_amount",
    "outlier",
    "orphan_customer",
    "orphan_merchant",
    "orphan_account",
    "late_arrival",
]
# Transaction defects whose lines silver must quarantine (the others are normalised, or kept and flagged).
QUARANTINED_DEFECTS = frozenset(
    {
        "exact_duplicate",
        "conflicting_duplicate",
        "missing_required",
        "invalid_amount",
        "invalid_timestamp",
        "invalid_currency",
        "non_positive_amount",
    }
)
# Transaction defects silver keeps and flags: code -> the silver column that marks the row.
FLAGGED_DEFECTS: dict[str, str] = {
    "orphan_customer": "is_orphan_customer",
    "orphan_account": "is_orphan_account",
    "orphan_merchant": "is_orphan_merchant",
    "late_arrival": "is_late_arrival",
    "outlier": "is_outlier",
}
REQUIRED_FIELDS = ["transaction_id", "account_id", "amount", "transaction_ts"]
ORPHAN_ID_BASE = 8_000_000


def iso_utc(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def formatted(cents: int, variant: int) -> str:
    whole, frac = divmod(cents, 100)
    if variant == 0:
        return f"${whole:,}.{frac:02d}"
    text = f"{whole}.{frac:02d}".rstrip("0").rstrip(".")
    return f" {text} " if variant == 1 else f"{whole:,}.{frac:02d}" if whole >= 1000 else f"${text}"


def mixed_timestamp(epoch: int, variant: int) -> str:
    moment = dt.datetime.fromtimestamp(epoch, dt.UTC)
    if variant == 0:
        offset = dt.timezone(dt.timedelta(hours=2))
        return moment.astimezone(offset).isoformat()
    if variant == 1:
        offset = dt.timezone(dt.timedelta(hours=-5))
        return moment.astimezone(offset).isoformat()
    if variant == 2:
        return moment.strftime("%m/%d/%Y %H:%M:%S")
    return str(epoch * 1000)


def inject_defects(
    cfg: GeneratorConfig, columns: dict[str, pa.Array], cents: np.ndarray, ts: np.ndarray, protected: np.ndarray
) -> tuple[pa.Table, dict[str, int], int]:
    """Applies every defect; returns the delivered table, rows per code, and the raw row count."""
    rng = np.random.default_rng([cfg.seed, cfg.date.toordinal(), 5])
    n = len(ts)
    k = {code: int(round(rate * cfg.rows)) for code, rate in cfg.defect_rates.items()}
    k["conflicting_duplicate"] = k.get("conflicting_duplicate", 0) // 2  # pairs
    order = [c for c in IN_PLACE if k.get(c)] + [c for c in ("exact_duplicate", "conflicting_duplicate") if k.get(c)]
    eligible = np.ones(n, dtype=bool)
    eligible[protected] = False
    candidates = np.flatnonzero(eligible)
    chosen = rng.choice(candidates, sum(k[c] for c in order), replace=False)
    picks: dict[str, np.ndarray] = {}
    start = 0
    for code in order:
        picks[code] = np.sort(chosen[start : start + k[code]])
        start += k[code]

    edits: dict[str, dict[int, str | None]] = {col: {} for col in TRANSACTIONS.columns}
    country = columns["country"].to_pylist()
    variant = lambda rows, m: [(int(r), i % m) for i, r in enumerate(rows)]  # noqa: E731
    for r, v in variant(picks.get("missing_required", []), len(REQUIRED_FIELDS)):
        edits[REQUIRED_FIELDS[v]][r] = None
    for r, v in variant(picks.get("invalid_amount", []), 4):
        edits["amount"][r] = ["N/A", "12,5O", "1.2.3", "abc"][v]
    for r, v in variant(picks.get("formatted_amount", []), 3):
        edits["amount"][r] = formatted(int(cents[r]), v)
    for r, v in variant(picks.get("mixed_timestamp", []), 4):
        edits["transaction_ts"][r] = mixed_timestamp(int(ts[r]), v)
    for r, v in variant(picks.get("invalid_timestamp", []), 3):
        edits["transaction_ts"][r] = ["2024-13-45T25:61:00Z", "not a date", "31/02/2024 10:00:00"][v]
    currency = columns["currency"].to_pylist()
    for r, v in variant(picks.get("currency_noise", []), 3):
        edits["currency"][r] = [currency[r].lower(), f"{currency[r]} ", currency[r].title()][v]
    for r, v in variant(picks.get("invalid_currency", []), 3):
        edits["currency"][r] = ["XYZ", "US$", "EURO"][v]
    for r in picks.get("country_noise", []):
        edits["country"][int(r)] = noisy_country(rng, country[int(r)])
    channel, status = columns["channel"].to_pylist(), columns["status"].to_pylist()
    for r, v in variant(picks.get("categorical_noise", []), 3):
        if v == 0:
            edits["channel"][r] = f" {channel[r].title()}"
        elif v == 1:
            edits["channel"][r] = channel[r].upper()
        else:
            edits["status"][r] = status[r].upper()
    for r, v in variant(picks.get("non_positive_amount", []), 3):
        edits["amount"][r] = ["0", "0.00", f"-{cents[r] // 100}.{cents[r] % 100:02d}"][v]
    rate = {code: ref.USD_RATES[c[1]] for code, c in ref.COUNTRIES.items()}
    for r in picks.get("outlier", []):  # above 1 000 000 in USD, written in the row's own currency
        edits["amount"][int(r)] = f"{rng.uniform(1_000_100, 5_000_000) / rate[country[int(r)]]:.2f}"
    for code, col, prefix in (
        ("orphan_customer", "customer_id", "C{:07d}"),
        ("orphan_merchant", "merchant_id", "M{:06d}"),
        ("orphan_account", "account_id", "A{:08d}"),
    ):
        for i, r in enumerate(picks.get(code, [])):
            edits[col][int(r)] = prefix.format(ORPHAN_ID_BASE + i + 1)
    for r in picks.get("late_arrival", []):
        edits["transaction_ts"][int(r)] = iso_utc(int(ts[r]) - int(rng.integers(1, 4)) * 86_400)

    patched = {}
    for col in TRANSACTIONS.columns:
        arr = columns[col]
        if edits[col]:
            mask = np.zeros(n, dtype=bool)
            rows = np.array(sorted(edits[col]), dtype=np.int64)
            mask[rows] = True
            arr = pc.replace_with_mask(arr, pa.array(mask), pa.array([edits[col][int(r)] for r in rows], pa.string()))
        patched[col] = arr
    table = pa.table(patched)

    # Second deliveries: exact copies, and conflicting copies with another amount, at random later lines.
    exact_src = picks.get("exact_duplicate", np.array([], dtype=np.int64))
    conflict_src = picks.get("conflicting_duplicate", np.array([], dtype=np.int64))
    conflict_rows = table.take(pa.array(conflict_src, pa.int64()))
    new_amount = [f"{(c + int(rng.integers(100, 5_000))) // 100}.{(c + 37) % 100:02d}" for c in cents[conflict_src]]
    conflict_rows = conflict_rows.set_column(
        TRANSACTIONS.columns.index("amount"), "amount", pa.array(new_amount, pa.string())
    )
    copies = pa.concat_tables([table.take(pa.array(exact_src, pa.int64())), conflict_rows])
    sources = np.concatenate([exact_src, conflict_src])
    positions = sources + 1 + (rng.random(len(sources)) * (n - sources)).astype(np.int64)
    row_order = np.insert(np.arange(n), np.minimum(positions, n), n + np.arange(len(sources)))
    delivered = pa.concat_tables([table, copies]).take(pa.array(row_order, pa.int64()))

    counts = {code: int(k.get(code, 0)) for code in cfg.defect_rates}
    counts["conflicting_duplicate"] = 2 * k.get("conflicting_duplicate", 0)
    return delivered, counts, delivered.num_rows
