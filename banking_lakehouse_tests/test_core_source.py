"""The core-banking source against a real PostgreSQL: seeded, changed day by day, extracted by windows whose rows
are exactly the generator's ground truth, in one snapshot, by a role that can only read."""

from __future__ import annotations

import datetime as dt
import json
from operator import itemgetter
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import duckdb
import psycopg
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
from dagster import MetadataValue
from psycopg import sql

from banking_lakehouse.contracts import CONTRACTS, contract_rules
from banking_lakehouse.entities import ENTITIES, MASTER_ENTITIES
from banking_lakehouse.generator.__main__ import main as generator_main
from banking_lakehouse.generator.config import GeneratorConfig
from banking_lakehouse.generator.core_banking import CoreDayAlreadyApplied, apply_core_day, seed_core
from banking_lakehouse.generator.master import build_population
from banking_lakehouse.resources.core_banking import (
    DEFAULT_DATABASE,
    READER_ROLE,
    SOURCE_TIMES,
    Bookmark,
    CoreBankingSource,
    Extraction,
    ExtractionWindow,
    SourceConnectionError,
    extraction_schema,
)
from banking_lakehouse.sql import quoted
from banking_lakehouse_tests.conftest import private_database

SEED, ROWS = 7, 2000
SEEDED_BEFORE = dt.date(2024, 12, 1)  # the population's rows are all stamped before this day
DAYS = [dt.date(2024, 12, 1), dt.date(2024, 12, 2), dt.date(2024, 12, 3)]


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), dt.UTC)


def _source(postgres, name: str) -> CoreBankingSource:
    source = CoreBankingSource(dsn=private_database(postgres, name).dsn)
    with source.connect() as conn:
        seed_core(conn, SEED, SEEDED_BEFORE, ROWS)
    return source


def _table_rows(source: CoreBankingSource, entity: str, ids: list[str] | None = None) -> dict[str, dict]:
    """The table's rows as an extraction carries them (columns as text), by id."""
    spec = ENTITIES[entity]
    columns = sql.SQL(", ").join(
        [sql.SQL("{}::text").format(sql.Identifier(c)) for c in spec.columns]
        + [sql.Identifier(c) for c in SOURCE_TIMES]
    )
    query = sql.SQL("SELECT {} FROM {}").format(columns, sql.Identifier("core", entity))
    with source.connect() as conn:
        cursor = conn.execute(query)
        names = [d.name for d in cursor.description]
        rows = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
    return {r[spec.id_column]: r for r in rows if ids is None or r[spec.id_column] in ids}


def _by_id(extraction: Extraction, entity: str) -> dict[str, dict]:
    rows = pq.read_table(extraction.path).to_pylist()
    ids = [r[ENTITIES[entity].id_column] for r in rows]
    assert len(ids) == len(set(ids))  # each row once
    return dict(zip(ids, rows, strict=True))


@pytest.fixture(scope="module")
def history(postgres, tmp_path_factory) -> dict:
    """A full load before the first day, then three days applied, each extracted from the bookmark before it
    (right after it is applied: `state` is the table as the extraction read it)."""
    source = _source(postgres, "core_source")
    out = tmp_path_factory.mktemp("core")
    full = {
        e: source.extract(e, ExtractionWindow(None, _midnight(SEEDED_BEFORE)), out / f"full_{e}.parquet")
        for e in MASTER_ENTITIES
    }
    days, bookmarks = [], {e: full[e].bookmark for e in MASTER_ENTITIES}
    for day in DAYS:
        with source.connect() as conn:
            truth = apply_core_day(conn, SEED, day)
        extracted = {}
        for entity in MASTER_ENTITIES:
            window = ExtractionWindow.through_day(bookmarks[entity], day)
            extracted[entity] = source.extract(entity, window, out / f"{day}_{entity}.parquet", batch_rows=7)
            bookmarks[entity] = extracted[entity].bookmark
        state = {e: _table_rows(source, e, truth[e]["expected_ids"]) for e in MASTER_ENTITIES}
        days.append({"day": day, "truth": truth, "extracted": extracted, "state": state})
    return {"source": source, "full": full, "days": days, "bookmarks": bookmarks, "out": out}


