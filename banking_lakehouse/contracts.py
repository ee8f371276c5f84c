"""Silver contracts: one pandera model per entity is the single definition of "valid".

The asset checks derive their completeness, uniqueness and validity rules from these models
(`contract_rules`), and the UI's column schema comes from them too (`column_schema`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pyspark.sql.types as T
from dagster import TableColumn, TableColumnConstraints, TableSchema
from pandera.pyspark import DataFrameModel, Field
from pyspark.sql import Column, functions as F

from banking_lakehouse import reference as ref
from banking_lakehouse.reference import EMAIL_PATTERN, PHONE_PATTERN

COUNTRIES = sorted(ref.COUNTRIES)
CURRENCIES = sorted(ref.USD_RATES)
ID = {"max_value": 64}  # longest identifier a source system may send
TEXT = {"max_value": 256}  # longest name, address, city or email


class _Lineage(DataFrameModel):
    source_file: T.StringType() = Field(description="delivered file the row came from")
    source_line: T.IntegerType() = Field(ge=1, description="1-based line of the row in that file")
    batch_date: T.DateType() = Field(description="load (delivery) date: the partition")


class SilverCustomers(_Lineage):
    customer_id: T.StringType() = Field(str_matches=r"^C[0-9]+$", str_length=ID)
    first_name: T.StringType() = Field(str_length=TEXT)
    last_name: T.StringType() = Field(str_length=TEXT)
    email: T.StringType() = Field(str_matches=EMAIL_PATTERN, str_length=TEXT)
    phone: T.StringType() = Field(nullable=True, str_matches=PHONE_PATTERN)
    address: T.StringType() = Field(nullable=True, str_length=TEXT)
    city: T.StringType() = Field(nullable=True, str_length=TEXT)
    country: T.StringType() = Field(nullable=True, isin=COUNTRIES, description="ISO-3166 alpha-2")
    segment: T.StringType() = Field(nullable=True, isin=list(ref.SEGMENTS))
    risk_rating: T.StringType() = Field(nullable=True, isin=list(ref.RISK_RATINGS))
    join_date: T.DateType() = Field(nullable=True)

    class Config:
        unique = ["customer_id"]


class SilverAccounts(_Lineage):
    account_id: T.StringType() = Field(str_matches=r"^A[0-9]+$", str_length=ID)
    customer_id: T.StringType() = Field(str_length=ID)
    account_type: T.StringType() = Field(isin=list(ref.ACCOUNT_TYPES))
    currency: T.StringType() = Field(isin=CURRENCIES, description="ISO-4217")
    status: T.StringType() = Field(nullable=True, isin=list(ref.ACCOUNT_STATUSES))
    opened_date: T.DateType() = Field(nullable=True)

    class Config:
        unique = ["account_id"]


class SilverMerchants(_Lineage):
    merchant_id: T.StringType() = Field(str_matches=r"^M[0-9]+$", str_length=ID)
    name: T.StringType() = Field(str_length=TEXT)
    mcc: T.StringType() = Field(str_matches=r"^[0-9]{4}$", description="ISO-18245 merchant category code")
    category: T.StringType() = Field(nullable=True)
    city: T.StringType() = Field(nullable=True, str_length=TEXT)
    country: T.StringType() = Field(nullable=True, isin=COUNTRIES)
    risk_level: T.StringType() = Field(nullable=True, isin=list(ref.RISK_RATINGS))

    class Config:
        unique = ["merchant_id"]


class SilverTransactions(_Lineage):
    transaction_id: T.StringType() = Field(str_length=ID)
    account_id: T.StringType() = Field(str_length=ID)
    customer_id: T.StringType() = Field(str_length=ID)
    merchant_id: T.StringType() = Field(str_length=ID)
    transaction_ts: T.TimestampType() = Field(description="UTC")
    transaction_date: T.DateType() = Field(description="UTC date of the transaction (event date)")
    amount: T.DecimalType(18, 2) = Field(gt=0, description="in `currency`, to the cent")
    currency: T.StringType() = Field(isin=CURRENCIES)
    amount_usd: T.DecimalType(18, 2) = Field(gt=0, description="reporting currency")
    transaction_type: T.StringType() = Field(isin=list(ref.TRANSACTION_TYPES))
    channel: T.StringType() = Field(isin=list(ref.CHANNELS))
    status: T.StringType() = Field(isin=list(ref.STATUSES))
    country: T.StringType() = Field(nullable=True, isin=COUNTRIES)
    is_card_present: T.BooleanType() = Field()
    is_outlier: T.BooleanType() = Field(description="amount_usd above 1 000 000: kept, flagged")
    is_late_arrival: T.BooleanType() = Field(description="event date before the batch date")
    is_orphan_customer: T.BooleanType() = Field()
    is_orphan_account: T.BooleanType() = Field()
    is_orphan_merchant: T.BooleanType() = Field()

    class Config:
        unique = ["transaction_id"]


CONTRACTS: dict[str, type[DataFrameModel]] = {
    "customers": SilverCustomers,
    "accounts": SilverAccounts,
    "merchants": SilverMerchants,
    "transactions": SilverTransactions,
}


@dataclass(frozen=True)
class FieldRule:
    """One validity condition of a contract (a pandera Field check) on one column."""

    column: str
    check: str
    statistics: dict

    def failing(self) -> Column:
        """A Spark expression that is true on a row breaking this rule (nulls are completeness' business)."""
        c, stats = F.col(self.column), self.statistics
        pattern = stats.get("pattern")
        holds = {
            "isin": lambda: c.isin(*stats.get("allowed_values", [])),
            "str_matches": lambda: c.rlike(pattern if isinstance(pattern, str) else getattr(pattern, "pattern", "")),
            "greater_than": lambda: c > stats.get("min_value"),
            "greater_than_or_equal_to": lambda: c >= stats.get("min_value"),
            "less_than": lambda: c < stats.get("max_value"),
            "less_than_or_equal_to": lambda: c <= stats.get("max_value"),
            "str_length": lambda: F.length(c).between(stats.get("min_value") or 0, stats.get("max_value") or 2**31 - 1),
        }[self.check]()
        return c.isNotNull() & ~holds


def contract_rules(model: type[DataFrameModel]) -> tuple[list[str], list[str], list[FieldRule]]:
    """(required columns, unique columns, validity rules) of a contract."""
    schema = model.to_schema()
    required = [name for name, col in schema.columns.items() if not col.nullable]
    validity = [
        FieldRule(name, check.name, dict(check.statistics))
        for name, col in schema.columns.items()
        for check in col.checks
    ]
    return required, list(schema.unique or []), validity


def max_lengths(model: type[DataFrameModel]) -> dict[str, int]:
    """Longest value each string column of a contract accepts (its `str_length` checks)."""
    return {
        name: check.statistics["max_value"]
        for name, col in model.to_schema().columns.items()
        for check in col.checks
        if check.name == "str_length" and check.statistics.get("max_value") is not None
    }


def expected_types(model: type[DataFrameModel]) -> dict[str, str]:
    return {name: col.dtype.type.simpleString() for name, col in model.to_schema().columns.items()}


def column_schema(model: type[DataFrameModel]) -> TableSchema:
    """The contract as Dagster column-schema metadata (shown on the asset page)."""
    schema = model.to_schema()
    unique = set(schema.unique or [])
    columns = []
    for name, col in schema.columns.items():
        rules = [f"{c.name} {c.statistics}" for c in col.checks]
        columns.append(
            TableColumn(
                name=name,
                type=col.dtype.type.simpleString(),
                description=col.description or None,
                constraints=TableColumnConstraints(nullable=col.nullable, unique=name in unique, other=rules),
            )
        )
    return TableSchema(columns=columns)
