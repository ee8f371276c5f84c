"""Arrow batches as the byte stream of a COPY into PostgreSQL. Binary (PostgreSQL's own tuple format, encoded
from Arrow's buffers by pgpq) when every column's Arrow type carries the target column's values exactly: no
Python renders text and the server parses none, which makes the fact's load cheaper than a `\\copy` of CSV.
Otherwise CSV text, which the server parses and rounds as it does any literal (a float into numeric, a decimal
of a finer scale than the column's): the same rows either way."""

from __future__ import annotations

import io
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from pgpq import ArrowToPostgresBinaryEncoder
from psycopg import sql

INTEGERS = {"int2": pa.int16(), "int4": pa.int32(), "int8": pa.int64()}
TEXTS = ("text", "bpchar", "varchar")
FLOATS = {"float4": pa.float32(), "float8": pa.float64()}
DECIMAL128_DIGITS = 38  # numeric's widest that pgpq encodes


def _wire_type(source: pa.DataType, column: psycopg.Column, type_name: str) -> pa.DataType | None:
    """The Arrow type whose binary encoding `column` receives, when `source` casts to it without rounding
    (a value that does not fit fails the cast, as it fails the CSV's parse); None when only text would do."""
    if type_name in INTEGERS and pa.types.is_integer(source):
        return INTEGERS[type_name]
    if type_name in TEXTS and (pa.types.is_string(source) or pa.types.is_large_string(source)):
        return source
    if type_name == "bool" and pa.types.is_boolean(source):
        return source
    if type_name == "date" and pa.types.is_date(source):
        return pa.date32()
    if type_name in ("timestamptz", "timestamp") and pa.types.is_timestamp(source) and source.unit != "ns":
        return pa.timestamp("us", "UTC" if type_name == "timestamptz" else None)  # naive values are UTC, as in CSV
    if type_name == "numeric" and pa.types.is_decimal128(source):
        if column.scale is None:  # numeric without a typmod keeps any scale
            return source
        if source.scale <= column.scale and column.precision <= DECIMAL128_DIGITS:
            return pa.decimal128(column.precision, column.scale)
        return None
    if FLOATS.get(type_name) == source:
        return source
    if type_name == "bytea" and (pa.types.is_binary(source) or pa.types.is_large_binary(source)):
        return source
    return None


def wire_schema(conn: psycopg.Connection, target: sql.Composable, schema: pa.Schema) -> pa.Schema | None:
    """The Arrow schema that encodes `schema`'s columns as `target`'s columns in binary, or None: then CSV."""
    columns = sql.SQL(", ").join(sql.Identifier(name) for name in schema.names)
    described = conn.execute(sql.SQL("SELECT {} FROM {} LIMIT 0").format(columns, target)).description
    wire = []
    for field, column in zip(schema, described, strict=True):
        known = conn.adapters.types.get(column.type_code)
        wire_type = _wire_type(field.type, column, known.name) if known else None
        if wire_type is None:
            return None
        wire.append(pa.field(field.name, wire_type))
    return pa.schema(wire)


def csv_copyable(table: pa.Table) -> pa.Table:
    """COPY's CSV text of every column: timestamps as naive UTC (the session runs in UTC, and COPY is
    fastest so), bytes as bytea hex (`\\x…`), so any delivered byte can be loaded."""
    for i, f in enumerate(table.schema):
        if pa.types.is_timestamp(f.type) and f.type.tz:
            table = table.set_column(i, f.name, table.column(i).cast(pa.timestamp(f.type.unit)))
        elif pa.types.is_binary(f.type):
            hexed = [None if b is None else "\\x" + b.hex() for b in table.column(i).to_pylist()]
            table = table.set_column(i, f.name, pa.array(hexed, pa.string()))
    return table


def _csv(batch: pa.RecordBatch) -> bytes:
    buffer = io.BytesIO()
    pacsv.write_csv(csv_copyable(pa.Table.from_batches([batch])), buffer, pacsv.WriteOptions(include_header=False))
    return buffer.getvalue()


def copy_chunks(batches: Iterator[pa.RecordBatch], wire: pa.Schema | None) -> Iterator[bytes]:
    """The COPY's bytes, one chunk per batch (binary: a header first and a trailer last), each made in a thread
    while the one before is sent (and stored by the server), never more than two at once in memory."""
    encoder = ArrowToPostgresBinaryEncoder(wire) if wire is not None else None
    if encoder is not None:
        yield encoder.write_header()
    encode = _csv if encoder is None else lambda batch: encoder.write_batch(batch.cast(wire))
    with ThreadPoolExecutor(max_workers=1) as pool:
        ahead = None
        for batch in batches:
            following = pool.submit(encode, batch)
            if ahead is not None:
                yield ahead.result()
            ahead = following
        if ahead is not None:
            yield ahead.result()
    if encoder is not None:
        yield encoder.finish()
