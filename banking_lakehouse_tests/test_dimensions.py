"""Dimensions: type 1 keeps per key the latest batch's values, type 2 a version per change; both whatever
order the batches run in, and a fact row finds the version valid at its time."""

import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from dagster import AssetKey
from psycopg import sql
from pyspark.sql import functions as F

from banking_lakehouse.checks.factory import EVALUATORS, CheckInputs
from banking_lakehouse.transforms import versions
from banking_lakehouse.transforms.gold import (
    ACCOUNT_DIMENSION,
    DIMENSIONS,
    current_dimension,
    dim_account,
    merged_dimension,
    rows_after_each_batch,
    surrogate_key,
)
from banking_lakehouse.transforms.versions import VALID_FROM_START as START
from banking_lakehouse.transforms.versions import VALID_TO_END as END
from banking_lakehouse_tests.conftest import private_database
from banking_lakehouse_tests.test_fact_exchange import OLD_DDL, fact_rows

MERCHANT = DIMENSIONS[2]
SCHEMA = "merchant_key bigint, merchant_id string, merchant_name string, risk_level string, batch_date date"


def _snapshot(spark, day: str, rows: dict[int, str]):
    """A day's delivery: merchant key -> its risk level that day."""
    date = dt.date.fromisoformat(day)
    return spark.createDataFrame([(k, f"m{k}", f"shop {k}", risk, date) for k, risk in rows.items()], SCHEMA)


def _state(df) -> dict[int, tuple]:
    return {r.merchant_key: (r.risk_level, r.batch_date and r.batch_date.isoformat()) for r in df.collect()}


def test_a_rerun_of_an_earlier_day_never_brings_older_values_back(spark):
    day1 = _snapshot(spark, "2024-12-01", {1: "low", 2: "low"})
    day2 = _snapshot(spark, "2024-12-02", {1: "high", 3: "medium"})
    after_two = current_dimension(current_dimension(None, day1, MERCHANT), day2, MERCHANT)
    expected = {1: ("high", "2024-12-02"), 2: ("low", "2024-12-01"), 3: ("medium", "2024-12-02"), -1: (None, None)}
    assert _state(after_two) == expected
    assert _state(current_dimension(None, day1.unionByName(day2), MERCHANT)) == expected  # as one range
    unknown = after_two.where("merchant_key = -1").collect()[0]
    assert (unknown.merchant_id, unknown.merchant_name) == ("unknown", "unknown")

    # Day 1 re-delivered after day 2: its own keys change, day 2's values stay; the same day twice is idempotent.
    redelivered = _snapshot(spark, "2024-12-01", {1: "medium", 2: "high"})
    rerun = current_dimension(after_two, redelivered, MERCHANT)
    assert _state(rerun) == expected | {2: ("high", "2024-12-01")}
    assert _state(current_dimension(rerun, redelivered, MERCHANT)) == _state(rerun)


def test_rows_after_each_batch_count_the_keys_seen_so_far_and_the_unknown_member(spark):
    day1 = _snapshot(spark, "2024-12-01", {1: "low", 2: "low"})
    day2 = _snapshot(spark, "2024-12-02", {1: "high", 3: "medium"})
    days = ["2024-12-01", "2024-12-02"]
    assert rows_after_each_batch(None, day1.unionByName(day2), "merchant_key", days) == {days[0]: 3, days[1]: 4}
    current = current_dimension(None, day1, MERCHANT)
    assert rows_after_each_batch(current, day2, "merchant_key", days[1:]) == {days[1]: 4}


# History-keeping (type 2): dim_account's versions over three batches, as files and as core extractions.
SECRET = "test-key"
ACCOUNTS = (
    "account_id string, customer_id string, account_type string, currency string, status string, "
    "opened_date date, updated_at timestamp, deleted_at timestamp, batch_date date"
)
D1, D2, D3 = (dt.datetime(2024, 12, day, tzinfo=dt.UTC) for day in (1, 2, 3))


def _at(month: int, day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2024, month, day, hour, minute, tzinfo=dt.UTC)


