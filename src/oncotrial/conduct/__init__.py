"""The trial's operations as use cases, called by the web application, the command line and
(later) the virtual trial: people, roles and sites; screening, enrolment and the case report
forms (each saved form becomes SDTM records in the store, through the store's edit checks);
queries; review states and e-signatures; the audit trail of a record; data out.

Every use case takes the :class:`Study` and the acting :class:`Actor`, checks the one
permission table (:mod:`oncotrial.conduct.roles`) and runs in one database transaction scoped to
the actor's sites. This room knows nothing of HTTP or HTML.
"""

from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from oncotrial.conduct.study import SecurityPolicy, Study


def __getattr__(name: str) -> Any:
    """``Study`` and ``SecurityPolicy`` on first use: the study brings the store (SQLAlchemy),
    which ``--help`` and the permission table do not need (PEP 562)."""
    if name in ("Study", "SecurityPolicy"):
        from oncotrial.conduct import study

        return getattr(study, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
