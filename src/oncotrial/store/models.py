"""SQLAlchemy models of the trial store: SDTM-shaped clinical domains and the trial's operations.

Clinical data is held in the shape of CDISC SDTM (SDTMIG v3.4 variables of DM, EX, AE, TU, TR,
RS, IS and DS). Every variable is stored as text exactly as given, ISO 8601 dates and numeric
variables included, so an SDTM dataset goes in and comes out cell by cell unchanged. Variables
outside the standard list go into the JSON column ``extra``, and the order of a dataset's
columns is kept in :class:`DatasetColumn`.

Every record carries ``row_version`` (SQLAlchemy ``version_id_col``) for optimistic locking:
an update or delete based on a stale version changes nothing and raises
:class:`~oncotrial.store.errors.ConcurrentEditError`. Models marked :class:`Audited` have every
insert, update and delete written to :class:`AuditLog` in the same transaction
(21 CFR Part 11 §11.10(e)); see :mod:`oncotrial.store.audit`.

Operational records of a phase I/II trial: sites, users, cohorts with their slots, subjects and
the dose-escalation committee's decisions.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

#: Constraint names that are the same on every backend, so migrations can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: Record ids are never reused, even after the newest record is deleted, so that an id in the
#: audit trail names one record for ever (SQLite AUTOINCREMENT; PostgreSQL sequences do so).
NEVER_REUSE_IDS: dict[str, Any] = {"sqlite_autoincrement": True}

#: JSON on SQLite, JSONB on PostgreSQL; Python ``None`` is SQL NULL, not JSON ``null``.
JsonType = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite stores it without an offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"timestamp {value!r} has no time zone; give an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of every table of the store."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        str: Text,
        dict[str, Any]: JsonType,
        dict[str, str]: JsonType,
        datetime: UTCDateTime,
    }


class Audited:
    """Marker of models whose inserts, updates and deletes are written to the audit trail."""

    #: columns whose values the audit trail records as ``<redacted>`` (e.g. password hashes)
    __audit_redact__: ClassVar[frozenset[str]] = frozenset()


class Versioned:
    """``row_version``: incremented on every update; the ORM refuses stale updates and deletes."""

    row_version: Mapped[int] = mapped_column(Integer, server_default="1", sort_order=100)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:  # noqa: N805 (a class-level directive)
        return {"version_id_col": cls.__table__.c.row_version}  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------
# Operational records


class User(Audited, Versioned, Base):
    """A person who signs into the system; ``role`` names what they may do."""

    __tablename__ = "users"
    __table_args__ = (NEVER_REUSE_IDS,)
    __audit_redact__ = frozenset({"password_hash"})

    id: Mapped[int] = mapped_column(primary_key=True, sort_order=-100)
    username: Mapped[str] = mapped_column(unique=True)
    full_name: Mapped[str | None]
    role: Mapped[str] = mapped_column(String(40))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    password_hash: Mapped[str | None]


class Site(Audited, Versioned, Base):
    """A clinical site (centre) of the multi-centre study; ``code`` is SDTM ``SITEID``."""

    __tablename__ = "sites"
    __table_args__ = (NEVER_REUSE_IDS,)

    id: Mapped[int] = mapped_column(primary_key=True, sort_order=-100)
    code: Mapped[str] = mapped_column(unique=True)
    name: Mapped[str | None]
    country: Mapped[str | None]
    status: Mapped[str] = mapped_column(String(20), default="active", server_default="active")


class Cohort(Audited, Versioned, Base):
    """A cohort of the dose escalation (phase I) or the expansion (phase II) at one dose level."""

    __tablename__ = "cohorts"
    __table_args__ = (NEVER_REUSE_IDS,)

    id: Mapped[int] = mapped_column(primary_key=True, sort_order=-100)
    number: Mapped[int] = mapped_column(Integer, unique=True)
    dose_level: Mapped[str] = mapped_column(String(20))
    phase: Mapped[str] = mapped_column(String(10), default="I", server_default="I")
    status: Mapped[str] = mapped_column(String(20), default="open", server_default="open")


class CohortSlot(Audited, Versioned, Base):
    """One place in a cohort; a subject holds at most one slot in the whole study."""

    __tablename__ = "cohort_slots"
    __table_args__ = (UniqueConstraint("cohort_id", "slot"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(primary_key=True, sort_order=-100)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id"), index=True)
    slot: Mapped[int] = mapped_column(Integer)
    usubjid: Mapped[str | None] = mapped_column(ForeignKey("subjects.usubjid"), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="open", server_default="open")


class Subject(Audited, Versioned, Base):
    """A trial subject: the key every SDTM record points to, with the dates edit checks use.

    Dates are ISO 8601 text as in SDTM (``consent_date`` ~ ``RFICDTC``, ``first_dose_date`` ~
    ``RFXSTDTC``, ``death_date`` ~ ``DTHDTC``). ``dose_level`` is the protocol's level label.
    """

    __tablename__ = "subjects"
    __table_args__ = (NEVER_REUSE_IDS,)

    id: Mapped[int] = mapped_column(primary_key=True, sort_order=-100)
    usubjid: Mapped[str] = mapped_column(unique=True)
    site_code: Mapped[str | None] = mapped_column(ForeignKey("sites.code"), index=True)
    status: Mapped[str] = mapped_column(String(30), default="screening", server_default="screening")
    consent_date: Mapped[str | None]
    first_dose_date: Mapped[str | None]
    dose_level: Mapped[str | None] = mapped_column(String(20))
    cohort_id: Mapped[int | None] = mapped_column(ForeignKey("cohorts.id"), index=True)
    death_date: Mapped[str | None]


class EscalationDecision(Audited, Versioned, Base):
    """A dose-escalation decision: the data it used, the design's answer and who confirmed it."""

    __tablename__ = "escalation_decisions"
    __table_args__ = (NEVER_REUSE_IDS,)

    id: Mapped[int] = mapped_column(primary_key=True, sort_order=-100)
    cohort_id: Mapped[int | None] = mapped_column(ForeignKey("cohorts.id"), index=True)
    design: Mapped[str] = mapped_column(String(40))
    inputs: Mapped[dict[str, Any]]
    output: Mapped[dict[str, Any]]
    recommended_dose: Mapped[str | None] = mapped_column(String(40))
    confirmed_by: Mapped[str | None]
    confirmed_at: Mapped[datetime | None]
    created_by: Mapped[str]
    created_at: Mapped[datetime]
    #: the committee's workflow (migration 0004): proposed → final (or superseded)
    phase: Mapped[str] = mapped_column(String(10), default="I", server_default="I")
    status: Mapped[str] = mapped_column(String(20), default="final", server_default="final")
    as_of: Mapped[str | None]
    snapshot_hash: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str | None] = mapped_column(String(20))
    chosen_dose: Mapped[str | None] = mapped_column(String(40))
    choice_reason: Mapped[str | None]
    chosen_by: Mapped[str | None]
    next_cohort_id: Mapped[int | None] = mapped_column(ForeignKey("cohorts.id"))
    review_flag: Mapped[str | None]
    flagged_at: Mapped[datetime | None]