def accounts_snapshot(spark, day: dt.datetime, rows: dict[str, str | tuple]):
    """A day's dim_account snapshot from silver accounts: id -> status (a delivered file), or
    (status, updated_at, deleted_at) (a core extraction)."""
    rows = {i: r if isinstance(r, tuple) else (r, None, None) for i, r in rows.items()}
    data = [(i, "C1", "checking", "USD", s, None, u, d, day.date()) for i, (s, u, d) in rows.items()]
    return dim_account(spark.createDataFrame(data, ACCOUNTS), SECRET)


def merged(*runs):
    """The version table after each run's snapshots are merged, run after run."""
    stored = None
    for snapshots in runs:
        stored = merged_dimension(stored, snapshots, ACCOUNT_DIMENSION).localCheckpoint()
    return stored


def account_keys(spark, *ids: str) -> dict[int, str]:
    keys = spark.createDataFrame([(i,) for i in ids], "account_id string")
    return {
        r.k: r.account_id for r in keys.select("account_id", surrogate_key("account_id", SECRET).alias("k")).collect()
    }


def version_rows(spark, table) -> set[tuple]:
    """(id, status, valid_from, valid_to, is_current, is_deleted) of every version, the -1 member as id '-'."""
    ids = account_keys(spark, "A1", "A2", "A3") | {-1: "-"}
    return {
        (ids[r.account_key], r.status, r.valid_from, r.valid_to, r.is_current, r.is_deleted) for r in table.collect()
    }


def _utc(t: dt.datetime) -> dt.datetime:
    return t.replace(tzinfo=None)  # Spark returns session-time (UTC) timestamps naive


def test_delivered_files_start_a_version_per_change_at_the_batch_date(spark):
    b1 = accounts_snapshot(spark, D1, {"A1": "active", "A2": "active"})
    b2 = accounts_snapshot(spark, D2, {"A1": "frozen", "A2": "active"})
    b3 = accounts_snapshot(spark, D3, {"A1": "closed", "A2": "active", "A3": "active"})
    start, end, d2, d3 = (_utc(t) for t in (START, END, D2, D3))
    in_order = merged(b1, b2, b3)
    assert version_rows(spark, in_order) == {
        ("A1", "active", start, d2, False, False),
        ("A1", "frozen", d2, d3, False, False),
        ("A1", "closed", d3, end, True, False),
        ("A2", "active", start, end, True, False),  # unchanged: one version
        ("A3", "active", start, end, True, False),  # first seen on day 3: valid before too
        ("-", None, start, end, True, False),
    }
    keys = {r.account_key: r for r in in_order.where("valid_from = timestamp'1900-01-01 00:00:00'").collect()}
    assert all(r.account_version_key == k for k, r in keys.items())  # a first version's key: the durable key
    assert in_order.select("account_version_key").distinct().count() == 6

    rows = sorted(in_order.collect())
    assert sorted(merged(b1, b2, b3, b2).collect()) == rows  # day 2 re-run after day 3: nothing changes
    assert sorted(merged(b1, b3, b2).collect()) == rows  # day 2 run after day 3: the same versions
    assert sorted(merged(b1.unionByName(b2).unionByName(b3)).collect()) == rows  # the three days as one run
    counts = versions.rows_after_each_batch(in_order, ["2024-12-01", "2024-12-02", "2024-12-03"])
    assert counts == {"2024-12-01": 3, "2024-12-02": 4, "2024-12-03": 6}

    # Day 2 re-delivered with A1 still active: its day-2 version is merged away, day 3's stays.
    corrected = accounts_snapshot(spark, D2, {"A1": "active", "A2": "active"})
    assert {v for v in version_rows(spark, merged(b1, b2, b3, corrected)) if v[0] == "A1"} == {
        ("A1", "active", start, d3, False, False),
        ("A1", "closed", d3, end, True, False),
    }


