"""The S3 lake against a real S3-protocol server: refusals are clear and nothing half-written is ever visible."""

import datetime as dt
import json
import socket
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import functions as F

from banking_lakehouse.resources.lake import COMMIT_FILE, STAGING, LakeResource, LakeStorageError
from banking_lakehouse_tests.conftest import s3_resource

KEY = ["silver", "probe"]
DAY = "2024-12-02"


def _batch(spark, rows: int, fail: bool = False):
    df = spark.range(rows).withColumn("batch_date", F.lit(dt.date(2024, 12, 2)))
    if fail:  # a real task failure half-way through Spark's write
        df = df.withColumn(
            "id", F.when(F.col("id") == rows - 1, F.raise_error(F.lit("disk on fire"))).otherwise(F.col("id"))
        )
    return df


def _objects(s3_server, prefix: str) -> list[str]:
    client = s3_resource(s3_server).get_client()
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket="lake", Prefix=prefix).get("Contents", []))


@pytest.fixture
def lake(s3_server, run_dir, request):
    return LakeResource(
        base_uri=f"s3://lake/{request.node.name}", s3=s3_resource(s3_server), scratch_dir=str(run_dir / "scratch")
    )


def test_publish_commits_files_and_manifest_and_replaces_the_previous_version(spark, lake, s3_server, request):
    first = lake.publish(_batch(spark, 100), KEY, [DAY])
    version = lake.partition_manifest(KEY, DAY)["version"]
    second = lake.publish(_batch(spark, 250), KEY, [DAY])
    assert first[DAY]["rows"] == 100 and second[DAY]["rows"] == 250
    manifest = lake.partition_manifest(KEY, DAY)
    assert manifest["version"] != version
    prefix = f"{request.node.name}/silver/probe/"
    assert _objects(s3_server, prefix) == sorted(
        [f"{prefix}date={DAY}/_committed.json"] + [f"{prefix}date={DAY}/{f}" for f in manifest["files"]]
    )
    assert lake.read(spark, KEY, [DAY]).count() == 250
    assert lake.read_arrow(KEY, DAY).num_rows == 250
    assert lake.list_partitions(KEY) == [DAY]


def test_failed_write_leaves_the_previous_version(spark, lake, s3_server, request):
    lake.publish(_batch(spark, 100), KEY, [DAY])
    before = _objects(s3_server, request.node.name)
    with pytest.raises(Exception, match="disk on fire"):
        lake.publish(_batch(spark, 500, fail=True), KEY, [DAY])
    assert _objects(s3_server, request.node.name) == before
    assert lake.read_arrow(KEY, DAY).num_rows == 100


def test_missing_bucket_fails_clearly_before_any_work(spark, s3_server, run_dir):
    lake = LakeResource(base_uri="s3://no-such-bucket/lake", s3=s3_resource(s3_server))
    with pytest.raises(LakeStorageError, match="S3 bucket 'no-such-bucket' does not exist at http://127.0.0.1"):
        lake.publish(_batch(spark, 10), KEY, [DAY])


def test_wrong_credentials_fail_clearly_and_leave_no_partial_partition(spark, lake, s3_server, request):
    lake.publish(_batch(spark, 100), KEY, [DAY])
    before = _objects(s3_server, request.node.name)
    intruder = LakeResource(
        base_uri=f"s3://lake/{request.node.name}",
        s3=s3_resource(s3_server, aws_access_key_id="AKIAWRONG", aws_secret_access_key="wrong"),
    )
    with pytest.raises(LakeStorageError, match=r"refused access to S3 bucket 'lake'.*AWS_ACCESS_KEY_ID"):
        intruder.publish(_batch(spark, 10), KEY, [DAY])
    assert _objects(s3_server, request.node.name) == before
    assert lake.partition_stats(KEY, DAY)["rows"] == lake.read_arrow(KEY, DAY).num_rows == 100


@pytest.mark.parametrize("manifest_replaced", [False, True])
def test_an_interrupted_commit_is_undone_or_completed_at_the_next_access(
    spark, lake, s3_server, request, manifest_replaced
):
    """A process killed after uploading a new version's files (before, or after, the manifest PUT)."""
    lake.publish(_batch(spark, 100), KEY, [DAY])
    old = lake.partition_manifest(KEY, DAY)
    live = lake.partition_path(KEY, DAY)
    new_files = ["part-crashed.snappy.parquet"]
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    area = lake.storage.path(STAGING, "crashed")
    lake.storage.write_bytes(
        f"{area}/_owner.json", json.dumps({"pid": dead.pid, "host": socket.gethostname()}).encode()
    )
    lake.storage.write_bytes(f"{area}/_journal-x.json", json.dumps({"live": live, "files": new_files}).encode())
    pq.write_table(pa.table({"id": list(range(7))}), f"{live}/{new_files[0]}", filesystem=lake.storage.fs)
    if manifest_replaced:
        lake.storage.write_bytes(
            f"{live}/{COMMIT_FILE}",
            json.dumps({"version": "crashed", "files": new_files, "rows": 7, "bytes": 1}).encode(),
        )

    reopened = LakeResource(base_uri=lake.base_uri, s3=lake.s3, scratch_dir=lake.scratch_dir)
    expected = (new_files, 7) if manifest_replaced else (old["files"], 100)
    assert reopened.read_arrow(KEY, DAY).num_rows == expected[1]
    prefix = f"{request.node.name}/"
    assert _objects(s3_server, prefix) == sorted(
        [f"{prefix}silver/probe/date={DAY}/{COMMIT_FILE}"]
        + [f"{prefix}silver/probe/date={DAY}/{f}" for f in expected[0]]
    )
