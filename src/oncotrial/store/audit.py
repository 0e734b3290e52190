"""The audit trail: who changed what, when and why, in the same transaction as the change.

21 CFR Part 11 §11.10(e) asks for "secure, computer-generated, time-stamped audit trails to
independently record the date and time of operator entries and actions that create, modify, or
delete electronic records", where "record changes shall not obscure previously recorded
information"; ICH E6(R3) asks that changes to data be attributable and explained. Here:

- every insert, update and delete of an audited model writes audit rows in the same transaction
  (through :class:`AuditedSession`'s flush hooks, or :func:`append_audit` for bulk inserts), so
  a change and its audit record are committed or rolled back together;
- updates write one row per changed field (old and new value); inserts and deletes write one
  row per record with the whole record as compact JSON (missing values left out, empty text
  kept) — so a 56,000-row import writes 56,000 audit rows while every value stays recorded;
- updates and deletes need a reason (:class:`~oncotrial.store.errors.ReasonRequiredError`);
- the table is append-only: triggers created by the migration refuse UPDATE and DELETE;
- rows form a SHA-256 hash chain, ``hash = SHA-256(prev_hash ‖ canonical row)``, with gapless
  sequence numbers assigned under a lock of the chain-head row, so :func:`verify_audit` finds
  the first row altered or removed behind the application's back.

The chain is tamper-evident, not tamper-proof: someone able to rewrite every later row and the
head with recomputed hashes can hide a change. Keeping copies of the head hash outside the
database (e.g. with each export or signed report) closes that gap.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal, NamedTuple

from sqlalchemy import Connection, Engine, event, inspect, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from oncotrial.store.engine import bulk_insert
from oncotrial.store.errors import (
    ActorRequiredError,
    ConcurrentEditError,
    ReasonRequiredError,
)
from oncotrial.store.models import AuditChainHead, Audited, AuditLog, SdtmRecord

#: ``prev_hash`` of the first row of the chain.
GENESIS_HASH = "0" * 64

#: The fields of an audit row that its hash covers, in the order they are serialised.
HASHED_FIELDS = (
    "seq",
    "txn_id",
    "changed_at",
    "user_name",
    "action",
    "table_name",
    "record_id",
    "field",
    "old_value",
    "new_value",
    "reason",
)

Action = Literal["INSERT", "UPDATE", "DELETE"]


class AuditEntry(NamedTuple):
    """One audit row before it gets its sequence number, time stamp and hash."""

    action: Action
    table_name: str
    record_id: str
    field: str | None
    old_value: str | None
    new_value: str | None


def canonical_json(value: Any) -> str:
    """Compact JSON with sorted keys and unescaped Unicode: the same bytes for the same value."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


#: Columns of a stored audit row, in the order :func:`append_audit` writes them.
AUDIT_COLUMNS = (*HASHED_FIELDS, "prev_hash", "hash")

_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _serialise(values: Sequence[Any]) -> bytes:
    return _ENCODER.encode(list(values)).encode("utf-8")


def canonical_row(row: dict[str, Any]) -> bytes:
    """The canonical serialisation of an audit row: a compact JSON array of
    :data:`HASHED_FIELDS` (``seq`` a number, the others strings or null), UTF-8."""
    return _serialise([row[name] for name in HASHED_FIELDS])


def chain_hash(prev_hash: str, row: dict[str, Any]) -> str:
    """SHA-256 (hex) of ``prev_hash`` (hex text) followed by the canonical row."""
    return hashlib.sha256(prev_hash.encode("ascii") + canonical_row(row)).hexdigest()


def utc_now_text() -> str:
    """Now, UTC, as ISO 8601 text with microseconds (text so the hash is exact on every DB)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def audit_text(value: Any) -> str | None:
    """A value as the audit trail writes it: text unchanged, others in a canonical text form."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict | list | tuple):
        return canonical_json(value)
    return str(value)


