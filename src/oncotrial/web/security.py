"""Who is asking: the session cookie (or bearer token), CSRF, and the security headers.

- The session cookie is ``HttpOnly`` (no script reads it), ``SameSite=Strict`` (no other site's
  page sends it) and ``Secure`` when the server is reached over HTTPS (``--cookie-secure``).
- CSRF (OWASP CSRF Prevention Cheat Sheet, synchronizer token): every state-changing request
  with the session cookie carries the session's CSRF token — a hidden ``csrf_token`` field of
  each HTML form or the ``X-CSRF-Token`` header of an API call — compared in constant time.
  The login form, before any session exists, uses a double-submit cookie. A request
  authenticated by an ``Authorization: Bearer`` token (API clients) needs no CSRF token: a
  browser never adds that header by itself.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import Path, Request
from starlette.responses import Response

from oncotrial.conduct.errors import SessionExpiredError
from oncotrial.conduct.sessions import SessionInfo, resume_session
from oncotrial.conduct.study import Study

SESSION_COOKIE = "oncotrial_session"
LOGIN_CSRF_COOKIE = "oncotrial_login_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

#: a record id in a path: a positive 32-bit integer, as the database's ids are
RecordId = Annotated[int, Path(ge=1, le=2_147_483_647)]

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class CsrfError(Exception):
    """A state-changing request without the right CSRF token."""


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return None


def session_of(request: Request, study: Study) -> SessionInfo:
    """The live session of the request (cookie or bearer token); else SessionExpiredError."""
    cached = getattr(request.state, "session_info", None)
    if cached is not None:
        return cached
    token = bearer_token(request) or request.cookies.get(SESSION_COOKIE)
    info = resume_session(study, token)
    request.state.session_info = info
    request.state.via_bearer = bearer_token(request) is not None
    return info


def same_token(given: str | None, expected: str | None) -> bool:
    return bool(given) and bool(expected) and hmac.compare_digest(str(given), str(expected))


def check_csrf(request: Request, info: SessionInfo, form_token: str | None = None) -> None:
    """Refuse a state-changing request whose CSRF token is missing or wrong."""
    if request.method in SAFE_METHODS or getattr(request.state, "via_bearer", False):
        return
    given = form_token or request.headers.get(CSRF_HEADER)
    if not same_token(given, info.csrf_token):
        raise CsrfError("the request's CSRF token is missing or wrong: reload the page")


def set_session_cookie(response: Response, token: str, secure: bool) -> None:
    response.set_cookie(
        SESSION_COOKIE, token, httponly=True, samesite="strict", secure=secure, path="/"
    )


def clear_session_cookie(response: Response, secure: bool) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=secure
    )


def login_csrf(request: Request) -> str:
    """The login form's double-submit token (the cookie's, or a new one)."""
    return request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)


def set_login_csrf(response: Response, token: str, secure: bool) -> None:
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=secure, path="/login"
    )


def client_of(request: Request) -> str:
    host = request.client.host if request.client else "?"
    agent = request.headers.get("user-agent", "")[:120]
    return f"{host} {agent}".strip()


__all__ = [
    "CSRF_FIELD",
    "CsrfError",
    "SESSION_COOKIE",
    "SECURITY_HEADERS",
    "SessionExpiredError",
    "check_csrf",
    "session_of",
]
