"""`python -m banking_lakehouse java-cache` (run by `make setup`): records the Spark driver's AOT cache
(resources/java.py) from a training run, a small generated day through every asset in a throwaway data
directory, so a run's JVM starts with the classes it loads and the profiles of the code it runs.

The JVM writes the cache when it exits, after the run's Python process: the run gets its own process group,
and the cache is taken once nothing of that group is left. It is recorded under a private name and renamed
into place, so a JVM starting meanwhile finds the whole cache or none.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from banking_lakehouse.resources.java import DRIVER_JAVA_OPTIONS, aot_cache

TRAINING_ROWS = 20_000
TRAINING_DAY = "2024-01-02"
WAIT_SECONDS = 900


def _wait_for_group(group: int) -> None:
    """Until no process of the group is left (the JVM writing the cache, the JVM it starts to assemble it)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        time.sleep(0.5)
    raise TimeoutError(f"the training run's JVM did not exit within {WAIT_SECONDS} s")


def record(rows: int = TRAINING_ROWS) -> Path | None:
    """The AOT cache, recorded unless it exists (saying so on stderr: stdout stays the caller's, as in
    `make psql SQL=...`); None when the Java is older than 25."""
    cache = aot_cache()
    if cache is None or cache.exists():
        return cache
    print(f"recording the Spark driver's AOT cache (once, ~1.5 min) in {cache} ...", file=sys.stderr, flush=True)
    staged = cache.with_name(f".{cache.name}.{os.getpid()}")
    options = f"{DRIVER_JAVA_OPTIONS} -XX:AOTCacheOutput={staged}"
    with tempfile.TemporaryDirectory(prefix="banking-aot-") as tmp:
        # Only the training's own settings: never the user's lake, landing zone, warehouse or Spark overrides.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BANKING_", "DAGSTER_"))}
        env |= {
            "BANKING_DATA_DIR": tmp,
            "DAGSTER_HOME": tmp,
            "BANKING_SOURCE": "synthetic",
            "BANKING_SPARK_CONF": shlex.join([f"spark.driver.extraJavaOptions={options}"]),
        }
        Path(tmp, "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        demo = [sys.executable, "-m", "banking_lakehouse.demo", "--date", TRAINING_DAY, "--rows", str(rows)]
        stop = [sys.executable, "-m", "banking_lakehouse", "stop-postgres"]
        run = subprocess.Popen(demo, env=env, stdout=subprocess.DEVNULL, start_new_session=True)  # noqa: S603
        try:
            failed = run.wait()
        finally:
            subprocess.run(stop, env=env, stdout=subprocess.DEVNULL, check=False)  # noqa: S603
        _wait_for_group(run.pid)
    if failed or not staged.exists():
        staged.unlink(missing_ok=True)
        raise RuntimeError(f"the training run failed (exit {failed}); see its output above")
    staged.replace(cache)
    return cache
