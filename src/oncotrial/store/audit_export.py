"""The audit trail as a file for inspectors: CSV or JSON, every column, re-hashable.

21 CFR Part 11 §11.10(b) asks for "accurate and complete copies of records in both human
readable and electronic form suitable for inspection, review, and copying by the agency", and
§11.10(e) that audit trail documentation be "available for agency review and copying". The
export holds every column of every audit row, hashes included, read from one snapshot with the
chain head it was taken at, so an inspector can recompute the chain without our software:
``hash = SHA-256(prev_hash ‖ JSON array of (seq, txn_id, changed_at, user_name, action,
table_name, record_id, field, old_value, new_value, reason))`` — compact JSON, UTF-8, non-ASCII
unescaped, ``seq`` a number, the rest strings or null (:func:`~oncotrial.store.audit.
canonical_row`).

CSV (RFC 4180, UTF-8): text fields are always quoted, so ``""`` is an empty text and an
unquoted empty field is null (the hash tells them apart). Values are written exactly as stored
(no spreadsheet-formula escaping: the export must re-hash). JSON: one object with the head,
the database and the rows.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TextIO

from sqlalchemy import Connection, Engine, select

from oncotrial.store.audit import AUDIT_COLUMNS, HASHED_FIELDS
from oncotrial.store.chain import AuditHead, Progress, audit_head, read_snapshot
from oncotrial.store.models import DOMAIN_MODELS, AuditLog

ExportFormat = Literal["csv", "json"]

#: The ``format`` of a JSON export.
JSON_FORMAT = "oncotrial-audit-trail/1"

#: How the chain hash is computed, written into the JSON export for its readers.
HASH_RULE = (
    "hash = SHA-256(prev_hash as ASCII hex || UTF-8 compact JSON array of "
    f"[{', '.join(HASHED_FIELDS)}]); prev_hash of row 1 is 64 zeros"
)


@dataclass(frozen=True)
class AuditExport:
    """What :func:`export_audit` wrote: where, how many rows, and the chain head they are of."""

    path: Path
    rows: int
    head: AuditHead
    output_format: ExportFormat


def table_name(name: str) -> str:
    """A table as the trail names it: an SDTM domain code (``TR``) or a table (``sdtm_tr``)."""
    model = DOMAIN_MODELS.get(name.upper())
    return model.__tablename__ if model is not None else name


def _rows(
    connection: Connection, table: str | None, record_id: str | None
) -> Iterator[tuple[Any, ...]]:
    query = select(*(getattr(AuditLog, column) for column in AUDIT_COLUMNS)).order_by(AuditLog.seq)
    if table is not None:
        query = query.where(AuditLog.table_name == table_name(table))
    if record_id is not None:
        query = query.where(AuditLog.record_id == str(record_id))
    yield from connection.execution_options(yield_per=5000).execute(query)


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    return '"' + str(value).replace('"', '""') + '"'


def _write_csv(
    handle: TextIO, rows: Iterator[tuple[Any, ...]], progress: Progress | None, total: int
) -> int:
    handle.write(",".join(AUDIT_COLUMNS) + "\r\n")
    count = 0
    for row in rows:
        handle.write(",".join(_csv_cell(value) for value in row) + "\r\n")
        count += 1
        if progress is not None and count % 5000 == 0:
            progress(count, total)
    return count


def _write_json(
    handle: TextIO,
    rows: Iterator[tuple[Any, ...]],
    header: dict[str, Any],
    progress: Progress | None,
    total: int,
) -> int:
    opening = json.dumps(header, ensure_ascii=False, indent=2)
    handle.write(opening[: opening.rindex("}")].rstrip() + ',\n  "rows": [')
    count = 0
    for row in rows:
        record = dict(zip(AUDIT_COLUMNS, row, strict=True))
        handle.write(
            ("\n    " if count == 0 else ",\n    ") + json.dumps(record, ensure_ascii=False)
        )
        count += 1
        if progress is not None and count % 5000 == 0:
            progress(count, total)
    handle.write("\n  ]\n}\n")
    return count


def export_audit(
    engine: Engine,
    out: Path,
    output_format: ExportFormat = "csv",
    *,
    table: str | None = None,
    record_id: str | None = None,
    progress: Progress | None = None,
) -> AuditExport:
    """Write the audit trail (or one table's, or one record's) to ``out``.

    Parameters
    ----------
    engine
        The trial database.
    out
        The file to write; written whole or not at all (a temporary file renamed at the end).
    output_format
        ``csv`` or ``json`` (see the module docstring).
    table, record_id
        Only the rows of this table (a table name or an SDTM domain code) or record.
    progress
        ``progress(done, total)`` every 5,000 rows.

    Example
    -------
    >>> export_audit(store.engine, Path("audit.csv"))  # doctest: +SKIP
    AuditExport(path=PosixPath('audit.csv'), rows=60211, head=..., output_format='csv')
    """
    if output_format not in ("csv", "json"):
        raise ValueError(f"output format '{output_format}' is not csv or json")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    try:
        with (
            read_snapshot(engine) as connection,
            partial.open("w", encoding="utf-8", newline="") as handle,
        ):
            head = audit_head(connection)
            rows = _rows(connection, table, record_id)
            if output_format == "csv":
                count = _write_csv(handle, rows, progress, head.seq)
            else:
                header = {
                    "format": JSON_FORMAT,
                    "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
                    "database": {
                        "backend": engine.dialect.name,
                        "location": engine.url.render_as_string(hide_password=True),
                    },
                    "head": {"seq": head.seq, "hash": head.hash},
                    "selection": {"table": table and table_name(table), "record_id": record_id},
                    "hash_rule": HASH_RULE,
                    "columns": list(AUDIT_COLUMNS),
                }
                count = _write_json(handle, rows, header, progress, head.seq)
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    if progress is not None:
        progress(count, count)
    return AuditExport(path=out, rows=count, head=head, output_format=output_format)
