"""COPY from Arrow on the real embedded PostgreSQL: binary where the Arrow types carry the columns exactly, with
the same rows as the CSV text it replaces; CSV where only the server's parsing rounds as a literal would."""

import datetime as dt
from decimal import Decimal

import psycopg
import pyarrow as pa
import pytest
from psycopg import sql

from banking_lakehouse.resources import copy_stream
from banking_lakehouse.resources.postgres import PostgresResource

COPIED = sql.Identifier("copied")
COLUMNS = """
    id bigint, n integer, k smallint, flag boolean, code char(3), label text, day date, amount numeric(18,2),
    total numeric, at timestamptz, raw bytea, ratio double precision
"""
UTC = dt.UTC
EVERY_TYPE = pa.table(
    {
        "id": pa.array([1, -(2**62), None], pa.int64()),
        "n": pa.array([7, None, -2_000_000_000], pa.int64()),  # wider than the column, values that fit
        "k": pa.array([None, 3, -32_768], pa.int16()),
        "flag": pa.array([True, False, None]),
        "code": pa.array(["USD", "", None]),  # an empty string stays one, not NULL
        "label": pa.array(['a "quoted", line\nbreak', "é\\x", None], pa.large_string()),
        "day": pa.array([dt.date(2030, 1, 31), None, dt.date(1999, 12, 31)], pa.date32()),
        "amount": pa.array([Decimal("12.5"), Decimal("-0.1"), None], pa.decimal128(10, 1)),
        "total": pa.array([Decimal("123456789012345678.25"), None, Decimal("0.00")], pa.decimal128(38, 2)),
        "at": pa.array(
            [dt.datetime(2030, 1, 1, 23, 59, 59, 999_999, UTC), None, dt.datetime(1970, 1, 1, tzinfo=UTC)],
            pa.timestamp("us", "UTC"),
        ),
        "raw": pa.array([b"\x00\xff,\n", None, b""], pa.binary()),
        "ratio": pa.array([0.1, None, -1e300], pa.float64()),
    }
)
EXPECTED = [
    (1, 7, None, True, "USD", 'a "quoted", line\nbreak', dt.date(2030, 1, 31), Decimal("12.50"),
     Decimal("123456789012345678.25"), dt.datetime(2030, 1, 1, 23, 59, 59, 999_999, UTC), b"\x00\xff,\n", 0.1),
    (-(2**62), None, 3, False, "   ", "é\\x", None, Decimal("-0.10"), None, None, None, None),
    (None, -2_000_000_000, -32_768, None, None, None, dt.date(1999, 12, 31), None, Decimal("0.00"),
     dt.datetime(1970, 1, 1, tzinfo=UTC), b"", -1e300),
]  # fmt: skip


@pytest.fixture
def conn(postgres: PostgresResource):
    with postgres.connect() as conn:
        conn.execute(sql.SQL("CREATE TEMPORARY TABLE {} ({})").format(COPIED, sql.SQL(COLUMNS)))
        yield conn
        conn.rollback()


def copied(conn: psycopg.Connection) -> list[tuple]:
    rows = conn.execute(sql.SQL("SELECT * FROM {} ORDER BY id").format(COPIED)).fetchall()
    conn.execute(sql.SQL("TRUNCATE {}").format(COPIED))
    return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in rows]


def copy_as_csv(conn: psycopg.Connection, data: pa.Table) -> None:
    columns = sql.SQL(", ").join(map(sql.Identifier, data.column_names))
    with conn.cursor().copy(sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(COPIED, columns)) as copy:
        for chunk in copy_stream.copy_chunks(iter(data.to_batches()), None):
            copy.write(chunk)


def test_every_warehouse_type_is_copied_in_binary_as_the_csv_text_copied_it(conn):
    wire = copy_stream.wire_schema(conn, COPIED, EVERY_TYPE.schema)
    assert wire is not None and wire.field("n").type == pa.int32() and wire.field("amount").type == pa.decimal128(18, 2)
    PostgresResource.copy_rows(conn, COPIED, EVERY_TYPE.slice(0, 1))
    PostgresResource.copy_rows(conn, COPIED, EVERY_TYPE.slice(1))  # two COPYs: each stream whole
    expected_order = [EXPECTED[1], EXPECTED[0], EXPECTED[2]]  # by id
    assert copied(conn) == expected_order
    copy_as_csv(conn, EVERY_TYPE)
    assert copied(conn) == expected_order


@pytest.mark.parametrize(
    ("column", "values", "stored"),
    [
        ("amount", pa.array([1.005, 2.675], pa.float64()), [Decimal("1.01"), Decimal("2.68")]),  # the text rounded
        ("amount", pa.array([Decimal("12.345678")], pa.decimal128(22, 6)), [Decimal("12.35")]),
        ("at", pa.array([1_700_000_000_123_456_789], pa.timestamp("ns", "UTC")), [
            dt.datetime(2023, 11, 14, 22, 13, 20, 123_457, UTC)]),
    ],
    ids=["float into numeric", "finer decimal scale", "nanoseconds"],
)  # fmt: skip
def test_what_only_the_servers_parse_rounds_goes_as_csv(conn, column, values, stored):
    data = pa.table({"n": pa.array(range(len(values)), pa.int32()), column: values})
    assert copy_stream.wire_schema(conn, COPIED, data.schema) is None
    PostgresResource.copy_rows(conn, COPIED, data)
    assert [row[0] for row in conn.execute(sql.SQL("SELECT {} FROM {} ORDER BY n").format(
        sql.Identifier(column), COPIED))] == stored  # fmt: skip


def test_a_value_the_column_cannot_hold_fails_the_copy(conn):
    with pytest.raises(pa.ArrowInvalid, match="2147483648 not in range"):
        PostgresResource.copy_rows(conn, COPIED, pa.table({"n": pa.array([2**31], pa.int64())}))
