"""Running fraud statistics: built day by day from the previous day, they equal the statistics of the
whole history, and the fraud they feed equals the fraud computed from the earlier facts themselves."""

from collections import defaultdict
from decimal import Decimal

import pytest
from dagster import AssetKey, AssetSelection, DagsterInstance, TimeWindowPartitionMapping
from pyspark.sql import functions as F

from banking_lakehouse.assets.fraud_history import FACT_KEY, RECENT, SPENDING, previous_statistics
from banking_lakehouse.definitions import build_definitions, defs
from banking_lakehouse.fraud_patterns import LARGE_AMOUNT_USD
from banking_lakehouse.partitions import range_tags
from banking_lakehouse.resources.lake import LakePartitionMissing
from banking_lakehouse.transforms.fraud import detect_fraud
from banking_lakehouse.transforms.fraud_history import (
    MEDIAN_WINDOW,
    RECENT_FIELDS,
    account_habits,
    account_recent,
    customer_spending,
    spending_of,
    spending_profile,
)
from banking_lakehouse.transforms.gold import ACCOUNT_DIMENSION, CUSTOMER_DIMENSION
from banking_lakehouse_tests.conftest import make_resources

DAYS = ["2024-11-12", "2024-11-13", "2024-11-14"]
ROWS, SEED = 2_000, 31
FRAUD = ["gold", "fraud_transactions"]
PREVIOUS_DAY = TimeWindowPartitionMapping(start_offset=-1, end_offset=-1)


@pytest.fixture(scope="module")
def lake(spark, spark_resource, postgres, run_dir):
    """The three days as one single-run backfill of every lake asset up to fraud (no warehouse)."""
    resources = make_resources(str(run_dir / "fraud_history_lake"), spark_resource, postgres)
    upstream = AssetSelection.assets(AssetKey(FRAUD)).upstream().required_multi_asset_neighbors()
    selection = sorted(upstream.resolve(defs.resolve_asset_graph()))
    result = (
        build_definitions(resources)
        .resolve_job_def("daily_pipeline_job")
        .execute_in_process(
            asset_selection=selection,
            tags=range_tags(DAYS[0], DAYS[-1]),
            instance=DagsterInstance.ephemeral(),
            run_config={"ops": {"raw_delivery": {"config": {"rows": ROWS, "seed": SEED}}}},
        )
    )
    assert result.success
    return resources["lake"]


def _facts(spark, lake, days):
    return lake.read(spark, FACT_KEY, days)


def _rows(df, *order):
    return [tuple(r) for r in df.orderBy(*order).collect()]


def _last(facts, window):
    """Per account, its `window` latest (ts, id, amount, channel, country), straight from the facts."""
    by_account = defaultdict(list)
    for r in facts.select("account_key", *RECENT_FIELDS).collect():
        by_account[r.account_key].append(tuple(r)[1:])
    return {account: sorted(entries)[-window:] for account, entries in by_account.items()}


def _windows(recent):
    return {r.account_key: [tuple(e) for e in r.recent] for r in recent.collect()}


def test_the_asset_graph_shows_each_day_built_on_the_previous(spark):
    graph = defs.resolve_asset_graph()
    for stats in (SPENDING, RECENT):
        key = AssetKey(stats.key)
        assert graph.get(key).parent_keys == {key, AssetKey(FACT_KEY)}
        assert graph.get_partition_mapping(key, key) == PREVIOUS_DAY
    fraud = AssetKey(FRAUD)
    assert graph.get(fraud).parent_keys == {
        AssetKey(FACT_KEY),
        AssetKey(CUSTOMER_DIMENSION.snapshots_path),
        AssetKey(ACCOUNT_DIMENSION.snapshots_path),
        AssetKey(SPENDING.key),
        AssetKey(RECENT.key),
    }
    assert all(graph.get_partition_mapping(fraud, AssetKey(s.key)) == PREVIOUS_DAY for s in (SPENDING, RECENT))


def test_statistics_built_day_by_day_equal_those_of_the_whole_history(spark, lake):
    facts = _facts(spark, lake, DAYS)
    stored = lake.read(spark, SPENDING.key, [DAYS[-1]])
    assert _rows(stored.drop("batch_date"), "customer_key") == _rows(spending_of(facts), "customer_key")
    ordinary = facts.where(f"customer_key != -1 AND amount_usd <= {LARGE_AMOUNT_USD}")
    n, total = ordinary.agg(F.count("*"), F.sum("amount_usd")).first()
    assert stored.agg(F.sum("n"), F.sum("amount_sum")).first() == (n, total)  # exact, to the cent
    assert facts.where(f"customer_key != -1 AND amount_usd > {LARGE_AMOUNT_USD}").count() > 0  # left out
    assert _windows(lake.read(spark, RECENT.key, [DAYS[-1]])) == _last(facts, MEDIAN_WINDOW)


