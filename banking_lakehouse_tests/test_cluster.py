"""The cluster profile on real Spark clusters started from pip pyspark: a standalone master and a worker
on another network address (its own network namespace, as a second host), and a Spark Connect server.
A day run through either gives exactly what local mode gives, in the lake and in PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from dagster import materialize

from banking_lakehouse.resources.lake import LakeResource
from banking_lakehouse_tests.conftest import lake_state, make_resources, postgres_config, warehouse_state
from banking_lakehouse_tests.spark_cluster import connect_server, standalone_cluster
from banking_lakehouse_tests.test_pipeline import ASSETS

DAY, ROWS, SEED = "2024-11-20", 3_000, 13

# A day through the deployment profile the environment names (BANKING_DEPLOYMENT=cluster here).
CLUSTER_RUN = """
import json, sys
from banking_lakehouse import deployments
from banking_lakehouse.resources.delivery import DeliverySource
from banking_lakehouse.resources.lake import LakeResource
from banking_lakehouse.resources.pii import PiiKeyResource
from banking_lakehouse.resources.postgres import PostgresResource
from banking_lakehouse_tests.test_cluster import run_day
resources = deployments.resources(
    lake=LakeResource(base_uri=sys.argv[1], scratch_dir=sys.argv[2]),
    postgres=PostgresResource(**json.loads(sys.argv[3])),
    delivery=DeliverySource(source="synthetic"),
    pii=PiiKeyResource(key="test-key"),
)
run_day(resources)
"""


def run_day(resources: dict) -> None:
    result = materialize(
        ASSETS,
        partition_key=DAY,
        resources=resources,
        raise_on_error=False,
        run_config={"ops": {"raw_delivery": {"config": {"rows": ROWS, "seed": SEED}}}},
    )
    assert result.success


@pytest.fixture(scope="module")
def local_result(spark, spark_resource, postgres, run_dir):
    """The day in local mode: what every cluster must reproduce."""
    lake_uri = str(run_dir / "local_mode_lake")
    run_day(make_resources(lake_uri, spark_resource, postgres))
    return lake_state(LakeResource(base_uri=lake_uri), DAY), warehouse_state(postgres, DAY)


def _run_on_cluster(env: dict[str, str], run_dir, name: str, postgres) -> tuple[dict, tuple]:
    lake_uri = str(run_dir / f"{name}_lake")
    done = subprocess.run(
        [sys.executable, "-c", CLUSTER_RUN, lake_uri, str(run_dir / f"{name}_scratch"), postgres_config(postgres)],
        env={**os.environ, "BANKING_DEPLOYMENT": "cluster", **env},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return lake_state(LakeResource(base_uri=lake_uri), DAY), warehouse_state(postgres, DAY)


def test_a_day_on_a_standalone_cluster_with_a_worker_on_another_host_equals_local_mode(local_result, postgres, run_dir):
    with standalone_cluster() as cluster:
        assert cluster.isolated or os.geteuid() != 0  # as root the worker always gets its own namespace
        assert cluster.worker_host != cluster.driver_host or not cluster.isolated
        # Spark's own settings: where the master is, and the address executors call the driver back on.
        env = {
            "BANKING_SPARK_MASTER": cluster.master_url,
            "SPARK_LOCAL_IP": cluster.driver_host,
            "PYSPARK_PYTHON": sys.executable,
        }
        assert _run_on_cluster(env, run_dir, "standalone", postgres) == local_result


def test_a_day_through_spark_connect_equals_local_mode(local_result, postgres, run_dir):
    with connect_server() as url:
        assert _run_on_cluster({"BANKING_SPARK_REMOTE": url}, run_dir, "connect", postgres) == local_result
