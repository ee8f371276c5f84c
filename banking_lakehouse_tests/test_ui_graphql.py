"""The UI as a client: a real `dagster-webserver` and daemon over this project's workspace; a two-day backfill
launched through the GraphQL API the UI itself uses, and every day's materializations and check outcomes read
back through it, against the generator's manifest."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml

from banking_lakehouse import settings
from banking_lakehouse.checks.rules import RULES
from banking_lakehouse.generator import MANIFEST_FILE
from banking_lakehouse.generator.defects import QUARANTINED_DEFECTS
from banking_lakehouse.resources.lake import LakeResource
from banking_lakehouse.resources.postgres import stop_embedded
from banking_lakehouse_tests.conftest import free_port, wait_until

BIN = Path(sys.executable).parent
DAYS = ["2024-11-04", "2024-11-05"]
ROWS, SEED = 2_000, 3
JOB = "daily_pipeline_job"

REPOSITORIES = """
{ repositoriesOrError { ... on RepositoryConnection {
    nodes { name location { name } partitionSets { name pipelineName } } } } }
"""
LAUNCHPAD_CONFIG = """
query ($repo: RepositorySelector!, $set: String!, $day: String!) {
  partitionSetOrError(repositorySelector: $repo, partitionSetName: $set) {
    ... on PartitionSet { partition(partitionName: $day) { runConfigOrError { ... on PartitionRunConfig { yaml } } } }
  }
}
"""
LAUNCH_BACKFILL = """
mutation ($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
  }
}
"""
BACKFILL = """
query ($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    ... on PartitionBackfill { status runs { runId status } }
  }
}
"""
MATERIALIZATIONS = """
query ($days: [String!]) {
  assetNodes {
    assetKey { path }
    isPartitioned
    assetMaterializations(partitions: $days) {
      partition runId metadataEntries { label ... on IntMetadataEntry { intValue } }
    }
  }
}
"""
FINISHED = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


def _graphql(url: str, query: str, variables: dict | None = None) -> dict:
    request = urllib.request.Request(
        url, json.dumps({"query": query, "variables": variables or {}}).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        body = json.load(response)
    assert "errors" not in body, body["errors"]
    return body["data"]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/server_info", timeout=2):
            return True
    except OSError:
        return False


def _start(command: list[str], env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        command,
        env=env,
        cwd=settings.PROJECT_DIR,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its code servers and run workers in its process group, stopped with it
    )


@pytest.fixture
def ui(tmp_path, run_dir):
    """The webserver on a free loopback port and a daemon, over the project's workspace.yaml, on a fresh
    DAGSTER_HOME with the project's instance settings; a synthetic source of ROWS rows, a private data dir."""
    home, data = tmp_path / "dagster_home", run_dir / "ui_graphql"
    home.mkdir()
    shutil.copy(settings.PROJECT_DIR / "instance" / "dagster.yaml", home / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BANKING_")}
    env |= {
        "DAGSTER_HOME": str(home),
        "BANKING_DATA_DIR": str(data),
        "BANKING_SOURCE": "synthetic",
        "BANKING_SYNTHETIC_ROWS": str(ROWS),
        "BANKING_SYNTHETIC_SEED": str(SEED),
        "BANKING_START_DATE": "2024-01-01",
    }
    if os.getenv("BANKING_TEST_PG_DSN"):
        env["BANKING_PG_DSN"] = os.environ["BANKING_TEST_PG_DSN"]
    port = free_port()
    workspace = str(settings.PROJECT_DIR / "workspace.yaml")
    processes = [_start([str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port), "-w", workspace], env)]
    url = f"http://127.0.0.1:{port}"

    def start_daemon() -> None:
        processes.append(_start([str(BIN / "dagster-daemon"), "run", "-w", workspace], env))

    try:
        wait_until(lambda: _answers(url), 180, "the webserver to answer")
        yield f"{url}/graphql", start_daemon, data
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        stop_embedded(data / "postgres")