def record_json(values: dict[str, Any]) -> str:
    """A whole record for an INSERT/DELETE audit row: its non-missing values as compact JSON,
    keys in the record's column order (the stored text is what the hash covers)."""
    return _ENCODER.encode({k: audit_text(v) for k, v in values.items() if v is not None})


def text_record_json(values: dict[str, str | None]) -> str:
    """:func:`record_json` of a record whose values are all text or None (bulk imports)."""
    return _ENCODER.encode({k: v for k, v in values.items() if v is not None})


# ---------------------------------------------------------------------------------------------
# Writing


def lock_chain(connection: Connection) -> tuple[int, str]:
    """Lock the chain head for the rest of the transaction; its (last seq, last hash).

    PostgreSQL: ``SELECT … FOR UPDATE`` of the head row, so concurrent writers append one after
    another. SQLite: writers already hold the database write lock (``BEGIN IMMEDIATE``).
    """
    head = connection.execute(
        select(AuditChainHead.last_seq, AuditChainHead.last_hash)
        .where(AuditChainHead.id == 1)
        .with_for_update()
    ).one()
    return int(head.last_seq), str(head.last_hash)


def append_audit(
    connection: Connection,
    entries: Sequence[AuditEntry],
    *,
    user: str,
    reason: str | None,
    txn_id: str,
) -> None:
    """Append ``entries`` to the hash chain inside the caller's transaction."""
    if not entries:
        return
    last_seq, last_hash = lock_chain(connection)
    now = utc_now_text()
    rows: list[tuple[Any, ...]] = []
    for entry in entries:
        last_seq += 1
        values = (
            last_seq,
            txn_id,
            now,
            user,
            entry.action,
            entry.table_name,
            entry.record_id,
            entry.field,
            entry.old_value,
            entry.new_value,
            reason,
        )
        row_hash = hashlib.sha256(last_hash.encode("ascii") + _serialise(values)).hexdigest()
        rows.append((*values, last_hash, row_hash))
        last_hash = row_hash
    bulk_insert(connection, AuditLog.__tablename__, AUDIT_COLUMNS, rows)
    connection.execute(
        update(AuditChainHead)
        .where(AuditChainHead.id == 1)
        .values(last_seq=last_seq, last_hash=last_hash)
    )


# ---------------------------------------------------------------------------------------------
# ORM: every flush of an AuditedSession writes its audit rows


def _identity(obj: Any) -> str:
    key = inspect(obj).mapper.primary_key_from_instance(obj)
    if any(part is None for part in key):
        raise RuntimeError(f"{obj!r} has no primary key yet")
    return ",".join(str(part) for part in key)


def _committed_value(obj: Any, key: str) -> Any:
    history = inspect(obj).attrs[key].history
    if history.deleted:
        return history.deleted[0]
    if history.unchanged:
        return history.unchanged[0]
    return getattr(obj, key)


def object_values(obj: Any, *, committed: bool = False) -> dict[str, Any]:
    """An audited object as ``{name: value}``: SDTM variables (and extras) for domain records,
    column values (redacted where marked) for other models; ``row_version`` left out."""
    mapper = inspect(obj).mapper
    redact = type(obj).__audit_redact__
    values: dict[str, Any] = {}
    for attr in mapper.column_attrs:
        key = attr.key
        if key in ("id", "row_version"):
            continue
        value = _committed_value(obj, key) if committed else getattr(obj, key)
        if isinstance(obj, SdtmRecord):
            if key == "extra":
                values.update(value or {})
            else:
                values[key.upper()] = value
        else:
            values[key] = "<redacted>" if key in redact and value is not None else value
    return values


