"""Typed errors of the trial store: each says what is wrong and where, and none leaves partial data.

Every write of the store runs in one transaction, so when one of these is raised nothing of the
refused write has been stored (ICH E6(R3) data integrity: a rejected entry must not half-apply).
"""

from __future__ import annotations

from collections.abc import Sequence

from oncotrial.cdisc.errors import Finding, errors_of


class StoreError(Exception):
    """Base of every error raised by :mod:`oncotrial.store`."""


class UnknownDomainError(StoreError, KeyError):
    """A domain code the store does not hold (it holds DM, EX, AE, TU, TR, RS, IS, DS)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown domain"


class RecordNotFoundError(StoreError, LookupError):
    """No record with the given table and id (or subject with the given USUBJID)."""


class ActorRequiredError(StoreError, ValueError):
    """A write without a user name: 21 CFR Part 11 §11.10(e) requires the audit trail to say who."""


class ReasonRequiredError(StoreError, ValueError):
    """An update or delete of already-entered data without a reason for the change.

    ICH E6(R3) (and 21 CFR Part 11 §11.10(e) read with FDA's guidance on electronic source
    data) expect every change after first entry to carry why it was made.
    """


class ConcurrentEditError(StoreError):
    """Someone else changed (or deleted) the record since it was read: the change is refused.

    Optimistic locking: each record carries ``row_version``; an update names the version it was
    based on, and a mismatch means the caller must reload and re-apply, instead of silently
    overwriting the other writer's change (a lost update).
    """

    def __init__(
        self,
        message: str,
        *,
        table: str | None = None,
        record_id: int | None = None,
        expected_version: int | None = None,
        actual_version: int | None = None,
    ) -> None:
        super().__init__(message)
        self.table = table
        self.record_id = record_id
        self.expected_version = expected_version
        self.actual_version = actual_version


class NotATrialDatabaseError(StoreError, ValueError):
    """The database named does not exist, or holds no trial store (never initialised)."""


class DatabaseBusyError(StoreError, TimeoutError):
    """Another writer held the database's write lock for longer than the store waits."""


class EditCheckError(StoreError, ValueError):
    """Data refused by edit checks; ``findings`` lists every problem (subject, form, field, rule).

    All findings of a batch are reported together so that a data manager can fix them in one
    pass; nothing of the batch was stored.
    """

    def __init__(self, findings: Sequence[Finding]) -> None:
        self.findings: list[Finding] = list(findings)
        shown = "\n".join(f"  {finding}" for finding in self.findings[:50])
        more = f"\n  … and {len(self.findings) - 50} more" if len(self.findings) > 50 else ""
        super().__init__(f"{len(self.findings)} edit check finding(s):\n{shown}{more}")


def require_user(user: str) -> None:
    """:class:`ActorRequiredError` unless a user name is given."""
    if not user or not str(user).strip():
        raise ActorRequiredError("a change to trial data needs the name of the user making it")


def require_reason(reason: str | None, what: str) -> None:
    """:class:`ReasonRequiredError` unless a reason is given for ``what``."""
    if not reason or not reason.strip():
        raise ReasonRequiredError(f"a reason is required to {what}")


def refuse(findings: Sequence[Finding]) -> None:
    """:class:`EditCheckError` listing the error findings, if there are any."""
    errors = errors_of(findings)
    if errors:
        raise EditCheckError(errors)