def test_a_window_smaller_than_the_history_keeps_exactly_the_latest(spark, lake):
    state = spark.createDataFrame([], RECENT.schema)
    for day in DAYS:
        state = account_recent(state, _facts(spark, lake, [day]), window=3)
    expected = _last(_facts(spark, lake, DAYS), 3)
    assert _windows(state) == expected
    assert max(len(v) for v in expected.values()) == 3 and len(expected) > 100


def test_a_window_stored_before_channels_were_kept_reads_them_as_unknown(spark, lake):
    """A lake's window written with (ts, id, amount) entries only: the next day builds on it, its old
    entries' channel and country null, so they count for the median but not as habits."""
    stored = lake.read(spark, RECENT.key, [DAYS[0]]).drop("batch_date")
    old = stored.select(
        "account_key",
        F.transform("recent", lambda e: F.struct(e.transaction_ts, e.transaction_id, e.amount_usd)).alias("recent"),
    )
    state = account_recent(old, _facts(spark, lake, [DAYS[1]]))
    new = {k: [e[3:] for e in v] for k, v in _windows(state).items()}
    facts = _last(_facts(spark, lake, DAYS[:2]), MEDIAN_WINDOW)
    first_day = {r.transaction_id for r in _facts(spark, lake, [DAYS[0]]).select("transaction_id").collect()}
    assert new == {k: [(None, None) if e[1] in first_day else e[3:] for e in v] for k, v in facts.items()}
    served = state.withColumn("batch_date", F.lit(DAYS[2]).cast("date"))  # the day after the window's
    habits = {r.account_key: r._habit_n for r in account_habits(served).collect()}
    assert habits == {k: sum(e[1] not in first_day for e in v) for k, v in facts.items()}


def test_mean_and_deviation_from_running_sums_match_avg_and_stddev_samp(spark, lake):
    state = spark.createDataFrame([], SPENDING.schema)
    for day in DAYS:
        state = customer_spending(state, _facts(spark, lake, [day]))
    served = state.withColumn("batch_date", F.lit(None).cast("date"))
    profile = {r.customer_key: r for r in spending_profile(served).collect()}
    direct = (
        _facts(spark, lake, DAYS)
        .where(f"customer_key != -1 AND amount_usd <= {LARGE_AMOUNT_USD}")
        .groupBy("customer_key")
        .agg(F.avg("amount_usd").alias("mean"), F.stddev_samp("amount_usd").alias("std"), F.count("*").alias("n"))
        .collect()
    )
    assert len(direct) == len(profile) > 100
    for r in direct:
        p = profile[r.customer_key]
        assert (p._mean, p._n) == (r.mean, r.n) and isinstance(p._mean, Decimal)
        if r.std is None:  # a single transaction
            assert p._std is None
        else:
            assert p._std == pytest.approx(r.std, rel=1e-12, abs=1e-9)


def test_fraud_equals_the_rules_over_the_earlier_facts_themselves(spark, lake):
    for i, day in enumerate(DAYS):
        facts = _facts(spark, lake, DAYS[: i + 1])
        batch = facts.where(F.col("batch_date") == F.lit(day).cast("date"))
        earlier = facts.where(F.col("batch_date") < F.lit(day).cast("date"))
        customers, accounts = (
            lake.read(spark, d.snapshots_path, [day]) for d in (CUSTOMER_DIMENSION, ACCOUNT_DIMENSION)
        )
        expected = detect_fraud(batch, earlier, customers, accounts, MEDIAN_WINDOW)
        stored = lake.read(spark, FRAUD, [day])
        assert _rows(stored, "transaction_id") == _rows(expected.select(*stored.columns), "transaction_id")
        assert stored.count() > 0
    # By the last day a busy account's history outgrew the window: the running one kept exactly its latest.
    assert earlier.groupBy("account_key").count().agg(F.max("count")).first()[0] > MEDIAN_WINDOW
    flagged = {r.rules for r in lake.read(spark, FRAUD, DAYS[1:]).collect()}
    assert any("spending_spike" in rules for rules in flagged)  # the history is used


def test_the_first_day_starts_empty_and_a_gap_in_the_history_is_refused(spark, lake):
    assert previous_statistics(spark, lake, SPENDING, [DAYS[0]]).count() == 0
    assert previous_statistics(spark, lake, RECENT, [DAYS[1]]).count() > 0
    with pytest.raises(LakePartitionMissing) as refused:
        previous_statistics(spark, lake, RECENT, ["2024-11-16"])
    message = str(refused.value)
    assert "built from gold/account_recent_amounts 2024-11-15, which is missing" in message
    assert f"backfill the range from {DAYS[0]} to 2024-11-16" in message
