"""The reference tables of docs/*.md, rendered from the code that declares their facts.

A doc marks each generated part `<!-- generated: NAME -->` … `<!-- end generated -->`; the prose around it is
written by hand. The tables come from entities.py (the landing files), contracts.py (silver), sql/warehouse.sql
(gold and quality in PostgreSQL), quarantine_reasons.py, generator/, checks/rules.py and transforms/fraud.py,
so a change there shows up as a stale doc (a test renders them and compares).

    python -m banking_lakehouse.docs            rewrite the generated parts of docs/*.md
    python -m banking_lakehouse.docs --check    list the docs whose generated parts differ from the code (exit 1)
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from banking_lakehouse import fraud_patterns, settings
from banking_lakehouse.checks import rules
from banking_lakehouse.contracts import CONTRACTS
from banking_lakehouse.entities import ENTITIES
from banking_lakehouse.generator import MANIFEST_FILE
from banking_lakehouse.generator.config import DEFAULT_DEFECT_RATES, DEFAULT_FRAUD_PER_100K, DEFAULT_MASTER_DEFECT_RATES
from banking_lakehouse.generator.defects import FLAGGED_DEFECTS, QUARANTINED_DEFECTS
from banking_lakehouse.quarantine_reasons import REASONS
from banking_lakehouse.resources.delivery import COMPRESSED_SUFFIX, SUCCESS_MARKER
from banking_lakehouse.sql import read_sql
from banking_lakehouse.transforms import fraud, fraud_history

DOCS_DIR = settings.PROJECT_DIR / "docs"
GENERATED = re.compile(r"(<!-- generated: (?P<name>[a-z0-9-]+) -->\n)(?P<body>.*?)(<!-- end generated -->)", re.S)


def table(header: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell).replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def code(value: object) -> str:
    return f"`{value}`"


def shown_bytes(record: bytes) -> str:
    """A delivered record as `raw_record` shows it: text, with invalid bytes and control characters as \\xNN."""
    text = record.decode("utf-8", errors="backslashreplace")
    return "".join(f"\\x{ord(c):02x}" if ord(c) < 0x20 else c for c in text)


# Landing ---------------------------------------------------------------------------------------------


def landing_files() -> str:
    rows = [
        (
            code(e.file) + " or " + code(e.file + COMPRESSED_SUFFIX),
            "CSV (RFC 4180)" if e.format == "csv" else "JSON lines",
            ", ".join(f"**{c}**" if c in e.required else c for c in e.columns),
            code(e.id_column),
        )
        for e in ENTITIES.values()
    ]
    return table(["file", "format", "columns (**required**)", "id"], rows) + (
        f"\nThe drop is complete when {code(SUCCESS_MARKER)} exists in its `date=YYYY-MM-DD/` directory.\n"
    )


# Silver ----------------------------------------------------------------------------------------------


def _rule(check: str, stats: dict) -> str:
    """A pandera check as a reader says it."""
    if check == "isin":
        return "one of " + ", ".join(code(v) for v in stats["allowed_values"])
    if check == "str_matches":
        return "matches " + code(getattr(stats["pattern"], "pattern", stats["pattern"]))
    if check == "str_length":
        return f"at most {stats['max_value']} characters"
    if check == "greater_than":
        return f"> {stats['min_value']}"
    if check == "greater_than_or_equal_to":
        return f"≥ {stats['min_value']}"
    return f"{check} {stats}"


def silver_columns(entity: str) -> Callable[[], str]:
    def render() -> str:
        schema = CONTRACTS[entity].to_schema()
        unique = set(schema.unique or [])
        rows = [
            (
                code(name),
                col.dtype.type.simpleString(),
                "yes" if col.nullable else "no",
                "; ".join(["unique", *[_rule(c.name, dict(c.statistics)) for c in col.checks]][name not in unique :]),
                col.description or "",
            )
            for name, col in schema.columns.items()
        ]
        return table(["column", "type", "null", "rules", "meaning"], rows)

    return render


# PostgreSQL ------------------------------------------------------------------------------------------

CREATE_TABLE = re.compile(r"((?:^--[^\n]*\n)*)CREATE TABLE IF NOT EXISTS (\w+\.\w+) \((.*?)\n\)", re.S | re.M)
ADD_COLUMN = re.compile(r"ALTER TABLE (\w+\.\w+) ADD COLUMN IF NOT EXISTS (\w+) ([^;]+);")
COLUMN = re.compile(r"^\s*(\w+)\s+(\w+(?:\(\d+(?:,\d+)?\))?)\s*(.*?),?\s*(?:--\s*(.*))?$")


def warehouse_tables() -> dict[str, tuple[str, list[tuple[str, str, str, str]], str]]:
    """table -> (the comment above it, [(column, type, constraints, note)], its table-level primary key) as
    sql/warehouse.sql declares it."""
    sql = read_sql("warehouse.sql")
    tables = {}
    for comment, name, body in CREATE_TABLE.findall(sql):
        about = " ".join(line.lstrip("- ").rstrip("- ") for line in comment.splitlines())
        columns = []
        for line in body.splitlines():
            if not line.strip() or line.strip().startswith(("PRIMARY KEY", "--")):
                continue
            column, kind, constraints, note = COLUMN.match(line).groups()
            columns.append((column, kind, constraints.rstrip(","), note or ""))
        key = re.search(r"^\s*PRIMARY KEY \(([^)]*)\)", body, re.M)
        tables[name] = (about, columns, key.group(1) if key else "")
    for name, column, kind in ADD_COLUMN.findall(sql):
        tables[name][1].append((column, kind, "", ""))
    return tables


def warehouse_schema(schema: str) -> Callable[[], str]:
    def render() -> str:
        parts = []
        for name, (about, columns, key) in warehouse_tables().items():
            if name.startswith(schema + "."):
                parts.append(f"### `{name}`\n\n" + (f"{about}\n\n" if about else ""))
                parts.append(
                    table(["column", "type", "constraints", "note"], [(code(c), *rest) for c, *rest in columns])
                )
                parts.append(f"\nPrimary key: `({key})`.\n\n" if key else "\n")
        return "".join(parts).rstrip("\n") + "\n"

    return render


# Quality ---------------------------------------------------------------------------------------------


def quarantine_reasons() -> str:
    rows = [
        (
            code(r.code),
            r.meaning,
            f"{code(r.entity.file)}: " + "<br>".join(code(shown_bytes(record)) for record in r.example),
        )
        for r in REASONS
    ]
    return table(["reason", "meaning", "example (delivered records)"], rows)


def _handling(code_: str) -> str:
    if code_ in QUARANTINED_DEFECTS:
        return f"quarantined as {code(code_)}"
    if code_ in FLAGGED_DEFECTS:
        return f"kept, flagged {code(FLAGGED_DEFECTS[code_])}"
    return "normalised in silver"


def generator_defects() -> str:
    rows = [(code(c), f"{rate:.2%}", _handling(c)) for c, rate in DEFAULT_DEFECT_RATES.items()]
    return table(["defect", "default share of transactions", "silver"], rows)


def master_defects() -> str:
    rows = [
        (
            entity,
            code(c),
            f"{rate:.1%}",
            "normalised in silver" if c == "country_noise" else f"quarantined as {code(c)}",
        )
        for entity, rates in DEFAULT_MASTER_DEFECT_RATES.items()
        for c, rate in rates.items()
    ]
    return table(["entity", "defect", "default share", "silver"], rows)


def checks() -> str:
    rows = [
        (code(r.asset.to_user_string()), code(r.name), r.severity.value, "yes" if r.blocking else "no", r.description)
        for r in rules.RULES
    ]
    return table(["asset", "check", "severity", "blocks downstream", "passes when"], rows)


def anomaly_settings() -> str:
    return table(
        ["setting", "value"],
        [
            ("history: batches of the days before", rules.ANOMALY_WINDOW_DAYS),
            ("earlier batches needed before an anomaly check can fail", rules.ANOMALY_MIN_HISTORY),
            ("band: median ± this many MAD-based standard deviations (1.4826 · MAD)", rules.ANOMALY_MAD_SIGMAS),
            ("and never narrower than this share of the median", f"{rules.ANOMALY_MIN_RELATIVE_BAND:.0%}"),
            ("nor, for a share, than ± (percentage points)", f"{rules.RATE_MIN_BAND * 100:g}"),
        ],
    )


# Fraud -----------------------------------------------------------------------------------------------


def fraud_rules() -> str:
    rows = [(code(rule), weight, DEFAULT_FRAUD_PER_100K.get(rule, "")) for rule, weight in fraud.RULE_WEIGHTS.items()]
    return table(["rule", "risk-score weight", "injected per 100 000 transactions (generator)"], rows)


def fraud_thresholds() -> str:
    constants = [(code(name), value) for name, value in vars(fraud_patterns).items() if name.isupper()]
    return table(
        ["constant (fraud_patterns.py)", "value"],
        [*constants, (code("MEDIAN_WINDOW") + " (transforms/fraud_history.py)", fraud_history.MEDIAN_WINDOW)],
    )


def manifest_file() -> str:
    return f"The generator writes {code(MANIFEST_FILE)} beside the files (the pipeline never reads it).\n"


SECTIONS: dict[str, Callable[[], str]] = {
    "landing-files": landing_files,
    "manifest-file": manifest_file,
    **{f"silver-{entity}": silver_columns(entity) for entity in CONTRACTS},
    "warehouse-gold": warehouse_schema("gold"),
    "warehouse-quality": warehouse_schema("quality"),
    "quarantine-reasons": quarantine_reasons,
    "generator-defects": generator_defects,
    "master-defects": master_defects,
    "checks": checks,
    "anomaly-settings": anomaly_settings,
    "fraud-rules": fraud_rules,
    "fraud-thresholds": fraud_thresholds,
}


def refresh(text: str) -> str:
    """`text` with every generated part rendered anew (an unknown part name is an error)."""
    return GENERATED.sub(lambda m: m.group(1) + SECTIONS[m.group("name")]() + m.group(4), text)


def stale_docs(directory: Path = DOCS_DIR) -> dict[Path, str]:
    """Each doc whose generated parts differ from the code, with its refreshed text."""
    docs = {path: path.read_text() for path in sorted(directory.glob("*.md"))}
    return {path: fresh for path, text in docs.items() if (fresh := refresh(text)) != text}


def main(argv: list[str]) -> int:
    stale = stale_docs()
    if "--check" in argv:
        for path in stale:
            print(f"{path.relative_to(settings.PROJECT_DIR)} is stale: run python -m banking_lakehouse.docs")
        return 1 if stale else 0
    for path, text in stale.items():
        path.write_text(text)
        print(f"rewrote {path.relative_to(settings.PROJECT_DIR)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