def test_an_earlier_day_run_later_never_moves_a_version_facts_point_at(spark):
    """Day 3 (A1 frozen) runs before day 2 (A1 already frozen): day 3's version keeps its key, so the facts of
    day 3 still find it; day 2's starts before it, with the same values."""
    b1 = accounts_snapshot(spark, D1, {"A1": "active"})
    b2 = accounts_snapshot(spark, D2, {"A1": "frozen"})
    b3 = accounts_snapshot(spark, D3, {"A1": "frozen"})
    start, end, d2, d3 = (_utc(t) for t in (START, END, D2, D3))
    before = {r.valid_from: r.account_version_key for r in merged(b1, b3).collect() if r.account_key != -1}
    after = merged(b1, b3, b2)
    assert version_rows(spark, after) == {
        ("A1", "active", start, d2, False, False),
        ("A1", "frozen", d2, d3, False, False),
        ("A1", "frozen", d3, end, True, False),
        ("-", None, start, end, True, False),
    }
    assert {r.valid_from: r.account_version_key for r in after.collect() if r.valid_from == d3} == {d3: before[d3]}
    assert version_rows(spark, merged(b1, b2, b3)) == {  # in order, day 3 repeats day 2: no version
        ("A1", "active", start, d2, False, False),
        ("A1", "frozen", d2, end, True, False),
        ("-", None, start, end, True, False),
    }


def test_core_extractions_start_versions_at_the_source_change_and_delete_times(spark):
    seeded, a2_seeded, frozen, deleted = _at(11, 20, 10), _at(11, 25, 8), _at(12, 1, 15, 30), _at(12, 2, 9)
    b1 = accounts_snapshot(spark, D1, {"A1": ("active", seeded, None), "A2": ("active", a2_seeded, None)})
    b2 = accounts_snapshot(spark, D2, {"A1": ("frozen", frozen, None), "A2": ("active", a2_seeded, None)})
    b3 = accounts_snapshot(spark, D3, {"A1": ("frozen", frozen, None), "A2": ("active", deleted, deleted)})
    start, end = _utc(START), _utc(END)
    in_order = merged(b1, b2, b3)
    assert version_rows(spark, in_order) == {
        ("A1", "active", start, _utc(frozen), False, False),
        ("A1", "frozen", _utc(frozen), end, True, False),
        ("A2", "active", start, _utc(deleted), False, False),
        ("A2", "active", _utc(deleted), end, True, True),  # the tombstone: deleted from its delete time on
        ("-", None, start, end, True, False),
    }
    first_batches = {(r.status, r.is_deleted): r.batch_date.day for r in in_order.where("account_key <> -1").collect()}
    assert first_batches == {("active", False): 1, ("frozen", False): 2, ("active", True): 3}
    rows = sorted(in_order.collect())
    assert sorted(merged(b1, b2, b3, b2).collect()) == rows
    assert sorted(merged(b1, b3, b2).collect()) == rows
    assert sorted(merged(b3, b2, b1).collect()) == rows


def test_a_type_1_lake_dimension_becomes_first_versions(spark):
    """A dimension written before versions (one row per key, no validity) merges as each key's first version."""
    b1 = accounts_snapshot(spark, D1, {"A1": "active", "A2": "active"})
    type_1 = current_dimension(None, b1.drop("changed_at", "is_deleted"), ACCOUNT_DIMENSION)
    b2 = accounts_snapshot(spark, D2, {"A1": "frozen", "A2": "active"})
    assert sorted(merged_dimension(type_1, b2, ACCOUNT_DIMENSION).collect()) == sorted(merged(b1, b2).collect())


def test_a_fact_row_points_at_the_version_valid_at_its_time(spark):
    b1 = accounts_snapshot(spark, D1, {"A1": "active"})
    b2 = accounts_snapshot(spark, D2, {"A1": "frozen"})
    table = merged(b1, b2)
    key = next(iter(account_keys(spark, "A1")))
    version_of = {r.status: r.account_version_key for r in table.collect()}
    facts = spark.createDataFrame(
        [
            (1, key, _at(11, 1, 0)),  # long before the first delivery
            (2, key, _at(12, 1, 23, 59)),
            (3, key, _at(12, 2, 0)),  # the change's instant belongs to the new version
            (4, key, _at(12, 31, 12)),
            (5, -1, _at(12, 2, 12)),  # an orphan
        ],
        "id int, account_key bigint, transaction_ts timestamp",
    )
    found = versions.version_at(facts, table, "account_key", "account_version_key", "transaction_ts")
    assert found.count() == 5
    assert {r.id: r.account_version_key for r in found.collect()} == {
        1: version_of["active"],
        2: version_of["active"],
        3: version_of["frozen"],
        4: version_of["frozen"],
        5: -1,
    }
    assert version_of["active"] == key != version_of["frozen"]
    assert found.where(F.col("account_version_key").isNull()).count() == 0


