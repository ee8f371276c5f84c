"""Master data extracted from a core-banking database, day after day, through the real pipeline.

The source is a real PostgreSQL database seeded and changed by the generator (its ground truth says what
each day changed); customers and accounts come from it, merchants and transactions from the generator's
files, as a deployment that moved two entities to the core system would run. Bookmarks are read back from
Dagster's own event log, extracted rows from the raw zone, versions from the warehouse.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import pyarrow.parquet as pq
import pytest
from dagster import AssetKey, AssetRecordsFilter, DagsterInstance

from banking_lakehouse import deployments
from banking_lakehouse.definitions import build_definitions
from banking_lakehouse.entities import ENTITIES
from banking_lakehouse.generator.core_banking import apply_core_day, seed_core
from banking_lakehouse.resources.core_banking import CoreBankingSource
from banking_lakehouse.resources.delivery import DeliverySource
from banking_lakehouse.resources.lake import LakePartitionMissing, LakeResource
from banking_lakehouse.resources.pii import PiiKeyResource
from banking_lakehouse.transforms.gold import surrogate_key
from banking_lakehouse_tests.conftest import private_database

SEED, ROWS = 31, 1_500
DAYS = ["2024-05-01", "2024-05-02", "2024-05-03"]
CORE = ["customers", "accounts"]
# Everything a day needs up to the warehouse's dimensions and fact (fraud and aggregates add nothing here).
LAYERS = ("raw", "silver", "quarantine")
GOLD = {
    "dim_customer",
    "dim_customer_snapshots",
    "dim_account",
    "dim_account_snapshots",
    "dim_merchant",
    "dim_merchant_snapshots",
    "fact_transactions",
}
# The source's columns whose change the dimensions keep as a new version (the rest, e.g. the address, are not
# in gold: PII).
CUSTOMER_TRACKED = {
    "first_name",
    "last_name",
    "email",
    "phone",
    "city",
    "country",
    "segment",
    "risk_rating",
    "join_date",
}
ACCOUNT_TRACKED = {"customer_id", "account_type", "currency", "status", "opened_date"}
WAREHOUSE = {"dim_customer", "dim_account", "dim_merchant", "fact_transactions"}


def _selected(key: AssetKey) -> bool:
    layer, name = key.path[0], key.path[-1]
    return layer in LAYERS or (layer == "gold" and name in GOLD) or (layer == "warehouse" and name in WAREHOUSE)


@pytest.fixture(scope="module")
def source(postgres) -> CoreBankingSource:
    database = private_database(postgres, "core_banking_e2e")
    core = CoreBankingSource(dsn=database.uri(), entities=CORE)
    with core.connect() as conn:
        seed_core(conn, SEED, dt.date.fromisoformat(DAYS[0]), rows=ROWS)
    return core


@pytest.fixture(scope="module")
def pipeline(source, postgres, spark_resource, run_dir):
    warehouse = private_database(postgres, "core_banking_e2e_warehouse")
    lake = LakeResource(base_uri=str(run_dir / "core_lake"), scratch_dir=str(run_dir / "core_scratch"))
    resources = deployments.resources(
        "local",
        delivery=DeliverySource(source="synthetic"),
        core_banking=source,
        spark=spark_resource,
        lake=lake,
        postgres=warehouse,
        pii=PiiKeyResource(key="test-key"),
    )
    defs = build_definitions(resources)
    job = defs.resolve_job_def("daily_pipeline_job")
    selection = [k for k in defs.resolve_asset_graph().get_all_asset_keys() if _selected(k)]
    instance = DagsterInstance.ephemeral()

    def run(day: str):
        return job.execute_in_process(
            partition_key=day,
            instance=instance,
            asset_selection=selection,
            run_config={"ops": {"raw_delivery": {"config": {"rows": ROWS, "seed": SEED}}}},
            raise_on_error=False,
        )

    return run, instance, lake, warehouse


def _apply(source: CoreBankingSource, day: str) -> dict:
    with source.connect() as conn:
        return apply_core_day(conn, SEED, dt.date.fromisoformat(day))


def _recorded(instance: DagsterInstance, entity: str, day: str) -> dict | None:
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(["raw", entity]), asset_partitions=[day]), limit=5
    ).records
    if not records:
        return None
    return {k: v.value for k, v in records[0].asset_materialization.metadata.items()}


def _extracted(lake: LakeResource, entity: str, day: str):
    return pq.read_table(lake.local_raw_file(day, f"core_{entity}.parquet"))


def _ids(table, entity: str) -> list[str]:
    return sorted(table.column(ENTITIES[entity].id_column).to_pylist())


def _source_ids(source: CoreBankingSource, entity: str, until: str) -> list[str]:
    column = ENTITIES[entity].id_column
    with source.connect() as conn:
        rows = conn.execute(f"SELECT {column} FROM core.{entity} WHERE updated_at < %s", (until,)).fetchall()  # noqa: S608
    return sorted(r[0] for r in rows)


def _expected_versions(spark, source: CoreBankingSource, truth: dict, entity: str, tracked: set[str]) -> dict:
    """Durable key -> (versions, current version deleted) the days' ground truth implies: every row the source
    held by the last day's end has its first version (day 1 is a full load: its rows are first seen in their
    day-1 state); each later day that changed a tracked column of an existing row, or deleted it, adds one."""
    column = ENTITIES[entity].id_column
    with source.connect() as conn:
        rows = conn.execute(
            f"SELECT {column}, deleted_at IS NOT NULL FROM core.{entity} WHERE created_at < %s",  # noqa: S608
            (dt.datetime(2024, 5, 4, tzinfo=dt.UTC),),
        ).fetchall()
    versions = {i: [1, deleted] for i, deleted in rows}
    for day in DAYS[1:]:
        changes = truth[day][entity]
        for i in set(changes["deleted"]) | {i for i, cols in changes["updated"].items() if set(cols) & tracked}:
            if i not in changes["inserted"]:
                versions[i][0] += 1
    ids = spark.createDataFrame([(i,) for i in versions], [column])
    keys = ids.select(column, surrogate_key(column, "test-key").alias("key")).collect()
    return {r["key"]: tuple(versions[r[column]]) for r in keys}


def test_three_days_from_the_core_system(spark, source, pipeline):
    run, instance, lake, warehouse = pipeline
    truth = {}

    # Day 1: the first extraction is a full load of everything the source held by the day's end.
    truth[DAYS[0]] = _apply(source, DAYS[0])
    assert run(DAYS[0]).success
    for entity in CORE:
        recorded = _recorded(instance, entity, DAYS[0])
        assert "window_after_updated_at" not in recorded
        assert recorded["window_until"] == "2024-05-02T00:00:00+00:00"
        extracted = _extracted(lake, entity, DAYS[0])
        assert _ids(extracted, entity) == _source_ids(source, entity, "2024-05-02")
        assert recorded["extracted_rows"] == recorded["source_rows"] == extracted.num_rows
        last = extracted.slice(extracted.num_rows - 1).to_pylist()[0]  # rows arrive ordered by (updated_at, id)
        assert recorded["bookmark_updated_at"] == last["updated_at"].isoformat()
        assert recorded["bookmark_id"] == last[ENTITIES[entity].id_column]
        # Merchants are not extracted: their file delivery records no window.
    assert "window_until" not in _recorded(instance, "merchants", DAYS[0])

    # Day 2: exactly what the day changed, each id once, starting after day 1's bookmark.
    truth[DAYS[1]] = _apply(source, DAYS[1])
    assert run(DAYS[1]).success
    for entity in CORE:
        recorded = _recorded(instance, entity, DAYS[1])
        before = _recorded(instance, entity, DAYS[0])
        assert recorded["window_after_updated_at"] == before["bookmark_updated_at"]
        assert recorded["window_after_id"] == before["bookmark_id"]
        assert recorded["previous_state"] == DAYS[0]
        extracted = _extracted(lake, entity, DAYS[1])
        assert _ids(extracted, entity) == truth[DAYS[1]][entity]["expected_ids"]
        deleted = sorted(r[ENTITIES[entity].id_column] for r in extracted.to_pylist() if r["deleted_at"] is not None)
        assert deleted == truth[DAYS[1]][entity]["deleted"]
        # The day's state: day 1's ids plus the day's new ones, deleted ones kept as tombstones.
        state = lake.delivery(DAYS[1])["entities"][entity]["records"]
        assert state == lake.delivery(DAYS[0])["entities"][entity]["records"] + len(truth[DAYS[1]][entity]["inserted"])

    # Day 3 dies while extracting (accounts cannot be read): nothing is stored and no bookmark moves.
    truth[DAYS[2]] = _apply(source, DAYS[2])
    with source.connect() as conn:
        conn.execute("ALTER TABLE core.accounts RENAME TO accounts_away")
        conn.commit()
    try:
        failed = run(DAYS[2])
    finally:
        with source.connect() as conn:
            conn.execute("ALTER TABLE core.accounts_away RENAME TO accounts")
            conn.commit()
    assert not failed.success
    assert _recorded(instance, "customers", DAYS[2]) is None
    with pytest.raises(LakePartitionMissing):
        lake.delivery(DAYS[2])
    # Its re-run extracts the same window once: nothing twice, nothing lost.
    assert run(DAYS[2]).success
    for entity in CORE:
        assert (
            _recorded(instance, entity, DAYS[2])["window_after_id"]
            == _recorded(instance, entity, DAYS[1])["bookmark_id"]
        )
        assert _ids(_extracted(lake, entity, DAYS[2]), entity) == truth[DAYS[2]][entity]["expected_ids"]

    # A re-run reads its own window again: over an unchanged source, the same rows byte for byte.
    digest = hashlib.sha256(lake.local_raw_file(DAYS[2], "core_customers.parquet").read_bytes()).hexdigest()
    versions = warehouse.fetch("SELECT count(*) FROM gold.dim_customer")[0][0]
    window = {k: v for k, v in _recorded(instance, "customers", DAYS[2]).items() if k.startswith("window_")}
    assert run(DAYS[2]).success
    assert {k: v for k, v in _recorded(instance, "customers", DAYS[2]).items() if k.startswith("window_")} == window
    assert hashlib.sha256(lake.local_raw_file(DAYS[2], "core_customers.parquet").read_bytes()).hexdigest() == digest
    assert warehouse.fetch("SELECT count(*) FROM gold.dim_customer")[0][0] == versions
    # Day 2 again, after day 3 changed some of its rows once more: the source keeps no history, so those rows
    # now belong to day 3's window; the rest is day 2's as before, and no version is added or cut.
    assert run(DAYS[1]).success
    moved = set(truth[DAYS[2]]["customers"]["expected_ids"])
    expected = [i for i in truth[DAYS[1]]["customers"]["expected_ids"] if i not in moved]
    assert _ids(_extracted(lake, "customers", DAYS[1]), "customers") == expected
    assert warehouse.fetch("SELECT count(*) FROM gold.dim_customer")[0][0] == versions

    # History: exactly the versions the days' changes imply, each key's current one last, and every fact of
    # every day pointing at the version valid at its transaction time.
    for entity, table, key, tracked in (
        ("customers", "dim_customer", "customer_key", CUSTOMER_TRACKED),
        ("accounts", "dim_account", "account_key", ACCOUNT_TRACKED),
    ):
        stored = warehouse.fetch(
            f"SELECT {key}, count(*), bool_or(is_current AND is_deleted) FROM gold.{table} "  # noqa: S608
            f"WHERE {key} <> -1 GROUP BY {key}"
        )
        assert {k: (n, deleted) for k, n, deleted in stored} == _expected_versions(
            spark, source, truth, entity, tracked
        )
    assert any(n > 1 for _, n, _ in stored)
    misplaced = warehouse.fetch(
        "SELECT count(*) FROM gold.fact_transactions f JOIN gold.dim_customer c USING (customer_version_key) "
        "WHERE NOT (c.valid_from <= f.transaction_ts AND f.transaction_ts < c.valid_to)"
    )[0][0]
    later = warehouse.fetch(
        "SELECT count(*) FROM gold.fact_transactions f JOIN gold.dim_customer c USING (customer_version_key) "
        "WHERE c.valid_from > '1900-01-01'"
    )[0][0]
    assert misplaced == 0 and later > 0  # some transactions happened after their customer's change

    # A day before the first extraction cannot be built from a source without history.
    refused = run("2024-04-30")
    assert not refused.success
    message = str(refused.get_step_failure_events()[0].event_specific_data.error)
    assert "cannot be extracted for the first time" in message and "2024-05-03" in message
