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
Files are read in chunks, so memory is bounded by the chunk size, not the file.
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
import pyarrow.parquet as pq

CHUNK_BYTES = 32 << 20
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
) -> Iterator[list[tuple[int, bytes]]]:
    """Yields lists of (start line, record bytes without its line ending); a blank line is an empty record.

    `quoted`: double quotes protect line endings (CSV); JSON lines never hold a raw line ending.
    The first record keeps a UTF-8 byte-order mark; callers drop it.
    """
    carry, line = b"", 1  # carry always starts at a record start, on physical line `line`
    while True:
        try:
            chunk = stream.read(chunk_bytes)
        except (EOFError, OSError, zlib.error) as error:
            where = f" after line {line - 1}" if line > 1 else ""
            raise RawFileError(f"{name}: cannot be read{where}: {error} (truncated or corrupt file?)") from None
        final = not chunk
        buf = carry + chunk
        records, consumed, lines_done = _records_in(buf, line, quoted, final, name)
        carry, line = buf[consumed:], line + lines_done
        if records:
            yield records
        if final:
            return


def _records_in(
    buf: bytes, line: int, quoted: bool, final: bool, name: str
) -> tuple[list[tuple[int, bytes]], int, int]:
    """The complete records of buf: (records, bytes consumed, physical lines consumed)."""
    arr = np.frombuffer(buf, np.uint8)
    lf = np.flatnonzero(arr == LF)
    cr = np.flatnonzero(arr == CR)
    if not final and len(arr) and arr[-1] == CR:
        cr = cr[:-1]  # a CR at the chunk's end may be half of a CRLF: decided with the next chunk
    crlf = cr[cr + 1 < len(arr)]
    crlf = crlf[arr[crlf + 1] == LF]
    ends = np.union1d(np.setdiff1d(lf, crlf + 1), cr)  # where each physical line ending starts
    widths = np.where(np.isin(ends, crlf), 2, 1)
    quotes = np.flatnonzero(arr == QUOTE) if quoted else np.empty(0, np.int64)
    idx = np.flatnonzero(np.searchsorted(quotes, ends) % 2 == 0)  # even quotes before: not inside a field
    starts = np.concatenate(([0], ends[idx] + widths[idx]))
    start_lines = line + np.concatenate(([0], idx + 1))
    records = [(int(start_lines[k]), buf[starts[k] : ends[i]]) for k, i in enumerate(idx)]
    consumed = int(starts[-1])
    lines_done = int(idx[-1] + 1) if len(idx) else 0
    if final and consumed < len(buf):  # the last record may lack a line ending (RFC 4180 allows it)
        open_quotes = quotes[quotes >= consumed]
        if len(open_quotes) % 2:
            opened = int(open_quotes[-1])
            inside = np.flatnonzero((ends >= consumed) & (ends < opened))
            line_start = int(ends[inside[-1]] + widths[inside[-1]]) if len(inside) else consumed
            raise RawFileError(
                f"{name}: line {int(start_lines[-1]) + len(inside)}, column {opened - line_start + 1}: "
                "quoted field never closed (truncated file or a stray quote)"
            )
        records.append((int(start_lines[-1]), buf[consumed:]))
        consumed = len(buf)
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


def _is_utf8(encoding: str) -> bool:
    return codecs.lookup(encoding).name in ("utf-8", "utf-8-sig")


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
        picked = [names.index(c) if c in names else len(names) for c in columns]
        self.pick = operator.itemgetter(*picked) if len(picked) > 1 else (lambda values: (values[picked[0]],))
        self.report_extra = [n for n in names if n not in columns]
        self.report_missing = [c for c in columns if c not in names]

    def split(self, text: str) -> tuple[str | None, ...] | None:
        """The record's values in contract order, or None when it does not have the header's fields."""
        if '"' not in text:
            values = text.split(",")
        elif text[0] == '"' == text[-1] and text.count('"') == 2 * self.width:
            values = text[1:-1].split('","')  # every field quoted, none holding a quote: no parser needed
        else:
            try:
                values = next(csv.reader([text], strict=True), [])
            except csv.Error:
                return None
        if len(values) != self.width:
            return None
        values.append(None)
        return self.pick(values)


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
    path: Path, spec: FileSpec, report: FileReport
) -> Iterator[tuple[_CsvFields | None, list[tuple[int, bytes]]]]:
    """(header mapping, non-blank records) per chunk; whole-file problems raise RawFileError."""
    if not path.is_file():
        raise RawFileError(f"{spec.name}: file is missing")
    strip_bom = _is_utf8(spec.encoding)
    fields: _CsvFields | None = None
    with open_delivered(path, report) as stream:
        first = True
        for batch in split_records(stream, spec.name, quoted=spec.fmt == "csv"):
            if first and strip_bom and batch[0][1].startswith(BOM):
                batch[0] = (batch[0][0], batch[0][1][len(BOM) :])
            if first and spec.fmt == "csv":
                if not batch[0][1].strip():
                    raise RawFileError(f"{spec.name}: line 1: the header is blank")
                fields = _CsvFields(batch[0][1], spec.name, spec.columns, spec.required, spec.encoding)
                report.extra_columns, report.missing_optional_columns = fields.report_extra, fields.report_missing
                batch = batch[1:]
            first = False
            records = [r for r in batch if r[1]]
            report.blank_lines += len(batch) - len(records)
            report.records += len(records)
            yield fields, records
        if first:
            raise RawFileError(f"{spec.name}: file is empty")
    if spec.fmt == "csv" and report.records == 0:
        raise RawFileError(f"{spec.name}: file has a header but no data rows")


def parse_file(path: Path, spec: FileSpec, out: Path) -> FileReport:
    """Reads a delivered CSV or JSON-lines file into a Parquet file of records at `out`.

    Columns: `_line` (physical line where the record starts), `_raw` (the text, where it is not the UTF-8 of the bytes),
    `_raw_bytes` (exactly as delivered), `_parse_reason` (null, or the quarantine reason found here)
    and every contract column as a string (null where the file has no such column).
    """
    report = FileReport()
    schema = pa.schema([*RECORD_SCHEMA, *[pa.field(c, pa.string()) for c in spec.columns]])
    extra: set[str] = set()  # JSON keys outside the contract
    with pq.ParquetWriter(out, schema) as writer:
        for fields, records in _record_batches(path, spec, report):
            if records:
                writer.write_table(_batch_table(records, spec.columns, spec.encoding, fields, extra, schema))
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


def _batch_table(
    batch: list[tuple[int, bytes]],
    columns: list[str],
    encoding: str,
    fields: _CsvFields | None,
    extra: set[str],
    schema: pa.Schema,
) -> pa.Table:
    records = [data for _, data in batch]
    texts, reasons = _decoded(records, encoding)
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
        pa.array([line for line, _ in batch], pa.int32()),
        pa.array(texts, pa.string()),
        pa.array(records, pa.binary()),
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
    processes working at once: parsing is pure Python, so each core parses its own files. Child processes,
    not fork: the caller may be running a JVM's threads. Raises RawFileError of the first unreadable file."""

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