class DecisionSignature(Audited, Versioned, Base):
    """A committee member's e-signature of an escalation decision (21 CFR Part 11 §11.50,
    §11.70, §11.200): who (printed name, role), when (UTC), what it means, and the SHA-256 of
    the decision's content signed."""

    __tablename__ = "decision_signatures"
    __table_args__ = (NEVER_REUSE_IDS,)

    id: Mapped[int] = mapped_column(primary_key=True, sort_order=-100)
    decision_id: Mapped[int] = mapped_column(ForeignKey("escalation_decisions.id"), index=True)
    username: Mapped[str]
    printed_name: Mapped[str]
    role: Mapped[str] = mapped_column(String(40))
    meaning: Mapped[str]
    signed_at: Mapped[datetime]
    content_hash: Mapped[str] = mapped_column(String(64))
    invalidated_at: Mapped[datetime | None]
    invalidated_by: Mapped[str | None]
    invalidation_reason: Mapped[str | None]


class StudySetting(Audited, Versioned, Base):
    """A named value of the study itself, e.g. ``data_cut`` (the trial's own data-cut date)."""

    __tablename__ = "study_settings"
    __table_args__ = (NEVER_REUSE_IDS,)

    id: Mapped[int] = mapped_column(primary_key=True, sort_order=-100)
    key: Mapped[str] = mapped_column(String(80), unique=True)
    value: Mapped[str | None]


