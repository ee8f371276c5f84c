"""Gold in the lake: dimensions and the enriched fact, as Parquet for downstream Spark."""

from dagster import AssetExecutionContext, AssetIn, AssetKey, AssetOut, BackfillPolicy, asset, multi_asset
from pyspark.sql import DataFrame

from banking_lakehouse.partitions import daily_partitions_def
from banking_lakehouse.resources.pii import PiiKeyResource
from banking_lakehouse.resources.spark import SPARK_POOL
from banking_lakehouse.transforms import gold

OWNERS = ["team:data-engineering"]
LAKE_KINDS = {"spark", "parquet"}


@multi_asset(
    outs={
        name: AssetOut(key=["gold", name], description=text, kinds=LAKE_KINDS, owners=OWNERS, tags={"layer": "gold"})
        for name, text in (
            ("dim_customer", "Customers with hashed surrogate keys; names tokenised, email and phone masked."),
            ("dim_account", "Accounts with surrogate keys and their customer's key."),
            ("dim_merchant", "Merchants with category, MCC and risk level."),
        )
    },
    ins={e: AssetIn(key=["silver", e]) for e in ("customers", "accounts", "merchants")},
    # A batch reaches gold whole: dimensions wait for the day's transactions to pass their blocking checks.
    deps=[AssetKey(["silver", "transactions"])],
    group_name="gold",
    partitions_def=daily_partitions_def,
    backfill_policy=BackfillPolicy.single_run(),
    pool=SPARK_POOL,
)
def gold_dimensions(pii: PiiKeyResource, customers: DataFrame, accounts: DataFrame, merchants: DataFrame):
    return (
        gold.dim_customer(customers, pii.key),
        gold.dim_account(accounts, pii.key),
        gold.dim_merchant(merchants, pii.key),
    )


@asset(
    key=["gold", "fact_transactions"],
    ins={
        "transactions": AssetIn(key=["silver", "transactions"]),
        "customers": AssetIn(key=["silver", "customers"]),
        "merchants": AssetIn(key=["silver", "merchants"]),
    },
    description="One row per valid transaction, keyed to every dimension, with derived analytics columns.",
    group_name="gold",
    kinds=LAKE_KINDS,
    owners=OWNERS,
    tags={"layer": "gold"},
    partitions_def=daily_partitions_def,
    backfill_policy=BackfillPolicy.single_run(),
    pool=SPARK_POOL,
)
def fact_transactions(
    context: AssetExecutionContext,
    pii: PiiKeyResource,
    transactions: DataFrame,
    customers: DataFrame,
    merchants: DataFrame,
) -> DataFrame:
    return gold.fact_transactions(transactions, customers, merchants, pii.key)
