"""The package as `pip install .` gives it: a wheel installed into a fresh virtualenv outside the
repository runs a real day end to end, its SQL read from inside the installed package."""

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

from banking_lakehouse import settings
from banking_lakehouse.resources.postgres import stop_embedded

DAY = "2024-01-15"
ROWS = 2000
# Whether an editable finder ran at startup (an __editable__*.pth imports its __editable__*_finder module).
EDITABLE = "import sys; print(any(name.startswith('__editable__') for name in sys.modules))"
# Where banking_lakehouse is imported from, and the SQL it reads.
PROBE = """
import banking_lakehouse
from banking_lakehouse.sql import read_sql, sql_files
print(banking_lakehouse.__file__)
print(len(sql_files("analytics")), "CREATE SCHEMA" in read_sql("warehouse.sql"))
"""


def _build_wheel(tmp_path: Path) -> Path:
    """Built from a copy of what the Dockerfile copies, so the build leaves no build/ or *.egg-info in the
    repository and needs nothing else from it. Isolated, as `pip install .` builds: pip fetches the pyproject's
    setuptools>=68 (the index or pip's cache) since this venv's setuptools 65 cannot build a wheel by itself."""
    src = tmp_path / "src"
    shutil.copytree(
        settings.PROJECT_DIR / "banking_lakehouse",
        src / "banking_lakehouse",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(settings.PROJECT_DIR / name, src / name)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"), str(src)],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    return wheel


def _venv_with_wheel(tmp_path: Path, wheel: Path) -> tuple[Path, Path]:
    """A fresh virtualenv with the wheel installed, then given this interpreter's site-packages as a plain
    path line in a .pth: the dependencies become importable, but that directory's own .pth files (the
    project's editable finder among them) are not executed."""
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "--no-deps", "-q", str(wheel)], check=True, cwd=tmp_path)
    site = Path(
        subprocess.check_output(
            [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], text=True
        ).strip()
    )
    (site / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return python, site


def test_the_wheel_ships_the_sql_and_runs_a_day_outside_the_repository(tmp_path):
    wheel = _build_wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {n for n in names if n.startswith("banking_lakehouse/sql/") and n.endswith(".sql")}
    in_repo = {
        p.relative_to(settings.PROJECT_DIR).as_posix()
        for p in (settings.PROJECT_DIR / "banking_lakehouse" / "sql").rglob("*.sql")
    }
    assert shipped == in_repo and "banking_lakehouse/sql/analytics/channel_performance.sql" in shipped
    assert not any(n.startswith("banking_lakehouse_tests/") for n in names)

    python, site = _venv_with_wheel(tmp_path, wheel)
    work = tmp_path / "work"
    work.mkdir()
    # No BANKING_DATA_DIR: an installed package keeps its data under the current directory's data/.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BANKING_", "DAGSTER_")) and k != "PYTHONPATH"}
    env |= {"BANKING_SOURCE": "synthetic", "DAGSTER_HOME": str(tmp_path / "dagster_home")}

    def output(interpreter: Path | str, code: str) -> list[str]:
        return subprocess.run(
            [interpreter, "-c", code], cwd=work, env=env, capture_output=True, text=True, check=True
        ).stdout.splitlines()

    assert output(python, EDITABLE) == ["False"]
    if any(Path(sysconfig.get_path("purelib")).glob("__editable__*.pth")):  # the check can tell: here it ran
        assert output(sys.executable, EDITABLE) == ["True"]
    module_file, sql = output(python, PROBE)
    assert Path(module_file) == site / "banking_lakehouse" / "__init__.py"
    assert settings.PROJECT_DIR not in Path(module_file).parents
    assert sql == f"{len(list((settings.PROJECT_DIR / 'banking_lakehouse' / 'sql' / 'analytics').glob('*.sql')))} True"

    (tmp_path / "dagster_home").mkdir()
    data = work / "data"
    try:
        demo = subprocess.run(
            [python, "-m", "banking_lakehouse.demo", "--date", DAY, "--rows", str(ROWS)],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
    finally:
        if (data / "postgres").exists():
            stop_embedded(data / "postgres")
    assert demo.returncode == 0, demo.stdout + demo.stderr

    def rows(label: str) -> int:
        return int(re.search(rf"^  {re.escape(label)} +([\d,]+)", demo.stdout, re.MULTILINE).group(1).replace(",", ""))

    assert f"batch {DAY}" in demo.stdout
    assert rows("raw") == ROWS
    assert rows("silver") + rows("quarantine") == ROWS and rows("quarantine") > 0
    assert rows("gold.fact_transactions") == rows("gold (lake)") == rows("silver")
    assert f"lake:       {data / 'lake'}" in demo.stdout
    assert f"embedded server in {data / 'postgres'}" in demo.stdout
    assert (data / "postgres" / "PG_VERSION").is_file()
