"""A code location for the run-monitoring test: one job that just waits (no Spark: it stands in for any run)."""

import time

from dagster import Definitions, job, op


@op
def wait_a_long_time():
    time.sleep(600)


@job
def long_job():
    wait_a_long_time()


defs = Definitions(jobs=[long_job])
