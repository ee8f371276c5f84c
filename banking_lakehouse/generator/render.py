"""The canonical delivered text of any rows of the day's transactions.

A row's text depends only on its position in the day's file order, so the day is written chunk by chunk
(memory bounded by the chunk, not the day) and a defect or a duplicate renders its few rows on their own,
with the same bytes as the whole day rendered at once. Per-row strings come from `take` on small
per-account / per-merchant arrays, never from Python objects per transaction.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from banking_lakehouse import reference as ref
from banking_lakehouse.entities import TRANSACTIONS
from banking_lakehouse.generator.config import GeneratorConfig
from banking_lakehouse.generator.master import Population
from banking_lakehouse.generator.transactions import Transactions

# Every delivered column is text: the raw zone keeps what the bank sent.
TRANSACTION_SCHEMA = pa.schema([(column, pa.string()) for column in TRANSACTIONS.columns])
SEQUENCE_DIGITS = 7


class TransactionRenderer:
    """Renders rows (positions in the day's time-ordered file) of one day's transactions as text."""

    def __init__(self, cfg: GeneratorConfig, pop: Population, tx: Transactions) -> None:
        self.tx = tx
        self._id_prefix = f"T{cfg.date:%Y%m%d}"
        self._account_customer = pop.account_customer
        self._account_ids = pa.array(pop.accounts["account_id"].to_numpy(), pa.string())
        self._customer_ids = pa.array(pop.customers["customer_id"].to_numpy(), pa.string())
        self._merchant_ids = pa.array(pop.merchants["merchant_id"].to_numpy(), pa.string())
        # A payment is in the currency of the merchant's country.
        currency = [ref.COUNTRIES[code][1] for code in pop.merchant_country]
        self._merchant_country = pa.array(pop.merchant_country, pa.string())
        self._merchant_currency = pa.array(currency, pa.string())
        self._merchant_usd_rate = np.array([ref.USD_RATES[c] for c in currency])

    def transaction_ids(self, rows: np.ndarray) -> pa.Array:
        """T<yyyymmdd><1-based position>: ids follow the file's time order."""
        seq = pc.utf8_lpad(pc.cast(pa.array(rows + 1, pa.int64()), pa.string()), SEQUENCE_DIGITS, "0")
        return pc.binary_join_element_wise(self._id_prefix, seq, "")

    def cents(self, rows: np.ndarray) -> np.ndarray:
        """Amounts in the merchant's currency, in cents (at least one)."""
        rate = self._merchant_usd_rate[self.tx.merchant[rows]]
        return np.maximum(np.round(self.tx.amount_usd[rows] / rate * 100).astype(np.int64), 1)

    def render(self, rows: np.ndarray) -> dict[str, pa.Array]:
        """Canonical text of every delivered column for the given rows (repeats allowed)."""
        tx = self.tx
        cents = self.cents(rows)
        whole = pc.cast(pa.array(cents // 100), pa.string())
        frac = pc.utf8_lpad(pc.cast(pa.array(cents % 100), pa.string()), 2, "0")
        # Naive seconds cast to text is ~20x faster than a tz-aware strftime; the values are UTC.
        ts_text = pc.replace_substring(
            pc.cast(pa.array(tx.ts[rows], pa.timestamp("s")), pa.string()), " ", "T", max_replacements=1
        )
        account = tx.account[rows]
        merchant = pa.array(tx.merchant[rows])
        return {
            "transaction_id": self.transaction_ids(rows),
            "account_id": self._account_ids.take(pa.array(account)),
            "customer_id": self._customer_ids.take(pa.array(self._account_customer[account])),
            "merchant_id": self._merchant_ids.take(merchant),
            "transaction_ts": pc.binary_join_element_wise(ts_text, "Z", ""),
            "amount": pc.binary_join_element_wise(whole, frac, "."),
            "currency": self._merchant_currency.take(merchant),
            "transaction_type": _vocabulary(ref.TRANSACTION_TYPES, tx.ttype[rows]),
            "channel": _vocabulary(ref.CHANNELS, tx.channel[rows]),
            "status": _vocabulary(ref.STATUSES, tx.status[rows]),
            "country": self._merchant_country.take(merchant),
        }


def _vocabulary(words: tuple[str, ...], codes: np.ndarray) -> pa.Array:
    return pa.array(words, pa.string()).take(pa.array(codes))
