"""End to end: real partitions through every asset into the real PostgreSQL, checked against the manifest."""

import datetime as dt
import json
import os
import shlex
import subprocess
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from dagster import DagsterInstance, load_assets_from_modules, materialize

from banking_lakehouse import lake_sql, settings
from banking_lakehouse.checks.rules import RULES
from banking_lakehouse.definitions import ASSET_MODULES
from banking_lakehouse.generator import MANIFEST_FILE
from banking_lakehouse.generator.defects import QUARANTINED_DEFECTS
from banking_lakehouse.sql import read_sql, sql_files
from banking_lakehouse.transforms.fraud import RULE_WEIGHTS
from banking_lakehouse.transforms.gold import DIMENSIONS
from banking_lakehouse_tests.conftest import make_resources, private_database, s3_resource

ASSETS = load_assets_from_modules(ASSET_MODULES)
DAY, NEXT_DAY = "2024-12-02", "2024-12-03"
ROWS, SEED = 6_000, 11
FACT = ["gold", "fact_transactions"]
# Analytics that read a table only the warehouse holds (the dim_date calendar).
WAREHOUSE_ONLY_ANALYTICS = {"analytics/time_patterns.sql"}


@pytest.fixture(scope="module")
def postgres(postgres):
    """A database of this module's own, so whole warehouse tables compare with the lake's."""
    return private_database(postgres, "pipeline")


@pytest.fixture(scope="module", params=["local", "s3"])
def pipeline(request, spark, spark_resource, postgres, run_dir):
    """The same runs and exact assertions on a local lake and on an S3 lake (moto on 127.0.0.1)."""
    if request.param == "local":
        resources = make_resources(str(run_dir / "lake"), spark_resource, postgres)
    else:
        s3 = s3_resource(request.getfixturevalue("s3_server"))
        resources = make_resources("s3://lake/pipeline", spark_resource, postgres, s3=s3, scratch=run_dir / "scratch")
    instance = DagsterInstance.ephemeral()

    def run(date: str, defect_rates: dict | None = None, expect_success: bool = True):
        config = {"rows": ROWS, "seed": SEED, "defect_rates": defect_rates or {}}
        result = materialize(
            ASSETS,
            partition_key=date,
            resources=resources,
            instance=instance,
            run_config={"ops": {"raw_delivery": {"config": config}}},
            raise_on_error=False,
        )
        assert result.success is expect_success
        return result

    return run, resources


def _manifest(resources, date):
    return json.loads(resources["lake"].raw_text(date, MANIFEST_FILE))


def _metadata(result, asset: str) -> dict:
    events = [e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == asset]
    return events[-1].materialization.metadata


def _fact_state(postgres, date):
    return postgres.fetch(
        "SELECT count(*), sum(amount_usd), sum(amount) FROM gold.fact_transactions WHERE batch_date = %s", (date,)
    )[0]


def test_partition_lands_with_exact_counts(pipeline, postgres):
    run, resources = pipeline
    result = run(DAY)
    evaluations = result.get_asset_check_evaluations()
    failed = {(e.asset_key.to_user_string(), e.check_name, e.severity.value) for e in evaluations if not e.passed}
    # One warning: 4 bad rows in 304 customers is above the 1 % warn rate. The injected orphans (0.1 %)
    # stay under the orphan warn rate: a warning that fired on every batch would be noise.
    assert failed == {("silver/customers", "quarantine_rate_warn", "WARN")}
    assert len(evaluations) == len(RULES) and {e.partition for e in evaluations} == {DAY}
    orphans = next(e for e in evaluations if e.check_name == "orphans_flagged").metadata
    assert 0 < orphans["orphan_rows"].value and orphans["orphan_rate"].value < orphans["threshold"].value

    manifest = _manifest(resources, DAY)
    defects = manifest["defects"]
    quarantined = dict(
        postgres.fetch(
            "SELECT reason, count(*) FROM quality.quarantine WHERE batch_date = %s AND entity = 'transactions' GROUP BY reason",
            (DAY,),
        )
    )
    assert quarantined == {code: defects[code] for code in QUARANTINED_DEFECTS}
    for entity, counts in manifest["master_defects"].items():
        by_reason = dict(
            postgres.fetch(
                "SELECT reason, count(*) FROM quality.quarantine WHERE batch_date = %s AND entity = %s GROUP BY reason",
                (DAY, entity),
            )
        )
        assert by_reason == {c: n for c, n in counts.items() if c != "country_noise" and n}

    expected_fact = ROWS - sum(quarantined.values())
    rows, amount_usd, _ = _fact_state(postgres, DAY)
    assert rows == expected_fact
    silver_usd = pc.sum(resources["lake"].read_arrow(["silver", "transactions"], DAY).column("amount_usd")).as_py()
    assert amount_usd == silver_usd
    assert (
        postgres.fetch("SELECT sum(total_amount_usd) FROM gold.daily_customer_summary WHERE batch_date = %s", (DAY,))[
            0
        ][0]
        == amount_usd
    )
    orphans = postgres.fetch(
        "SELECT count(*) FILTER (WHERE customer_key = -1), count(*) FILTER (WHERE merchant_key = -1),"
        " count(*) FILTER (WHERE account_key = -1), count(*) FILTER (WHERE is_late_arrival),"
        " count(*) FILTER (WHERE is_outlier) FROM gold.fact_transactions WHERE batch_date = %s",
        (DAY,),
    )[0]
    assert orphans == (
        defects["orphan_customer"],
        defects["orphan_merchant"],
        defects["orphan_account"],
        defects["late_arrival"],
        defects["outlier"],
    )


