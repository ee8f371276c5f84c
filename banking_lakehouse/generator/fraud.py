"""Fraud injection (patterns of docs/fraud.md): overwrite chosen rows with each pattern's shape; remember their rows.

Every burst (and every reported pattern's row) is on an account of its own: a regular one (active, in the busier
half, so it has history on earlier days), on channels it habitually uses (the takeover's new channel aside), and
no other pattern's row lands on it. The reported patterns happen in business hours, completed, at low-risk
merchants, under the large amount and never ten rows in an hour, so none of them also fits an older pattern.
"""

from __future__ import annotations

import numpy as np

from banking_lakehouse import reference as ref
from banking_lakehouse.fraud_patterns import (
    DORMANT_DAYS,
    DORMANT_OUTFLOW_USD,
    LARGE_AMOUNT_USD,
    PASS_THROUGH_MIN_USD,
    PASS_THROUGH_SECONDS,
    PASS_THROUGH_SHARE,
    REPORTING_THRESHOLD_USD,
    ROUND_BURST_MIN,
    ROUND_BURST_SECONDS,
    ROUND_MIN_AMOUNT,
    ROUND_UNIT,
    STRUCTURING_FLOOR_SHARE,
    STRUCTURING_MIN,
    TAKEOVER_MIN_USD,
    TAKEOVER_MULTIPLE,
    VELOCITY_MIN,
    VELOCITY_SECONDS,
)
from banking_lakehouse.generator.config import CARD_TESTING_BURST, VELOCITY_BURST, GeneratorConfig
from banking_lakehouse.generator.habits import CH_ATM, CH_BRANCH, CH_MOBILE, CH_ONLINE, CH_POS, AccountHabits
from banking_lakehouse.generator.master import CATEGORY_RISK, Population
from banking_lakehouse.generator.transactions import (
    NIGHT_END_SECONDS,
    TT_DEPOSIT,
    TT_PURCHASE,
    TT_TRANSFER,
    TT_TRANSFER_IN,
    TT_WITHDRAWAL,
    TYPICAL_TICKET_USD,
    Transactions,
    day_start_epoch,
    merchant_pools,
)

BUSINESS_HOURS = (6 * 3_600, 23 * 3_600)  # seconds of the day the reported patterns happen in
COMPLETED = ref.STATUSES.index("completed")
STRUCTURING_BAND_USD = (STRUCTURING_FLOOR_SHARE * REPORTING_THRESHOLD_USD, REPORTING_THRESHOLD_USD)
# (transaction type, channel) each reported pattern's rows may take; a row takes one its account uses.
CASH_IN = ((TT_DEPOSIT, CH_ATM), (TT_DEPOSIT, CH_BRANCH))
MONEY_IN = (*CASH_IN, *((TT_TRANSFER_IN, ch) for ch in (CH_ONLINE, CH_MOBILE, CH_BRANCH)))
MONEY_OUT = tuple((TT_TRANSFER, ch) for ch in (CH_ONLINE, CH_MOBILE, CH_BRANCH))
ROUND_OUT = ((TT_TRANSFER, CH_ONLINE), (TT_TRANSFER, CH_MOBILE))
DORMANT_OUT = ((TT_WITHDRAWAL, CH_ATM), (TT_WITHDRAWAL, CH_BRANCH), (TT_TRANSFER, CH_ONLINE), (TT_TRANSFER, CH_BRANCH))
REMOTE_CHANNELS = (CH_ONLINE, CH_MOBILE)
# The least days between two takeovers of one account: by then the first one's channel and country have
# left the account's recent window (`fraud_history.MEDIAN_WINDOW` transactions), so the second is new again.
TAKEOVER_CYCLE_DAYS = 60


def _burst_sizes(rng: np.random.Generator, rows: int, smallest: int) -> np.ndarray:
    """Bursts of smallest..smallest+2 rows, about `rows` in all (at least one burst)."""
    return rng.integers(smallest, smallest + 3, max(1, int(round(rows / (smallest + 1)))))


def _uses_any(habits: AccountHabits, options: tuple[tuple[int, int], ...]) -> np.ndarray:
    return habits.channels[:, sorted({ch for _t, ch in options})].any(axis=1)


