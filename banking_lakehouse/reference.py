"""Reference data shared by the generator and the cleaning rules.

One table per vocabulary, so the generator's noise and the silver normalisation
are always derived from the same source of truth.
"""

from __future__ import annotations

# ISO-4217 code -> USD per unit (a fixed reporting-rate table; a bank would load daily rates).
USD_RATES: dict[str, float] = {
    "USD": 1.0,
    "EUR": 1.08,
    "GBP": 1.27,
    "CHF": 1.13,
    "CAD": 0.73,
    "JPY": 0.0067,
    "AUD": 0.66,
    "SEK": 0.095,
}

# ISO-3166 alpha-2 -> (English name, currency, cities, share of customers)
COUNTRIES: dict[str, tuple[str, str, tuple[str, ...], float]] = {
    "US": ("United States", "USD", ("New York", "Chicago", "Austin", "Seattle", "Miami"), 0.62),
    "GB": ("United Kingdom", "GBP", ("London", "Manchester", "Leeds"), 0.08),
    "FR": ("France", "EUR", ("Paris", "Lyon", "Marseille"), 0.06),
    "DE": ("Germany", "EUR", ("Berlin", "Munich", "Hamburg"), 0.06),
    "ES": ("Spain", "EUR", ("Madrid", "Barcelona"), 0.04),
    "CH": ("Switzerland", "CHF", ("Zurich", "Geneva"), 0.03),
    "CA": ("Canada", "CAD", ("Toronto", "Montreal", "Vancouver"), 0.05),
    "JP": ("Japan", "JPY", ("Tokyo", "Osaka"), 0.03),
    "AU": ("Australia", "AUD", ("Sydney", "Melbourne"), 0.02),
    "SE": ("Sweden", "SEK", ("Stockholm",), 0.01),
}

# Spellings seen in delivered files -> alpha-2 (keys are compared upper-cased and trimmed).
COUNTRY_ALIASES: dict[str, str] = {
    **{code: code for code in COUNTRIES},
    **{name.upper(): code for code, (name, *_rest) in COUNTRIES.items()},
    "U.S.": "US",
    "U.S.A.": "US",
    "USA": "US",
    "UK": "GB",
    "U.K.": "GB",
    "GREAT BRITAIN": "GB",
    "DEUTSCHLAND": "DE",
    "ESPANA": "ES",
    "SCHWEIZ": "CH",
}

# Merchant categories: MCC, category, risk level, median ticket in USD.
MERCHANT_CATEGORIES: tuple[tuple[str, str, str, float], ...] = (
    ("5411", "grocery", "low", 45.0),
    ("5812", "restaurant", "low", 38.0),
    ("5541", "fuel", "low", 52.0),
    ("5311", "department_store", "low", 85.0),
    ("5732", "electronics", "medium", 160.0),
    ("4111", "transport", "low", 18.0),
    ("4511", "airline", "medium", 420.0),
    ("7011", "hotel", "medium", 260.0),
    ("5912", "pharmacy", "low", 30.0),
    ("5999", "online_retail", "medium", 70.0),
    ("6011", "atm_cash", "low", 120.0),
    ("7995", "gambling", "high", 90.0),
    ("6051", "crypto", "high", 250.0),
    ("4829", "wire_transfer", "high", 400.0),
)
HIGH_RISK_MCCS: frozenset[str] = frozenset(m for m, _c, risk, _t in MERCHANT_CATEGORIES if risk == "high")

CHANNELS: tuple[str, ...] = ("online", "pos", "mobile", "atm", "branch")
CARD_PRESENT_CHANNELS: frozenset[str] = frozenset({"pos", "atm"})
STATUSES: tuple[str, ...] = ("completed", "pending", "failed", "reversed")
# Transaction type -> direction of the money for the account holder; the order fixes the warehouse keys.
TRANSACTION_TYPE_DIRECTIONS: dict[str, str] = {
    "purchase": "debit",
    "withdrawal": "debit",
    "transfer": "debit",
    "payment": "debit",
    "refund": "credit",
    "deposit": "credit",  # cash paid in at a branch or cash machine
    "transfer_in": "credit",  # a transfer received (salary, another bank)
}
TRANSACTION_TYPES: tuple[str, ...] = tuple(TRANSACTION_TYPE_DIRECTIONS)
CREDIT_TYPES: frozenset[str] = frozenset(t for t, d in TRANSACTION_TYPE_DIRECTIONS.items() if d == "credit")
TRANSACTION_TYPE_KEYS: dict[str, int] = {name: i + 1 for i, name in enumerate(TRANSACTION_TYPES)}
# gold.dim_transaction_type: every type under its key, and the -1 unknown member.
TRANSACTION_TYPE_ROWS: tuple[tuple[int, str, str], ...] = (
    (-1, "unknown", "debit"),
    *((TRANSACTION_TYPE_KEYS[t], t, d) for t, d in TRANSACTION_TYPE_DIRECTIONS.items()),
)
SEGMENTS: tuple[str, ...] = ("retail", "premier", "private", "small_business")
RISK_RATINGS: tuple[str, ...] = ("low", "medium", "high")
ACCOUNT_TYPES: tuple[str, ...] = ("checking", "savings", "credit_card")
ACCOUNT_STATUSES: tuple[str, ...] = ("active", "dormant", "closed")

EMAIL_PATTERN = r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$"
PHONE_PATTERN = r"^\+?[0-9][0-9 ()-]{6,18}[0-9]$"

OUTLIER_THRESHOLD = 1_000_000  # amounts above this are kept and flagged is_outlier
