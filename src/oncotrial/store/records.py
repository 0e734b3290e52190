"""SDTM records in the trial store: adding (one record, a batch, or a whole SDTM folder in one
transaction), changing, deleting and reading them, every write edit-checked by
:func:`oncotrial.cdisc.study.check_study` — the same function ``derive`` runs — against what
the store already holds.

Clinical data goes in and comes out as text, cell by cell: rows are ``{SDTM variable: text}``
dicts or a DataFrame of text columns; :meth:`RecordsMixin.records` gives a DataFrame with the
same columns in the same order (object dtype, ``None`` for missing, ``""`` kept as ``""``),
indexed by record id.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import Connection, Table, func, insert, select

from oncotrial.cdisc.checks import (
    AFTER_CONSENT,
    AFTER_FIRST_DOSE,
    BEFORE_DEATH,
    SubjectDates,
    check_date_order,
    overridable,
)
from oncotrial.cdisc.errors import Finding, errors_of
from oncotrial.cdisc.frames import Rows, TextRow, text_rows, to_text
from oncotrial.cdisc.study import DOMAIN_ORDER, StudyContext, check_study, subject_dates
from oncotrial.store.audit import (
    AuditedSession,
    AuditEntry,
    append_audit,
    session_txn_id,
    text_record_json,
)
from oncotrial.store.engine import bulk_insert, reserve_ids
from oncotrial.store.errors import (
    EditCheckError,
    RecordNotFoundError,
    UnknownDomainError,
    refuse,
    require_reason,
)
from oncotrial.store.models import (
    DOMAIN_MODELS,
    DatasetColumn,
    SdtmRecord,
    Subject,
    standard_variables,
)

if TYPE_CHECKING:
    from oncotrial.cdisc.checks import CheckSettings

#: Rows per INSERT statement (and per progress report) in bulk imports.
BATCH_SIZE = 5000
#: Subjects per ``IN (…)`` list when reading what the store holds of them.
_IN_CHUNK = 500

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ImportResult:
    """What was stored of one domain: record ids (in row order), subjects created from DM, the
    findings that let data in with a warning, and the error findings accepted by an override
    (their records' audit entries carry the reason and the rules overridden)."""

    domain: str
    ids: list[int]
    created_subjects: list[str] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    overridden: list[Finding] = field(default_factory=list)
    seconds: float = 0.0


@dataclass(frozen=True)
class StoredRecord:
    """One stored SDTM record: id, ``row_version`` (for optimistic locking) and its values."""

    domain: str
    id: int
    row_version: int
    values: dict[str, str | None]


def domain_model(domain: str) -> type[SdtmRecord]:
    """The model of an SDTM domain code (case-insensitive)."""
    try:
        return DOMAIN_MODELS[domain.upper()]
    except KeyError:
        known = ", ".join(DOMAIN_MODELS)
        raise UnknownDomainError(f"domain '{domain}' is not held by the store ({known})") from None


@dataclass
class _Batch:
    model: type[SdtmRecord]
    columns: list[str]
    rows: list[TextRow]

    @property
    def code(self) -> str:
        return self.model.domain_code


def _override_note(reason: str | None, findings: Sequence[Finding]) -> str:
    rules = "; ".join(f"{f.rule} on {f.field}: {f.message}" for f in findings)
    return f"{reason} [edit checks overridden: {rules}]"


class RecordsMixin:
    """The SDTM-record part of :class:`~oncotrial.store.api.Store`."""

    settings: CheckSettings

    if TYPE_CHECKING:

        def _write(
            self, user: str, reason: str | None
        ) -> AbstractContextManager[tuple[AuditedSession, Connection]]: ...

        def _ensure_sites(self, session: AuditedSession, codes: Sequence[str]) -> None: ...

        @property
        def engine(self) -> Any: ...

        @staticmethod
        def _check_version(obj: Any, table: str, expected_version: int) -> None: ...

    # ---- writes ------------------------------------------------------------------------------

    def add_records(
        self,
        domain: str,
        rows: Rows,
        user: str,
        reason: str | None = None,
        *,
        enforce: bool = True,
        overrides: Collection[str] = (),
        progress: Progress | None = None,
    ) -> ImportResult:
        """Add SDTM records of ``domain`` in one transaction: all of them, or none.

        ``rows``: dicts or a DataFrame keyed by SDTM variable names; values are stored as text
        (see :func:`to_text`), non-standard variables in ``extra``; the column order is kept for
        :meth:`records`. DM rows register subjects not yet known (and their sites). A missing
        ``--SEQ`` is numbered on from the subject's highest. Every edit check runs first; any
        error refuses the whole batch with :class:`EditCheckError`. ``overrides`` names rules
        whose errors are accepted (``"all"``: every rule but the structural ones;
        ``enforce=False`` is the same as ``overrides={"all"}``): it needs a ``reason``, which
        the audit entries of the records concerned carry with the rules overridden.
        ``progress(done, total)`` is called per batch.
        """
        return self.import_domains(
            {domain: rows},
            user,
            reason,
            enforce=enforce,
            overrides=overrides,
            progress=progress,
        )[domain_model(domain).domain_code]

    def import_domains(
        self,
        domains: Mapping[str, Rows],
        user: str,
        reason: str | None = None,
        *,
        enforce: bool = True,
        overrides: Collection[str] = (),
        progress: Progress | None = None,
    ) -> dict[str, ImportResult]:
        """Add the records of several SDTM domains in one transaction (an SDTM folder): every
        domain is checked together, as ``derive`` checks a folder, and every finding is
        reported at once; nothing is stored unless all of it can be. Results by domain code,
        in :data:`~oncotrial.cdisc.study.DOMAIN_ORDER` (``seconds``: the time of each domain's
        writes, the first one's with the checks of all). See :meth:`add_records`."""
        started = time.perf_counter()
        accepted = set(overrides) | (set() if enforce else {"all"})
        if accepted:
            require_reason(reason, "store data that fails edit checks")
        batches = self._batches(domains)
        with self._write(user, reason) as (session, connection):
            for batch in batches:
                if batch.model.seq_variable is not None:
                    self._number_seq(connection, batch)
            findings = self._check_batches(connection, batches)
            checking = time.perf_counter() - started
            errors = errors_of(findings)
            refused = [f for f in errors if not overridable(f.rule, accepted)]
            if refused:
                raise EditCheckError(refused)
            overridden = [f for f in errors if f not in set(refused)]
            results: dict[str, ImportResult] = {}
            total = sum(len(b.rows) for b in batches)
            done = 0
            for batch in batches:
                code = batch.code
                created: list[str] = []
                if code == "DM":
                    created = self._create_subjects_from_dm(session, connection, batch.rows)
                self._record_columns(connection, code, batch.columns)
                mine = [f for f in overridden if f.domain == code and f.row is not None]
                reasons = defaultdict(list)
                for finding in mine:
                    reasons[finding.row].append(finding)
                row_reasons = {i: _override_note(reason, fs) for i, fs in reasons.items()}

                def report(count: int, _: int, base: int = done) -> None:
                    if progress is not None:
                        progress(base + count, total)

                inserting = time.perf_counter()
                ids = self._insert_records(
                    connection, session, batch, user, reason, row_reasons, report
                )
                done += len(batch.rows)
                results[code] = ImportResult(
                    domain=code,
                    ids=ids,
                    created_subjects=created,
                    warnings=[f for f in findings if f.domain == code and f.severity == "warning"],
                    overridden=[f for f in overridden if f.domain == code],
                    seconds=time.perf_counter() - inserting + (checking if not results else 0),
                )
        return results

    def update_record(
        self,
        domain: str,
        record_id: int,
        changes: Mapping[str, Any],
        user: str,
        reason: str,
        expected_version: int,
    ) -> int:
        """Change variables of one record (a reason is required); its new ``row_version``.

        ``expected_version`` is the ``row_version`` the change was based on; if the record has
        changed since, nothing is written and :class:`ConcurrentEditError` is raised. A value of
        None removes a non-standard variable. The changed record is checked like a new one.
        """
        require_reason(reason, f"change {domain} record #{record_id}")
        model = domain_model(domain)
        code = model.domain_code
        text_changes = {str(k): to_text(v) for k, v in changes.items()}
        with self._write(user, reason) as (session, connection):
            record = self._get_record(session, model, record_id)
            self._check_version(record, model.__tablename__, expected_version)
            merged = {**self._values(record), **text_changes}
            batch = _Batch(model, list(merged), [merged])
            findings = self._check_batches(connection, [batch], exclude=(code, record_id))
            refuse(
                [
                    Finding(
                        f.usubjid,
                        f.domain,
                        f.field,
                        f.rule,
                        f.message,
                        None,
                        f.record_id or record_id,
                        f.severity,
                    )
                    for f in findings
                ]
            )
            standard = set(standard_variables(model))
            extra = dict(record.extra or {})
            for name, value in text_changes.items():
                if name in standard:
                    setattr(record, name.lower(), value)
                elif value is None:
                    extra.pop(name, None)
                else:
                    extra[name] = value
            record.extra = extra or None
            self._record_columns(connection, code, list(text_changes))
            session.flush()
            return record.row_version

    def delete_record(
        self, domain: str, record_id: int, user: str, reason: str, expected_version: int
    ) -> None:
        """Delete one record (a reason is required; the audit trail keeps its values). A DM
        record with other records of its subject, or the TU record identifying a lesion that
        still has TR results, is refused: ``derive`` could not use what would remain."""
        require_reason(reason, f"delete {domain} record #{record_id}")
        model = domain_model(domain)
        with self._write(user, reason) as (session, connection):
            record = self._get_record(session, model, record_id)
            self._check_version(record, model.__tablename__, expected_version)
            refuse(self._delete_findings(connection, model, self._values(record), record_id))
            session.delete(record)
            session.flush()

    def check_records(self, domains: Mapping[str, Rows]) -> list[Finding]:
        """What :meth:`import_domains` (or :meth:`add_records` for one domain) would find in
        these records, errors and warnings, without storing anything — for a form that shows
        its findings before it is saved. ``row`` of a finding is the record's position."""
        batches = self._batches(domains)
        with self.engine.connect() as connection:
            for batch in batches:
                if batch.model.seq_variable is not None:
                    self._number_seq(connection, batch)
            return self._check_batches(connection, batches)

    # ---- reads -------------------------------------------------------------------------------

    def record(self, domain: str, record_id: int) -> StoredRecord:
        """One record with its ``row_version`` (what an edit form starts from)."""
        model = domain_model(domain)
        with AuditedSession(bind=self.engine) as session:
            record = self._get_record(session, model, record_id)
            return StoredRecord(
                model.domain_code, record.id, record.row_version, self._values(record)
            )

    def records(self, domain: str, *, usubjid: str | None = None) -> pd.DataFrame:
        """The records of ``domain`` as stored: text columns in the recorded column order.

        Columns are those ever supplied for the domain, in first-supplied order (all standard
        variables when none was recorded); values are ``str`` or ``None`` (object dtype). The
        index is the record id (``record_id``), rows in insertion order.
        """
        model = domain_model(domain)
        table: Table = model.__table__  # type: ignore[assignment]
        with self.engine.connect() as connection:
            order = self._column_order(connection, model.domain_code)
            stmt = select(table).order_by(table.c.id)
            if usubjid is not None:
                stmt = stmt.where(table.c.usubjid == usubjid)
            result = connection.execute(stmt)
            keys = list(result.keys())
            rows = result.all()
        columns = order or list(standard_variables(model))
        standard = set(standard_variables(model))
        position = {name: i for i, name in enumerate(keys)}
        extra_at = position["extra"]
        data: dict[str, list[Any]] = {}
        for name in columns:
            if name in standard:
                at = position[name.lower()]
                data[name] = [row[at] for row in rows]
            else:
                data[name] = [(row[extra_at] or {}).get(name) for row in rows]
        frame = pd.DataFrame(data, columns=columns, dtype=object)
        frame.index = pd.Index([row[position["id"]] for row in rows], name="record_id")
        return frame

    # ---- checks ------------------------------------------------------------------------------

    def _batches(self, domains: Mapping[str, Rows]) -> list[_Batch]:
        by_code: dict[str, _Batch] = {}
        for name, rows in domains.items():
            model = domain_model(name)
            if model.domain_code in by_code:
                raise ValueError(f"domain {model.domain_code} given twice")
            columns, rows_text = text_rows(rows)
            by_code[model.domain_code] = _Batch(model, columns, rows_text)
        order = [c for c in DOMAIN_ORDER if c in by_code] + sorted(set(by_code) - set(DOMAIN_ORDER))
        return [by_code[c] for c in order]

    def _check_batches(
        self,
        connection: Connection,
        batches: Sequence[_Batch],
        *,
        exclude: tuple[str, int] | None = None,
    ) -> list[Finding]:
        """:func:`check_study` of the batches against what the store holds, plus the
        date-order rules of stored records of subjects whose reference dates the batches
        change (DM, EX). A subject whose dates the batch leaves as they were is not re-checked:
        its stored records were checked against those very dates by the write that set them
        (a record's or :meth:`update_subject`'s), and the date-order rules read nothing else."""
        domains = {b.code: b.rows for b in batches}
        usubjids = sorted({r.get("USUBJID") or "" for b in batches for r in b.rows} - {""})
        wanted = set(domains) | {"DM", "EX"} | ({"TU"} if "TR" in domains else set())
        context = StudyContext(
            registered=self._registered(connection, usubjids),
            stored={code: self._stored_rows(connection, code, usubjids) for code in wanted},
            domains_present={"TU"}
            if "TR" in domains and self._any_record(connection, "TU")
            else set(),
            exclude_record=exclude,
        )
        findings = check_study(
            domains,
            context=context,
            columns={b.code: b.columns for b in batches},
            settings=self.settings,
            known_subjects=set(connection.scalars(select(Subject.usubjid))),
        )
        if {"DM", "EX"} & set(domains):
            before = subject_dates({}, replace(context, exclude_record=None), usubjids)
            dates = {
                usubjid: after
                for usubjid, after in subject_dates(domains, context, usubjids).items()
                if after != before.get(usubjid)
            }
            findings.extend(self._recheck_existing(connection, dates, exclude=set(domains)))
        return findings

    @staticmethod
    def _registered(connection: Connection, usubjids: Sequence[str]) -> dict[str, SubjectDates]:
        out = {}
        for chunk in _chunks(usubjids):
            for row in connection.execute(
                select(
                    Subject.usubjid,
                    Subject.consent_date,
                    Subject.first_dose_date,
                    Subject.death_date,
                ).where(Subject.usubjid.in_(chunk))
            ):
                out[row[0]] = SubjectDates(row[0], row[1], row[2], row[3])
        return out

    def _stored_rows(
        self, connection: Connection, code: str, usubjids: Sequence[str]
    ) -> list[tuple[int, dict[str, str | None]]]:
        """The stored records of ``code`` of these subjects, as ``(id, values)``."""
        model = DOMAIN_MODELS[code]
        table: Table = model.__table__  # type: ignore[assignment]
        names = standard_variables(model)
        out = []
        for chunk in _chunks(usubjids):
            stmt = select(table).where(table.c.usubjid.in_(chunk)).order_by(table.c.id)
            for row in connection.execute(stmt).mappings():
                values: dict[str, str | None] = {name: row[name.lower()] for name in names}
                values.update(row["extra"] or {})
                out.append((row["id"], values))
        return out

    @staticmethod
    def _any_record(connection: Connection, code: str) -> bool:
        table = DOMAIN_MODELS[code].__table__
        return connection.scalar(select(table.c.id).limit(1)) is not None  # type: ignore[attr-defined]

    def _delete_findings(
        self,
        connection: Connection,
        model: type[SdtmRecord],
        values: Mapping[str, str | None],
        record_id: int,
    ) -> list[Finding]:
        code, usubjid = model.domain_code, values.get("USUBJID") or ""
        if code == "DM":
            others = [
                c
                for c in DOMAIN_MODELS
                if c != "DM" and self._stored_rows(connection, c, [usubjid])
            ]
            if others:
                return [
                    Finding(
                        usubjid,
                        code,
                        "USUBJID",
                        "unknown_subject",
                        f"subject {usubjid} still has {', '.join(others)} records: delete them "
                        "first",
                        record_id=record_id,
                    )
                ]
        if code == "TU":
            lnkid = values.get("TULNKID") or ""
            still = [
                r
                for i, r in self._stored_rows(connection, "TU", [usubjid])
                if i != record_id and (r.get("TULNKID") or "") == lnkid
            ]
            results = [
                r
                for _, r in self._stored_rows(connection, "TR", [usubjid])
                if (r.get("TRLNKID") or "") == lnkid
            ]
            if results and not still:
                return [
                    Finding(
                        usubjid,
                        code,
                        "TULNKID",
                        "lesion_identified",
                        f"lesion {lnkid} has {len(results)} TR result(s): delete them first",
                        record_id=record_id,
                    )
                ]
        return []

    @staticmethod
    def _recheck_existing(
        connection: Connection, dates: Mapping[str, SubjectDates], exclude: Collection[str]
    ) -> list[Finding]:
        """Date-order findings of stored records of subjects whose reference dates changed."""
        if not dates:
            return []
        findings: list[Finding] = []
        for code in sorted(set(AFTER_CONSENT) | set(AFTER_FIRST_DOSE) | set(BEFORE_DEATH)):
            if code in exclude:
                continue
            table = DOMAIN_MODELS[code].__table__
            fields = sorted(
                set(AFTER_CONSENT.get(code, ()))
                | set(AFTER_FIRST_DOSE.get(code, ()))
                | set(BEFORE_DEATH.get(code, ()))
            )
            for chunk in _chunks(list(dates)):
                stmt = select(
                    table.c.id,  # type: ignore[attr-defined]
                    table.c.usubjid,  # type: ignore[attr-defined]
                    *(table.c[f.lower()] for f in fields),  # type: ignore[attr-defined]
                ).where(table.c.usubjid.in_(chunk))  # type: ignore[attr-defined]
                for row in connection.execute(stmt):
                    values = {"USUBJID": row[1], **dict(zip(fields, row[2:], strict=True))}
                    for finding in check_date_order(
                        code, values, dates.get(row[1]), record_id=row[0]
                    ):
                        if finding.field in fields:
                            findings.append(finding)
        return findings

    # ---- internals ---------------------------------------------------------------------------

    @staticmethod
    def _get_record(session: AuditedSession, model: type[SdtmRecord], record_id: int) -> SdtmRecord:
        record = session.get(model, record_id)
        if record is None:
            raise RecordNotFoundError(f"no {model.domain_code} record #{record_id}")
        return record

    @staticmethod
    def _values(record: SdtmRecord) -> dict[str, str | None]:
        values: dict[str, str | None] = {
            name: getattr(record, name.lower()) for name in standard_variables(type(record))
        }
        values.update(record.extra or {})
        return values

    def _create_subjects_from_dm(
        self, session: AuditedSession, connection: Connection, rows: Sequence[TextRow]
    ) -> list[str]:
        """Register the subjects of DM rows not registered yet (and their sites)."""
        have = set(connection.scalars(select(Subject.usubjid)))
        new: dict[str, TextRow] = {}
        for row in rows:
            usubjid = row.get("USUBJID") or ""
            if usubjid and usubjid not in have:
                new.setdefault(usubjid, row)
        if not new:
            return []
        self._ensure_sites(session, [r.get("SITEID") or "" for r in new.values()])
        session.add_all(
            Subject(
                usubjid=usubjid,
                site_code=row.get("SITEID") or None,
                status="died" if row.get("DTHDTC") or row.get("DTHFL") == "Y" else "enrolled",
                consent_date=row.get("RFICDTC") or None,
                first_dose_date=row.get("RFXSTDTC") or None,
                death_date=row.get("DTHDTC") or None,
            )
            for usubjid, row in new.items()
        )
        session.flush()
        return sorted(new)

    @staticmethod
    def _number_seq(connection: Connection, batch: _Batch) -> None:
        """Give rows without ``--SEQ`` the next numbers of their subject (stored and given)."""
        seq = batch.model.seq_variable
        assert seq is not None
        if all(row.get(seq) for row in batch.rows):
            return
        table = batch.model.__table__
        wanted = sorted({row.get("USUBJID") or "" for row in batch.rows})
        stored = []
        for chunk in _chunks(wanted):
            stored += connection.execute(
                select(table.c.usubjid, table.c[seq.lower()]).where(  # type: ignore[attr-defined]
                    table.c.usubjid.in_(chunk)  # type: ignore[attr-defined]
                )
            ).all()
        given = [(row.get("USUBJID") or "", row.get(seq)) for row in batch.rows]
        highest: dict[str, int] = defaultdict(int)
        for usubjid, value in [*stored, *given]:
            try:
                highest[usubjid] = max(highest[usubjid], int(float(value or "")))
            except (ValueError, OverflowError):
                continue
        for row in batch.rows:
            if not row.get(seq):
                usubjid = row.get("USUBJID") or ""
                highest[usubjid] += 1
                row[seq] = str(highest[usubjid])
        if seq not in batch.columns:
            at = batch.columns.index("USUBJID") + 1 if "USUBJID" in batch.columns else 0
            batch.columns.insert(at, seq)

    @staticmethod
    def _column_order(connection: Connection, domain: str) -> list[str]:
        return list(
            connection.scalars(
                select(DatasetColumn.name)
                .where(DatasetColumn.domain == domain)
                .order_by(DatasetColumn.position)
            )
        )

    def _record_columns(self, connection: Connection, domain: str, columns: Sequence[str]) -> None:
        have = self._column_order(connection, domain)
        new = [name for name in columns if name not in set(have)]
        if not new:
            return
        start = connection.scalar(
            select(func.coalesce(func.max(DatasetColumn.position), 0)).where(
                DatasetColumn.domain == domain
            )
        )
        connection.execute(
            insert(DatasetColumn),
            [
                {"domain": domain, "name": name, "position": start + i + 1}
                for i, name in enumerate(new)
            ],
        )

    @staticmethod
    def _insert_records(
        connection: Connection,
        session: AuditedSession,
        batch: _Batch,
        user: str,
        reason: str | None,
        row_reasons: Mapping[int, str],
        progress: Progress,
    ) -> list[int]:
        """Insert the rows in batches (COPY / executemany) with their INSERT audit rows; a row
        accepted by an override is audited with ``row_reasons[position]``."""
        model, rows = batch.model, batch.rows
        table = model.__tablename__
        standard = set(standard_variables(model))
        std_columns = [name for name in batch.columns if name in standard]
        extra_columns = [name for name in batch.columns if name not in standard]
        db_columns = ["id", *(name.lower() for name in std_columns), "extra"]
        txn_id = session_txn_id(session)
        ids: list[int] = []
        for start in range(0, len(rows), BATCH_SIZE):
            chunk = rows[start : start + BATCH_SIZE]
            chunk_ids = reserve_ids(connection, table, len(chunk))
            values: list[tuple[Any, ...]] = []
            entries: dict[str | None, list[AuditEntry]] = defaultdict(list)
            for offset, (record_id, row) in enumerate(zip(chunk_ids, chunk, strict=True)):
                extra = {n: row[n] for n in extra_columns if row.get(n) is not None}
                values.append(
                    (
                        record_id,
                        *(row.get(name) for name in std_columns),
                        json.dumps(extra, ensure_ascii=False) if extra else None,
                    )
                )
                entries[row_reasons.get(start + offset, reason)].append(
                    AuditEntry("INSERT", table, str(record_id), None, None, text_record_json(row))
                )
            bulk_insert(connection, table, db_columns, values)
            for why, group in entries.items():
                append_audit(connection, group, user=user, reason=why, txn_id=txn_id)
            ids.extend(chunk_ids)
            progress(len(ids), len(rows))
        return ids


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), _IN_CHUNK):
        yield values[start : start + _IN_CHUNK]