def test_rerun_replaces_the_batch_exactly(pipeline, postgres):
    run, _ = pipeline
    before = _fact_state(postgres, DAY)
    quarantine_before = postgres.fetch("SELECT count(*) FROM quality.quarantine WHERE batch_date = %s", (DAY,))
    run(DAY)
    assert _fact_state(postgres, DAY) == before
    assert postgres.fetch("SELECT count(*) FROM quality.quarantine WHERE batch_date = %s", (DAY,)) == quarantine_before


def test_second_day_keeps_first_and_uses_history(pipeline, postgres):
    run, resources = pipeline
    first = _fact_state(postgres, DAY)
    result = run(NEXT_DAY)
    assert _fact_state(postgres, DAY) == first
    second = _fact_state(postgres, NEXT_DAY)
    assert second[0] > 0
    health = _metadata(result, "warehouse/health")
    other_batches = postgres.fetch(
        "SELECT count(*) FROM gold.fact_transactions WHERE batch_date NOT IN (%s, %s)", (DAY, NEXT_DAY)
    )[0][0]  # other test modules' batches
    assert health["rows gold.fact_transactions"].value == first[0] + second[0] + other_batches
    partitions, months = postgres.fetch(
        "SELECT (SELECT count(*) FROM pg_inherits WHERE inhparent = 'gold.fact_transactions'::regclass), "
        "       (SELECT count(DISTINCT date_trunc('month', transaction_date)) FROM gold.fact_transactions)"
    )[0]
    assert health["fact_partitions"].value == partitions == months  # one partition per month holding data
    fact_bytes = postgres.fetch(
        "SELECT sum(pg_total_relation_size(relid))::bigint FROM pg_partition_tree('gold.fact_transactions')"
    )
    assert (
        health["bytes gold.fact_transactions"].value == fact_bytes[0][0] > 0
    )  # the partitions' size, not the parent's 0
    late = postgres.fetch(
        "SELECT DISTINCT date_trunc('month', transaction_date)::date FROM gold.fact_transactions WHERE batch_date = %s",
        (DAY,),
    )
    assert sorted(m for (m,) in late) == [dt.date(2024, 11, 1), dt.date(2024, 12, 1)]  # late arrivals reach November
    fraud_rows = postgres.fetch("SELECT count(*) FROM gold.fraud_transactions WHERE batch_date = %s", (NEXT_DAY,))[0][0]
    fraud_metadata = _metadata(result, "warehouse/fraud_transactions")
    assert fraud_metadata["fraud_rate"].value == round(fraud_rows / second[0], 6)
    manifest = _manifest(resources, NEXT_DAY)
    fired = postgres.fetch(
        "SELECT transaction_id, rules FROM gold.fraud_transactions WHERE batch_date = %s", (NEXT_DAY,)
    )
    per_rule = Counter(rule for _tid, rules in fired for rule in rules.split(","))
    # Every rule has a point on the UI's plot each day, 0 when it never fired.
    assert {k: v.value for k, v in fraud_metadata.items() if k.startswith("fraud_rule_")} == {
        f"fraud_rule_{rule}": per_rule[rule] for rule in RULE_WEIGHTS
    }
    found = {tid for tid, rules in fired if "large_amount" in rules.split(",")}
    assert set(manifest["fraud_ids"]["large_amount"]) <= found


