"""The records a delivered CSV file parses into, against a reference that reads it one byte and one record at a time.

`parse_file` splits, decodes and splits into fields whole chunks at once (pyarrow), and only the unusual records
one by one; the reference here does everything per record with the plainest tools (a byte loop, `bytes.decode`,
the csv module), so any difference between the two is a bug in the fast path.
"""

import csv
import datetime as dt
import gzip
import unicodedata
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from banking_lakehouse.entities import TRANSACTIONS
from banking_lakehouse.generator import generate_day
from banking_lakehouse.generator.config import GeneratorConfig
from banking_lakehouse.transforms.records import RECORD_SCHEMA, RawFileError, parse_file
from banking_lakehouse.transforms.silver import file_spec

# Chunks of one byte, a few bytes, a few records and the default: records straddle every kind of chunk boundary.
CHUNKS = [1, 7, 150, None]


def reference(content: bytes, columns: list[str], encoding: str) -> tuple[list[dict], dict]:
    """(rows, report) of a CSV file, the slow and obvious way."""
    records, line, start, start_line, quoted, i = [], 1, 0, 1, False, 0
    while i < len(content):
        byte = content[i : i + 1]
        if byte == b'"':
            quoted = not quoted
        if byte in (b"\r", b"\n"):
            width = 2 if content[i : i + 2] == b"\r\n" else 1
            line += 1
            if not quoted:
                records.append((start_line, content[start:i]))
                start, start_line = i + width, line
            i += width
        else:
            i += 1
    if start < len(content):
        records.append((start_line, content[start:]))
    utf8 = encoding.replace("_", "-").lower() in ("utf-8", "utf8")
    header = records[0][1][3:] if utf8 and records[0][1].startswith(b"\xef\xbb\xbf") else records[0][1]
    names = [n.strip().lower() for n in next(csv.reader([header.decode(encoding)]))]
    rows = [_reference_row(number, data, names, columns, encoding, utf8) for number, data in records[1:] if data]
    report = {
        "records": len(rows),
        "blank_lines": sum(1 for _, data in records[1:] if not data),
        "extra_columns": [n for n in names if n not in columns],
        "missing_optional_columns": [c for c in columns if c not in names],
    }
    return rows, report


def _reference_row(number: int, data: bytes, names: list[str], columns: list[str], encoding: str, utf8: bool) -> dict:
    def escaped(text: str) -> str:
        return "".join(f"\\x{ord(c):02x}" if _is_control(c) else c for c in text)

    values, reason = None, None
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        text, reason = escaped(data.decode(encoding, errors="backslashreplace")), "invalid_encoding"
    else:
        if any(_is_control(c) for c in text):
            text, reason = escaped(text), "invalid_character"
        else:
            try:
                fields = next(csv.reader([text], strict=True))
            except csv.Error:
                fields = None
            if fields is None or len(fields) != len(names):
                reason = "malformed_record"
            else:
                values = dict(zip(names, fields, strict=True))
    lineage = {"_line": number, "_raw": text if reason or not utf8 else None, "_raw_bytes": data}
    return {**lineage, "_parse_reason": reason, **{c: (values or {}).get(c) for c in columns}}


def _is_control(character: str) -> bool:
    return unicodedata.category(character) == "Cc" and character not in "\t\r\n"


def parsed(path: Path, entity: str, encoding: str, chunk: int | None) -> tuple[list[dict], dict]:
    spec = file_spec(entity, path.name, encoding)
    out = path.with_suffix(f".{encoding}.{chunk}.parquet")
    report = parse_file(path, spec, out, **({"chunk_bytes": chunk} if chunk else {}))
    table = pq.read_table(out)
    assert table.schema.names == [f.name for f in RECORD_SCHEMA] + list(spec.columns)
    summary = {k: getattr(report, k) for k in ("records", "blank_lines", "extra_columns", "missing_optional_columns")}
    return table.to_pylist(), summary


# Another column order, an extra column (note) and a missing optional one (country).
HOSTILE_HEADER = "Amount, transaction_id ,note,account_id,customer_id,merchant_id,transaction_ts,currency,"
HOSTILE_HEADER += "transaction_type,channel,status"
TAIL = ",A1,C1,M1,2024-12-01T10:00:00Z,USD,purchase,pos,completed"
QUOTED_TAIL = ',"A1","C1","M1","2024-12-01T10:00:00Z","USD","purchase","pos","completed"'
HOSTILE_RECORDS = [
    b"12.50,T1,plain" + TAIL.encode(),
    b'"1.00","T2","every field quoted"' + QUOTED_TAIL.encode(),
    b'"1,234.50",T3,"a, b"' + TAIL.encode(),
    b'5,T4,"two\nlines"' + TAIL.encode(),
    b'5,T5,"crlf\r\ninside, and a lone\rcr"' + TAIL.encode(),
    b'5,T6,"say ""hi"""' + TAIL.encode(),
    # Quoted first and last, 2 x width quotes in all, yet one field holds a quote and one is bare.
    b'"5",T7,"a""b"' + QUOTED_TAIL.encode(),
    # As many quotes, quoted first and last, but 12 fields.
    b'"5","T8",x,"a"' + QUOTED_TAIL.encode(),
    b"5,T9,too many" + TAIL.encode() + b",extra",
    b"T10,A1",
    b"5,T11,bad \xff\xfe bytes" + TAIL.encode(),
    b'5,T12,"bad \xc0\x80 overlong, \xed\xa0\x80 surrogate"' + TAIL.encode(),
    "5,T13,J\u00fcrgen \u2603 \u00a3".encode() + TAIL.encode(),
    b"5,T14,nul \x00 inside" + TAIL.encode(),
    "5,T15,c1 \u0085 del \x7f esc \x1b".encode() + TAIL.encode(),
    b"5,T16,tab\tis data" + TAIL.encode(),
    b"",
    b"   ",
    b",,,,,,,,,,",
    b'"","T17","","","","","","","","",""',
    b'5,T18,"closed"then text' + TAIL.encode(),
    b'5,T19,in"side"' + TAIL.encode(),
    b'5,"T20" ,x' + TAIL.encode(),
    b"\xa0\x80\x9f\x81 valid latin-1, one byte cp1252 lacks" + TAIL.encode(),
    # Quoted first and last, 2 x width quotes, split by '","' into width parts, yet not every field is quoted.
    b'1"a","T22","n"' + QUOTED_TAIL.encode() + b"9",
    # Every field quoted and split by '","' into width parts, yet one holds doubled quotes.
    b'"5","T23","n","say ""hi"""' + QUOTED_TAIL.encode()[5:],
    "5,T24,a lone C1 control \u0085 here".encode() + TAIL.encode(),
    b"5,T25,a lone DEL \x7f here" + TAIL.encode(),
    b"5,T21,no line ending" + TAIL.encode(),
]
ENDINGS = [b"\r\n", b"\n", b"\r", b"\n\n", b"\r\n\r\n", b"\r\r\n"]


