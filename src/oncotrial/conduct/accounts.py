"""People and sites: named accounts with one role, the sites of site staff, logins.

Accounts are never shared (21 CFR Part 11 §11.100(a), §11.300(a)): a user name is unique and
kept for ever (disabled, not deleted), so the audit trail always names one person. Passwords are
argon2id hashes (:mod:`oncotrial.conduct.passwords`). Logins, failed logins, lockouts and role
changes are :class:`~oncotrial.store.models.AccessEvent` rows, audited like any record.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select

from oncotrial.conduct.errors import AuthenticationError, InvalidInputError, NotFoundError
from oncotrial.conduct.passwords import check_policy, hash_password, needs_rehash, verify_password
from oncotrial.conduct.roles import ROLE_TITLES, SITE_ROLES, Action, Actor, Role, require
from oncotrial.conduct.study import Study
from oncotrial.store import AuditedSession
from oncotrial.store.models import AccessEvent, LoginThrottle, Site, User, UserSite, WebSession

USERNAME = re.compile(r"^[a-z][a-z0-9._-]{1,39}$")
SITE_CODE = re.compile(r"^[A-Za-z0-9_]{1,20}$")


@dataclass(frozen=True)
class UserInfo:
    """An account as listed to an administrator."""

    username: str
    full_name: str
    role: str
    role_title: str
    sites: list[str]
    active: bool


@dataclass(frozen=True)
class SiteInfo:
    code: str
    name: str | None
    country: str | None
    status: str


def now() -> datetime:
    return datetime.now(UTC)


def confirm_signer(
    session: AuditedSession, actor: Actor, password: str, **detail: Any
) -> User | None:
    """The signer's account when ``password`` is the signed-in actor's own, asked again at the
    moment of signing (21 CFR Part 11 §11.200(a)(1): user name and password); ``None`` after
    recording the refusal as a ``signature_refused`` access event (the caller commits it)."""
    user = session.scalar(select(User).where(User.username == actor.username))
    if user is None or not user.active or not verify_password(user.password_hash, password):
        record_event(session, "signature_refused", actor.username, **detail)
        return None
    return user


def record_event(session: AuditedSession, kind: str, username: str, **detail: Any) -> None:
    """Write a security event (audited) in the caller's transaction."""
    session.add(
        AccessEvent(
            at=now(),
            kind=kind,
            username=username,
            detail={k: v for k, v in detail.items() if v is not None} or None,
        )
    )
    session.flush()


def parse_role(text: str) -> Role:
    """A role from its name ("data_manager", "data-manager", "Data manager")."""
    key = text.strip().lower().replace("-", "_").replace(" ", "_")
    for role in Role:
        if key in (role.value, ROLE_TITLES[role].lower().replace(" ", "_")):
            return role
    known = ", ".join(role.value for role in Role)
    raise InvalidInputError(f"'{text}' is not a role ({known})")


# ---------------------------------------------------------------------------------------------
# sites


def add_site(
    study: Study, actor: Actor, code: str, *, name: str | None = None, country: str | None = None
) -> SiteInfo:
    """Register a clinical site (its code is SDTM ``SITEID`` and prefixes its subjects' ids)."""
    require(actor, Action.manage_sites)
    if not SITE_CODE.match(code or ""):
        raise InvalidInputError(f"site code '{code}': use 1-20 letters, digits or _ (e.g. 01)")
    with study.transaction(actor) as txn:
        txn.store.add_site(code, actor.username, name=name, country=country)
    return SiteInfo(code, name, country, "active")


def list_sites(study: Study, actor: Actor) -> list[SiteInfo]:
    """The sites the actor may see (all of them for central roles)."""
    with study.reading(actor) as (_, session):
        sites = session.scalars(select(Site).order_by(Site.code)).all()
        return [
            SiteInfo(s.code, s.name, s.country, s.status) for s in sites if actor.sees_site(s.code)
        ]


# ---------------------------------------------------------------------------------------------
# users


