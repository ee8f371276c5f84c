"""Lake SQL reads only what is committed, and current tables are committed whole (the pipeline's tables,
the analytics and the README's commands are tested in test_pipeline.py, on a local and an S3 lake)."""

import datetime as dt

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import functions as F

from banking_lakehouse import lake_sql
from banking_lakehouse.resources.lake import COMMIT_FILE, LakeResource

PROBE, DIM = ["silver", "probe"], ["gold", "dim_probe"]
DAYS = ["2024-12-02", "2024-12-03"]


def _rows(spark, ids: range, day: str):
    return spark.range(ids.start, ids.stop).withColumn("batch_date", F.lit(dt.date.fromisoformat(day)))


@pytest.fixture
def lake(spark, tmp_path) -> LakeResource:
    lake = LakeResource(base_uri=str(tmp_path / "lake"), scratch_dir=str(tmp_path / "scratch"))
    lake.publish(_rows(spark, range(0, 3), DAYS[0]).unionByName(_rows(spark, range(3, 8), DAYS[1])), PROBE, DAYS)
    return lake


def _count(lake: LakeResource, table: str) -> int:
    return lake_sql.connect(lake).sql(f"SELECT count(*) FROM {table}").fetchall()[0][0]


def test_staged_half_committed_and_unnamed_files_are_invisible(spark, lake):
    stray = pa.table({"id": [100, 101], "batch_date": [dt.date(2024, 12, 4)] * 2})
    # A partition whose files are written but whose manifest is not (an S3 commit under way, a crash).
    half = lake.partition_path(PROBE, "2024-12-04")
    lake.storage.create_dir(half)
    pq.write_table(stray, f"{half}/part-0.parquet")
    # A new version's file beside a committed partition's, before its manifest is replaced (S3's commit).
    pq.write_table(stray, f"{lake.partition_path(PROBE, DAYS[0])}/part-new.parquet")
    with lake.staging_area() as area:  # a run's work in progress
        lake.storage.create_dir(area.path("date=2024-12-05"))
        pq.write_table(stray, area.path("date=2024-12-05", "part-0.parquet"))
        assert _count(lake, "silver.probe") == 8
        tables = lake_sql.connect(lake).sql("SELECT schema_name FROM duckdb_schemas() WHERE NOT internal").fetchall()
        assert sorted(s for (s,) in tables) == ["silver"]  # no schema for `_staging`
    lake.publish(_rows(spark, range(0, 2), "2024-12-04"), PROBE, ["2024-12-04"])  # now committed: 2 rows
    assert _count(lake, "silver.probe") == 3 + 5 + 2


def test_a_current_table_is_one_version_replacing_an_earlier_per_day_layout(spark, lake):
    lake.publish(_rows(spark, range(0, 4), DAYS[0]), DIM, [DAYS[0]])  # the layout before current tables
    assert _count(lake, "gold.dim_probe") == 4
    lake.publish_current(_rows(spark, range(0, 6), DAYS[1]), DIM)
    table = lake.table_path(DIM)
    assert sorted(e.base_name for e in lake.storage.list_files(table)) == sorted(
        [COMMIT_FILE, *lake.partition_manifest(DIM, None)["files"]]
    )
    assert lake.storage.list_dirs(table) == [] and lake.is_current(DIM)
    assert lake.read_arrow(DIM, None).num_rows == _count(lake, "gold.dim_probe") == 6
    lake.publish_current(_rows(spark, range(0, 2), DAYS[1]), DIM)
    assert _count(lake, "gold.dim_probe") == 2


def test_the_command_writes_csv_or_parquet_and_refuses_what_it_cannot_do(lake, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BANKING_LAKE_URI", lake.base_uri)
    query = "SELECT batch_date, count(*) AS n FROM silver.probe GROUP BY batch_date ORDER BY batch_date"
    lake_sql.main([query, "--out", str(tmp_path / "n.parquet")])
    assert pq.read_table(tmp_path / "n.parquet").to_pylist() == [
        {"batch_date": dt.date(2024, 12, 2), "n": 3},
        {"batch_date": dt.date(2024, 12, 3), "n": 5},
    ]
    (tmp_path / "q.sql").write_text(query)
    lake_sql.main(["--file", str(tmp_path / "q.sql"), "--out", str(tmp_path / "n.csv")])
    assert (tmp_path / "n.csv").read_text() == "batch_date,n\n2024-12-02,3\n2024-12-03,5\n"
    with pytest.raises(SystemExit, match="lake sql: Catalog Error: Table with name nowhere does not exist"):
        lake_sql.main(["SELECT * FROM silver.nowhere"])
    for argv in ([], [query, "--file", "q.sql"], [query, "--out", "n.xlsx"]):
        with pytest.raises(SystemExit) as refused:
            lake_sql.main(argv)
        assert refused.value.code == 2
    assert "--out n.xlsx: the file name must end in .csv or .parquet" in capsys.readouterr().err
