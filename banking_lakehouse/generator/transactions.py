"""The day's clean transaction volume, fully vectorised with numpy."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from banking_lakehouse import reference as ref
from banking_lakehouse.generator.config import GeneratorConfig
from banking_lakehouse.generator.habits import CH_ATM, CH_BRANCH, CH_MOBILE, CH_ONLINE, CH_POS, AccountHabits
from banking_lakehouse.generator.master import (
    ATM_CATEGORY,
    CATEGORY_RISK,
    CATEGORY_TICKET,
    PHYSICAL_CATEGORIES,
    Population,
)

TT_PURCHASE, TT_WITHDRAWAL, TT_TRANSFER, TT_PAYMENT, TT_REFUND, TT_DEPOSIT, TT_TRANSFER_IN = (
    ref.TRANSACTION_TYPES.index(t)
    for t in ("purchase", "withdrawal", "transfer", "payment", "refund", "deposit", "transfer_in")
)
# Organic transaction types per channel. Credits, about 7 % of
# the day: refunds, cash paid in (deposit) and transfers received (transfer_in).
ORGANIC_TYPES: dict[int, tuple[list[int], list[float]]] = {
    CH_POS: ([TT_PURCHASE, TT_REFUND], [0.98, 0.02]),
    CH_ATM: ([TT_WITHDRAWAL, TT_DEPOSIT], [0.85, 0.15]),
    CH_BRANCH: ([TT_TRANSFER, TT_PAYMENT, TT_DEPOSIT, TT_TRANSFER_IN], [0.35, 0.30, 0.20, 0.15]),
    **{
        ch: ([TT_PURCHASE, TT_PAYMENT, TT_TRANSFER, TT_REFUND, TT_TRANSFER_IN], [0.66, 0.2, 0.07, 0.02, 0.05])
        for ch in (CH_ONLINE, CH_MOBILE)
    },
}
STATUS_P = np.array([0.94, 0.03, 0.02, 0.01])
# Share of the day's traffic per UTC hour: quiet nights, lunch and evening peaks.
HOUR_WEIGHTS = np.array([2, 1, 1, 1, 1, 2, 4, 6, 8, 9, 9, 10, 11, 10, 9, 9, 9, 10, 11, 10, 8, 6, 4, 3], dtype=float)
HOUR_WEIGHTS /= HOUR_WEIGHTS.sum()
NIGHT_END_SECONDS = 5 * 3600
# Weekend days carry larger baskets; Monday the smallest (weekly seasonality of amounts).
WEEKDAY_AMOUNT = np.array([0.92, 0.96, 0.98, 1.0, 1.05, 1.12, 1.08])
TYPICAL_TICKET_USD = 40.0  # a customer's median ticket before its own scale, the category and the weekday
HIGH_RISK = np.array([r == "high" for r in CATEGORY_RISK])
CATEGORY_FACTOR = (CATEGORY_TICKET / 60.0) ** 0.3


@dataclass
class Transactions:
    """Column arrays of the day's transactions (indices into the population's tables)."""

    account: np.ndarray
    merchant: np.ndarray
    channel: np.ndarray
    ttype: np.ndarray
    status: np.ndarray
    amount_usd: np.ndarray
    ts: np.ndarray  # epoch seconds, UTC

    def reorder(self, order: np.ndarray) -> None:
        """Puts the rows in the given order, one column at a time (one column's copy alive, not the day's)."""
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name)[order])


def day_start_epoch(date: dt.date) -> int:
    return int(dt.datetime(date.year, date.month, date.day, tzinfo=dt.UTC).timestamp())


def merchant_pools(pop: Population) -> dict[tuple[str, str], np.ndarray]:
    """Merchants by (country, kind): kind is 'atm', 'physical', 'remote' or 'low_risk' (low-risk, no cash machines)."""
    pools: dict[tuple[str, str], np.ndarray] = {}
    physical = np.isin(pop.merchant_category, sorted(PHYSICAL_CATEGORIES))
    not_atm = pop.merchant_category != ATM_CATEGORY
    low_risk = CATEGORY_RISK[pop.merchant_category] == "low"
    for code in ref.COUNTRIES:
        here = pop.merchant_country == code
        pools[(code, "atm")] = np.flatnonzero(here & ~not_atm)
        pools[(code, "physical")] = np.flatnonzero(here & physical)
        pools[(code, "remote")] = np.flatnonzero(here & not_atm)
        pools[(code, "low_risk")] = np.flatnonzero(here & not_atm & low_risk)
    return pools


def draw_amount_usd(
    rng: np.random.Generator, pop: Population, account: np.ndarray, merchant: np.ndarray, weekday: int
) -> np.ndarray:
    """Log-normal around the customer's typical ticket, nudged by category and weekday."""
    customer = pop.account_customer[account]
    median = (
        TYPICAL_TICKET_USD
        * pop.customer_scale[customer]
        * CATEGORY_FACTOR[pop.merchant_category[merchant]]
        * WEEKDAY_AMOUNT[weekday]
    )
    return np.maximum(np.round(median * rng.lognormal(0.0, 0.45, len(account)), 2), 0.5)


