"""Resource wiring: the only place that turns settings and environment variables into resources."""

from __future__ import annotations

import os

from dagster import EnvVar
from dagster_aws.s3 import S3Resource

from banking_lakehouse import settings
from banking_lakehouse.resources.delivery import DeliverySource
from banking_lakehouse.resources.lake import LakeIOManager, LakeResource
from banking_lakehouse.resources.pii import PiiKeyResource
from banking_lakehouse.resources.postgres import PostgresResource
from banking_lakehouse.resources.spark import SparkResource


def _s3a_conf() -> dict[str, str]:
    """Spark's own S3 client (docker image): path-style for MinIO; credentials from the environment, not conf."""
    conf = {
        "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3a.aws.credentials.provider":
            "software.amazon.awssdk.auth.credentials.EnvironmentVariableCredentialsProvider",
    }
    if settings.s3_endpoint_url():
        conf["spark.hadoop.fs.s3a.endpoint"] = settings.s3_endpoint_url()
    return conf


def build_resources() -> dict[str, object]:
    spark = SparkResource(
        master=os.getenv("BANKING_SPARK_MASTER", "local[*]"),
        remote=os.getenv("BANKING_SPARK_REMOTE") or None,
        conf=_s3a_conf() if settings.spark_has_s3a() else {},
    )
    s3 = (
        S3Resource(
            endpoint_url=settings.s3_endpoint_url(),
            region_name=os.getenv("AWS_REGION", "us-east-1"),
            aws_access_key_id=EnvVar("AWS_ACCESS_KEY_ID"),
            aws_secret_access_key=EnvVar("AWS_SECRET_ACCESS_KEY"),
        )
        if settings.s3_credentials_configured()
        else S3Resource(endpoint_url=settings.s3_endpoint_url())  # the default AWS credential chain
    )
    lake = LakeResource(
        base_uri=settings.lake_uri(),
        s3=s3,
        scratch_dir=str(settings.data_dir() / "scratch"),
        spark_s3a=settings.spark_has_s3a(),
    )
    postgres = (
        PostgresResource(dsn=EnvVar("BANKING_PG_DSN")) if settings.pg_dsn_configured() else PostgresResource()
    )
    pii = (PiiKeyResource(key=EnvVar("BANKING_PII_KEY"), deployment=settings.deployment())
           if settings.pii_key_configured() else PiiKeyResource(deployment=settings.deployment()))
    delivery = DeliverySource(
        source=settings.source(), landing_uri=str(settings.landing_dir()), encoding=settings.landing_encoding()
    )
    return {
        "delivery": delivery,
        "spark": spark,
        "lake": lake,
        "io_manager": LakeIOManager(lake=lake, spark=spark),
        "postgres": postgres,
        "pii": pii,
    }
