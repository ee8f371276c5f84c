"""Real deliveries: hand-written hostile files (not generator output) through every asset, from the landing zone.

Each entity's drop mixes ordinary rows with the things real source systems send: a BOM, CRLF and lone
CR line endings, columns in another order plus an unknown one, doubled quotes, quoted commas and
newlines, Latin-1 bytes, NUL and other control characters, over-long fields, amounts at and beyond
decimal(18,2), blank lines and gzip. Every record must end in silver or in quarantine with the exact
reason, values must come back byte for byte, and no content may make a load fail.
"""

import gzip
import hashlib
import json
import re
import shutil
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from dagster import AssetSelection, DagsterInstance, materialize

from banking_lakehouse.entities import CUSTOMERS, ENTITIES, TRANSACTIONS
from banking_lakehouse.resources.delivery import SUCCESS_MARKER, DeliveryMissing, DeliverySource
from banking_lakehouse.resources.lake.raw_zone import records_file
from banking_lakehouse.resources.lake.storage import COMMIT_FILE
from banking_lakehouse_tests.conftest import make_resources, s3_resource
from banking_lakehouse_tests.test_pipeline import ASSETS

DAY, REFUSED_DAY = "2024-11-05", "2024-11-06"
GOOD_CUSTOMERS = 120  # enough ordinary rows that the hostile ones stay under the 5 % blocking rate
# Another order (join_date first) and one unknown column.
CUSTOMER_HEADER = ["join_date", *(c for c in CUSTOMERS.columns if c != "join_date"), "loyalty_tier"]


def customer(cid: str, first="Ann", last="Lee", address="1 Main St", city="Austin") -> str:
    return ",".join(
        [
            "2020-01-01",
            cid,
            first,
            last,
            f"{cid.lower()}@mail.com",
            "+1 555-111-2222",
            address,
            city,
            "US",
            "retail",
            "low",
            "gold",
        ]
    )


def transaction(tid: str, amount="12.50", currency="USD", customer_id="C100", account_id="A100") -> str:
    fields = {
        "transaction_id": tid,
        "account_id": account_id,
        "customer_id": customer_id,
        "merchant_id": "M1",
        "transaction_ts": f"{DAY}T10:00:00Z",
        "amount": amount,
        "currency": currency,
        "transaction_type": "purchase",
        "channel": "pos",
        "status": "completed",
        "country": "US",
    }
    return ",".join(fields[c] for c in reversed(TRANSACTIONS.columns))  # columns in reverse order


LONG_ID = "T" + "9" * 1_000_000  # a 1 MB identifier


