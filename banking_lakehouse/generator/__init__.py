"""Deterministic banking data: the same (seed, date, rows) gives byte-identical files.

`generate_day` writes one day's delivery (customers.csv, accounts.csv, merchants.json,
transactions.csv) and a manifest.json with the exact counts of every injected defect and fraud row.

Memory: the day's transactions are held as numbers only (~30 bytes a row), and everything that spans
rows (time order, fraud bursts, duplicates, defect counts) is decided on them; their text is rendered,
patched and written chunk by chunk, so a 10M-row day peaks at ~2.5 GB and time grows linearly in rows.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pyarrow.csv as pacsv

from banking_lakehouse.entities import ENTITIES
from banking_lakehouse.generator.config import GeneratorConfig
from banking_lakehouse.generator.defects import DefectPlan, plan_defects
from banking_lakehouse.generator.fraud import inject_fraud
from banking_lakehouse.generator.habits import build_habits
from banking_lakehouse.generator.master import build_population, deliver_master
from banking_lakehouse.generator.render import TRANSACTION_SCHEMA, TransactionRenderer
from banking_lakehouse.generator.transactions import Transactions, build_transactions

MANIFEST_FILE = "manifest.json"
# Transactions rendered as text at once (~0.4 GB of strings and intermediates), whatever the day's size.
CHUNK_ROWS = 1_000_000


def _write_atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)


def _in_file_order(
    tx: Transactions, fraud_rows: dict[str, np.ndarray], protected: np.ndarray
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Files arrive in time order and ids follow it: sorts the rows, and maps the fraud and protected rows."""
    order = np.argsort(tx.ts, kind="stable")
    tx.reorder(order)
    new_position = np.empty_like(order)
    new_position[order] = np.arange(len(order))
    return {p: np.sort(new_position[r]) for p, r in fraud_rows.items()}, new_position[protected]


def _write_transactions(path: Path, renderer: TransactionRenderer, plan: DefectPlan, chunk_rows: int) -> None:
    """Renders, patches and writes the file chunk after chunk; each chunk's text is freed once written."""
    with pacsv.CSVWriter(path, TRANSACTION_SCHEMA, write_options=pacsv.WriteOptions(quoting_style="needed")) as csv:
        for start in range(0, plan.rows, chunk_rows):
            csv.write_table(plan.deliver(renderer, plan.slots(start, min(start + chunk_rows, plan.rows))))


def generate_day(cfg: GeneratorConfig, out_dir: str | os.PathLike, chunk_rows: int = CHUNK_ROWS) -> dict:
    """Writes the day's raw files into out_dir and returns the manifest (also written as manifest.json).

    chunk_rows bounds how many transactions are rendered as text at once; the files do not depend on it.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pop = build_population(cfg)
    master, master_defects = deliver_master(cfg, pop)

    n_exact = int(round(cfg.defect_rates.get("exact_duplicate", 0) * cfg.rows))
    n_conflict = int(round(cfg.defect_rates.get("conflicting_duplicate", 0) * cfg.rows)) // 2
    base_rows = cfg.rows - n_exact - n_conflict
    habits = build_habits(cfg, pop)
    tx = build_transactions(cfg, pop, habits, base_rows)
    fraud_rows, protected = _in_file_order(tx, *inject_fraud(cfg, pop, habits, tx))

    renderer = TransactionRenderer(cfg, pop, tx)
    plan = plan_defects(cfg, renderer, protected)
    fraud_ids = {p: renderer.transaction_ids(r).to_pylist() for p, r in fraud_rows.items()}
    _write_atomic(out / ENTITIES["transactions"].file, lambda p: _write_transactions(p, renderer, plan, chunk_rows))
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
        "rows": plan.delivered_rows,
        "files": {
            name: {"name": e.file, "rows": plan.delivered_rows if name == "transactions" else len(master[name])}
            for name, e in ENTITIES.items()
        },
        "defects": plan.counts,
        "master_defects": master_defects,
        "fraud": {p: len(v) for p, v in fraud_ids.items()},
        "fraud_ids": fraud_ids,
        "population": {"customers": len(pop.customers), "accounts": len(pop.accounts), "merchants": len(pop.merchants)},
    }
    _write_atomic(out / MANIFEST_FILE, lambda p: p.write_text(json.dumps(manifest, indent=2) + "\n"))
    return manifest


__all__ = ["CHUNK_ROWS", "GeneratorConfig", "MANIFEST_FILE", "generate_day"]