def as_arrow(table, path) -> pa.Table:
    """The version table as the lake stores it and the warehouse load reads it."""
    table.write.parquet(str(path))
    return pq.read_table(str(path))


def load_versions(warehouse, table: pa.Table) -> int:
    return warehouse.upsert_rows("gold.dim_account", table, "account_version_key", group="account_key")


def version_problems(warehouse) -> dict[str, int]:
    inputs = CheckInputs(["2024-12-03"], lake=None, postgres=warehouse)
    kinds = ("version_overlaps", "version_gaps", "version_current")
    return {k: EVALUATORS[k](AssetKey(["warehouse", "dim_account"]), None, inputs)[0] for k in kinds}


def test_the_warehouse_holds_the_lakes_versions_and_the_checks_catch_broken_history(spark, postgres, tmp_path):
    warehouse = private_database(postgres, "scd2_checks")
    warehouse.ensure_schema()
    b1 = accounts_snapshot(spark, D1, {"A1": "active", "A2": "active"})
    b2 = accounts_snapshot(spark, D2, {"A1": "frozen", "A2": "active"})
    b3 = accounts_snapshot(spark, D3, {"A1": "closed", "A2": "active"})
    corrected = accounts_snapshot(spark, D2, {"A1": "active", "A2": "active"})
    lake = as_arrow(merged(b1, b2, b3), tmp_path / "in_order")
    assert load_versions(warehouse, lake) == 0
    row_versions = "SELECT account_version_key, xmin::text FROM gold.dim_account ORDER BY 1"
    loaded = warehouse.fetch(row_versions)
    assert load_versions(warehouse, lake) == 0  # the same batch again: nothing more, nothing less
    assert warehouse.fetch(row_versions) == loaded  # and no row rewritten: every one was delivered unchanged
    assert warehouse.count_rows("gold.dim_account") == 5  # 3 of A1, 1 of A2, the -1 member
    assert version_problems(warehouse) == {"version_overlaps": 0, "version_gaps": 0, "version_current": 0}

    # Day 2 re-delivered: A1's day-2 version is gone from the lake, and from the warehouse with its load.
    a1 = next(iter(account_keys(spark, "A1")))
    lake = as_arrow(merged(b1, b2, b3, corrected), tmp_path / "corrected")
    a1_versions = lake.filter(pc.equal(lake["account_key"], a1)).sort_by("valid_from")
    assert load_versions(warehouse, a1_versions) == 1  # the batch's keys: A1's versions, whole
    history = "SELECT account_version_key, valid_from, valid_to, is_current FROM gold.dim_account ORDER BY 1"
    columns = ("account_version_key", "valid_from", "valid_to", "is_current")
    assert warehouse.fetch(history) == sorted(zip(*[lake[c].to_pylist() for c in columns], strict=True))
    first, current = a1_versions["account_version_key"].to_pylist()
    assert first == a1 != current

    breakages = {
        "version_overlaps": "SET valid_to = valid_to + interval '1 hour' WHERE account_version_key = %(first)s",
        "version_gaps": "SET valid_to = valid_to - interval '1 hour' WHERE account_version_key = %(first)s",
        "version_current": "SET is_current = true WHERE account_key = %(key)s",
    }
    for broken, change in breakages.items():
        with warehouse.connect() as conn:
            conn.execute("UPDATE gold.dim_account " + change, {"first": first, "key": a1})
        assert version_problems(warehouse) == {k: int(k == broken) for k in breakages}, broken
        load_versions(warehouse, lake)  # the lake's versions mend it
        assert version_problems(warehouse) == dict.fromkeys(breakages, 0)

    # Facts of day 3: before the close, after it, and one after it pointing at the version before.
    batch = dt.date(2024, 12, 3)
    facts = fact_rows(warehouse, batch, [dt.date(2024, 12, 1), batch, batch], "v")
    pointers = {
        "transaction_ts": pa.array([_at(12, 1, 12), _at(12, 3, 12), _at(12, 3, 13)]),
        "account_key": pa.array([a1] * 3, pa.int64()),
        "account_version_key": pa.array([first, current, first], pa.int64()),
        "customer_key": pa.array([-1] * 3, pa.int64()),
        "customer_version_key": pa.array([-1] * 3, pa.int64()),
    }
    for name, values in pointers.items():
        facts = facts.set_column(facts.schema.get_field_index(name), name, values)
    warehouse.exchange_fact_batch(facts, batch)
    inputs = CheckInputs([batch.isoformat()], lake=None, postgres=warehouse)
    fact = AssetKey(["warehouse", "fact_transactions"])
    assert EVALUATORS["fact_versions"](fact, None, inputs) == (1, {"misplaced_dim_account_versions": 1})
    # Each key looked up in its dimension: the rows' merchant and date keys (1) are in none, the others are.
    missing = {"customer": 0, "account": 0, "merchant": 3, "date": 3, "transaction_type": 0}
    assert EVALUATORS["referential"](fact, None, inputs) == (6, {f"missing_{k}_keys": n for k, n in missing.items()})


