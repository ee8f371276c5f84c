"""The pandera contracts: valid for what silver writes, and the rules the checks derive from them bite."""

import datetime as dt
from decimal import Decimal

import duckdb
import pyarrow as pa
import pyspark.sql.types as T
import pytest
from dagster import AssetKey
from pandera.pyspark import DataFrameModel, Field
from pandera.pyspark import check as pa_check
from pyspark.sql import functions as F

from banking_lakehouse.checks.factory import CheckInputs, contract_outcomes
from banking_lakehouse.contracts import CONTRACTS, FieldRule, SilverTransactions, contract_rules
from banking_lakehouse.reference import EMAIL_PATTERN, PHONE_PATTERN
from banking_lakehouse.resources.lake import LakeResource
from banking_lakehouse.transforms.silver import matches

DAY = "2024-12-01"
ROW = dict(
    source_file="transactions.csv",
    source_line=2,
    batch_date=dt.date(2024, 12, 1),
    transaction_id="T1",
    account_id="A1",
    customer_id="C1",
    merchant_id="M1",
    transaction_ts=dt.datetime(2024, 12, 1, 10),
    transaction_date=dt.date(2024, 12, 1),
    amount=Decimal("12.50"),
    currency="USD",
    amount_usd=Decimal("12.50"),
    transaction_type="purchase",
    channel="pos",
    status="completed",
    country="US",
    is_card_present=True,
    is_outlier=False,
    is_late_arrival=False,
    is_orphan_customer=False,
    is_orphan_account=False,
    is_orphan_merchant=False,
)


def _frame(spark, rows):
    return spark.createDataFrame(rows, SilverTransactions.to_structtype())


def test_every_contract_declares_required_unique_and_validity_rules():
    for entity, model in CONTRACTS.items():
        required, unique, validity = contract_rules(model)
        assert {"source_file", "source_line", "batch_date"} <= set(required), entity
        assert len(unique) == 1 and unique[0] in required, entity
        assert validity, entity


def test_pandera_accepts_a_valid_row_and_rejects_a_bad_one(spark):
    good = SilverTransactions.validate(_frame(spark, [ROW]))
    assert not good.pandera.errors
    bad = SilverTransactions.validate(_frame(spark, [{**ROW, "channel": "telepathy", "amount": Decimal("-1.00")}]))
    assert bad.pandera.errors


def test_contract_rules_count_exactly_the_broken_rows(spark, tmp_path):
    rows = [
        ROW,
        {**ROW, "transaction_id": "T2", "source_line": 3, "channel": "ONLINE"},  # invalid value
        {**ROW, "transaction_id": "T2", "source_line": 4},  # duplicate id
        {**ROW, "transaction_id": "T3", "source_line": 5, "amount": None},  # incomplete
        {
            **ROW,
            "transaction_id": "T4",
            "source_line": 6,
            "amount_usd": Decimal("0.00"),
            "country": "XX",
        },  # 1 row, 2 rules
    ]
    lake = LakeResource(base_uri=str(tmp_path))
    lake.publish(_frame(spark, rows), ["silver", "transactions"], [DAY])
    outcomes = contract_outcomes(AssetKey(["silver", "transactions"]), CheckInputs([DAY], lake))[DAY]
    assert outcomes["contract_schema"][0] == 0
    assert outcomes["completeness"][0] == 1 and outcomes["completeness"][1]["nulls_amount"] == 1
    assert outcomes["uniqueness"][0] == 1
    failed, metadata = outcomes["validity"]
    assert failed == 2
    assert metadata["channel_isin"] == 1 and metadata["amount_usd_greater_than"] == 1 and metadata["country_isin"] == 1
    assert "ONLINE" in metadata["examples"].value


def test_schema_drift_is_reported(spark, tmp_path):
    lake = LakeResource(base_uri=str(tmp_path))
    drifted = _frame(spark, [ROW]).withColumn("amount", F.col("amount").cast("double")).drop("status")
    lake.publish(drifted, ["silver", "transactions"], [DAY])
    failed, metadata = contract_outcomes(AssetKey(["silver", "transactions"]), CheckInputs([DAY], lake))[DAY][
        "contract_schema"
    ]
    assert failed == 2
    assert "double" in metadata["examples"].value and "status" in metadata["examples"].value


