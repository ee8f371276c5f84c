"""Deterministic banking data: the same (seed, date, rows) gives byte-identical files.

`generate_day` writes one day's delivery (customers.csv, accounts.csv, merchants.json,
transactions.csv) and a manifest.json with the exact counts of every injected defect and fraud row.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from banking_lakehouse import reference as ref
from banking_lakehouse.entities import ENTITIES
from banking_lakehouse.generator.config import GeneratorConfig
from banking_lakehouse.generator.defects import inject_defects
from banking_lakehouse.generator.fraud import inject_fraud
from banking_lakehouse.generator.master import Population, build_population, deliver_master
from banking_lakehouse.generator.transactions import Transactions, build_transactions

MANIFEST_FILE = "manifest.json"


def _render(cfg: GeneratorConfig, pop: Population, tx: Transactions) -> tuple[dict[str, pa.Array], np.ndarray]:
    """Canonical delivered strings for every column, and the amounts in local cents."""
    n = len(tx.ts)
    day = cfg.date.strftime("%Y%m%d")
    seq = pc.utf8_lpad(pc.cast(pa.array(np.arange(1, n + 1)), pa.string()), 7, "0")
    ids = pc.binary_join_element_wise(f"T{day}", seq, "")
    country = pop.merchant_country[tx.merchant]
    currency = np.array([ref.COUNTRIES[c][1] for c in ref.COUNTRIES], dtype=object)
    currency_of = dict(zip(ref.COUNTRIES, currency, strict=True))
    tx_currency = np.vectorize(currency_of.get, otypes=[object])(country)
    rate = np.vectorize(ref.USD_RATES.get, otypes=[float])(tx_currency)
    cents = np.maximum(np.round(tx.amount_usd / rate * 100).astype(np.int64), 1)
    whole = pc.cast(pa.array(cents // 100), pa.string())
    frac = pc.utf8_lpad(pc.cast(pa.array(cents % 100), pa.string()), 2, "0")
    # Naive seconds cast to text is ~20x faster than a tz-aware strftime; the values are UTC.
    ts_text = pc.replace_substring(
        pc.cast(pa.array(tx.ts, pa.timestamp("s")), pa.string()), " ", "T", max_replacements=1
    )
    acc_ids = pa.array(pop.accounts["account_id"].to_numpy(), pa.string())
    cust_ids = pa.array(pop.customers["customer_id"].to_numpy(), pa.string())
    merch_ids = pa.array(pop.merchants["merchant_id"].to_numpy(), pa.string())
    columns = {
        "transaction_id": ids,
        "account_id": acc_ids.take(pa.array(tx.account)),
        "customer_id": cust_ids.take(pa.array(pop.account_customer[tx.account])),
        "merchant_id": merch_ids.take(pa.array(tx.merchant)),
        "transaction_ts": pc.binary_join_element_wise(ts_text, "Z", ""),
        "amount": pc.binary_join_element_wise(whole, frac, "."),
        "currency": pa.array(tx_currency, pa.string()),
        "transaction_type": pa.array(np.array(ref.TRANSACTION_TYPES, dtype=object)[tx.ttype], pa.string()),
        "channel": pa.array(np.array(ref.CHANNELS, dtype=object)[tx.channel], pa.string()),
        "status": pa.array(np.array(ref.STATUSES, dtype=object)[tx.status], pa.string()),
        "country": pa.array(country, pa.string()),
    }
    return columns, cents


def _write_atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)


def generate_day(cfg: GeneratorConfig, out_dir: str | os.PathLike) -> dict:
    """Writes the day's raw files into out_dir and returns the manifest (also written as manifest.json)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pop = build_population(cfg)
    master, master_defects = deliver_master(cfg, pop)

    n_exact = int(round(cfg.defect_rates.get("exact_duplicate", 0) * cfg.rows))
    n_conflict = int(round(cfg.defect_rates.get("conflicting_duplicate", 0) * cfg.rows)) // 2
    base_rows = cfg.rows - n_exact - n_conflict
    tx = build_transactions(cfg, pop, base_rows)
    fraud_rows, protected = inject_fraud(cfg, pop, tx)
    # Files arrive in time order; ids follow that order.
    order = np.argsort(tx.ts, kind="stable")
    tx = tx.take(order)
    new_position = np.empty_like(order)
    new_position[order] = np.arange(len(order))
    fraud_rows = {p: np.sort(new_position[r]) for p, r in fraud_rows.items()}
    protected = new_position[protected]

    columns, cents = _render(cfg, pop, tx)
    delivered, defects, raw_rows = inject_defects(cfg, columns, cents, tx.ts, protected)
    ids = columns["transaction_id"]
    fraud_ids = {p: ids.take(pa.array(r, pa.int64())).to_pylist() for p, r in fraud_rows.items()}

    options = pacsv.WriteOptions(quoting_style="needed")
    _write_atomic(out / ENTITIES["transactions"].file, lambda p: pacsv.write_csv(delivered, p, options))
    for entity in ("customers", "accounts"):
        frame = master[entity][list(ENTITIES[entity].columns)]
        _write_atomic(out / ENTITIES[entity].file, lambda p, f=frame: f.to_csv(p, index=False, lineterminator="\n"))
    merchants = master["merchants"][list(ENTITIES["merchants"].columns)]
    _write_atomic(
        out / ENTITIES["merchants"].file,
        lambda p: p.write_text("".join(json.dumps(r, sort_keys=False) + "\n" for r in merchants.to_dict("records"))),
    )

    manifest = {
        "date": cfg.date.isoformat(),
        "seed": cfg.seed,
        "rows": raw_rows,
        "files": {
            name: {"name": e.file, "rows": raw_rows if name == "transactions" else len(master[name])}
            for name, e in ENTITIES.items()
        },
        "defects": defects,
        "master_defects": master_defects,
        "fraud": {p: len(v) for p, v in fraud_ids.items()},
        "fraud_ids": fraud_ids,
        "population": {"customers": len(pop.customers), "accounts": len(pop.accounts), "merchants": len(pop.merchants)},
    }
    _write_atomic(out / MANIFEST_FILE, lambda p: p.write_text(json.dumps(manifest, indent=2) + "\n"))
    return manifest


__all__ = ["GeneratorConfig", "MANIFEST_FILE", "generate_day"]
