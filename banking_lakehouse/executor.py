"""The daily job's executor: one process and one SparkSession, as Dagster's in-process executor, with
steps whose inputs are ready run side by side in threads, one step per pool at a time.

A day alternates between Spark steps and steps that load PostgreSQL from Python: run one after another,
the JVM idles while the warehouse loads, and PostgreSQL idles while Spark runs. Here the warehouse loads
of the dimensions run beside the gold fact, the fact's load beside the aggregates and fraud. Steps of the
`spark` pool still run one at a time (the machine's cores are the JVM's; two Spark steps would only
share them). Threads, not processes: the multiprocess executor would start a JVM per step, where
threads share the run's resources (one SparkSession, which takes jobs from several threads; one lake;
one PostgreSQL resource).

Dagster has no threaded executor (dagster-io/dagster#4041); this one keeps Dagster's own bookkeeping
(`ActiveExecution`: readiness, skips after failures, retries, instance pools) and its step machinery
(each step runs exactly as the in-process executor runs it; its events reach the run in order). A run
terminated (SIGINT/SIGTERM, which Dagster captures) starts no more steps and stops the running ones:
their Spark jobs cancelled, their threads interrupted as the in-process executor's main thread would be.
`execute_in_process` and `materialize` always use the in-process executor; a launched run (the UI, the
daemon, `dagster asset materialize`) and `dagster.execute_job` use this one.
"""

from __future__ import annotations

import ctypes
import os
import queue
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack

from dagster import Executor, Field, Int, executor
from dagster._core.errors import DagsterExecutionInterruptedError
from dagster._core.events import DagsterEvent, EngineEventData
from dagster._core.execution.api import ExecuteRunWithPlanIterable
from dagster._core.execution.compute_logs import create_compute_log_file_key
from dagster._core.execution.context.system import PlanExecutionContext, PlanOrchestrationContext
from dagster._core.execution.context_creation_job import PlanExecutionContextManager
from dagster._core.execution.plan.execute_plan import dagster_event_sequence_for_step
from dagster._core.execution.plan.instance_concurrency_context import InstanceConcurrencyContext
from dagster._core.execution.plan.plan import ExecutionPlan
from dagster._core.execution.plan.step import ExecutionStep
from dagster._core.execution.retries import RetryMode, get_retries_config
from dagster._utils.error import serializable_error_info_from_exc_info
from pyspark import SparkContext

DEFAULT_MAX_CONCURRENT = 2  # a Spark step and a PostgreSQL load: what 2 cores keep busy
_STEP_DONE = object()  # a step thread's last message
INTERRUPT_POLL_SECONDS = 0.5  # how soon a terminated run starts stopping its steps


class ThreadedInProcessExecutor(Executor):
    def __init__(self, retries: RetryMode, max_concurrent: int):
        self._retries = retries
        self.max_concurrent = max_concurrent

    @property
    def retries(self) -> RetryMode:
        return self._retries

    def execute(self, plan_context: PlanOrchestrationContext, execution_plan: ExecutionPlan) -> Iterator[DagsterEvent]:
        yield DagsterEvent.engine_event(
            plan_context,
            f"Executing steps in process (pid: {os.getpid()}), up to {self.max_concurrent} at once in threads",
            event_specific_data=EngineEventData.in_process(os.getpid(), execution_plan.step_keys_to_execute),
        )
        yield from ExecuteRunWithPlanIterable(
            execution_plan=plan_context.execution_plan,
            iterator=self._execute_steps,
            execution_context_manager=PlanExecutionContextManager(
                job=plan_context.job,
                retry_mode=plan_context.retry_mode,
                execution_plan=plan_context.execution_plan,
                run_config=plan_context.run_config,
                dagster_run=plan_context.dagster_run,
                instance=plan_context.instance,
                raise_on_error=plan_context.raise_on_error,
                output_capture=plan_context.output_capture,
            ),
        )

    def _steps_to_start(self, ready: list[ExecutionStep], running: dict[str, StepThread]) -> list[ExecutionStep]:
        """The ready steps to start now, in plan order: up to max_concurrent running, one per pool."""
        busy_pools = {t.pool for t in running.values() if t.pool}
        chosen = []
        for step in ready:
            if len(running) + len(chosen) >= self.max_concurrent:
                break
            if step.pool in busy_pools:
                continue
            if step.pool:
                busy_pools.add(step.pool)
            chosen.append(step)
        return chosen

    def _execute_steps(
        self, job_context: PlanExecutionContext, execution_plan: ExecutionPlan
    ) -> Iterator[DagsterEvent]:
        events: queue.Queue = queue.Queue()
        running: dict[str, StepThread] = {}
        ready: list[ExecutionStep] = []  # handed out by the plan, waiting for a thread or for their pool
        with ExitStack() as stack:
            concurrency = stack.enter_context(InstanceConcurrencyContext(job_context.instance, job_context.dagster_run))
            active = stack.enter_context(
                execution_plan.start(retry_mode=job_context.retry_mode, instance_concurrency_context=concurrency)
            )
            yield from _capture_logs(job_context, execution_plan, stack)
            stopping = False  # the run was interrupted (terminated): no step starts, running ones are stopped
            try:
                while (not stopping and (not active.is_complete or ready)) or running:
                    if not stopping and active.check_for_interrupts():
                        stopping = True
                        active.mark_interrupted()
                        yield DagsterEvent.engine_event(
                            job_context,
                            f"Interrupted: stopping the steps running in threads ({', '.join(sorted(running))})",
                            EngineEventData.interrupted(list(running)),
                        )
                        _interrupt(running.values())
                    if not stopping:
                        ready += active.get_steps_to_execute()
                        for step in self._steps_to_start(ready, running):
                            ready.remove(step)
                            running[step.key] = StepThread(job_context.for_step(step, active.get_known_state()), events)
                    yield from active.concurrency_event_iterator(job_context)
                    if not running:
                        if not stopping:
                            active.sleep_til_ready()
                        continue
                    try:
                        key, event = events.get(timeout=INTERRUPT_POLL_SECONDS)
                    except queue.Empty:
                        continue
                    if event is not _STEP_DONE:
                        yield event
                        active.handle_event(event)
                        continue
                    running.pop(key).finish(interrupted=stopping)
                    active.verify_complete(job_context, key)
                    yield from active.plan_events_iterator(job_context)
            except Exception:
                if running:  # broken: the steps' work is abandoned (lake and warehouse commits are atomic)
                    yield DagsterEvent.engine_event(
                        job_context,
                        f"Execution stopped while steps were running in threads: {', '.join(sorted(running))}",
                        EngineEventData(error=serializable_error_info_from_exc_info(sys.exc_info())),
                    )
                raise
            if stopping:
                raise DagsterExecutionInterruptedError()