@pytest.mark.parametrize("entity", list(CONTRACTS))
def test_column_schema_metadata_comes_from_the_contract(entity):
    from banking_lakehouse.contracts import column_schema

    schema = column_schema(CONTRACTS[entity])
    assert [c.name for c in schema.columns] == list(CONTRACTS[entity].to_schema().columns)


class _Probe(DataFrameModel):
    """One column under every kind of built-in pandera check the asset checks count."""

    code: T.StringType() = Field(
        nullable=True,
        isin=["ab", "abc", "xbz"],
        notin=["xbz"],
        str_startswith="a",
        str_endswith="c",
        str_contains="b",
        str_matches=r"^a",
        str_length={"exact_value": 3},
    )
    score: T.IntegerType() = Field(
        nullable=True, in_range={"min_value": 1, "max_value": 9, "include_max": False}, ne=5, gt=0, ge=1, lt=9, le=8
    )


def test_every_built_in_check_kind_is_counted_exactly():
    rows = pa.table({"code": ["abc", "ab", "xbz", None, "abc"], "score": pa.array([1, 5, 9, None, 8], pa.int32())})
    _, _, validity = contract_rules(_Probe)
    con = duckdb.connect()
    con.register("probe", rows)
    failing = {}
    for r in validity:
        condition, values = r.failing("p")
        query = f"SELECT count(*) FROM probe WHERE {condition}"
        failing[f"{r.column}:{r.check}"] = con.execute(query, values).fetchone()[0]
    assert failing == {
        "code:isin": 0,
        "code:notin": 1,
        "code:str_startswith": 1,
        "code:str_endswith": 2,
        "code:str_contains": 0,
        "code:str_matches": 1,
        "code:str_length": 1,
        "score:in_range": 1,
        "score:not_equal_to": 1,
        "score:greater_than": 0,
        "score:greater_than_or_equal_to": 0,
        "score:less_than": 1,
        "score:less_than_or_equal_to": 1,
    }


def test_a_contract_check_the_asset_checks_cannot_count_is_refused():
    class Custom(DataFrameModel):
        code: T.StringType() = Field()

        @pa_check("code")
        def shouts(cls, column):  # a custom check: no SQL condition stands for it
            return column

    with pytest.raises(ValueError, match="Custom.*code: shouts"):
        contract_rules(Custom)


# A value with a line break at its end (kept inside a quoted field) is not the whole value a pattern asks for.
PATTERN_VALUES = [
    "ann.lee@mail.com",
    "ann.lee@mail.com\n",
    "ann.lee@mail.com\r\n",
    "ann.lee@mail.com\r",
    "ann.lee@mail.com\u2028",
    "ann.lee@mail.com\u0085",
    "ann\n.lee@mail.com",
    "+1 555-111-2222",
    "+1 555-111-2222\n",
    "+1 555-111-2222 \n",
    "C123",
    "C123\n",
]


@pytest.mark.parametrize("pattern", [EMAIL_PATTERN, PHONE_PATTERN, r"^C[0-9]+$"])
def test_silver_and_the_checks_read_a_pattern_alike(spark, pattern):
    """Silver's `matches` (Java) accepts exactly the values the validity check (DuckDB, RE2) does not count."""
    texts = spark.createDataFrame([(v,) for v in PATTERN_VALUES], "v string")
    silver = {r.v: r.ok for r in texts.select("v", matches("v", pattern).alias("ok")).collect()}
    condition, values = FieldRule("v", "str_matches", {"pattern": pattern}).failing("p")
    con = duckdb.connect()
    con.register("texts", pa.table({"v": PATTERN_VALUES}))
    failing = {v for (v,) in con.execute(f"SELECT v FROM texts WHERE {condition}", values).fetchall()}
    assert {v: v not in failing for v in PATTERN_VALUES} == silver
    assert silver["ann.lee@mail.com"] or silver["+1 555-111-2222"] or silver["C123"]
    assert not any(ok for v, ok in silver.items() if v[-1] in "\n\r\u2028\u0085")
