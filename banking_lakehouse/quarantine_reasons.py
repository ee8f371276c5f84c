"""Every quarantine reason silver can give a delivered record: what it means, and a delivery that gets it.

The codes are what `transforms/records.py` (while reading) and `transforms/silver.py` (while classifying)
write into `quarantine.reason`; this catalogue is what docs/quality.md shows. Each example is a real
delivery: the tests read it through the same reader and silver rules and get exactly its code, so the
documentation cannot claim a reason the code does not give.
"""

from __future__ import annotations

from dataclasses import dataclass

from banking_lakehouse.entities import CUSTOMERS, TRANSACTIONS, Entity

# A valid record of each example entity; an example changes one thing in it.
TRANSACTION = b"T1,A1,C1,M1,2024-12-02T10:00:00Z,12.50,USD,purchase,pos,completed,US"
CUSTOMER = b"C1,Ada,Lovelace,ada@example.com,+44 20 7946 0000,1 Main St,London,GB,retail,low,2024-01-15"


def _transaction(**fields: bytes) -> bytes:
    values = dict(zip(TRANSACTIONS.columns, TRANSACTION.split(b","), strict=True)) | fields
    return b",".join(values.values())


def _customer(**fields: bytes) -> bytes:
    values = dict(zip(CUSTOMERS.columns, CUSTOMER.split(b","), strict=True)) | fields
    return b",".join(values.values())


@dataclass(frozen=True)
class Reason:
    """One quarantine code; `example` holds the records (after the header) of a delivered `entity` file in
    which every quarantined record gets this code."""

    code: str
    meaning: str
    entity: Entity
    example: tuple[bytes, ...]


REASONS: tuple[Reason, ...] = (
    Reason(
        "invalid_encoding",
        "bytes that are not valid in the declared encoding (UTF-8 unless BANKING_LANDING_ENCODING says otherwise); "
        "the record's bytes are kept exactly in `raw_bytes`",
        TRANSACTIONS,
        (_transaction(country=b"\xff\xfe"),),
    ),
    Reason(
        "invalid_character",
        "NUL or another control character (tab and line breaks inside quoted fields are data)",
        TRANSACTIONS,
        (_transaction(merchant_id=b"M\x001"),),
    ),
    Reason(
        "malformed_record",
        "a record that does not split into the header's fields, or a JSON line that is not an object",
        TRANSACTIONS,
        (b"T1,A1,C1",),
    ),
    Reason(
        "field_too_long",
        "a field longer than its contract allows (ids 64 characters; names, emails, addresses, cities 256)",
        TRANSACTIONS,
        (_transaction(transaction_id=b"T" + b"0" * 64),),
    ),
    Reason(
        "exact_duplicate",
        "a byte-identical second copy of a record: removed (kept in quarantine), the first copy stays in silver",
        TRANSACTIONS,
        (TRANSACTION, TRANSACTION),
    ),
    Reason(
        "missing_required",
        "a required field is empty (the entity's required columns, see docs/landing.md)",
        TRANSACTIONS,
        (_transaction(account_id=b""),),
    ),
    Reason(
        "conflicting_duplicate",
        "one transaction id delivered with different contents: every copy is quarantined (which is right is unknown)",
        TRANSACTIONS,
        (TRANSACTION, _transaction(amount=b"13.50")),
    ),
    Reason(
        "invalid_amount",
        "an amount that is not a number with at most two decimals and 16 integer digits, or beyond decimal(18,2) "
        "in USD",
        TRANSACTIONS,
        (_transaction(amount=b"N/A"), _transaction(transaction_id=b"T2", amount=b"12.5O")),
    ),
    Reason(
        "non_positive_amount",
        "an amount of zero or below",
        TRANSACTIONS,
        (_transaction(amount=b"-20.00"),),
    ),
    Reason(
        "invalid_timestamp",
        "a timestamp in none of the accepted forms, or not a real moment",
        TRANSACTIONS,
        (_transaction(transaction_ts=b"2024-13-45T25:61:00Z"),),
    ),
    Reason(
        "invalid_currency",
        "a currency that is not one of the ISO-4217 codes the rates table knows (any case is accepted)",
        TRANSACTIONS,
        (_transaction(currency=b"XYZ"),),
    ),
    Reason(
        "invalid_country",
        "a country that is neither an alpha-2 code nor a known name",
        TRANSACTIONS,
        (_transaction(country=b"Atlantis"),),
    ),
    Reason(
        "invalid_category",
        "a transaction type, channel or status outside its vocabulary (case and spaces are forgiven)",
        TRANSACTIONS,
        (_transaction(channel=b"telepathy"),),
    ),
    Reason(
        "duplicate_id",
        "a master-data id delivered again in the same file: the first copy wins",
        CUSTOMERS,
        (CUSTOMER, _customer(first_name=b"Augusta")),
    ),
    Reason(
        "invalid_email",
        "a customer email that is not an address",
        CUSTOMERS,
        (_customer(email=b"ada-at-example.com"),),
    ),
    Reason(
        "invalid_phone",
        "a customer phone number that is not one",
        CUSTOMERS,
        (_customer(phone=b"call me"),),
    ),
    Reason(
        "invalid_date",
        "a master-data date (join or opening date) that is not a real YYYY-MM-DD date",
        CUSTOMERS,
        (_customer(join_date=b"2024-02-30"),),
    ),
)
