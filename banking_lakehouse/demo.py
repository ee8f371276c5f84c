"""`make demo`: materialise every asset for a day (or the last N days, as one single-run backfill), then
print what landed where.

python -m banking_lakehouse.demo [--date YYYY-MM-DD (default: yesterday, UTC)] [--days N] [--rows 100000] [--seed 7]
                                 [--core]

Yesterday is the day the schedule would run, so the UI's partition plots show the demo's data at once.
With --core (`make demo-core`), the master entities BANKING_CORE_ENTITIES names come from the simulated
core-banking database: seeded when empty, then each day's changes applied just before that day runs, as a
nightly extraction would find them (one run per day).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time

from dagster import DagsterInstance, build_resources, execute_job, reconstructable

# The demo chooses generated deliveries explicitly; the code location's default source is the landing zone.
os.environ.setdefault("BANKING_SOURCE", "synthetic")

from banking_lakehouse import settings
from banking_lakehouse.definitions import daily_pipeline, defs
from banking_lakehouse.generator.core_banking import CoreDayAlreadyApplied, apply_core_day, seed_core
from banking_lakehouse.partitions import range_tags
from banking_lakehouse.resources.core_banking import CoreBankingSource
from banking_lakehouse.resources.lake import LakeResource
from banking_lakehouse.resources.postgres import PostgresResource
from banking_lakehouse.sql import read_sql


def _summary(date: str, lake: LakeResource, postgres: PostgresResource, seconds: float) -> str:
    params = {"batch_date": date}
    totals = postgres.fetch(read_sql("demo_summary.sql"), params)[0]
    names = [
        "fact_rows",
        "fact_amount_usd",
        "dim_customer_rows",
        "dim_account_rows",
        "dim_merchant_rows",
        "customer_summary_rows",
        "merchant_summary_rows",
        "fraud_rows",
    ]
    pg = dict(zip(names, totals, strict=True))
    lines = [f"banking_lakehouse demo — batch {date} ({seconds:.1f} s)", "", "rows per layer (transactions):"]
    raw_rows = lake.raw_rows(date, "transactions")
    for label, key in (
        ("silver", ["silver", "transactions"]),
        ("quarantine", ["quarantine", "transactions"]),
        ("gold (lake)", ["gold", "fact_transactions"]),
    ):
        lines.append(f"  {label:<22}{lake.partition_stats(key, date)['rows']:>10,}")
    lines.insert(3, f"  {'raw':<22}{raw_rows:>10,}")
    lines.append(f"  {'gold.fact_transactions':<22}{pg['fact_rows']:>10,}   Σ amount_usd {pg['fact_amount_usd']:,}")
    lines += [
        "",
        "dimensions (PostgreSQL): "
        f"customers {pg['dim_customer_rows']:,}, accounts {pg['dim_account_rows']:,}, merchants {pg['dim_merchant_rows']:,}",
        f"aggregates: daily_customer_summary {pg['customer_summary_rows']:,}, "
        f"merchant_daily_summary {pg['merchant_summary_rows']:,}",
        f"fraud_transactions: {pg['fraud_rows']:,}",
        "",
        "quarantined rows by reason (quality.quarantine):",
    ]
    for entity, reason, count in postgres.fetch(read_sql("quarantine_by_reason.sql"), params):
        lines.append(f"  {entity:<14}{reason:<24}{count:>8,}")
    where = (
        "the server named by BANKING_PG_DSN"
        if postgres.dsn
        else f"embedded server in {postgres.embedded_dir} (unix socket)"
    )
    core = {e: d for e, d in lake.delivery(date)["entities"].items() if d.get("source") == "core"}
    if core:
        lines += ["", "extracted from the core-banking database (rows changed in the day's window; the day's state):"]
        for entity, described in core.items():
            lines.append(f"  {entity:<14}{described['extracted_rows']:>8,} changed{described['records']:>10,} in state")
    lines += ["", f"lake:       {lake.base_uri}", f"raw files:  {lake.raw_uri(date)}", f"postgres:   {where}"]
    return "\n".join(lines)


def _simulate_core_day(source: CoreBankingSource, seed: int, rows: int, first: str, day: str) -> None:
    """The simulated core system as of the day's end: seeded before the first day when empty, the day's
    changes applied once (a day already applied by an earlier demo stays as it is)."""
    source.ensure_schema()
    with source.connect() as conn:
        if not conn.execute("SELECT EXISTS (SELECT 1 FROM core.customers)").fetchone()[0]:
            seed_core(conn, seed, dt.date.fromisoformat(first), rows)
        try:
            apply_core_day(conn, seed, dt.date.fromisoformat(day))
        except CoreDayAlreadyApplied:
            pass


def _run(days: list[str], rows: int, seed: int) -> bool:
    with execute_job(
        reconstructable(daily_pipeline),
        DagsterInstance.get(),
        tags=range_tags(days[0], days[-1]),
        run_config={
            "ops": {"raw_delivery": {"config": {"rows": rows, "seed": seed}}},
            "loggers": {"console": {"config": {"log_level": "WARNING"}}},
        },
        raise_on_error=False,
    ) as result:
        if not result.success:
            print(f"demo run {result.run_id} failed; see the Dagster UI (make dev) or the log above", file=sys.stderr)
        return result.success


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    parser.add_argument(
        "--date", default=yesterday, type=dt.date.fromisoformat, help="the last day (default: yesterday)"
    )
    parser.add_argument("--days", type=int, default=1, help="how many days up to --date, as one run")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--core", action="store_true", help="master data from the simulated core-banking database, day by day"
    )
    args = parser.parse_args(argv)
    days = [(args.date - dt.timedelta(days=n)).isoformat() for n in reversed(range(max(args.days, 1)))]
    if args.core and not settings.core_entities():
        parser.error("--core needs BANKING_CORE_ENTITIES (e.g. customers,accounts,merchants): `make demo-core` sets it")
    started = time.perf_counter()
    if not args.core:
        if not _run(days, args.rows, args.seed):
            return 1
    else:  # the core system changes day by day, and each day is extracted after its changes: a run per day
        with build_resources({"core_banking": defs.resources["core_banking"]}) as resources:
            source = resources.core_banking
        for day in days:
            _simulate_core_day(source, args.seed, args.rows, days[0], day)
            if not _run([day], args.rows, args.seed):
                return 1
    # EnvVar-backed fields (the DSN, S3 credentials) are resolved here, never printed.
    with build_resources({name: defs.resources[name] for name in ("lake", "postgres")}) as resources:
        for day in days:
            print(_summary(day, resources.lake, resources.postgres, time.perf_counter() - started), end="\n\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
