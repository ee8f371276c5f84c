"""Each account's habits, stable across the days of a seed: how active it is, which channels it uses and
where it shops abroad. Fraud is a departure from them, so they must not change from one day to the next.

Drawn from their own random stream of the seed (never the date), so the master files stay what they were.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from banking_lakehouse import reference as ref
from banking_lakehouse.generator.config import GeneratorConfig
from banking_lakehouse.generator.master import COUNTRY_CODES, COUNTRY_SHARES, Population

CHANNEL_P = np.array([0.33, 0.37, 0.15, 0.10, 0.05])  # online, pos, mobile, atm, branch (ref.CHANNELS order)
CH_ONLINE, CH_POS, CH_MOBILE, CH_ATM, CH_BRANCH = (
    ref.CHANNELS.index(c) for c in ("online", "pos", "mobile", "atm", "branch")
)
# Integer weights, so an account's channel is drawn exactly (no float cumulative that misses its last channel).
CHANNEL_WEIGHTS = np.round(CHANNEL_P * 100).astype(np.int64)
# How many of the 5 channels an account uses: most use 2-4.
HABIT_SIZE_P = np.array([0.05, 0.30, 0.40, 0.20, 0.05])


@dataclass(frozen=True)
class AccountHabits:
    """Per account (aligned with the population's accounts)."""

    activity: np.ndarray  # relative share of the day's organic rows; 0 for dormant and closed accounts
    channels: np.ndarray  # bool (accounts, channels): the channels it uses
    foreign_country: np.ndarray  # index in ref.COUNTRIES of where its remote purchases abroad go (never home)
    home_country: np.ndarray  # index in ref.COUNTRIES of its customer's country

    @property
    def active(self) -> np.ndarray:
        return self.activity > 0

    @cached_property
    def regular(self) -> np.ndarray:
        """Active accounts in the busier half: they have history on earlier days, so a pattern on them stands
        out against their own habits."""
        return self.activity >= np.median(self.activity[self.active])

    def draw_channels(self, rng: np.random.Generator, account: np.ndarray) -> np.ndarray:
        """One channel per row, among the row's account's channels, weighted by CHANNEL_P renormalised over them:
        inverse CDF over each account's cumulative channel weights (integers, so exact)."""
        cumulative = np.cumsum(self.channels * CHANNEL_WEIGHTS, axis=1).astype(np.int32)[account]
        pick = rng.integers(0, cumulative[:, -1], dtype=np.int32)
        return (pick[:, None] >= cumulative).sum(axis=1)


def build_habits(cfg: GeneratorConfig, pop: Population) -> AccountHabits:
    """Deterministic in (seed, rows), like the population."""
    rng = np.random.default_rng([cfg.seed, 6])
    n_acc = len(pop.account_customer)
    active = pop.accounts["status"].to_numpy() == "active"
    activity = np.where(active, rng.gamma(3.0, 1.0, n_acc), 0.0)

    # Weighted sampling without replacement, all accounts at once: the k largest keys u^(1/w) (Efraimidis-Spirakis).
    keys = rng.random((n_acc, len(ref.CHANNELS))) ** (1.0 / CHANNEL_P)
    rank = np.argsort(np.argsort(-keys, axis=1), axis=1)
    size = rng.choice(np.arange(1, len(ref.CHANNELS) + 1), n_acc, p=HABIT_SIZE_P)
    channels = rank < size[:, None]

    home = pd.Categorical(pop.customers["country"].to_numpy(), categories=list(COUNTRY_CODES)).codes
    home = home[pop.account_customer].astype(np.int64)
    foreign = np.empty(n_acc, dtype=np.int64)
    for i in range(len(COUNTRY_CODES)):
        here = home == i
        shares = COUNTRY_SHARES.copy()
        shares[i] = 0.0
        foreign[here] = rng.choice(len(COUNTRY_CODES), here.sum(), p=shares / shares.sum())
    return AccountHabits(activity=activity, channels=channels, foreign_country=foreign, home_country=home)
