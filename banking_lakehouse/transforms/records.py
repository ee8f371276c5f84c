"""Delivered files -> records, exactly as delivered: the byte-level half of reading a delivery (no Spark).

A record is what RFC 4180 calls one: a CSV line ends at CRLF, LF or a lone CR outside double quotes,
so quoted commas, doubled quotes and quoted newlines stay inside one record; a JSON-lines record
ends at any line ending. Each record keeps its exact bytes and the physical line it starts on.
Per record, problems become a quarantine reason instead of an error:

- `invalid_encoding`: bytes that are not valid in the declared encoding (the bytes are kept; the
  text form shows them as `\\xNN`), never U+FFFD;
- `invalid_character`: NUL and other control characters (tab and the line endings inside quoted
  fields are data);
- `malformed_record`: a record that cannot be split into the header's fields (or is not a JSON object).

A file that cannot be read at all (empty, no usable header, a quote never closed, a broken gzip
stream) raises RawFileError naming the file, line and column, before anything is written.
Files are read in chunks, so memory is bounded by the chunk size, not the file. A chunk's usual
records (valid UTF-8, no control character, no quote or every field quoted) are decoded and split by
pyarrow all at once; the few others go one by one through Python's codecs and csv module.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import io
import json
import operator
import re
import subprocess
import sys
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

CHUNK_BYTES = 32 << 20
# Row groups of the records Parquet: Spark splits a file at row groups only, so a 7 MB file written as one
# group is read by one task while the other core idles; groups this size give every core a share.
RECORDS_PER_ROW_GROUP = 1 << 16
SCAN_BLOCK = 1 << 20
BOM = b"\xef\xbb\xbf"
LF, CR, QUOTE = 10, 13, 34
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Lineage columns of a parsed file, ahead of the entity's own (string) fields.
RECORD_SCHEMA = [
    pa.field("_line", pa.int32()),
    pa.field("_raw", pa.string()),  # null where the text is the UTF-8 of _raw_bytes
    pa.field("_raw_bytes", pa.binary()),
    pa.field("_parse_reason", pa.string()),
]
# A chunk's records as split: the physical line each starts on, its bytes without the line ending.
SPLIT_SCHEMA = pa.schema([RECORD_SCHEMA[0], RECORD_SCHEMA[2]])


class RawFileError(ValueError):
    """A delivered file that cannot be processed at all: the run fails, naming file, line and column."""


@dataclass
class FileReport:
    """What reading a file found beyond its records: numbers and names a person reads in the UI."""

    records: int = 0
    sha256: str = ""  # of the file as delivered (compressed, if it is)
    blank_lines: int = 0
    extra_columns: list[str] = field(default_factory=list)
    missing_optional_columns: list[str] = field(default_factory=list)


class _Hashing(io.RawIOBase):
    """A file read through SHA-256, so the checksum costs no second read."""

    def __init__(self, handle: io.BufferedIOBase):
        self.handle, self.digest = handle, hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self.handle.readinto(buffer)
        self.digest.update(memoryview(buffer)[:n])
        return n

    def close(self) -> None:
        self.handle.close()
        super().close()


@contextmanager
def open_delivered(path: Path, report: FileReport) -> Iterator[io.BufferedIOBase]:
    """The file's bytes, gunzipped when its name ends in .gz; the report gets the delivered file's SHA-256."""
    hashing = _Hashing(path.open("rb"))
    with io.BufferedReader(hashing, CHUNK_BYTES) as raw:
        yield gzip.GzipFile(fileobj=raw, mode="rb") if path.name.endswith(".gz") else raw
        while raw.read(CHUNK_BYTES):  # whatever the reader left unread still counts
            pass
        report.sha256 = hashing.digest.hexdigest()


def split_records(
    stream: io.BufferedIOBase, name: str, quoted: bool, chunk_bytes: int = CHUNK_BYTES
) -> Iterator[pa.RecordBatch]:
    """Yields batches of records (SPLIT_SCHEMA); a blank line is an empty record.

    `quoted`: double quotes protect line endings (CSV); JSON lines never hold a raw line ending.
    The first record keeps a UTF-8 byte-order mark; callers drop it.
    One buffer and one byte mask serve every chunk: fresh memory costs more than the scanning.
    """
    buf, marks = bytearray(chunk_bytes), np.empty(chunk_bytes, bool)
    carried, line = 0, 1  # buf[:carried] always starts at a record start, on physical line `line`
    while True:
        if len(buf) < carried + chunk_bytes:  # a record longer than a chunk
            buf = buf[:carried] + bytes(chunk_bytes)
            marks = np.empty(len(buf), bool)
        try:
            read = stream.readinto(memoryview(buf)[carried : carried + chunk_bytes])
        except (EOFError, OSError, zlib.error) as error:
            where = f" after line {line - 1}" if line > 1 else ""
            raise RawFileError(f"{name}: cannot be read{where}: {error} (truncated or corrupt file?)") from None
        final, size = not read, carried + read
        records, consumed, lines_done = _records_in(memoryview(buf)[:size], line, quoted, final, name, marks)
        buf[: size - consumed] = buf[consumed:size]
        carried, line = size - consumed, line + lines_done
        if records.num_rows:
            yield records
        if final:
            return


def _records_in(
    buf: memoryview, line: int, quoted: bool, final: bool, name: str, marks: np.ndarray
) -> tuple[pa.RecordBatch, int, int]:
    """The complete records of buf: (records, bytes consumed, physical lines consumed). `marks`: scratch space, a
    bool per byte of buf at least."""
    arr = np.frombuffer(buf, np.uint8)
    mark = marks[: len(arr)]
    lf = np.flatnonzero(np.equal(arr, LF, out=mark))
    cr = np.flatnonzero(np.equal(arr, CR, out=mark))
    if not final and len(arr) and arr[-1] == CR:
        cr = cr[:-1]  # a CR at the chunk's end may be half of a CRLF: decided with the next chunk
    crlf = np.zeros(len(cr), bool)  # which CRs start a CRLF
    crlf[cr + 1 < len(arr)] = arr[cr[cr + 1 < len(arr)] + 1] == LF
    lone_lf = lf[(lf == 0) | (arr[lf - 1] != CR)]
    ends = np.concatenate((lone_lf, cr))  # where each physical line ending starts
    widths = np.concatenate((np.ones(len(lone_lf), np.int64), 1 + crlf))
    if len(cr):
        order = np.argsort(ends)
        ends, widths = ends[order], widths[order]
    is_quote = np.equal(arr, QUOTE, out=mark)
    if not quoted:  # JSON lines: a quote protects no line ending
        is_quote.fill(False)
    # Whether the quotes from one line ending to the next are odd, accumulated: whether a line ending is quoted.
    odd = (
        np.bitwise_xor.reduceat(is_quote.view(np.uint8), np.concatenate(([0], ends)))
        if len(ends)
        else np.zeros(1, np.uint8)
    )
    idx = np.flatnonzero(np.bitwise_xor.accumulate(odd[:-1]) == 0)  # even quotes before: not inside a field
    starts = np.concatenate(([0], ends[idx] + widths[idx]))
    start_lines = line + np.concatenate(([0], idx + 1))
    stops = ends[idx]  # where each record's bytes stop: its line ending follows
    consumed = int(starts[-1])
    lines_done = int(idx[-1] + 1) if len(idx) else 0
    if final and consumed < len(arr):  # the last record may lack a line ending (RFC 4180 allows it)
        open_quotes = consumed + np.flatnonzero(is_quote[consumed:])
        if len(open_quotes) % 2:
            opened = int(open_quotes[-1])
            inside = np.flatnonzero((ends >= consumed) & (ends < opened))
            line_start = int(ends[inside[-1]] + widths[inside[-1]]) if len(inside) else consumed
            raise RawFileError(
                f"{name}: line {int(start_lines[-1]) + len(inside)}, column {opened - line_start + 1}: "
                "quoted field never closed (truncated file or a stray quote)"
            )
        stops = np.append(stops, len(arr))
        consumed = len(arr)
    kept = mark[:consumed]  # every byte but the records' line endings
    kept.fill(True)
    kept[ends[idx]] = kept[ends[idx] + widths[idx] - 1] = False
    offsets = np.concatenate(([0], np.cumsum(stops - starts[: len(stops)])))
    data = pa.Array.from_buffers(  # large offsets, cast: a record over 2 GiB fails loudly, never wraps
        pa.large_binary(), len(stops), [None, pa.py_buffer(offsets), pa.py_buffer(arr[:consumed][kept])]
    ).cast(pa.binary())
    records = pa.RecordBatch.from_arrays([pa.array(start_lines[: len(stops)], pa.int32()), data], schema=SPLIT_SCHEMA)
    return records, consumed, lines_done


def _text(data: bytes, encoding: str) -> tuple[str, str | None]:
    """(text, reason): invalid bytes and control characters become visible escapes, never U+FFFD."""
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        return _escaped(data.decode(encoding, errors="backslashreplace")), "invalid_encoding"
    if CONTROL.search(text):
        return _escaped(text), "invalid_character"
    return text, None


def _may_hold_control(data: pa.BinaryArray) -> bool:
    """Whether a byte of the records may belong to a control character in UTF-8 (C0, DEL, a C1's lead byte).
    Looked at a block at a time: a temporary as large as the chunk costs more than the comparisons."""
    values = np.frombuffer(data.buffers()[2], np.uint8)
    blocks = (values[i : i + SCAN_BLOCK] for i in range(0, len(values), SCAN_BLOCK))
    return any(np.any(b < 0x20) or np.any(b == 0x7F) or np.any(b == 0xC2) for b in blocks)


def _is_utf8(encoding: str) -> bool:
    return codecs.lookup(encoding).name in ("utf-8", "utf-8-sig")


def _utf8_texts(data: pa.BinaryArray) -> tuple[pa.StringArray, np.ndarray]:
    """The records as text, and which of them may not be valid UTF-8 (those left empty here)."""
    try:
        return data.cast(pa.string()), np.zeros(len(data), bool)
    except pa.ArrowInvalid:  # only a record holding a byte over 0x7f can be invalid
        suspect = pc.invert(pc.string_is_ascii(data.view(pa.string())))
        return pc.if_else(suspect, b"", data).cast(pa.string()), suspect.to_numpy(zero_copy_only=False)


def _escaped(text: str) -> str:
    return CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _column_name(name: str) -> str:
    return name.strip().lower()


class _CsvFields:
    """Maps a CSV header to the contract's columns by name, in any order."""

    def __init__(self, header: bytes, name: str, columns: list[str], required: list[str], encoding: str):
        try:
            names = next(csv.reader([header.decode(encoding)], strict=True), [])
        except (UnicodeDecodeError, csv.Error) as error:
            raise RawFileError(f"{name}: line 1: header cannot be read: {error}") from None
        names = [_column_name(n) for n in names]
        for position, column in enumerate(names, start=1):
            if not column:
                raise RawFileError(f"{name}: line 1, column {position}: empty column name in the header")
            if names.index(column) != position - 1:
                raise RawFileError(f"{name}: line 1, column {position}: column '{column}' appears twice in the header")
        missing = [c for c in required if c not in names]
        if missing:
            hint = " (wrong delimiter?)" if len(names) == 1 and len(columns) > 1 else ""
            raise RawFileError(f"{name}: line 1: required column '{missing[0]}' missing from the header {names}{hint}")
        self.width = len(names)
        # Contract order from the header's: a column the file lacks reads the None appended to each record.
        self.picked = [names.index(c) if c in names else len(names) for c in columns]
        picked = self.picked
        self.pick = operator.itemgetter(*picked) if len(picked) > 1 else (lambda values: (values[picked[0]],))
        self.report_extra = [n for n in names if n not in columns]
        self.report_missing = [c for c in columns if c not in names]

    def split(self, text: str) -> tuple[str | None, ...] | None:
        """The record's values in contract order, or None when it does not have the header's fields."""
        if '"' not in text:
            values = text.split(",")
        else:
            try:
                values = next(csv.reader([text], strict=True), [])
            except csv.Error:
                return None
        if len(values) != self.width:
            return None
        values.append(None)
        return self.pick(values)

    def plain_forms(
        self, texts: pa.StringArray, candidates: np.ndarray
    ) -> list[tuple[np.ndarray, np.ndarray, pa.StringArray]]:
        """`split` of the candidate records that need no parser, at once, per form: (their positions, where each one's
        first field is in `values`, values). Such a record holds no quote, or quotes every field and no field holds
        a quote (its 2 x width quotes are then the fields' own); and it has the header's number of fields."""
        quotes = pc.count_substring(texts, '"').to_numpy()
        every_field_quoted = pc.and_(pc.starts_with(texts, '"'), pc.ends_with(texts, '"')).to_numpy(False)
        forms = []
        for form, separator in (
            (candidates & (quotes == 0), ","),
            (candidates & (quotes == 2 * self.width) & every_field_quoted, '","'),
        ):
            if form.any():  # each form splits every text (a record of another form is ignored after)
                unquoted = texts if separator == "," else pc.utf8_slice_codeunits(texts, 1, -1)
                lists = pc.split_pattern(unquoted, separator)
                rows = np.flatnonzero(form & (pc.list_value_length(lists).to_numpy() == self.width))
                forms.append((rows, lists.offsets.to_numpy()[rows], lists.values))
        return forms


def _json_fields(text: str, columns: list[str], extra: set[str]) -> tuple[list[str | None] | None, str | None]:
    """(values in contract order, None) of a JSON-lines record, or (None, its quarantine reason)."""
    try:
        obj = json.loads(text)
    except ValueError:
        return None, "malformed_record"
    if not isinstance(obj, dict):
        return None, "malformed_record"
    obj = {_column_name(k): v for k, v in obj.items()}
    extra.update(k for k in obj if k not in columns)
    values = [v if v is None or isinstance(v, str) else json.dumps(v) for v in (obj.get(c) for c in columns)]
    if any(v is not None and CONTROL.search(v) for v in values):  # \u0000 escapes decode to control characters
        return None, "invalid_character"
    return values, None


@dataclass(frozen=True)
class FileSpec:
    """What a delivered file must be: its name (for messages), format, contract columns and encoding."""

    name: str
    fmt: str  # csv | json (JSON lines)
    columns: list[str]
    required: list[str]  # header columns a CSV cannot do without
    encoding: str = "utf-8"


def _record_batches(
    path: Path, spec: FileSpec, report: FileReport, chunk_bytes: int
) -> Iterator[tuple[_CsvFields | None, pa.RecordBatch]]:
    """(header mapping, non-blank records) per chunk; whole-file problems raise RawFileError."""
    if not path.is_file():
        raise RawFileError(f"{spec.name}: file is missing")
    strip_bom = _is_utf8(spec.encoding)
    fields: _CsvFields | None = None
    with open_delivered(path, report) as stream:
        first = True
        for batch in split_records(stream, spec.name, quoted=spec.fmt == "csv", chunk_bytes=chunk_bytes):
            data = batch.column(1)
            if first and strip_bom and data[0].as_py().startswith(BOM):
                data = pa.concat_arrays([pa.array([data[0].as_py()[len(BOM) :]], pa.binary()), data[1:]])
                batch = batch.set_column(1, SPLIT_SCHEMA.field(1), data)
            if first and spec.fmt == "csv":
                header = data[0].as_py()
                if not header.strip():
                    raise RawFileError(f"{spec.name}: line 1: the header is blank")
                fields = _CsvFields(header, spec.name, spec.columns, spec.required, spec.encoding)
                report.extra_columns, report.missing_optional_columns = fields.report_extra, fields.report_missing
                batch = batch.slice(1)
            first = False
            records = batch.filter(pc.greater(pc.binary_length(batch.column(1)), 0))
            report.blank_lines += batch.num_rows - records.num_rows
            report.records += records.num_rows
            yield fields, records
        if first:
            raise RawFileError(f"{spec.name}: file is empty")
    if spec.fmt == "csv" and report.records == 0:
        raise RawFileError(f"{spec.name}: file has a header but no data rows")


def parse_file(path: Path, spec: FileSpec, out: Path, chunk_bytes: int = CHUNK_BYTES) -> FileReport:
    """Reads a delivered CSV or JSON-lines file into a Parquet file of records at `out`, `chunk_bytes` at a time.

    Columns: `_line` (physical line where the record starts), `_raw` (the text, where it is not the UTF-8 of the bytes),
    `_raw_bytes` (exactly as delivered), `_parse_reason` (null, or the quarantine reason found here)
    and every contract column as a string (null where the file has no such column).
    """
    report = FileReport()
    schema = pa.schema([*RECORD_SCHEMA, *[pa.field(c, pa.string()) for c in spec.columns]])
    extra: set[str] = set()  # JSON keys outside the contract
    with pq.ParquetWriter(out, schema) as writer:
        for fields, records in _record_batches(path, spec, report, chunk_bytes):
            if records.num_rows:
                writer.write_table(
                    _chunk_table(records, spec, fields, extra, schema), row_group_size=RECORDS_PER_ROW_GROUP
                )
    if spec.fmt == "json":
        report.extra_columns = sorted(extra)
    return report


def _decoded(records: list[bytes], encoding: str) -> tuple[list[str], list[str | None]]:
    """Texts and reasons of a batch of records: one pass for the usual clean batch, per record otherwise."""
    try:
        texts = [data.decode(encoding) for data in records]
    except UnicodeDecodeError:
        pairs = [_text(data, encoding) for data in records]
        return [t for t, _ in pairs], [r for _, r in pairs]
    reasons: list[str | None] = [None] * len(texts)
    if CONTROL.search("\n".join(texts)):
        for i, text in enumerate(texts):
            if CONTROL.search(text):
                texts[i], reasons[i] = _escaped(text), "invalid_character"
    return texts, reasons


def _chunk_table(
    records: pa.RecordBatch, spec: FileSpec, fields: _CsvFields | None, extra: set[str], schema: pa.Schema
) -> pa.Table:
    """A chunk's records in the output `schema`, in order. The usual records of a UTF-8 CSV file (valid, no control
    character, split without a parser) at once by pyarrow; the others (and JSON lines, other encodings) one by one."""
    # Plain UTF-8 only, not `_is_utf8`: decoding as utf-8-sig drops a BOM from any record's text, so its text is
    # not its bytes and the record keeps `_raw`, which the per-record path gives it.
    if fields is None or codecs.lookup(spec.encoding).name != "utf-8":
        return _per_record_table(records, spec.columns, spec.encoding, fields, extra, schema)
    texts, suspect = _utf8_texts(records.column(1))
    candidates = ~suspect
    if _may_hold_control(records.column(1)):
        candidates &= ~pc.match_substring_regex(texts, CONTROL.pattern).to_numpy(False)
    forms = fields.plain_forms(texts, candidates)
    others = np.ones(records.num_rows, bool)
    for rows, _, _ in forms:
        others[rows] = False
    rest_rows = np.flatnonzero(others)
    rest = _per_record_table(records.take(rest_rows), spec.columns, spec.encoding, fields, extra, schema)
    # Every contract value of the chunk in one array, each column then one take from it: the plain records' fields
    # (a form's `width` fields a record, from its base on), then the other records' values, column after column.
    values = pa.concat_arrays([*(v for _, _, v in forms), *(rest.column(c).combine_chunks() for c in spec.columns)])
    bases = np.cumsum([0, *(len(v) for _, _, v in forms)])
    n = records.num_rows

    def contract_column(position: int, field: int) -> pa.Array:
        if field == fields.width:  # a column the file lacks
            return pa.nulls(n, pa.string())
        at = np.empty(n, np.int64)
        for (rows, starts, _), base in zip(forms, bases, strict=False):
            at[rows] = base + starts + field
        at[rest_rows] = bases[-1] + position * len(rest_rows) + np.arange(len(rest_rows))
        return values.take(at)

    def lineage_column(name: str) -> pa.Array:  # the other records' own, null for a plain record
        if not len(rest_rows):
            return pa.nulls(n, pa.string())
        return rest.column(name).combine_chunks().take(pa.array(np.cumsum(others) - 1, mask=~others))

    return pa.Table.from_arrays(
        [
            records.column(0),
            lineage_column(schema.names[1]),
            records.column(1),
            lineage_column(schema.names[3]),
            *map(contract_column, range(len(spec.columns)), fields.picked),
        ],
        schema=schema,
    )


def _per_record_table(
    records: pa.RecordBatch,
    columns: list[str],
    encoding: str,
    fields: _CsvFields | None,
    extra: set[str],
    schema: pa.Schema,
) -> pa.Table:
    """The records one by one, through Python's codecs and csv (or json) modules: every case, at Python's pace."""
    texts, reasons = _decoded(records.column(1).to_pylist(), encoding)
    if fields is not None:
        rows = [fields.split(t) if r is None else None for t, r in zip(texts, reasons, strict=True)]
        for i in [i for i, row in enumerate(rows) if row is None]:
            reasons[i] = reasons[i] or "malformed_record"
    else:
        rows = []
        for i, text in enumerate(texts):
            values = None
            if reasons[i] is None:
                values, reasons[i] = _json_fields(text, columns, extra)
            rows.append(values)
    empty = (None,) * len(columns)
    rows = [row if row is not None else empty for row in rows]
    if _is_utf8(encoding):  # the text of a clean UTF-8 record is its bytes: kept once, as bytes
        texts = [t if r is not None else None for t, r in zip(texts, reasons, strict=True)]
    by_column = list(zip(*rows, strict=True)) if rows else [[] for _ in columns]
    arrays = [
        records.column(0),
        pa.array(texts, pa.string()),
        records.column(1),
        pa.array(reasons, pa.string()),
        *[pa.array(values, pa.string()) for values in by_column],
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


@dataclass(frozen=True)
class ParseJob:
    """One delivered file to parse into a records Parquet file."""

    path: Path
    spec: FileSpec
    out: Path


def parse_files(jobs: list[ParseJob], workers: int = 2) -> list[FileReport]:
    """`parse_file` of every job, the files spread (largest first) over up to `workers` fresh interpreter
    processes working at once: parsing keeps a core busy (and holds the GIL for its Python steps), so each core
    parses its own files. Child processes, not fork: the caller may be running a JVM's threads. Raises
    RawFileError of the first unreadable file."""

    def size(job: ParseJob) -> int:
        return job.path.stat().st_size if job.path.is_file() else 0  # a missing file fails in parse_file

    groups: list[list[int]] = [[] for _ in range(max(1, min(workers, len(jobs))))]
    loads = [0] * len(groups)
    for i in sorted(range(len(jobs)), key=lambda i: -size(jobs[i])):
        least = loads.index(min(loads))
        groups[least].append(i)
        loads[least] += size(jobs[i])
    children = [
        (
            group,
            subprocess.Popen(  # noqa: S603 - this interpreter running this module, no shell
                [sys.executable, "-m", __name__, json.dumps([_job_json(jobs[i]) for i in group])],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            ),
        )
        for group in groups
    ]
    reports: list[FileReport] = [FileReport()] * len(jobs)
    unreadable, crashed = [], []
    for group, child in children:
        out, err = child.communicate()
        if child.returncode == UNREADABLE:
            unreadable.append(err.decode().strip())
        elif child.returncode != 0:
            crashed.append(err.decode()[-4000:])
        else:
            for i, report in zip(group, json.loads(out), strict=True):
                reports[i] = FileReport(**report)
    if unreadable:
        raise RawFileError(unreadable[0])
    if crashed:
        raise RuntimeError(f"a record parser process failed:\n{crashed[0]}")
    return reports


UNREADABLE = 3  # a parser process's exit status for RawFileError (its message on stderr)


def _job_json(job: ParseJob) -> dict:
    return {"path": str(job.path), "spec": asdict(job.spec), "out": str(job.out)}


def _parse_jobs(argument: str) -> None:
    """A parser process: the jobs (JSON) in, their reports (JSON) on stdout."""
    reports = []
    for job in json.loads(argument):
        try:
            reports.append(asdict(parse_file(Path(job["path"]), FileSpec(**job["spec"]), Path(job["out"]))))
        except RawFileError as error:
            sys.stderr.write(str(error))
            sys.exit(UNREADABLE)
    json.dump(reports, sys.stdout)


if __name__ == "__main__":
    _parse_jobs(sys.argv[1])
