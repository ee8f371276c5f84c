"""Deployment profiles: each environment's resources from one module; Spark configured by Spark's own
properties, and nothing bound to 127.0.0.1 outside the local profile."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from banking_lakehouse import deployments
from banking_lakehouse.resources.lake import LakeIOManager, LakeResource


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for name in (
        "BANKING_SPARK_MASTER",
        "BANKING_SPARK_REMOTE",
        "BANKING_SPARK_CONF",
        "BANKING_SPARK_S3A",
        "BANKING_LAKE_URI",
        "BANKING_PG_DSN",
        "BANKING_PII_KEY",
        "BANKING_DEPLOYMENT",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BANKING_DATA_DIR", str(tmp_path))
    return monkeypatch


def test_the_local_profile_keeps_spark_on_loopback_and_its_jvm_output_in_a_log(clean_env, tmp_path):
    spark = deployments.resources("local")["spark"]
    assert spark.spark_config["spark.master"] == "local[*]"
    assert spark.spark_config["spark.driver.bindAddress"] == spark.spark_config["spark.driver.host"] == "127.0.0.1"
    assert spark.jvm_log == str(tmp_path / "logs" / "spark-driver.log")


@pytest.mark.parametrize(
    "setting, value, expected",
    [
        ("BANKING_SPARK_MASTER", "spark://10.20.0.1:7077", {"spark.master": "spark://10.20.0.1:7077"}),
        ("BANKING_SPARK_REMOTE", "sc://10.20.0.1:15002", {"spark.remote": "sc://10.20.0.1:15002"}),
    ],
)
def test_the_cluster_profile_forces_no_address_and_no_local_master(clean_env, setting, value, expected):
    clean_env.setenv(setting, value)
    clean_env.setenv("BANKING_DEPLOYMENT", "cluster")
    spark = deployments.resources()["spark"]
    conf = spark.spark_config
    assert {k: conf[k] for k in expected} == expected
    assert not {
        "spark.driver.host",
        "spark.driver.bindAddress",
        "spark.master" if "spark.remote" in conf else "",
    } & set(conf)
    assert "127.0.0.1" not in " ".join(conf.values()) and spark.jvm_log is None
    assert conf["spark.sql.session.timeZone"] == "UTC"  # what results depend on holds everywhere


def test_banking_spark_conf_is_applied_last_with_shell_quoting(clean_env):
    clean_env.setenv(
        "BANKING_SPARK_CONF", 'spark.driver.host=10.9.8.7 "spark.driver.extraJavaOptions=-Da=1 -Db=2" spark.master=yarn'
    )
    conf = deployments.spark_config("local")
    assert conf["spark.driver.host"] == "10.9.8.7" and conf["spark.master"] == "yarn"
    assert conf["spark.driver.extraJavaOptions"] == "-Da=1 -Db=2"
    clean_env.setenv("BANKING_SPARK_CONF", "spark.master")
    with pytest.raises(ValueError, match="BANKING_SPARK_CONF: expected key=value, got spark.master"):
        deployments.spark_config("local")


def test_an_unknown_deployment_and_an_s3_lake_unreachable_by_executors_are_refused(clean_env):
    clean_env.setenv("BANKING_DEPLOYMENT", "laptop")
    with pytest.raises(ValueError, match="choose one of local, docker, cluster"):
        deployments.resources()
    clean_env.setenv("BANKING_DEPLOYMENT", "cluster")
    clean_env.setenv("BANKING_LAKE_URI", "s3://lake/banking")
    with pytest.raises(ValueError, match="s3a"):
        deployments.resources()


def test_a_replaced_lake_is_the_one_the_io_manager_writes(clean_env, tmp_path):
    lake = LakeResource(base_uri=str(tmp_path / "elsewhere"))
    built = deployments.resources("local", lake=lake)
    assert built["lake"] is lake
    assert isinstance(built["io_manager"], LakeIOManager) and built["io_manager"].lake.base_uri == lake.base_uri


def test_a_cluster_driver_binds_where_spark_says_not_where_pandera_left_it(tmp_path):
    """pandera sets SPARK_LOCAL_IP=127.0.0.1 on import; the driver's JVM must not inherit it."""
    probe = (
        "import os, banking_lakehouse.definitions\n"
        "assert os.environ['SPARK_LOCAL_IP'] == '127.0.0.1'  # pandera's doing\n"
        "from banking_lakehouse.resources.spark import restore_spark_local_ip\n"
        "restore_spark_local_ip()\n"
        "print(os.environ.get('SPARK_LOCAL_IP'))"
    )
    env = {k: v for k, v in os.environ.items() if k != "SPARK_LOCAL_IP"} | {"BANKING_DATA_DIR": str(tmp_path)}
    unset = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert unset.stdout.strip() == "None", unset.stderr
    chosen = subprocess.run(
        [sys.executable, "-c", probe.replace("assert", "# ")],
        capture_output=True,
        text=True,
        env=env | {"SPARK_LOCAL_IP": "10.1.2.3"},
        timeout=120,
    )
    assert chosen.stdout.strip() == "10.1.2.3", chosen.stderr


def test_the_cluster_profile_takes_spark_defaults_conf_and_the_conf_hook(tmp_path):
    """Where the profile is silent Spark's own files decide; BANKING_SPARK_CONF wins over both."""
    (tmp_path / "spark-defaults.conf").write_text(
        "spark.master local[1]\nspark.sql.shuffle.partitions 7\nspark.executor.memory 1g\n"
    )
    probe = (
        "from banking_lakehouse import deployments\n"
        "spark = deployments.resources()['spark'].spark_session\n"
        "conf = spark.sparkContext.getConf()\n"
        "print(conf.get('spark.master'), spark.conf.get('spark.sql.shuffle.partitions'),"
        " conf.get('spark.executor.memory'), spark.conf.get('spark.sql.session.timeZone'))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BANKING_SPARK", "SPARK_LOCAL_IP"))} | {
        "BANKING_DEPLOYMENT": "cluster",
        "BANKING_DATA_DIR": str(tmp_path),
        "SPARK_CONF_DIR": str(tmp_path),
        "BANKING_SPARK_CONF": "spark.executor.memory=3g",
    }
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["local[1]", "7", "3g", "UTC"]
