"""What every benchmark shares: the demo's code location over a private lake and database, runs of a
partition range, per-step seconds from Dagster's event log, and peak memory of Python plus the JVM."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import threading
import time
from pathlib import Path

import psutil
from dagster import DagsterEventType, DagsterInstance, Definitions, JobDefinition, execute_job, reconstructable

from banking_lakehouse import deployments, settings
from banking_lakehouse.definitions import build_definitions
from banking_lakehouse.partitions import range_tags
from banking_lakehouse.resources.delivery import DeliverySource
from banking_lakehouse.resources.java import chosen_java, recorded_aot_cache
from banking_lakehouse.resources.lake import LakeResource
from banking_lakehouse.resources.postgres import PostgresResource

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def fresh_lake(name: str) -> None:
    shutil.rmtree(settings.data_dir() / name / "lake", ignore_errors=True)


def private_definitions(name: str, landing: str | None = None) -> tuple[Definitions, LakeResource, PostgresResource]:
    """The demo's definitions over data/<name>/ (its lake; the embedded server there, or BANKING_PG_DSN);
    deliveries generated in the run, or read from the `landing` zone when given."""
    root = settings.data_dir() / name
    lake = LakeResource(base_uri=str(root / "lake"))
    postgres = PostgresResource(dsn=os.getenv("BANKING_PG_DSN") or None, embedded_dir=str(root / "postgres"))
    resources = deployments.resources(
        delivery=DeliverySource(source="landing", landing_uri=landing)
        if landing
        else DeliverySource(source="synthetic"),
        lake=lake,
        postgres=postgres,
    )
    return build_definitions(resources), lake, postgres


def dates(start: dt.date, days: int) -> list[str]:
    return [(start + dt.timedelta(days=i)).isoformat() for i in range(days)]


_location: dict[str, Definitions] = {}  # the definitions `daily_job` reconstructs the job from


def daily_job() -> JobDefinition:
    """The benchmark's daily job, as `execute_job` reconstructs it (a module-level function)."""
    return _location["defs"].resolve_job_def("daily_pipeline_job")


def run_range(defs: Definitions, instance: DagsterInstance, first: str, last: str, rows: int, seed: int) -> str:
    """One run of the daily job over first..last (a single-run backfill when they differ) with the job's own
    executor, as a launched run has it (`execute_in_process` would run its steps one after another); returns
    the run id."""
    _location["defs"] = defs
    with execute_job(
        reconstructable(daily_job),
        instance,
        tags=range_tags(first, last),
        run_config={"ops": {"raw_delivery": {"config": {"rows": rows, "seed": seed}}}, **QUIET},
        raise_on_error=False,
    ) as result:
        if not result.success:
            raise SystemExit(f"run {first}..{last} failed")
        return result.run_id


def step_seconds(instance: DagsterInstance, run_id: str) -> dict[str, float]:
    """Wall seconds of each step of a run, from the STEP_START/STEP_SUCCESS events."""
    started, seconds = {}, {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None:
            continue
        if event.event_type == DagsterEventType.STEP_START:
            started[event.step_key] = entry.timestamp
        elif event.event_type == DagsterEventType.STEP_SUCCESS:
            seconds[event.step_key] = round(entry.timestamp - started[event.step_key], 2)
    return seconds


JVM_THREAD_KINDS = {"jit_compiler": ("C1 CompilerThre", "C2 CompilerThre"), "gc": ("GC Thread", "G1 ", "VM Thread")}


def jvm_cpu_seconds() -> dict[str, float]:
    """CPU seconds of this process's Spark JVM so far: in total, and in its JIT compiler and garbage collector
    threads (Linux names threads in /proc; elsewhere only the total). On 2 cores the JIT's share is what a
    cold JVM pays for running each query once."""
    jvms = [p for p in psutil.Process().children(recursive=True) if p.name() == "java"]
    if not jvms:
        return {}
    jvm = jvms[0]
    times = jvm.cpu_times()
    seconds = {"total": times.user + times.system} | dict.fromkeys(JVM_THREAD_KINDS, 0.0)
    for thread in jvm.threads():
        try:
            name = Path(f"/proc/{jvm.pid}/task/{thread.id}/comm").read_text()
        except OSError:
            continue
        for kind, prefixes in JVM_THREAD_KINDS.items():
            if name.startswith(prefixes):
                seconds[kind] += thread.user_time + thread.system_time
    return {kind: round(value, 1) for kind, value in seconds.items()}


def spark_java() -> dict[str, object]:
    """The Java major version the local Spark driver runs on, and whether it starts from the AOT cache
    (`make setup` records it; without it a run's JVM loads and profiles Spark's code anew)."""
    return {"major": chosen_java().major, "aot_cache": recorded_aot_cache() is not None}


def _own_memory(processes: list[psutil.Process]) -> list[psutil.Process]:
    """The processes with memory of their own: not a fork caught before its exec (the JVM spawns `chmod`
    for each file Hadoop writes), which shows its parent's whole RSS while sharing its pages."""
    own = []
    for process in processes:
        try:
            parent = process.parent()
            if parent is None or (process.exe(), process.cmdline()) != (parent.exe(), parent.cmdline()):
                own.append(process)
        except psutil.Error:
            pass
    return own


class PeakMemory:
    """Samples the RSS of this process and all its children (the Spark JVM, parse workers) in a thread.

    The process tree is listed once a second (listing walks all of /proc); each known process's RSS is
    read every `interval`, so sampling costs the run next to no CPU."""

    def __init__(self, interval: float = 0.2, rescan: float = 1.0):
        self.interval, self.rescan, self.peak_bytes = interval, rescan, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        me = psutil.Process()
        processes, listed = [me], 0.0
        while not self._stop.is_set():
            if time.monotonic() - listed >= self.rescan:
                processes, listed = [me, *_own_memory(me.children(recursive=True))], time.monotonic()
            total = 0
            for process in processes:
                try:
                    total += process.memory_info().rss
                except psutil.Error:
                    pass
            self.peak_bytes = max(self.peak_bytes, total)
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
