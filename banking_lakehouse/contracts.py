"""Silver contracts: one pandera model per entity is the single definition of "valid".

The asset checks derive their completeness, uniqueness and validity rules from these models
(`contract_rules`), and the UI's column schema comes from them too (`column_schema`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pyspark.sql.types as T
from dagster import TableColumn, TableColumnConstraints, TableSchema
from pandera.pyspark import DataFrameModel, Field

from banking_lakehouse import reference as ref
from banking_lakehouse.reference import EMAIL_PATTERN, PHONE_PATTERN
from banking_lakehouse.sql import quoted

COUNTRIES = sorted(ref.COUNTRIES)
CURRENCIES = sorted(ref.USD_RATES)
ID = {"max_value": 64}  # longest identifier a source system may send
TEXT = {"max_value": 256}  # longest name, address, city or email


class _Lineage(DataFrameModel):
    source_file: T.StringType() = Field(description="delivered file the row came from")
    source_line: T.IntegerType() = Field(ge=1, description="1-based line of the row in that file")
    batch_date: T.DateType() = Field(description="load (delivery) date: the partition")


class _MasterData(_Lineage):
    updated_at: T.TimestampType() = Field(nullable=True, description="change time in the core system (null: a file)")
    deleted_at: T.TimestampType() = Field(nullable=True, description="soft-delete time in the core system")


class SilverCustomers(_MasterData):
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


class SilverAccounts(_MasterData):
    account_id: T.StringType() = Field(str_matches=r"^A[0-9]+$", str_length=ID)
    customer_id: T.StringType() = Field(str_length=ID)
    account_type: T.StringType() = Field(isin=list(ref.ACCOUNT_TYPES))
    currency: T.StringType() = Field(isin=CURRENCIES, description="ISO-4217")
    status: T.StringType() = Field(nullable=True, isin=list(ref.ACCOUNT_STATUSES))
    opened_date: T.DateType() = Field(nullable=True)

    class Config:
        unique = ["account_id"]


class SilverMerchants(_MasterData):
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


def _pattern(stats: dict) -> str:
    pattern = stats["pattern"]
    return getattr(pattern, "pattern", pattern)  # a compiled pattern or its text


Condition = tuple[str, dict[str, object]]  # DuckDB SQL and the values its `$parameters` bind


def _in_range(c: str, s: dict, p: str) -> Condition:
    low = ">=" if s.get("include_min", True) else ">"
    high = "<=" if s.get("include_max", True) else "<"
    return f"{c} {low} ${p}_min AND {c} {high} ${p}_max", {f"{p}_min": s["min_value"], f"{p}_max": s["max_value"]}


def _str_length(c: str, s: dict, p: str) -> Condition:
    if s.get("exact_value") is not None:
        return f"length({c}) = ${p}", {p: s["exact_value"]}
    bounds = {f"{p}_min": s.get("min_value") or 0, f"{p}_max": s.get("max_value") or 2**31 - 1}
    return f"length({c}) BETWEEN ${p}_min AND ${p}_max", bounds


def _compare(operator: str, statistic: str) -> Callable[[str, dict, str], Condition]:
    return lambda c, s, p: (f"{c} {operator} ${p}", {p: s[statistic]})


# Every built-in pandera check, as the DuckDB condition under which a non-null value `c` satisfies it, its
# values bound to parameters named from `p`. A pattern is RE2 here: its `$` is the end of the value only, as
# silver reads the patterns it shares with the contracts (`transforms.silver.matches`).
HOLDS: dict[str, Callable[[str, dict, str], Condition]] = {
    "isin": lambda c, s, p: (f"list_contains(${p}, {c})", {p: list(s["allowed_values"])}),
    "notin": lambda c, s, p: (f"NOT list_contains(${p}, {c})", {p: list(s["forbidden_values"])}),
    "equal_to": _compare("=", "value"),
    "not_equal_to": _compare("<>", "value"),
    "greater_than": _compare(">", "min_value"),
    "greater_than_or_equal_to": _compare(">=", "min_value"),
    "less_than": _compare("<", "max_value"),
    "less_than_or_equal_to": _compare("<=", "max_value"),
    "in_range": _in_range,
    "str_matches": lambda c, s, p: (f"regexp_matches({c}, ${p})", {p: _pattern(s)}),
    "str_contains": lambda c, s, p: (f"regexp_matches({c}, ${p})", {p: _pattern(s)}),
    "str_startswith": lambda c, s, p: (f"starts_with({c}, ${p})", {p: s["string"]}),
    "str_endswith": lambda c, s, p: (f"ends_with({c}, ${p})", {p: s["string"]}),
    "str_length": _str_length,
}


@dataclass(frozen=True)
class FieldRule:
    """One validity condition of a contract (a pandera Field check) on one column."""

    column: str
    check: str
    statistics: dict

    def failing(self, parameter: str) -> Condition:
        """DuckDB SQL true on a row breaking this rule (nulls are completeness' business), with the values
        of its parameters (named from `parameter`: unique within a query)."""
        c = quoted(self.column)
        holds, values = HOLDS[self.check](c, self.statistics, parameter)
        return f"({c} IS NOT NULL AND NOT ({holds}))", values


def contract_rules(model: type[DataFrameModel]) -> tuple[list[str], list[str], list[FieldRule]]:
    """(required columns, unique columns, validity rules) of a contract. A check the asset checks could
    not evaluate (a custom one) is refused here, so no rule of a contract is ever silently skipped."""
    schema = model.to_schema()
    required = [name for name, col in schema.columns.items() if not col.nullable]
    validity = [
        FieldRule(name, check.name, dict(check.statistics))
        for name, col in schema.columns.items()
        for check in col.checks
    ]
    unknown = sorted({f"{r.column}: {r.check}" for r in validity if r.check not in HOLDS})
    if unknown:
        raise ValueError(f"contract {model.__name__}: checks the asset checks cannot count: {', '.join(unknown)}")
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
