import csv
import datetime as dt
import hashlib
import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

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
    STRUCTURING_SECONDS,
    TAKEOVER_MIN_USD,
    VELOCITY_MIN,
    VELOCITY_SECONDS,
)
from banking_lakehouse.generator import GeneratorConfig, generate_day
from banking_lakehouse.generator.config import DEFAULT_DEFECT_RATES
from banking_lakehouse.generator.defects import DefectPlan, Patch
from banking_lakehouse.generator.fraud import accounts_of_the_day
from banking_lakehouse.generator.habits import build_habits
from banking_lakehouse.generator.master import build_population

DAY = dt.date(2024, 12, 3)


def _files(path):
    return {p.name: p.read_bytes() for p in sorted(path.iterdir())}


def test_same_arguments_same_bytes_whatever_the_chunk_size(tmp_path):
    generate_day(GeneratorConfig(date=DAY, rows=5_000, seed=3), tmp_path / "a")
    # 7 chunks: copies and defects land in several of them, and on their edges
    generate_day(GeneratorConfig(date=DAY, rows=5_000, seed=3), tmp_path / "b", chunk_rows=700)
    assert _files(tmp_path / "a") == _files(tmp_path / "b")


@pytest.mark.parametrize("chunk_rows", [1, 3, 4, 10])
def test_chunks_write_every_row_and_copy_once_in_file_order(chunk_rows):
    # copy 4 before row 0, copies 0 and 1 before row 3, copy 3 before row 7, copy 2 after the last row
    plan = DefectPlan(
        rows=10,
        row_patches={},
        copy_sources=np.array([1, 2, 5, 6, 0]),
        copy_before=np.array([3, 3, 10, 7, 0]),
        copy_patches={},
        counts={},
    )
    slots = np.concatenate([plan.slots(start, min(start + chunk_rows, 10)) for start in range(0, 10, chunk_rows)])
    assert slots.tolist() == [14, 0, 1, 2, 10, 11, 3, 4, 5, 6, 13, 7, 8, 9, 12]


def test_a_patch_replaces_the_text_of_its_keys_wherever_they_repeat():
    patch = Patch.of({5: "x", 2: None})
    patched = patch.apply(pa.array(["a", "b", "c", "d"]), np.array([5, 2, 2, 9]))
    assert patched.to_pylist() == ["x", None, None, "d"]


def test_other_seed_or_date_changes_the_data(tmp_path):
    generate_day(GeneratorConfig(date=DAY, rows=5_000, seed=3), tmp_path / "a")
    generate_day(GeneratorConfig(date=DAY, rows=5_000, seed=4), tmp_path / "b")
    generate_day(GeneratorConfig(date=DAY + dt.timedelta(days=1), rows=5_000, seed=3), tmp_path / "c")
    a = (tmp_path / "a" / "transactions.csv").read_bytes()
    assert a != (tmp_path / "b" / "transactions.csv").read_bytes()
    assert a != (tmp_path / "c" / "transactions.csv").read_bytes()


def test_manifest_counts_match_the_files(tmp_path):
    manifest = generate_day(GeneratorConfig(date=DAY, rows=20_000, seed=5), tmp_path)
    lines = (tmp_path / "transactions.csv").read_text().splitlines()
    assert len(lines) - 1 == manifest["rows"] == 20_000
    assert manifest == json.loads((tmp_path / "manifest.json").read_text())
    assert set(manifest["defects"]) == set(DEFAULT_DEFECT_RATES)
    # 20 000 rows x rate, conflicting duplicates counted per copy (pairs of 2)
    assert manifest["defects"]["exact_duplicate"] == 30
    assert manifest["defects"]["conflicting_duplicate"] == 20
    assert manifest["defects"]["formatted_amount"] == 60
    assert {p: len(ids) for p, ids in manifest["fraud_ids"].items()} == manifest["fraud"]
    assert manifest["fraud"]["card_testing"] == 6 and manifest["fraud"]["velocity"] == 12
    ids = {line.split(",")[0].strip('"') for line in lines[1:]}
    assert all(i in ids for pattern in manifest["fraud_ids"].values() for i in pattern)
    customers = (tmp_path / "customers.csv").read_text().splitlines()
    assert len(customers) - 1 == manifest["files"]["customers"]["rows"]


