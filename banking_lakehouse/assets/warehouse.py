"""The PostgreSQL warehouse: each gold table of the lake loaded by COPY, one transaction per batch.

One table of loads, one factory: a load either replaces the batch's rows (aggregates, fraud, quarantine;
the fact's by partition exchange) or upserts by surrogate key the keys the batch delivered, with the
lake's merged values: a type-1 dimension's rows, or every version of those keys of a type-2 dimension
(upserted by version key; versions the lake merged away are deleted). So a re-run of an earlier day never
brings older values back, nor duplicates or cuts versions.
"""

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
from dagster import AssetExecutionContext, AssetKey, MaterializeResult, asset

from banking_lakehouse.assets import WAREHOUSE_ASSET
from banking_lakehouse.checks.factory import CheckInputs, check_specs, evaluate
from banking_lakehouse.checks.freshness import WAREHOUSE_FRESHNESS
from banking_lakehouse.entities import ENTITIES
from banking_lakehouse.resources.fact_exchange import FACT_TABLE
from banking_lakehouse.resources.lake import LakeResource
from banking_lakehouse.resources.postgres import PostgresResource
from banking_lakehouse.transforms.fraud import RULE_WEIGHTS
from banking_lakehouse.transforms.gold import DIMENSIONS


def _fraud_metrics(lake: LakeResource, dates: list[str], loaded: list[pa.Table]) -> dict[str, float | int]:
    """Share of the batches' transactions flagged, and flags per rule (every rule, 0 when it never fired, so
    each rule's plot in the UI has a point every day)."""
    fact_rows = sum(lake.partition_stats(["gold", "fact_transactions"], d)["rows"] for d in dates)
    flagged = sum(t.num_rows for t in loaded)
    per_rule = Counter(rule for t in loaded for rules in t.column("rules").to_pylist() for rule in rules.split(","))
    return {
        "fraud_rate": round(flagged / fact_rows, 6) if fact_rows else 0.0,
        **{f"fraud_rule_{rule}": per_rule[rule] for rule in RULE_WEIGHTS},
    }


@dataclass(frozen=True)
class Load:
    name: str
    sources: tuple[tuple[str, ...], ...]  # lake asset keys read
    table: str  # schema.table
    upsert_key: str | None = None  # None: replace the batch's rows
    batch_keys: tuple[str, ...] | None = None  # upserts: the lake table whose batch names the keys to load
    batch_key: str | None = None  # its key column; a type-2 dimension's durable key (upsert_key: its version key)
    after: tuple[str, ...] = ()  # warehouse loads that must land first
    metrics: Callable[[LakeResource, list[str], list[pa.Table]], dict] | None = (
        None  # extra metadata from the loaded rows
    )

    @property
    def reads(self) -> tuple[tuple[str, ...], ...]:
        """Every lake table the load reads."""
        return self.sources + ((self.batch_keys,) if self.batch_keys else ())


LOADS = (
    *(
        Load(
            d.name,
            (tuple(d.current_path),),
            f"gold.{d.name}",
            upsert_key=d.version_key or d.key,
            batch_keys=tuple(d.snapshots_path),
            batch_key=d.key,
        )
        for d in DIMENSIONS
    ),
    Load(
        "fact_transactions",
        (("gold", "fact_transactions"),),
        "gold.fact_transactions",
        after=tuple(d.name for d in DIMENSIONS),
    ),
    Load(
        "daily_customer_summary",
        (("gold", "daily_customer_summary"),),
        "gold.daily_customer_summary",
        after=("fact_transactions",),
    ),
    Load(
        "merchant_daily_summary",
        (("gold", "merchant_daily_summary"),),
        "gold.merchant_daily_summary",
        after=("fact_transactions",),
    ),
    Load(
        "fraud_transactions",
        (("gold", "fraud_transactions"),),
        "gold.fraud_transactions",
        after=("fact_transactions",),
        metrics=_fraud_metrics,
    ),
    Load("quarantine", tuple(("quarantine", e) for e in ENTITIES), "quality.quarantine"),
)


def build_load_asset(load: Load):
    key = AssetKey(["warehouse", load.name])

    @asset(
        key=key,
        deps=[AssetKey(list(s)) for s in load.reads] + [AssetKey(["warehouse", a]) for a in load.after],
        description=f"{load.table} in PostgreSQL, loaded by COPY from the lake "
        + ("(upsert by key)." if load.upsert_key else "(the batch's rows replaced in one transaction)."),
        **WAREHOUSE_ASSET,
        check_specs=check_specs(key),
        freshness_policy=WAREHOUSE_FRESHNESS,
    )
    def _load(context: AssetExecutionContext, lake: LakeResource, postgres: PostgresResource):
        for date in context.partition_keys:  # each day's own numbers, also in a multi-day run
            started = time.perf_counter()
            rows, replaced, months, loaded = 0, 0, set(), []
            for source in load.sources:
                if load.table == FACT_TABLE:  # streamed from the lake: the batch never has to fit in memory
                    exchanged = postgres.exchange_fact_batch(lake.arrow_dataset(source, date), date)
                    rows += exchanged.rows
                    replaced += exchanged.rows_replaced
                    months.update(m.isoformat() for m in exchanged.months)
                    continue
                if load.batch_keys:  # the batch's keys, with the dimension's merged rows (every version)
                    data = lake.read_arrow(source, None)
                    keys = lake.read_arrow(load.batch_keys, date, columns=[load.batch_key]).column(load.batch_key)
                    data = data.filter(pc.is_in(data.column(load.batch_key), value_set=keys))
                else:
                    data = lake.read_arrow(source, date)
                rows += data.num_rows
                if load.metrics:
                    loaded.append(data)
                if load.upsert_key:
                    versioned = load.upsert_key != load.batch_key
                    replaced += postgres.upsert_rows(
                        load.table, data, load.upsert_key, group=load.batch_key if versioned else None
                    )
                    continue
                where = {"batch_date": date} | ({"entity": source[1]} if source[0] == "quarantine" else {})
                replaced += postgres.replace_rows(load.table, data, where)
            metadata = {
                "dagster/row_count": rows,
                "rows_replaced": replaced,
                "table": load.table,
                "load_seconds": round(time.perf_counter() - started, 2),
            }
            if months:
                metadata["monthly_partitions"] = ", ".join(sorted(months))
            if load.metrics:
                metadata.update(load.metrics(lake, [date], loaded))
            context.add_asset_metadata(metadata, partition_key=date)
        yield MaterializeResult()
        yield from evaluate(context, key, CheckInputs(list(context.partition_keys), lake, postgres=postgres))

    return _load


warehouse_assets = [build_load_asset(load) for load in LOADS]