def _drop(directory):
    """Writes the hostile drop; returns {entity: {line: reason}} of what must be quarantined."""
    directory.mkdir(parents=True)
    customers = [
        b"\xef\xbb\xbf" + ",".join(CUSTOMER_HEADER).encode(),  # line 1 (BOM)
        customer("C1", address='"12 ""Old"" Mill Rd"', city='"St. ""Paul"", MN"').encode(),  # 2
        customer("C2", address='"Flat 2\r\nOld Mill, Leeds"').encode(),  # 3-4: one record
        customer("C3", last="M\xfcller").encode("latin-1"),  # 5: not UTF-8
        customer("C4", first="An\x00n").encode(),  # 6: NUL
        customer("C5", first="A" * 300).encode(),  # 7: over 256
        b"",  # 8: blank line
        *[customer(f"C{100 + i}").encode() for i in range(GOOD_CUSTOMERS)],  # 9..
    ]
    (directory / "customers.csv").write_bytes(b"\r\n".join(customers) + b"\r\n")
    accounts = ["account_id,customer_id,account_type,currency,status,opened_date"]
    accounts += [f"A{100 + i},C{100 + i},checking,USD,active,2021-01-01" for i in range(GOOD_CUSTOMERS)]
    (directory / "accounts.csv").write_bytes("\r".join(accounts).encode() + b"\r")  # lone CR line endings
    merchants = [
        {
            "merchant_id": f"M{i}",
            "name": f"Shop {i}",
            "mcc": "5411",
            "category": "grocery",
            "city": "Austin",
            "country": "US",
            "risk_level": "low",
        }
        for i in range(1, 60)
    ]
    merchants[1]["name"] = "Shop \u0000 2"  # an escaped NUL decodes to a control character
    (directory / "merchants.json").write_text("\n".join(json.dumps(m) for m in merchants) + "\n")
    header = ",".join(reversed(TRANSACTIONS.columns)).encode()
    rows = [
        header,  # 1
        transaction("T1").encode(),  # 2
        transaction(LONG_ID).encode(),  # 3: field_too_long
        transaction("T3", amount="9999999999999999.99").encode(),  # 4: the largest decimal(18,2)
        transaction("T4", amount="9999999999999999.99", currency="EUR").encode(),  # 5: beyond it in USD
        transaction("T5", amount="99999999999999999.99").encode(),  # 6: beyond decimal(18,2)
        transaction("T6", amount='"$1,234.50"').encode(),  # 7: quoted comma
        transaction("T7", customer_id="C1\x01").encode(),  # 8: control character
        transaction("T8", customer_id="C\xe9").encode("latin-1"),  # 9: not UTF-8
        b"T9,too,few,fields",  # 10: malformed
        *[
            transaction(
                f"T{100 + i}", customer_id=f"C{100 + i % GOOD_CUSTOMERS}", account_id=f"A{100 + i % GOOD_CUSTOMERS}"
            ).encode()
            for i in range(300)
        ],
    ]
    with gzip.open(directory / "transactions.csv.gz", "wb") as out:
        out.write(b"\n".join(rows))  # no final line ending: RFC 4180 allows it
    (directory / SUCCESS_MARKER).touch()
    return {
        "customers": {5: "invalid_encoding", 6: "invalid_character", 7: "field_too_long"},
        "accounts": {},
        "merchants": {2: "invalid_character"},
        "transactions": {
            3: "field_too_long",
            5: "invalid_amount",
            6: "invalid_amount",
            8: "invalid_character",
            9: "invalid_encoding",
            10: "malformed_record",
        },
    }


@pytest.fixture(scope="module")
def landed(spark, spark_resource, postgres, run_dir):
    landing = run_dir / "landing"
    expected = _drop(landing / f"date={DAY}")
    delivery = DeliverySource(source="landing", landing_uri=str(landing))
    resources = make_resources(str(run_dir / "landing_lake"), spark_resource, postgres, delivery=delivery)
    instance = DagsterInstance.ephemeral()

    def run(day: str):
        return materialize(ASSETS, partition_key=day, resources=resources, instance=instance, raise_on_error=False)

    result = run(DAY)
    assert result.success
    return {
        "run": run,
        "resources": resources,
        "lake": resources["lake"],
        "landing": landing,
        "expected": expected,
        "result": result,
    }


def test_every_record_lands_in_silver_or_quarantine_with_its_exact_reason(landed, postgres):
    lake = landed["lake"]
    for entity, reasons in landed["expected"].items():
        quarantine = lake.read_arrow(["quarantine", entity], DAY).to_pylist()
        assert {q["line_number"]: q["reason"] for q in quarantine} == reasons, entity
        silver_rows = lake.partition_stats(["silver", entity], DAY)["rows"]
        assert lake.raw_rows(DAY, entity) == silver_rows + len(quarantine), entity
    stored = postgres.fetch("SELECT entity, line_number, reason FROM quality.quarantine WHERE batch_date = %s", (DAY,))
    assert {(e, n): r for e, n, r in stored} == {
        (e, n): r for e, reasons in landed["expected"].items() for n, r in reasons.items()
    }
    assert lake.raw_rows(DAY, "customers") == 5 + GOOD_CUSTOMERS  # the blank line is not a record
    assert lake.raw_rows(DAY, "transactions") == 9 + 300
    checks = {
        (c.asset_key.to_user_string(), c.check_name): c.passed for c in landed["result"].get_asset_check_evaluations()
    }
    assert all(checks[(f"silver/{e}", "raw_accounted_for")] for e in landed["expected"])


