"""The current dimension: per key the latest batch's values, whatever order the batches run in."""

import datetime as dt

from banking_lakehouse.transforms.gold import DIMENSIONS, current_dimension, rows_after_each_batch

MERCHANT = DIMENSIONS[2]
SCHEMA = "merchant_key bigint, merchant_id string, merchant_name string, risk_level string, batch_date date"


def _snapshot(spark, day: str, rows: dict[int, str]):
    """A day's delivery: merchant key -> its risk level that day."""
    date = dt.date.fromisoformat(day)
    return spark.createDataFrame([(k, f"m{k}", f"shop {k}", risk, date) for k, risk in rows.items()], SCHEMA)


def _state(df) -> dict[int, tuple]:
    return {r.merchant_key: (r.risk_level, r.batch_date and r.batch_date.isoformat()) for r in df.collect()}


def test_a_rerun_of_an_earlier_day_never_brings_older_values_back(spark):
    day1 = _snapshot(spark, "2024-12-01", {1: "low", 2: "low"})
    day2 = _snapshot(spark, "2024-12-02", {1: "high", 3: "medium"})
    after_two = current_dimension(current_dimension(None, day1, MERCHANT), day2, MERCHANT)
    expected = {1: ("high", "2024-12-02"), 2: ("low", "2024-12-01"), 3: ("medium", "2024-12-02"), -1: (None, None)}
    assert _state(after_two) == expected
    assert _state(current_dimension(None, day1.unionByName(day2), MERCHANT)) == expected  # as one range
    unknown = after_two.where("merchant_key = -1").collect()[0]
    assert (unknown.merchant_id, unknown.merchant_name) == ("unknown", "unknown")

    # Day 1 re-delivered after day 2: its own keys change, day 2's values stay; the same day twice is idempotent.
    redelivered = _snapshot(spark, "2024-12-01", {1: "medium", 2: "high"})
    rerun = current_dimension(after_two, redelivered, MERCHANT)
    assert _state(rerun) == expected | {2: ("high", "2024-12-01")}
    assert _state(current_dimension(rerun, redelivered, MERCHANT)) == _state(rerun)


def test_rows_after_each_batch_count_the_keys_seen_so_far_and_the_unknown_member(spark):
    day1 = _snapshot(spark, "2024-12-01", {1: "low", 2: "low"})
    day2 = _snapshot(spark, "2024-12-02", {1: "high", 3: "medium"})
    days = ["2024-12-01", "2024-12-02"]
    assert rows_after_each_batch(None, day1.unionByName(day2), "merchant_key", days) == {days[0]: 3, days[1]: 4}
    current = current_dimension(None, day1, MERCHANT)
    assert rows_after_each_batch(current, day2, "merchant_key", days[1:]) == {days[1]: 4}
