"""Generated partitions at several seeds and sizes: quarantine by reason = manifest, and nothing is lost."""

import datetime as dt
from collections import Counter

import pytest

from banking_lakehouse.entities import ENTITIES
from banking_lakehouse.generator import GeneratorConfig, generate_day
from banking_lakehouse.generator.defects import FLAGGED_DEFECTS, QUARANTINED_DEFECTS
from banking_lakehouse.resources.lake.commit import StagingArea
from banking_lakehouse.transforms.raw_reader import read_raw
from banking_lakehouse.transforms.silver import MASTER_SPECS, clean_master, clean_transactions, file_spec


@pytest.mark.parametrize(
    "seed, rows, day", [(1, 3_000, "2024-06-30"), (2, 12_000, "2024-12-31"), (23, 40_000, "2025-02-01")]
)
def test_quarantine_matches_manifest_exactly(spark, tmp_path, seed, rows, day):
    date = dt.date.fromisoformat(day)
    manifest = generate_day(GeneratorConfig(date=date, rows=rows, seed=seed), tmp_path)
    silver = {}
    for entity, spec in MASTER_SPECS.items():
        raw = read_raw(
            spark,
            tmp_path / ENTITIES[entity].file,
            file_spec(entity, ENTITIES[entity].file),
            StagingArea.local(tmp_path / "parsed"),
            date,
        )[0]
        s, q = clean_master(raw, spec)
        silver[entity] = s.cache()
        reasons = Counter(r.reason for r in q.collect())
        assert reasons == Counter(
            {c: n for c, n in manifest["master_defects"][entity].items() if c != "country_noise" and n}
        )
        assert s.count() + sum(reasons.values()) == manifest["files"][entity]["rows"]
        assert s.where("country IS NULL").count() == 0 if spec.country else True

    s, q = clean_transactions(
        read_raw(
            spark,
            tmp_path / "transactions.csv",
            file_spec("transactions", "transactions.csv"),
            StagingArea.local(tmp_path / "parsed"),
            date,
        )[0],
        silver["customers"],
        silver["accounts"],
        silver["merchants"],
    )
    s = s.cache()
    reasons = Counter(r.reason for r in q.collect())
    assert reasons == Counter({c: manifest["defects"][c] for c in QUARANTINED_DEFECTS if manifest["defects"][c]})
    assert s.count() + sum(reasons.values()) == manifest["rows"] == rows
    flags = (
        s.selectExpr(*[f"sum(cast({flag} AS int)) AS {code}" for code, flag in FLAGGED_DEFECTS.items()])
        .first()
        .asDict()
    )
    assert flags == {code: manifest["defects"][code] for code in FLAGGED_DEFECTS}