# ---------------------------------------------------------------------------------------------
# The trial application (oncotrial.conduct): site staff, data entry, queries, signatures


class UserSite(Audited, Versioned, Base):
    """A site a user works at: site investigators and coordinators see only their sites."""

    __tablename__ = "user_sites"
    __table_args__ = (UniqueConstraint("user_id", "site_code"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(primary_key=True, sort_order=-100)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    site_code: Mapped[str] = mapped_column(ForeignKey("sites.code"))


class AccessEvent(Audited, Base):
    """A security event written to the audit trail: login, failed login, lockout, logout,
    session expiry, role change, export (21 CFR Part 11 §11.10(d), (e))."""

    __tablename__ = "access_events"
    __table_args__ = (NEVER_REUSE_IDS,)

    id: Mapped[int] = mapped_column(primary_key=True, sort_order=-100)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(30))
    username: Mapped[str]
    detail: Mapped[dict[str, Any] | None]


class LoginThrottle(Base):
    """Failed logins of a user name in a row and the lockout they caused (not audited: the
    events themselves are :class:`AccessEvent` rows)."""

    __tablename__ = "login_throttle"

    username: Mapped[str] = mapped_column(primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_failure_at: Mapped[datetime | None]
    locked_until: Mapped[datetime | None]


class WebSession(Base):
    """A signed-in browser or API client: high-churn state kept in the database (so several
    server processes serve one study) and deliberately not audited; logins and logouts are.

    ``token_hash`` is SHA-256 of the cookie's token, so a copy of the table opens no session.
    """

    __tablename__ = "web_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    client: Mapped[str | None]


class FormEntry(Audited, Versioned, Base):
    """One filled-in case report form of a subject: which SDTM records it wrote, its review
    state (entered → complete → verified → locked → signed) and the hash of its content."""

    __tablename__ = "form_entries"
    __table_args__ = (UniqueConstraint("usubjid", "form", "instance"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(primary_key=True, sort_order=-100)
    usubjid: Mapped[str] = mapped_column(ForeignKey("subjects.usubjid"), index=True)
    form: Mapped[str] = mapped_column(String(20))
    instance: Mapped[str] = mapped_column(String(40))
    records: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(20))
    content_hash: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str]
    created_at: Mapped[datetime]
    updated_by: Mapped[str]
    updated_at: Mapped[datetime]


class DataQuery(Audited, Versioned, Base):
    """A query on one field of a form: open → answered → closed (or re-opened)."""

    __tablename__ = "data_queries"
    __table_args__ = (NEVER_REUSE_IDS,)

    id: Mapped[int] = mapped_column(primary_key=True, sort_order=-100)
    form_entry_id: Mapped[int] = mapped_column(ForeignKey("form_entries.id"), index=True)
    usubjid: Mapped[str] = mapped_column(ForeignKey("subjects.usubjid"), index=True)
    field: Mapped[str] = mapped_column(String(40))
    rule: Mapped[str | None] = mapped_column(String(40))
    origin: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10))
    message: Mapped[str]
    answer: Mapped[str | None]
    resolution: Mapped[str | None]
    opened_by: Mapped[str]
    opened_at: Mapped[datetime]
    answered_by: Mapped[str | None]
    answered_at: Mapped[datetime | None]
    closed_by: Mapped[str | None]
    closed_at: Mapped[datetime | None]


