"""Deployment profiles: the one place that turns an environment into resources.

`BANKING_DEPLOYMENT` names the profile:
- `local`   (default) a laptop: Spark in this process bound to 127.0.0.1, the lake on disk (or S3 by
            BANKING_LAKE_URI), the embedded PostgreSQL unless BANKING_PG_DSN names a server;
- `docker`  the compose stack: Spark local inside the code-location container, MinIO through s3a,
            PostgreSQL by DSN;
- `cluster` a Spark cluster: the master (BANKING_SPARK_MASTER: spark://, yarn, k8s://) or a Spark Connect
            URL (BANKING_SPARK_REMOTE), the driver's address from Spark's own settings, and a lake every
            executor reaches (S3 through s3a, or a shared directory).

Definitions, tests, benchmarks and the demo all get their resources from `resources()`; asset code
never asks which environment it runs in. Spark properties a profile does not set come from Spark's own
places (spark-defaults.conf, SPARK_LOCAL_IP) and BANKING_SPARK_CONF overrides them all.
"""

from __future__ import annotations

import os

from dagster import EnvVar
from dagster_aws.s3 import S3Resource

from banking_lakehouse import settings
from banking_lakehouse.resources.core_banking import CoreBankingSource
from banking_lakehouse.resources.delivery import DeliverySource
from banking_lakehouse.resources.java import driver_java_options
from banking_lakehouse.resources.lake import LakeIOManager, LakeResource
from banking_lakehouse.resources.pii import PiiKeyResource
from banking_lakehouse.resources.postgres import PostgresResource
from banking_lakehouse.resources.spark import SparkResource

DEPLOYMENTS = ("local", "docker", "cluster")

# What every profile needs for correct results: UTC, partition-wise overwrite, Parquet as the lake stores it.
SPARK_SEMANTICS = {
    "spark.app.name": "banking_lakehouse",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.sources.partitionOverwriteMode": "dynamic",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.parquet.compression.codec": "snappy",
    "spark.sql.adaptive.enabled": "true",
    "spark.ui.showConsoleProgress": "false",
    "spark.hadoop.fs.permissions.umask-mode": "077",  # the lake's files owner-only, as the process's
}
# A laptop: one JVM in this process, reachable only from this machine, sized for 2 cores.
SPARK_LOCAL = {
    "spark.master": "local[*]",
    "spark.driver.memory": "2g",
    # The silver classification is cached once and read twice: compressing its columns cost more CPU than
    # the memory it saved (1M rows: a few hundred MB, within the driver's 2 GB).
    "spark.sql.inMemoryColumnarStorage.compressed": "false",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.driver.host": "127.0.0.1",
    "spark.ui.enabled": "false",
    # Shuffles sized to the data: 32 partitions at most, coalesced by adaptive execution into even parts of
    # at most 64 MB, and at least one per core where the data exceeds 1 MB a core (parallelism first): a
    # 1M-row day's shuffles keep both cores busy, a small day uses one partition, 10M rows all 32.
    "spark.sql.shuffle.partitions": "32",
    "spark.sql.adaptive.advisoryPartitionSizeInBytes": "64m",
}


def deployment() -> str:
    name = settings.deployment()
    if name not in DEPLOYMENTS:
        raise ValueError(f"BANKING_DEPLOYMENT={name!r}: choose one of {', '.join(DEPLOYMENTS)}")
    return name


def _s3a_conf() -> dict[str, str]:
    """Spark's own S3 client: path-style for MinIO; credentials from the environment, never in conf."""
    conf = {
        "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3a.aws.credentials.provider": "software.amazon.awssdk.auth.credentials.EnvironmentVariableCredentialsProvider",
    }
    if settings.s3_endpoint_url():
        conf["spark.hadoop.fs.s3a.endpoint"] = settings.s3_endpoint_url()
    return conf


def spark_overrides() -> dict[str, str]:
    """BANKING_SPARK_CONF: `key=value` pairs (shell quoting), as `--conf` would give them, applied last."""
    return settings.key_value_pairs("BANKING_SPARK_CONF")


def spark_config(name: str | None = None) -> dict[str, str]:
    """The Spark properties of a profile; on a cluster nothing network-related is forced."""
    name = name or deployment()
    conf = dict(SPARK_SEMANTICS)
    if name == "local":
        conf |= SPARK_LOCAL | {"spark.driver.extraJavaOptions": driver_java_options()}
    elif name == "docker":
        conf["spark.master"] = "local[*]"
    elif settings.spark_remote():
        conf["spark.remote"] = settings.spark_remote()
    elif settings.spark_master():
        conf["spark.master"] = settings.spark_master()
    if settings.spark_has_s3a():
        conf |= _s3a_conf()
    return conf | spark_overrides()


def _s3() -> S3Resource:
    if settings.s3_credentials_configured():
        return S3Resource(
            endpoint_url=settings.s3_endpoint_url(),
            region_name=os.getenv("AWS_REGION", "us-east-1"),
            aws_access_key_id=EnvVar("AWS_ACCESS_KEY_ID"),
            aws_secret_access_key=EnvVar("AWS_SECRET_ACCESS_KEY"),
        )
    return S3Resource(endpoint_url=settings.s3_endpoint_url())  # the default AWS credential chain


def lake() -> LakeResource:
    """The lake the environment names (BANKING_LAKE_URI and the S3 settings): every profile's, and `sql`'s."""
    return LakeResource(
        base_uri=settings.lake_uri(),
        s3=_s3(),
        scratch_dir=str(settings.data_dir() / "scratch"),
        spark_s3a=settings.spark_has_s3a(),
    )


def resources(name: str | None = None, **replaced: object) -> dict[str, object]:
    """The resources of a deployment; `replaced` swaps any of them (a test's lake, a benchmark's database).
    The IO manager always works over the lake and Spark finally chosen."""
    name = name or deployment()
    if name == "cluster" and settings.lake_uri().startswith(("s3://", "s3a://")) and not settings.spark_has_s3a():
        raise ValueError(
            f"BANKING_DEPLOYMENT=cluster with BANKING_LAKE_URI={settings.lake_uri()}: the executors reach S3 only "
            "through Spark's s3a connector; install hadoop-aws on the cluster and set BANKING_SPARK_S3A=1"
        )
    built: dict[str, object] = {
        "delivery": DeliverySource(
            source=settings.source(), landing_uri=settings.landing_uri(), encoding=settings.landing_encoding(), s3=_s3()
        ),
        "core_banking": CoreBankingSource(
            dsn=EnvVar("BANKING_SOURCE_DSN") if settings.source_dsn_configured() else None,
            entities=settings.core_entities(),
        ),
        "spark": SparkResource(
            spark_config=spark_config(name),
            jvm_log=str(settings.data_dir() / "logs" / "spark-driver.log") if name == "local" else None,
        ),
        "lake": lake(),
        "postgres": PostgresResource(dsn=EnvVar("BANKING_PG_DSN"))
        if settings.pg_dsn_configured()
        else PostgresResource(),
        "pii": PiiKeyResource(key=EnvVar("BANKING_PII_KEY"), deployment=name)
        if settings.pii_key_configured()
        else PiiKeyResource(deployment=name),
    }
    built |= replaced
    built["io_manager"] = LakeIOManager(lake=built["lake"], spark=built["spark"])
    return built
