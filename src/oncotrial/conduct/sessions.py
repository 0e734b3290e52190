"""Sessions of signed-in users, kept in the database so that any server process can serve any
request (several processes behind one reverse proxy, one PostgreSQL).

A session is created only by a successful login, with a new random token (OWASP ASVS v4 §3.2.1:
a new session id at authentication, so a token planted before login — session fixation — is
worth nothing). Only the token's SHA-256 is stored. Each session has its own CSRF token. It ends
at logout, after :attr:`SecurityPolicy.idle` without a request, :attr:`SecurityPolicy.absolute`
after login, or when the account is disabled or its role changes.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select

from oncotrial.conduct.accounts import actor_of, now, record_event
from oncotrial.conduct.errors import SessionExpiredError
from oncotrial.conduct.roles import Actor
from oncotrial.conduct.study import Study
from oncotrial.store.models import User, WebSession

#: a session's last-seen time is written at most this often (fewer writes per page view)
TOUCH_EVERY = timedelta(seconds=20)


@dataclass(frozen=True)
class SessionInfo:
    """A live session: the cookie token (only the client has it), its CSRF token, the actor."""

    token: str
    csrf_token: str
    actor: Actor


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def start_session(
    study: Study, actor: Actor, client: str | None = None, replaces: str | None = None
) -> SessionInfo:
    """A new session for a just-authenticated ``actor``; any session the client presented
    before (``replaces``) is ended first."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    moment = now()
    with study.churn(study.system_actor("login")) as session:
        if replaces:
            session.execute(delete(WebSession).where(WebSession.token_hash == token_hash(replaces)))
        session.add(
            WebSession(
                token_hash=token_hash(token),
                user_id=actor.user_id,
                csrf_token=csrf,
                created_at=moment,
                last_seen_at=moment,
                client=client,
            )
        )
    return SessionInfo(token, csrf, actor)


def resume_session(study: Study, token: str | None) -> SessionInfo:
    """The live session of ``token``, or :class:`SessionExpiredError` (an ended or timed-out session
    is removed, and its expiry audited)."""
    if not token:
        raise SessionExpiredError("not signed in")
    key = token_hash(token)
    policy = study.policy
    moment = now()
    system = study.system_actor("session")
    with study.reading(system) as (_, session):
        row = session.get(WebSession, key)
        user = session.get(User, row.user_id) if row is not None else None
        if row is None or user is None:
            raise SessionExpiredError("not signed in (the session ended or never existed)")
        idle = moment - row.last_seen_at > policy.idle
        old = moment - row.created_at > policy.absolute
        fresh = moment - row.last_seen_at < TOUCH_EVERY
        actor = actor_of(session, user)
        active, csrf = user.active, row.csrf_token
    if idle or old or not active:
        why = "idle timeout" if idle else "absolute timeout" if old else "account disabled"
        with study.transaction(system, why) as txn:
            txn.session.execute(delete(WebSession).where(WebSession.token_hash == key))
            record_event(txn.session, "session_expired", actor.username, why=why)
        raise SessionExpiredError(f"the session ended ({why}); please sign in again")
    if not fresh:
        with study.churn(system) as session:
            stored = session.get(WebSession, key)
            if stored is not None:
                stored.last_seen_at = moment
    return SessionInfo(token, csrf, actor)


def end_session(study: Study, token: str | None) -> None:
    """Log out: the session is removed and the logout audited."""
    if not token:
        return
    key = token_hash(token)
    with study.transaction(study.system_actor("logout")) as txn:
        row = txn.session.get(WebSession, key)
        if row is None:
            return
        user = txn.session.get(User, row.user_id)
        txn.session.delete(row)
        txn.session.flush()
        record_event(txn.session, "logout", user.username if user else "?")


def live_sessions(study: Study, username: str) -> int:
    """How many sessions ``username`` has open (for tests and the administrator)."""
    with study.reading(study.system_actor()) as (_, session):
        return len(
            session.scalars(
                select(WebSession.token_hash)
                .join(User, User.id == WebSession.user_id)
                .where(User.username == username)
            ).all()
        )
