"""The simulated core-banking system: seeded with a seed's population, then changed one day at a time.

seed_core inserts the clean population (the ids the synthetic transactions reference), as it stood before a
date; apply_core_day applies a deterministic day of changes, each stamped at its moment within the day, and
returns the ground truth of what changed, so a test knows exactly what an extraction of the day must find.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql

from banking_lakehouse import reference as ref
from banking_lakehouse.entities import ENTITIES, MASTER_ENTITIES
from banking_lakehouse.generator.config import GeneratorConfig
from banking_lakehouse.generator.identities import build_pools, emails
from banking_lakehouse.generator.master import COUNTRY_CODES, COUNTRY_SHARES, build_population
from banking_lakehouse.resources.core_banking import SCHEMA, apply_schema

SIMULATION_SCRIPT = "core/simulation.sql"
DAY_US = 86_400_000_000
# A day's changes, as shares of the live rows they touch (each kind at least one row a day).
DAY_CHANGE_RATES: dict[str, float] = {
    "new_customers": 0.004,  # each opens 1-3 accounts
    "moves": 0.01,  # customers: address and city
    "segment_changes": 0.005,
    "risk_changes": 0.005,
    "deleted_customers": 0.002,  # soft deletes, with the customer's accounts
    "closures": 0.005,  # accounts: status closed
    "merchant_moves": 0.005,  # merchants: city
    "deleted_merchants": 0.002,
    "changed_twice": 0.3,  # of the moves: a later risk change the same day
}


class CoreDayAlreadyApplied(ValueError):
    """A simulated day's changes are applied once (core_simulation.applied_days)."""


@dataclass
class _Change:
    entity: str
    id: str
    at: dt.datetime
    values: dict[str, object] = field(default_factory=dict)  # the columns set (all of them for an insert)
    kind: str = "update"  # insert, update or delete


def _utc_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), dt.UTC)


def _timestamps(micros: np.ndarray) -> list[dt.datetime]:
    return pd.to_datetime(micros, unit="us", utc=True).to_pydatetime().tolist()


def _seed_times(rng: np.random.Generator, base_days: np.ndarray, as_of: dt.date) -> tuple[np.ndarray, np.ndarray]:
    """created_at within the base day (clipped to before as_of), updated_at between it and as_of (a third of the
    rows changed since), both in microseconds since the epoch."""
    limit = int(_utc_midnight(as_of).timestamp() * 1_000_000)
    created = base_days.astype("datetime64[us]").astype(np.int64) + rng.integers(0, DAY_US, len(base_days))
    created = np.where(created < limit, created, limit - rng.integers(1, DAY_US, len(base_days)))
    changed = rng.random(len(base_days)) < 1 / 3
    updated = created + (changed * rng.random(len(base_days)) * (limit - created)).astype(np.int64)
    return created, np.minimum(updated, limit - 1)


def _copy_rows(conn: psycopg.Connection, entity: str, frame: pd.DataFrame) -> None:
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in frame.columns)
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(SCHEMA, entity), columns)
    with conn.cursor().copy(statement) as copy:
        for row in frame.itertuples(index=False, name=None):
            copy.write_row(row)


def seed_core(conn: psycopg.Connection, seed: int, as_of: dt.date, rows: int = 100_000) -> dict[str, int]:
    """Inserts the clean population of (seed, rows) into an empty `core` schema (created if absent), every row
    created and last updated before as_of 00:00 UTC. Returns the rows inserted per entity."""
    apply_schema(conn)
    apply_schema(conn, SIMULATION_SCRIPT)
    if conn.execute("SELECT EXISTS (SELECT 1 FROM core.customers)").fetchone()[0]:
        raise ValueError("the core-banking source already holds customers: seed_core seeds an empty `core` schema")
    population = build_population(GeneratorConfig(date=as_of, rows=rows, seed=seed))
    rng = np.random.default_rng([seed, as_of.toordinal(), 16])
    merchant_days = np.datetime64(as_of) - rng.integers(30, 1800, len(population.merchants)).astype("timedelta64[D]")
    base_days = {
        "customers": population.customers["join_date"].to_numpy().astype("datetime64[D]"),
        "accounts": population.accounts["opened_date"].to_numpy().astype("datetime64[D]"),
        "merchants": merchant_days,
    }
    frames = {"customers": population.customers, "accounts": population.accounts, "merchants": population.merchants}
    with conn.transaction():
        for entity in MASTER_ENTITIES:
            frame = frames[entity][list(ENTITIES[entity].columns)].copy()
            created, updated = _seed_times(rng, base_days[entity], as_of)
            frame["created_at"], frame["updated_at"] = _timestamps(created), _timestamps(updated)
            _copy_rows(conn, entity, frame)
    return {entity: len(frames[entity]) for entity in MASTER_ENTITIES}