def test_values_come_back_byte_for_byte(landed, postgres):
    lake = landed["lake"]
    customers = {r["customer_id"]: r for r in lake.read_arrow(["silver", "customers"], DAY).to_pylist()}
    assert customers["C1"]["address"] == '12 "Old" Mill Rd'
    assert customers["C2"]["address"] == "Flat 2\r\nOld Mill, Leeds"
    assert (customers["C1"]["source_line"], customers["C2"]["source_line"], customers["C100"]["source_line"]) == (
        2,
        3,
        9,
    )
    assert postgres.fetch("SELECT city FROM gold.dim_customer WHERE city LIKE 'St.%%'") == [('St. "Paul", MN',)]
    amounts = dict(
        postgres.fetch(
            "SELECT transaction_id, amount FROM gold.fact_transactions WHERE batch_date = %s AND transaction_id IN ('T3', 'T6')",
            (DAY,),
        )
    )
    assert amounts == {"T3": Decimal("9999999999999999.99"), "T6": Decimal("1234.50")}
    fffd = postgres.fetch(
        "SELECT count(*) FROM gold.dim_customer WHERE city LIKE %s OR email_masked LIKE %s", ("%\ufffd%", "%\ufffd%")
    )
    assert fffd == [(0,)]


def test_undecodable_and_control_bytes_are_kept_exactly(landed, postgres):
    lake = landed["lake"]
    quarantine = {q["line_number"]: q for q in lake.read_arrow(["quarantine", "transactions"], DAY).to_pylist()}
    latin = transaction("T8", customer_id="C\xe9").encode("latin-1")
    assert quarantine[9]["raw_bytes"] == latin
    assert quarantine[9]["raw_record"] == latin.decode("latin-1").replace("\xe9", "\\xe9")
    assert quarantine[8]["raw_record"] == transaction("T7", customer_id="C1\\x01")
    stored = dict(
        postgres.fetch(
            "SELECT line_number, raw_bytes FROM quality.quarantine WHERE batch_date = %s AND entity = 'transactions'",
            (DAY,),
        )
    )
    assert bytes(stored[9]) == latin
    assert bytes(stored[3]) == transaction(LONG_ID).encode()  # the 1 MB record, whole


def test_batch_record_names_source_files_checksums_and_counts(landed, postgres):
    drop = landed["landing"] / f"date={DAY}"
    rows = postgres.fetch(
        "SELECT entity, source, file_name, bytes, sha256, raw_records, blank_lines, silver_rows, quarantined_rows "
        "FROM quality.batches WHERE batch_date = %s ORDER BY entity",
        (DAY,),
    )
    by_entity = {r[0]: r[1:] for r in rows}
    assert set(by_entity) == {"accounts", "customers", "merchants", "transactions"}
    source, name, size, sha, records, blanks, silver, quarantined = by_entity["transactions"]
    data = (drop / "transactions.csv.gz").read_bytes()
    assert (source, name, size, sha) == ("landing", "transactions.csv.gz", len(data), hashlib.sha256(data).hexdigest())
    assert (records, blanks, silver + quarantined) == (309, 0, 309)
    assert by_entity["customers"][4:6] == (125, 1)
    silver_meta = {
        e.asset_key.to_user_string(): e.materialization.metadata
        for e in landed["result"].get_asset_materialization_events()
    }
    assert silver_meta["silver/customers"]["extra_columns"].value == "loyalty_tier"