def build_transactions(cfg: GeneratorConfig, pop: Population, habits: AccountHabits, n: int) -> Transactions:
    """The day's organic rows: each account as active as its habits say, on its own channels and countries."""
    rng = np.random.default_rng([cfg.seed, cfg.date.toordinal(), 3])
    account = rng.choice(len(pop.account_customer), n, p=habits.activity / habits.activity.sum())
    home = habits.home_country[account]
    channel = habits.draw_channels(rng, account)

    remote = np.isin(channel, [CH_ONLINE, CH_MOBILE])
    ttype = np.full(n, TT_PURCHASE)
    for on_channel, (types, p) in ORGANIC_TYPES.items():
        rows = channel == on_channel
        ttype[rows] = rng.choice(types, rows.sum(), p=p)

    pools = merchant_pools(pop)
    merchant = np.empty(n, dtype=np.int64)
    remote_abroad = remote & (rng.random(n) < 0.12) & (ttype != TT_TRANSFER_IN)
    rows_of_kind = {
        # Cash goes in and out at the bank's own cash machines, also when paid in at a branch.
        "atm": (channel == CH_ATM) | (ttype == TT_DEPOSIT),
        "physical": np.isin(channel, [CH_POS, CH_BRANCH]) & (ttype != TT_DEPOSIT),
        "remote": remote & ~remote_abroad,
    }
    for i, code in enumerate(ref.COUNTRIES):
        at_home = home == i
        for kind, of_kind in rows_of_kind.items():
            mask = at_home & of_kind
            pool = pools[(code, kind)]
            merchant[mask] = pool[rng.integers(0, len(pool), mask.sum())]
    # Remote purchases abroad go to the account's one foreign country.
    remote_pools = [pools[(code, "remote")] for code in ref.COUNTRIES]
    pool_size = np.array([len(pool) for pool in remote_pools])
    where = habits.foreign_country[account[remote_abroad]]
    # One draw per row with that row's pool size as bound: the same stream as a draw per row in a loop.
    pick = rng.integers(0, pool_size[where])
    merchant[remote_abroad] = np.concatenate(remote_pools)[np.cumsum(pool_size)[where] - pool_size[where] + pick]

    hour = rng.choice(24, n, p=HOUR_WEIGHTS)
    seconds = hour * 3600 + rng.integers(0, 3600, n)
    # High-risk merchants see no organic night traffic: night activity there is the fraud signal.
    night_risky = HIGH_RISK[pop.merchant_category[merchant]] & (seconds < NIGHT_END_SECONDS)
    seconds[night_risky] += 8 * 3600
    ts = day_start_epoch(cfg.date) + seconds

    return Transactions(
        account=account,
        merchant=merchant,
        channel=channel,
        ttype=ttype,
        status=rng.choice(4, n, p=STATUS_P),
        amount_usd=draw_amount_usd(rng, pop, account, merchant, cfg.date.weekday()),
        ts=ts,
    )
