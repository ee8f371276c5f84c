"""The landing-zone sensor runs complete drops only, and the raw asset ingests what landed."""

import datetime as dt
import os

from dagster import DagsterInstance, build_sensor_context, materialize

from banking_lakehouse.assets.raw import raw_delivery
from banking_lakehouse.generator import RAW_FILES, GeneratorConfig, generate_day
from banking_lakehouse.resources.lake import LakeResource
from banking_lakehouse.sensors import landing_zone_sensor


def _evaluate(instance, lake):
    with build_sensor_context(instance=instance, resources={"lake": lake}) as context:
        return list(landing_zone_sensor(context))


def test_complete_drop_requests_its_day_and_is_ingested_as_delivered(tmp_path):
    landing = tmp_path / "landing"
    generate_day(GeneratorConfig(date=dt.date(2024, 12, 9), rows=2_000, seed=5), landing / "date=2024-12-09")
    partial = landing / "date=2024-12-10"
    partial.mkdir(parents=True)
    (partial / "customers.csv").write_text("customer_id\n")
    lake = LakeResource(base_uri=str(tmp_path / "lake"), landing_uri=str(landing))

    with DagsterInstance.ephemeral() as instance:
        requests = _evaluate(instance, lake)
    assert [r.partition_key for r in requests] == ["2024-12-09"]
    assert requests[0].run_key.startswith("2024-12-09:")

    result = materialize([raw_delivery], partition_key="2024-12-09", resources={"lake": lake})
    assert result.success
    for name in RAW_FILES.values():
        assert lake.raw_text("2024-12-09", name) == (landing / "date=2024-12-09" / name).read_text()
    metadata = result.get_asset_materialization_events()[-1].materialization.metadata
    assert metadata["source"].value == "landing" and metadata["dagster/row_count"].value > 0


def test_redelivery_gets_a_new_run_key(tmp_path):
    landing = tmp_path / "landing"
    day = landing / "date=2024-12-09"
    generate_day(GeneratorConfig(date=dt.date(2024, 12, 9), rows=1_000, seed=5), day)
    lake = LakeResource(base_uri=str(tmp_path / "lake"), landing_uri=str(landing))
    with DagsterInstance.ephemeral() as instance:
        first = _evaluate(instance, lake)
        os.utime(day / "transactions.csv", ns=(10**19, 10**19))  # the file delivered again, later
        second = _evaluate(instance, lake)
    assert first[0].run_key != second[0].run_key