def _live(conn: psycopg.Connection, entity: str) -> pd.DataFrame:
    spec = ENTITIES[entity]
    query = sql.SQL("SELECT {} FROM {} WHERE deleted_at IS NULL ORDER BY {}").format(
        sql.SQL(", ").join(sql.Identifier(c) for c in spec.columns),
        sql.Identifier(SCHEMA, entity),
        sql.Identifier(spec.id_column),
    )
    return pd.DataFrame(conn.execute(query).fetchall(), columns=list(spec.columns), dtype=object)


def _next_ids(conn: psycopg.Connection, entity: str, count: int) -> list[str]:
    """Ids after the highest one the table holds (deleted rows included), in its format (letter, zero-padded)."""
    id_column = sql.Identifier(ENTITIES[entity].id_column)
    highest = conn.execute(
        sql.SQL("SELECT max({}) FROM {}").format(id_column, sql.Identifier(SCHEMA, entity))
    ).fetchone()[0]
    prefix, digits = highest[0], highest[1:]
    return [f"{prefix}{int(digits) + i:0{len(digits)}d}" for i in range(1, count + 1)]


class _DayPlan:
    """One day's changes, drawn from the rng against the live rows."""

    def __init__(self, conn: psycopg.Connection, seed: int, day: dt.date) -> None:
        self.rng = np.random.default_rng([seed, day.toordinal(), 16])
        self.start = _utc_midnight(day)
        self.day = day
        self.seed = seed
        self.changes: list[_Change] = []
        self.live = {entity: _live(conn, entity) for entity in MASTER_ENTITIES}
        self.conn = conn

    def count(self, kind: str, population: int) -> int:
        return min(population, max(1, round(DAY_CHANGE_RATES[kind] * population)))

    def moment(self, after: dt.datetime | None = None) -> dt.datetime:
        """A random microsecond of the day (after `after`, leaving room for one more later)."""
        low = 0 if after is None else (after - self.start) // dt.timedelta(microseconds=1) + 1
        return self.start + dt.timedelta(microseconds=int(self.rng.integers(low, DAY_US - 1)))

    def other(self, options, current) -> object:
        choices = [o for o in options if o != current]
        return choices[int(self.rng.integers(0, len(choices)))]

    def draw(self) -> None:
        customers, accounts, merchants = (self.live[e] for e in MASTER_ENTITIES)
        kinds = ("moves", "segment_changes", "risk_changes", "deleted_customers")
        sizes = [self.count(k, len(customers)) for k in kinds]
        picked = self.rng.choice(len(customers), sum(sizes), replace=False)
        groups = dict(zip(kinds, np.split(picked, np.cumsum(sizes)[:-1]), strict=True))
        pools = build_pools(self.seed)
        for row in groups["moves"]:
            country = customers.at[row, "country"]
            cities = ref.COUNTRIES[country][2] if country in ref.COUNTRIES else ()
            values = {"address": self.other(pools.streets, customers.at[row, "address"])}
            if len(cities) > 1:
                values["city"] = self.other(cities, customers.at[row, "city"])
            self.changes.append(_Change("customers", customers.at[row, "customer_id"], self.moment(), values))
        for row in groups["segment_changes"]:
            segment = self.other(ref.SEGMENTS, customers.at[row, "segment"])
            self.changes.append(
                _Change("customers", customers.at[row, "customer_id"], self.moment(), {"segment": segment})
            )
        for row in groups["risk_changes"]:
            rating = self.other(ref.RISK_RATINGS, customers.at[row, "risk_rating"])
            self.changes.append(
                _Change("customers", customers.at[row, "customer_id"], self.moment(), {"risk_rating": rating})
            )
        moves = [c for c in self.changes if "address" in c.values]
        for change in moves[: self.count("changed_twice", len(moves))]:
            current = customers.loc[customers["customer_id"] == change.id, "risk_rating"].iloc[0]
            rating = self.other(ref.RISK_RATINGS, current)
            self.changes.append(_Change("customers", change.id, self.moment(change.at), {"risk_rating": rating}))
        deleted = set(customers["customer_id"].to_numpy()[groups["deleted_customers"]])
        for customer_id in sorted(deleted):
            at = self.moment()
            self.changes.append(_Change("customers", customer_id, at, kind="delete"))
            for account_id in accounts.loc[accounts["customer_id"] == customer_id, "account_id"]:
                self.changes.append(_Change("accounts", account_id, at, kind="delete"))
        open_accounts = accounts[(accounts["status"] != "closed") & ~accounts["customer_id"].isin(deleted)]
        for row in self.rng.choice(len(open_accounts), self.count("closures", len(open_accounts)), replace=False):
            account_id = open_accounts["account_id"].iloc[row]
            self.changes.append(_Change("accounts", account_id, self.moment(), {"status": "closed"}))
        self._new_customers(pools, customers)
        self._merchant_changes(merchants)

    def _new_customers(self, pools, customers: pd.DataFrame) -> None:
        count = self.count("new_customers", len(customers))
        ids = _next_ids(self.conn, "customers", count)
        per_customer = self.rng.integers(1, 4, count)
        account_ids = iter(_next_ids(self.conn, "accounts", int(per_customer.sum())))
        first = self.rng.integers(0, len(pools.first_names), count)
        last = self.rng.integers(0, len(pools.last_names), count)
        domains = pools.email_domains[self.rng.integers(0, len(pools.email_domains), count)]
        numbers = np.array([int(i[1:]) % 997 for i in ids])
        addresses = emails(pools, first, last, numbers, domains)
        countries = self.rng.choice(COUNTRY_CODES, count, p=COUNTRY_SHARES)
        for i, customer_id in enumerate(ids):
            country = countries[i]
            cities = ref.COUNTRIES[country][2]
            same_country = customers.loc[customers["country"] == country, "phone"].dropna()
            at = self.moment()
            values = {
                "customer_id": customer_id,
                "first_name": pools.first_names[first[i]],
                "last_name": pools.last_names[last[i]],
                "email": addresses[i],
                "phone": same_country.iloc[int(self.rng.integers(0, len(same_country)))] if len(same_country) else None,
                "address": pools.streets[int(self.rng.integers(0, len(pools.streets)))],
                "city": cities[int(self.rng.integers(0, len(cities)))],
                "country": country,
                "segment": ref.SEGMENTS[0],
                "risk_rating": ref.RISK_RATINGS[0],
                "join_date": self.day,
            }
            self.changes.append(_Change("customers", customer_id, at, values, kind="insert"))
            for _ in range(per_customer[i]):
                account = {
                    "account_id": next(account_ids),
                    "customer_id": customer_id,
                    "account_type": ref.ACCOUNT_TYPES[int(self.rng.integers(0, len(ref.ACCOUNT_TYPES)))],
                    "currency": ref.COUNTRIES[country][1],
                    "status": "active",
                    "opened_date": self.day,
                }
                self.changes.append(_Change("accounts", account["account_id"], at, account, kind="insert"))
            if i == 0:  # a customer opened and then reclassified the same day: one row, its latest state
                segment = self.other(ref.SEGMENTS, values["segment"])
                self.changes.append(_Change("customers", customer_id, self.moment(at), {"segment": segment}))

    def _merchant_changes(self, merchants: pd.DataFrame) -> None:
        movable = merchants[merchants["country"].map(lambda c: len(ref.COUNTRIES.get(c, ("", "", ()))[2]) > 1)]
        picked = self.rng.choice(len(movable), self.count("merchant_moves", len(movable)), replace=False)
        for row in picked:
            cities = ref.COUNTRIES[movable["country"].iloc[row]][2]
            city = self.other(cities, movable["city"].iloc[row])
            self.changes.append(_Change("merchants", movable["merchant_id"].iloc[row], self.moment(), {"city": city}))
        moved = set(movable["merchant_id"].to_numpy()[picked])
        remaining = merchants[~merchants["merchant_id"].isin(moved)]
        for row in self.rng.choice(len(remaining), self.count("deleted_merchants", len(remaining)), replace=False):
            self.changes.append(_Change("merchants", remaining["merchant_id"].iloc[row], self.moment(), kind="delete"))


