"""Each fraud rule fires on its pattern's shape and stays quiet on ordinary activity."""

import datetime as dt
from decimal import Decimal

import pytest

from banking_lakehouse.transforms.fraud import detect_fraud

DAY = dt.date(2024, 12, 2)
SCHEMA = (
    "transaction_id string, transaction_key bigint, transaction_ts timestamp, transaction_date date, "
    "customer_key bigint, account_key bigint, merchant_key bigint, amount_usd decimal(18,2), is_outlier boolean, "
    "is_high_risk boolean, is_card_present boolean, country string, batch_date date"
)


def tx(
    tid,
    minute,
    amount,
    account=1,
    merchant=10,
    customer=100,
    *,
    high_risk=False,
    card=False,
    country="US",
    outlier=False,
):
    ts = dt.datetime(2024, 12, 2, 0, 0) + dt.timedelta(minutes=minute)
    return (
        tid,
        hash(tid) % 10**9,
        ts,
        DAY,
        customer,
        account,
        merchant,
        Decimal(str(amount)),
        outlier,
        high_risk,
        card,
        country,
        DAY,
    )


@pytest.fixture(scope="module")
def fired(spark):
    rows = [
        tx("normal", 600, 40.0),
        tx("big", 610, 45_000.0, account=2, customer=200),
        tx("outlier", 615, 2_000_000.0, account=2, customer=200, outlier=True),
        *[tx(f"card{i}", 700 + i, 1.5, account=3, merchant=30, customer=300) for i in range(5)],
        *[tx(f"few{i}", 700 + i * 3, 1.5, account=4, merchant=40, customer=400) for i in range(4)],
        *[tx(f"vel{i}", 800 + i * 5, 30.0, account=5, merchant=50 + i, customer=500) for i in range(10)],
        tx("home", 900, 20.0, account=6, customer=600, card=True, country="US"),
        tx("abroad", 960, 25.0, account=6, customer=600, card=True, country="FR"),
        *[tx(f"acct7_{i}", 400 + i * 60, 30.0, account=7, customer=700) for i in range(4)],
        tx("night", 120, 400.0, account=7, merchant=70, customer=700, high_risk=True),
        tx("spike", 1000, 1500.0, account=8, customer=800),
        tx("high", 1010, 400.0, account=8, customer=800),  # 9x the history mean: unusual, not a spike
    ]
    batch = spark.createDataFrame(rows, SCHEMA)
    history = spark.createDataFrame(
        [(800, 8, Decimal("40.00") + i) for i in range(10)],
        "customer_key bigint, account_key bigint, amount_usd decimal(18,2)",
    )
    customers = spark.createDataFrame([(600, "US", DAY)], "customer_key bigint, country string, batch_date date")
    return {r.transaction_id: set(r.rules.split(",")) for r in detect_fraud(batch, history, customers).collect()}


def test_each_rule_fires_on_its_shape(fired):
    assert fired["big"] == {"large_amount"}
    assert all(fired[f"card{i}"] == {"card_testing"} for i in range(5))
    assert all(fired[f"vel{i}"] == {"velocity"} for i in range(10))
    assert fired["abroad"] == {"impossible_travel"}
    assert fired["night"] == {"risky_merchant_night"}
    assert fired["spike"] == {"spending_spike"}


def test_ordinary_and_near_miss_activity_is_not_flagged(fired):
    assert "normal" not in fired and "home" not in fired
    assert not any(f"few{i}" in fired for i in range(4))  # 4 small ones in 10 minutes: below 5
    assert "outlier" not in fired  # outliers are data-quality flags, not large-amount fraud
    assert not any(f"acct7_{i}" in fired for i in range(4))
    assert "high" not in fired
