"""The one place that decides where things live and which services are used (local vs DSN/S3/cluster).

Asset code never reads the environment; it receives resources built from these values.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from banking_lakehouse.entities import MASTER_ENTITIES

PROJECT_DIR = Path(__file__).resolve().parent.parent


def owner_only_files() -> None:
    """Everything this process creates (lake, landing copies, scratch, logs) is readable by its owner only."""
    os.umask(0o077)


def data_dir() -> Path:
    """Root for everything the local mode writes: the lake, the embedded PostgreSQL, Dagster's home.
    A clone keeps it beside the code; an installed wheel has no project directory, so ./data."""
    default = PROJECT_DIR / "data" if (PROJECT_DIR / "pyproject.toml").is_file() else Path.cwd() / "data"
    return Path(os.getenv("BANKING_DATA_DIR", default))


def lake_uri() -> str:
    return os.getenv("BANKING_LAKE_URI", str(data_dir() / "lake"))


def s3_endpoint_url() -> str | None:
    """MinIO or another S3-compatible server; unset for AWS S3."""
    return os.getenv("BANKING_S3_ENDPOINT_URL") or None


def s3_credentials_configured() -> bool:
    return bool(os.getenv("AWS_ACCESS_KEY_ID"))


def spark_master() -> str | None:
    """The cluster profile's master URL (spark://host:7077, yarn, k8s://...); unset: spark-defaults.conf decides."""
    return os.getenv("BANKING_SPARK_MASTER") or None


def spark_remote() -> str | None:
    """A Spark Connect URL (sc://host:15002) for the cluster profile: Databricks, EMR, a connect server."""
    return os.getenv("BANKING_SPARK_REMOTE") or None


def spark_has_s3a() -> bool:
    """The Spark session can read and write s3a:// itself (the docker image ships hadoop-aws)."""
    return os.getenv("BANKING_SPARK_S3A", "").lower() in ("1", "true", "yes")


def start_date() -> str:
    return os.getenv("BANKING_START_DATE", "2024-01-01")


def embedded_pg_dir() -> Path:
    return data_dir() / "postgres"


def pg_dsn_configured() -> bool:
    return bool(os.getenv("BANKING_PG_DSN"))


DEFAULT_PG_PORT = 5433  # beside a system PostgreSQL on 5432


def pg_listen_port() -> int | None:
    """The port on which the embedded server also listens on 127.0.0.1 (BANKING_PG_LISTEN_TCP=1, BANKING_PG_PORT),
    for BI tools; None: its Unix socket only (the default). The listener admits password logins only, so it is
    refused without BANKING_ANALYST_PASSWORD rather than opened with no way in but a passwordless one."""
    if os.getenv("BANKING_PG_LISTEN_TCP", "").strip().lower() not in ("1", "true", "yes", "on"):
        return None
    if not analyst_password():
        raise ValueError(
            "BANKING_PG_LISTEN_TCP=1 needs BANKING_ANALYST_PASSWORD: the 127.0.0.1 listener admits the analyst "
            "by password only (scram-sha-256)"
        )
    port = os.getenv("BANKING_PG_PORT", str(DEFAULT_PG_PORT)).strip()
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"BANKING_PG_PORT={port!r}: a TCP port number (1-65535)")
    return int(port)


def analyst_password() -> str | None:
    """The read-only analyst's password (BANKING_ANALYST_PASSWORD); it reaches the server only as a SCRAM verifier
    and is never printed."""
    return os.getenv("BANKING_ANALYST_PASSWORD") or None


def pii_key_configured() -> bool:
    return bool(os.getenv("BANKING_PII_KEY"))


def quarantine_warn_rate() -> float:
    """Quarantined share of a batch above which a WARN check fails (default 1 %)."""
    return float(os.getenv("BANKING_QUARANTINE_WARN_RATE", "0.01"))


def quarantine_error_rate() -> float:
    """Quarantined share of a batch above which a blocking ERROR check fails (default 5 %)."""
    return float(os.getenv("BANKING_QUARANTINE_ERROR_RATE", "0.05"))


def automation_running() -> bool:
    """Whether the schedule and sensors start RUNNING (BANKING_AUTOMATION=on: docker compose) or STOPPED
    (the default: a laptop runs what a person starts)."""
    return os.getenv("BANKING_AUTOMATION", "off").strip().lower() in ("on", "1", "true", "yes")


def deployment() -> str:
    """Which deployment this is (BANKING_DEPLOYMENT): `local` (a laptop) unless said otherwise."""
    return os.getenv("BANKING_DEPLOYMENT", "local").strip().lower()


