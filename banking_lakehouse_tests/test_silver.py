"""One hand-written raw line per defect class, and the exact handling each must get."""

import datetime as dt
import decimal
import gzip

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from banking_lakehouse.entities import ACCOUNTS, CHANGE_COLUMNS, TRANSACTIONS
from banking_lakehouse.resources.lake.commit import StagingArea
from banking_lakehouse.transforms.raw_reader import RawFileError, read_raw, read_records
from banking_lakehouse.transforms.records import RECORD_SCHEMA
from banking_lakehouse.transforms.silver import (
    MASTER_SPECS,
    clean_master,
    clean_transactions,
    file_spec,
    parse_amount,
    parse_timestamp,
)

BATCH = dt.date(2024, 12, 1)
HEADER = ",".join(TRANSACTIONS.columns)
GOOD = "T1,A1,C1,M1,2024-12-01T10:00:00Z,12.50,USD,purchase,pos,completed,US"


def line(**changes) -> str:
    fields = dict(zip(TRANSACTIONS.columns, GOOD.split(","), strict=True))
    fields.update(changes)
    return ",".join(f'"{v}"' if "," in v else v for v in fields.values())


# (raw line, expected quarantine reason or None for silver)
CASES = {
    "clean": (line(), None),
    "missing_required": (line(transaction_id="T2", amount=""), "missing_required"),
    "invalid_amount": (line(transaction_id="T3", amount="12,5O"), "invalid_amount"),
    "invalid_amount_na": (line(transaction_id="T4", amount="N/A"), "invalid_amount"),
    "formatted_amount": (line(transaction_id="T5", amount="$1,234.50"), None),
    "formatted_amount_spaces": (line(transaction_id="T6", amount=" 1234.5 "), None),
    "mixed_timestamp_offset": (line(transaction_id="T7", transaction_ts="2024-12-01T12:00:00+02:00"), None),
    "mixed_timestamp_us": (line(transaction_id="T8", transaction_ts="12/01/2024 10:00:00"), None),
    "mixed_timestamp_epoch": (line(transaction_id="T9", transaction_ts="1733047200000"), None),
    "timestamp_fraction": (line(transaction_id="T9F", transaction_ts="2024-12-01T11:00:00.250+01:00"), None),
    "invalid_timestamp": (line(transaction_id="T10", transaction_ts="2024-13-45T25:61:00Z"), "invalid_timestamp"),
    "currency_noise": (line(transaction_id="T11", currency="usd "), None),
    "invalid_currency": (line(transaction_id="T12", currency="XYZ"), "invalid_currency"),
    "country_noise": (line(transaction_id="T13", country="U.S."), None),
    "categorical_noise": (line(transaction_id="T14", channel=" POS"), None),
    "non_positive_amount": (line(transaction_id="T15", amount="-20.00"), "non_positive_amount"),
    "zero_amount": (line(transaction_id="T16", amount="0"), "non_positive_amount"),
    "outlier": (line(transaction_id="T17", amount="2000000.00"), None),
    "orphan_customer": (line(transaction_id="T18", customer_id="C404"), None),
    "late_arrival": (line(transaction_id="T19", transaction_ts="2024-11-29T23:00:00Z"), None),
    "conflicting_duplicate_a": (line(transaction_id="T20", amount="10.00"), "conflicting_duplicate"),
    "conflicting_duplicate_b": (line(transaction_id="T20", amount="11.00"), "conflicting_duplicate"),
    "exact_duplicate_a": (line(transaction_id="T21"), None),
    "exact_duplicate_b": (line(transaction_id="T21"), "exact_duplicate"),
    "malformed": ("T22,A1,C1", "malformed_record"),
    # A blank id is one id for the duplicate rules too: its second identical copy is still a removed copy.
    "blank_id_a": (line(transaction_id=""), "missing_required"),
    "blank_id_b": (line(transaction_id=""), "exact_duplicate"),
    "blank_id_other": (line(transaction_id="", amount="13.00"), "missing_required"),
}


def read(spark, path, entity="transactions", encoding="utf-8", batch_date=BATCH):
    return read_raw(
        spark,
        path,
        file_spec(entity, path.name, encoding),
        StagingArea.local(path.parent / f"parsed-{encoding}"),
        batch_date,
    )[0]


