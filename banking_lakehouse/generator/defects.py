"""Defect injection (docs/quality.md): each chosen row carries exactly one defect, so every count is exact."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from banking_lakehouse import reference as ref
from banking_lakehouse.entities import TRANSACTIONS
from banking_lakehouse.generator.config import GeneratorConfig
from banking_lakehouse.generator.master import noisy_country
from banking_lakehouse.generator.render import TRANSACTION_SCHEMA, TransactionRenderer

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


@dataclass(frozen=True)
class Patch:
    """Delivered text that replaces the canonical text of some keys (rows, or copy slots) of one column."""

    keys: np.ndarray  # sorted, unique
    values: pa.Array

    @classmethod
    def of(cls, edits: dict[int, str | None]) -> Patch:
        keys = np.array(sorted(edits), dtype=np.int64)
        return cls(keys, pa.array([edits[int(k)] for k in keys], pa.string()))

    def apply(self, column: pa.Array, keys: np.ndarray) -> pa.Array:
        """The column with the text of every patched key; keys may repeat and come in any order."""
        at = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        hit = self.keys[at] == keys
        if not hit.any():
            return column
        return pc.replace_with_mask(column, pa.array(hit), self.values.take(pa.array(at[hit])))


@dataclass(frozen=True)
class DefectPlan:
    """Every defect of the day decided up front (small: ~2 % of rows), applied to any chunk of the file.

    The file is the clean rows in time order with second deliveries (copies) written among them; slot
    r < rows is clean row r, slot rows + c is copy c. A chunk of slots renders and patches on its own,
    so the day is written in chunks with the same bytes as written at once.
    """

    rows: int  # clean rows of the day
    row_patches: dict[str, Patch]  # in-place defects by column, keyed by row (copies repeat them)
    copy_sources: np.ndarray  # the row each copy repeats: exact copies first, then conflicting ones
    copy_before: np.ndarray  # the clean row each copy is written just before (rows: after the last)
    copy_patches: dict[str, Patch]  # keyed by slot: the conflicting copies' other amount
    counts: dict[str, int]  # delivered rows per defect code

    @property
    def delivered_rows(self) -> int:
        return self.rows + len(self.copy_sources)

    def slots(self, start: int, stop: int) -> np.ndarray:
        """File order of the clean rows [start, stop) and the copies written among them (the last chunk
        also takes the copies written after the last row)."""
        end = stop if stop < self.rows else stop + 1
        mine = np.flatnonzero((self.copy_before >= start) & (self.copy_before < end))
        return np.insert(np.arange(start, stop), self.copy_before[mine] - start, self.rows + mine)

    def deliver(self, renderer: TransactionRenderer, slots: np.ndarray) -> pa.Table:
        """The delivered lines of the given slots."""
        rows = slots.copy()
        copies = slots >= self.rows
        rows[copies] = self.copy_sources[slots[copies] - self.rows]
        columns = renderer.render(rows)
        for column, patch in self.row_patches.items():
            columns[column] = patch.apply(columns[column], rows)
        for column, patch in self.copy_patches.items():
            columns[column] = patch.apply(columns[column], slots)
        return pa.Table.from_pydict(columns, schema=TRANSACTION_SCHEMA)


def plan_defects(cfg: GeneratorConfig, renderer: TransactionRenderer, protected: np.ndarray) -> DefectPlan:
    """Chooses the defect rows (never a fraud row) and the text each delivers; counts are exact."""
    rng = np.random.default_rng([cfg.seed, cfg.date.toordinal(), 5])
    ts = renderer.tx.ts
    n = len(ts)
    k = {code: int(round(rate * cfg.rows)) for code, rate in cfg.defect_rates.items()}
    k["conflicting_duplicate"] = k.get("conflicting_duplicate", 0) // 2  # pairs
    order = [c for c in IN_PLACE if k.get(c)] + [c for c in ("exact_duplicate", "conflicting_duplicate") if k.get(c)]
    eligible = np.ones(n, dtype=bool)
    eligible[protected] = False
    chosen = rng.choice(np.flatnonzero(eligible), sum(k[c] for c in order), replace=False)
    del eligible
    picks: dict[str, np.ndarray] = {}
    start = 0
    for code in order:
        picks[code] = np.sort(chosen[start : start + k[code]])
        start += k[code]

    # The canonical text of the chosen rows, which the noisy variants are made from.
    chosen = np.sort(chosen)
    canonical = renderer.render(chosen)
    country, currency, channel, status = (
        dict(zip(chosen.tolist(), canonical[col].to_pylist(), strict=True))
        for col in ("country", "currency", "channel", "status")
    )
    cents = dict(zip(chosen.tolist(), renderer.cents(chosen).tolist(), strict=True))

    edits: dict[str, dict[int, str | None]] = {col: {} for col in TRANSACTIONS.columns}
    variant = lambda rows, m: [(int(r), i % m) for i, r in enumerate(rows)]  # noqa: E731
    for r, v in variant(picks.get("missing_required", []), len(REQUIRED_FIELDS)):
        edits[REQUIRED_FIELDS[v]][r] = None
    for r, v in variant(picks.get("invalid_amount", []), 4):
        edits["amount"][r] = ["N/A", "12,5O", "1.2.3", "abc"][v]
    for r, v in variant(picks.get("formatted_amount", []), 3):
        edits["amount"][r] = formatted(cents[r], v)
    for r, v in variant(picks.get("mixed_timestamp", []), 4):
        edits["transaction_ts"][r] = mixed_timestamp(int(ts[r]), v)
    for r, v in variant(picks.get("invalid_timestamp", []), 3):
        edits["transaction_ts"][r] = ["2024-13-45T25:61:00Z", "not a date", "31/02/2024 10:00:00"][v]
    for r, v in variant(picks.get("currency_noise", []), 3):
        edits["currency"][r] = [currency[r].lower(), f"{currency[r]} ", currency[r].title()][v]
    for r, v in variant(picks.get("invalid_currency", []), 3):
        edits["currency"][r] = ["XYZ", "US$", "EURO"][v]
    for r in picks.get("country_noise", []):
        edits["country"][int(r)] = noisy_country(rng, country[int(r)])
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

    # Second deliveries: exact copies, and conflicting copies with another amount, at random later lines.
    exact_src = picks.get("exact_duplicate", np.array([], dtype=np.int64))
    conflict_src = picks.get("conflicting_duplicate", np.array([], dtype=np.int64))
    new_amount = {
        n + len(exact_src) + i: f"{(c + int(rng.integers(100, 5_000))) // 100}.{(c + 37) % 100:02d}"
        for i, c in enumerate(cents[int(r)] for r in conflict_src)
    }
    sources = np.concatenate([exact_src, conflict_src])
    positions = sources + 1 + (rng.random(len(sources)) * (n - sources)).astype(np.int64)

    counts = {code: int(k.get(code, 0)) for code in cfg.defect_rates}
    counts["conflicting_duplicate"] = 2 * k.get("conflicting_duplicate", 0)
    return DefectPlan(
        rows=n,
        row_patches={col: Patch.of(e) for col, e in edits.items() if e},
        copy_sources=sources,
        copy_before=np.minimum(positions, n),
        copy_patches={"amount": Patch.of(new_amount)} if new_amount else {},
        counts=counts,
    )
