"""Real Spark clusters for tests that run the pipeline in a subprocess, started from pip pyspark.

standalone_cluster(): a standalone Master and one Worker, each its own OS process (and process group).
As root with iproute2, the Worker lives in its own network namespace joined to the host by a veth pair,
so it is a second host as far as the network goes:

    host namespace                               netns blk-<hex>
    Master  10.231.N.1:P  (web UI :W)  <-veth->  Worker 10.231.N.2, its executors
    driver  10.231.N.1  (bind and advertise)

Executors reach the driver over the veth, so the driver must bind to and advertise the host-side address
(not 127.0.0.1, which inside the namespace is the namespace's own loopback). Without root or `ip`
everything runs on 127.0.0.1 and the cluster says isolated=False. The driver process also needs
PYSPARK_PYTHON=<the venv's python> in its environment: PySpark ships that path with every Python function
(spark.pyspark.python alone is not enough), and executors otherwise run `python3` from PATH.

connect_server(): a Spark Connect server (local[2]) in its own process, for clients using sc://.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pyspark

from banking_lakehouse.resources.java import spark_java_home

SPARK_HOME = Path(pyspark.__file__).parent
LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class StandaloneCluster:
    master_url: str
    driver_host: str  # the address the driver binds to and advertises; executors connect back to it
    worker_host: str
    isolated: bool  # True when the worker runs in its own network namespace


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _tail(log: Path, lines: int = 40) -> str:
    text = log.read_text(errors="replace") if log.exists() else ""
    return f"--- {log.name} ---\n" + "\n".join(text.splitlines()[-lines:])


def _spark_env(tmp: Path) -> dict[str, str]:
    """Java >= 17, pyspark as SPARK_HOME, and the venv's Python for executors' Python workers."""
    env = {k: v for k, v in os.environ.items() if k != "SPARK_LOCAL_IP"}  # pandera's 127.0.0.1, not ours
    return {
        **env,
        "JAVA_HOME": spark_java_home(),
        "SPARK_HOME": str(SPARK_HOME),
        "PYSPARK_PYTHON": sys.executable,
        "SPARK_LOG_DIR": str(tmp / "logs"),
        "SPARK_WORKER_DIR": str(tmp / "work"),
    }


@contextmanager
def _process(cmd: list[str], log: Path, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """A process in its own group, so stopping it also stops what it spawned (executors, the launcher's JVM)."""
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            yield proc
        finally:
            # TERM lets the Worker stop its executors; KILL then takes whatever of the group is left.
            for sig in (signal.SIGTERM, signal.SIGKILL):
                with suppress(ProcessLookupError):
                    os.killpg(proc.pid, sig)
                with suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=30)


def _ip(*args: str, check: bool = True) -> str:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True, timeout=30).stdout


@contextmanager
def _namespace() -> Iterator[tuple[str, str, str] | None]:
    """(netns, host-side address, namespace-side address), or None when no namespace can be made."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        yield None
        return
    tag = secrets.token_hex(3)
    ns, host_if, ns_if = f"blk-{tag}", f"blkh{tag}", f"blkn{tag}"
    used = _ip("-o", "-4", "addr")
    n = next(i for i in iter(lambda: 1 + secrets.randbelow(254), None) if f"10.231.{i}." not in used)
    host_ip, ns_ip = f"10.231.{n}.1", f"10.231.{n}.2"
    steps = [
        ("netns", "add", ns),
        ("link", "add", host_if, "type", "veth", "peer", "name", ns_if),
        ("link", "set", ns_if, "netns", ns),
        ("addr", "add", f"{host_ip}/30", "dev", host_if),
        ("link", "set", host_if, "up"),
        ("-n", ns, "addr", "add", f"{ns_ip}/30", "dev", ns_if),
        ("-n", ns, "link", "set", ns_if, "up"),
        ("-n", ns, "link", "set", "lo", "up"),
    ]
    try:
        made: tuple[str, str, str] | None = (ns, host_ip, ns_ip)
        try:
            for step in steps:
                _ip(*step)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            made = None  # no CAP_NET_ADMIN (e.g. an unprivileged container): loopback instead
        yield made
    finally:
        # Deleting the namespace destroys its veth end, and with it the host end, asynchronously.
        _ip("link", "del", host_if, check=False)
        _ip("netns", "del", ns, check=False)


def _wait_alive(ui: str, procs: list[subprocess.Popen[bytes]], logs: list[Path], timeout: float) -> None:
    """Until the master lists an ALIVE worker; fails early if either process exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{ui}/json/", timeout=5) as response:
                if any(w.get("state") == "ALIVE" for w in json.load(response).get("workers", [])):
                    return
        except OSError:
            pass
        if any(p.poll() is not None for p in procs):
            break
        time.sleep(0.5)
    tails = "\n".join(_tail(log) for log in logs)
    raise RuntimeError(f"no ALIVE worker at {ui} within {timeout:.0f}s (or a process exited)\n{tails}")


