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
head with recomputed hashes can hide a change. A signed checkpoint of the head kept outside the
database (:mod:`oncotrial.store.checkpoint`) closes that gap, and replaying the trail against
the tables (:mod:`oncotrial.store.reconcile`) finds data changed without an audit row.

Which models are audited is read from the metadata (:func:`audited_models`: every mapped class
marked :class:`~oncotrial.store.models.Audited`), so a new audited table is covered everywhere
without a list to edit.
"""

from __future__ import annotations

import functools
import hashlib
import json
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any, Literal, NamedTuple

from sqlalchemy import Connection, event, inspect, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from oncotrial.store.engine import bulk_insert
from oncotrial.store.errors import (
    ActorRequiredError,
    ConcurrentEditError,
    ReasonRequiredError,
)
from oncotrial.store.models import AuditChainHead, Audited, AuditLog, Base, SdtmRecord

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

#: The actions that change a record (and are replayed by the reconciliation); other actions,
#: such as a login written by the web application, are events and name no record state.
RECORD_ACTIONS: tuple[Action, ...] = ("INSERT", "UPDATE", "DELETE")

#: Columns of audited models that the trail does not record: the record's own id (it is the
#: audit row's ``record_id``) and the optimistic-locking counter.
UNAUDITED_COLUMNS = frozenset({"id", "row_version"})


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
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).isoformat()
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict | list | tuple):
        return canonical_json(value)
    return str(value)


def redacted_text(value: Any) -> str | None:
    """A redacted value as the trail writes it: ``<redacted sha256=HEX>`` (None stays None).

    The fingerprint lets the reconciliation notice a redacted column (e.g. a password hash)
    replaced behind the application's back without the trail holding the value. It is only as
    secret as the value is unguessable: redact high-entropy values (hashes, tokens), not PINs.
    """
    if value is None:
        return None
    digest = hashlib.sha256(str(audit_text(value)).encode("utf-8")).hexdigest()
    return f"<redacted sha256={digest}>"


def audited_models(base: type[Any] = Base) -> list[type[Any]]:
    """Every model mapped on ``base`` and marked :class:`~oncotrial.store.models.Audited`, in
    table-name order (read from the metadata, so models added later are included)."""
    models = {
        mapper.class_ for mapper in base.registry.mappers if issubclass(mapper.class_, Audited)
    }
    return sorted(models, key=lambda model: model.__table__.name)


def audited_values(model: type[Any], columns: dict[str, Any]) -> dict[str, str]:
    """A record as the audit trail records it: ``{field: text}``, missing values left out.

    ``columns`` maps the model's column attributes to their values. SDTM records are named by
    their variables (``TRSTRESC``; non-standard variables from ``extra``), other models by
    their attributes; redacted columns become :func:`redacted_text`; :data:`UNAUDITED_COLUMNS`
    are left out. INSERT and DELETE rows write this as JSON, and the reconciliation compares
    the stored rows in this form with the replay of the trail.
    """
    return values_reader(model, tuple(columns))(tuple(columns.values()))


@functools.cache
def values_reader(
    model: type[Any], keys: tuple[str, ...]
) -> Callable[[Sequence[Any]], dict[str, str]]:
    """:func:`audited_values` for rows of ``keys`` given as tuples: the names worked out once,
    so the reconciliation turns a 56,000-row table into audited records quickly."""
    sdtm = issubclass(model, SdtmRecord)
    redact = frozenset() if sdtm else model.__audit_redact__
    extra_at = keys.index("extra") if sdtm and "extra" in keys else None
    fields = [
        (i, key.upper() if sdtm else key, redacted_text if key in redact else audit_text)
        for i, key in enumerate(keys)
        if key not in UNAUDITED_COLUMNS and i != extra_at
    ]

    def read(row: Sequence[Any]) -> dict[str, str]:
        values: dict[str, str] = {}
        for i, name, text in fields:
            value = row[i]
            if value is not None:
                values[name] = value if type(value) is str and text is audit_text else text(value)
        if extra_at is not None and row[extra_at]:
            values.update((k, v) for k, v in row[extra_at].items() if v is not None)
        return values

    return read


def record_json(values: dict[str, str]) -> str:
    """A whole record for an INSERT/DELETE audit row (:func:`audited_values`) as compact JSON,
    keys in the record's column order (the stored text is what the hash covers)."""
    return _ENCODER.encode(values)


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
    mapper = inspect(obj).mapper
    key = mapper.primary_key_from_instance(obj)
    if any(part is None for part in key):
        raise RuntimeError(f"{obj!r} has no primary key yet")
    return record_identity(key)


def _committed_value(obj: Any, key: str) -> Any:
    history = inspect(obj).attrs[key].history
    if history.deleted:
        return history.deleted[0]
    if history.unchanged:
        return history.unchanged[0]
    return getattr(obj, key)


def object_values(obj: Any, *, committed: bool = False) -> dict[str, str]:
    """An audited object as the trail records it (:func:`audited_values`): its values now, or
    as last loaded from the database (``committed``, for the old record of a DELETE)."""
    mapper = inspect(obj).mapper
    columns = {
        attr.key: _committed_value(obj, attr.key) if committed else getattr(obj, attr.key)
        for attr in mapper.column_attrs
    }
    return audited_values(type(obj), columns)


def record_identity(key: Sequence[Any]) -> str:
    """The ``record_id`` of an audit row: the primary-key values joined by commas."""
    return ",".join(str(part) for part in key)


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
        text = redacted_text if key in redact else audit_text
        yield AuditEntry("UPDATE", table, record_id, field, text(old), text(new))


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


def __getattr__(name: str) -> Any:
    """The chain's verification lives in :mod:`oncotrial.store.chain`; these names are still
    importable from here."""
    if name in ("BrokenLink", "VerifyReport", "verify_audit"):
        from oncotrial.store import chain

        return getattr(chain, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
