"""Each fraud rule fires on its pattern's shape and stays quiet on ordinary activity and near misses."""

import datetime as dt
from decimal import Decimal

import pytest

from banking_lakehouse import reference as ref
from banking_lakehouse.transforms.fraud import detect_fraud

DAY = dt.date(2024, 12, 2)
MIDNIGHT = dt.datetime(2024, 12, 2, 0, 0)
SCHEMA = (
    "transaction_id string, transaction_key bigint, transaction_ts timestamp, transaction_date date, "
    "customer_key bigint, account_key bigint, merchant_key bigint, transaction_type_key smallint, channel string, "
    "amount decimal(18,2), amount_usd decimal(18,2), is_outlier boolean, is_high_risk boolean, "
    "is_card_present boolean, country string, batch_date date"
)
HISTORY = (
    "transaction_id string, transaction_ts timestamp, customer_key bigint, account_key bigint, "
    "amount_usd decimal(18,2), channel string, country string"
)


def tx(
    tid,
    minute,
    amount,
    account=1,
    merchant=10,
    customer=100,
    *,
    kind="purchase",
    channel="online",
    local=None,
    high_risk=False,
    country="US",
    outlier=False,
):
    """A batch row: `amount` in USD; `local`, the amount in the transaction's own currency (default the same)."""
    return (
        tid,
        hash(tid) % 10**9,
        MIDNIGHT + dt.timedelta(minutes=minute),
        DAY,
        customer,
        account,
        merchant,
        ref.TRANSACTION_TYPE_KEYS[kind],
        channel,
        Decimal(str(local if local is not None else amount)),
        Decimal(str(amount)),
        outlier,
        high_risk,
        channel in ref.CARD_PRESENT_CHANNELS,
        country,
        DAY,
    )


def earlier(account, customer, days_ago, count=5, channels=("pos", "online"), country="US"):
    """`count` ordinary earlier transactions of an account, the last `days_ago` days before DAY."""
    last = MIDNIGHT - dt.timedelta(days=days_ago)
    return [
        (f"h{account}_{i}", last - dt.timedelta(hours=i), customer, account, Decimal("40.00") + i, channel, country)
        for i, channel in zip(range(count), channels * count, strict=False)
    ]