class Signature(Audited, Versioned, Base):
    """An electronic signature of a form (21 CFR Part 11 §11.50, §11.70, §11.200): who
    (printed name), when (UTC), what it means, and the SHA-256 of the content signed."""

    __tablename__ = "signatures"
    __table_args__ = (NEVER_REUSE_IDS,)

    id: Mapped[int] = mapped_column(primary_key=True, sort_order=-100)
    form_entry_id: Mapped[int] = mapped_column(ForeignKey("form_entries.id"), index=True)
    usubjid: Mapped[str] = mapped_column(ForeignKey("subjects.usubjid"), index=True)
    username: Mapped[str]
    printed_name: Mapped[str]
    meaning: Mapped[str]
    signed_at: Mapped[datetime]
    content_hash: Mapped[str] = mapped_column(String(64))
    invalidated_at: Mapped[datetime | None]
    invalidated_by: Mapped[str | None]
    invalidation_reason: Mapped[str | None]


# ---------------------------------------------------------------------------------------------
# Metadata and the audit trail (not audited themselves)


class DatasetColumn(Base):
    """The order of a domain's columns as first supplied (standard and non-standard variables)."""

    __tablename__ = "dataset_columns"
    __table_args__ = (UniqueConstraint("domain", "position"),)

    domain: Mapped[str] = mapped_column(String(8), primary_key=True)
    name: Mapped[str] = mapped_column(primary_key=True)
    position: Mapped[int] = mapped_column(Integer)


class AuditLog(Base):
    """The audit trail (21 CFR Part 11 §11.10(e)): append-only, hash-chained.

    One row per changed field for updates; one row per record for inserts and deletes, the whole
    record as compact JSON in ``new_value`` (insert) or ``old_value`` (delete) with ``field``
    NULL. Database triggers refuse UPDATE and DELETE; ``hash`` = SHA-256(``prev_hash`` ‖
    canonical serialisation of the row), so any later alteration or removal is detectable by
    :func:`oncotrial.store.audit.verify_audit`.
    """

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_table_record", "table_name", "record_id"),)

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    txn_id: Mapped[str] = mapped_column(String(36))
    changed_at: Mapped[str] = mapped_column(String(40))
    user_name: Mapped[str]
    action: Mapped[str] = mapped_column(String(6))
    table_name: Mapped[str] = mapped_column(String(64))
    record_id: Mapped[str]
    field: Mapped[str | None]
    old_value: Mapped[str | None]
    new_value: Mapped[str | None]
    reason: Mapped[str | None]
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditChainHead(Base):
    """The last sequence number and hash of the audit chain (one row, id 1).

    Writers lock this row (``SELECT … FOR UPDATE`` on PostgreSQL; ``BEGIN IMMEDIATE`` on SQLite)
    so that concurrent transactions append to the chain one after another; it also lets
    :func:`~oncotrial.store.audit.verify_audit` notice rows removed from the end of the chain.
    """

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    last_hash: Mapped[str] = mapped_column(String(64))


# ---------------------------------------------------------------------------------------------
# SDTM domains


class SdtmRecord(Audited, Versioned):
    """Columns every SDTM domain table has besides its variables: id, ``extra``, ``row_version``.

    ``extra`` holds non-standard variables as ``{name: text}``; ``domain_code`` and
    ``seq_variable`` say which domain the model is and which variable numbers its records.
    """

    domain_code: ClassVar[str]
    seq_variable: ClassVar[str | None]

    id: Mapped[int] = mapped_column(primary_key=True, sort_order=-100)
    extra: Mapped[dict[str, str] | None] = mapped_column(sort_order=99)


