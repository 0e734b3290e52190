"""Accounts, logins and sessions: argon2id hashes, the password rule, lockout after repeated
failures, idle and absolute timeouts, and the audit of logins, failures, lockouts, logouts and
role changes — on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from conduct_fixtures import PASSWORD, actor
from oncotrial.conduct import (
    AuthenticationError,
    InvalidInputError,
    PermissionDeniedError,
    SecurityPolicy,
    SessionExpiredError,
    Study,
    accounts,
    sessions,
)
from oncotrial.conduct.roles import PERMISSIONS, Action, Role, permission_rows
from oncotrial.store import ROLES, Store
from oncotrial.store.models import LoginThrottle

pytest_plugins = ["store_fixtures", "conduct_fixtures"]


def test_the_roles_are_the_stores_and_every_action_has_a_rule() -> None:
    assert {role.value for role in Role} == set(ROLES)
    assert set(PERMISSIONS) == set(Action)
    rows = dict(permission_rows())
    assert rows[Action.sign.value] == ["Site investigator"]
    assert rows[Action.verify.value] == ["Monitor"]
    assert "Administrator" not in rows[Action.view_subjects.value]


def test_passwords_are_argon2id_hashes_never_audited_in_clear(study: Study) -> None:
    store = Store(study.engine)
    trail = store.audit_trail("users")
    assert PASSWORD not in trail.to_csv()
    assert "<redacted sha256=" in trail.to_csv()
    with store.engine.connect() as connection:
        hashes = connection.exec_driver_sql("SELECT password_hash FROM users").scalars().all()
    assert hashes and all(h.startswith("$argon2id$") for h in hashes)


def test_account_rules(study: Study) -> None:
    admin = actor(study, "adm")
    with pytest.raises(InvalidInputError, match="12 characters"):
        accounts.add_user(study, admin, "short", "monitor", "tooshort", full_name="S")
    with pytest.raises(InvalidInputError, match="user name"):
        accounts.add_user(study, admin, "newmon", "monitor", "newmon-is-in-it-123", full_name="N")
    with pytest.raises(InvalidInputError, match="sites"):
        accounts.add_user(study, admin, "crc09", "coordinator", PASSWORD, full_name="C")
    with pytest.raises(InvalidInputError, match="central"):
        accounts.add_user(
            study, admin, "dm2", "data_manager", PASSWORD, full_name="D", sites=["01"]
        )
    with pytest.raises(InvalidInputError, match="exists"):
        accounts.add_user(study, admin, "dm", "data_manager", PASSWORD, full_name="D")
    with pytest.raises(PermissionDeniedError):
        accounts.add_user(study, actor(study, "dm"), "x1", "monitor", PASSWORD, full_name="X")


def test_lockout_after_repeated_failures_and_every_attempt_audited(study: Study) -> None:
    limit = study.policy.lockout_failures
    for _ in range(limit):
        with pytest.raises(AuthenticationError):
            accounts.authenticate(study, "crc01", "wrong password!", "test")
    with pytest.raises(AuthenticationError):
        accounts.authenticate(study, "crc01", PASSWORD, "test")  # locked: even the right one
    kinds = [
        e["kind"]
        for e in accounts.access_events(study, actor(study, "adm"))
        if e["username"] == "crc01"
    ]
    assert kinds.count("login_failed") == limit
    assert "account_locked" in kinds and "login_refused_locked" in kinds
    with study.engine.begin() as connection:  # the lockout's 15 minutes have passed
        connection.execute(
            update(LoginThrottle).values(locked_until=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert accounts.authenticate(study, "crc01", PASSWORD).username == "crc01"
    # an unknown user name fails the same way and is throttled the same way
    with pytest.raises(AuthenticationError) as unknown:
        accounts.authenticate(study, "nobody", PASSWORD)
    with pytest.raises(AuthenticationError) as wrong:
        accounts.authenticate(study, "dm", "wrong password!")
    assert str(unknown.value) == str(wrong.value)
    assert Store(study.engine).verify_audit().ok


def test_sessions_rotate_expire_and_end(study: Study) -> None:
    crc = actor(study, "crc01")
    first = sessions.start_session(study, crc)
    second = sessions.start_session(study, crc, replaces=first.token)
    assert first.token != second.token and first.csrf_token != second.csrf_token
    with pytest.raises(SessionExpiredError):
        sessions.resume_session(study, first.token)
    assert sessions.resume_session(study, second.token).actor.username == "crc01"
    idle = Study(study.engine, study.protocol, SecurityPolicy(idle=timedelta(0)))
    with pytest.raises(SessionExpiredError, match="idle"):
        sessions.resume_session(idle, second.token)
    third = sessions.start_session(study, crc)
    old = Study(study.engine, study.protocol, SecurityPolicy(absolute=timedelta(0)))
    with pytest.raises(SessionExpiredError, match="absolute"):
        sessions.resume_session(old, third.token)
    fourth = sessions.start_session(study, crc)
    sessions.end_session(study, fourth.token)
    with pytest.raises(SessionExpiredError):
        sessions.resume_session(study, fourth.token)
    kinds = {e["kind"] for e in accounts.access_events(study, actor(study, "adm"))}
    assert {"login", "logout", "session_expired"} <= kinds


def test_disabling_or_changing_a_role_ends_the_users_sessions(study: Study) -> None:
    admin = actor(study, "adm")
    live = sessions.start_session(study, actor(study, "crc02"))
    accounts.set_role(study, admin, "crc02", "investigator", "now the site's investigator")
    with pytest.raises(SessionExpiredError):
        sessions.resume_session(study, live.token)
    event = next(e for e in accounts.access_events(study, admin) if e["kind"] == "role_change")
    assert event["detail"]["old_role"] == "coordinator"
    assert event["detail"]["new_role"] == "investigator"
    assert event["detail"]["new_sites"] == ["02"]
    again = sessions.start_session(study, actor(study, "crc02"))
    accounts.set_active(study, admin, "crc02", False, "left the study")
    with pytest.raises(SessionExpiredError):
        sessions.resume_session(study, again.token)
    with pytest.raises(AuthenticationError):
        accounts.authenticate(study, "crc02", PASSWORD)
    assert not next(u for u in accounts.list_users(study, admin) if u.username == "crc02").active


def test_the_roles_page_of_the_docs_is_the_enforced_table() -> None:
    from pathlib import Path

    from oncotrial.conduct.roles import ROLE_TITLES

    doc = (Path(__file__).resolve().parents[1] / "docs" / "roles.md").read_text()
    titles = [ROLE_TITLES[r] for r in Role]
    for action, allowed in permission_rows():
        row = f"| {action} | " + " | ".join("✓" if t in allowed else "" for t in titles) + " |"
        assert row in doc, action
