"""The repository API of the trial store, called by the web app, the simulator and the CLI.

Every write method runs in one transaction that (1) takes the writers' lock (the audit chain
head; ``BEGIN IMMEDIATE`` on SQLite), (2) runs the edit checks of :mod:`oncotrial.store.checks`
against the data already stored, (3) writes the data and its audit rows. When a check fails, a
rule of the audit trail is broken or the process dies, the transaction rolls back and nothing of
the write remains (ICH E6(R3) data integrity; 21 CFR Part 11 §11.10(e) for the audit trail).

Clinical data goes in and comes out as text, cell by cell: :meth:`Store.add_records` takes a
list of ``{SDTM variable: text}`` dicts or a DataFrame of text columns, :meth:`Store.records`
gives a DataFrame with the same columns in the same order (object dtype, ``None`` for missing,
``""`` kept as ``""``), indexed by record id.
"""

from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, Table, func, insert, select

from oncotrial.store import checks
from oncotrial.store.audit import (
    AuditedSession,
    AuditEntry,
    VerifyReport,
    append_audit,
    lock_chain,
    session_txn_id,
    text_record_json,
    verify_audit,
)
from oncotrial.store.checks import Finding, SubjectDates
from oncotrial.store.engine import bulk_insert, make_engine, reserve_ids, write_engine
from oncotrial.store.errors import (
    ActorRequiredError,
    ConcurrentEditError,
    EditCheckError,
    ReasonRequiredError,
    RecordNotFoundError,
    StoreError,
    UnknownDomainError,
)
from oncotrial.store.models import (
    DOMAIN_MODELS,
    AuditLog,
    Cohort,
    CohortSlot,
    DatasetColumn,
    Demographics,
    EscalationDecision,
    Exposure,
    SdtmRecord,
    Site,
    StudySetting,
    Subject,
    User,
    standard_variables,
)

#: Rows per INSERT statement (and per progress report) in bulk imports.
BATCH_SIZE = 5000
#: Up to this many subjects in a write, checks read only those subjects' stored records.
FEW_SUBJECTS = 500

SUBJECT_STATUSES = (
    "screening",
    "screen_failure",
    "enrolled",
    "on_treatment",
    "follow_up",
    "completed",
    "withdrawn",
    "lost_to_follow_up",
    "died",
)
COHORT_STATUSES = ("open", "full", "closed", "suspended")
ROLES = (
    "investigator",
    "coordinator",
    "data_manager",
    "monitor",
    "statistician",
    "committee",
    "admin",
)

Rows = Sequence[Mapping[str, Any]] | pd.DataFrame
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ImportResult:
    """What :meth:`Store.add_records` stored: record ids (in row order) and non-blocking findings.

    ``overridden`` lists error findings accepted because the import was run with
    ``enforce=False`` (with a reason in the audit trail).
    """

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


@dataclass(frozen=True)
class SubjectInfo:
    """A subject as stored; ``cohort`` is the cohort number."""

    id: int
    usubjid: str
    site: str | None
    status: str
    consent_date: str | None
    first_dose_date: str | None
    dose_level: str | None
    cohort: int | None
    death_date: str | None
    row_version: int


def domain_model(domain: str) -> type[SdtmRecord]:
    """The model of an SDTM domain code (case-insensitive)."""
    try:
        return DOMAIN_MODELS[domain.upper()]
    except KeyError:
        known = ", ".join(DOMAIN_MODELS)
        raise UnknownDomainError(f"domain '{domain}' is not held by the store ({known})") from None


def to_text(value: Any) -> str | None:
    """A cell as SDTM text: text unchanged, missing (None/NaN/NA) as None, numbers as written.

    Integral floats lose their ``.0`` (``10.0`` → ``"10"``, as SAS and R write them); other
    floats use Python's shortest round-trip form. Booleans are refused: SDTM flags are text.
    """
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        raise TypeError(f"{value!r}: SDTM flags are text such as 'Y'/'N', not booleans")
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        number = float(value)
        if math.isnan(number):
            return None
        return str(int(number)) if number.is_integer() else repr(number)
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _column_text(column: pd.Series) -> list[str | None]:
    """A DataFrame column as text cells; text columns without per-cell conversion."""
    if pd.api.types.infer_dtype(column, skipna=True) in ("string", "empty"):
        as_object = column.astype(object)
        return as_object.where(column.notna(), None).tolist()
    return [to_text(value) for value in column.tolist()]


def _text_rows(rows: Rows) -> tuple[list[str], list[dict[str, str | None]]]:
    """Columns (first-seen order) and rows as ``{name: text or None}``."""
    if isinstance(rows, pd.DataFrame):
        columns = [str(name) for name in rows.columns]
        if len(set(columns)) != len(columns):
            raise ValueError(f"duplicate column names in {columns}")
        values = [_column_text(rows.iloc[:, i]) for i in range(len(columns))]
        cells_by_row = zip(*values, strict=True)
        return columns, [dict(zip(columns, cells, strict=True)) for cells in cells_by_row]
    columns: dict[str, None] = {}
    out: list[dict[str, str | None]] = []
    for row in rows:
        text = {str(name): to_text(value) for name, value in row.items()}
        for name in text:
            columns.setdefault(name)
        out.append(text)
    return list(columns), out


def _require_user(user: str) -> None:
    if not user or not str(user).strip():
        raise ActorRequiredError("a change to trial data needs the name of the user making it")


