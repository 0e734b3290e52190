"""Reconciliation: replay the audit trail and compare it with the tables, row by row.

The hash chain (:mod:`oncotrial.store.chain`) proves that nobody rewrote the trail; it says
nothing of a change made to the data *without* writing the trail (a raw ``UPDATE`` of
``sdtm_tr``, a row deleted from ``subjects``). 21 CFR Part 11 §11.10(a) asks that a system be
able "to discern invalid or altered records" and §11.10(e) that the audit trail record every
operator action that creates, modifies or deletes a record. So for every audited table
(discovered from the models: :func:`~oncotrial.store.audit.audited_models`) this module:

- replays the trail in sequence order — an INSERT gives the whole record, an UPDATE sets one
  field, a DELETE removes the record — checking that each UPDATE's old value and each DELETE's
  old record is what the replay holds at that point (else the data had been changed outside
  the application in between);
- compares every stored row, field by field, with its replayed state: a row the trail never
  inserted, a record the trail says exists but is gone, a row the trail deleted, and a value
  that differs are each reported with table, record and field.

Records are compared in the form the trail writes them (:func:`~oncotrial.store.audit.
audited_values`: text, missing values left out), so SQLite and PostgreSQL agree. Entries whose
action is not INSERT/UPDATE/DELETE (events such as a login) name no record state and are not
replayed. Memory is one table's replayed records at a time (insert rows kept as their JSON
text until needed).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import JSON, Connection, Engine, Text, cast, func, inspect, select

from oncotrial.store.audit import RECORD_ACTIONS, audited_models, record_identity, values_reader
from oncotrial.store.chain import DEFAULT_LIMIT, Bounded, Progress, read_snapshot
from oncotrial.store.models import AuditLog, SdtmRecord

Problem = Literal["changed", "inserted", "deleted", "reappeared", "changed_unaudited", "trail"]

#: What each problem means, for people (the ``problem`` field is for machines).
PROBLEMS: dict[str, str] = {
    "changed": "a stored value differs from the replay of the audit trail",
    "inserted": "a row the audit trail never inserted",
    "deleted": "a record the audit trail says exists is gone",
    "reappeared": "a row the audit trail deleted is present",
    "changed_unaudited": "an audited change found a value the trail never recorded",
    "trail": "the audit trail contradicts itself",
}

#: How trails written before redaction fingerprints marked a redacted value.
LEGACY_REDACTED = "<redacted>"

#: Rows fetched per round trip.
CHUNK = 5000


@dataclass(frozen=True)
class Discrepancy:
    """One way the tables and the audit trail disagree.

    ``stored`` is the value in the table (for ``changed_unaudited``: the value the audited
    change found); ``audited`` is the value the replay of the trail gives; ``seq`` the audit
    row the replay had reached for this record (None when the trail has no row of it);
    ``subject`` the record's USUBJID when it has one.
    """

    table: str
    record_id: str
    field: str | None
    problem: Problem
    message: str
    stored: str | None = None
    audited: str | None = None
    seq: int | None = None
    subject: str | None = None

    def __str__(self) -> str:
        who = f" ({self.subject})" if self.subject else ""
        what = f" {self.field}" if self.field else ""
        return f"{self.table} #{self.record_id}{who}{what}: {self.message}"


@dataclass(frozen=True)
class TableReplay:
    """One audited table: rows stored now and record entries of the trail replayed."""

    table: str
    rows: int
    audit_entries: int


@dataclass(frozen=True)
class ReconcileReport:
    """The result of :func:`reconcile`: ``ok`` when every row equals its replay.

    ``discrepancies`` lists up to the limit asked for; ``discrepancy_count`` and
    ``by_problem`` count them all.
    """

    tables: tuple[TableReplay, ...]
    discrepancies: tuple[Discrepancy, ...]
    discrepancy_count: int
    by_problem: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.discrepancy_count == 0

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        rows = sum(t.rows for t in self.tables)
        entries = sum(t.audit_entries for t in self.tables)
        scope = f"{len(self.tables)} audited tables, {rows} rows, {entries} audit entries"
        if self.ok:
            return f"tables reconcile with the audit trail: {scope}"
        counts = ", ".join(f"{n} {name}" for name, n in sorted(self.by_problem.items()))
        return f"tables disagree with the audit trail ({counts}): {scope}"


class _Replayed:
    """A record as the trail has it so far; the INSERT's JSON is parsed only when needed."""

    __slots__ = ("alive", "seq", "values")

    def __init__(self, values: str | dict[str, str], seq: int) -> None:
        self.values: str | dict[str, str] = values
        self.alive = True
        self.seq = seq

    def current(self) -> dict[str, str]:
        if isinstance(self.values, str):
            self.values = _record(self.values)
        return self.values


