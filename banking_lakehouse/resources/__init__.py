"""Resource wiring: the only place that turns settings and environment variables into resources."""

from __future__ import annotations

import os

from dagster import EnvVar

from banking_lakehouse import settings
from banking_lakehouse.resources.lake import LakeIOManager, LakeResource
from banking_lakehouse.resources.pii import PiiKeyResource
from banking_lakehouse.resources.postgres import PostgresResource
from banking_lakehouse.resources.spark import SparkResource


def build_resources() -> dict[str, object]:
    spark = SparkResource(
        master=os.getenv("BANKING_SPARK_MASTER", "local[*]"),
        remote=os.getenv("BANKING_SPARK_REMOTE") or None,
    )
    lake = LakeResource(base_uri=settings.lake_uri(), landing_uri=str(settings.landing_dir()))
    postgres = (
        PostgresResource(dsn=EnvVar("BANKING_PG_DSN")) if settings.pg_dsn_configured() else PostgresResource()
    )
    pii = PiiKeyResource(key=EnvVar("BANKING_PII_KEY")) if settings.pii_key_configured() else PiiKeyResource()
    return {
        "spark": spark,
        "lake": lake,
        "io_manager": LakeIOManager(lake=lake, spark=spark),
        "postgres": postgres,
        "pii": pii,
    }
