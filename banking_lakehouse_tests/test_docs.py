"""The docs cannot rot: their tables are what the code renders, every quarantine reason they show is one the
code gives (its example, read by the real reader and silver rules, gets exactly it), their links stay inside
the repository, and the README's commands do what it says."""

from __future__ import annotations

import ast
import datetime as dt
import os
import re
import subprocess
import sys
from collections import Counter

import pytest

from banking_lakehouse import docs, settings
from banking_lakehouse.entities import ENTITIES, MASTER_ENTITIES
from banking_lakehouse.quarantine_reasons import REASONS
from banking_lakehouse.resources.lake.commit import StagingArea
from banking_lakehouse.transforms import fraud, records, silver
from banking_lakehouse.transforms.raw_reader import read_raw
from banking_lakehouse.transforms.silver import MASTER_SPECS, clean_master, clean_transactions, file_spec

SNAKE = re.compile(r"[a-z]+(_[a-z]+)+")
LINK = re.compile(r"\]\(([^)\s]+)\)")
DOCUMENTS = [settings.PROJECT_DIR / "README.md", *sorted(docs.DOCS_DIR.glob("*.md"))]


def test_the_committed_docs_are_what_the_code_renders():
    checked = subprocess.run(
        [sys.executable, "-m", "banking_lakehouse.docs", "--check"],
        cwd=settings.PROJECT_DIR,
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    used = {m.group("name") for path in DOCUMENTS for m in docs.GENERATED.finditer(path.read_text())}
    assert used == set(docs.SECTIONS)  # no table renders into nothing, no doc names a table that is not rendered


def test_the_fraud_doc_describes_every_rule_the_code_runs():
    rules_section = (docs.DOCS_DIR / "fraud.md").read_text().split("## Rules\n")[1].split("<!--")[0]
    described = re.findall(r"^\| `(\w+)` \|", rules_section, re.M)
    assert described == list(fraud.RULE_WEIGHTS)


def test_a_stale_table_is_rewritten():
    stale = "intro\n<!-- generated: checks -->\n| old |\n<!-- end generated -->\nafter\n"
    fresh = docs.refresh(stale)
    assert fresh.startswith("intro\n<!-- generated: checks -->\n| asset | check |") and fresh.endswith("after\n")
    assert "| old |" not in fresh and docs.refresh(fresh) == fresh


def _emitted_reasons() -> set[str]:
    """The codes the reader writes (its snake_case strings) and silver's rules: ("code", condition) pairs."""
    reader = ast.parse(open(records.__file__).read())
    rules = ast.parse(open(silver.__file__).read())
    emitted = {n.value for n in ast.walk(reader) if isinstance(n, ast.Constant) and SNAKE.fullmatch(str(n.value))}
    for node in ast.walk(rules):
        if isinstance(node, ast.Tuple) and len(node.elts) == 2:
            first, second = node.elts
            if (
                isinstance(first, ast.Constant)
                and SNAKE.fullmatch(str(first.value))
                and not isinstance(second, ast.Constant)
            ):
                emitted.add(first.value)
    return emitted


def test_the_catalogue_names_every_reason_the_code_gives_and_no_other():
    assert Counter(r.code for r in REASONS) == Counter(_emitted_reasons())


def test_each_reason_example_is_quarantined_with_exactly_its_reason(spark, tmp_path):
    day = dt.date(2024, 12, 2)
    no_master = [
        spark.createDataFrame([], f"{ENTITIES[name].id_column} string, batch_date date") for name in MASTER_ENTITIES
    ]
    for reason in REASONS:
        entity = reason.entity
        directory = tmp_path / reason.code
        directory.mkdir()
        path = directory / entity.file
        path.write_bytes(b"\n".join([",".join(entity.columns).encode(), *reason.example]) + b"\n")
        spec = file_spec(entity.name, entity.file)
        raw = read_raw(spark, path, spec, StagingArea.local(directory / "parsed"), day)[0]
        if entity.is_master:
            _, quarantine = clean_master(raw, MASTER_SPECS[entity.name])
        else:
            _, quarantine = clean_transactions(raw, *no_master)
        given = [row.reason for row in quarantine.collect()]
        assert given and set(given) == {reason.code}, (reason.code, given)


def _slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_links_stay_inside_the_repository_and_resolve(document):
    text = document.read_text()
    assert "../shared" not in text and "SPEC" not in text
    for target in LINK.findall(text):
        if target.startswith(("http://", "https://")):
            continue
        file, _, anchor = target.partition("#")
        linked = (document.parent / file).resolve() if file else document
        assert linked.is_file() and settings.PROJECT_DIR in linked.parents, f"{document.name}: {target}"
        if anchor:
            headings = re.findall(r"^#+ (.+)$", linked.read_text(), re.M)
            assert anchor in {_slug(h) for h in headings}, f"{document.name}: {target}"


def test_make_dev_passes_rows_and_seed_to_the_launchpad():
    """`make dev ROWS=… SEED=…` and BANKING_SYNTHETIC_ROWS / _SEED in the environment both reach the code location."""

    def dev_command(*args: str, **env: str) -> str:
        shown = subprocess.run(
            ["make", "-n", "dev", *args],
            cwd=settings.PROJECT_DIR,
            env={k: v for k, v in os.environ.items() if not k.startswith("BANKING_")} | env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return next(line for line in shown.splitlines() if "dagster dev" in line)

    # The README's command: BANKING_SOURCE=synthetic make dev ROWS=2000 SEED=11
    assert "BANKING_SYNTHETIC_ROWS=2000 BANKING_SYNTHETIC_SEED=11 " in dev_command(
        "ROWS=2000", "SEED=11", BANKING_SOURCE="synthetic"
    )
    assert "BANKING_SYNTHETIC_ROWS=5000 BANKING_SYNTHETIC_SEED=3 " in dev_command(
        BANKING_SYNTHETIC_ROWS="5000", BANKING_SYNTHETIC_SEED="3"
    )
    assert "BANKING_SYNTHETIC_ROWS=100000 BANKING_SYNTHETIC_SEED=7 " in dev_command()