def test_the_core_tables_carry_the_entities_columns_and_the_three_timestamps(history):
    with history["source"].connect() as conn:
        for entity in MASTER_ENTITIES:
            columns = conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns"
                " WHERE table_schema = 'core' AND table_name = %s ORDER BY ordinal_position",
                (entity,),
            ).fetchall()
            assert [c for c, _ in columns] == [*ENTITIES[entity].columns, *SOURCE_TIMES]
            types = dict(columns)
            assert {types[c] for c in SOURCE_TIMES} == {"timestamp with time zone"}
            assert {c: types[c] for c in types if c.endswith("_date")} == {
                "customers": {"join_date": "date"},
                "accounts": {"opened_date": "date"},
                "merchants": {},
            }[entity]


def test_the_first_extraction_is_a_full_load_of_exactly_the_seeded_population(history):
    population = build_population(GeneratorConfig(date=SEEDED_BEFORE, rows=ROWS, seed=SEED))
    frames = {"customers": population.customers, "accounts": population.accounts, "merchants": population.merchants}
    for entity, extraction in history["full"].items():
        spec = ENTITIES[entity]
        table = pq.read_table(extraction.path)
        assert table.schema == extraction_schema(spec)
        rows = table.to_pylist()
        expected = frames[entity][list(spec.columns)].to_dict("records")
        assert sorted(table.select(list(spec.columns)).to_pylist(), key=itemgetter(spec.id_column)) == expected
        assert extraction.rows == extraction.source_count == len(expected) == len(frames[entity])
        assert extraction.deletes == 0 and table.column("deleted_at").null_count == len(rows)
        order = [(r["updated_at"], r[spec.id_column]) for r in rows]
        assert order == sorted(order) and order[-1] < (_midnight(SEEDED_BEFORE), "")
        assert extraction.bookmark == Bookmark(*order[-1])


@pytest.mark.parametrize("day_index", range(len(DAYS)))
def test_each_days_window_extracts_exactly_the_days_changes_in_their_latest_state(history, day_index):
    day = history["days"][day_index]
    for entity in MASTER_ENTITIES:
        truth, extraction = day["truth"][entity], day["extracted"][entity]
        extracted = _by_id(extraction, entity)
        assert sorted(extracted) == truth["expected_ids"]
        assert len(extracted) == extraction.rows == extraction.source_count
        assert extracted == day["state"][entity]  # every column as the table held it, the latest state
        assert {i: r["updated_at"].isoformat() for i, r in extracted.items()} == truth["last_change"]
        assert sorted(i for i, r in extracted.items() if r["deleted_at"] is not None) == truth["deleted"]
        assert extraction.deletes == len(truth["deleted"])
        start, end = _midnight(day["day"]), _midnight(day["day"] + dt.timedelta(days=1))
        assert all(start <= extracted[i]["created_at"] < end for i in truth["inserted"])
        last = max((r["updated_at"], i) for i, r in extracted.items())
        assert extraction.bookmark == Bookmark(*last)
    customers = day["truth"]["customers"]
    assert customers["inserted"] and customers["deleted"] and customers["changed_twice"]
    assert {"address", "segment", "risk_rating"} <= {c for cols in customers["updated"].values() for c in cols}
    assert any(cols == ["status"] for cols in day["truth"]["accounts"]["updated"].values())
    # the deleted customers' accounts are deleted with them
    deleted_owners = {day["state"]["accounts"][i]["customer_id"] for i in day["truth"]["accounts"]["deleted"]}
    assert deleted_owners == set(customers["deleted"])


def test_every_row_the_days_write_is_valid_for_the_silver_contract(history):
    """Seeded and changed rows alike pass the silver contract's rules (required, allowed values, patterns),
    counted as the asset checks count them (DuckDB)."""
    for entity in MASTER_ENTITIES:
        paths = [str(history["full"][entity].path), *(str(d["extracted"][entity].path) for d in history["days"])]
        con = duckdb.connect()
        con.register("frame", pads.dataset(paths, format="parquet"))
        required, _unique, rules = contract_rules(CONTRACTS[entity])
        columns = set(ENTITIES[entity].columns)
        for column in columns.intersection(required):
            nulls = con.execute(f"SELECT count(*) FROM frame WHERE {quoted(column)} IS NULL").fetchone()[0]
            assert nulls == 0, (entity, column)
        entity_rules = [r for r in rules if r.column in columns]
        assert len(entity_rules) >= 3  # ids, categories, countries at least: the loop below checks something
        for rule in entity_rules:
            condition, values = rule.failing("p")
            broken = con.execute(f"SELECT count(*) FROM frame WHERE {condition}", values).fetchone()[0]
            assert broken == 0, (entity, rule)