def hostile_csv(bom: bool) -> bytes:
    """Every record above, line endings of every kind between them, the last record with none."""
    body = [b"\xef\xbb\xbf" + HOSTILE_HEADER.encode() if bom else HOSTILE_HEADER.encode()]
    for i, record in enumerate(HOSTILE_RECORDS[:-1]):
        body += [ENDINGS[i % len(ENDINGS)], record]
    return b"".join([*body, b"\n", HOSTILE_RECORDS[-1]])


@pytest.mark.parametrize("chunk", CHUNKS)
@pytest.mark.parametrize("encoding, bom", [("utf-8", True), ("utf-8", False), ("latin-1", False), ("cp1252", False)])
def test_hostile_csv_parses_as_the_reference_does(tmp_path, encoding, bom, chunk):
    content = hostile_csv(bom)
    path = tmp_path / "transactions.csv"
    path.write_bytes(content)
    expected_rows, expected_report = reference(content, list(TRANSACTIONS.columns), encoding)
    rows, report = parsed(path, "transactions", encoding, chunk)
    assert report == expected_report
    if encoding == "utf-8":  # the cases the reference sees are the ones this test means to cover
        assert report["blank_lines"] == 14
        assert [(r["_line"], r["_parse_reason"]) for r in expected_rows] == UTF8_LINES_AND_REASONS
    assert len(rows) == len(expected_rows)
    for row, expected in zip(rows, expected_rows, strict=True):
        assert row == expected


@pytest.mark.parametrize("chunk", [7, None])
def test_a_gzipped_delivery_parses_as_its_content_does(tmp_path, chunk):
    content = hostile_csv(bom=True)
    path = tmp_path / "transactions.csv.gz"
    path.write_bytes(gzip.compress(content))
    expected_rows, expected_report = reference(content, list(TRANSACTIONS.columns), "utf-8")
    rows, report = parsed(path, "transactions", "utf-8", chunk)
    assert (rows, report) == (expected_rows, expected_report)


MALFORMED, ENCODING, CHARACTER = "malformed_record", "invalid_encoding", "invalid_character"
UTF8_LINES_AND_REASONS = [
    *[(2, None), (3, None), (4, None), (6, None), (9, None), (13, None), (14, None)],
    *[(15, MALFORMED), (16, MALFORMED), (18, MALFORMED), (20, ENCODING), (22, ENCODING), (23, None)],
    *[(24, CHARACTER), (25, CHARACTER), (27, None), (31, MALFORMED), (32, None), (33, None), (34, MALFORMED)],
    *[(36, None), (38, MALFORMED), (40, ENCODING), (41, MALFORMED), (42, None), (43, CHARACTER)],
    *[(45, CHARACTER), (46, None)],
]


@pytest.fixture(scope="module")
def generated_day(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("generated")
    generate_day(GeneratorConfig(date=dt.date(2024, 12, 1), rows=2_000, seed=5), out)
    return out


@pytest.mark.parametrize("chunk", [4096, None])
@pytest.mark.parametrize("entity", ["customers", "accounts", "transactions"])
def test_a_generated_day_parses_as_the_reference_does(generated_day, entity, chunk):
    path = generated_day / f"{entity}.csv"
    expected_rows, expected_report = reference(path.read_bytes(), list(file_spec(entity, path.name).columns), "utf-8")
    rows, report = parsed(path, entity, "utf-8", chunk)
    assert report == expected_report
    assert rows == expected_rows


@pytest.mark.parametrize("chunk", CHUNKS)
def test_an_unclosed_quote_names_its_line_and_column_whatever_the_chunks(tmp_path, chunk):
    path = tmp_path / "transactions.csv"
    path.write_bytes(b"\r\n".join([HOSTILE_HEADER.encode(), b"12.50,T1,plain" + TAIL.encode(), b'T2,"A1\r\nC1,x']))
    with pytest.raises(RawFileError, match=r"^transactions.csv: line 3, column 4: quoted field never closed"):
        parsed(path, "transactions", "utf-8", chunk)