@pytest.fixture(scope="module")
def fired(spark):
    rows = [
        tx("normal", 600, 40.0),
        tx("big", 610, 45_000.0, account=2, customer=200),
        tx("outlier", 615, 2_000_000.0, account=2, customer=200, outlier=True),
        *[tx(f"card{i}", 700 + i, 1.5, account=3, merchant=30, customer=300) for i in range(5)],
        *[tx(f"few{i}", 700 + i * 3, 1.5, account=4, merchant=40, customer=400) for i in range(4)],
        *[tx(f"vel{i}", 800 + i * 5, 30.0, account=5, merchant=50 + i, customer=500) for i in range(10)],
        tx("home", 900, 20.0, account=6, customer=600, channel="pos", country="US"),
        tx("abroad", 960, 25.0, account=6, customer=600, channel="pos", country="FR"),
        *[tx(f"acct7_{i}", 400 + i * 60, 30.0, account=7, customer=700) for i in range(4)],
        tx("night", 120, 400.0, account=7, merchant=70, customer=700, high_risk=True),
        tx("spike", 1000, 1500.0, account=8, customer=800),
        tx("high", 1010, 400.0, account=8, customer=800),  # 9x the history mean: unusual, not a spike
        # Structuring: one customer's deposits and transfers just under 10 000, over two accounts, in a day.
        tx("struct0", 360, 9_500.0, account=9, customer=900, kind="deposit", channel="branch"),
        tx("struct1", 700, 9_200.0, account=9, customer=900, kind="deposit", channel="atm"),
        tx("struct2", 1300, 9_800.0, account=91, customer=900, kind="transfer_in"),
        tx("under0", 360, 9_500.0, account=92, customer=901, kind="deposit", channel="branch"),
        tx("under1", 700, 9_600.0, account=92, customer=901, kind="transfer_in"),
        tx("under2", 800, 8_900.0, account=92, customer=901, kind="deposit", channel="branch"),  # below the band
        tx("under3", 900, 9_700.0, account=92, customer=901, kind="payment"),  # not a deposit or transfer
        # Dormant reactivation: master data says dormant and no history, or no activity for 180 days.
        tx("dormant", 600, 5_000.0, account=10, customer=1000, kind="withdrawal", channel="atm"),
        tx("dormant_small", 600, 500.0, account=11, customer=1100, kind="withdrawal", channel="atm"),
        tx("dormant_but_active", 600, 5_000.0, account=12, customer=1200, kind="transfer"),
        tx("idle", 600, 3_000.0, account=13, customer=1300, kind="transfer"),
        tx("recently_idle", 600, 3_000.0, account=131, customer=1310, kind="transfer"),
        tx("dormant_deposit", 600, 5_000.0, account=14, customer=1400, kind="deposit", channel="branch"),
        # Round-amount bursts: transfers, whole hundreds in their own currency, within two hours.
        *[
            tx(f"round{i}", 600 + 25 * i, usd, account=15, customer=1500, kind="transfer", local=local)
            for i, (usd, local) in enumerate([(1080.0, 1000), (2700.0, 2500), (756.0, 700), (3240.0, 3000)])
        ],
        *[
            tx(f"notround{i}", 600 + 25 * i, amount, account=16, customer=1600, kind="transfer")
            for i, amount in enumerate([1000.0, 2500.0, 700.0, 1234.56])
        ],
        *[tx(f"roundpay{i}", 600 + 25 * i, 1000.0, account=17, customer=1700, kind="payment") for i in range(4)],
        # Pass-through: in, then most of it out within hours.
        tx("mule_in", 600, 8_000.0, account=18, customer=1800, kind="transfer_in"),
        tx("mule_out", 780, 7_600.0, account=18, customer=1800, kind="transfer"),
        tx("part_in", 600, 8_000.0, account=19, customer=1900, kind="transfer_in"),
        tx("part_out", 780, 5_000.0, account=19, customer=1900, kind="transfer"),  # 62 %: not passed through
        tx("slow_in", 60, 8_000.0, account=20, customer=2000, kind="transfer_in"),
        tx("slow_out", 60 + 7 * 60, 7_600.0, account=20, customer=2000, kind="transfer"),  # 7 hours later
        # Account takeover: a channel and a country the account never used, and a large amount.
        tx("takeover", 700, 3_000.0, account=21, customer=2100, kind="transfer", channel="mobile", country="FR"),
        tx("small_new", 700, 300.0, account=22, customer=2200, kind="transfer", channel="mobile", country="FR"),
        tx("known_channel", 700, 3_000.0, account=23, customer=2300, kind="transfer", channel="online", country="FR"),
        tx("known_country", 700, 3_000.0, account=24, customer=2400, kind="transfer", channel="mobile", country="US"),
    ]
    batch = spark.createDataFrame(rows, SCHEMA)
    history = spark.createDataFrame(
        [
            *[
                (f"h8_{i}", MIDNIGHT - dt.timedelta(hours=i + 1), 800, 8, Decimal("40.00") + i, "pos", "US")
                for i in range(10)
            ],
            *earlier(12, 1200, days_ago=3),
            *earlier(13, 1300, days_ago=200),
            *earlier(131, 1310, days_ago=170),
            *earlier(21, 2100, days_ago=1),
            *earlier(22, 2200, days_ago=1),
            *earlier(23, 2300, days_ago=1),
            *earlier(24, 2400, days_ago=1),
        ],
        HISTORY,
    )
    customers = spark.createDataFrame(
        [(600, "US", DAY), *((c, "US", DAY) for c in (2100, 2200, 2300, 2400))],
        "customer_key bigint, country string, batch_date date",
    )
    accounts = spark.createDataFrame(
        [(a, "dormant" if a in (10, 11, 12, 14) else "active", DAY) for a in (10, 11, 12, 13, 14, 21)],
        "account_key bigint, status string, batch_date date",
    )
    found = detect_fraud(batch, history, customers, accounts).collect()
    return {r.transaction_id: set(r.rules.split(",")) for r in found}


def test_each_rule_fires_on_its_shape(fired):
    assert fired["big"] == {"large_amount"}
    assert all(fired[f"card{i}"] == {"card_testing"} for i in range(5))
    assert all(fired[f"vel{i}"] == {"velocity"} for i in range(10))
    assert fired["abroad"] == {"impossible_travel"}
    assert fired["night"] == {"risky_merchant_night"}
    assert fired["spike"] == {"spending_spike"}
    assert all(fired[f"struct{i}"] == {"structuring"} for i in range(3))
    assert fired["dormant"] == fired["idle"] == {"dormant_reactivation"}
    assert all(fired[f"round{i}"] == {"round_amount_burst"} for i in range(4))
    assert fired["mule_in"] == fired["mule_out"] == {"rapid_pass_through"}
    # Also far above the customer's earlier spending: the more specific rule explains it, not a spike.
    assert fired["takeover"] == {"account_takeover"}


def test_ordinary_and_near_miss_activity_is_not_flagged(fired):
    assert "normal" not in fired and "home" not in fired
    assert not any(f"few{i}" in fired for i in range(4))  # 4 small ones in 10 minutes: below 5
    assert "outlier" not in fired  # outliers are data-quality flags, not large-amount fraud
    assert not any(f"acct7_{i}" in fired for i in range(4))
    assert "high" not in fired
    assert not any(f"under{i}" in fired for i in range(4))  # two in the band: not several
    # Too small, or money in; active 3 days ago though marked dormant, or idle under 180 days: no
    # reactivation (the amount is still a spike for that customer).
    assert not {"dormant_small", "dormant_deposit"} & fired.keys()
    assert fired["dormant_but_active"] == fired["recently_idle"] == {"spending_spike"}
    assert not any(f"notround{i}" in fired or f"roundpay{i}" in fired for i in range(4))
    assert not {"part_in", "part_out", "slow_in", "slow_out"} & fired.keys()
    assert "small_new" not in fired
    # The channel or the country is a habit: no takeover (the amount is still a spike for that customer).
    assert fired["known_channel"] == fired["known_country"] == {"spending_spike"}