def test_an_updated_rows_changed_columns_differ_from_the_state_before_the_day(history):
    previous = {e: _by_id(history["full"][e], e) for e in MASTER_ENTITIES}
    for day in history["days"]:
        for entity in MASTER_ENTITIES:
            after = _by_id(day["extracted"][entity], entity)
            for row_id, columns in day["truth"][entity]["updated"].items():
                before = previous[entity][row_id]
                changed = {c for c in ENTITIES[entity].columns if before[c] != after[row_id][c]}
                assert changed == set(columns), (entity, row_id)
            previous[entity] |= after


def test_the_same_window_over_an_unchanged_source_gives_identical_bytes(history):
    last = history["days"][-1]
    for entity in MASTER_ENTITIES:
        first = last["extracted"][entity]
        window = ExtractionWindow.through_day(history["days"][-2]["extracted"][entity].bookmark, last["day"])
        again = history["source"].extract(entity, window, history["out"] / f"again_{entity}.parquet", batch_rows=7)
        assert again.path.read_bytes() == first.path.read_bytes()
        assert (again.rows, again.deletes, again.source_count, again.bookmark) == (
            first.rows,
            first.deletes,
            first.source_count,
            first.bookmark,
        )


def test_an_empty_window_writes_an_empty_file_and_no_bookmark(history):
    bookmark = history["bookmarks"]["customers"]
    window = ExtractionWindow.through_day(bookmark, DAYS[-1])
    extraction = history["source"].extract("customers", window, history["out"] / "empty.parquet")
    assert (extraction.rows, extraction.deletes, extraction.source_count, extraction.bookmark) == (0, 0, 0, None)
    table = pq.read_table(extraction.path)
    assert table.num_rows == 0 and table.schema == extraction_schema(ENTITIES["customers"])
    assert sorted(p.name for p in history["out"].iterdir() if p.name.startswith(".")) == []  # no temporary left


def test_a_day_is_applied_once_and_in_date_order(history):
    with history["source"].connect() as conn:
        with pytest.raises(CoreDayAlreadyApplied, match="2024-12-02 was already applied"):
            apply_core_day(conn, SEED, DAYS[1])
        with pytest.raises(ValueError, match="2024-11-30 is before the last day applied"):
            apply_core_day(conn, SEED, dt.date(2024, 11, 30))
        applied = conn.execute("SELECT day FROM core_simulation.applied_days ORDER BY day").fetchall()
    assert [d for (d,) in applied] == DAYS


def test_a_row_committed_during_an_extraction_is_seen_by_the_next_window_only(postgres, tmp_path):
    """After the first batch, another connection moves a customer and opens a new one, and commits: neither is
    in the extraction (nor in its count), both are in the next window, in their new state."""
    source = _source(postgres, "core_snapshot")
    end_of_day = _midnight(SEEDED_BEFORE + dt.timedelta(days=1))
    window = ExtractionWindow(None, end_of_day)
    seeded = _table_rows(source, "customers")
    moved = min(seeded, key=lambda i: (seeded[i]["updated_at"], i))  # the first row: read before the change
    changed_at = end_of_day - dt.timedelta(hours=12)

    def commit_changes(rows_so_far: int) -> None:
        if rows_so_far != 50:
            return
        with psycopg.connect(source.uri(), autocommit=True) as other:
            other.execute(
                "UPDATE core.customers SET city = 'Moved City', updated_at = %s WHERE customer_id = %s",
                (changed_at, moved),
            )
            other.execute(
                "INSERT INTO core.customers (customer_id, first_name, last_name, email, created_at, updated_at)"
                " VALUES ('C9999999', 'New', 'Customer', 'new.customer@example.com', %s, %s)",
                (changed_at, changed_at),
            )

    extraction = source.extract(
        "customers", window, tmp_path / "during.parquet", batch_rows=50, on_batch=commit_changes
    )
    extracted = _by_id(extraction, "customers")
    assert sorted(extracted) == sorted(seeded) and extraction.rows == extraction.source_count == len(seeded)
    assert extracted[moved]["city"] == seeded[moved]["city"] != "Moved City"
    following = source.extract(
        "customers", ExtractionWindow(extraction.bookmark, end_of_day), tmp_path / "next.parquet"
    )
    after = _by_id(following, "customers")
    assert sorted(after) == sorted([moved, "C9999999"]) and after[moved]["city"] == "Moved City"
    assert {r["updated_at"] for r in after.values()} == {changed_at}


