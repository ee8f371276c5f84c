import csv
import datetime as dt
import json

import numpy as np
import pyarrow as pa
import pytest

from banking_lakehouse.generator import GeneratorConfig, generate_day
from banking_lakehouse.generator.config import DEFAULT_DEFECT_RATES
from banking_lakehouse.generator.defects import DefectPlan, Patch

DAY = dt.date(2024, 12, 3)


def _files(path):
    return {p.name: p.read_bytes() for p in sorted(path.iterdir())}


def test_same_arguments_same_bytes_whatever_the_chunk_size(tmp_path):
    generate_day(GeneratorConfig(date=DAY, rows=5_000, seed=3), tmp_path / "a")
    # 7 chunks: copies and defects land in several of them, and on their edges
    generate_day(GeneratorConfig(date=DAY, rows=5_000, seed=3), tmp_path / "b", chunk_rows=700)
    assert _files(tmp_path / "a") == _files(tmp_path / "b")


@pytest.mark.parametrize("chunk_rows", [1, 3, 4, 10])
def test_chunks_write_every_row_and_copy_once_in_file_order(chunk_rows):
    # copy 4 before row 0, copies 0 and 1 before row 3, copy 3 before row 7, copy 2 after the last row
    plan = DefectPlan(
        rows=10,
        row_patches={},
        copy_sources=np.array([1, 2, 5, 6, 0]),
        copy_before=np.array([3, 3, 10, 7, 0]),
        copy_patches={},
        counts={},
    )
    slots = np.concatenate([plan.slots(start, min(start + chunk_rows, 10)) for start in range(0, 10, chunk_rows)])
    assert slots.tolist() == [14, 0, 1, 2, 10, 11, 3, 4, 5, 6, 13, 7, 8, 9, 12]


def test_a_patch_replaces_the_text_of_its_keys_wherever_they_repeat():
    patch = Patch.of({5: "x", 2: None})
    patched = patch.apply(pa.array(["a", "b", "c", "d"]), np.array([5, 2, 2, 9]))
    assert patched.to_pylist() == ["x", None, None, "d"]


def test_other_seed_or_date_changes_the_data(tmp_path):
    generate_day(GeneratorConfig(date=DAY, rows=5_000, seed=3), tmp_path / "a")
    generate_day(GeneratorConfig(date=DAY, rows=5_000, seed=4), tmp_path / "b")
    generate_day(GeneratorConfig(date=DAY + dt.timedelta(days=1), rows=5_000, seed=3), tmp_path / "c")
    a = (tmp_path / "a" / "transactions.csv").read_bytes()
    assert a != (tmp_path / "b" / "transactions.csv").read_bytes()
    assert a != (tmp_path / "c" / "transactions.csv").read_bytes()


def test_manifest_counts_match_the_files(tmp_path):
    manifest = generate_day(GeneratorConfig(date=DAY, rows=20_000, seed=5), tmp_path)
    lines = (tmp_path / "transactions.csv").read_text().splitlines()
    assert len(lines) - 1 == manifest["rows"] == 20_000
    assert manifest == json.loads((tmp_path / "manifest.json").read_text())
    assert set(manifest["defects"]) == set(DEFAULT_DEFECT_RATES)
    # 20 000 rows x rate, conflicting duplicates counted per copy (pairs of 2)
    assert manifest["defects"]["exact_duplicate"] == 30
    assert manifest["defects"]["conflicting_duplicate"] == 20
    assert manifest["defects"]["formatted_amount"] == 60
    assert {p: len(ids) for p, ids in manifest["fraud_ids"].items()} == manifest["fraud"]
    assert manifest["fraud"]["card_testing"] == 6 and manifest["fraud"]["velocity"] == 12
    ids = {line.split(",")[0].strip('"') for line in lines[1:]}
    assert all(i in ids for pattern in manifest["fraud_ids"].values() for i in pattern)
    customers = (tmp_path / "customers.csv").read_text().splitlines()
    assert len(customers) - 1 == manifest["files"]["customers"]["rows"]


def test_a_conflicting_duplicate_differs_only_in_amount(tmp_path):
    generate_day(GeneratorConfig(date=DAY, rows=10_000, seed=9), tmp_path)
    rows = list(csv.reader((tmp_path / "transactions.csv").read_text().splitlines()[1:]))
    by_id: dict[str, list[list[str]]] = {}
    for row in rows:
        by_id.setdefault(row[0], []).append(row)
    repeated = [copies for key, copies in by_id.items() if len(copies) > 1 and key != ""]
    conflicting = [c for c in repeated if c[0] != c[1]]
    exact = [c for c in repeated if c[0] == c[1]]
    assert len(conflicting) == 5 and len(exact) == 15
    for first, second in conflicting:
        assert [a for i, a in enumerate(first) if i != 5] == [b for i, b in enumerate(second) if i != 5]
        assert first[5] != second[5]


def test_rejects_unknown_defect_codes():
    with pytest.raises(ValueError, match="unknown defect codes"):
        GeneratorConfig(date=DAY, rows=5_000, defect_rates={"typo": 0.1})