def _apply(conn: psycopg.Connection, change: _Change) -> None:
    table = sql.Identifier(SCHEMA, change.entity)
    id_column = sql.Identifier(ENTITIES[change.entity].id_column)
    if change.kind == "insert":
        values = change.values | {"created_at": change.at, "updated_at": change.at}
        statement = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
            table, sql.SQL(", ").join(map(sql.Identifier, values)), sql.SQL(", ").join(sql.Placeholder() * len(values))
        )
        conn.execute(statement, list(values.values()))
        return
    values = change.values | ({"deleted_at": change.at} if change.kind == "delete" else {}) | {"updated_at": change.at}
    assignments = sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(c)) for c in values)
    conn.execute(
        sql.SQL("UPDATE {} SET {} WHERE {} = %s").format(table, assignments, id_column), [*values.values(), change.id]
    )


def _truth(changes: list[_Change], before: dict[str, pd.DataFrame]) -> dict[str, dict]:
    """Per entity: inserted ids, updated ids (rows that existed before the day) -> the columns whose value the day
    changed, deleted ids, ids changed more than once, the ids a window over the day must extract, and each one's
    last change (its updated_at)."""
    truth = {}
    for entity in MASTER_ENTITIES:
        spec = ENTITIES[entity]
        mine = [c for c in changes if c.entity == entity]
        previous = before[entity].set_index(spec.id_column)
        inserted = {c.id for c in mine if c.kind == "insert"}
        updated: dict[str, set[str]] = defaultdict(set)
        for c in mine:
            if c.kind == "update" and c.id not in inserted:
                updated[c.id].update(col for col, value in c.values.items() if previous.at[c.id, col] != value)
        times: dict[str, list[dt.datetime]] = defaultdict(list)
        for c in mine:
            times[c.id].append(c.at)
        truth[entity] = {
            "inserted": sorted(inserted),
            "updated": {i: sorted(cols) for i, cols in sorted(updated.items())},
            "deleted": sorted(c.id for c in mine if c.kind == "delete"),
            "changed_twice": sorted(i for i, at in times.items() if len(at) > 1),
            "expected_ids": sorted(times),
            "last_change": {i: max(at).isoformat() for i, at in sorted(times.items())},
        }
    return truth


