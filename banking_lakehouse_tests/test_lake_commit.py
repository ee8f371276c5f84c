"""Crash safety of the local lake: staging outside tables, journaled commits finished at the next access,
outputs outside the run's partitions refused, and a SIGKILLed run re-run to the same lake and warehouse."""

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster import AssetExecutionContext, DailyPartitionsDefinition, asset, materialize
from pyspark.sql import functions as F

from banking_lakehouse.resources.lake import COMMIT_FILE, STAGING, LakeIOManager, LakeResource, LakeWriteError
from banking_lakehouse_tests.conftest import lake_state, make_resources, postgres_config, warehouse_state
from banking_lakehouse_tests.test_pipeline import ASSETS

KEY = ["silver", "probe"]
DAY, OTHER = "2024-12-02", "2024-12-03"


def _batch(spark, rows: int, *days: str):
    df = spark.range(rows)
    day = F.element_at(
        F.array(*[F.lit(dt.date.fromisoformat(d)) for d in days]), (F.col("id") % len(days) + 1).cast("int")
    )
    return df.withColumn("batch_date", day)


def _rows(lake: LakeResource, key, day) -> int:
    return lake.read_arrow(key, day).num_rows


def test_rows_outside_the_runs_partitions_are_refused_and_nothing_is_published(spark, tmp_path):
    lake = LakeResource(base_uri=str(tmp_path / "lake"))
    with pytest.raises(
        LakeWriteError,
        match=f"asset silver/probe: output holds rows of batch_date {OTHER}, outside the run's partitions {DAY}",
    ):
        lake.publish(_batch(spark, 10, DAY, OTHER), KEY, [DAY])
    assert lake.list_partitions(KEY) == []
    assert list((tmp_path / "lake" / STAGING).iterdir()) == []


def test_the_head_of_a_partition_is_its_first_rows_across_files_and_an_empty_one_has_none(spark, tmp_path):
    lake = LakeResource(base_uri=str(tmp_path / "lake"))
    lake.publish(_batch(spark, 10, DAY).repartition(4, "id"), KEY, [DAY])
    files = lake.partition_manifest(KEY, DAY)["files"]
    first = pq.read_table(tmp_path / "lake" / "silver" / "probe" / f"date={DAY}" / files[0])
    assert len(files) > 1 and first.num_rows < 7  # the head must take rows from more than one file
    head = lake.head_arrow(KEY, DAY, 7)
    assert head.num_rows == 7 and head.schema == lake.read_arrow(KEY, DAY).schema
    assert head.column("id").to_pylist() == lake.read_arrow(KEY, DAY).column("id").to_pylist()[:7]
    lake.publish(_batch(spark, 10, DAY).where("id < 0"), KEY, [DAY])
    assert lake.head_arrow(KEY, DAY, 7).num_rows == 0


def test_the_io_manager_raises_naming_the_asset_and_the_keys(spark, spark_resource, tmp_path):
    lake = LakeResource(base_uri=str(tmp_path / "lake"))

    @asset(key=["silver", "probe"], partitions_def=DailyPartitionsDefinition(start_date="2024-12-01"))
    def probe(context: AssetExecutionContext):
        return _batch(spark, 10, context.partition_key, "2024-12-09")

    result = materialize(
        [probe],
        partition_key=DAY,
        raise_on_error=False,
        resources={"io_manager": LakeIOManager(lake=lake, spark=spark_resource)},
    )
    assert not result.success
    error = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE").event_specific_data.error
    assert "asset silver/probe: output holds rows of batch_date 2024-12-09" in error.to_string()
    assert lake.list_partitions(KEY) == []


def test_table_directories_hold_only_committed_parquet_and_the_manifest(spark, tmp_path):
    lake = LakeResource(base_uri=str(tmp_path / "lake"))
    lake.publish(_batch(spark, 50, DAY, OTHER), KEY, [DAY, OTHER])
    lake.publish(_batch(spark, 20, DAY), KEY, [DAY])
    files = sorted(
        p.relative_to(tmp_path / "lake" / "silver" / "probe").parent.name
        + ("/manifest" if p.name == COMMIT_FILE else "/parquet")
        for p in (tmp_path / "lake" / "silver" / "probe").rglob("*")
        if p.is_file()
    )
    assert all(f.endswith(("/parquet", "/manifest")) for f in files)
    assert pq.read_table(str(tmp_path / "lake" / "silver" / "probe" / f"date={DAY}")).num_rows == 20
    assert list((tmp_path / "lake" / STAGING).iterdir()) == []


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _crashed_commit(
    lake: LakeResource, tmp_path, rows: int, *, journaled: bool, live_retired: bool, owner_pid: int
) -> Path:
    """The staging area a process leaves when it dies mid-commit of a new version of KEY/DAY."""
    area = Path(lake.storage.path(STAGING, "crashed"))
    staged = area / f"date={DAY}"
    staged.mkdir(parents=True)
    (area / "_owner.json").write_text(json.dumps({"pid": owner_pid, "host": socket.gethostname()}))
    pq.write_table(pa.table({"id": list(range(rows))}), staged / "part-new.parquet")
    (staged / COMMIT_FILE).write_text(
        json.dumps({"version": "crashed", "files": ["part-new.parquet"], "rows": rows, "bytes": 1})
    )
    live = Path(lake.partition_path(KEY, DAY))
    journal = {"live": str(live), "staged": str(staged), "retired": str(area / "retired-x")}
    if journaled:
        (area / "_journal-x.json").write_text(json.dumps(journal))
    if live_retired:
        live.rename(area / "retired-x")
    return area