def test_globbing_a_table_directory_reads_exactly_the_committed_rows(landed):
    lake = landed["lake"]
    for table in (["silver", "transactions"], ["quarantine", "transactions"], ["gold", "fact_transactions"]):
        pattern = f"{lake.table_uri(table)}/**/*.parquet"
        rows = duckdb.sql(f"SELECT count(*) FROM read_parquet('{pattern}', hive_partitioning = true)").fetchall()[0][0]
        assert rows == lake.partition_stats(table, DAY)["rows"]
    lake_root = lake.storage.root
    leftovers = [
        p
        for p in Path(lake_root).rglob("*")
        if p.is_file()
        and not (p.suffix == ".parquet" or p.name in ("_committed.json",))
        and "raw" not in p.relative_to(lake_root).parts
    ]
    assert leftovers == []


def _failures(result) -> str:
    """Every step failure of the run, causes included, as a person reads them in the UI."""
    return "\n".join(
        e.event_specific_data.error.to_string() for e in result.all_events if e.event_type_value == "STEP_FAILURE"
    )


def _warehouse_state(postgres):
    return postgres.fetch(
        "SELECT (SELECT count(*) FROM gold.fact_transactions), (SELECT count(*) FROM quality.quarantine), "
        "(SELECT count(*) FROM quality.batches), (SELECT count(*) FROM gold.dim_customer)"
    )[0]


@pytest.mark.parametrize(
    "prepare, message",
    [
        (lambda d: None, f"delivery {REFUSED_DAY}: landing directory .*date={REFUSED_DAY} has no drop"),
        (
            lambda d: (d.mkdir(), (d / "customers.csv").write_text("x\n")),
            f"is not complete: {SUCCESS_MARKER} is missing",
        ),
        (
            lambda d: (d.mkdir(), (d / SUCCESS_MARKER).touch(), (d / "customers.csv").write_text("x\n")),
            "is marked complete but lacks accounts.csv or accounts.csv.gz",
        ),
    ],
)
def test_a_missing_or_incomplete_drop_fails_and_changes_nothing(landed, postgres, prepare, message):
    day_dir = landed["landing"] / f"date={REFUSED_DAY}"
    shutil.rmtree(day_dir, ignore_errors=True)
    prepare(day_dir)
    before = _warehouse_state(postgres)
    result = landed["run"](REFUSED_DAY)
    assert not result.success
    assert re.search(message, _failures(result))
    assert _warehouse_state(postgres) == before
    assert not landed["lake"].storage.exists(landed["lake"].raw_path(REFUSED_DAY))
    assert [e.asset_key for e in result.get_asset_materialization_events()] == []


def test_a_missing_required_column_fails_naming_file_and_column(landed, postgres):
    day_dir = landed["landing"] / f"date={REFUSED_DAY}"
    shutil.rmtree(day_dir, ignore_errors=True)
    _drop(day_dir)
    text = (day_dir / "customers.csv").read_bytes().replace(b",email,", b",e_mail,", 1)
    (day_dir / "customers.csv").write_bytes(text)
    (day_dir / SUCCESS_MARKER).touch()
    before = _warehouse_state(postgres)
    result = landed["run"](REFUSED_DAY)
    assert not result.success
    assert "customers.csv: line 1: required column 'email' missing from the header" in _failures(result)
    assert _warehouse_state(postgres) == before
    assert not landed["lake"].storage.exists(landed["lake"].raw_path(REFUSED_DAY))  # refused before storing
    assert landed["lake"].list_partitions(["silver", "customers"]) == [DAY]