def orphan_warn_rate() -> float:
    """Share of a batch's fact rows pointing at an unknown member above which a WARN check fails (default 1 %)."""
    return float(os.getenv("BANKING_ORPHAN_WARN_RATE", "0.01"))


def landing_uri() -> str:
    """Where source systems drop a day's files, <landing>/date=YYYY-MM-DD/ (watched by a sensor): a directory
    or s3://bucket/prefix."""
    return os.getenv("BANKING_LANDING_DIR") or str(data_dir() / "landing")


SOURCES = ("landing", "synthetic")


def source() -> str:
    """Where deliveries come from: `landing` (default: a bank's files only) or `synthetic` (the generator)."""
    value = os.getenv("BANKING_SOURCE", "landing").strip().lower()
    if value not in SOURCES:
        raise ValueError(f"BANKING_SOURCE={value!r}: choose one of {', '.join(SOURCES)}")
    return value


def core_entities() -> list[str]:
    """Master entities extracted from the core-banking database (BANKING_CORE_ENTITIES, comma-separated, e.g.
    `customers,accounts`); the others, and transactions always, are delivered as files. Default: none."""
    names = [n.strip().lower() for n in os.getenv("BANKING_CORE_ENTITIES", "").split(",") if n.strip()]
    unknown = [n for n in names if n not in MASTER_ENTITIES]
    if unknown:
        raise ValueError(
            f"BANKING_CORE_ENTITIES: {', '.join(unknown)} cannot come from the core system; "
            f"choose among {', '.join(MASTER_ENTITIES)}"
        )
    return [n for n in MASTER_ENTITIES if n in names]


def source_dsn_configured() -> bool:
    """BANKING_SOURCE_DSN names the core-banking database; unset: `core_banking` on the embedded server."""
    return bool(os.getenv("BANKING_SOURCE_DSN"))


SYNTHETIC_DELIVERY_VARIABLES = {"rows": "BANKING_SYNTHETIC_ROWS", "seed": "BANKING_SYNTHETIC_SEED"}


def synthetic_delivery() -> dict[str, int]:
    """Rows and seed of a generated day that the environment sets (the main job's launchpad default);
    a variable left unset keeps the raw asset's own default."""
    return {key: int(os.environ[var]) for key, var in SYNTHETIC_DELIVERY_VARIABLES.items() if os.getenv(var)}


def landing_encoding() -> str:
    """Encoding of the landing zone's files (UTF-8 unless the source system says otherwise, e.g. latin-1)."""
    return os.getenv("BANKING_LANDING_ENCODING", "utf-8")


DAGSTER_STORAGES = ("sqlite", "postgres")


def dagster_storage() -> str:
    """Where a local Dagster instance keeps runs, events and schedules: `sqlite` under DAGSTER_HOME (default)
    or `postgres` (BANKING_DAGSTER_STORAGE=postgres: `make dev` and `make demo` use instance/dagster.postgres.yaml)."""
    value = os.getenv("BANKING_DAGSTER_STORAGE", "sqlite").strip().lower()
    if value not in DAGSTER_STORAGES:
        raise ValueError(f"BANKING_DAGSTER_STORAGE={value!r}: choose one of {', '.join(DAGSTER_STORAGES)}")
    return value


def key_value_pairs(variable: str) -> dict[str, str]:
    """A variable holding `key=value` pairs (shell quoting), as `--conf` would give them."""
    pairs = [item.split("=", 1) for item in shlex.split(os.getenv(variable, ""))]
    bad = [p[0] for p in pairs if len(p) != 2]
    if bad:
        raise ValueError(f"{variable}: expected key=value, got {', '.join(bad)}")
    return dict(pairs)


def stream_checkpoint() -> str:
    """Where the fraud alert stream keeps its checkpoint and admitted files (BANKING_STREAM_CHECKPOINT): unset,
    the lake's `_streams/fraud_alerts`, which Spark must be able to write (a local lake, or S3 through s3a)."""
    return os.getenv("BANKING_STREAM_CHECKPOINT", "")


STREAM_SOURCES = ("files", "kafka")


def stream_source() -> str:
    """What the fraud alert stream reads (BANKING_STREAM_SOURCE): `files` (the landing zone's complete drops) or
    `kafka` (a topic of transaction CSV lines; needs a broker and Spark's Kafka package)."""
    value = os.getenv("BANKING_STREAM_SOURCE", "files").strip().lower()
    if value not in STREAM_SOURCES:
        raise ValueError(f"BANKING_STREAM_SOURCE={value!r}: choose one of {', '.join(STREAM_SOURCES)}")
    return value