def test_a_conflicting_duplicate_differs_only_in_amount(tmp_path):
    generate_day(GeneratorConfig(date=DAY, rows=10_000, seed=9), tmp_path)
    rows = list(csv.reader((tmp_path / "transactions.csv").read_text().splitlines()[1:]))
    by_id: dict[str, list[list[str]]] = {}
    for row in rows:
        by_id.setdefault(row[0], []).append(row)
    repeated = [copies for key, copies in by_id.items() if len(copies) > 1 and key != ""]
    conflicting = [c for c in repeated if c[0] != c[1]]
    exact = [c for c in repeated if c[0] == c[1]]
    assert len(conflicting) == 5 and len(exact) == 15
    for first, second in conflicting:
        assert [a for i, a in enumerate(first) if i != 5] == [b for i, b in enumerate(second) if i != 5]
        assert first[5] != second[5]


def test_rejects_unknown_defect_codes():
    with pytest.raises(ValueError, match="unknown defect codes"):
        GeneratorConfig(date=DAY, rows=5_000, defect_rates={"typo": 0.1})


# The reported fraud patterns and the account habits they depart from, on one 20 000-row day.
REPORTED = ("structuring", "dormant_reactivation", "round_amount_burst", "rapid_pass_through", "account_takeover")
# sha256 of the master files of DAY, 20 000 rows, seed 5, measured before the transaction model had account
# habits: the habits come from a stream of their own, so the master data stays what it was.
MASTER_SHA256 = {
    "customers.csv": "5de48ec76a992ad02c8bf68aebeebba84e9caf8c0ed31ecd454c00c6c94c0664",
    "accounts.csv": "ab0ba90a61ac7f8d7a59de6a85a848e8e63532e68ffa8a2753704485937094a7",
    "merchants.json": "e055528bcce4f34cb87782927ad7d2b939ca3e2c61ab13538d70902755c64ccf",
}


def _country(text: pd.Series) -> pd.Series:
    return text.str.strip().str.upper().map(ref.COUNTRY_ALIASES)


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    """The day's files, and its transactions as a bank would read them: one delivery per id, parsed, with the
    merchant's category and country, the account's status and home country, and each row's fraud pattern."""
    cfg = GeneratorConfig(date=DAY, rows=20_000, seed=5)
    out = tmp_path_factory.mktemp("reported")
    manifest = generate_day(cfg, out)
    raw = pd.read_csv(out / "transactions.csv", dtype=str, keep_default_na=False)
    merchants = pd.read_json(out / "merchants.json", lines=True, dtype=str).drop_duplicates("merchant_id")
    merchants = merchants.assign(merchant_country=_country(merchants["country"]))[
        ["merchant_id", "category", "risk_level", "merchant_country"]
    ]
    accounts = pd.read_csv(out / "accounts.csv", dtype=str).drop_duplicates("account_id")
    customers = pd.read_csv(out / "customers.csv", dtype=str).drop_duplicates("customer_id")
    customers = customers.assign(home=_country(customers["country"]))[["customer_id", "home"]]
    tx = raw[~raw["transaction_id"].duplicated(keep=False) & (raw["transaction_id"] != "")].copy()
    tx["ts"] = pd.to_datetime(tx["transaction_ts"], format="%Y-%m-%dT%H:%M:%SZ", errors="coerce", utc=True)
    tx["value"] = pd.to_numeric(tx["amount"], errors="coerce")
    tx["channel"] = tx["channel"].str.strip().str.lower()
    accounts = accounts.rename(columns={"status": "account_status"})[["account_id", "account_status"]]
    tx = tx.merge(merchants, on="merchant_id").merge(accounts, on="account_id").merge(customers, on="customer_id")
    rate = {code: ref.USD_RATES[c[1]] for code, c in ref.COUNTRIES.items()}
    tx["amount_usd"] = tx["value"] * tx["merchant_country"].map(rate)
    tx = tx[tx["ts"].notna() & (tx["value"] > 0) & (tx["value"] < ref.OUTLIER_THRESHOLD)]
    tx = tx[tx["ts"].dt.date == DAY]  # late arrivals belong to earlier days
    pattern = {i: p for p, ids in manifest["fraud_ids"].items() for i in ids}
    tx["pattern"] = tx["transaction_id"].map(pattern).fillna("")
    pop = build_population(cfg)
    return SimpleNamespace(
        cfg=cfg, out=out, manifest=manifest, tx=tx, accounts=accounts, pop=pop, habits=build_habits(cfg, pop)
    )


