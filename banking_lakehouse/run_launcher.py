"""A run launcher whose runs the monitoring daemon can check: a run whose worker process died (OOM kill,
host restart, SIGKILL together with its code server) is marked failed within one monitoring interval,
so the queue moves on instead of waiting behind a run that stays STARTED forever.

Dagster's DefaultRunLauncher launches the worker through the code server and cannot tell whether it
still lives. This subclass reads the worker's PID from the run's RUN_START event and asks the OS.
It needs the daemon to see the workers' processes: the same machine (`dagster dev`), or in docker
compose a daemon sharing the code location's PID namespace (`pid: service:dagster-code`).
"""

from __future__ import annotations

import psutil
from dagster import DagsterEventType
from dagster._core.launcher import CheckRunHealthResult, DefaultRunLauncher, WorkerStatus
from dagster._core.storage.dagster_run import DagsterRun


class WorkerCheckingRunLauncher(DefaultRunLauncher):
    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        started = self._instance.all_logs(run.run_id, of_type=DagsterEventType.RUN_START)
        pid = started[-1].dagster_event.pid if started and started[-1].dagster_event else None
        if pid is None:
            return CheckRunHealthResult(WorkerStatus.UNKNOWN, "the run worker has not started yet")
        try:
            alive = psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            alive = False
        if alive:
            return CheckRunHealthResult(WorkerStatus.RUNNING, run_worker_id=str(pid))
        return CheckRunHealthResult(
            WorkerStatus.FAILED, f"run worker process {pid} is gone (killed or crashed)", run_worker_id=str(pid)
        )
