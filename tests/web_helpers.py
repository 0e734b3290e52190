"""Helpers of the web tests: a test client of the application and signing in through the
login page (its CSRF double-submit token included)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from conduct_fixtures import PASSWORD
from oncotrial.conduct import Study
from oncotrial.web import create_app

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def client(study: Study) -> TestClient:
    return TestClient(create_app(study), follow_redirects=False)


def login(web: TestClient, username: str, password: str = PASSWORD) -> str:
    """Sign in through the page; the session's CSRF token (read from the next page)."""
    page = web.get("/login")
    token = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
    response = web.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}
    )
    assert response.status_code == 303, response.text
    return csrf_of(web)


def csrf_of(web: TestClient) -> str:
    page = web.get("/help/roles")
    match = CSRF.search(page.text)
    assert match, page.text[:500]
    return match.group(1)


def bearer(web: TestClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    response = web.post("/api/session", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}