def _field_changes(obj: Any) -> Iterable[AuditEntry]:
    state = inspect(obj)
    table = state.mapper.local_table.name
    record_id = _identity(obj)
    redact = type(obj).__audit_redact__
    for attr in state.mapper.column_attrs:
        key = attr.key
        if key == "row_version":
            continue
        history = state.attrs[key].history
        if not history.has_changes():
            continue
        old = history.deleted[0] if history.deleted else None
        new = history.added[0] if history.added else None
        if isinstance(obj, SdtmRecord) and key == "extra":
            old_extra, new_extra = old or {}, new or {}
            for name in [*old_extra, *(n for n in new_extra if n not in old_extra)]:
                if old_extra.get(name) != new_extra.get(name):
                    yield AuditEntry(
                        "UPDATE", table, record_id, name, old_extra.get(name), new_extra.get(name)
                    )
            continue
        if old == new:
            continue
        field = key.upper() if isinstance(obj, SdtmRecord) else key
        if key in redact:
            old, new = ("<redacted>" if old is not None else None), "<redacted>"
        yield AuditEntry("UPDATE", table, record_id, field, audit_text(old), audit_text(new))


class AuditedSession(Session):
    """A session whose every flush writes the audit trail of its audited objects.

    ``info["user"]`` (required for any change) and ``info["reason"]`` (required for updates and
    deletes) are set by :meth:`oncotrial.store.Store.session`. A stale ``row_version`` at flush
    raises :class:`~oncotrial.store.errors.ConcurrentEditError`.
    """

    def flush(self, objects: Sequence[Any] | None = None) -> None:
        try:
            super().flush(objects)
        except StaleDataError as exc:
            raise ConcurrentEditError(
                "the record was changed or deleted by someone else since it was read; "
                f"reload it and re-apply the change ({exc})"
            ) from exc


def _audited(objects: Iterable[Any]) -> list[Any]:
    return [obj for obj in objects if isinstance(obj, Audited)]


def _changed(session: Session) -> list[Any]:
    return [
        obj
        for obj in _audited(session.dirty)
        if session.is_modified(obj, include_collections=False)
    ]


def _before_flush(session: Session, flush_context: Any, instances: Any) -> None:
    changed, deleted = _changed(session), _audited(session.deleted)
    if not (changed or deleted or _audited(session.new)):
        return
    if not session.info.get("user"):
        raise ActorRequiredError("a change to trial data needs the name of the user making it")
    if (changed or deleted) and not (session.info.get("reason") or "").strip():
        what = ", ".join(
            f"{inspect(obj).mapper.local_table.name} #{_identity(obj)}"
            for obj in [*changed, *deleted][:5]
        )
        raise ReasonRequiredError(
            f"a reason is required to change or delete data already entered ({what})"
        )
    lock_chain(session.connection())


def _after_flush(session: Session, flush_context: Any) -> None:
    entries: list[AuditEntry] = []
    for obj in _changed(session):
        entries.extend(_field_changes(obj))
    for obj in _audited(session.deleted):
        table = inspect(obj).mapper.local_table.name
        values = record_json(object_values(obj, committed=True))
        entries.append(AuditEntry("DELETE", table, _identity(obj), None, values, None))
    for obj in _audited(session.new):
        table = inspect(obj).mapper.local_table.name
        values = record_json(object_values(obj))
        entries.append(AuditEntry("INSERT", table, _identity(obj), None, None, values))
    if entries:
        append_audit(
            session.connection(),
            entries,
            user=str(session.info["user"]),
            reason=session.info.get("reason"),
            txn_id=session_txn_id(session),
        )


def session_txn_id(session: Session) -> str:
    """The id shared by the audit rows of the current transaction of ``session``."""
    if "txn_id" not in session.info:
        session.info["txn_id"] = str(uuid.uuid4())
    return str(session.info["txn_id"])


def _after_begin(session: Session, transaction: Any, connection: Connection) -> None:
    session.info["txn_id"] = str(uuid.uuid4())


event.listen(AuditedSession, "before_flush", _before_flush)
event.listen(AuditedSession, "after_flush", _after_flush)
event.listen(AuditedSession, "after_begin", _after_begin)


# ---------------------------------------------------------------------------------------------
# Verification