def test_the_reader_role_reads_core_and_cannot_write(history):
    source = history["source"]
    source.ensure_reader_role()
    with source.connect() as conn:
        conn.execute(sql.SQL("ALTER ROLE {} PASSWORD 'reader-test-password'").format(sql.Identifier(READER_ROLE)))
        conn.commit()
    server = urlparse(source.uri()).netloc.rpartition("@")[2]  # host:port, or empty for the embedded socket
    reader = CoreBankingSource(
        dsn=urlunparse(urlparse(source.uri())._replace(netloc=f"{READER_ROLE}:reader-test-password@{server}"))
    )
    with reader.connect() as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == READER_ROLE
    window = ExtractionWindow(None, _midnight(SEEDED_BEFORE))
    extraction = reader.extract("accounts", window, history["out"] / "reader.parquet")
    as_owner = source.extract("accounts", window, history["out"] / "owner.parquet")
    assert extraction.rows == as_owner.rows > 0 and extraction.path.read_bytes() == as_owner.path.read_bytes()
    writes = [
        "INSERT INTO core.merchants (merchant_id, name, mcc) VALUES ('M9999999', 'x', '5411')",
        "UPDATE core.customers SET city = 'x'",
        "DELETE FROM core.accounts",
        "TRUNCATE core.merchants",
        "CREATE TABLE core.intruder (id int)",
        "SELECT * FROM core_simulation.applied_days",
    ]
    for statement in writes:
        with reader.connect() as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement)


def test_a_window_and_a_bookmark_survive_dagster_metadata():
    after = Bookmark(dt.datetime(2024, 12, 1, 23, 59, 59, 999999, dt.UTC), "C0000042")
    window = ExtractionWindow.through_day(after, dt.date(2024, 12, 2))
    assert window.to_metadata() == {
        "window_after_updated_at": "2024-12-01T23:59:59.999999+00:00",
        "window_after_id": "C0000042",
        "window_until": "2024-12-03T00:00:00+00:00",
    }
    as_recorded = {key: MetadataValue.text(value) for key, value in window.to_metadata().items()}
    assert ExtractionWindow.from_metadata(as_recorded) == ExtractionWindow.from_metadata(window.to_metadata()) == window
    full_load = ExtractionWindow(None, dt.datetime(2024, 12, 2, tzinfo=dt.UTC))
    assert ExtractionWindow.from_metadata(full_load.to_metadata()) == full_load and full_load.after is None
    extraction = Extraction(Path("x.parquet"), 3, 1, 3, after)
    assert Bookmark.from_metadata(extraction.to_metadata(), "bookmark") == after
    with pytest.raises(ValueError, match="timezone-aware"):
        ExtractionWindow(None, dt.datetime(2024, 12, 2))


def test_a_connection_error_never_shows_the_password():
    source = CoreBankingSource(dsn="postgresql://core_reader:S3cret-Pa55@127.0.0.1:1/core")
    with pytest.raises(SourceConnectionError) as raised:
        source.connect()
    assert "S3cret-Pa55" not in str(raised.value) and "***" in str(raised.value)
    with pytest.raises(ValueError, match="'transactions' is not a master entity"):
        CoreBankingSource(entities=["customers", "transactions"])


def test_the_cli_seeds_the_source_and_applies_a_day(postgres, monkeypatch, capsys):
    dsn = private_database(postgres, "core_cli").dsn
    monkeypatch.setenv("BANKING_SOURCE_DSN", dsn)
    generator_main(["core-seed", "--seed", str(SEED), "--rows", str(ROWS), "--as-of", "2024-12-01"])
    population = build_population(GeneratorConfig(date=SEEDED_BEFORE, rows=ROWS, seed=SEED))
    seeded = {"customers": len(population.customers), "accounts": len(population.accounts), "merchants": 200}
    assert json.loads(capsys.readouterr().out) == {"seeded": seeded}
    generator_main(["core-day", "--seed", str(SEED), "--date", "2024-12-01"])
    truth = json.loads(capsys.readouterr().out)
    changed = _table_rows(CoreBankingSource(dsn=dsn), "customers")
    day_start = _midnight(dt.date(2024, 12, 1))
    assert sorted(i for i, r in changed.items() if r["updated_at"] >= day_start) == truth["customers"]["expected_ids"]


def test_without_a_dsn_the_source_is_a_database_of_its_own_on_the_embedded_server(postgres):
    if postgres.dsn:
        pytest.skip("the suite runs against BANKING_TEST_PG_DSN, not the embedded server")
    source = CoreBankingSource(embedded_dir=postgres.embedded_dir)
    source.ensure_schema()
    with source.connect() as conn:
        assert conn.execute("SELECT current_database()").fetchone()[0] == DEFAULT_DATABASE
        assert conn.execute("SELECT count(*) FROM core.customers").fetchone()[0] == 0