def test_pii_is_masked_in_gold(pipeline, postgres):
    rows = postgres.fetch(
        "SELECT customer_name, email_masked, phone_masked FROM gold.dim_customer WHERE customer_key <> -1 LIMIT 50"
    )
    assert rows
    for name, email, phone in rows:
        assert name.startswith("tok_") and email.startswith("***@") and phone.startswith("***-")
        assert len(phone) == 8


def test_failing_blocking_check_leaves_gold_and_postgres_unchanged(pipeline, postgres):
    """Re-deliver the first day with 8 % unparseable amounts: above the 5 % ERROR rate, nothing downstream moves."""
    run, resources = pipeline
    lake = resources["lake"]
    fact_version = lake.partition_manifest(["gold", "fact_transactions"], DAY)
    before = _fact_state(postgres, DAY)
    quarantine_before = postgres.fetch("SELECT count(*) FROM quality.quarantine WHERE batch_date = %s", (DAY,))

    result = run(DAY, defect_rates={"invalid_amount": 0.08}, expect_success=False)

    failed = {
        (e.asset_key.to_user_string(), e.check_name) for e in result.get_asset_check_evaluations() if not e.passed
    }
    assert ("silver/transactions", "quarantine_rate_error") in failed
    rate = next(
        e
        for e in result.get_asset_check_evaluations()
        if e.check_name == "quarantine_rate_error" and e.asset_key.to_user_string() == "silver/transactions"
    )
    defects = _manifest(resources, DAY)["defects"]
    assert defects["invalid_amount"] == 480
    assert rate.metadata["quarantined_rows"].value == sum(defects[c] for c in QUARANTINED_DEFECTS - {"exact_duplicate"})
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "silver/transactions" in materialized
    assert not any(k.startswith(("gold/", "warehouse/")) for k in materialized)
    assert lake.partition_manifest(["gold", "fact_transactions"], DAY) == fact_version
    assert _fact_state(postgres, DAY) == before
    assert postgres.fetch("SELECT count(*) FROM quality.quarantine WHERE batch_date = %s", (DAY,)) == quarantine_before


def _orphans(resources, key: str) -> int:
    code = {"customer_key": "orphan_customer", "account_key": "orphan_account", "merchant_key": "orphan_merchant"}[key]
    return sum(_manifest(resources, d)["defects"][code] for d in (DAY, NEXT_DAY))


def test_a_plain_fact_dimension_join_over_the_lake_counts_each_fact_row_once(pipeline, postgres):
    """Two days in the lake: joining the fact to a dimension, on the files themselves, neither multiplies nor
    drops a row (orphans meet the -1 member), and the lake's dimensions hold the warehouse's rows."""
    _, resources = pipeline
    lake = resources["lake"]
    fact_rows = sum(lake.partition_stats(FACT, d)["rows"] for d in (DAY, NEXT_DAY))
    con = lake_sql.connect(lake)
    for d in DIMENSIONS:
        key = d.version_key or d.key  # a type-2 dimension joins on the version valid at the transaction's time
        joined = f"gold.fact_transactions JOIN gold.{d.name} USING ({key})"
        counts = con.sql(f"SELECT count(*), count(*) FILTER (WHERE {key} = -1) FROM {joined}").fetchall()
        assert counts == [(fact_rows, _orphans(resources, d.key))]
        lake_rows = con.sql(f"SELECT * FROM gold.{d.name} ORDER BY {key}")
        columns = ", ".join(lake_rows.columns)
        assert lake_rows.fetchall() == postgres.fetch(f"SELECT {columns} FROM gold.{d.name} ORDER BY {key}")
    if not lake.base_uri.startswith("s3://"):  # any client globbing the files sees the same
        root = lake.base_uri
        glob = duckdb.sql(
            f"SELECT count(*) FROM read_parquet('{root}/gold/fact_transactions/*/*.parquet') "
            f"JOIN read_parquet('{root}/gold/dim_customer/*.parquet') USING (customer_version_key)"
        )
        assert glob.fetchall() == [(fact_rows,)]