@dataclass(frozen=True)
class BrokenLink:
    """The first place where the audit chain does not hold.

    ``problem`` is ``"altered"`` (a row's content or link no longer matches its hash),
    ``"removed"`` (a gap in the sequence, or rows missing from the end) or ``"inserted"`` (rows
    beyond the chain head). ``table`` and ``record_id`` are those of the row at ``seq`` (None
    when that row is gone).
    """

    seq: int
    table: str | None
    record_id: str | None
    problem: Literal["altered", "removed", "inserted"]
    message: str

    def __str__(self) -> str:
        where = f" ({self.table} #{self.record_id})" if self.table else ""
        return f"audit row {self.seq}{where} {self.problem}: {self.message}"


@dataclass(frozen=True)
class VerifyReport:
    """The result of :func:`verify_audit`: ``ok``, or the first broken link."""

    rows_checked: int
    last_seq: int
    broken: BrokenLink | None

    @property
    def ok(self) -> bool:
        return self.broken is None

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        if self.broken is None:
            return f"audit trail intact: {self.rows_checked} rows, chain head {self.last_seq}"
        return f"audit trail broken at {self.broken}"


def verify_audit(engine: Engine) -> VerifyReport:
    """Re-compute the hash chain of the audit trail and report the first broken link.

    Checks, in sequence order, that sequence numbers have no gap (a gap means rows were
    removed), that each row's ``prev_hash`` is the previous row's hash and that its ``hash``
    matches its content (else it was altered), and that the chain head names the last row.
    """
    columns = [getattr(AuditLog, name) for name in (*HASHED_FIELDS, "prev_hash", "hash")]
    expected_seq, prev_hash, checked = 1, GENESIS_HASH, 0
    with engine.connect() as connection:
        head_seq, head_hash = connection.execute(
            select(AuditChainHead.last_seq, AuditChainHead.last_hash).where(AuditChainHead.id == 1)
        ).one()
        result = connection.execution_options(yield_per=5000).execute(
            select(*columns).order_by(AuditLog.seq)
        )
        for mapping in result.mappings():
            row = dict(mapping)
            seq = int(row["seq"])
            if seq != expected_seq:
                if seq < expected_seq:
                    return _report(
                        checked, head_seq, seq, row, "inserted", "sequence number repeats"
                    )
                return _report(
                    checked,
                    head_seq,
                    expected_seq,
                    None,
                    "removed",
                    f"rows {expected_seq}–{seq - 1} are missing (gap before row {seq}, "
                    f"{row['table_name']} #{row['record_id']})",
                )
            if row["prev_hash"] != prev_hash:
                return _report(
                    checked,
                    head_seq,
                    seq,
                    row,
                    "altered",
                    "prev_hash does not match the hash of the row before: that row was "
                    "rewritten (with a recomputed hash) or this row's link was edited",
                )
            if chain_hash(prev_hash, row) != row["hash"]:
                return _report(
                    checked, head_seq, seq, row, "altered", "content does not match its hash"
                )
            prev_hash = row["hash"]
            expected_seq += 1
            checked += 1
    last = expected_seq - 1
    if head_seq > last:
        return _report(
            checked,
            head_seq,
            last + 1,
            None,
            "removed",
            f"the chain head says {head_seq} rows but the trail ends at row {last}",
        )
    if head_seq < last:
        return _report(
            checked,
            head_seq,
            int(head_seq) + 1,
            None,
            "inserted",
            f"rows after the chain head ({head_seq}) up to {last}",
        )
    if head_hash != prev_hash:
        return _report(
            checked, head_seq, last, None, "altered", "the chain head hash does not match row"
        )
    return VerifyReport(rows_checked=checked, last_seq=int(head_seq), broken=None)


def _report(
    checked: int,
    head_seq: int,
    seq: int,
    row: dict[str, Any] | None,
    problem: Literal["altered", "removed", "inserted"],
    message: str,
) -> VerifyReport:
    link = BrokenLink(
        seq=seq,
        table=row["table_name"] if row else None,
        record_id=row["record_id"] if row else None,
        problem=problem,
        message=message,
    )
    return VerifyReport(rows_checked=checked, last_seq=int(head_seq), broken=link)
