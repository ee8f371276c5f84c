"""The delivery contract: which entities a day's drop holds, in which file, with which columns.

Declared once here; the generator writes these files, the landing zone checks for them, the raw
reader maps their headers, and the raw, silver, quarantine and warehouse assets are built per entity.
What a *valid* row of each entity is lives in `contracts` (the silver pandera models).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Entity:
    """One delivered entity: its file in a drop and the columns its header carries."""

    name: str
    file: str
    columns: tuple[str, ...]  # in the order the generator writes them; a delivery may reorder them
    required: tuple[str, ...]  # columns a delivered header cannot lack (the file fails without them)
    id_column: str

    @property
    def format(self) -> str:
        """How the file is written and read: csv, or json (JSON lines)."""
        return "csv" if self.file.endswith(".csv") else "json"

    @property
    def is_master(self) -> bool:
        return self.name != "transactions"


CUSTOMERS = Entity(
    "customers",
    "customers.csv",
    (
        "customer_id",
        "first_name",
        "last_name",
        "email",
        "phone",
        "address",
        "city",
        "country",
        "segment",
        "risk_rating",
        "join_date",
    ),
    ("customer_id", "first_name", "last_name", "email"),
    "customer_id",
)
ACCOUNTS = Entity(
    "accounts",
    "accounts.csv",
    ("account_id", "customer_id", "account_type", "currency", "status", "opened_date"),
    ("account_id", "customer_id", "account_type", "currency"),
    "account_id",
)
MERCHANTS = Entity(
    "merchants",
    "merchants.json",
    ("merchant_id", "name", "mcc", "category", "city", "country", "risk_level"),
    ("merchant_id", "name", "mcc"),
    "merchant_id",
)
TRANSACTIONS = Entity(
    "transactions",
    "transactions.csv",
    (
        "transaction_id",
        "account_id",
        "customer_id",
        "merchant_id",
        "transaction_ts",
        "amount",
        "currency",
        "transaction_type",
        "channel",
        "status",
        "country",
    ),
    ("transaction_id", "account_id", "customer_id", "merchant_id", "amount", "transaction_ts"),
    "transaction_id",
)

# Master data first: transactions are checked against the same day's master data.
ENTITIES: dict[str, Entity] = {e.name: e for e in (CUSTOMERS, ACCOUNTS, MERCHANTS, TRANSACTIONS)}
MASTER_ENTITIES: tuple[str, ...] = tuple(name for name, e in ENTITIES.items() if e.is_master)
# A master record extracted from the core system also carries its change time and soft-delete time
# (timestamps, UTC; deleted_at null unless deleted). A delivered file has neither: silver leaves them null.
CHANGE_COLUMNS: tuple[str, ...] = ("updated_at", "deleted_at")