@pytest.fixture(scope="module")
def cleaned(spark, tmp_path_factory):
    path = tmp_path_factory.mktemp("raw") / "transactions.csv"
    path.write_text("\n".join([HEADER, *(raw for raw, _ in CASES.values())]) + "\n")
    customers = spark.createDataFrame([("C1", BATCH)], "customer_id string, batch_date date")
    accounts = spark.createDataFrame([("A1", BATCH)], "account_id string, batch_date date")
    merchants = spark.createDataFrame([("M1", BATCH)], "merchant_id string, batch_date date")
    silver, quarantine = clean_transactions(read(spark, path), customers, accounts, merchants)
    return {r.source_line: r for r in silver.collect()}, {r.line_number: r for r in quarantine.collect()}


@pytest.mark.parametrize("case", list(CASES))
def test_each_defect_is_handled(cleaned, case):
    silver, quarantine = cleaned
    line_number = list(CASES).index(case) + 2
    raw, reason = CASES[case]
    if reason is None:
        assert line_number in silver and line_number not in quarantine
    else:
        assert quarantine[line_number].reason == reason
        assert quarantine[line_number].raw_record == raw
        assert quarantine[line_number].source_file == "transactions.csv"
        assert line_number not in silver


def _silver(cleaned, case):
    return cleaned[0][list(CASES).index(case) + 2]


# Delivered timestamp text -> the UTC time silver keeps (as Spark prints it), or None: invalid_timestamp.
TIMESTAMPS = {
    "2024-02-29T23:59:59.999999-00:00": "2024-02-29 23:59:59.999999",
    "2024-06-30T23:59:59+14:00": "2024-06-30 09:59:59",
    "2024-01-01T10:00:00+18:00": "2023-12-31 16:00:00",
    "0001-01-01T00:00:00+18:00": "0000-12-31 06:00:00",
    "1700000000000": "2023-11-14 22:13:20",
    "12/31/2024 23:59:59": "2024-12-31 23:59:59",
    "2023-02-29T00:00:00Z": None,  # no such day
    "2024-04-31T00:00:00Z": None,
    "2024-01-01T24:00:00Z": None,
    "2024-01-01T23:59:60Z": None,
    "2024-01-01T10:00:00+18:01": None,  # beyond the widest offset
    "2024-01-01T10:00:00-12:60": None,
    "2024-01-01T10:00:00Z\n": None,  # a line break kept inside a quoted field
    "1700000000000\n": None,
    "12/31/2024 23:59:59\n": None,
    "2024-01-01T10:00:00.1234567Z": None,  # finer than microseconds
    "2024-01-01T10:00:00+05:30:00": None,
    "2024-01-01t10:00:00Z": None,
    "02/30/2024 10:00:00": None,
}


def test_timestamp_forms_parse_exactly_or_not_at_all(spark):
    texts = spark.createDataFrame([(t,) for t in TIMESTAMPS], "ts string")
    parsed = texts.select("ts", parse_timestamp("ts").cast("string").alias("utc")).collect()
    assert {r.ts: r.utc for r in parsed} == TIMESTAMPS


# Delivered amount text -> the decimal silver keeps, or None: invalid_amount.
AMOUNTS = {
    " 1234.5 ": "1234.50",
    "$1,234.50": "1234.50",
    "-0.01": "-0.01",
    "9999999999999999.99": "9999999999999999.99",
    "12.50\n": None,  # a line break kept inside a quoted field
    "1,23.00": None,
    "12.505": None,
    "10000000000000000.00": None,  # beyond decimal(18,2)
}


def test_amount_forms_parse_exactly_or_not_at_all(spark):
    texts = spark.createDataFrame([(t,) for t in AMOUNTS], "amount string")
    parsed = texts.select("amount", parse_amount("amount").cast("string").alias("value")).collect()
    assert {r.amount: r.value for r in parsed} == AMOUNTS


def test_normalised_values(cleaned):
    assert _silver(cleaned, "formatted_amount").amount == decimal.Decimal("1234.50")
    assert _silver(cleaned, "formatted_amount_spaces").amount == decimal.Decimal("1234.50")
    ten_utc = dt.datetime(2024, 12, 1, 10, 0)
    for case in ("clean", "mixed_timestamp_offset", "mixed_timestamp_us", "mixed_timestamp_epoch"):
        assert _silver(cleaned, case).transaction_ts.replace(tzinfo=None) == ten_utc, case
    assert _silver(cleaned, "timestamp_fraction").transaction_ts.replace(tzinfo=None) == ten_utc.replace(
        microsecond=250_000
    )
    assert _silver(cleaned, "currency_noise").currency == "USD"
    assert _silver(cleaned, "country_noise").country == "US"
    assert _silver(cleaned, "categorical_noise").channel == "pos"
    assert _silver(cleaned, "categorical_noise").is_card_present is True
    assert _silver(cleaned, "outlier").is_outlier is True and _silver(cleaned, "clean").is_outlier is False
    assert _silver(cleaned, "orphan_customer").is_orphan_customer is True
    assert _silver(cleaned, "clean").is_orphan_customer is False
    late = _silver(cleaned, "late_arrival")
    assert late.is_late_arrival is True and late.transaction_date == dt.date(2024, 11, 29)
    assert late.batch_date == BATCH