def accounts_of_the_day(
    cfg: GeneratorConfig, eligible: np.ndarray, per_day: int, min_days: int, stream: int
) -> np.ndarray:
    """Accounts a pattern that changes an account's history takes on cfg.date: a walk along a seed-fixed
    permutation of the eligible accounts, a stretch of it per day, so no account is taken twice within
    `min_days` (a reactivated account is no longer dormant; a taken-over one has used its new channel).

    Day d (its ordinal) takes the positions [d*D//C, (d+1)*D//C) (mod D) of the D accounts, so the walk
    repeats every C days exactly and each account is taken once every C days, the cycle length
    C = max(min_days, ceil(D / per_day)). Where D < per_day * min_days that is fewer than per_day a day,
    D/C on average, some days none where D < C.
    """
    walk = np.random.default_rng([cfg.seed, stream]).permutation(np.flatnonzero(eligible))
    d = len(walk)
    if d == 0:
        return walk
    cycle = max(min_days, -(-d // per_day))
    day = cfg.date.toordinal()
    return walk[np.arange(day * d // cycle, (day + 1) * d // cycle) % d]


class _Injection:
    """The day's injection: its random stream, the accounts taken so far and the labelled rows."""

    def __init__(self, cfg: GeneratorConfig, pop: Population, habits: AccountHabits, tx: Transactions) -> None:
        self.rng = np.random.default_rng([cfg.seed, cfg.date.toordinal(), 4])
        self.habits, self.tx = habits, tx
        self.day0 = day_start_epoch(cfg.date)
        self.pools = merchant_pools(pop)
        self.typical = TYPICAL_TICKET_USD * pop.customer_scale[pop.account_customer]  # per account
        self.taken = np.zeros(len(pop.account_customer), dtype=bool)
        self.labels: dict[str, list[int]] = {p: [] for p in cfg.fraud_per_100k}
        self.touched: list[int] = []

    def claim(self, accounts: np.ndarray) -> np.ndarray:
        """Marks accounts chosen elsewhere as taken."""
        self.taken[accounts] = True
        return accounts

    def accounts(self, k: int, uses: np.ndarray) -> np.ndarray:
        """k regular accounts with the given habit, none taken before."""
        chosen = self.rng.choice(np.flatnonzero(self.habits.regular & uses & ~self.taken), k, replace=False)
        self.taken[chosen] = True
        return chosen

    def release_rows(self, need: int) -> None:
        """Draws the rows the bursts overwrite, none of a taken account's (those stay its organic history)."""
        mine = np.flatnonzero(self.taken[self.tx.account])
        mine = mine[np.argsort(self.tx.account[mine], kind="stable")]
        self._history_accounts, self._history_ts = self.tx.account[mine], self.tx.ts[mine]
        self._free = iter(self.rng.choice(np.flatnonzero(~self.taken[self.tx.account]), need, replace=False))

    def take(self, k: int) -> np.ndarray:
        return np.array([next(self._free) for _ in range(k)], dtype=np.int64)

    def _organic_ts(self, account: int) -> np.ndarray:
        """The times of a taken account's own organic rows."""
        lo, hi = np.searchsorted(self._history_accounts, [account, account + 1])
        return self._history_ts[lo:hi]

    def business_times(self, account: int, k: int, span: int) -> np.ndarray:
        """k distinct seconds within `span` in business hours, where the account stays under the velocity
        pattern (fewer than VELOCITY_MIN rows in any VELOCITY_SECONDS) with its organic rows."""
        organic = self._organic_ts(account)
        for _attempt in range(1_000):  # a busy hour is rare: the first attempt nearly always fits
            start = self.day0 + int(self.rng.integers(BUSINESS_HOURS[0], BUSINESS_HOURS[1] - span + 1))
            times = start + np.sort(self.rng.choice(span, k, replace=False))
            every = np.sort(np.concatenate([organic, times]))
            in_window = np.searchsorted(every, every + VELOCITY_SECONDS, side="right") - np.arange(len(every))
            if in_window.max() < VELOCITY_MIN:
                return times
        raise RuntimeError(f"no quiet {span} s in business hours for {k} rows of account row {account}")

    def quiet_start(self, account: int, span: int, margin: int) -> int:
        """A start in the day for `span` seconds of a burst with none of the account's organic rows within
        `margin` of it: a windowed rule then fires on the burst's rows only."""
        organic = self._organic_ts(account)
        for _attempt in range(1_000):  # an account has a few rows a day: the first attempts nearly always fit
            start = self.day0 + int(self.rng.integers(0, 86_400 - span))
            if not ((organic >= start - margin) & (organic <= start + span + margin)).any():
                return start
        raise RuntimeError(f"no quiet {span} s in the day for a burst of account row {account}")

    def habitual(self, account: int, options: tuple[tuple[int, int], ...], k: int) -> tuple[np.ndarray, np.ndarray]:
        """k (type, channel) among the options whose channel the account uses."""
        usable = np.array([o for o in options if self.habits.channels[account, o[1]]])
        chosen = usable[self.rng.integers(0, len(usable), k)]
        return chosen[:, 0], chosen[:, 1]

    def merchants(self, country: int, ttype: np.ndarray) -> np.ndarray:
        """Low-risk merchants of the country: the bank's cash machines for cash, shops and services otherwise."""
        code = list(ref.COUNTRIES)[country]
        cash = np.isin(ttype, [TT_DEPOSIT, TT_WITHDRAWAL])
        out = np.empty(len(ttype), dtype=np.int64)
        for kind, rows in (("atm", cash), ("low_risk", ~cash)):
            pool = self.pools[(code, kind)]
            out[rows] = pool[self.rng.integers(0, len(pool), rows.sum())]
        return out

    def write(
        self,
        pattern: str,
        rows: np.ndarray,
        account: int,
        ttype: np.ndarray,
        channel: np.ndarray,
        merchant: np.ndarray,
        amount_usd: np.ndarray,
        ts: np.ndarray,
    ) -> None:
        """Overwrites the rows with a reported pattern's completed transactions, and labels them."""
        tx = self.tx
        tx.account[rows], tx.ttype[rows], tx.channel[rows], tx.merchant[rows] = account, ttype, channel, merchant
        tx.amount_usd[rows], tx.ts[rows], tx.status[rows] = amount_usd, ts, COMPLETED
        self.labels[pattern] += rows.tolist()


def inject_fraud(
    cfg: GeneratorConfig, pop: Population, habits: AccountHabits, tx: Transactions
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Returns fraud rows per pattern, and every row the injection touched (kept free of defects)."""
    inj = _Injection(cfg, pop, habits, tx)
    rng, ch, home = inj.rng, habits.channels, habits.home_country
    scale = cfg.rows / 100_000
    wanted = {p: max(1, int(round(r * scale))) for p, r in cfg.fraud_per_100k.items()}

    # Every burst's account first, so the rows drawn afterwards are never one of theirs; the walks first of
    # all, so their accounts do not depend on the other patterns' draws.
    dormant = (pop.accounts["status"].to_numpy() == "dormant") & _uses_any(habits, DORMANT_OUT)
    dormant_accounts = inj.claim(
        accounts_of_the_day(cfg, dormant, wanted["dormant_reactivation"], DORMANT_DAYS + 1, stream=7)
    )
    takeover_accounts = inj.claim(
        accounts_of_the_day(
            cfg,
            habits.regular & ~(ch[:, CH_ONLINE] & ch[:, CH_MOBILE]),
            wanted["account_takeover"],
            TAKEOVER_CYCLE_DAYS,
            stream=8,
        )
    )
    card_accounts = inj.accounts(max(1, wanted["card_testing"] // CARD_TESTING_BURST), ch[:, CH_ONLINE])
    velocity_accounts = inj.accounts(max(1, wanted["velocity"] // VELOCITY_BURST), ch[:, CH_ONLINE])
    travel_accounts = inj.accounts(wanted["impossible_travel"], ch[:, CH_POS])
    structuring = _burst_sizes(rng, wanted["structuring"], STRUCTURING_MIN)
    structuring_accounts = inj.accounts(len(structuring), _uses_any(habits, MONEY_IN))
    rounds = _burst_sizes(rng, wanted["round_amount_burst"], ROUND_BURST_MIN)
    round_accounts = inj.accounts(len(rounds), _uses_any(habits, ROUND_OUT))
    pass_accounts = inj.accounts(max(1, int(round(wanted["rapid_pass_through"] / 2))), _uses_any(habits, MONEY_OUT))
    inj.release_rows(
        wanted["large_amount"]
        + len(card_accounts) * CARD_TESTING_BURST
        + len(velocity_accounts) * VELOCITY_BURST
        + 2 * len(travel_accounts)
        + wanted["risky_merchant_night"]
        + wanted["spending_spike"]
        + int(structuring.sum() + rounds.sum())
        + 2 * len(pass_accounts)
        + len(takeover_accounts)
        + len(dormant_accounts)
    )
    day0, typical, take = inj.day0, inj.typical, inj.take
    online_pool = np.flatnonzero((CATEGORY_RISK[pop.merchant_category] != "high") & (pop.merchant_country == "US"))
    risky_pool = np.flatnonzero(CATEGORY_RISK[pop.merchant_category] == "high")

    rows = take(wanted["large_amount"])
    tx.amount_usd[rows] = np.round(rng.uniform(31_000, 250_000, len(rows)), 2)
    inj.labels["large_amount"] += rows.tolist()

    for account in card_accounts:
        rows = take(CARD_TESTING_BURST)
        start = day0 + int(rng.integers(0, 86_400 - 900))
        tx.account[rows] = account
        tx.merchant[rows] = online_pool[rng.integers(0, len(online_pool))]
        tx.channel[rows], tx.ttype[rows] = CH_ONLINE, TT_PURCHASE
        tx.amount_usd[rows] = np.round(rng.uniform(0.5, 4.99, len(rows)), 2)
        tx.ts[rows] = start + np.sort(rng.integers(0, 540, len(rows)))
        inj.labels["card_testing"] += rows.tolist()

    for account in velocity_accounts:
        rows = take(VELOCITY_BURST)
        start = inj.quiet_start(account, 3_000, VELOCITY_SECONDS)
        tx.account[rows] = account
        tx.merchant[rows] = online_pool[rng.integers(0, len(online_pool), len(rows))]
        tx.channel[rows], tx.ttype[rows] = CH_ONLINE, TT_PURCHASE
        tx.amount_usd[rows] = np.round(typical[account] * rng.uniform(0.5, 2.0, len(rows)), 2)
        tx.ts[rows] = start + np.sort(rng.integers(0, 3_000, len(rows)))
        inj.labels["velocity"] += rows.tolist()

    countries = list(ref.COUNTRIES)
    for account in travel_accounts:
        first, second = take(2)
        abroad = (home[account] + 1 + int(rng.integers(0, len(countries) - 1))) % len(countries)
        start = day0 + int(rng.integers(0, 86_400 - 7_200))
        for row, country, at in (
            (first, home[account], start),
            (second, abroad, start + int(rng.integers(1_200, 6_000))),
        ):
            pool = inj.pools[(countries[country], "physical")]
            tx.account[row], tx.merchant[row] = account, pool[rng.integers(0, len(pool))]
            tx.channel[row], tx.ttype[row], tx.ts[row] = CH_POS, TT_PURCHASE, at
        inj.touched.append(int(first))
        inj.labels["impossible_travel"].append(int(second))

    # On accounts that shop online: the row becomes one of theirs.
    rows = take(wanted["risky_merchant_night"])
    online_accounts = np.flatnonzero(habits.active & ch[:, CH_ONLINE] & ~inj.taken)
    tx.account[rows] = online_accounts[rng.integers(0, len(online_accounts), len(rows))]
    tx.merchant[rows] = risky_pool[rng.integers(0, len(risky_pool), len(rows))]
    tx.channel[rows], tx.ttype[rows] = CH_ONLINE, TT_PURCHASE
    tx.ts[rows] = day0 + rng.integers(0, NIGHT_END_SECONDS, len(rows))
    tx.amount_usd[rows] = np.round(typical[tx.account[rows]] * rng.uniform(10, 15, len(rows)), 2)
    inj.labels["risky_merchant_night"] += rows.tolist()

    rows = take(wanted["spending_spike"])
    # Far above the customer's mean, which category and weekday lift up to ~1.6 x its typical ticket.
    spike = typical[tx.account[rows]] * rng.uniform(40, 60, len(rows))
    tx.amount_usd[rows] = np.round(np.minimum(spike, LARGE_AMOUNT_USD * 0.9), 2)
    inj.labels["spending_spike"] += rows.tolist()

    # Several deposits or transfers received, each just under the reporting threshold, in one business day.
    for account, k in zip(structuring_accounts, structuring, strict=True):
        ttype, channel = inj.habitual(account, MONEY_IN, k)
        amount = np.round(rng.uniform(STRUCTURING_BAND_USD[0] + 1, STRUCTURING_BAND_USD[1] - 1, k), 2)
        ts = inj.business_times(account, k, BUSINESS_HOURS[1] - BUSINESS_HOURS[0])
        inj.write("structuring", take(k), account, ttype, channel, inj.merchants(home[account], ttype), amount, ts)

    # A large outflow from an account the bank's master data calls dormant.
    for account in dormant_accounts:
        ttype, channel = inj.habitual(account, DORMANT_OUT, 1)
        amount = np.round(rng.uniform(DORMANT_OUTFLOW_USD * 2, 20_000, 1), 2)
        ts = inj.business_times(account, 1, 1)
        inj.write(
            "dormant_reactivation", take(1), account, ttype, channel, inj.merchants(home[account], ttype), amount, ts
        )

    # Transfers of whole hundreds in the account's own currency, within an hour; their dollar value stays
    # under the structuring band, so a burst is never also several transfers just under the threshold.
    for account, k in zip(round_accounts, rounds, strict=True):
        ttype, channel = inj.habitual(account, ROUND_OUT, k)
        rate = ref.USD_RATES[ref.COUNTRIES[countries[home[account]]][1]]
        top = int(min(9_000, (STRUCTURING_BAND_USD[0] - 1) / rate) // ROUND_UNIT)
        amount = ROUND_UNIT * rng.integers(2 * ROUND_MIN_AMOUNT // ROUND_UNIT, top + 1, k) * rate
        ts = inj.business_times(account, k, ROUND_BURST_SECONDS // 2)
        inj.write(
            "round_amount_burst", take(k), account, ttype, channel, inj.merchants(home[account], ttype), amount, ts
        )

    # Money in, then most of it out again within hours (a mule account).
    low, high = PASS_THROUGH_MIN_USD * 1.5, 25_000
    band = STRUCTURING_BAND_USD[1] - STRUCTURING_BAND_USD[0]
    for account in pass_accounts:
        in_type, in_channel = inj.habitual(account, MONEY_IN, 1)
        out_type, out_channel = inj.habitual(account, MONEY_OUT, 1)
        ttype, channel = np.concatenate([in_type, out_type]), np.concatenate([in_channel, out_channel])
        credit = rng.uniform(low, high - band)
        credit += band if credit >= STRUCTURING_BAND_USD[0] else 0.0  # never in the structuring band
        amount = np.round([credit, credit * rng.uniform(PASS_THROUGH_SHARE + 0.05, 0.99)], 2)
        ts = inj.business_times(account, 2, PASS_THROUGH_SECONDS // 2)
        inj.write(
            "rapid_pass_through", take(2), account, ttype, channel, inj.merchants(home[account], ttype), amount, ts
        )

    # A remote channel and a foreign country the account never uses, and an amount far above its tickets.
    for account in takeover_accounts:
        channel = rng.choice([c for c in REMOTE_CHANNELS if not ch[account, c]], 1)
        ttype = rng.choice([TT_PURCHASE, TT_TRANSFER], 1)
        strange = [c for c in range(len(countries)) if c not in (home[account], habits.foreign_country[account])]
        country = int(rng.choice(strange))
        multiple = rng.uniform(TAKEOVER_MULTIPLE * 2, TAKEOVER_MULTIPLE * 4)
        amount = np.round([min(max(TAKEOVER_MIN_USD * 2, typical[account] * multiple), 25_000)], 2)
        ts = inj.business_times(account, 1, 1)
        inj.write("account_takeover", take(1), account, ttype, channel, inj.merchants(country, ttype), amount, ts)

    by_pattern = {p: np.array(sorted(v), dtype=np.int64) for p, v in inj.labels.items()}
    all_touched = np.concatenate([*by_pattern.values(), np.array(inj.touched, dtype=np.int64)])
    return by_pattern, all_touched
