"""The trial's operations as use cases, called by the web application, the command line and
(later) the virtual trial: people, roles and sites; screening, enrolment and the case report
forms (each saved form becomes SDTM records in the store, through the store's edit checks);
queries; review states and e-signatures; the audit trail of a record; data out.

Every use case takes the :class:`Study` and the acting :class:`Actor`, checks the one
permission table (:mod:`oncotrial.conduct.roles`) and runs in one database transaction scoped to
the actor's sites. This room knows nothing of HTTP or HTML.
"""

from oncotrial.conduct.errors import (
    AuthenticationError,
    ConductError,
    FormRejectedError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    SessionExpiredError,
    StateError,
)
from oncotrial.conduct.roles import PERMISSIONS, ROLE_TITLES, Action, Actor, Role
from oncotrial.conduct.study import SecurityPolicy, Study

__all__ = [
    "PERMISSIONS",
    "ROLE_TITLES",
    "Action",
    "Actor",
    "AuthenticationError",
    "ConductError",
    "FormRejectedError",
    "InvalidInputError",
    "NotFoundError",
    "PermissionDeniedError",
    "Role",
    "SecurityPolicy",
    "SessionExpiredError",
    "StateError",
    "Study",
]