class Demographics(SdtmRecord, Base):
    """SDTM DM (Demographics): one row per record, every variable as text."""

    __tablename__ = "sdtm_dm"
    __table_args__ = (UniqueConstraint("usubjid"), NEVER_REUSE_IDS)
    domain_code: ClassVar[str] = "DM"
    seq_variable: ClassVar[str | None] = None

    studyid: Mapped[str | None]
    domain: Mapped[str | None]
    usubjid: Mapped[str] = mapped_column(ForeignKey("subjects.usubjid"))
    subjid: Mapped[str | None]
    rfstdtc: Mapped[str | None]
    rfendtc: Mapped[str | None]
    rfxstdtc: Mapped[str | None]
    rfxendtc: Mapped[str | None]
    rficdtc: Mapped[str | None]
    rfpendtc: Mapped[str | None]
    dthdtc: Mapped[str | None]
    dthfl: Mapped[str | None]
    siteid: Mapped[str | None]
    invid: Mapped[str | None]
    invnam: Mapped[str | None]
    brthdtc: Mapped[str | None]
    age: Mapped[str | None]
    ageu: Mapped[str | None]
    sex: Mapped[str | None]
    race: Mapped[str | None]
    ethnic: Mapped[str | None]
    armcd: Mapped[str | None]
    arm: Mapped[str | None]
    actarmcd: Mapped[str | None]
    actarm: Mapped[str | None]
    armnrs: Mapped[str | None]
    actarmud: Mapped[str | None]
    country: Mapped[str | None]
    dmdtc: Mapped[str | None]
    dmdy: Mapped[str | None]


class Exposure(SdtmRecord, Base):
    """SDTM EX (Exposure): one row per record, every variable as text."""

    __tablename__ = "sdtm_ex"
    __table_args__ = (UniqueConstraint("usubjid", "exseq"), NEVER_REUSE_IDS)
    domain_code: ClassVar[str] = "EX"
    seq_variable: ClassVar[str | None] = "EXSEQ"

    studyid: Mapped[str | None]
    domain: Mapped[str | None]
    usubjid: Mapped[str] = mapped_column(ForeignKey("subjects.usubjid"))
    exseq: Mapped[str | None]
    exgrpid: Mapped[str | None]
    exrefid: Mapped[str | None]
    exspid: Mapped[str | None]
    exlnkid: Mapped[str | None]
    exlnkgrp: Mapped[str | None]
    extrt: Mapped[str | None]
    excat: Mapped[str | None]
    exscat: Mapped[str | None]
    exdose: Mapped[str | None]
    exdostxt: Mapped[str | None]
    exdosu: Mapped[str | None]
    exdosfrm: Mapped[str | None]
    exdosfrq: Mapped[str | None]
    exdosrgm: Mapped[str | None]
    exroute: Mapped[str | None]
    exlot: Mapped[str | None]
    exloc: Mapped[str | None]
    exlat: Mapped[str | None]
    exdir: Mapped[str | None]
    exfast: Mapped[str | None]
    exadj: Mapped[str | None]
    epoch: Mapped[str | None]
    visitnum: Mapped[str | None]
    visit: Mapped[str | None]
    visitdy: Mapped[str | None]
    taetord: Mapped[str | None]
    exstdtc: Mapped[str | None]
    exendtc: Mapped[str | None]
    exstdy: Mapped[str | None]
    exendy: Mapped[str | None]
    exdur: Mapped[str | None]
    extpt: Mapped[str | None]
    extptnum: Mapped[str | None]
    exeltm: Mapped[str | None]
    extptref: Mapped[str | None]
    exrftdtc: Mapped[str | None]