def _rows(day, pattern: str) -> pd.DataFrame:
    rows = day.tx[day.tx["pattern"] == pattern].sort_values("ts")
    assert len(rows) == day.manifest["fraud"][pattern] > 0
    return rows


def test_master_files_stay_those_of_the_seed(day):
    for name, digest in MASTER_SHA256.items():
        assert hashlib.sha256((day.out / name).read_bytes()).hexdigest() == digest


def test_habits_come_from_the_seed_not_the_date(day):
    later = build_habits(GeneratorConfig(date=DAY + dt.timedelta(days=40), rows=20_000, seed=5), day.pop)
    assert np.array_equal(later.channels, day.habits.channels)
    assert np.array_equal(later.activity, day.habits.activity)
    assert np.array_equal(later.foreign_country, day.habits.foreign_country)
    channels = day.habits.channels
    assert (channels.sum(axis=1) >= 1).all()
    # enough accounts lack a remote channel for a takeover to use a new one
    assert (~channels[:, ref.CHANNELS.index("mobile")]).mean() > 0.3
    assert (~channels[:, ref.CHANNELS.index("online")]).mean() > 0.1


def test_dormant_and_closed_accounts_only_move_money_when_reactivated(day):
    not_active = day.tx[day.tx["account_status"] != "active"]
    assert set(not_active["pattern"]) == {"dormant_reactivation"}
    assert len(not_active) == day.manifest["fraud"]["dormant_reactivation"]
    assert (not_active["account_status"] == "dormant").all()


def test_a_channel_outside_the_account_habits_is_only_a_takeover(day):
    account_index = {a: i for i, a in enumerate(day.pop.accounts["account_id"])}
    rows = day.tx[day.tx["channel"].isin(ref.CHANNELS)]
    habitual = day.habits.channels[
        rows["account_id"].map(account_index).to_numpy(), rows["channel"].map(ref.CHANNELS.index).to_numpy()
    ]
    assert set(rows.loc[~habitual, "pattern"]) == {"account_takeover"}
    assert (~habitual).sum() == day.manifest["fraud"]["account_takeover"]


def test_organic_credits_and_purchases_abroad_follow_the_habits(day):
    organic = day.tx[day.tx["pattern"] == ""]
    credits = organic[organic["transaction_type"].isin(ref.CREDIT_TYPES)]
    assert 0.05 < len(credits) / len(organic) < 0.10
    deposits = organic[organic["transaction_type"] == "deposit"]
    assert set(deposits["channel"]) == {"atm", "branch"} and set(deposits["category"]) == {"atm_cash"}
    received = organic[organic["transaction_type"] == "transfer_in"]
    assert set(received["channel"]) == {"online", "mobile", "branch"}
    # remote purchases abroad go to one country per account
    abroad = organic[organic["merchant_country"] != organic["home"]]
    assert set(abroad["channel"]) <= {"online", "mobile"}
    assert abroad.groupby("account_id")["merchant_country"].nunique().max() == 1


