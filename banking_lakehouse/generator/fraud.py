"""Fraud injection (patterns of docs/fraud.md): overwrite chosen rows with each pattern's shape; remember their rows."""

from __future__ import annotations

import numpy as np

from banking_lakehouse.fraud_patterns import LARGE_AMOUNT_USD
from banking_lakehouse.generator.config import CARD_TESTING_BURST, VELOCITY_BURST, GeneratorConfig
from banking_lakehouse.generator.master import CATEGORY_RISK, Population
from banking_lakehouse.generator.transactions import (
    CH_ONLINE,
    CH_POS,
    NIGHT_END_SECONDS,
    TT_PURCHASE,
    Transactions,
    day_start_epoch,
    merchant_pools,
)


def inject_fraud(cfg: GeneratorConfig, pop: Population, tx: Transactions) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Returns fraud rows per pattern, and every row the injection touched (kept free of defects)."""
    rng = np.random.default_rng([cfg.seed, cfg.date.toordinal(), 4])
    n = len(tx.ts)
    scale = cfg.rows / 100_000
    wanted = {p: max(1, int(round(r * scale))) for p, r in cfg.fraud_per_100k.items()}
    bursts = {
        "card_testing": max(1, wanted["card_testing"] // CARD_TESTING_BURST),
        "velocity": max(1, wanted["velocity"] // VELOCITY_BURST),
    }
    need = (
        wanted["large_amount"]
        + bursts["card_testing"] * CARD_TESTING_BURST
        + bursts["velocity"] * VELOCITY_BURST
        + 2 * wanted["impossible_travel"]
        + wanted["risky_merchant_night"]
        + wanted["spending_spike"]
    )
    free = iter(rng.choice(n, need, replace=False))
    take = lambda k: np.array([next(free) for _ in range(k)], dtype=np.int64)  # noqa: E731
    # Burst accounts are distinct so one pattern's rows never shape another's.
    burst_accounts = iter(
        rng.choice(len(pop.account_customer), sum(bursts.values()) + wanted["impossible_travel"], replace=False)
    )
    day0 = day_start_epoch(cfg.date)
    pools = merchant_pools(pop)
    home_of = pop.customers["country"].to_numpy()
    online_pool = np.flatnonzero((CATEGORY_RISK[pop.merchant_category] != "high") & (pop.merchant_country == "US"))
    risky_pool = np.flatnonzero(CATEGORY_RISK[pop.merchant_category] == "high")
    typical = 40.0 * pop.customer_scale
    labels: dict[str, list[int]] = {p: [] for p in wanted}
    touched: list[int] = []

    rows = take(wanted["large_amount"])
    tx.amount_usd[rows] = np.round(rng.uniform(31_000, 250_000, len(rows)), 2)
    labels["large_amount"] += rows.tolist()

    for _ in range(bursts["card_testing"]):
        rows = take(CARD_TESTING_BURST)
        start = day0 + int(rng.integers(0, 86_400 - 900))
        tx.account[rows] = next(burst_accounts)
        tx.merchant[rows] = online_pool[rng.integers(0, len(online_pool))]
        tx.channel[rows], tx.ttype[rows] = CH_ONLINE, TT_PURCHASE
        tx.amount_usd[rows] = np.round(rng.uniform(0.5, 4.99, len(rows)), 2)
        tx.ts[rows] = start + np.sort(rng.integers(0, 540, len(rows)))
        labels["card_testing"] += rows.tolist()

    for _ in range(bursts["velocity"]):
        rows = take(VELOCITY_BURST)
        account = next(burst_accounts)
        start = day0 + int(rng.integers(0, 86_400 - 3_600))
        tx.account[rows] = account
        tx.merchant[rows] = online_pool[rng.integers(0, len(online_pool), len(rows))]
        tx.channel[rows], tx.ttype[rows] = CH_ONLINE, TT_PURCHASE
        tx.amount_usd[rows] = np.round(typical[pop.account_customer[account]] * rng.uniform(0.5, 2.0, len(rows)), 2)
        tx.ts[rows] = start + np.sort(rng.integers(0, 3_000, len(rows)))
        labels["velocity"] += rows.tolist()

    countries = sorted({c for c, _k in pools})
    for _ in range(wanted["impossible_travel"]):
        first, second = take(2)
        account = next(burst_accounts)
        home = home_of[pop.account_customer[account]]
        abroad = countries[(countries.index(home) + 1 + int(rng.integers(0, len(countries) - 1))) % len(countries)]
        start = day0 + int(rng.integers(0, 86_400 - 7_200))
        for row, country, at in ((first, home, start), (second, abroad, start + int(rng.integers(1_200, 6_000)))):
            pool = pools[(country, "physical")]
            tx.account[row], tx.merchant[row] = account, pool[rng.integers(0, len(pool))]
            tx.channel[row], tx.ttype[row], tx.ts[row] = CH_POS, TT_PURCHASE, at
        touched.append(int(first))
        labels["impossible_travel"].append(int(second))

    rows = take(wanted["risky_merchant_night"])
    tx.merchant[rows] = risky_pool[rng.integers(0, len(risky_pool), len(rows))]
    tx.channel[rows], tx.ttype[rows] = CH_ONLINE, TT_PURCHASE
    tx.ts[rows] = day0 + rng.integers(0, NIGHT_END_SECONDS, len(rows))
    tx.amount_usd[rows] = np.round(typical[pop.account_customer[tx.account[rows]]] * rng.uniform(10, 15, len(rows)), 2)
    labels["risky_merchant_night"] += rows.tolist()

    rows = take(wanted["spending_spike"])
    spike = typical[pop.account_customer[tx.account[rows]]] * rng.uniform(30, 45, len(rows))
    tx.amount_usd[rows] = np.round(np.minimum(spike, LARGE_AMOUNT_USD * 0.9), 2)
    labels["spending_spike"] += rows.tolist()

    by_pattern = {p: np.array(sorted(v), dtype=np.int64) for p, v in labels.items()}
    all_touched = np.concatenate([*by_pattern.values(), np.array(touched, dtype=np.int64)])
    return by_pattern, all_touched