def _user(session: AuditedSession, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFoundError(f"no user '{username}'")
    return user


def _sites_of(session: AuditedSession, user_id: int) -> list[str]:
    return sorted(
        session.scalars(select(UserSite.site_code).where(UserSite.user_id == user_id)).all()
    )


def _check_sites(session: AuditedSession, role: Role, sites: Sequence[str]) -> list[str]:
    wanted = sorted(set(sites))
    if role in SITE_ROLES and not wanted:
        raise InvalidInputError(f"a {ROLE_TITLES[role].lower()} works at one or more named sites")
    if role not in SITE_ROLES and wanted:
        raise InvalidInputError(f"a {ROLE_TITLES[role].lower()} is central: give no sites")
    known = set(session.scalars(select(Site.code).where(Site.code.in_(wanted))).all())
    missing = [code for code in wanted if code not in known]
    if missing:
        raise InvalidInputError(f"unknown site(s) {', '.join(missing)}: add them with 'sites add'")
    return wanted


def add_user(
    study: Study,
    actor: Actor,
    username: str,
    role: Role | str,
    password: str,
    *,
    full_name: str,
    sites: Sequence[str] = (),
) -> UserInfo:
    """Create a named account; site roles need their sites. The password is hashed
    (argon2id) and never stored or audited in clear."""
    require(actor, Action.manage_users)
    role = role if isinstance(role, Role) else parse_role(role)
    if not USERNAME.match(username or ""):
        raise InvalidInputError(
            f"user name '{username}': 2-40 lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter"
        )
    if not full_name or not full_name.strip():
        raise InvalidInputError("the full (printed) name is required: it appears on signatures")
    check_policy(password, username)
    with study.transaction(actor, f"account created by {actor.username}") as txn:
        session = txn.session
        if session.scalar(select(User.id).where(User.username == username)) is not None:
            raise InvalidInputError(
                f"user '{username}' exists already (user names are never reused)"
            )
        site_codes = _check_sites(session, role, sites)
        user = User(
            username=username,
            role=role.value,
            full_name=full_name.strip(),
            active=True,
            password_hash=hash_password(password),
        )
        session.add(user)
        session.flush()
        session.add_all(UserSite(user_id=user.id, site_code=code) for code in site_codes)
        session.flush()
        return _info(user, site_codes)


def _info(user: User, sites: list[str]) -> UserInfo:
    role = parse_role(user.role)
    return UserInfo(
        user.username, user.full_name or "", role.value, ROLE_TITLES[role], sites, user.active
    )


def list_users(study: Study, actor: Actor) -> list[UserInfo]:
    """Every account, in name order."""
    require(actor, Action.manage_users)
    with study.reading(actor) as (_, session):
        users = session.scalars(select(User).order_by(User.username)).all()
        return [_info(u, _sites_of(session, u.id)) for u in users]


def set_role(
    study: Study,
    actor: Actor,
    username: str,
    role: Role | str,
    reason: str,
    *,
    sites: Sequence[str] | None = None,
) -> UserInfo:
    """Change a user's role (and sites); audited with the reason, and the user's sessions end
    so the new rights apply at once."""
    require(actor, Action.manage_users)
    role = role if isinstance(role, Role) else parse_role(role)
    if not reason or not reason.strip():
        raise InvalidInputError("a reason is required to change a role")
    with study.transaction(actor, reason) as txn:
        session = txn.session
        user = _user(session, username)
        before = (user.role, _sites_of(session, user.id))
        wanted = _check_sites(
            session, role, before[1] if sites is None and role in SITE_ROLES else (sites or ())
        )
        user.role = role.value
        current = {
            row.site_code: row
            for row in session.scalars(select(UserSite).where(UserSite.user_id == user.id))
        }
        for code, row in current.items():
            if code not in wanted:
                session.delete(row)
        session.add_all(UserSite(user_id=user.id, site_code=c) for c in wanted if c not in current)
        session.flush()
        session.execute(delete(WebSession).where(WebSession.user_id == user.id))
        record_event(
            session,
            "role_change",
            username,
            by=actor.username,
            old_role=before[0],
            new_role=role.value,
            old_sites=before[1],
            new_sites=wanted,
            reason=reason,
        )
        return _info(user, wanted)


def set_active(study: Study, actor: Actor, username: str, active: bool, reason: str) -> UserInfo:
    """Disable (or re-enable) an account; a disabled account's sessions end at once."""
    require(actor, Action.manage_users)
    if not reason or not reason.strip():
        raise InvalidInputError("a reason is required to disable or enable an account")
    with study.transaction(actor, reason) as txn:
        session = txn.session
        user = _user(session, username)
        if user.active != active:
            user.active = active
            session.flush()
        if not active:
            session.execute(delete(WebSession).where(WebSession.user_id == user.id))
        record_event(session, "enabled" if active else "disabled", username, by=actor.username)
        return _info(user, _sites_of(session, user.id))


def set_password(study: Study, actor: Actor, username: str, password: str) -> None:
    """Set a new password (an administrator's reset); the user's sessions end."""
    require(actor, Action.manage_users)
    check_policy(password, username)
    with study.transaction(actor, f"password set by {actor.username}") as txn:
        user = _user(txn.session, username)
        user.password_hash = hash_password(password)
        txn.session.flush()
        txn.session.execute(delete(WebSession).where(WebSession.user_id == user.id))
        txn.session.execute(delete(LoginThrottle).where(LoginThrottle.username == username))
        record_event(txn.session, "password_set", username, by=actor.username)


# ---------------------------------------------------------------------------------------------
# logins


def actor_of(session: AuditedSession, user: User) -> Actor:
    """The actor of a stored account."""
    return Actor(
        username=user.username,
        role=parse_role(user.role),
        full_name=user.full_name or "",
        sites=frozenset(_sites_of(session, user.id)),
        user_id=user.id,
    )


def authenticate(study: Study, username: str, password: str, client: str | None = None) -> Actor:
    """Check a login; the actor, or :class:`AuthenticationError` (one message for every
    cause, so the answer tells an attacker nothing). After ``policy.lockout_failures`` failures
    in a row the account is locked for ``policy.lockout``; each attempt is audited."""
    policy = study.policy
    system = study.system_actor("login")
    moment = now()
    failed = "wrong user name or password, or the account is disabled or locked"
    with study.transaction(system, "login attempt") as txn:
        session = txn.session
        throttle = session.get(LoginThrottle, username)
        user = session.scalar(select(User).where(User.username == username))
        if throttle is not None and throttle.locked_until is not None:
            if throttle.locked_until > moment:
                verify_password(None, password)
                record_event(session, "login_refused_locked", username, client=client)
                return_error = True
            else:
                throttle.failures, throttle.locked_until = 0, None
                return_error = False
        else:
            return_error = False
        if not return_error:
            ok = verify_password(user.password_hash if user else None, password)
            if ok and user is not None and user.active:
                if throttle is not None:
                    session.delete(throttle)
                if user.password_hash and needs_rehash(user.password_hash):
                    session.info["reason"] = "password re-hashed with current parameters"
                    user.password_hash = hash_password(password)
                record_event(session, "login", username, client=client)
                session.flush()
                return actor_of(session, user)
            if throttle is None:
                throttle = LoginThrottle(username=username, failures=0)
                session.add(throttle)
            throttle.failures += 1
            throttle.last_failure_at = moment
            locked = throttle.failures >= policy.lockout_failures
            if locked:
                throttle.locked_until = moment + policy.lockout
            record_event(
                session,
                "login_failed",
                username,
                client=client,
                failures=throttle.failures,
                known_user=user is not None,
            )
            if locked:
                record_event(
                    session,
                    "account_locked",
                    username,
                    client=client,
                    until=throttle.locked_until.isoformat() if throttle.locked_until else None,
                )
    raise AuthenticationError(failed)


def access_events(study: Study, actor: Actor, limit: int = 200) -> list[dict[str, Any]]:
    """The latest security events, newest first (administrators)."""
    require(actor, Action.manage_users)
    with study.reading(actor) as (_, session):
        rows = session.scalars(
            select(AccessEvent).order_by(AccessEvent.id.desc()).limit(limit)
        ).all()
        return [
            {"at": e.at, "kind": e.kind, "username": e.username, "detail": e.detail or {}}
            for e in rows
        ]