class AdverseEvent(SdtmRecord, Base):
    """SDTM AE (Adverse Events): one row per record, every variable as text."""

    __tablename__ = "sdtm_ae"
    __table_args__ = (UniqueConstraint("usubjid", "aeseq"), NEVER_REUSE_IDS)
    domain_code: ClassVar[str] = "AE"
    seq_variable: ClassVar[str | None] = "AESEQ"

    studyid: Mapped[str | None]
    domain: Mapped[str | None]
    usubjid: Mapped[str] = mapped_column(ForeignKey("subjects.usubjid"))
    aeseq: Mapped[str | None]
    aegrpid: Mapped[str | None]
    aerefid: Mapped[str | None]
    aespid: Mapped[str | None]
    aeterm: Mapped[str | None]
    aemodify: Mapped[str | None]
    aellt: Mapped[str | None]
    aelltcd: Mapped[str | None]
    aedecod: Mapped[str | None]
    aeptcd: Mapped[str | None]
    aehlt: Mapped[str | None]
    aehltcd: Mapped[str | None]
    aehlgt: Mapped[str | None]
    aehlgtcd: Mapped[str | None]
    aecat: Mapped[str | None]
    aescat: Mapped[str | None]
    aepresp: Mapped[str | None]
    aebodsys: Mapped[str | None]
    aebdsycd: Mapped[str | None]
    aesoc: Mapped[str | None]
    aesoccd: Mapped[str | None]
    aeloc: Mapped[str | None]
    aesev: Mapped[str | None]
    aeser: Mapped[str | None]
    aeacn: Mapped[str | None]
    aeacnoth: Mapped[str | None]
    aerel: Mapped[str | None]
    aerelnst: Mapped[str | None]
    aepatt: Mapped[str | None]
    aeout: Mapped[str | None]
    aescan: Mapped[str | None]
    aescong: Mapped[str | None]
    aesdisab: Mapped[str | None]
    aesdth: Mapped[str | None]
    aeshosp: Mapped[str | None]
    aeslife: Mapped[str | None]
    aesod: Mapped[str | None]
    aesmie: Mapped[str | None]
    aecontrt: Mapped[str | None]
    aetoxgr: Mapped[str | None]
    epoch: Mapped[str | None]
    aedtc: Mapped[str | None]
    aestdtc: Mapped[str | None]
    aeendtc: Mapped[str | None]
    aedy: Mapped[str | None]
    aestdy: Mapped[str | None]
    aeendy: Mapped[str | None]
    aedur: Mapped[str | None]
    aeenrf: Mapped[str | None]
    aeenrtpt: Mapped[str | None]
    aeentpt: Mapped[str | None]


class TumorIdentification(SdtmRecord, Base):
    """SDTM TU (Tumor/Lesion Identification): one row per record, every variable as text."""

    __tablename__ = "sdtm_tu"
    __table_args__ = (UniqueConstraint("usubjid", "tuseq"), NEVER_REUSE_IDS)
    domain_code: ClassVar[str] = "TU"
    seq_variable: ClassVar[str | None] = "TUSEQ"

    studyid: Mapped[str | None]
    domain: Mapped[str | None]
    usubjid: Mapped[str] = mapped_column(ForeignKey("subjects.usubjid"))
    tuseq: Mapped[str | None]
    tugrpid: Mapped[str | None]
    turefid: Mapped[str | None]
    tuspid: Mapped[str | None]
    tulnkid: Mapped[str | None]
    tulnkgrp: Mapped[str | None]
    tutestcd: Mapped[str | None]
    tutest: Mapped[str | None]
    tuorres: Mapped[str | None]
    tustresc: Mapped[str | None]
    tunam: Mapped[str | None]
    tuloc: Mapped[str | None]
    tulat: Mapped[str | None]
    tudir: Mapped[str | None]
    tuportot: Mapped[str | None]
    tumethod: Mapped[str | None]
    tulobxfl: Mapped[str | None]
    tublfl: Mapped[str | None]
    tueval: Mapped[str | None]
    tuevalid: Mapped[str | None]
    tuacptfl: Mapped[str | None]
    visitnum: Mapped[str | None]
    visit: Mapped[str | None]
    visitdy: Mapped[str | None]
    taetord: Mapped[str | None]
    epoch: Mapped[str | None]
    tudtc: Mapped[str | None]
    tudy: Mapped[str | None]