def _record(text: str | None) -> dict[str, str]:
    """The record of an INSERT/DELETE row; ValueError when it is not a JSON object."""
    value = json.loads(text or "")
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def _same(audited: str | None, stored: str | None) -> bool:
    if audited == stored:
        return True
    # a legacy "<redacted>" says a value was there, not which
    return audited == LEGACY_REDACTED and stored is not None and stored.startswith("<redacted")


def _show(value: str | None) -> str:
    if value is None:
        return "missing"
    return repr(value if len(value) <= 60 else value[:57] + "...")


def _subject(values: dict[str, str]) -> str | None:
    return values.get("USUBJID") or values.get("usubjid")


def _field_differences(stored: dict[str, str], audited: dict[str, str]) -> Iterator[str]:
    for name in [*stored, *(n for n in audited if n not in stored)]:
        if not _same(audited.get(name), stored.get(name)):
            yield name


def _json_cell(raw: str | None, key: str, sdtm: bool) -> Any:
    """A JSON column read as text, parsed here so that a cell corrupted behind the
    application's back (not JSON at all) is reported as a changed value, not a crash."""
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return {key: raw} if sdtm and key == "extra" else raw


def stored_records(connection: Connection, model: type[Any]) -> Iterator[tuple[str, dict]]:
    """Every stored row of ``model`` as ``(record_id, audited values)``."""
    mapper = inspect(model)
    attrs = list(mapper.column_attrs)
    columns = [attr.columns[0] for attr in attrs]
    keys = [attr.key for attr in attrs]
    key_at = [next(i for i, c in enumerate(columns) if c is pk) for pk in mapper.primary_key]
    json_at = [i for i, column in enumerate(columns) if isinstance(column.type, JSON)]
    selected = [cast(c, Text) if i in json_at else c for i, c in enumerate(columns)]
    sdtm = issubclass(model, SdtmRecord)
    read = values_reader(model, tuple(keys))
    result = connection.execution_options(yield_per=CHUNK).execute(select(*selected))
    for row in result:
        if json_at:
            row = list(row)
            for i in json_at:
                row[i] = _json_cell(row[i], keys[i], sdtm)
        yield record_identity([row[i] for i in key_at]), read(row)