def _require_reason(reason: str | None, what: str) -> None:
    if not reason or not reason.strip():
        raise ReasonRequiredError(f"a reason is required to {what}")


def _refuse(findings: Sequence[Finding]) -> None:
    errors = checks.errors(findings)
    if errors:
        raise EditCheckError(errors)


def _dedupe(findings: Sequence[Finding]) -> list[Finding]:
    seen: set[tuple[Any, ...]] = set()
    out = []
    for finding in findings:
        key = (
            finding.usubjid,
            finding.domain,
            finding.field,
            finding.rule,
            finding.message,
            finding.row,
            finding.record_id,
        )
        if key not in seen:
            seen.add(key)
            out.append(finding)
    return out


class Store:
    """The trial database: audited sessions plus the repository API over them.

    Make one with :func:`oncotrial.store.init_db` (creates/migrates the schema) or
    :meth:`Store.open` (an existing database).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._write_bind = write_engine(engine)
        self._active: tuple[AuditedSession, Connection] | None = None

    @classmethod
    def open(cls, url: str) -> Store:
        """The store of an existing (already migrated) database."""
        return cls(make_engine(url))

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- sessions ----------------------------------------------------------------------------

    def session(self, user: str, reason: str | None = None) -> AuditedSession:
        """An ORM session whose flushes are audited as ``user`` (with ``reason`` for changes).

        Its transactions are write transactions (``BEGIN IMMEDIATE`` on SQLite): keep them
        short. Objects stay readable after commit (``expire_on_commit=False``), so a record read
        in one transaction can be changed in a later one; its ``row_version`` then guards
        against another writer's change in between (:class:`ConcurrentEditError`).
        """
        session = AuditedSession(bind=self._write_bind, expire_on_commit=False)
        session.info.update(user=user, reason=reason)
        return session

    @contextmanager
    def transaction(self, user: str, reason: str | None = None) -> Iterator[Store]:
        """Every write made through the store inside the block is one database transaction:
        all of it is stored, or (on any error) none of it — e.g. a multi-domain SDTM import."""
        _require_user(user)
        if self._active is not None:
            raise RuntimeError("store transactions do not nest")
        with self.session(user, reason) as session:
            connection = session.connection()
            lock_chain(connection)
            self._active = (session, connection)
            try:
                yield self
                session.commit()
            finally:
                self._active = None

    def active_session(self) -> AuditedSession:
        """The ORM session of the open :meth:`transaction`, for a caller that writes its own
        audited objects in the same transaction (the trial application's use cases)."""
        if self._active is None:
            raise RuntimeError("no store transaction is open")
        return self._active[0]

    @contextmanager
    def _write(self, user: str, reason: str | None) -> Iterator[tuple[AuditedSession, Connection]]:
        _require_user(user)
        if self._active is not None:
            session, connection = self._active
            saved = (session.info.get("user"), session.info.get("reason"))
            session.info.update(user=user, reason=reason)
            try:
                yield session, connection
                session.flush()
            finally:
                session.info.update(user=saved[0], reason=saved[1])
            return
        with self.session(user, reason) as session:
            connection = session.connection()
            lock_chain(connection)
            yield session, connection
            session.commit()

    # ---- study settings ----------------------------------------------------------------------

    def set_study_setting(
        self, key: str, value: str | None, user: str, reason: str | None = None
    ) -> None:
        """Set a named value of the study (audited; a change of an existing value needs a
        ``reason``), e.g. ``set_study_setting("data_cut", "2025-06-30", user, reason)``."""
        if not key or not key.strip():
            raise EditCheckError([Finding(None, "STUDY", "key", "required", "setting name needed")])
        with self._write(user, reason) as (session, _):
            setting = session.scalar(select(StudySetting).where(StudySetting.key == key))
            if setting is None:
                session.add(StudySetting(key=key, value=value))
            elif setting.value != value:
                _require_reason(reason, f"change study setting '{key}'")
                setting.value = value

    def study_settings(self) -> dict[str, str | None]:
        """Every study setting by name."""
        with self.engine.connect() as connection:
            rows = connection.execute(select(StudySetting.key, StudySetting.value)).all()
        return {key: value for key, value in rows}

    # ---- sites, users ------------------------------------------------------------------------

    def add_site(
        self, code: str, user: str, *, name: str | None = None, country: str | None = None
    ) -> int:
        """Register a site (``SITEID``); its id."""
        if not code or not code.strip():
            raise EditCheckError([Finding(None, "SITE", "code", "required", "site code needed")])
        with self._write(user, None) as (session, _):
            if session.scalar(select(Site.id).where(Site.code == code)) is not None:
                raise EditCheckError(
                    [Finding(None, "SITE", "code", "duplicate", f"site {code} exists already")]
                )
            site = Site(code=code, name=name, country=country)
            session.add(site)
            session.flush()
            return site.id

    def add_user(self, username: str, role: str, user: str, *, full_name: str | None = None) -> int:
        """Register a user of the system with a role; its id."""
        if role not in ROLES:
            raise EditCheckError(
                [
                    Finding(
                        None,
                        "USER",
                        "role",
                        "controlled_term",
                        f"'{role}' is not a role ({', '.join(ROLES)})",
                    )
                ]
            )
        with self._write(user, None) as (session, _):
            if session.scalar(select(User.id).where(User.username == username)) is not None:
                raise EditCheckError(
                    [
                        Finding(
                            None, "USER", "username", "duplicate", f"user {username} exists already"
                        )
                    ]
                )
            account = User(username=username, role=role, full_name=full_name)
            session.add(account)
            session.flush()
            return account.id

    # ---- subjects ----------------------------------------------------------------------------

    def add_subject(
        self,
        usubjid: str,
        site: str,
        user: str,
        *,
        consent_date: str | None = None,
        first_dose_date: str | None = None,
        dose_level: str | None = None,
        cohort: int | None = None,
        status: str = "screening",
        death_date: str | None = None,
        reason: str | None = None,
    ) -> SubjectInfo:
        """Register a subject at ``site`` (created when new), checked like any entry.

        ``cohort`` (a cohort number) sets the dose level when ``dose_level`` is not given and
        must agree with it when it is (one dose level per cohort).
        """
        values = {
            "usubjid": usubjid,
            "site_code": site,
            "status": status,
            "consent_date": consent_date,
            "first_dose_date": first_dose_date,
            "dose_level": dose_level,
            "death_date": death_date,
        }
        with self._write(user, reason) as (session, connection):
            cohort_row = self._cohort(session, cohort) if cohort is not None else None
            if cohort_row is not None and values["dose_level"] is None:
                values["dose_level"] = cohort_row.dose_level
            findings = self._subject_findings(values, cohort_row)
            if session.scalar(select(Subject.id).where(Subject.usubjid == usubjid)) is not None:
                findings.append(
                    Finding(
                        usubjid,
                        "SUBJECT",
                        "usubjid",
                        "duplicate",
                        f"subject {usubjid} is already registered",
                    )
                )
            _refuse(findings)
            self._ensure_sites(session, [site])
            subject = Subject(**values, cohort_id=cohort_row.id if cohort_row else None)
            session.add(subject)
            session.flush()
            return self._subject_info(session, subject)

    def update_subject(
        self,
        usubjid: str,
        changes: Mapping[str, Any],
        user: str,
        reason: str,
        expected_version: int,
    ) -> SubjectInfo:
        """Change a subject's site, status, dates, dose level or cohort (a reason is required).

        Changed reference dates are checked again against every record of the subject.
        """
        _require_reason(reason, f"change subject {usubjid}")
        allowed = {
            "site",
            "status",
            "consent_date",
            "first_dose_date",
            "dose_level",
            "cohort",
            "death_date",
        }
        unknown = set(changes) - allowed
        if unknown:
            raise ValueError(
                f"cannot change {sorted(unknown)} of a subject; only {sorted(allowed)}"
            )
        with self._write(user, reason) as (session, connection):
            subject = self._get_subject(session, usubjid)
            self._check_version(subject, "subjects", expected_version)
            values = {
                "usubjid": subject.usubjid,
                "site_code": changes.get("site", subject.site_code),
                "status": changes.get("status", subject.status),
                "consent_date": changes.get("consent_date", subject.consent_date),
                "first_dose_date": changes.get("first_dose_date", subject.first_dose_date),
                "dose_level": changes.get("dose_level", subject.dose_level),
                "death_date": changes.get("death_date", subject.death_date),
            }
            cohort_row: Cohort | None = None
            if "cohort" in changes:
                if changes["cohort"] is not None:
                    cohort_row = self._cohort(session, changes["cohort"])
            elif subject.cohort_id is not None:
                cohort_row = session.get(Cohort, subject.cohort_id)
            findings = self._subject_findings(values, cohort_row)
            if checks.errors(findings):
                raise EditCheckError(
                    checks.errors(findings) + self._recheck_proposed(connection, usubjid, values)
                )
            if values["site_code"]:
                self._ensure_sites(session, [values["site_code"]])
            for key, value in values.items():
                setattr(subject, key, value)
            subject.cohort_id = cohort_row.id if cohort_row else None
            session.flush()
            dates = self._subject_dates(connection, [usubjid])
            _refuse(self._recheck_existing(connection, dates))
            return self._subject_info(session, subject)

    def subject(self, usubjid: str) -> SubjectInfo:
        """One subject as stored."""
        with AuditedSession(bind=self.engine) as session:
            return self._subject_info(session, self._get_subject(session, usubjid))

    def subjects(self) -> pd.DataFrame:
        """Every subject, one row each, in registration order."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(
                    Subject.id,
                    Subject.usubjid,
                    Subject.site_code.label("site"),
                    Subject.status,
                    Subject.consent_date,
                    Subject.first_dose_date,
                    Subject.dose_level,
                    Cohort.number.label("cohort"),
                    Subject.death_date,
                    Subject.row_version,
                )
                .outerjoin(Cohort, Cohort.id == Subject.cohort_id)
                .order_by(Subject.id)
            ).all()
        columns = [
            "id",
            "usubjid",
            "site",
            "status",
            "consent_date",
            "first_dose_date",
            "dose_level",
            "cohort",
            "death_date",
            "row_version",
        ]
        return pd.DataFrame([tuple(r) for r in rows], columns=columns, dtype=object)

    # ---- SDTM records ------------------------------------------------------------------------

    def add_records(
        self,
        domain: str,
        rows: Rows,
        user: str,
        reason: str | None = None,
        *,
        enforce: bool = True,
        progress: Progress | None = None,
    ) -> ImportResult:
        """Add SDTM records of ``domain`` in one transaction: all of them, or none.

        ``rows``: dicts or a DataFrame keyed by SDTM variable names; values are stored as text
        (see :func:`to_text`), non-standard variables in ``extra``; the column order is kept for
        :meth:`records`. DM rows register subjects not yet known (and their sites). A missing
        ``--SEQ`` is numbered on from the subject's highest. Every edit check runs first; any
        error refuses the whole batch with :class:`EditCheckError`. ``enforce=False`` stores
        data that fails checks (for legacy data loaded as-is): it needs a ``reason``, and the
        findings come back in ``overridden``. ``progress(done, total)`` is called per batch.
        """
        started = time.perf_counter()
        model = domain_model(domain)
        code = model.domain_code
        columns, text_rows = _text_rows(rows)
        if not enforce:
            _require_reason(reason, "store data that fails edit checks")
        with self._write(user, reason) as (session, connection):
            usubjids = sorted({r["USUBJID"] for r in text_rows if r.get("USUBJID")})
            known = self._known_subjects(connection, usubjids)
            new_subjects = [u for u in usubjids if u not in known] if code == "DM" else []
            seq = model.seq_variable
            if seq is not None and any(not r.get(seq) for r in text_rows):
                self._number_seq(connection, model, text_rows)
                if seq not in columns:
                    columns.insert(columns.index("USUBJID") + 1 if "USUBJID" in columns else 0, seq)
            dates = self._subject_dates(connection, usubjids, code, text_rows)
            findings = checks.check_records(
                code,
                text_rows,
                seq_variable=seq,
                known_subjects=known | set(new_subjects),
                subject_dates=dates,
                existing_keys=self._existing_keys(connection, model, among=usubjids),
            )
            if code == "DM":
                first_row: dict[str, int] = {}
                for index, row in enumerate(text_rows):
                    first_row.setdefault(row.get("USUBJID") or "", index)
                for usubjid, index in first_row.items():
                    if usubjid in dates:
                        findings.extend(
                            replace(finding, row=index)
                            for finding in checks.check_subject_dates(dates[usubjid], form="DM")
                        )
            if code in ("DM", "EX"):
                findings.extend(self._recheck_existing(connection, dates, exclude=code))
            findings = _dedupe(findings)
            errors = checks.errors(findings)
            if errors and (enforce or any(f.rule in checks.STRUCTURAL_RULES for f in errors)):
                raise EditCheckError(
                    errors if enforce else [f for f in errors if f.rule in checks.STRUCTURAL_RULES]
                )
            if new_subjects:
                self._create_subjects_from_dm(
                    session, [r for r in text_rows if r.get("USUBJID") in new_subjects]
                )
            self._record_columns(connection, code, columns)
            ids = self._insert_records(
                connection, session, model, columns, text_rows, user, reason, progress
            )
        return ImportResult(
            domain=code,
            ids=ids,
            created_subjects=new_subjects,
            warnings=[f for f in findings if f.severity == "warning"],
            overridden=errors if not enforce else [],
            seconds=time.perf_counter() - started,
        )

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
        None removes a non-standard variable.
        """
        _require_reason(reason, f"change {domain} record #{record_id}")
        model = domain_model(domain)
        code = model.domain_code
        text_changes = {str(k): to_text(v) for k, v in changes.items()}
        with self._write(user, reason) as (session, connection):
            record = self._get_record(session, model, record_id)
            self._check_version(record, model.__tablename__, expected_version)
            merged = {**self._values(record), **text_changes}
            findings = self._record_findings(connection, model, merged, record_id)
            _refuse(findings)
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
            if code in ("DM", "EX"):
                usubjid = merged.get("USUBJID") or ""
                dates = self._subject_dates(connection, [usubjid])
                _refuse(self._recheck_existing(connection, dates))
            return record.row_version

    def delete_record(
        self, domain: str, record_id: int, user: str, reason: str, expected_version: int
    ) -> None:
        """Delete one record (a reason is required; the audit trail keeps its values)."""
        _require_reason(reason, f"delete {domain} record #{record_id}")
        model = domain_model(domain)
        with self._write(user, reason) as (session, _):
            record = self._get_record(session, model, record_id)
            self._check_version(record, model.__tablename__, expected_version)
            session.delete(record)
            session.flush()

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

    # ---- cohorts and escalation decisions ----------------------------------------------------

    def add_cohort(
        self,
        number: int,
        dose_level: str,
        user: str,
        *,
        slots: int = 3,
        phase: str = "I",
        status: str = "open",
    ) -> int:
        """Open cohort ``number`` at ``dose_level`` with ``slots`` empty slots; its id."""
        if status not in COHORT_STATUSES:
            raise EditCheckError(
                [
                    Finding(
                        None,
                        "COHORT",
                        "status",
                        "controlled_term",
                        f"'{status}' is not one of {COHORT_STATUSES}",
                    )
                ]
            )
        with self._write(user, None) as (session, _):
            if session.scalar(select(Cohort.id).where(Cohort.number == number)) is not None:
                raise EditCheckError(
                    [
                        Finding(
                            None, "COHORT", "number", "duplicate", f"cohort {number} exists already"
                        )
                    ]
                )
            cohort = Cohort(number=number, dose_level=str(dose_level), phase=phase, status=status)
            session.add(cohort)
            session.flush()
            session.add_all(CohortSlot(cohort_id=cohort.id, slot=i + 1) for i in range(slots))
            session.flush()
            return cohort.id

    def assign_slot(
        self,
        cohort: int,
        usubjid: str,
        user: str,
        *,
        slot: int | None = None,
        reason: str | None = None,
    ) -> int:
        """Enrol ``usubjid`` into an open slot of cohort ``cohort`` (the first, or ``slot``).

        The subject takes the cohort's dose level; a subject already at another level, or
        already holding a slot, is refused. Returns the slot number.
        """
        with self._write(user, None) as (session, _):
            cohort_row = self._cohort(session, cohort)
            subject = self._get_subject(session, usubjid)
            findings = checks.check_cohort_dose_level(
                usubjid, subject.dose_level, cohort_row.number, cohort_row.dose_level
            )
            held = session.scalar(select(CohortSlot).where(CohortSlot.usubjid == usubjid))
            if held is not None:
                findings.append(
                    Finding(
                        usubjid,
                        "COHORT",
                        "slot",
                        "duplicate",
                        "subject already holds a cohort slot",
                    )
                )
            if cohort_row.status != "open":
                findings.append(
                    Finding(
                        usubjid,
                        "COHORT",
                        "status",
                        "cohort_open",
                        f"cohort {cohort} is {cohort_row.status}",
                    )
                )
            query = select(CohortSlot).where(
                CohortSlot.cohort_id == cohort_row.id,
                CohortSlot.usubjid.is_(None),
                CohortSlot.status == "open",
            )
            if slot is not None:
                query = query.where(CohortSlot.slot == slot)
            free = session.scalars(query.order_by(CohortSlot.slot)).first()
            if free is None:
                findings.append(
                    Finding(
                        usubjid,
                        "COHORT",
                        "slot",
                        "cohort_open",
                        f"no open slot{f' {slot}' if slot else ''} in cohort {cohort}",
                    )
                )
            _refuse(findings)
            assert free is not None
            session.info["reason"] = reason or f"enrolled into cohort {cohort}, slot {free.slot}"
            free.usubjid, free.status = usubjid, "filled"
            subject.dose_level, subject.cohort_id = cohort_row.dose_level, cohort_row.id
            if subject.status == "screening":
                subject.status = "enrolled"
            session.flush()
            return free.slot

    def set_cohort_status(self, cohort: int, status: str, user: str, reason: str) -> None:
        """Mark a cohort open, full, closed or suspended (a reason is required)."""
        _require_reason(reason, f"change the status of cohort {cohort}")
        if status not in COHORT_STATUSES:
            raise EditCheckError(
                [
                    Finding(
                        None,
                        "COHORT",
                        "status",
                        "controlled_term",
                        f"'{status}' is not one of {COHORT_STATUSES}",
                    )
                ]
            )
        with self._write(user, reason) as (session, _):
            self._cohort(session, cohort).status = status
            session.flush()

    def record_decision(
        self,
        cohort: int | None,
        design: str,
        inputs: Mapping[str, Any],
        output: Mapping[str, Any],
        recommended_dose: str | None,
        user: str,
        *,
        confirmed_by: str | None = None,
        confirmed_at: datetime | None = None,
    ) -> int:
        """Record a dose-escalation decision: the data snapshot it used (``inputs``), the
        design and its full answer (``output``), the recommended dose and, when confirmed, who
        confirmed it and when (UTC; now when not given). Its id."""
        if confirmed_by and confirmed_at is None:
            confirmed_at = datetime.now(UTC)
        with self._write(user, None) as (session, _):
            cohort_id = self._cohort(session, cohort).id if cohort is not None else None
            decision = EscalationDecision(
                cohort_id=cohort_id,
                design=design,
                inputs=dict(inputs),
                output=dict(output),
                recommended_dose=None if recommended_dose is None else str(recommended_dose),
                confirmed_by=confirmed_by,
                confirmed_at=confirmed_at,
                created_by=user,
                created_at=datetime.now(UTC),
            )
            session.add(decision)
            session.flush()
            return decision.id

    def confirm_decision(
        self,
        decision_id: int,
        confirmed_by: str,
        user: str,
        expected_version: int,
        reason: str = "escalation decision confirmed",
    ) -> None:
        """Sign a recorded decision as confirmed by ``confirmed_by`` now (UTC)."""
        with self._write(user, reason) as (session, _):
            decision = session.get(EscalationDecision, decision_id)
            if decision is None:
                raise RecordNotFoundError(f"no escalation decision #{decision_id}")
            self._check_version(decision, "escalation_decisions", expected_version)
            decision.confirmed_by = confirmed_by
            decision.confirmed_at = datetime.now(UTC)
            session.flush()

    def decisions(self) -> list[dict[str, Any]]:
        """Every escalation decision, oldest first, as plain dicts."""
        with AuditedSession(bind=self.engine) as session:
            rows = session.execute(
                select(EscalationDecision, Cohort.number)
                .outerjoin(Cohort, Cohort.id == EscalationDecision.cohort_id)
                .order_by(EscalationDecision.id)
            ).all()
            return [
                {
                    "id": d.id,
                    "cohort": number,
                    "design": d.design,
                    "inputs": d.inputs,
                    "output": d.output,
                    "recommended_dose": d.recommended_dose,
                    "confirmed_by": d.confirmed_by,
                    "confirmed_at": d.confirmed_at,
                    "created_by": d.created_by,
                    "created_at": d.created_at,
                    "row_version": d.row_version,
                }
                for d, number in rows
            ]

    # ---- audit trail -------------------------------------------------------------------------

    def audit_trail(
        self, table: str | None = None, record_id: int | str | None = None
    ) -> pd.DataFrame:
        """Audit rows in sequence order, optionally of one table (and record)."""
        audit: Table = AuditLog.__table__  # type: ignore[assignment]
        conditions = []
        if table is not None:
            name = domain_model(table).__tablename__ if table.upper() in DOMAIN_MODELS else table
            conditions.append(audit.c.table_name == name)
        if record_id is not None:
            conditions.append(audit.c.record_id == str(record_id))
        with self.engine.connect() as connection:
            result = connection.execute(select(audit).where(*conditions).order_by(audit.c.seq))
            columns = list(result.keys())
            rows = result.all()
        return pd.DataFrame([tuple(r) for r in rows], columns=columns, dtype=object)

    def verify_audit(self) -> VerifyReport:
        """Check the audit trail's hash chain (see :func:`oncotrial.store.audit.verify_audit`)."""
        return verify_audit(self.engine)

    # ---- internals ---------------------------------------------------------------------------

    @staticmethod
    def _check_version(obj: Any, table: str, expected_version: int) -> None:
        if obj.row_version != expected_version:
            raise ConcurrentEditError(
                f"{table} #{obj.id} is at version {obj.row_version}, the change was based on "
                f"version {expected_version}: someone else changed it; reload and re-apply",
                table=table,
                record_id=obj.id,
                expected_version=expected_version,
                actual_version=obj.row_version,
            )

    @staticmethod
    def _get_record(session: AuditedSession, model: type[SdtmRecord], record_id: int) -> SdtmRecord:
        record = session.get(model, record_id)
        if record is None:
            raise RecordNotFoundError(f"no {model.domain_code} record #{record_id}")
        return record

    @staticmethod
    def _get_subject(session: AuditedSession, usubjid: str) -> Subject:
        subject = session.scalar(select(Subject).where(Subject.usubjid == usubjid))
        if subject is None:
            raise RecordNotFoundError(f"no subject {usubjid}")
        return subject

    @staticmethod
    def _cohort(session: AuditedSession, number: int) -> Cohort:
        cohort = session.scalar(select(Cohort).where(Cohort.number == number))
        if cohort is None:
            raise RecordNotFoundError(f"no cohort {number}")
        return cohort

    @staticmethod
    def _subject_info(session: AuditedSession, subject: Subject) -> SubjectInfo:
        number = (
            session.scalar(select(Cohort.number).where(Cohort.id == subject.cohort_id))
            if subject.cohort_id is not None
            else None
        )
        return SubjectInfo(
            id=subject.id,
            usubjid=subject.usubjid,
            site=subject.site_code,
            status=subject.status,
            consent_date=subject.consent_date,
            first_dose_date=subject.first_dose_date,
            dose_level=subject.dose_level,
            cohort=number,
            death_date=subject.death_date,
            row_version=subject.row_version,
        )

    @staticmethod
    def _subject_findings(values: Mapping[str, Any], cohort: Cohort | None) -> list[Finding]:
        usubjid = values.get("usubjid")
        findings: list[Finding] = []
        if not usubjid:
            findings.append(Finding(None, "SUBJECT", "usubjid", "required", "USUBJID is required"))
        if not values.get("site_code"):
            findings.append(Finding(usubjid, "SUBJECT", "site", "required", "site is required"))
        if values.get("status") not in SUBJECT_STATUSES:
            findings.append(
                Finding(
                    usubjid,
                    "SUBJECT",
                    "status",
                    "controlled_term",
                    f"'{values.get('status')}' is not a subject status "
                    f"({', '.join(SUBJECT_STATUSES)})",
                )
            )
        for name in ("consent_date", "first_dose_date", "death_date"):
            value = values.get(name)
            if not value:
                continue
            try:
                span = checks.parse_dtc(value)
            except ValueError as exc:
                findings.append(Finding(usubjid, "SUBJECT", name, "date_format", str(exc)))
                continue
            if not span.complete and name != "death_date":
                findings.append(
                    Finding(
                        usubjid,
                        "SUBJECT",
                        name,
                        "date_partial",
                        f"'{value}' is a partial date; {name} needs the day",
                    )
                )
        findings.extend(
            checks.check_subject_dates(
                SubjectDates(
                    usubjid or "",
                    values.get("consent_date"),
                    values.get("first_dose_date"),
                    values.get("death_date"),
                )
            )
        )
        if cohort is not None:
            findings.extend(
                checks.check_cohort_dose_level(
                    usubjid or "", values.get("dose_level"), cohort.number, cohort.dose_level
                )
            )
        return findings

    def _ensure_sites(self, session: AuditedSession, codes: Sequence[str]) -> None:
        wanted = {c for c in codes if c}
        if not wanted:
            return
        have = set(session.scalars(select(Site.code).where(Site.code.in_(wanted))))
        session.add_all(Site(code=code) for code in sorted(wanted - have))
        session.flush()

    def _create_subjects_from_dm(
        self, session: AuditedSession, rows: Sequence[Mapping[str, Any]]
    ) -> None:
        self._ensure_sites(session, [r.get("SITEID") or "" for r in rows])
        session.add_all(
            Subject(
                usubjid=row["USUBJID"],
                site_code=row.get("SITEID") or None,
                status="died" if row.get("DTHDTC") or row.get("DTHFL") == "Y" else "enrolled",
                consent_date=row.get("RFICDTC") or None,
                first_dose_date=row.get("RFXSTDTC") or None,
                death_date=row.get("DTHDTC") or None,
            )
            for row in rows
        )
        session.flush()

    @staticmethod
    def _known_subjects(connection: Connection, among: Sequence[str] | None = None) -> set[str]:
        """Registered subjects (only those ``among`` the given ones, when few are given)."""
        stmt = select(Subject.usubjid)
        if among is not None and len(among) <= FEW_SUBJECTS:
            stmt = stmt.where(Subject.usubjid.in_(list(among)))
        return set(connection.scalars(stmt))

    @staticmethod
    def _existing_keys(
        connection: Connection,
        model: type[SdtmRecord],
        exclude_id: int | None = None,
        among: Sequence[str] | None = None,
    ) -> dict[str, int]:
        """Duplicate keys of stored records (of the subjects ``among``, when few are given:
        a key belongs to one subject, so a form save reads its subject's records only)."""
        table = model.__table__
        seq = model.seq_variable
        columns = [table.c.id, table.c.usubjid]  # type: ignore[attr-defined]
        if seq is not None:
            columns.append(table.c[seq.lower()])  # type: ignore[attr-defined]
        stmt = select(*columns)
        if among is not None and len(among) <= FEW_SUBJECTS:
            stmt = stmt.where(table.c.usubjid.in_(list(among)))  # type: ignore[attr-defined]
        keys: dict[str, int] = {}
        for row in connection.execute(stmt):
            if row[0] == exclude_id:
                continue
            if seq is None:
                keys[row[1]] = row[0]
            elif row[2]:
                keys[f"{row[1]}\x1f{checks.seq_key(row[2])}"] = row[0]
        return keys

    @staticmethod
    def _number_seq(
        connection: Connection, model: type[SdtmRecord], rows: list[dict[str, str | None]]
    ) -> None:
        """Give rows without ``--SEQ`` the next numbers of their subject (stored and given)."""
        seq = model.seq_variable
        assert seq is not None
        table = model.__table__
        stmt = select(table.c.usubjid, table.c[seq.lower()])  # type: ignore[attr-defined]
        wanted = sorted({row.get("USUBJID") or "" for row in rows})
        if len(wanted) <= FEW_SUBJECTS:
            stmt = stmt.where(table.c.usubjid.in_(wanted))  # type: ignore[attr-defined]
        stored = connection.execute(stmt).all()
        given = [(row.get("USUBJID") or "", row.get(seq)) for row in rows]
        highest: dict[str, int] = defaultdict(int)
        for usubjid, value in [*stored, *given]:
            try:
                highest[usubjid] = max(highest[usubjid], int(float(value or "")))
            except (ValueError, OverflowError):
                continue
        for row in rows:
            if not row.get(seq):
                usubjid = row.get("USUBJID") or ""
                highest[usubjid] += 1
                row[seq] = str(highest[usubjid])

    @staticmethod
    def _subject_dates(
        connection: Connection,
        usubjids: Sequence[str],
        domain: str | None = None,
        rows: Sequence[Mapping[str, str | None]] = (),
    ) -> dict[str, SubjectDates]:
        """Reference dates per subject: the subject's own, else DM's, else the first EX start.

        ``rows`` of ``domain`` (DM or EX, being added) count as if stored.
        """
        wanted = set(usubjids)
        if not wanted:
            return {}
        subjects = {
            r.usubjid: r
            for r in connection.execute(
                select(
                    Subject.usubjid,
                    Subject.consent_date,
                    Subject.first_dose_date,
                    Subject.death_date,
                ).where(Subject.usubjid.in_(wanted))
            )
        }
        dm: dict[str, dict[str, str | None]] = {
            r.usubjid: {"RFICDTC": r.rficdtc, "RFXSTDTC": r.rfxstdtc, "DTHDTC": r.dthdtc}
            for r in connection.execute(
                select(
                    Demographics.usubjid,
                    Demographics.rficdtc,
                    Demographics.rfxstdtc,
                    Demographics.dthdtc,
                ).where(Demographics.usubjid.in_(wanted))
            )
        }
        starts: dict[str, list[str]] = defaultdict(list)
        for usubjid, value in connection.execute(
            select(Exposure.usubjid, Exposure.exstdtc).where(Exposure.usubjid.in_(wanted))
        ):
            if value:
                starts[usubjid].append(value)
        for row in rows:
            usubjid = row.get("USUBJID") or ""
            if domain == "DM":
                dm[usubjid] = {k: row.get(k) for k in ("RFICDTC", "RFXSTDTC", "DTHDTC")}
            elif domain == "EX" and row.get("EXSTDTC"):
                starts[usubjid].append(row["EXSTDTC"] or "")

        def first_start(values: list[str]) -> str | None:
            spans = [s for s in (checks.date_span(v) for v in values) if s is not None]
            return min(spans, key=lambda s: s.earliest).text if spans else None

        out: dict[str, SubjectDates] = {}
        for usubjid in wanted:
            subject = subjects.get(usubjid)
            demo = dm.get(usubjid, {})
            out[usubjid] = SubjectDates(
                usubjid,
                consent=(subject.consent_date if subject else None) or demo.get("RFICDTC"),
                first_dose=(subject.first_dose_date if subject else None)
                or demo.get("RFXSTDTC")
                or first_start(starts.get(usubjid, [])),
                death=(subject.death_date if subject else None) or demo.get("DTHDTC"),
            )
        return out

    def _recheck_proposed(
        self, connection: Connection, usubjid: str, values: Mapping[str, Any]
    ) -> list[Finding]:
        """Date-order findings of stored records against a subject's proposed dates."""
        stored = self._subject_dates(connection, [usubjid])[usubjid]
        proposed = SubjectDates(
            usubjid,
            consent=values.get("consent_date") or stored.consent,
            first_dose=values.get("first_dose_date") or stored.first_dose,
            death=values.get("death_date") or stored.death,
        )
        return checks.errors(self._recheck_existing(connection, {usubjid: proposed}))

    @staticmethod
    def _recheck_existing(
        connection: Connection, dates: Mapping[str, SubjectDates], exclude: str | None = None
    ) -> list[Finding]:
        """Date-order findings of stored records of subjects whose reference dates changed."""
        if not dates:
            return []
        findings: list[Finding] = []
        for code in sorted(
            set(checks.AFTER_CONSENT) | set(checks.AFTER_FIRST_DOSE) | set(checks.BEFORE_DEATH)
        ):
            if code == exclude:
                continue
            model = DOMAIN_MODELS[code]
            table = model.__table__
            fields = sorted(
                set(checks.AFTER_CONSENT.get(code, ()))
                | set(checks.AFTER_FIRST_DOSE.get(code, ()))
                | set(checks.BEFORE_DEATH.get(code, ()))
            )
            stmt = select(
                table.c.id,
                table.c.usubjid,  # type: ignore[attr-defined]
                *(table.c[f.lower()] for f in fields),  # type: ignore[attr-defined]
            ).where(table.c.usubjid.in_(list(dates)))  # type: ignore[attr-defined]
            for row in connection.execute(stmt):
                values = {"USUBJID": row[1], **dict(zip(fields, row[2:], strict=True))}
                for finding in checks.check_date_order(
                    code, values, dates.get(row[1]), record_id=row[0]
                ):
                    if finding.field in fields:
                        findings.append(finding)
        return findings

    def _record_findings(
        self,
        connection: Connection,
        model: type[SdtmRecord],
        merged: Mapping[str, str | None],
        record_id: int,
    ) -> list[Finding]:
        code = model.domain_code
        usubjid = merged.get("USUBJID") or ""
        dates = self._subject_dates(connection, [usubjid], code, [merged])
        findings = checks.check_records(
            code,
            [merged],
            seq_variable=model.seq_variable,
            known_subjects=self._known_subjects(connection, [usubjid]),
            subject_dates=dates,
            existing_keys=self._existing_keys(
                connection, model, exclude_id=record_id, among=[usubjid]
            ),
        )
        if code == "DM" and usubjid in dates:
            findings.extend(checks.check_subject_dates(dates[usubjid], form="DM"))
        return [
            Finding(f.usubjid, f.domain, f.field, f.rule, f.message, None, record_id, f.severity)
            for f in _dedupe(findings)
        ]

    @staticmethod
    def _values(record: SdtmRecord) -> dict[str, str | None]:
        values: dict[str, str | None] = {
            name: getattr(record, name.lower()) for name in standard_variables(type(record))
        }
        values.update(record.extra or {})
        return values

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
        model: type[SdtmRecord],
        columns: Sequence[str],
        rows: Sequence[Mapping[str, str | None]],
        user: str,
        reason: str | None,
        progress: Progress | None,
    ) -> list[int]:
        """Insert ``rows`` in batches (COPY / executemany) with their INSERT audit rows."""
        table = model.__tablename__
        standard = set(standard_variables(model))
        std_columns = [name for name in columns if name in standard]
        extra_columns = [name for name in columns if name not in standard]
        db_columns = ["id", *(name.lower() for name in std_columns), "extra"]
        txn_id = session_txn_id(session)
        ids: list[int] = []
        for start in range(0, len(rows), BATCH_SIZE):
            batch = rows[start : start + BATCH_SIZE]
            batch_ids = reserve_ids(connection, table, len(batch))
            values: list[tuple[Any, ...]] = []
            entries: list[AuditEntry] = []
            for record_id, row in zip(batch_ids, batch, strict=True):
                extra = {n: row[n] for n in extra_columns if row.get(n) is not None}
                values.append(
                    (
                        record_id,
                        *(row.get(name) for name in std_columns),
                        json.dumps(extra, ensure_ascii=False) if extra else None,
                    )
                )
                entries.append(
                    AuditEntry(
                        "INSERT",
                        table,
                        str(record_id),
                        None,
                        None,
                        text_record_json(row),
                    )
                )
            bulk_insert(connection, table, db_columns, values)
            append_audit(connection, entries, user=user, reason=reason, txn_id=txn_id)
            ids.extend(batch_ids)
            if progress is not None:
                progress(len(ids), len(rows))
        return ids


__all__ = [
    "BATCH_SIZE",
    "COHORT_STATUSES",
    "ROLES",
    "SUBJECT_STATUSES",
    "ImportResult",
    "StoreError",
    "Store",
    "StoredRecord",
    "SubjectInfo",
    "domain_model",
    "to_text",
]
