"""The trial store: SDTM-shaped clinical data, the trial's operations, audit trail, edit checks.

SQLite (one file, the embedded default) or PostgreSQL (many sites). Start with
``store = init_db(url)``; everything else goes through the :class:`Store` it returns:
``add_subject``, ``add_records``, ``update_record``, ``delete_record``, ``records``,
``add_cohort``, ``assign_slot``, ``record_decision``, ``audit_trail``, ``verify_audit``.
This room knows nothing of statistics.
"""

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
from oncotrial.store.errors import (
    ActorRequiredError,
    ConcurrentEditError,
    EditCheckError,
    ReasonRequiredError,
    RecordNotFoundError,
    StoreError,
    UnknownDomainError,
)
from oncotrial.store.migrate import current_revision, init_db, upgrade
from oncotrial.store.models import DOMAIN_MODELS, standard_variables

__all__ = [
    "COHORT_STATUSES",
    "DOMAIN_MODELS",
    "ROLES",
    "SUBJECT_STATUSES",
    "ActorRequiredError",
    "AuditedSession",
    "BrokenLink",
    "ConcurrentEditError",
    "EditCheckError",
    "Finding",
    "ImportResult",
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