def _same(lake_value, pg_value) -> bool:
    """Equal; a DuckDB double against a PostgreSQL numeric may differ by one unit of its last digit (a tie)."""
    if isinstance(lake_value, float) and isinstance(pg_value, Decimal):
        return abs(Decimal(repr(lake_value)) - pg_value) <= Decimal(1).scaleb(pg_value.as_tuple().exponent)
    return lake_value == pg_value


def test_analytics_on_the_lake_return_the_warehouse_rows(pipeline, postgres):
    _, resources = pipeline
    con = lake_sql.connect(resources["lake"])
    compared = set()
    for name in sql_files("analytics"):
        if name in WAREHOUSE_ONLY_ANALYTICS:
            with pytest.raises(duckdb.CatalogException):
                con.sql(read_sql(name))
            continue
        lake_rows, pg_rows = con.sql(read_sql(name)).fetchall(), postgres.fetch(read_sql(name))
        assert len(lake_rows) == len(pg_rows) > 0, name
        for lake_row, pg_row in zip(lake_rows, pg_rows, strict=True):
            assert all(map(_same, lake_row, pg_row)), (name, lake_row, pg_row)
        compared.add(name)
    assert len(compared) == 7


def _readme_commands() -> list[str]:
    section = settings.PROJECT_DIR.joinpath("README.md").read_text().split("## Query the lake with SQL", 1)[1]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def _printed_rows(table: str) -> list[list[str]]:
    """The data rows of a table DuckDB printed (header and type lines left out)."""
    lines = [line for line in table.splitlines() if line.startswith("│")][2:]
    return [[cell.strip() for cell in line.split("│")[1:-1]] for line in lines]


def test_the_readme_commands_run_on_the_lake(request, pipeline, postgres):
    """The README's commands, as written, against this lake (local, or S3 through the environment)."""
    _, resources = pipeline
    lake = resources["lake"]
    env = {**os.environ, "BANKING_LAKE_URI": lake.base_uri, "PYTHONPATH": str(settings.PROJECT_DIR)}
    if lake.base_uri.startswith("s3://"):
        s3 = request.getfixturevalue("s3_server")
        env |= {
            "BANKING_S3_ENDPOINT_URL": s3["endpoint_url"],
            "AWS_ACCESS_KEY_ID": s3["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": s3["aws_secret_access_key"],
            "AWS_REGION": "us-east-1",
        }
    commands = _readme_commands()
    assert [c.split()[:2] for c in commands] == [["make", "sql"]] * 2 + [[".venv/bin/python", "-m"]] * 2
    python, printed, outputs = Path(sys.executable), [], []
    for command in commands:
        args = shlex.split(command)
        if args[0] == "make":  # with this interpreter's environment, already set up
            args = ["make", "-s", "-o", "setup", f"BIN={python.parent}", *args[1:]]
        else:
            args[0] = str(python)
        if "--out" in args:
            outputs.append(settings.PROJECT_DIR / args[args.index("--out") + 1])
        done = subprocess.run(args, cwd=settings.PROJECT_DIR, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, (command, done.stderr)
        printed.append(done.stdout)
    try:
        per_batch = postgres.fetch(
            "SELECT batch_date, count(*), sum(amount_usd) FROM gold.fact_transactions GROUP BY 1 ORDER BY 1"
        )
        assert [b[1] for b in per_batch] == [lake.partition_stats(FACT, d)["rows"] for d in (DAY, NEXT_DAY)]
        assert _printed_rows(printed[0]) == [[str(v) for v in row] for row in per_batch]
        segments = postgres.fetch(
            "SELECT c.segment, count(*) FROM gold.fact_transactions "
            "JOIN gold.dim_customer AS c USING (customer_version_key) "
            "GROUP BY c.segment ORDER BY c.segment"
        )
        assert _printed_rows(printed[1]) == [["NULL" if s is None else s, str(n)] for s, n in segments]
        merchants = pacsv.read_csv(outputs[0])
        assert merchants.num_rows == len(postgres.fetch(read_sql("analytics/merchant_performance.sql"))) > 0
        invalid = pq.read_table(outputs[1])
        assert invalid.num_rows == sum(_manifest(resources, d)["defects"]["invalid_amount"] for d in (DAY, NEXT_DAY))
        assert invalid.column_names == ["batch_date", "source_file", "line_number", "raw_record"]
    finally:
        for output in outputs:
            output.unlink(missing_ok=True)
