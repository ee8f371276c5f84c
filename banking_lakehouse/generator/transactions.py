"""The day's clean transaction volume, fully vectorised with numpy."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from banking_lakehouse import reference as ref
from banking_lakehouse.generator.config import GeneratorConfig
from banking_lakehouse.generator.master import (
    ATM_CATEGORY,
    CATEGORY_RISK,
    CATEGORY_TICKET,
    PHYSICAL_CATEGORIES,
    Population,
)

CHANNEL_P = np.array([0.33, 0.37, 0.15, 0.10, 0.05])  # online, pos, mobile, atm, branch
CH_ONLINE, CH_POS, CH_MOBILE, CH_ATM, CH_BRANCH = range(5)
TT_PURCHASE, TT_WITHDRAWAL, TT_TRANSFER, TT_PAYMENT, TT_REFUND = range(5)
STATUS_P = np.array([0.94, 0.03, 0.02, 0.01])
# Share of the day's traffic per UTC hour: quiet nights, lunch and evening peaks.
HOUR_WEIGHTS = np.array([2, 1, 1, 1, 1, 2, 4, 6, 8, 9, 9, 10, 11, 10, 9, 9, 9, 10, 11, 10, 8, 6, 4, 3], dtype=float)
HOUR_WEIGHTS /= HOUR_WEIGHTS.sum()
NIGHT_END_SECONDS = 5 * 3600
# Weekend days carry larger baskets; Monday the smallest (weekly seasonality of amounts).
WEEKDAY_AMOUNT = np.array([0.92, 0.96, 0.98, 1.0, 1.05, 1.12, 1.08])
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
    """Merchants by (country, kind): kind is 'atm', 'physical' or 'remote'."""
    pools: dict[tuple[str, str], np.ndarray] = {}
    for code in ref.COUNTRIES:
        here = pop.merchant_country == code
        pools[(code, "atm")] = np.flatnonzero(here & (pop.merchant_category == ATM_CATEGORY))
        physical = np.isin(pop.merchant_category, sorted(PHYSICAL_CATEGORIES))
        pools[(code, "physical")] = np.flatnonzero(here & physical)
        pools[(code, "remote")] = np.flatnonzero(here & (pop.merchant_category != ATM_CATEGORY))
    return pools


def _home_country_index(pop: Population) -> np.ndarray:
    """Each account's home country as its index in ref.COUNTRIES: small integers, not strings, per row."""
    codes = pd.Categorical(pop.customers["country"].to_numpy(), categories=list(ref.COUNTRIES)).codes
    return codes[pop.account_customer]


def draw_amount_usd(
    rng: np.random.Generator, pop: Population, account: np.ndarray, merchant: np.ndarray, weekday: int
) -> np.ndarray:
    """Log-normal around the customer's typical ticket, nudged by category and weekday."""
    customer = pop.account_customer[account]
    median = (
        40.0 * pop.customer_scale[customer] * CATEGORY_FACTOR[pop.merchant_category[merchant]] * WEEKDAY_AMOUNT[weekday]
    )
    return np.maximum(np.round(median * rng.lognormal(0.0, 0.45, len(account)), 2), 0.5)


def build_transactions(cfg: GeneratorConfig, pop: Population, n: int) -> Transactions:
    rng = np.random.default_rng([cfg.seed, cfg.date.toordinal(), 3])
    n_acc = len(pop.account_customer)
    activity = rng.gamma(3.0, 1.0, n_acc)
    account = rng.choice(n_acc, n, p=activity / activity.sum())
    home = _home_country_index(pop)[account]
    channel = rng.choice(5, n, p=CHANNEL_P)

    pools = merchant_pools(pop)
    merchant = np.empty(n, dtype=np.int64)
    remote_abroad = rng.random(n) < 0.12
    remote = np.isin(channel, [CH_ONLINE, CH_MOBILE])
    rows_of_kind = {
        "atm": channel == CH_ATM,
        "physical": np.isin(channel, [CH_POS, CH_BRANCH]),
        "remote": remote & ~remote_abroad,
    }
    for i, code in enumerate(ref.COUNTRIES):
        at_home = home == i
        for kind, on_channel in rows_of_kind.items():
            mask = at_home & on_channel
            pool = pools[(code, kind)]
            merchant[mask] = pool[rng.integers(0, len(pool), mask.sum())]
    abroad = remote & remote_abroad
    remote_pools = [pools[(code, "remote")] for code in ref.COUNTRIES]
    pool_size = np.array([len(pool) for pool in remote_pools])
    where = rng.integers(0, len(remote_pools), abroad.sum())
    # One draw per row with that row's pool size as bound: the same stream as a draw per row in a loop.
    pick = rng.integers(0, pool_size[where])
    merchant[abroad] = np.concatenate(remote_pools)[np.cumsum(pool_size)[where] - pool_size[where] + pick]

    ttype = np.full(n, TT_PURCHASE)
    ttype[channel == CH_ATM] = TT_WITHDRAWAL
    branch = channel == CH_BRANCH
    ttype[branch] = rng.choice([TT_TRANSFER, TT_PAYMENT], branch.sum())
    ttype[remote] = rng.choice(
        [TT_PURCHASE, TT_PAYMENT, TT_TRANSFER, TT_REFUND], remote.sum(), p=[0.7, 0.2, 0.08, 0.02]
    )
    pos = channel == CH_POS
    ttype[pos] = rng.choice([TT_PURCHASE, TT_REFUND], pos.sum(), p=[0.98, 0.02])

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