class _TableReconciler:
    """Replays one table's trail, then compares its stored rows (see the module docstring)."""

    def __init__(self, table: str, found: Bounded[Discrepancy], kinds: Counter[str]) -> None:
        self.table = table
        self.found = found
        self.kinds = kinds
        self.state: dict[str, _Replayed] = {}
        self.entries = 0

    def report(
        self,
        record_id: str,
        problem: Problem,
        message: str,
        *,
        field: str | None = None,
        **details: Any,
    ) -> None:
        self.kinds[problem] += 1
        self.found.add(Discrepancy(self.table, record_id, field, problem, message, **details))

    def replay(self, connection: Connection) -> None:
        query = (
            select(
                AuditLog.seq,
                AuditLog.action,
                AuditLog.record_id,
                AuditLog.field,
                AuditLog.old_value,
                AuditLog.new_value,
            )
            .where(AuditLog.table_name == self.table, AuditLog.action.in_(RECORD_ACTIONS))
            .order_by(AuditLog.seq)
        )
        for seq, action, record_id, name, old, new in connection.execution_options(
            yield_per=CHUNK
        ).execute(query):
            self.entries += 1
            if action == "INSERT":
                self._insert(int(seq), record_id, new)
            elif action == "UPDATE":
                self._update(int(seq), record_id, name, old, new)
            else:
                self._delete(int(seq), record_id, old)

    def _insert(self, seq: int, record_id: str, new: str | None) -> None:
        known = self.state.get(record_id)
        if known is not None and known.alive:
            message = f"audit row {seq} inserts a record already inserted at row {known.seq}"
            self.report(record_id, "trail", message, seq=seq)
        self.state[record_id] = _Replayed(new or "", seq)

    def _live(self, seq: int, record_id: str, action: str) -> _Replayed | None:
        known = self.state.get(record_id)
        if known is None:
            message = f"audit row {seq} {action}s a record the trail never inserted"
            self.report(record_id, "trail", message, seq=seq)
        elif not known.alive:
            message = f"audit row {seq} {action}s a record deleted at row {known.seq}"
            self.report(record_id, "trail", message, seq=seq)
        else:
            return known
        return None

    def _parsed(self, seq: int, record_id: str, known: _Replayed) -> dict[str, str] | None:
        try:
            return known.current()
        except ValueError:
            message = f"the record written at audit row {known.seq} is not a JSON object"
            self.report(record_id, "trail", message, seq=known.seq)
            known.values = {}
            return None

    def _update(
        self, seq: int, record_id: str, name: str | None, old: str | None, new: str | None
    ) -> None:
        known = self._live(seq, record_id, "update")
        if known is None:
            return
        values = self._parsed(seq, record_id, known)
        if values is None:
            return
        if name is None:
            self.report(record_id, "trail", f"audit row {seq} updates no named field", seq=seq)
            return
        had = values.get(name)
        if not _same(had, old):
            self.report(
                record_id,
                "changed_unaudited",
                f"audit row {seq} changed it from {_show(old)}, but the trail had {_show(had)}: "
                "changed outside the application before that row",
                field=name,
                stored=old,
                audited=had,
                seq=seq,
                subject=_subject(values),
            )
        if new is None:
            values.pop(name, None)
        else:
            values[name] = new
        known.seq = seq

    def _delete(self, seq: int, record_id: str, old: str | None) -> None:
        known = self._live(seq, record_id, "delete")
        if known is None:
            return
        values = self._parsed(seq, record_id, known)
        if values is not None:
            try:
                found = _record(old)
            except ValueError:
                self.report(record_id, "trail", f"audit row {seq}: deleted record is not JSON")
                found = values
            self._fields(
                record_id,
                "changed_unaudited",
                found,
                values,
                seq,
                lambda was, had, at: (
                    f"deleted at audit row {at} holding {was}, but the trail had "
                    f"{had}: changed outside the application before"
                ),
            )
        known.alive, known.seq, known.values = False, seq, {}

    def _fields(
        self,
        record_id: str,
        problem: Problem,
        found: dict[str, str],
        audited: dict[str, str],
        seq: int,
        describe: Callable[[str, str, int], str],
    ) -> None:
        """One discrepancy per field where ``found`` (in the table, or in an audited change)
        differs from what the replay of the trail had."""
        for name in _field_differences(found, audited):
            self.report(
                record_id,
                problem,
                describe(_show(found.get(name)), _show(audited.get(name)), seq),
                field=name,
                stored=found.get(name),
                audited=audited.get(name),
                seq=seq,
                subject=_subject(found) or _subject(audited),
            )

    def compare(self, rows: Iterator[tuple[str, dict]]) -> int:
        """Compare the stored rows with the replay; the number of rows."""
        count = 0
        for record_id, stored in rows:
            count += 1
            known = self.state.pop(record_id, None)
            if known is None:
                message = "the row is not in the audit trail: inserted outside the application"
                self.report(record_id, "inserted", message, subject=_subject(stored))
                continue
            if not known.alive:
                message = (
                    f"deleted at audit row {known.seq}, but the row is present: put back "
                    "outside the application"
                )
                self.report(
                    record_id, "reappeared", message, seq=known.seq, subject=_subject(stored)
                )
                continue
            audited = self._parsed(known.seq, record_id, known)
            if audited is None or audited == stored:
                continue
            self._fields(
                record_id,
                "changed",
                stored,
                audited,
                known.seq,
                lambda now, then, at: (
                    f"stored {now}, but the audit trail (to row {at}) gives "
                    f"{then}: changed outside the application"
                ),
            )
        for record_id, known in self.state.items():
            if known.alive:
                message = (
                    f"the audit trail (to row {known.seq}) says it exists, but the row is gone: "
                    "deleted outside the application"
                )
                subject = _subject_of_text(known.values)
                self.report(record_id, "deleted", message, seq=known.seq, subject=subject)
        return count


