"""The docker deployment, checked without a Docker engine: the files parse and agree with the code."""

import re
import subprocess
from pathlib import Path

import pyspark
import pytest
import yaml

from banking_lakehouse import settings

DOCKER = settings.PROJECT_DIR / "docker"
SERVICES = {"minio", "minio-init", "postgres", "dagster-code", "dagster-webserver", "dagster-daemon"}
DAGSTER_SERVICES = {"dagster-code", "dagster-webserver", "dagster-daemon"}
# What the code location reads to run on MinIO and the compose PostgreSQL instead of its local defaults.
CODE_ENV = {
    "BANKING_LAKE_URI",
    "BANKING_S3_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "BANKING_PG_DSN",
    "BANKING_PII_KEY",
    "BANKING_ANALYST_PASSWORD",
    "BANKING_LANDING_DIR",
    "BANKING_SOURCE",
    "BANKING_CORE_ENTITIES",
    "BANKING_SOURCE_DSN",
    "BANKING_AUTOMATION",
    "BANKING_DEPLOYMENT",
}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DOCKER / "docker-compose.yml").read_text())


def _env_example() -> dict[str, str]:
    lines = (DOCKER / ".env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_compose_names_every_service_with_healthchecks_and_loopback_ports(compose):
    services = compose["services"]
    assert set(services) == SERVICES
    for name, service in services.items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
        if name != "minio-init":  # a one-shot job
            assert service["healthcheck"]["test"], name
    assert {p.split(":")[1] for s in services.values() for p in s.get("ports", [])} == {"9000", "9001", "5432", "3000"}


def test_code_location_gets_every_setting_the_code_reads(compose):
    code = compose["services"]["dagster-code"]["environment"]
    assert CODE_ENV <= set(code)
    source = "\n".join(p.read_text() for p in (settings.PROJECT_DIR / "banking_lakehouse").rglob("*.py"))
    for name in CODE_ENV:
        assert re.search(rf'(getenv|EnvVar)\("{name}"', source), f"{name} is set for the container but never read"
    assert code["BANKING_LAKE_URI"].startswith("s3://") and code["BANKING_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert "@postgres:5432/warehouse" in code["BANKING_PG_DSN"]


def test_every_variable_is_defined_in_the_env_example_and_the_real_env_is_ignored(compose):
    text = (DOCKER / "docker-compose.yml").read_text()
    used = set(re.findall(r"(?<!\$)\$\{(\w+)\}", text))
    assert used and used <= set(_env_example())
    ignored = subprocess.run(["git", "check-ignore", "-q", str(DOCKER / ".env")], cwd=settings.PROJECT_DIR)
    assert ignored.returncode == 0


def test_dagster_instance_uses_postgres_storage_from_the_environment(compose):
    instance = yaml.safe_load((DOCKER / "dagster.yaml").read_text())
    db = instance["storage"]["postgres"]["postgres_db"]
    needed = {v["env"] for v in db.values() if isinstance(v, dict)}
    assert needed == {"DAGSTER_PG_HOST", "DAGSTER_PG_DB", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD"}
    for name in DAGSTER_SERVICES:
        assert needed <= set(compose["services"][name]["environment"]), name
    local = yaml.safe_load((settings.PROJECT_DIR / "instance" / "dagster.yaml").read_text())
    for key in ("run_launcher", "run_monitoring", "concurrency"):  # the laptop's queue and monitoring, in docker too
        assert instance[key] == local[key], key
    assert instance["concurrency"]["pools"] == {"default_limit": 1, "granularity": "run"}
    assert compose["services"]["dagster-daemon"]["pid"] == "service:dagster-code"
    init = (DOCKER / "postgres-init" / "01-databases.sql").read_text()
    assert "CREATE DATABASE warehouse" in init and "CREATE DATABASE dagster" in init


def test_workspace_points_at_the_code_server(compose):
    workspace = yaml.safe_load((DOCKER / "workspace.yaml").read_text())
    server = workspace["load_from"][0]["grpc_server"]
    command = compose["services"]["dagster-code"]["command"]
    assert server["host"] == "dagster-code" and str(server["port"]) == command[command.index("-p") + 1]
    assert command[command.index("-m") + 1] == "banking_lakehouse.definitions"


def test_volumes_are_declared_and_used(compose):
    mounted = {v.split(":")[0] for s in compose["services"].values() for v in s.get("volumes", [])}
    named = {m for m in mounted if not m.startswith(".")}
    assert named == set(compose["volumes"])


def test_dockerfile_installs_what_the_code_imports_and_the_matching_hadoop_aws():
    dockerfile = (DOCKER / "Dockerfile").read_text()
    assert "openjdk-17-jre-headless" in dockerfile
    assert 'pip install --no-cache-dir . "dagster-postgres' in dockerfile  # dagster.yaml's storage
    assert "COPY banking_lakehouse ./banking_lakehouse" in dockerfile and "BANKING_SPARK_S3A=1" in dockerfile
    bundled = next(Path(pyspark.__file__).parent.joinpath("jars").glob("hadoop-client-api-*.jar")).stem
    hadoop_aws = re.search(r"ARG HADOOP_AWS_VERSION=(\S+)", dockerfile).group(1)
    assert bundled == f"hadoop-client-api-{hadoop_aws}"
