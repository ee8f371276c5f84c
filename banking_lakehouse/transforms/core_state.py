"""A day's master data from the core-banking system: the previous state with the day's extraction applied.

An extraction holds only what changed in its window; silver's checks and the transactions' orphan flags
need the day's whole master data, as a file delivery carries it. So the raw zone keeps, beside the
extracted Parquet, the day's state in the records layout silver reads (`records.RECORD_SCHEMA`, the
entity's columns as text, then the source's `updated_at` and `deleted_at`): per id, the latest extracted
row. A deleted row stays, as a tombstone with `deleted_at` set: the key existed, and gold closes its
history with it. Built with pyarrow, no Spark: the run's JVM is still starting when this runs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from banking_lakehouse.entities import CHANGE_COLUMNS, Entity
from banking_lakehouse.transforms.records import RECORD_SCHEMA


def state_schema(entity: Entity) -> pa.Schema:
    """The records layout of a core entity's state."""
    timestamp = pa.timestamp("us", tz="UTC")
    return pa.schema(
        [
            *RECORD_SCHEMA,
            *[pa.field(c, pa.string()) for c in entity.columns],
            *[pa.field(c, timestamp) for c in CHANGE_COLUMNS],
        ]
    )


def _as_records(entity: Entity, extracted: pa.Table) -> pa.Table:
    """Extracted rows as records: `_raw_bytes` is the row as the source gave it (JSON, the entity's columns
    and the change times), what quarantine shows of a rejected row."""
    columns = [*entity.columns, *CHANGE_COLUMNS]
    values = extracted.select(columns).to_pylist()
    raw = [
        json.dumps({c: (v.isoformat() if c in CHANGE_COLUMNS and v is not None else v) for c, v in row.items()})
        for row in values
    ]
    n = extracted.num_rows
    lineage = {
        "_line": pa.nulls(n, pa.int32()),  # numbered once the state is sorted
        "_raw": pa.nulls(n, pa.string()),
        "_raw_bytes": pa.array([r.encode() for r in raw], pa.binary()),
        "_parse_reason": pa.nulls(n, pa.string()),
    }
    arrays = [lineage[f.name] for f in RECORD_SCHEMA] + [extracted.column(c) for c in columns]
    return pa.Table.from_arrays(arrays, schema=state_schema(entity))


def write_state(entity: Entity, extracted: Path, previous: Path | None, out: Path) -> int:
    """Writes the day's state records to `out` (sorted by id, `_line` numbering it) and returns its rows:
    the `previous` state's rows (none for a first, full load) whose ids the extraction does not hold, and
    every extracted row."""
    changes = _as_records(entity, pq.read_table(extracted))
    state = changes
    if previous is not None:
        earlier = pq.read_table(previous, schema=state_schema(entity))
        kept = earlier.filter(pc.invert(pc.is_in(earlier.column(entity.id_column), changes.column(entity.id_column))))
        state = pa.concat_tables([kept, changes])
    state = state.sort_by(entity.id_column)
    state = state.set_column(0, RECORD_SCHEMA[0], pa.array(range(1, state.num_rows + 1), pa.int32()))
    tmp = out.with_name(f".{out.name}.tmp")
    pq.write_table(state, tmp)
    os.replace(tmp, out)
    return state.num_rows