def test_a_landing_zone_in_s3_delivers_the_same_batch(spark_resource, postgres, run_dir, s3_server):
    """The hostile drop uploaded to s3://lake/landing/ (files first, `_SUCCESS` last) is stored and read
    exactly as from a directory: the same bytes and checksums, every record in silver or in quarantine
    with its exact reason; a missing day is refused naming its S3 location."""
    s3 = s3_resource(s3_server)
    local_drop = run_dir / "s3_landing_source" / f"date={DAY}"
    expected = _drop(local_drop)
    for path in sorted(local_drop.iterdir(), key=lambda p: p.name == SUCCESS_MARKER):
        s3.get_client().upload_file(str(path), "lake", f"landing/date={DAY}/{path.name}")
    delivery = DeliverySource(source="landing", landing_uri="s3://lake/landing", s3=s3)
    assert [date for date, _ in delivery.complete_drops()] == [DAY]
    resources = make_resources(str(run_dir / "s3_landing_lake"), spark_resource, postgres, delivery=delivery)
    result = materialize(ASSETS, partition_key=DAY, resources=resources, raise_on_error=False)
    assert result.success, _failures(result)
    lake = resources["lake"]
    for entity, reasons in expected.items():
        stored = lake.delivery(DAY)["entities"][entity]
        assert stored["sha256"] == hashlib.sha256((local_drop / stored["file"]).read_bytes()).hexdigest()
        kept = lake.storage.read_bytes(lake.raw_path(DAY, stored["file"]))  # the raw zone keeps the bytes as delivered
        assert hashlib.sha256(kept).hexdigest() == stored["sha256"], stored["file"]
        quarantine = lake.read_arrow(["quarantine", entity], DAY).to_pylist()
        assert {q["line_number"]: q["reason"] for q in quarantine} == reasons, entity
        assert lake.raw_rows(DAY, entity) == lake.partition_stats(["silver", entity], DAY)["rows"] + len(quarantine)
    with pytest.raises(Exception, match=r"s3://lake/landing/date=2024-11-06 has no drop"):
        delivery.landed_drop(REFUSED_DAY)


def _silver_state(lake) -> dict:
    return {
        (layer, e): sorted(map(str, lake.read_arrow([layer, e], DAY).drop_columns(["batch_date"]).to_pylist()))
        for layer in ("silver", "quarantine")
        for e in ENTITIES
    }


def test_files_are_parsed_once_and_an_older_delivery_is_parsed_again_alike(landed):
    """The records silver reads are those the raw asset parsed when it stored the delivery; a delivery
    stored before records were kept with it is parsed by silver instead, with the same outcome."""
    lake = landed["lake"]
    delivery = lake.delivery(DAY)
    for entity, delivered in delivery["entities"].items():
        records = pq.read_table(lake.raw_path(DAY, records_file(entity)))
        assert records.num_rows == delivered["records"], entity
    before = _silver_state(lake)
    older = {**delivery, "files": [f for f in delivery["files"] if not f.endswith(".records.parquet")]}
    lake.storage.write_bytes(lake.raw_path(DAY, COMMIT_FILE), json.dumps(older).encode())
    for entity in ENTITIES:
        lake.storage.delete_files([lake.raw_path(DAY, records_file(entity))])
    silver = AssetSelection.groups("silver")
    result = materialize(ASSETS, selection=silver, partition_key=DAY, resources=landed["resources"])
    assert result.success
    assert _silver_state(lake) == before


def test_a_drop_holds_only_the_entities_a_deployment_takes_as_files(tmp_path):
    """With customers and accounts extracted from the core system (BANKING_CORE_ENTITIES), a drop of the
    other two files is complete; the full contract still requires all four."""
    day = tmp_path / "date=2024-11-07"
    day.mkdir()
    (day / "merchants.json").write_text('{"merchant_id": "M1"}\n')
    (day / "transactions.csv.gz").write_bytes(b"")
    (day / SUCCESS_MARKER).touch()
    delivery = DeliverySource(source="landing", landing_uri=str(tmp_path))
    drop = delivery.landed_drop("2024-11-07", ["merchants", "transactions"])
    assert {e: p.rsplit("/", 1)[1] for e, p in drop.files.items()} == {
        "merchants": "merchants.json",
        "transactions": "transactions.csv.gz",
    }
    with pytest.raises(DeliveryMissing, match="lacks customers.csv or customers.csv.gz; lacks accounts.csv or acc"):
        delivery.landed_drop("2024-11-07")