def test_every_line_is_accounted_for(cleaned):
    silver, quarantine = cleaned
    assert len(silver) + len(quarantine) == len(CASES)
    assert set(silver) | set(quarantine) == set(range(2, len(CASES) + 2))


def test_the_batches_of_one_pass_are_each_judged_on_their_own(spark, tmp_path):
    """Two days classified together (a backfill): an id delivered on both days is no duplicate while a
    copy within a day is, a reference counts as known only by its own day's master data, and each day's
    lines keep their own file's numbers and batch date."""
    second = BATCH + dt.timedelta(days=1)
    delivered = {
        BATCH: [line(), line(transaction_id="T2", customer_id="C2")],
        second: [line(), line(), line(transaction_id="T2", customer_id="C2")],
    }
    raw = []
    for day, lines in delivered.items():
        path = tmp_path / day.isoformat() / "transactions.csv"
        path.parent.mkdir()
        path.write_text("\n".join([HEADER, *lines]) + "\n")
        raw.append(read(spark, path, batch_date=day))
    master = lambda ids: spark.createDataFrame(ids, "id string, batch_date date")  # noqa: E731
    customers = master([("C1", BATCH), ("C2", BATCH), ("C1", second)]).withColumnRenamed("id", "customer_id")
    accounts = master([("A1", BATCH), ("A1", second)]).withColumnRenamed("id", "account_id")
    merchants = master([("M1", BATCH), ("M1", second)]).withColumnRenamed("id", "merchant_id")
    silver, quarantine = clean_transactions(raw[0].unionByName(raw[1]), customers, accounts, merchants)
    kept = {
        (r.batch_date, r.source_line): (r.transaction_id, r.is_orphan_customer, r.is_late_arrival)
        for r in silver.collect()
    }
    assert kept == {
        (BATCH, 2): ("T1", False, False),
        (BATCH, 3): ("T2", False, False),
        (second, 2): ("T1", False, True),
        (second, 4): ("T2", True, True),  # C2 is not in the second day's customers
    }
    assert [(r.batch_date, r.line_number, r.reason) for r in quarantine.collect()] == [(second, 3, "exact_duplicate")]


def test_master_data_first_copy_wins_and_bad_contacts_are_quarantined(spark, tmp_path):
    spec = MASTER_SPECS["customers"]
    rows = [
        "C1,Ann,Lee,ann.lee@mail.com,+1 555-111-2222,1 Main St,Austin,U.S.,Retail,low,2020-01-01",
        "C1,Ann,Lee,ann.lee@mail.com,+1 555-111-2222,1 Main St,Dallas,US,retail,low,2020-01-01",
        "C2,Bob,,bob@mail.com,+1 555-111-2223,2 Main St,Austin,US,retail,low,2020-01-01",
        "C3,Cid,Roe,cid@@mail.com,+1 555-111-2224,3 Main St,Austin,US,retail,low,2020-01-01",
        "C4,Dee,Poe,dee@mail.com,phone,4 Main St,Austin,US,retail,low,2020-01-01",
        "C5,Eve,Fox,eve@mail.com,+44 555-111-2225,5 High St,London,Narnia,retail,low,2020-01-01",
        # a line break kept at the end of a quoted field: no longer the whole value the pattern asks for
        'C6,Fay,Orr,"fay@mail.com\n",+1 555-111-2226,6 Main St,Austin,US,retail,low,2020-01-01',
        'C7,Gus,Orr,gus@mail.com,"+1 555-111-2227\n",7 Main St,Austin,US,retail,low,2020-01-01',
    ]
    path = tmp_path / "customers.csv"
    path.write_text("\n".join([",".join(spec.entity.columns), *rows]) + "\n")
    silver, quarantine = clean_master(read(spark, path, "customers"), spec)
    kept = {r.customer_id: r for r in silver.collect()}
    assert set(kept) == {"C1"}
    assert kept["C1"].city == "Austin" and kept["C1"].country == "US" and kept["C1"].segment == "retail"
    reasons = {r.line_number: r.reason for r in quarantine.collect()}
    assert reasons == {
        3: "duplicate_id",
        4: "missing_required",
        5: "invalid_email",
        6: "invalid_phone",
        7: "invalid_country",
        8: "invalid_email",
        10: "invalid_phone",
    }


