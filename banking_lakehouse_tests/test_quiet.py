"""`make demo` and `make dev` speak to people: no Spark log lines, no API-maturity or supersession notices."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

from banking_lakehouse import settings

LOAD_AND_RUN_SPARK = """
import sys
import banking_lakehouse.definitions  # the code location, as `make demo` and `make dev` load it
from banking_lakehouse import deployments
spark = deployments.resources("local")["spark"].spark_session
assert spark.range(5).count() == 5
"""


def test_the_code_location_and_a_local_spark_session_print_nothing(tmp_path):
    env = {**os.environ, "BANKING_DATA_DIR": str(tmp_path), "BANKING_DEPLOYMENT": "local"}
    done = subprocess.run(
        [sys.executable, "-c", LOAD_AND_RUN_SPARK], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert (done.stdout, done.stderr) == ("", "")
    jvm_log = (tmp_path / "logs" / "spark-driver.log").read_text()
    assert "NativeCodeLoader" in jvm_log  # Spark's own warning at start went to the log, not to the console


def _location_status(port: int) -> str | None:
    query = b'{"query": "{ workspaceOrError { ... on Workspace { locationEntries { loadStatus } } } }"}'
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql", data=query, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            entries = json.loads(reply.read())["data"]["workspaceOrError"]["locationEntries"]
    except (OSError, KeyError, TypeError, ValueError):
        return None
    return entries[0]["loadStatus"] if entries else None


def test_make_dev_serves_on_the_port_asked_for_without_notices(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "BANKING_DATA_DIR": str(tmp_path), "DAGSTER_HOME": str(tmp_path / "dagster_home")}
    env.pop("MAKEFLAGS", None)
    dev = subprocess.Popen(
        ["make", "-s", "dev", f"PORT={port}", f"DAGSTER_HOME={tmp_path / 'dagster_home'}"],
        cwd=settings.PROJECT_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while _location_status(port) != "LOADED":  # the code server has imported the definitions
            assert time.monotonic() < deadline, f"make dev PORT={port}: the code location never loaded"
            time.sleep(1)
    finally:
        os.killpg(dev.pid, 2)
        output = dev.communicate(timeout=60)[0]
    notices = [
        line
        for line in output.splitlines()
        if "Warning" in line or "will not be used" in line or "log4j" in line or "WARN " in line
    ]
    assert notices == []
    assert f"http://127.0.0.1:{port}" in output