class TumorResult(SdtmRecord, Base):
    """SDTM TR (Tumor/Lesion Results): one row per record, every variable as text."""

    __tablename__ = "sdtm_tr"
    __table_args__ = (UniqueConstraint("usubjid", "trseq"), NEVER_REUSE_IDS)
    domain_code: ClassVar[str] = "TR"
    seq_variable: ClassVar[str | None] = "TRSEQ"

    studyid: Mapped[str | None]
    domain: Mapped[str | None]
    usubjid: Mapped[str] = mapped_column(ForeignKey("subjects.usubjid"))
    trseq: Mapped[str | None]
    trgrpid: Mapped[str | None]
    trrefid: Mapped[str | None]
    trspid: Mapped[str | None]
    trlnkid: Mapped[str | None]
    trlnkgrp: Mapped[str | None]
    trtestcd: Mapped[str | None]
    trtest: Mapped[str | None]
    trorres: Mapped[str | None]
    trorresu: Mapped[str | None]
    trstresc: Mapped[str | None]
    trstresn: Mapped[str | None]
    trstresu: Mapped[str | None]
    trstat: Mapped[str | None]
    trreasnd: Mapped[str | None]
    trnam: Mapped[str | None]
    trmethod: Mapped[str | None]
    trlobxfl: Mapped[str | None]
    trblfl: Mapped[str | None]
    treval: Mapped[str | None]
    trevalid: Mapped[str | None]
    tracptfl: Mapped[str | None]
    visitnum: Mapped[str | None]
    visit: Mapped[str | None]
    visitdy: Mapped[str | None]
    taetord: Mapped[str | None]
    epoch: Mapped[str | None]
    trdtc: Mapped[str | None]
    trdy: Mapped[str | None]


class DiseaseResponse(SdtmRecord, Base):
    """SDTM RS (Disease Response and Clin Classification): one row per record, as text."""

    __tablename__ = "sdtm_rs"
    __table_args__ = (UniqueConstraint("usubjid", "rsseq"), NEVER_REUSE_IDS)
    domain_code: ClassVar[str] = "RS"
    seq_variable: ClassVar[str | None] = "RSSEQ"

    studyid: Mapped[str | None]
    domain: Mapped[str | None]
    usubjid: Mapped[str] = mapped_column(ForeignKey("subjects.usubjid"))
    rsseq: Mapped[str | None]
    rsgrpid: Mapped[str | None]
    rsrefid: Mapped[str | None]
    rsspid: Mapped[str | None]
    rslnkid: Mapped[str | None]
    rslnkgrp: Mapped[str | None]
    rstestcd: Mapped[str | None]
    rstest: Mapped[str | None]
    rscat: Mapped[str | None]
    rsscat: Mapped[str | None]
    rsorres: Mapped[str | None]
    rsorresu: Mapped[str | None]
    rsstresc: Mapped[str | None]
    rsstresn: Mapped[str | None]
    rsstresu: Mapped[str | None]
    rsstat: Mapped[str | None]
    rsreasnd: Mapped[str | None]
    rsnam: Mapped[str | None]
    rsmethod: Mapped[str | None]
    rslobxfl: Mapped[str | None]
    rsblfl: Mapped[str | None]
    rsdrvfl: Mapped[str | None]
    rseval: Mapped[str | None]
    rsevalid: Mapped[str | None]
    rsacptfl: Mapped[str | None]
    visitnum: Mapped[str | None]
    visit: Mapped[str | None]
    visitdy: Mapped[str | None]
    taetord: Mapped[str | None]
    epoch: Mapped[str | None]
    rsdtc: Mapped[str | None]
    rsdy: Mapped[str | None]


class Immunogenicity(SdtmRecord, Base):
    """SDTM IS (Immunogenicity Specimen Assessments): one row per record, every variable as text."""

    __tablename__ = "sdtm_is"
    __table_args__ = (UniqueConstraint("usubjid", "isseq"), NEVER_REUSE_IDS)
    domain_code: ClassVar[str] = "IS"
    seq_variable: ClassVar[str | None] = "ISSEQ"

    studyid: Mapped[str | None]
    domain: Mapped[str | None]
    usubjid: Mapped[str] = mapped_column(ForeignKey("subjects.usubjid"))
    isseq: Mapped[str | None]
    isgrpid: Mapped[str | None]
    isrefid: Mapped[str | None]
    isspid: Mapped[str | None]
    islnkid: Mapped[str | None]
    islnkgrp: Mapped[str | None]
    istestcd: Mapped[str | None]
    istest: Mapped[str | None]
    isbdagnt: Mapped[str | None]
    iscat: Mapped[str | None]
    isscat: Mapped[str | None]
    isorres: Mapped[str | None]
    isorresu: Mapped[str | None]
    isstresc: Mapped[str | None]
    isstresn: Mapped[str | None]
    isstresu: Mapped[str | None]
    isstat: Mapped[str | None]
    isreasnd: Mapped[str | None]
    isnam: Mapped[str | None]
    isspec: Mapped[str | None]
    ismethod: Mapped[str | None]
    islobxfl: Mapped[str | None]
    isblfl: Mapped[str | None]
    islloq: Mapped[str | None]
    isuloq: Mapped[str | None]
    visitnum: Mapped[str | None]
    visit: Mapped[str | None]
    visitdy: Mapped[str | None]
    taetord: Mapped[str | None]
    epoch: Mapped[str | None]
    isdtc: Mapped[str | None]
    isdy: Mapped[str | None]
    istpt: Mapped[str | None]
    istptnum: Mapped[str | None]
    iseltm: Mapped[str | None]
    istptref: Mapped[str | None]
    isrftdtc: Mapped[str | None]


