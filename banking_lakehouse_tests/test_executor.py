"""The daily job's executor: steps whose inputs are ready run at once, steps of one pool one at a time, a
failure abandons what depends on it while the rest of the run goes on, and an interrupted run stops the
steps running in its threads."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from dagster import DagsterEventType, DagsterInstance, Failure, In, Nothing, execute_job, job, op, reconstructable

from banking_lakehouse import settings
from banking_lakehouse.executor import threaded_in_process_executor
from banking_lakehouse_tests.conftest import wait_until

MEETING_TIMEOUT_SECONDS = 60
_meeting = {"barrier": threading.Barrier(2, timeout=MEETING_TIMEOUT_SECONDS)}
_spark_intervals: list[tuple[str, float, float]] = []


@op
def load_dimensions() -> None:
    """Returns only once load_facts has started too: the two must run at the same time."""
    _meeting["barrier"].wait()


@op
def load_facts() -> None:
    _meeting["barrier"].wait()


def _spark_step(name: str) -> None:
    started = time.monotonic()
    time.sleep(0.5)
    _spark_intervals.append((name, started, time.monotonic()))


@op(pool="spark")
def fraud() -> None:
    _spark_step("fraud")


@op(pool="spark")
def aggregates() -> None:
    _spark_step("aggregates")


@op(pool="spark")
def history() -> None:
    _spark_step("history")


@op
def broken() -> None:
    raise Failure("the warehouse refused the load")


@op(ins={"start": In(Nothing)})
def after_broken() -> None:
    raise AssertionError("a step after a failed one must not run")


@job(executor_def=threaded_in_process_executor)
def side_by_side():
    load_dimensions()
    load_facts()
    fraud()
    aggregates()
    history()


@job(executor_def=threaded_in_process_executor)
def with_a_failure():
    after_broken(broken())
    fraud()


def _started_then_forever(name: str) -> None:
    Path(os.environ["EXECUTOR_TEST_DIR"], name).touch()
    while True:
        time.sleep(0.05)


@op
def loads_forever() -> None:
    _started_then_forever("loads_forever")


@op(pool="spark")
def computes_forever() -> None:
    _started_then_forever("computes_forever")


@job(executor_def=threaded_in_process_executor)
def until_interrupted():
    loads_forever()
    computes_forever()


def run_until_interrupted() -> None:
    """Runs `until_interrupted` (in a child process, which the test interrupts); prints what became of it."""
    with DagsterInstance.ephemeral() as instance:
        with execute_job(reconstructable(until_interrupted), instance, raise_on_error=False) as result:
            failures = {
                e.step_key: e.step_failure_data.error.cls_name
                for e in result.all_events
                if e.event_type == DagsterEventType.STEP_FAILURE
            }
            print(json.dumps({"success": result.success, "failures": failures}))


def _run(job_fn, instance):
    with execute_job(reconstructable(job_fn), instance, raise_on_error=False) as result:
        steps = {
            (e.step_key, e.event_type)
            for e in result.all_events
            if e.event_type
            in (DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE)
        }
        return result.success, steps


def test_ready_steps_run_at_once_and_a_pools_steps_one_at_a_time():
    _meeting["barrier"] = threading.Barrier(2, timeout=MEETING_TIMEOUT_SECONDS)
    _spark_intervals.clear()
    with DagsterInstance.ephemeral() as instance:
        success, steps = _run(side_by_side, instance)
    # load_dimensions and load_facts each waited for the other: run one after another, both would fail.
    assert success
    assert {key for key, kind in steps if kind == DagsterEventType.STEP_SUCCESS} == {
        "load_dimensions",
        "load_facts",
        "fraud",
        "aggregates",
        "history",
    }
    intervals = sorted(_spark_intervals, key=lambda i: i[1])
    assert sorted(name for name, *_ in intervals) == ["aggregates", "fraud", "history"]
    for (_, _, ended), (_, started, _) in zip(intervals, intervals[1:], strict=False):
        assert started >= ended  # never two steps of the spark pool at once


def test_a_failed_step_abandons_its_dependents_and_the_others_finish():
    _spark_intervals.clear()
    with DagsterInstance.ephemeral() as instance:
        success, steps = _run(with_a_failure, instance)
    assert not success
    assert steps == {  # after_broken never started
        ("broken", DagsterEventType.STEP_START),
        ("broken", DagsterEventType.STEP_FAILURE),
        ("fraud", DagsterEventType.STEP_START),
        ("fraud", DagsterEventType.STEP_SUCCESS),
    }
    assert [name for name, *_ in _spark_intervals] == ["fraud"]


def test_an_interrupted_run_stops_the_steps_running_in_its_threads(tmp_path):
    child = subprocess.Popen(
        [sys.executable, "-c", "from banking_lakehouse_tests.test_executor import run_until_interrupted as r; r()"],
        cwd=settings.PROJECT_DIR,
        env={**os.environ, "EXECUTOR_TEST_DIR": str(tmp_path)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(
            lambda: {p.name for p in tmp_path.iterdir()} == {"loads_forever", "computes_forever"},
            120,
            "both steps to start",
        )
        child.send_signal(signal.SIGINT)  # what Dagster sends a run worker when the run is terminated
        out, _ = child.communicate(timeout=60)
    finally:
        child.kill()
    assert json.loads(out.splitlines()[-1]) == {
        "success": False,
        "failures": {
            "loads_forever": "DagsterExecutionInterruptedError",
            "computes_forever": "DagsterExecutionInterruptedError",
        },
    }
