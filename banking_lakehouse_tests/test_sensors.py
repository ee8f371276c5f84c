"""The landing-zone sensor runs drops marked complete (`_SUCCESS`) only; the raw asset stores them as delivered."""

import datetime as dt
import hashlib
import json
import os

from dagster import DagsterInstance, build_sensor_context, materialize

from banking_lakehouse.assets.raw import raw_delivery
from banking_lakehouse.entities import ENTITIES
from banking_lakehouse.generator import GeneratorConfig, generate_day
from banking_lakehouse.resources.core_banking import CoreBankingSource
from banking_lakehouse.resources.delivery import SUCCESS_MARKER, DeliverySource
from banking_lakehouse.resources.lake import LakeResource
from banking_lakehouse.sensors import landing_zone_sensor


def _evaluate(instance, delivery):
    with build_sensor_context(instance=instance, resources={"delivery": delivery}) as context:
        return list(landing_zone_sensor(context))


def test_only_drops_marked_complete_are_requested_and_ingested_as_delivered(tmp_path):
    landing = tmp_path / "landing"
    complete = landing / "date=2024-12-09"
    generate_day(GeneratorConfig(date=dt.date(2024, 12, 9), rows=2_000, seed=5), complete)
    (complete / SUCCESS_MARKER).touch()
    unmarked = landing / "date=2024-12-10"  # every file there, still no marker: it may still be copying
    generate_day(GeneratorConfig(date=dt.date(2024, 12, 10), rows=2_000, seed=5), unmarked)
    delivery = DeliverySource(source="landing", landing_uri=str(landing))
    lake = LakeResource(base_uri=str(tmp_path / "lake"), scratch_dir=str(tmp_path / "scratch"))

    with DagsterInstance.ephemeral() as instance:
        requests = _evaluate(instance, delivery)
    assert [r.partition_key for r in requests] == ["2024-12-09"]
    assert requests[0].run_key == f"2024-12-09:{(complete / SUCCESS_MARKER).stat().st_mtime_ns}"

    result = materialize(
        [raw_delivery],
        partition_key="2024-12-09",
        resources={"lake": lake, "delivery": delivery, "core_banking": CoreBankingSource()},
    )
    assert result.success
    for name in (e.file for e in ENTITIES.values()):
        assert lake.storage.read_bytes(lake.raw_path("2024-12-09", name)) == (complete / name).read_bytes()
    record = lake.delivery("2024-12-09")
    assert record["source"] == "landing" and "manifest.json" not in record["files"]
    expected = json.loads((complete / "manifest.json").read_text())["files"]
    for event in result.get_asset_materialization_events():
        entity = event.asset_key.path[-1]
        metadata = event.materialization.metadata
        assert metadata["source"].value == "landing"
        assert metadata["dagster/row_count"].value == record["entities"][entity]["records"] == expected[entity]["rows"]
        assert metadata["sha256"].value == hashlib.sha256((complete / ENTITIES[entity].file).read_bytes()).hexdigest()


def test_redelivery_gets_a_new_run_key_and_a_synthetic_source_never_reads_the_landing_zone(tmp_path):
    landing = tmp_path / "landing"
    day = landing / "date=2024-12-09"
    generate_day(GeneratorConfig(date=dt.date(2024, 12, 9), rows=1_000, seed=5), day)
    (day / SUCCESS_MARKER).touch()
    delivery = DeliverySource(source="landing", landing_uri=str(landing))
    with DagsterInstance.ephemeral() as instance:
        first = _evaluate(instance, delivery)
        os.utime(day / SUCCESS_MARKER, ns=(10**19, 10**19))  # the day delivered again, later
        second = _evaluate(instance, delivery)
        synthetic = _evaluate(instance, DeliverySource(source="synthetic", landing_uri=str(landing)))
    assert first[0].run_key != second[0].run_key
    assert [type(r).__name__ for r in synthetic] == ["SkipReason"]
