"""Software-defined assets, one module per layer: raw -> silver -> gold -> warehouse (+ aggregates, fraud)."""

from dagster import BackfillPolicy

from banking_lakehouse.partitions import daily_partitions_def

# What every PostgreSQL-side asset shares: group, kind, owner, layer tag, daily partitions, ranges as one run.
WAREHOUSE_ASSET = {
    "group_name": "warehouse",
    "kinds": {"postgres"},
    "owners": ["team:data-engineering"],
    "tags": {"layer": "warehouse"},
    "partitions_def": daily_partitions_def,
    "backfill_policy": BackfillPolicy.single_run(),
}

# What every fraud-analytics lake asset shares (the rules' output and their running statistics).
FRAUD_ASSET = {
    "group_name": "fraud",
    "kinds": {"spark", "parquet"},
    "owners": ["team:fraud-analytics"],
    "tags": {"layer": "gold"},
    "partitions_def": daily_partitions_def,
    "backfill_policy": BackfillPolicy.single_run(),
}
