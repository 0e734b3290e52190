"""The trial store: SDTM-shaped clinical data, the trial's operations, audit trail, edit checks.

SQLite (one file, the embedded default) or PostgreSQL (many sites). Start with
``store = init_db(url)`` (or ``Store.open(url)`` for an existing database); everything else
goes through the :class:`Store` it returns: ``add_subject``, ``add_records``,
``import_domains``, ``update_record``, ``delete_record``, ``records``, ``add_cohort``,
``assign_slot``, ``record_decision``, ``audit_trail``, ``verify_audit``. Every write is checked
by the rules of :mod:`oncotrial.cdisc` (the same ones ``derive`` runs). This room knows nothing
of statistics.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from oncotrial.store.errors import (
    ActorRequiredError,
    ConcurrentEditError,
    DatabaseBusyError,
    EditCheckError,
    NotATrialDatabaseError,
    ReasonRequiredError,
    RecordNotFoundError,
    StoreError,
    UnknownDomainError,
)

if TYPE_CHECKING:
    from oncotrial.store.api import (
        COHORT_STATUSES,
        ROLES,
        SUBJECT_STATUSES,
        ImportResult,
        Store,
        StoredRecord,
        SubjectInfo,
        domain_model,
        to_text,
    )
    from oncotrial.store.audit import AuditedSession, BrokenLink, VerifyReport, verify_audit
    from oncotrial.store.checks import Finding
    from oncotrial.store.engine import make_engine
    from oncotrial.store.migrate import current_revision, init_db, upgrade
    from oncotrial.store.models import DOMAIN_MODELS, standard_variables

#: where each name lives; imported on first use (PEP 562), so that the errors (and a command's
#: ``--help``) do not bring SQLAlchemy and pandas
_LAZY = {
    **dict.fromkeys(
        (
            "COHORT_STATUSES",
            "ROLES",
            "SUBJECT_STATUSES",
            "ImportResult",
            "Store",
            "StoredRecord",
            "SubjectInfo",
            "domain_model",
            "to_text",
        ),
        "oncotrial.store.api",
    ),
    **dict.fromkeys(
        ("AuditedSession", "BrokenLink", "VerifyReport", "verify_audit"), "oncotrial.store.audit"
    ),
    "Finding": "oncotrial.store.checks",
    "make_engine": "oncotrial.store.engine",
    **dict.fromkeys(("current_revision", "init_db", "upgrade"), "oncotrial.store.migrate"),
    **dict.fromkeys(("DOMAIN_MODELS", "standard_variables"), "oncotrial.store.models"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "COHORT_STATUSES",
    "DOMAIN_MODELS",
    "ROLES",
    "SUBJECT_STATUSES",
    "ActorRequiredError",
    "AuditedSession",
    "BrokenLink",
    "ConcurrentEditError",
    "DatabaseBusyError",
    "EditCheckError",
    "Finding",
    "ImportResult",
    "NotATrialDatabaseError",
    "ReasonRequiredError",
    "RecordNotFoundError",
    "Store",
    "StoreError",
    "StoredRecord",
    "SubjectInfo",
    "UnknownDomainError",
    "VerifyReport",
    "current_revision",
    "domain_model",
    "init_db",
    "make_engine",
    "standard_variables",
    "to_text",
    "upgrade",
    "verify_audit",
]