@contextmanager
def standalone_cluster(timeout: float = 90) -> Iterator[StandaloneCluster]:
    """A Master and one Worker (2 cores, 2g) on another network address than the driver when possible."""
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="blk-spark-")))
        env = _spark_env(tmp)
        ns = stack.enter_context(_namespace())
        master_host, worker_host = (ns[1], ns[2]) if ns else (LOOPBACK, LOOPBACK)
        port, ui_port = _free_port(master_host), _free_port(master_host)
        spark_class = str(SPARK_HOME / "bin" / "spark-class")
        master_cmd = [spark_class, "org.apache.spark.deploy.master.Master"]
        master_cmd += ["--host", master_host, "--port", str(port), "--webui-port", str(ui_port)]
        worker_cmd = [spark_class, "org.apache.spark.deploy.worker.Worker", "--host", worker_host, "--port", "0"]
        worker_cmd += ["--webui-port", "0", "--cores", "2", "--memory", "2g", "--work-dir", env["SPARK_WORKER_DIR"]]
        worker_cmd += [f"spark://{master_host}:{port}"]
        if ns:
            worker_cmd = ["ip", "netns", "exec", ns[0], *worker_cmd]
        logs = [tmp / "master.log", tmp / "worker.log"]
        master = stack.enter_context(_process(master_cmd, logs[0], env))
        worker = stack.enter_context(_process(worker_cmd, logs[1], env))
        _wait_alive(f"http://{master_host}:{ui_port}", [master, worker], logs, timeout)
        yield StandaloneCluster(f"spark://{master_host}:{port}", master_host, worker_host, ns is not None)


@contextmanager
def connect_server(timeout: float = 120) -> Iterator[str]:
    """A Spark Connect server on 127.0.0.1 running local[2]; yields its sc:// URL.

    pip pyspark 4 ships the server in jars/, so spark-submit needs no primary resource. Its Python UDFs run
    with the server's PYSPARK_PYTHON (the venv's), whatever the client's environment.
    """
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="blk-connect-")))
        port = _free_port(LOOPBACK)
        cmd = [str(SPARK_HOME / "bin" / "spark-submit"), "--master", "local[2]"]
        cmd += ["--class", "org.apache.spark.sql.connect.service.SparkConnectServer"]
        for key, value in {
            "spark.connect.grpc.binding.address": LOOPBACK,
            "spark.connect.grpc.binding.port": str(port),
            "spark.sql.session.timeZone": "UTC",
            "spark.driver.host": LOOPBACK,
            "spark.driver.bindAddress": LOOPBACK,
            "spark.ui.enabled": "false",
        }.items():
            cmd += ["--conf", f"{key}={value}"]
        log = tmp / "connect.log"
        proc = stack.enter_context(_process(cmd, log, _spark_env(tmp)))
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection((LOOPBACK, port), timeout=2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"Spark Connect not listening on {port} within {timeout:.0f}s\n{_tail(log)}"
                    ) from None
                time.sleep(0.5)
        yield f"sc://{LOOPBACK}:{port}"