def test_a_two_day_backfill_launched_through_graphql_lands_both_days_with_their_checks(ui):
    graphql, start_daemon, data = ui
    repositories = wait_until(
        lambda: _graphql(graphql, REPOSITORIES)["repositoriesOrError"].get("nodes"), 180, "the code location"
    )
    (repository,) = repositories
    (partition_set,) = [s["name"] for s in repository["partitionSets"] if s["pipelineName"] == JOB]
    selector = {"repositoryLocationName": repository["location"]["name"], "repositoryName": repository["name"]}

    # What the launchpad shows for a day: the rows and seed the environment chose.
    shown = _graphql(graphql, LAUNCHPAD_CONFIG, {"repo": selector, "set": partition_set, "day": DAYS[0]})
    run_config = yaml.safe_load(shown["partitionSetOrError"]["partition"]["runConfigOrError"]["yaml"])
    assert run_config == {"ops": {"raw_delivery": {"config": {"rows": ROWS, "seed": SEED}}}}

    launched = _graphql(
        graphql,
        LAUNCH_BACKFILL,
        {
            "params": {
                "selector": {"partitionSetName": partition_set, "repositorySelector": selector},
                "partitionNames": DAYS,
            }
        },
    )["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    start_daemon()  # backfills are submitted, queued runs started and runs monitored by the daemon
    backfill = wait_until(
        lambda: (
            (b := _graphql(graphql, BACKFILL, {"id": launched["backfillId"]})["partitionBackfillOrError"])["status"]
            in FINISHED
            and b
        ),
        900,
        "the backfill to finish",
    )
    assert backfill["status"] in ("COMPLETED", "COMPLETED_SUCCESS")
    (run,) = backfill["runs"]  # the single-run backfill policy: both days in one run
    assert run["status"] == "SUCCESS"

    # Every asset materialized once per day, by that run, with the day's own counts.
    nodes = _graphql(graphql, MATERIALIZATIONS, {"days": DAYS})["assetNodes"]
    counts = {}
    nodes = [n for n in nodes if n["isPartitioned"]]  # the daily assets (the alert stream runs on its own)
    for node in nodes:
        asset = "/".join(node["assetKey"]["path"])
        events = node["assetMaterializations"]
        assert sorted(e["partition"] for e in events) == DAYS, asset
        assert {e["runId"] for e in events} == {run["runId"]}, asset
        for event in events:
            rows = [m["intValue"] for m in event["metadataEntries"] if m["label"] == "dagster/row_count"]
            counts[asset, event["partition"]] = rows[0] if rows else None
    assert len(nodes) > 20

    lake = LakeResource(base_uri=str(data / "lake"), scratch_dir=str(data / "scratch"))
    expected_failures = set()
    for day in DAYS:
        manifest = json.loads(lake.raw_text(day, MANIFEST_FILE))
        assert (manifest["rows"], manifest["seed"]) == (ROWS, SEED)
        quarantined = sum(manifest["defects"][code] for code in QUARANTINED_DEFECTS)
        assert counts["raw/transactions", day] == manifest["files"]["transactions"]["rows"]
        assert counts["quarantine/transactions", day] == quarantined
        assert counts["silver/transactions", day] == ROWS - quarantined
        assert counts["gold/fact_transactions", day] == counts["warehouse/fact_transactions", day] == ROWS - quarantined
        # The only expected failure: a master entity's quarantined share above the WARN rate (a day's few
        # hundred customers); every blocking rule passes.
        for entity, defects in manifest["master_defects"].items():
            bad = sum(n for code, n in defects.items() if code != "country_noise")  # normalised, not quarantined
            if bad / manifest["files"][entity]["rows"] > settings.quarantine_warn_rate():
                expected_failures.add((f"silver/{entity}", "quarantine_rate_warn", day))

    # Every rule's outcome on every day, as the asset's Checks tab shows it.
    fields = [
        f"c{i}_{d}: assetCheckExecutions(assetKey: {{path: {json.dumps(rule.asset.path)}}}, "
        f'checkName: "{rule.name}", partition: "{day}", limit: 5) {{ status evaluation {{ success severity }} }}'
        for i, rule in enumerate(RULES)
        for d, day in enumerate(DAYS)
    ]
    executions = _graphql(graphql, "{ " + "\n".join(fields) + " }")
    failures = set()
    for i, rule in enumerate(RULES):
        for d, day in enumerate(DAYS):
            (execution,) = executions[f"c{i}_{d}"]
            assert execution["evaluation"]["severity"] == rule.severity.value
            if not execution["evaluation"]["success"]:
                assert execution["status"] == "FAILED"
                failures.add((rule.asset.to_user_string(), rule.name, day))
            else:
                assert execution["status"] == "SUCCEEDED"
    assert failures == expected_failures