class Disposition(SdtmRecord, Base):
    """SDTM DS (Disposition): one row per record, every variable as text."""

    __tablename__ = "sdtm_ds"
    __table_args__ = (UniqueConstraint("usubjid", "dsseq"), NEVER_REUSE_IDS)
    domain_code: ClassVar[str] = "DS"
    seq_variable: ClassVar[str | None] = "DSSEQ"

    studyid: Mapped[str | None]
    domain: Mapped[str | None]
    usubjid: Mapped[str] = mapped_column(ForeignKey("subjects.usubjid"))
    dsseq: Mapped[str | None]
    dsgrpid: Mapped[str | None]
    dsrefid: Mapped[str | None]
    dsspid: Mapped[str | None]
    dsterm: Mapped[str | None]
    dsdecod: Mapped[str | None]
    dscat: Mapped[str | None]
    dsscat: Mapped[str | None]
    epoch: Mapped[str | None]
    visitnum: Mapped[str | None]
    visit: Mapped[str | None]
    dsdtc: Mapped[str | None]
    dsstdtc: Mapped[str | None]
    dsstdy: Mapped[str | None]


class InclusionExclusion(SdtmRecord, Base):
    """SDTM IE (Inclusion/Exclusion Criteria Not Met): one row per criterion a subject did
    not meet, every variable as text."""

    __tablename__ = "sdtm_ie"
    __table_args__ = (UniqueConstraint("usubjid", "ieseq"), NEVER_REUSE_IDS)
    domain_code: ClassVar[str] = "IE"
    seq_variable: ClassVar[str | None] = "IESEQ"

    studyid: Mapped[str | None]
    domain: Mapped[str | None]
    usubjid: Mapped[str] = mapped_column(ForeignKey("subjects.usubjid"))
    ieseq: Mapped[str | None]
    iespid: Mapped[str | None]
    ietestcd: Mapped[str | None]
    ietest: Mapped[str | None]
    iecat: Mapped[str | None]
    iescat: Mapped[str | None]
    ieorres: Mapped[str | None]
    iestresc: Mapped[str | None]
    visitnum: Mapped[str | None]
    visit: Mapped[str | None]
    visitdy: Mapped[str | None]
    taetord: Mapped[str | None]
    epoch: Mapped[str | None]
    iedtc: Mapped[str | None]
    iedy: Mapped[str | None]


#: The SDTM domains the store holds, by domain code.
DOMAIN_MODELS: dict[str, type[SdtmRecord]] = {
    model.domain_code: model
    for model in (
        Demographics,
        Exposure,
        AdverseEvent,
        TumorIdentification,
        TumorResult,
        DiseaseResponse,
        Immunogenicity,
        Disposition,
        InclusionExclusion,
    )
}

#: Columns of a domain table that are not SDTM variables.
META_COLUMNS = frozenset({"id", "extra", "row_version"})


def standard_variables(model: type[SdtmRecord]) -> tuple[str, ...]:
    """The SDTM variables of a domain model (upper case), in SDTMIG order."""
    table = model.__table__  # type: ignore[attr-defined]
    return tuple(c.name.upper() for c in table.columns if c.name not in META_COLUMNS)
