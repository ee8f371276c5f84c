"""Nothing hangs: a run whose worker and code server are SIGKILLed together is marked failed by the real
monitoring daemon, and the run queued behind it starts."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus

from banking_lakehouse import settings
from banking_lakehouse_tests.conftest import free_port, wait_until

BIN = Path(sys.executable).parent


def _code_server(port: int, env: dict) -> subprocess.Popen:
    server = subprocess.Popen(
        [
            str(BIN / "dagster"),
            "api",
            "grpc",
            "--module-name",
            "banking_lakehouse_tests.daemon_location",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        cwd=settings.PROJECT_DIR,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return server
        time.sleep(0.2)
    raise TimeoutError("code server did not start")


@pytest.fixture
def dagster_home(tmp_path):
    """The project's instance settings (launcher, monitoring, queue), with intervals short enough for a test."""
    config = yaml.safe_load((settings.PROJECT_DIR / "instance" / "dagster.yaml").read_text())
    # A worker slow to start on a loaded machine must not be failed for that before the test kills it: the
    # start timeout outlasts the wait for the run to start.
    config["run_monitoring"] |= {"poll_interval_seconds": 1, "start_timeout_seconds": 180}
    config["concurrency"]["runs"]["max_concurrent_runs"] = 1  # the second run waits behind the first
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(config))
    return tmp_path


def test_a_killed_worker_and_code_server_fail_the_run_and_free_the_queue(dagster_home):
    port = free_port()
    workspace = dagster_home / "workspace.yaml"
    workspace.write_text(
        yaml.safe_dump(
            {"load_from": [{"grpc_server": {"host": "127.0.0.1", "port": port, "location_name": "daemon_location"}}]}
        )
    )
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home)}
    server = _code_server(port, env)
    daemon = subprocess.Popen(
        [str(BIN / "dagster-daemon"), "run", "-w", str(workspace)],
        env=env,
        cwd=settings.PROJECT_DIR,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        for _ in range(2):
            subprocess.run(
                [str(BIN / "dagster"), "job", "launch", "-w", str(workspace), "-j", "long_job"],
                env=env,
                cwd=settings.PROJECT_DIR,
                check=True,
                capture_output=True,
            )
        with DagsterInstance.from_config(str(dagster_home)) as instance:
            second, first = instance.get_runs()  # newest first; the queue starts the oldest

            def worker_pid():
                events = instance.all_logs(first.run_id, of_type=DagsterEventType.RUN_START)
                return events[-1].dagster_event.pid if events else None

            pid = wait_until(worker_pid, 120, "the first run to start")
            assert instance.get_run_by_id(second.run_id).status == DagsterRunStatus.QUEUED
            os.kill(pid, signal.SIGKILL)  # the worker and the code server that launched it, as an OOM kill would
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
            server = _code_server(port, env)  # its supervisor brings the code server back

            wait_until(
                lambda: instance.get_run_by_id(first.run_id).status == DagsterRunStatus.FAILURE,
                90,
                "the dead run to be marked failed",
            )
            wait_until(
                lambda: (
                    instance.get_run_by_id(second.run_id).status
                    in (DagsterRunStatus.STARTING, DagsterRunStatus.STARTED)
                ),
                90,
                "the queued run to start",
            )
            failure = instance.all_logs(first.run_id, of_type=DagsterEventType.RUN_FAILURE)
            assert failure and f"run worker process {pid} is gone" in str(instance.all_logs(first.run_id))
            instance.report_run_canceled(instance.get_run_by_id(second.run_id))
    finally:
        for process in (daemon, server):
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