def test_core_records_keep_their_change_and_delete_times_and_files_leave_them_null(spark, tmp_path):
    """A core extraction's records carry updated_at / deleted_at (timestamp, UTC): silver keeps them, a
    soft-deleted account included (it existed); a delivered file's rows have both null."""
    spec = MASTER_SPECS["accounts"]
    changed, deleted = dt.datetime(2024, 11, 30, 8, 15, tzinfo=dt.UTC), dt.datetime(2024, 11, 30, 9, tzinfo=dt.UTC)
    rows = [("A1", "C1", "checking", "usd", "active", "2020-01-01"), ("A2", "C1", "savings", "USD", "closed", None)]
    stamp = pa.timestamp("us", tz="UTC")
    records = pa.table(
        {
            "_line": pa.array([1, 2], pa.int32()),
            "_raw": pa.array([",".join(v or "" for v in r) for r in rows]),
            "_raw_bytes": pa.array([None, None], pa.binary()),
            "_parse_reason": pa.array([None, None], pa.string()),
            **{c: pa.array([r[i] for r in rows]) for i, c in enumerate(ACCOUNTS.columns)},
            "updated_at": pa.array([changed, deleted], stamp),
            "deleted_at": pa.array([None, deleted], stamp),
        }
    )
    assert records.schema.names[:4] == [f.name for f in RECORD_SCHEMA]
    path = tmp_path / "core_accounts.parquet"
    pq.write_table(records, path)
    silver, quarantine = clean_master(read_records(spark, str(path), file_spec("accounts", "core"), BATCH), spec)
    nulls = dict.fromkeys(CHANGE_COLUMNS)
    kept = {r.account_id: (r.currency, r.updated_at, r.deleted_at) for r in silver.collect()}
    assert kept == {
        "A1": ("USD", changed.replace(tzinfo=None), None),
        "A2": ("USD", deleted.replace(tzinfo=None), deleted.replace(tzinfo=None)),
    }
    assert quarantine.count() == 0

    path = tmp_path / "accounts.csv"
    path.write_text(",".join(ACCOUNTS.columns) + "\nA1,C1,checking,USD,active,2020-01-01\n")
    silver, _ = clean_master(read(spark, path, "accounts"), spec)
    assert [{c: r[c] for c in CHANGE_COLUMNS} for r in silver.collect()] == [nulls]
    assert dict(silver.dtypes)["updated_at"] == dict(silver.dtypes)["deleted_at"] == "timestamp"


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "file is missing"),
        ("", "file is empty"),
        (HEADER + "\n", "header but no data rows"),
        (HEADER.replace(",", ";") + "\n" + GOOD.replace(",", ";") + "\n", "wrong delimiter"),
        ("id,amount\n1,2\n", "line 1: required column 'transaction_id' missing"),
        (HEADER + "\n" + GOOD + '\nT2,"A1,C1\n', "line 3, column 4: quoted field never closed"),
        (HEADER + ",amount\n" + GOOD + "\n", "line 1, column 12: column 'amount' appears twice"),
    ],
)
def test_unusable_files_fail_with_the_file_line_and_column_named(spark, tmp_path, content, message):
    path = tmp_path / "transactions.csv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(RawFileError, match=message) as error:
        read(spark, path)
    assert str(error.value).startswith("transactions.csv: ")


def test_a_declared_encoding_decodes_instead_of_quarantining(spark, tmp_path):
    spec = MASTER_SPECS["customers"]
    row = "C7,J\xfcrgen,M\xfcller,jm@mail.de,+49 30 1234567,Stra\xdfe 1,Berlin,DE,retail,low,2020-01-01"
    path = tmp_path / "customers.csv"
    path.write_bytes(("\r\n".join([",".join(spec.entity.columns), row]) + "\r\n").encode("latin-1"))
    as_utf8 = read(spark, path, "customers")
    assert [(r._line, r._parse_reason) for r in as_utf8.collect()] == [(2, "invalid_encoding")]
    silver, quarantine = clean_master(read(spark, path, "customers", encoding="latin-1"), spec)
    assert quarantine.count() == 0
    assert [(r.last_name, r.address) for r in silver.collect()] == [("Müller", "Straße 1")]


def test_a_truncated_gzip_delivery_fails_naming_the_file(spark, tmp_path):
    path = tmp_path / "transactions.csv.gz"
    path.write_bytes(gzip.compress((HEADER + "\n" + GOOD + "\n").encode())[:-12])
    with pytest.raises(RawFileError, match=r"^transactions.csv.gz: cannot be read: .*\(truncated or corrupt file\?\)"):
        read(spark, path)