def _interrupt(threads) -> None:
    """Stops running steps as an interrupt stops the in-process executor's: the Spark jobs they wait for
    are cancelled, then each step's thread raises DagsterExecutionInterruptedError (Dagster records the
    step as failed by the interrupt) when it next runs Python code."""
    spark = SparkContext._active_spark_context
    if spark is not None:
        spark.cancelAllJobs()
    for thread in threads:
        thread.interrupt()


class StepThread:
    """One step run in its own thread, exactly as the in-process executor runs it; its events go to
    `events` as (step key, event), then (step key, _STEP_DONE)."""

    def __init__(self, step_context, events: queue.Queue):
        self.key, self.pool = step_context.step.key, step_context.step.pool
        self._context, self._events, self._error = step_context, events, None
        # A daemon: a run stopped while steps run must not wait for them (their lake and warehouse writes
        # commit atomically or not at all).
        self._thread = threading.Thread(target=self._run, name=f"step {self.key}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for event in dagster_event_sequence_for_step(self._context):
                self._events.put((self.key, event))
        except BaseException as error:  # noqa: BLE001 - a failure of Dagster itself: raised in the run's thread
            self._error = error
        finally:
            self._events.put((self.key, _STEP_DONE))

    def interrupt(self) -> None:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(self._thread.ident), ctypes.py_object(DagsterExecutionInterruptedError)
        )

    def finish(self, interrupted: bool = False) -> None:
        """Joins the thread; raises what broke Dagster's step machinery in it (an interrupt the run asked
        for, `interrupted`, is the run's to raise once every step has stopped)."""
        self._thread.join()
        expected = interrupted and isinstance(self._error, DagsterExecutionInterruptedError | KeyboardInterrupt)
        if self._error is not None and not expected:
            raise self._error


def _capture_logs(job_context: PlanExecutionContext, plan: ExecutionPlan, stack: ExitStack) -> Iterator[DagsterEvent]:
    """The run's stdout and stderr captured for the UI, for the whole process (as the in-process executor)."""
    manager = job_context.instance.compute_log_manager
    log_key = manager.build_log_key_for_run(job_context.run_id, create_compute_log_file_key())
    try:
        log_context = stack.enter_context(manager.capture_logs(log_key))
        step_keys = [step.key for step in plan.get_steps_to_execute_in_topo_order()]
        yield DagsterEvent.capture_logs(job_context, step_keys, log_key, log_context)
    except Exception:  # noqa: BLE001 - as the in-process executor: the run goes on without captured logs
        yield DagsterEvent.engine_event(
            job_context,
            "Exception while setting up compute log capture",
            EngineEventData(error=serializable_error_info_from_exc_info(sys.exc_info())),
        )


@executor(
    name="in_process_threads",
    config_schema={
        "retries": get_retries_config(),
        "max_concurrent": Field(
            Int, default_value=DEFAULT_MAX_CONCURRENT, description="steps run at once (1: one after another)"
        ),
    },
)
def threaded_in_process_executor(init_context) -> ThreadedInProcessExecutor:
    config = init_context.executor_config
    return ThreadedInProcessExecutor(RetryMode.from_config(config["retries"]), config["max_concurrent"])
