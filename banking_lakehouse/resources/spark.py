"""SparkResource: dagster-pyspark's lazily created SparkSession, configured only by Spark's own settings.

`spark_config` holds Spark properties as Spark documents them (`spark.master`, `spark.remote` for
Spark Connect, `spark.driver.host`, ...); the deployment profile fills it (`deployments.spark_config`).
Settings it leaves out come from where Spark always looks: `spark-defaults.conf` in SPARK_CONF_DIR,
SPARK_LOCAL_IP, PYSPARK_SUBMIT_ARGS. The session starts on first use, so steps without Spark start no JVM.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from dagster import InitResourceContext
from dagster_pyspark import LazyPySparkResource
from pydantic import Field
from pyspark import SparkConf, SparkContext
from pyspark.java_gateway import launch_gateway

from banking_lakehouse import USER_SPARK_LOCAL_IP
from banking_lakehouse.resources.java import spark_java_home

# The concurrency pool of every asset that runs Spark: dagster.yaml gives it one slot (granularity run),
# so one Spark run holds the machine's cores while runs without Spark (health, freshness) still start.
SPARK_POOL = "spark"
_lock = threading.Lock()


def restore_spark_local_ip() -> None:
    """SPARK_LOCAL_IP back to what the environment said (pandera sets 127.0.0.1 on import when unset), so
    the driver binds where Spark's own rules put it; the local profile binds to 127.0.0.1 by its conf."""
    if USER_SPARK_LOCAL_IP is None:
        os.environ.pop("SPARK_LOCAL_IP", None)
    else:
        os.environ["SPARK_LOCAL_IP"] = USER_SPARK_LOCAL_IP


class SparkResource(LazyPySparkResource):
    """A SparkSession in local mode, on a standalone/YARN/Kubernetes master, or through Spark Connect."""

    jvm_log: str | None = Field(
        default=None, description="file for the driver JVM's own output (a laptop's console stays readable)"
    )

    @property
    def is_connect(self) -> bool:
        return "spark.remote" in self.spark_config

    def setup_for_execution(self, context: InitResourceContext) -> None:
        """A run with Spark steps sets this resource up when it begins (one process, in-process executor):
        the session starts in a background thread, so the steps before the first Spark step (generation,
        parsing) overlap the JVM's start-up, and that step waits for it. A failure here is left for that
        step to raise."""
        threading.Thread(target=self._start_quietly, name="spark-warm-up", daemon=True).start()

    def _start_quietly(self) -> None:
        try:
            self._init_session()
        except Exception:  # noqa: BLE001, S110 - the step that needs Spark starts it again and reports why
            pass

    def _init_session(self) -> None:
        with _lock:
            if self._spark_session is not None:
                return
            if not self.is_connect:
                os.environ["JAVA_HOME"] = spark_java_home()  # what Spark's launcher starts the driver with
                restore_spark_local_ip()
                if self.jvm_log and SparkContext._active_spark_context is None:
                    self._start_driver_logging_to_file()
            super()._init_session()
        if not self.is_connect:
            self._spark_session.sparkContext.setLogLevel("ERROR")

    def _start_driver_logging_to_file(self) -> None:
        """Starts the driver JVM with its stdout/stderr (Spark's console logging, JVM notices) in `jvm_log`,
        through pyspark's own hook for this (launch_gateway's popen_kwargs); the session then reuses it."""
        log = Path(self.jvm_log)
        log.parent.mkdir(parents=True, exist_ok=True)
        conf = SparkConf(loadDefaults=False).setAll(list(self.spark_config.items()))
        with log.open("ab") as output:
            gateway = launch_gateway(conf, popen_kwargs={"stdout": output, "stderr": output})
        SparkContext(conf=conf, gateway=gateway)
