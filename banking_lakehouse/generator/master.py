"""Master data: a stable population per seed (customers, accounts, merchants) and its daily delivery."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from banking_lakehouse import reference as ref
from banking_lakehouse.generator.config import GeneratorConfig
from banking_lakehouse.generator.identities import build_pools, emails

COUNTRY_CODES = np.array(list(ref.COUNTRIES), dtype=object)
COUNTRY_SHARES = np.array([c[3] for c in ref.COUNTRIES.values()])
COUNTRY_SHARES = COUNTRY_SHARES / COUNTRY_SHARES.sum()
DIAL_CODES = {
    "US": "1",
    "CA": "1",
    "GB": "44",
    "FR": "33",
    "DE": "49",
    "ES": "34",
    "CH": "41",
    "JP": "81",
    "AU": "61",
    "SE": "46",
}
CATEGORY_MCC = np.array([c[0] for c in ref.MERCHANT_CATEGORIES], dtype=object)
CATEGORY_NAME = np.array([c[1] for c in ref.MERCHANT_CATEGORIES], dtype=object)
CATEGORY_RISK = np.array([c[2] for c in ref.MERCHANT_CATEGORIES], dtype=object)
CATEGORY_TICKET = np.array([c[3] for c in ref.MERCHANT_CATEGORIES])
CATEGORY_WEIGHT = np.array([14, 12, 8, 8, 5, 8, 2, 3, 6, 10, 8, 2, 1, 1], dtype=float)
CATEGORY_WEIGHT = CATEGORY_WEIGHT / CATEGORY_WEIGHT.sum()
ATM_CATEGORY = int(np.flatnonzero(CATEGORY_NAME == "atm_cash")[0])
# Categories a card is swiped at in person (no cash machines, no remote-only services).
PHYSICAL_CATEGORIES = frozenset(
    i for i, name in enumerate(CATEGORY_NAME) if name not in {"atm_cash", "online_retail", "crypto", "wire_transfer"}
)

# Fresh ids for injected master rows that no transaction references.
EXTRA_ID_BASE = 5_000_000


@dataclass(frozen=True)
class Population:
    """The clean master data of a seed plus the hidden traits the transaction model needs."""

    customers: pd.DataFrame
    accounts: pd.DataFrame
    merchants: pd.DataFrame
    customer_scale: np.ndarray  # typical ticket multiplier per customer (aligned with customers)
    account_customer: np.ndarray  # customer row of each account
    merchant_category: np.ndarray  # category index of each merchant
    merchant_country: np.ndarray  # alpha-2 of each merchant


def _city_for(rng: np.random.Generator, countries: np.ndarray) -> np.ndarray:
    cities = np.empty(len(countries), dtype=object)
    for code, (_name, _cur, options, _share) in ref.COUNTRIES.items():
        mask = countries == code
        cities[mask] = np.array(options, dtype=object)[rng.integers(0, len(options), mask.sum())]
    return cities


def build_population(cfg: GeneratorConfig) -> Population:
    """Deterministic in (seed, rows): the same customers exist on every day of a run."""
    rng = np.random.default_rng([cfg.seed, 1])
    pools = build_pools(cfg.seed)
    n = cfg.n_customers

    first_i = rng.integers(0, len(pools.first_names), n)
    last_i = rng.integers(0, len(pools.last_names), n)
    first, last = pools.first_names[first_i], pools.last_names[last_i]
    domain = pools.email_domains[rng.integers(0, len(pools.email_domains), n)]
    country_i = rng.choice(len(COUNTRY_CODES), n, p=COUNTRY_SHARES)  # the draws of a choice among the codes
    country = COUNTRY_CODES[country_i]
    digits = rng.integers(0, 10, (n, 10))
    part = lambda lo, hi: (digits[:, lo:hi] * 10 ** np.arange(hi - lo - 1, -1, -1)).sum(axis=1)  # noqa: E731
    dial = np.array([DIAL_CODES[code] for code in COUNTRY_CODES])[country_i]
    phones = np.char.add(np.char.add("+", dial), " ")
    for lo, hi, sep in ((0, 3, "-"), (3, 6, "-"), (6, 10, "")):
        phones = np.char.add(np.char.add(phones, np.char.zfill(part(lo, hi).astype(str), hi - lo)), sep)
    phones = phones.astype(object)
    join = pd.Timestamp("2015-01-01") + pd.to_timedelta(rng.integers(0, 3287, n), unit="D")
    customers = pd.DataFrame(
        {
            "customer_id": [f"C{i:07d}" for i in range(1, n + 1)],
            "first_name": first,
            "last_name": last,
            "email": emails(pools, first_i, last_i, np.arange(n) % 997, domain),
            "phone": phones,
            "address": pools.streets[rng.integers(0, len(pools.streets), n)],
            "city": _city_for(rng, country),
            "country": country,
            "segment": rng.choice(np.array(ref.SEGMENTS, dtype=object), n, p=[0.7, 0.15, 0.05, 0.1]),
            "risk_rating": rng.choice(np.array(ref.RISK_RATINGS, dtype=object), n, p=[0.8, 0.15, 0.05]),
            "join_date": pd.Series(join).dt.strftime("%Y-%m-%d").to_numpy(),
        }
    )
    scale = np.clip(rng.lognormal(0.0, 0.45, n), 0.25, 5.0)

    per_customer = rng.choice([1, 2, 3], n, p=[0.5, 0.35, 0.15])
    account_customer = np.repeat(np.arange(n), per_customer)
    n_acc = len(account_customer)
    currency = np.array([ref.COUNTRIES[code][1] for code in COUNTRY_CODES], dtype=object)
    opened = join[account_customer] + pd.to_timedelta(rng.integers(0, 400, n_acc), unit="D")
    accounts = pd.DataFrame(
        {
            "account_id": [f"A{i:08d}" for i in range(1, n_acc + 1)],
            "customer_id": customers["customer_id"].to_numpy()[account_customer],
            "account_type": rng.choice(np.array(ref.ACCOUNT_TYPES, dtype=object), n_acc, p=[0.55, 0.25, 0.2]),
            "currency": currency[country_i[account_customer]],
            "status": rng.choice(np.array(ref.ACCOUNT_STATUSES, dtype=object), n_acc, p=[0.93, 0.05, 0.02]),
            "opened_date": opened.strftime("%Y-%m-%d").to_numpy(),
        }
    )

    m = cfg.n_merchants
    # Every country gets a cash machine and a few shops, so every card-present draw has a merchant.
    seeded = [(code, ATM_CATEGORY) for code in ref.COUNTRIES] + [
        (code, cat) for code in ref.COUNTRIES for cat in sorted(PHYSICAL_CATEGORIES)[:4]
    ]
    rest = m - len(seeded)
    m_country = np.concatenate(
        [np.array([s[0] for s in seeded], dtype=object), rng.choice(COUNTRY_CODES, rest, p=COUNTRY_SHARES)]
    )
    m_category = np.concatenate(
        [np.array([s[1] for s in seeded]), rng.choice(len(CATEGORY_NAME), rest, p=CATEGORY_WEIGHT)]
    )
    company = pools.companies[rng.integers(0, len(pools.companies), m)]
    merchants = pd.DataFrame(
        {
            "merchant_id": [f"M{i:06d}" for i in range(1, m + 1)],
            "name": [
                f"{c} {CATEGORY_NAME[k].replace('_', ' ').title()}" for c, k in zip(company, m_category, strict=True)
            ],
            "mcc": CATEGORY_MCC[m_category],
            "category": CATEGORY_NAME[m_category],
            "city": _city_for(rng, m_country),
            "country": m_country,
            "risk_level": CATEGORY_RISK[m_category],
        }
    )
    return Population(customers, accounts, merchants, scale, account_customer, m_category, m_country)


def noisy_country(rng: np.random.Generator, code: str) -> str:
    name = ref.COUNTRIES[code][0]
    options = [name, code.lower(), name.upper(), f" {code} "]
    options += {"US": ["U.S.", "USA"], "GB": ["UK", "U.K."]}.get(code, [])
    return options[int(rng.integers(0, len(options)))]


def deliver_master(cfg: GeneratorConfig, pop: Population) -> tuple[dict[str, pd.DataFrame], dict[str, dict[str, int]]]:
    """The day's master files: the population plus that day's injected defects, and their counts."""
    rng = np.random.default_rng([cfg.seed, cfg.date.toordinal(), 2])
    out: dict[str, pd.DataFrame] = {}
    counts: dict[str, dict[str, int]] = {}
    tables = {"customers": pop.customers, "accounts": pop.accounts, "merchants": pop.merchants}
    id_prefix = {
        "customers": ("customer_id", "C{:07d}"),
        "accounts": ("account_id", "A{:08d}"),
        "merchants": ("merchant_id", "M{:06d}"),
    }
    for entity, clean in tables.items():
        rates = cfg.master_defect_rates.get(entity, {})
        df = clean.copy()
        k = {code: int(round(rate * len(clean))) for code, rate in rates.items()}
        counts[entity] = dict(k)
        id_col, id_fmt = id_prefix[entity]
        next_extra = EXTRA_ID_BASE

        def fresh(n: int, clean=clean, id_col=id_col, id_fmt=id_fmt) -> pd.DataFrame:
            nonlocal next_extra
            rows = clean.iloc[rng.integers(0, len(clean), n)].copy()
            rows[id_col] = [id_fmt.format(next_extra + i) for i in range(n)]
            next_extra += n
            return rows

        if k.get("country_noise"):
            idx = rng.choice(len(df), k["country_noise"], replace=False)
            df.loc[df.index[idx], "country"] = [noisy_country(rng, c) for c in df["country"].to_numpy()[idx]]
        extras = []
        if k.get("duplicate_id"):
            dup = clean.iloc[rng.choice(len(clean), k["duplicate_id"], replace=False)].copy()
            change = {"customers": "city", "accounts": "account_type", "merchants": "city"}[entity]
            dup[change] = dup[change].map(lambda v: f"{v} (updated)")
            extras.append(dup)
        if k.get("missing_required"):
            rows = fresh(k["missing_required"])
            required = {
                "customers": ["last_name", "email"],
                "accounts": ["customer_id", "currency"],
                "merchants": ["name", "mcc"],
            }[entity]
            for i, col in enumerate(np.array(required)[np.arange(len(rows)) % len(required)]):
                rows.iloc[i, rows.columns.get_loc(col)] = None
            extras.append(rows)
        if k.get("invalid_email"):
            rows = fresh(k["invalid_email"])
            bad = ["{}@", "{}.example.com", "{}@@mail.com", "{} at mail.com"]
            rows["email"] = [bad[i % len(bad)].format(f"user{i}") for i in range(len(rows))]
            extras.append(rows)
        if k.get("invalid_phone"):
            rows = fresh(k["invalid_phone"])
            bad = ["12-34", "phone", "+1 555-ABC-1234", "0000"]
            rows["phone"] = [bad[i % len(bad)] for i in range(len(rows))]
            extras.append(rows)
        out[entity] = pd.concat([df, *extras], ignore_index=True) if extras else df
    return out, counts
