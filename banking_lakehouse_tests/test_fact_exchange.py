"""The fact loaded by partition exchange on the real embedded PostgreSQL: a reload replaces exactly its batch,
late arrivals get a leaf in their month, concurrent batches, readers during the swap, analysts' plans, grants,
and the conversion of a warehouse created before this layout."""

import datetime as dt
import threading
import uuid
from decimal import Decimal
from pathlib import Path

import psycopg
import pyarrow as pa
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from banking_lakehouse.resources.fact_exchange import Exchanged
from banking_lakehouse.resources.postgres import PostgresResource

OLD_DDL = Path(__file__).parent / "fixtures" / "warehouse_before_exchange.sql"


@pytest.fixture
def fact(postgres):
    postgres.ensure_schema()
    yield postgres
    # this module's months (2032) dropped: other modules count the month tables holding their own data
    with postgres.connect() as conn:
        for (name,) in conn.execute(
            "SELECT relname FROM pg_class WHERE relnamespace = 'gold'::regnamespace"
            " AND relname ~ '^fact_transactions_2032_[0-9]{2}$'"
        ).fetchall():
            conn.execute(sql.SQL("DROP TABLE gold.{}").format(sql.Identifier(name)))


def days(first: dt.date, count: int, rows: int) -> list[dt.date]:
    """`rows` dates over `count` days from `first`, in order (so a day's rows sit together, as a delivery's do)."""
    return [first + dt.timedelta(days=i * count // rows) for i in range(rows)]


def fact_rows(postgres: PostgresResource, batch: dt.date, dates: list[dt.date], tag: str) -> pa.Table:
    """One fact row per date for `batch`: ids `tag-i`, amount_usd i + 1 (exact sums), 500 customers; every
    other column a constant of its catalog type."""
    n = len(dates)
    constants = {"bigint": 1, "integer": 1, "smallint": 1, "numeric": Decimal("1.00"), "boolean": False}
    given = {
        "transaction_id": pa.array([f"{tag}-{i}" for i in range(n)]),
        "transaction_date": pa.array(dates, pa.date32()),
        "batch_date": pa.array([batch] * n, pa.date32()),
        "transaction_ts": pa.array([dt.datetime.combine(d, dt.time(), dt.UTC) for d in dates]),
        "amount_usd": pa.array([Decimal(i + 1) for i in range(n)], pa.decimal128(18, 2)),
        "customer_key": pa.array([i % 500 for i in range(n)], pa.int64()),
        "is_high_risk": pa.array([i % 10 == 0 for i in range(n)]),
    }
    columns = postgres.fetch(
        "SELECT column_name, data_type, character_maximum_length FROM information_schema.columns"
        " WHERE table_schema = 'gold' AND table_name = 'fact_transactions' AND column_default IS NULL"
        " ORDER BY ordinal_position"
    )
    return pa.table(
        {
            name: given.get(name, pa.array([constants.get(kind, "x" * (length or 1))] * n))
            for name, kind, length in columns
        }
    )


def state(postgres, batch: dt.date) -> tuple[int, Decimal]:
    return postgres.fetch(
        "SELECT count(*), coalesce(sum(amount_usd), 0) FROM gold.fact_transactions WHERE batch_date = %s", (batch,)
    )[0]


def expected(rows: int) -> tuple[int, Decimal]:
    return rows, Decimal(rows * (rows + 1) // 2)


def leaves(postgres, batch: dt.date) -> dict[str, int]:
    return dict(
        postgres.fetch(
            "SELECT tableoid::regclass::text, count(*) FROM gold.fact_transactions WHERE batch_date = %s GROUP BY 1",
            (batch,),
        )
    )


def test_a_reload_replaces_exactly_its_batch(fact):
    batch, neighbour = dt.date(2032, 1, 20), dt.date(2032, 1, 21)
    january = dt.date(2032, 1, 1)
    first = fact.exchange_fact_batch(fact_rows(fact, batch, days(january, 20, 300), "first"), batch)
    assert first == Exchanged(rows=300, rows_replaced=0, months=[january])
    fact.exchange_fact_batch(fact_rows(fact, neighbour, days(january, 21, 200), "neighbour"), neighbour)

    second = fact_rows(fact, batch, days(january, 20, 120), "second")
    assert fact.replace_rows("gold.fact_transactions", second, {"batch_date": batch}) == 300
    assert state(fact, batch) == expected(120)
    assert state(fact, neighbour) == expected(200)
    ids = fact.fetch(
        "SELECT DISTINCT split_part(transaction_id, '-', 1) FROM gold.fact_transactions WHERE batch_date = %s", (batch,)
    )
    assert ids == [("second",)]
    assert leaves(fact, batch) == {"gold.fact_transactions_2032_01_b20320120": 120}


def test_a_batch_spanning_two_months_has_a_leaf_in_each(fact):
    batch = dt.date(2032, 3, 1)
    late = [dt.date(2032, 2, 27)] * 40 + [dt.date(2032, 3, 1)] * 60
    exchanged = fact.exchange_fact_batch(fact_rows(fact, batch, late, "late"), batch)
    assert exchanged == Exchanged(rows=100, rows_replaced=0, months=[dt.date(2032, 2, 1), dt.date(2032, 3, 1)])
    assert leaves(fact, batch) == {
        "gold.fact_transactions_2032_02_b20320301": 40,
        "gold.fact_transactions_2032_03_b20320301": 60,
    }
    assert state(fact, batch) == expected(100)

    # delivered again without its late rows: February's leaf of the batch goes
    again = fact.exchange_fact_batch(fact_rows(fact, batch, [dt.date(2032, 3, 2)] * 70, "again"), batch)
    assert again == Exchanged(rows=70, rows_replaced=100, months=[dt.date(2032, 3, 1)])
    assert leaves(fact, batch) == {"gold.fact_transactions_2032_03_b20320301": 70}
    assert fact.fetch("SELECT to_regclass('gold.fact_transactions_2032_02_b20320301')") == [(None,)]


def _load_together(postgres, data: dict) -> list[Exception]:
    """Each batch's exchange in its own thread, started at the same moment; the errors raised."""
    start, errors = threading.Barrier(len(data)), []

    def load(batch, table):
        try:
            start.wait()
            postgres.exchange_fact_batch(table, batch)
        except Exception as exc:  # noqa: BLE001 - returned to the test
            errors.append(exc)

    threads = [threading.Thread(target=load, args=item) for item in data.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_two_batches_spanning_new_months_load_at_the_same_time(fact):
    batches = [dt.date(2032, 5, 3), dt.date(2032, 5, 4)]
    for rows in (900, 400, 1300):  # each round replaces the last; the first creates both months
        data = {
            b: fact_rows(fact, b, days(b - dt.timedelta(days=10), 11, rows + i), f"r{rows}")
            for i, b in enumerate(batches)
        }
        assert _load_together(fact, data) == []
        for batch, table in data.items():
            assert state(fact, batch) == expected(table.num_rows)
            assert set(leaves(fact, batch)) == {
                f"gold.fact_transactions_2032_04_b{batch:%Y%m%d}",
                f"gold.fact_transactions_2032_05_b{batch:%Y%m%d}",
            }


def test_a_reader_sees_the_whole_old_batch_or_the_whole_new_one(fact):
    batch, july = dt.date(2032, 7, 10), dt.date(2032, 7, 1)
    versions = [fact_rows(fact, batch, days(july, 10, rows), f"v{rows}") for rows in (20_000, 30_000)]
    fact.exchange_fact_batch(versions[0], batch)
    seen, stop = [], threading.Event()

    def read():
        with fact.connect(autocommit=True) as conn:
            while not stop.is_set():
                seen.append(
                    conn.execute(
                        "SELECT count(*), coalesce(sum(amount_usd), 0) FROM gold.fact_transactions"
                        " WHERE transaction_date >= %s AND transaction_date < %s",
                        (july, dt.date(2032, 8, 1)),
                    ).fetchone()
                )

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(1, 7):
            fact.exchange_fact_batch(versions[i % 2], batch)
    finally:
        stop.set()
        reader.join()
    assert len(seen) > 6
    assert set(seen) <= {expected(20_000), expected(30_000)}


def _notices(conn: psycopg.Connection) -> list[str]:
    messages = []
    conn.add_notice_handler(lambda diagnostic: messages.append(diagnostic.message_primary))
    return messages


def test_attach_adopts_the_stage_indexes_and_needs_no_validation_scan(fact):
    batch, september = dt.date(2032, 9, 5), dt.date(2032, 9, 1)
    data = fact_rows(fact, batch, days(september, 5, 1000), "attach")
    fact.ensure_fact_partitions(data.column("transaction_date"))
    with fact.connect() as conn:
        messages = _notices(conn)
        leaf = conn.execute("SELECT gold.create_fact_stage(%s, %s)", (september, batch)).fetchone()[0]
        stage = sql.Identifier("gold_stage", leaf)
        fact.copy_rows(conn, stage, data, freeze=True)
        conn.execute("SELECT gold.build_fact_indexes(%s::regclass)", (stage.as_string(conn),))
        conn.execute("SET client_min_messages = debug1")
        conn.execute("SELECT gold.exchange_fact_batch(%s, %s)", (batch, [september]))
    assert f'partition constraint for table "{leaf}" is implied by existing constraints' in messages
    indexes = fact.fetch(
        "SELECT (SELECT count(*) FROM pg_index WHERE indrelid = %s::regclass),"
        " (SELECT count(*) FROM pg_index AS i JOIN pg_inherits AS h ON i.indexrelid = h.inhrelid"
        "  WHERE i.indrelid = %s::regclass),"
        " (SELECT count(*) FROM pg_index WHERE indrelid = 'gold.fact_transactions'::regclass)",
        (f"gold.{leaf}", f"gold.{leaf}"),
    )[0]
    assert indexes == (5, 5, 5)  # each of the stage's indexes became the parent's, none built again
    assert state(fact, batch) == expected(1000)


def _plan_nodes(plan: dict) -> list[dict]:
    return [plan, *(node for child in plan.get("Plans", []) for node in _plan_nodes(child))]


def _analyst_plan(postgres, query: str, params) -> list[dict]:
    with postgres.connect() as conn:
        conn.execute("SET ROLE analyst")
        return _plan_nodes(conn.execute("EXPLAIN (FORMAT JSON) " + query, params).fetchone()[0][0]["Plan"])


def test_analysts_date_and_customer_queries_prune_to_a_month_and_use_its_indexes(fact):
    november = dt.date(2032, 11, 1)
    for batch in (dt.date(2032, 11, 2), dt.date(2032, 11, 3)):  # each with late rows from October
        dates = days(dt.date(2032, 10, 20), 40, 40_000)
        fact.exchange_fact_batch(fact_rows(fact, batch, dates, f"plan{batch.day}"), batch)
    with fact.connect(autocommit=True) as conn:
        conn.execute("ANALYZE gold.fact_transactions")

    day = _analyst_plan(
        fact,
        "SELECT count(*), sum(amount_usd) FROM gold.fact_transactions WHERE transaction_date = %s",
        (dt.date(2032, 11, 14),),
    )
    assert {n["Relation Name"] for n in day if "Relation Name" in n} == {
        "fact_transactions_2032_11_b20321102",
        "fact_transactions_2032_11_b20321103",
    }
    assert {n["Node Type"] for n in day} & {"Index Scan", "Index Only Scan", "Bitmap Index Scan"}

    customer = _analyst_plan(
        fact,
        "SELECT transaction_date, amount_usd FROM gold.fact_transactions"
        " WHERE customer_key = %s AND transaction_date >= %s",
        (7, november),
    )
    used = {n["Index Name"] for n in customer if "Index Name" in n}
    assert used
    for name in used:
        definition = fact.fetch("SELECT pg_get_indexdef(%s::regclass)", (f"gold.{name}",))[0][0]
        assert definition.endswith("(customer_key, transaction_date)")


def test_leaves_are_owned_and_granted_like_the_fact(fact):
    batch = dt.date(2032, 12, 1)
    fact.exchange_fact_batch(fact_rows(fact, batch, [batch] * 10, "grants"), batch)
    leaf = "gold.fact_transactions_2032_12_b20321201"
    owner, analyst_reads, stage_usage = fact.fetch(
        "SELECT pg_get_userbyid(relowner) = (SELECT pg_get_userbyid(relowner) FROM pg_class"
        "  WHERE oid = 'gold.fact_transactions'::regclass),"
        " has_table_privilege('analyst', %s, 'SELECT'), has_schema_privilege('analyst', 'gold_stage', 'USAGE')"
        " FROM pg_class WHERE oid = %s::regclass",
        (leaf, leaf),
    )[0]
    assert (owner, analyst_reads, stage_usage) == (True, True, False)


ROWS = "SELECT transaction_id, transaction_date, batch_date, amount_usd, customer_key FROM gold.fact_transactions"


def test_ensure_schema_converts_the_old_layout_without_losing_a_row(postgres):
    name = f"convert_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres.uri(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        warehouse = PostgresResource(dsn=make_conninfo(postgres.uri(), dbname=name))
        january, february = dt.date(2024, 1, 1), dt.date(2024, 2, 1)
        deliveries = {
            dt.date(2024, 1, 15): days(january, 15, 500),
            dt.date(2024, 2, 1): days(dt.date(2024, 1, 25), 8, 300),  # late rows from January
            dt.date(2024, 2, 2): days(february, 2, 250),
        }
        with warehouse.connect() as conn:
            conn.execute(OLD_DDL.read_text())
            for month in (january, february):
                conn.execute("SELECT gold.ensure_fact_partition(%s)", (month,))
        with warehouse.connect() as conn:
            for batch, dates in deliveries.items():
                table = fact_rows(warehouse, batch, dates, f"old{batch:%m%d}")
                warehouse.copy_rows(conn, sql.Identifier("gold", "fact_transactions"), table)
            conn.execute("CREATE VIEW gold.large_transactions AS " + ROWS + " WHERE amount_usd > 100")
        before = sorted(warehouse.fetch(ROWS))
        assert len(before) == 1050

        warehouse.ensure_schema()

        assert sorted(warehouse.fetch(ROWS)) == before
        per_leaf = dict(
            warehouse.fetch("SELECT tableoid::regclass::text, count(*) FROM gold.fact_transactions GROUP BY 1")
        )
        assert per_leaf == {
            "gold.fact_transactions_2024_01_b20240115": 500,
            "gold.fact_transactions_2024_01_b20240201": sum(d < february for d in deliveries[dt.date(2024, 2, 1)]),
            "gold.fact_transactions_2024_02_b20240201": sum(d >= february for d in deliveries[dt.date(2024, 2, 1)]),
            "gold.fact_transactions_2024_02_b20240202": 250,
        }
        assert warehouse.fetch(
            "SELECT array_agg(a.attname ORDER BY k.i) FROM pg_constraint AS c,"
            " unnest(c.conkey) WITH ORDINALITY AS k (attnum, i), pg_attribute AS a"
            " WHERE c.conrelid = 'gold.fact_transactions'::regclass AND c.contype = 'p'"
            " AND a.attrelid = c.conrelid AND a.attnum = k.attnum"
        ) == [(["transaction_id", "transaction_date", "batch_date"],)]
        assert warehouse.fetch(
            "SELECT array_agg(indexrelid::regclass::text ORDER BY indexrelid::regclass::text) FROM pg_index"
            " WHERE indrelid = 'gold.fact_transactions'::regclass"
        ) == [
            (
                [
                    "gold.fact_transactions_amount",
                    "gold.fact_transactions_customer_date",
                    "gold.fact_transactions_date",
                    "gold.fact_transactions_high_risk",
                    "gold.fact_transactions_pkey",
                ],
            )
        ]
        views = warehouse.fetch(
            "SELECT (SELECT count(*) FROM gold.genuine_transactions), (SELECT count(*) FROM gold.large_transactions)"
        )[0]
        assert views == (1050, sum(1 for row in before if row[3] > 100))
        leftovers = warehouse.fetch(
            "SELECT count(*) FROM pg_class WHERE relname LIKE '%\\_v1' OR relnamespace = 'gold_stage'::regnamespace"
        )
        assert leftovers == [(0,)]

        batch = dt.date(2024, 2, 2)  # the converted warehouse loads by exchange
        reloaded = warehouse.exchange_fact_batch(fact_rows(warehouse, batch, [february] * 10, "new"), batch)
        assert reloaded == Exchanged(rows=10, rows_replaced=250, months=[february])
        assert state(warehouse, batch) == expected(10)
    finally:
        with psycopg.connect(postgres.uri(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