def apply_core_day(conn: psycopg.Connection, seed: int, date: dt.date) -> dict:
    """Applies the day's changes (deterministic in seed and date, over the state the earlier days left), each at
    its moment within the day, in one transaction; refused for a day already applied or before the last one.
    Returns the ground truth (see _truth) under each entity's name, with the date and the seed."""
    apply_schema(conn, SIMULATION_SCRIPT)
    with conn.transaction():
        conn.execute("LOCK TABLE core_simulation.applied_days IN EXCLUSIVE MODE")
        if not conn.execute("SELECT EXISTS (SELECT 1 FROM core.customers)").fetchone()[0]:
            raise ValueError("the core-banking source holds no customers: seed it first (seed_core)")
        applied, last = conn.execute(
            "SELECT bool_or(day = %s), max(day) FROM core_simulation.applied_days", (date,)
        ).fetchone()
        if applied:
            raise CoreDayAlreadyApplied(f"the core-banking day {date} was already applied: a day's changes apply once")
        if last is not None and date < last:
            raise ValueError(
                f"the core-banking day {date} is before the last day applied ({last}): days apply in order"
            )
        conn.execute("INSERT INTO core_simulation.applied_days (day, seed) VALUES (%s, %s)", (date, seed))
        plan = _DayPlan(conn, seed, date)
        plan.draw()
        with conn.pipeline():
            for change in sorted(plan.changes, key=lambda c: c.at):
                _apply(conn, change)
    return {"date": date.isoformat(), "seed": seed} | _truth(plan.changes, plan.live)
