"""The study as the trial's use cases see it: the store, the protocol, its forms, the policy.

Every use case runs inside :meth:`Study.transaction` (writes: one database transaction, all or
nothing, with the actor's site scope) or :meth:`Study.reading` (reads, with the same scope). A
:class:`Study` is safe to share between threads: each transaction gets its own
:class:`~oncotrial.store.Store` view of the one engine.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from pathlib import Path

from sqlalchemy import Engine

from oncotrial.conduct.errors import NotFoundError
from oncotrial.conduct.forms.catalog import study_forms
from oncotrial.conduct.forms.model import FormDef
from oncotrial.conduct.roles import Actor, Role
from oncotrial.conduct.scope import acting_for, scoped_engine
from oncotrial.protocol import Protocol, load_protocol
from oncotrial.protocol.naming import DoseNames
from oncotrial.store import AuditedSession, Store, init_db

#: the protocol setting of the study database, written when the application first opens it
PROTOCOL_SETTING = "protocol"


@dataclass(frozen=True)
class SecurityPolicy:
    """Session and lockout limits (21 CFR Part 11 §11.300(d): deter and detect unauthorised
    use; OWASP ASVS v4 §2.2.1, §3.3.1-3.3.2).

    ``lockout_failures`` failed logins in a row lock the account for ``lockout``; a session ends
    after ``idle`` without a request and, whatever happens, ``absolute`` after the login.
    """

    lockout_failures: int = 5
    lockout: timedelta = timedelta(minutes=15)
    idle: timedelta = timedelta(minutes=30)
    absolute: timedelta = timedelta(hours=12)


@dataclass
class Txn:
    """One use case's transaction: the store (its writes join the transaction) and the ORM
    session for the application's own tables."""

    store: Store
    session: AuditedSession
    actor: Actor


class Study:
    """The trial the application runs: database, protocol, forms and security policy."""

    def __init__(
        self,
        engine: Engine,
        protocol: Protocol,
        policy: SecurityPolicy | None = None,
    ) -> None:
        self.engine = engine
        self.protocol = protocol
        self.policy = policy or SecurityPolicy()
        self.forms: dict[str, FormDef] = study_forms(protocol)

    @classmethod
    def open(
        cls,
        url: str,
        protocol: Protocol | Path | str,
        *,
        db_role: str | None = None,
        policy: SecurityPolicy | None = None,
        migrate: bool = True,
    ) -> Study:
        """The study in database ``url`` (created or migrated when ``migrate``), run by
        ``protocol`` (a model or a YAML path). ``db_role``: PostgreSQL role the application's
        connections switch to (row-level security binds it)."""
        if migrate:
            init_db(url).close()
        proto = protocol if isinstance(protocol, Protocol) else load_protocol(Path(protocol))
        return cls(scoped_engine(url, db_role), proto, policy)

    def close(self) -> None:
        self.engine.dispose()

    @cached_property
    def studyid(self) -> str:
        """SDTM STUDYID (as the virtual trial writes it)."""
        return self.protocol.study.id.upper()

    @cached_property
    def dose_names(self) -> DoseNames:
        return DoseNames.of(self.protocol)

    def level_name(self, label: str | None, *, full: bool = True) -> str:
        """ "L2, donafenib 200 mg bid" for a stored dose level ("L2"); "" for none."""
        if not label:
            return ""
        index = self.dose_names.parse(label)
        return self.dose_names.full(index) if full else self.dose_names.short(index)

    def form(self, code: str) -> FormDef:
        """The form ``code`` of the study (:class:`NotFoundError` for another code)."""
        try:
            return self.forms[code]
        except KeyError:
            raise NotFoundError(f"no form '{code}' (forms: {', '.join(self.forms)})") from None

    @contextmanager
    def transaction(self, actor: Actor, reason: str | None = None) -> Iterator[Txn]:
        """One use case's write transaction, as ``actor``, within ``actor``'s sites."""
        store = Store(self.engine)
        with acting_for(actor.site_scope), store.transaction(actor.username, reason):
            yield Txn(store, store.active_session(), actor)

    @contextmanager
    def churn(self, actor: Actor) -> Iterator[AuditedSession]:
        """A write session for high-churn state that is not audited (web sessions): it does not
        take the audit trail's writer lock, so page views do not queue behind form saves."""
        store = Store(self.engine)
        with acting_for(actor.site_scope), store.session(actor.username) as session:
            yield session
            session.commit()

    @contextmanager
    def reading(self, actor: Actor) -> Iterator[tuple[Store, AuditedSession]]:
        """Reads as ``actor`` (within its sites): the store and a read-only ORM session."""
        store = Store(self.engine)
        with acting_for(actor.site_scope), AuditedSession(bind=self.engine) as session:
            yield store, session

    def system_actor(self, name: str = "system") -> Actor:
        """A central actor for the system's own maintenance (never a person's login)."""
        return Actor(username=name, role=Role.admin, full_name=name)