@pytest.mark.parametrize(
    "journaled, live_retired, rows_after",
    [
        (False, False, 7),  # killed while staging: the commit never began, the old version stays
        (True, False, 3),  # killed right after journaling: completed
        (True, True, 3),  # killed between the two renames (the partition briefly missing): completed
    ],
)
def test_an_interrupted_commit_is_completed_or_undone_at_the_next_access(
    spark, tmp_path, journaled, live_retired, rows_after
):
    root = str(tmp_path / "lake")
    LakeResource(base_uri=root).publish(_batch(spark, 7, DAY), KEY, [DAY])
    area = _crashed_commit(
        LakeResource(base_uri=root), tmp_path, 3, journaled=journaled, live_retired=live_retired, owner_pid=_dead_pid()
    )
    reopened = LakeResource(base_uri=root)  # a new process's first access
    assert _rows(reopened, KEY, DAY) == rows_after
    assert not area.exists()


def test_a_staging_area_of_a_live_process_is_left_alone(spark, tmp_path):
    root = str(tmp_path / "lake")
    LakeResource(base_uri=root).publish(_batch(spark, 7, DAY), KEY, [DAY])
    area = _crashed_commit(
        LakeResource(base_uri=root), tmp_path, 3, journaled=True, live_retired=False, owner_pid=os.getpid()
    )
    assert _rows(LakeResource(base_uri=root), KEY, DAY) == 7
    assert area.exists()


KILLED_RUN = """
import sys
from banking_lakehouse.resources.postgres import PostgresResource
from banking_lakehouse_tests.conftest import local_spark
from banking_lakehouse_tests.test_lake_commit import run_day
run_day(sys.argv[1], local_spark(), PostgresResource(**__import__("json").loads(sys.argv[2])))
"""
ROWS, SEED, KILL_DAY = 3_000, 5, "2024-10-15"


def run_day(lake_uri: str, spark_resource, postgres):
    result = materialize(
        ASSETS,
        partition_key=KILL_DAY,
        resources=make_resources(lake_uri, spark_resource, postgres),
        run_config={"ops": {"raw_delivery": {"config": {"rows": ROWS, "seed": SEED}}}},
        raise_on_error=False,
    )
    assert result.success
    return result


def _spark_writing(staging: Path) -> bool:
    """A staging area holds Spark's output in progress (the raw zone stages `raw-<date>` only)."""
    try:
        return any(
            p.name == "_temporary" or p.name.startswith("date=") for area in staging.iterdir() for p in area.iterdir()
        )
    except FileNotFoundError:  # an area removed while we looked
        return False


def test_a_run_killed_during_a_silver_write_reruns_to_the_same_lake_and_warehouse(
    spark, spark_resource, postgres, run_dir
):
    clean_uri, killed_uri = str(run_dir / "clean_lake"), str(run_dir / "killed_lake")
    run_day(clean_uri, spark_resource, postgres)
    clean_lake, clean_warehouse = (
        lake_state(LakeResource(base_uri=clean_uri), KILL_DAY),
        warehouse_state(postgres, KILL_DAY),
    )

    worker = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN, killed_uri, postgres_config(postgres)],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    staging = Path(killed_uri) / STAGING
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and worker.poll() is None and not _spark_writing(staging):
        time.sleep(0.02)
    assert worker.poll() is None, "the run ended before a silver write could be killed"
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    assert _spark_writing(staging)  # the killed run left a half-written silver table behind
    assert not Path(killed_uri, "silver", "transactions", f"date={KILL_DAY}").exists()

    run_day(killed_uri, spark_resource, postgres)
    assert lake_state(LakeResource(base_uri=killed_uri), KILL_DAY) == clean_lake
    assert warehouse_state(postgres, KILL_DAY) == clean_warehouse
    assert list(staging.iterdir()) == []
