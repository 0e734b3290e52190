"""The repository API of the trial store, called by the web app, the simulator and the CLI.

Every write method runs in one transaction that (1) takes the writers' lock (the audit chain
head; ``BEGIN IMMEDIATE`` on SQLite), (2) runs the edit checks (:mod:`oncotrial.store.checks`,
the rules of :mod:`oncotrial.cdisc` that ``derive`` runs too) against the data already stored,
(3) writes the data and its audit rows. When a check fails, a rule of the audit trail is broken
or the process dies, the transaction rolls back and nothing of the write remains (ICH E6(R3)
data integrity; 21 CFR Part 11 §11.10(e) for the audit trail).

SDTM records are read and written through the methods of
:class:`~oncotrial.store.records.RecordsMixin` (``add_records``, ``import_domains``,
``update_record``, ``delete_record``, ``record``, ``records``); subjects, sites, users,
cohorts, escalation decisions, study settings and the audit trail through those here.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, Table, make_url, select
from sqlalchemy.exc import OperationalError

from oncotrial.cdisc.checks import DEFAULT_SETTINGS, CheckSettings, SubjectDates
from oncotrial.cdisc.errors import errors_of
from oncotrial.cdisc.study import StudyContext, subject_dates
from oncotrial.store import checks
from oncotrial.store.audit import AuditedSession, VerifyReport, lock_chain, verify_audit
from oncotrial.store.chain import AuditHead, audit_head
from oncotrial.store.checks import SUBJECT_STATUSES, Finding
from oncotrial.store.engine import make_engine, write_engine
from oncotrial.store.errors import (
    ConcurrentEditError,
    EditCheckError,
    NotATrialDatabaseError,
    RecordNotFoundError,
    StoreError,
    refuse,
    require_reason,
    require_user,
)
from oncotrial.store.models import (
    DOMAIN_MODELS,
    AuditLog,
    Cohort,
    CohortSlot,
    EscalationDecision,
    Site,
    StudySetting,
    Subject,
    User,
)
from oncotrial.store.records import (
    BATCH_SIZE,
    ImportResult,
    RecordsMixin,
    StoredRecord,
    domain_model,
    to_text,
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

#: What to run when a database is missing or was never initialised.
INIT_HINT = "run `oncotrial db init`"


def _check_sqlite_store(path: Path) -> None:
    """:class:`NotATrialDatabaseError` unless ``path`` is a SQLite file holding a migrated trial
    store; read only, so a wrong file is left exactly as it was."""
    problem = None
    if not path.is_file():
        problem = "no such file"
    else:
        try:
            with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
                tables = {r[0] for r in connection.execute("SELECT name FROM sqlite_master")}
                if "alembic_version" not in tables:
                    problem = "it holds no trial store"
        except sqlite3.DatabaseError as exc:
            problem = str(exc)
    if problem is not None:
        raise NotATrialDatabaseError(f"{path}: not a trial database ({problem}); {INIT_HINT}")


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


class Store(RecordsMixin):
    """The trial database: audited sessions plus the repository API over them.

    Make one with :func:`oncotrial.store.init_db` (creates/migrates the schema) or
    :meth:`Store.open` (an existing database). ``settings`` are the edit checks' settings
    (plausible ranges: the protocol's, or the documented defaults).
    """

    def __init__(self, engine: Engine, *, settings: CheckSettings = DEFAULT_SETTINGS) -> None:
        self.engine = engine
        self.settings = settings
        self._write_bind = write_engine(engine)
        self._active: tuple[AuditedSession, Connection] | None = None

    @classmethod
    def open(cls, url: str, *, settings: CheckSettings = DEFAULT_SETTINGS) -> Store:
        """The store of an existing, initialised database; :class:`NotATrialDatabaseError`
        ("not a trial database; run `oncotrial db init`") when the SQLite file does not exist
        (none is created) or the database holds no trial store."""
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            _check_sqlite_store(Path(parsed.database or ""))
            return cls(make_engine(parsed), settings=settings)
        shown = parsed.render_as_string(hide_password=True)
        store = cls(make_engine(parsed), settings=settings)
        try:
            from oncotrial.store.migrate import current_revision

            revision = current_revision(store.engine)
        except OperationalError as exc:
            store.close()
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise NotATrialDatabaseError(
                f"{shown}: cannot open the database ({reason}); not a trial database? {INIT_HINT}"
            ) from None
        if revision is None:
            store.close()
            raise NotATrialDatabaseError(f"{shown}: not a trial database; {INIT_HINT}")
        return store

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
        require_user(user)
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
        require_user(user)
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
                require_reason(reason, f"change study setting '{key}'")
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
            refuse(findings)
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

        Changed reference dates are checked again against every record of the subject (a change
        leaving them as they were re-checks nothing: the records were checked against them).
        """
        require_reason(reason, f"change subject {usubjid}")
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
            if errors_of(findings):
                raise EditCheckError(
                    errors_of(findings) + self._recheck_proposed(connection, usubjid, values)
                )
            if values["site_code"]:
                self._ensure_sites(session, [values["site_code"]])
            dates_changed = any(
                values[key] != getattr(subject, key)
                for key in ("consent_date", "first_dose_date", "death_date")
            )
            for key, value in values.items():
                setattr(subject, key, value)
            subject.cohort_id = cohort_row.id if cohort_row else None
            session.flush()
            if dates_changed:  # the date-order rules read only the reference dates
                dates = {usubjid: self._subject_dates(connection, usubjid)}
                refuse(self._recheck_existing(connection, dates, exclude=()))
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
            refuse(findings)
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
        require_reason(reason, f"change the status of cohort {cohort}")
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
                    "phase": d.phase,
                    "status": d.status,
                    "as_of": d.as_of,
                    "snapshot_hash": d.snapshot_hash,
                    "action": d.action,
                    "chosen_dose": d.chosen_dose,
                    "review_flag": d.review_flag,
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

    # ---- internals -------------------------------------------------------------------------------

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

    def _ensure_sites(self, session: AuditedSession, codes: Sequence[str]) -> None:
        wanted = {c for c in codes if c}
        if not wanted:
            return
        have = set(session.scalars(select(Site.code).where(Site.code.in_(wanted))))
        session.add_all(Site(code=code) for code in sorted(wanted - have))
        session.flush()

    @staticmethod
    def _subject_findings(values: Mapping[str, Any], cohort: Cohort | None) -> list[Finding]:
        findings = checks.check_subject(values)
        if cohort is not None:
            findings.extend(
                checks.check_cohort_dose_level(
                    values.get("usubjid") or "",
                    values.get("dose_level"),
                    cohort.number,
                    cohort.dose_level,
                )
            )
        return findings

    def _recheck_proposed(
        self, connection: Connection, usubjid: str, values: Mapping[str, Any]
    ) -> list[Finding]:
        """Date-order findings of stored records against a subject's proposed dates."""
        stored = self._subject_dates(connection, usubjid)
        proposed = SubjectDates(
            usubjid,
            consent=values.get("consent_date") or stored.consent,
            first_dose=values.get("first_dose_date") or stored.first_dose,
            death=values.get("death_date") or stored.death,
        )
        return errors_of(self._recheck_existing(connection, {usubjid: proposed}, exclude=()))

    def _subject_dates(self, connection: Connection, usubjid: str) -> SubjectDates:
        """A subject's reference dates as the checks read them (register, DM, first EX)."""
        context = StudyContext(
            registered=self._registered(connection, [usubjid]),
            stored={c: self._stored_rows(connection, c, [usubjid]) for c in ("DM", "EX")},
        )
        return subject_dates({}, context, [usubjid])[usubjid]

    def audit_head(self) -> AuditHead:
        """The head of the audit chain now (sequence, hash): what a report was built from.
        See :func:`oncotrial.store.chain.audit_head`."""
        return audit_head(self.engine)


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