def test_a_type_1_warehouse_becomes_a_version_warehouse_in_place(postgres):
    """Each dimension row its key's first version, keyed by its key; each fact row points at it."""
    warehouse = private_database(postgres, "scd2_migration")
    batch = dt.date(2024, 12, 1)
    with warehouse.connect() as conn:
        conn.execute(OLD_DDL.read_text())
        conn.execute("SELECT gold.ensure_fact_partition(%s)", (batch,))
    with warehouse.connect() as conn:
        conn.execute(
            "INSERT INTO gold.dim_customer (customer_key, customer_id, customer_name, batch_date)"
            " VALUES (7, 'tok_7', 'tok_n', %s)",
            (batch,),
        )
        conn.execute("INSERT INTO gold.dim_account (account_key, account_id, customer_key) VALUES (8, 'tok_8', 7)")
        facts = fact_rows(warehouse, batch, [batch, batch], "old")
        for name, key in (("customer_key", 7), ("account_key", 8)):
            facts = facts.set_column(facts.schema.get_field_index(name), name, pa.array([key, -1], pa.int64()))
        warehouse.copy_rows(conn, sql.Identifier("gold", "fact_transactions"), facts)

    warehouse.ensure_schema()
    assert warehouse.fetch(
        "SELECT customer_version_key, customer_key, valid_from, valid_to, is_current, is_deleted, changed_at::date"
        " FROM gold.dim_customer ORDER BY 1"
    ) == [(-1, -1, START, END, True, False, None), (7, 7, START, END, True, False, batch)]
    assert warehouse.fetch("SELECT account_version_key, account_key FROM gold.dim_account ORDER BY 1") == [
        (-1, -1),
        (8, 8),
    ]
    assert warehouse.fetch(
        "SELECT customer_key, customer_version_key, account_key, account_version_key FROM gold.fact_transactions"
        " ORDER BY 1"
    ) == [(-1, -1, -1, -1), (7, 7, 8, 8)]
    primary = "SELECT a.attname FROM pg_index AS i JOIN pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary"
    assert warehouse.fetch(primary, ("gold.dim_customer",)) == [("customer_version_key",)]
    assert warehouse.fetch(primary, ("gold.dim_account",)) == [("account_version_key",)]
    inputs = CheckInputs([batch.isoformat()], lake=None, postgres=warehouse)
    fact = AssetKey(["warehouse", "fact_transactions"])
    assert EVALUATORS["fact_versions"](fact, None, inputs) == (0, {})
