"""Typed errors of the trial's use cases; each says what was refused and why.

Data refused by edit checks keeps the store's :class:`~oncotrial.store.EditCheckError` (with its
findings naming subject, form, field and rule), so the same input is refused the same way by a
form, the API and ``db import``.
"""

from __future__ import annotations

from collections.abc import Sequence

from oncotrial.cdisc.errors import Finding
from oncotrial.store.errors import EditCheckError


class ConductError(Exception):
    """Base of the errors of :mod:`oncotrial.conduct`."""


class PermissionDeniedError(ConductError):
    """The actor's role (or sites) does not allow the action."""


class NotFoundError(ConductError, LookupError):
    """No such subject, form, query or user — or none the actor may see (another site's
    subject is reported as not found, so its existence is not disclosed)."""


class AuthenticationError(ConductError):
    """Wrong user name or password, a disabled account, or a locked one."""


class SessionExpiredError(ConductError):
    """The session is unknown, ended, idle for too long or past its absolute lifetime."""


class StateError(ConductError):
    """The action does not fit the record's state (e.g. an edit of a locked form)."""


class InvalidInputError(ConductError, ValueError):
    """A value refused before it reaches the store (user name, password policy, choice)."""


class FormRejectedError(EditCheckError):
    """A form refused by a hard check: the store's (or the form's own) findings, each shown on
    the form field it came from (``fields``: finding → field path, ``labels``: → words)."""

    def __init__(
        self,
        findings: Sequence[Finding],
        fields: Sequence[str | None],
        labels: Sequence[str],
    ) -> None:
        super().__init__(findings)
        self.fields = list(fields)
        self.labels = list(labels)

    def by_field(self) -> dict[str, list[str]]:
        """Messages per form field path ("" for findings of the form as a whole)."""
        out: dict[str, list[str]] = {}
        for finding, name in zip(self.findings, self.fields, strict=True):
            out.setdefault(name or "", []).append(f"[{finding.rule}] {finding.message}")
        return out