def _subject_of_text(values: str | dict[str, str]) -> str | None:
    try:
        return _subject(values if isinstance(values, dict) else _record(values))
    except ValueError:
        return None


def reconcile(
    engine: Engine,
    *,
    limit: int = DEFAULT_LIMIT,
    connection: Connection | None = None,
    progress: Progress | None = None,
    models: Sequence[type[Any]] | None = None,
) -> ReconcileReport:
    """Replay the audit trail of every audited table and compare it with the stored rows.

    Parameters
    ----------
    engine
        The trial database.
    limit
        How many discrepancies to list (all are counted).
    connection
        Read through this connection (e.g. a :func:`~oncotrial.store.chain.read_snapshot`
        shared with the chain check) instead of a new snapshot.
    progress
        ``progress(done, total)`` in audit entries replayed.
    models
        The audited models (default: every one the metadata marks
        :class:`~oncotrial.store.models.Audited`).

    Returns
    -------
    ReconcileReport
        ``ok`` when every row equals the replay of its audit entries, every audited record
        exists and every existing record has an audited insert.

    Example
    -------
    >>> report = reconcile(store.engine)  # doctest: +SKIP
    >>> print(report.discrepancies[0])  # doctest: +SKIP
    sdtm_tr #17 (01-701-1015) TRSTRESC: stored '3.0', but the audit trail (to row 1234) gives
    '4.2': changed outside the application
    """
    if connection is None:
        with read_snapshot(engine) as snapshot:
            return reconcile(
                engine, limit=limit, connection=snapshot, progress=progress, models=models
            )
    found: Bounded[Discrepancy] = Bounded(limit)
    kinds: Counter[str] = Counter()
    entries = dict(
        connection.execute(
            select(AuditLog.table_name, func.count())
            .where(AuditLog.action.in_(RECORD_ACTIONS))
            .group_by(AuditLog.table_name)
        ).all()
    )
    total = sum(entries.values())
    by_table = {model.__table__.name: model for model in models or audited_models()}
    present = set(inspect(connection).get_table_names())
    tables: list[TableReplay] = []
    done = 0
    for name, model in by_table.items():
        reconciler = _TableReconciler(name, found, kinds)
        if name not in present:
            if entries.get(name):
                message = f"the trail has {entries[name]} changes of this table, which is missing"
                reconciler.report("*", "trail", message)
            continue
        reconciler.replay(connection)
        rows = reconciler.compare(stored_records(connection, model))
        tables.append(TableReplay(name, rows, reconciler.entries))
        done += reconciler.entries
        if progress is not None:
            progress(done, total)
    for name in sorted(set(entries) - set(by_table)):
        reconciler = _TableReconciler(name, found, kinds)
        message = f"the trail has {entries[name]} record changes of a table that is not audited"
        reconciler.report("*", "trail", message)
    return ReconcileReport(
        tables=tuple(tables),
        discrepancies=tuple(found.kept),
        discrepancy_count=found.count,
        by_problem=dict(kinds),
    )