def test_reported_patterns_are_completed_daytime_low_risk_and_alone_on_their_account(day):
    fraud = day.tx[day.tx["pattern"] != ""]
    rows = fraud[fraud["pattern"].isin(REPORTED)]
    assert len(rows) == sum(day.manifest["fraud"][p] for p in REPORTED)
    assert set(rows["status"]) == {"completed"}
    hours = rows["ts"].dt.hour
    assert hours.min() >= 6 and hours.max() < 23
    assert set(rows["risk_level"]) == {"low"} and rows["amount_usd"].max() < LARGE_AMOUNT_USD
    card_present = rows["channel"].isin(ref.CARD_PRESENT_CHANNELS)
    assert (rows.loc[card_present, "merchant_country"] == rows.loc[card_present, "home"]).all()
    # no other pattern's row on a reported pattern's account, and under the velocity pattern there
    patterns_of = fraud.groupby("account_id")["pattern"].agg(set)
    assert all(len(patterns_of[a]) == 1 for a in rows["account_id"].unique())
    for _account, mine in day.tx[day.tx["account_id"].isin(rows["account_id"])].groupby("account_id"):
        ts = np.sort(mine["ts"].astype("int64").to_numpy() // 10**9)
        assert (np.searchsorted(ts, ts + VELOCITY_SECONDS, side="right") - np.arange(len(ts))).max() < VELOCITY_MIN


def test_structuring_is_several_deposits_or_transfers_in_just_under_the_threshold(day):
    rows = _rows(day, "structuring")
    for _account, burst in rows.groupby("account_id"):
        assert STRUCTURING_MIN <= len(burst) <= STRUCTURING_MIN + 2
        assert burst["customer_id"].nunique() == 1
        assert (burst["amount_usd"] >= STRUCTURING_FLOOR_SHARE * REPORTING_THRESHOLD_USD).all()
        assert (burst["amount_usd"] < REPORTING_THRESHOLD_USD).all()
        assert (burst["merchant_country"] == burst["home"]).all()
        for kind, channels in (("deposit", {"atm", "branch"}), ("transfer_in", {"online", "mobile", "branch"})):
            assert set(burst.loc[burst["transaction_type"] == kind, "channel"]) <= channels
        assert set(burst["transaction_type"]) <= {"deposit", "transfer_in"}
        assert set(burst.loc[burst["transaction_type"] == "deposit", "category"]) <= {"atm_cash"}
        assert (burst["ts"].max() - burst["ts"].min()).total_seconds() < STRUCTURING_SECONDS


def test_dormant_reactivation_is_one_large_outflow_of_a_dormant_account(day):
    rows = _rows(day, "dormant_reactivation")
    assert (rows["account_status"] == "dormant").all() and rows["account_id"].is_unique
    kinds = set(zip(rows["transaction_type"], rows["channel"], strict=True))
    assert kinds <= {("withdrawal", "atm"), ("withdrawal", "branch"), ("transfer", "online"), ("transfer", "branch")}
    assert rows["amount_usd"].between(DORMANT_OUTFLOW_USD * 2 - 0.01, 20_000.01).all()
    assert (rows["merchant_country"] == rows["home"]).all()


def test_a_walk_takes_each_eligible_account_once_a_cycle(day):
    start = day.cfg.date.toordinal()
    dormant = day.pop.accounts["status"].to_numpy() == "dormant"
    seen: dict[int, list[int]] = {}
    for ordinal in range(start, start + 2 * (DORMANT_DAYS + 1)):  # two cycles of this population's walk
        daily = GeneratorConfig(date=dt.date.fromordinal(ordinal), rows=day.cfg.rows, seed=day.cfg.seed)
        for account in accounts_of_the_day(daily, dormant, 4, DORMANT_DAYS + 1, stream=7).tolist():
            seen.setdefault(account, []).append(ordinal)
    # every dormant account comes back exactly once a cycle of 181 days
    assert sorted(seen) == np.flatnonzero(dormant).tolist()
    assert {second - first for first, second in seen.values()} == {DORMANT_DAYS + 1}


def test_no_account_is_taken_over_or_reactivated_twice_on_consecutive_days(tmp_path):
    taken: dict[str, list[str]] = {"account_takeover": [], "dormant_reactivation": []}
    for offset in range(4):
        date = DAY + dt.timedelta(days=offset)
        manifest = generate_day(GeneratorConfig(date=date, rows=10_000, seed=5), tmp_path / str(offset))
        rows = pd.read_csv(tmp_path / str(offset) / "transactions.csv", dtype=str, keep_default_na=False)
        for pattern, accounts in taken.items():
            accounts += rows[rows["transaction_id"].isin(manifest["fraud_ids"][pattern])]["account_id"].tolist()
    assert len(taken["account_takeover"]) >= 4 and all(len(set(a)) == len(a) for a in taken.values())


def test_round_amount_burst_is_whole_hundreds_transferred_within_an_hour(day):
    rows = _rows(day, "round_amount_burst")
    for _account, burst in rows.groupby("account_id"):
        assert ROUND_BURST_MIN <= len(burst) <= ROUND_BURST_MIN + 2
        assert set(burst["transaction_type"]) == {"transfer"} and set(burst["channel"]) <= {"online", "mobile"}
        assert burst["amount"].str.endswith("00.00").all()
        assert burst["value"].between(2 * ROUND_MIN_AMOUNT, 9_000).all()
        assert (burst["value"] % ROUND_UNIT == 0).all()
        assert (burst["amount_usd"] < STRUCTURING_FLOOR_SHARE * REPORTING_THRESHOLD_USD).all()
        assert (burst["merchant_country"] == burst["home"]).all()
        assert (burst["ts"].max() - burst["ts"].min()).total_seconds() < ROUND_BURST_SECONDS / 2


def test_rapid_pass_through_is_money_in_then_most_of_it_out_within_hours(day):
    rows = _rows(day, "rapid_pass_through")
    assert len(rows) % 2 == 0
    for _account, pair in rows.groupby("account_id"):
        credit, debit = pair.iloc[0], pair.iloc[1]
        assert len(pair) == 2 and credit["ts"] < debit["ts"]
        assert credit["transaction_type"] in ref.CREDIT_TYPES and debit["transaction_type"] == "transfer"
        assert PASS_THROUGH_MIN_USD * 1.5 - 0.01 <= credit["amount_usd"] <= 25_000.01
        assert not STRUCTURING_FLOOR_SHARE * REPORTING_THRESHOLD_USD <= credit["amount_usd"] < REPORTING_THRESHOLD_USD
        assert PASS_THROUGH_SHARE + 0.05 - 0.001 <= debit["amount_usd"] / credit["amount_usd"] <= 0.99 + 0.001
        assert (debit["ts"] - credit["ts"]).total_seconds() <= PASS_THROUGH_SECONDS / 2
        assert (pair["merchant_country"] == pair["home"]).all()


def test_account_takeover_is_a_new_channel_and_country_and_a_large_amount(day):
    rows = _rows(day, "account_takeover")
    organic = day.tx[day.tx["pattern"] == ""]
    for row in rows.itertuples():
        assert row.channel in {"online", "mobile"} and row.transaction_type in {"purchase", "transfer"}
        mine = organic[organic["account_id"] == row.account_id]
        assert len(mine) > 0
        assert row.channel not in set(mine["channel"])
        assert row.merchant_country != row.home and row.merchant_country not in set(mine["merchant_country"])
        assert TAKEOVER_MIN_USD * 2 - 0.01 <= row.amount_usd <= 25_000.01


def test_a_velocity_burst_has_its_account_to_itself_for_an_hour_either_side(day):
    bursts = _rows(day, "velocity")
    assert len(bursts) == day.manifest["fraud"]["velocity"] > 0
    for account, burst in bursts.groupby("account_id"):
        others = day.tx[(day.tx["account_id"] == account) & (day.tx["pattern"] != "velocity")]["ts"]
        margin = pd.Timedelta(seconds=VELOCITY_SECONDS)
        assert not others.between(burst["ts"].min() - margin, burst["ts"].max() + margin).any()
