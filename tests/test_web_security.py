"""Security of the application over HTTP: cookies, CSRF, lockout, session fixation, security
headers, and every route tried across sites and roles (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute
from starlette.routing import Route

from conduct_fixtures import AE_VALUES, PASSWORD, actor, enrolled_subject
from oncotrial.conduct import Study, entry, queries, reading
from oncotrial.conduct.roles import PERMISSIONS, Action, Role
from oncotrial.web import (
    api,
    api_committee,
    pages,
    pages_admin,
    pages_committee,
    pages_dashboards,
)
from oncotrial.web.security import SECURITY_HEADERS
from web_helpers import CSRF, bearer, client, login

pytest_plugins = ["store_fixtures", "conduct_fixtures"]


def test_login_cookie_flags_and_session_fixation(study: Study) -> None:
    web = client(study)
    planted = "attacker-chosen-session-token"
    web.cookies.set("oncotrial_session", planted)
    assert web.get("/").status_code == 303  # a planted token opens nothing
    page = web.get("/login")
    token = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
    response = web.post(
        "/login", data={"username": "crc01", "password": PASSWORD, "csrf_token": token}
    )
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    issued = response.cookies.get("oncotrial_session")
    assert issued and issued != planted
    assert web.get("/").status_code == 200
    other = client(study)
    other.cookies.set("oncotrial_session", planted)
    assert other.get("/").status_code == 303


def test_csrf_token_missing_or_wrong_is_refused(study: Study) -> None:
    web = client(study)
    csrf = login(web, "crc01")
    crc = actor(study, "crc01")
    usubjid = enrolled_subject(study, crc)
    form = {
        "term": "Rash",
        "grade": "2",
        "start": "2025-01-20",
        "serious": "N",
        "rel_donafenib": "POSSIBLY RELATED",
        "rel_toripalimab": "NOT RELATED",
    }
    assert web.post(f"/subjects/{usubjid}/forms/AE", data=form).status_code == 403
    assert (
        web.post(f"/subjects/{usubjid}/forms/AE", data={**form, "csrf_token": "forged"}).status_code
        == 403
    )
    assert web.post("/logout", data={}).status_code == 403
    assert web.post(f"/api/subjects/{usubjid}/forms/AE", json={"values": form}).status_code == 403
    assert (
        web.post(
            f"/api/subjects/{usubjid}/forms/AE",
            json={"values": form},
            headers={"X-CSRF-Token": csrf},
        ).status_code
        == 201
    )
    assert (
        web.post(f"/subjects/{usubjid}/forms/AE", data={**form, "csrf_token": csrf}).status_code
        == 303
    )
    api = client(study)
    assert (
        api.post(
            f"/api/subjects/{usubjid}/forms/AE", json={"values": form}, headers=bearer(api, "crc01")
        ).status_code
        == 201
    )
    fresh = client(study)
    assert fresh.post("/login", data={"username": "crc01", "password": PASSWORD}).status_code == (
        403
    )


def test_lockout_over_the_web_and_no_open_redirect(study: Study) -> None:
    web = client(study)
    for _ in range(study.policy.lockout_failures):
        page = web.get("/login")
        token = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
        refused = web.post(
            "/login", data={"username": "crc02", "password": "wrong password!", "csrf_token": token}
        )
        assert refused.status_code == 401 and "wrong user name or password" in refused.text
    assert (
        web.post("/api/session", json={"username": "crc02", "password": PASSWORD}).status_code
        == 401
    )
    page = web.get("/login")
    token = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
    response = web.post(
        "/login",
        data={
            "username": "dm",
            "password": PASSWORD,
            "csrf_token": token,
            "next": "//evil.example/x",
        },
    )
    assert response.headers["location"] == "/"


def test_security_headers_on_every_page(study: Study) -> None:
    web = client(study)
    for path in ("/login", "/api/openapi.json"):
        response = web.get(path)
        for name, value in SECURITY_HEADERS.items():
            assert response.headers.get(name) == value, (path, name)


# ---------------------------------------------------------------------------------------------
# every route, across sites and roles

#: (method, path) → (the action the route needs, or None for any signed-in user)
ROUTES: dict[tuple[str, str], Action | None] = {
    ("GET", "/login"): None,
    ("POST", "/login"): None,
    ("POST", "/logout"): None,
    ("GET", "/"): Action.view_subjects,
    ("GET", "/subjects/new"): Action.enter_data,
    ("POST", "/subjects"): Action.enter_data,
    ("GET", "/subjects/{usubjid}"): Action.view_subjects,
    ("GET", "/subjects/{usubjid}/forms/{code}/new"): Action.enter_data,
    ("POST", "/subjects/{usubjid}/forms/{code}"): Action.enter_data,
    ("GET", "/subjects/{usubjid}/forms/{code}/{instance}"): Action.view_subjects,
    ("POST", "/subjects/{usubjid}/forms/{code}/{instance}"): Action.enter_data,
    ("POST", "/entries/{entry_id}/review"): Action.mark_complete,
    ("POST", "/entries/{entry_id}/sign"): Action.sign,
    ("GET", "/entries/{entry_id}/audit"): Action.view_audit,
    ("POST", "/entries/{entry_id}/queries"): Action.open_query,
    ("POST", "/queries/{query_id}/{action}"): Action.answer_query,
    ("GET", "/queries"): Action.list_queries,
    ("GET", "/subjects/{usubjid}/casebook"): Action.export_casebook,
    ("GET", "/exports"): None,
    ("GET", "/exports/{name}"): Action.export_data,
    ("GET", "/admin/users"): Action.manage_users,
    ("POST", "/admin/users"): Action.manage_users,
    ("POST", "/admin/users/{username}/{action}"): Action.manage_users,
    ("GET", "/help/roles"): None,
    ("POST", "/api/session"): None,
    ("DELETE", "/api/session"): None,
    ("GET", "/api/me"): None,
    ("GET", "/api/forms"): None,
    ("GET", "/api/sites"): None,
    ("GET", "/api/subjects"): Action.view_subjects,
    ("POST", "/api/subjects"): Action.enter_data,
    ("GET", "/api/subjects/{usubjid}"): Action.view_subjects,
    ("GET", "/api/subjects/{usubjid}/forms"): Action.view_subjects,
    ("POST", "/api/subjects/{usubjid}/forms/{code}"): Action.enter_data,
    ("GET", "/api/subjects/{usubjid}/forms/{code}/{instance}"): Action.view_subjects,
    ("PUT", "/api/subjects/{usubjid}/forms/{code}/{instance}"): Action.enter_data,
    ("POST", "/api/entries/{entry_id}/review"): Action.mark_complete,
    ("POST", "/api/entries/{entry_id}/signature"): Action.sign,
    ("GET", "/api/entries/{entry_id}/signatures"): Action.view_subjects,
    ("GET", "/api/entries/{entry_id}/audit"): Action.view_audit,
    ("GET", "/api/queries"): Action.list_queries,
    ("POST", "/api/entries/{entry_id}/queries"): Action.open_query,
    ("POST", "/api/queries/{query_id}/answer"): Action.answer_query,
    ("POST", "/api/queries/{query_id}/close"): Action.close_query,
    ("GET", "/api/exports/{name}"): Action.export_data,
    ("GET", "/board"): Action.view_phase1,
    ("GET", "/cohorts"): Action.view_phase1,
    ("POST", "/cohorts/reserve"): Action.enter_data,
    ("POST", "/cohorts/first"): Action.propose_decision,
    ("GET", "/meeting"): Action.view_phase1,
    ("POST", "/meeting/propose"): Action.propose_decision,
    ("GET", "/meeting/{decision_id}"): Action.view_phase1,
    ("POST", "/meeting/{decision_id}/choice"): Action.choose_dose,
    ("POST", "/meeting/{decision_id}/sign"): Action.sign_decision,
    ("GET", "/notifications"): Action.view_notifications,
    ("GET", "/api/cohorts"): Action.view_phase1,
    ("POST", "/api/slots"): Action.enter_data,
    ("GET", "/api/board"): Action.view_phase1,
    ("GET", "/api/decisions"): Action.view_phase1,
    ("POST", "/api/decisions"): Action.propose_decision,
    ("POST", "/api/decisions/{decision_id}/choice"): Action.choose_dose,
    ("POST", "/api/decisions/{decision_id}/signature"): Action.sign_decision,
    ("GET", "/api/notifications"): Action.view_notifications,
    ("GET", "/dashboards"): Action.view_dashboards,
    ("GET", "/dashboards/phase1"): Action.view_results,
    ("GET", "/dashboards/efficacy"): Action.view_results,
    ("GET", "/dashboards/figures/{name}"): Action.view_results,
    ("GET", "/api/dashboards/enrolment"): Action.view_dashboards,
    ("GET", "/api/dashboards/results"): Action.view_results,
}
UNCHECKED = {"/static", "/api/openapi.json", "/api/docs", "/api/docs/oauth2-redirect"}


def app_routes(study: Study) -> set[tuple[str, str]]:
    """Every (method, path) the application answers (its own and its routers')."""
    routes = set()
    everything = [
        *client(study).app.routes,
        *api.router.routes,
        *pages.router.routes,
        *pages_admin.router.routes,
        *pages_committee.router.routes,
        *api_committee.router.routes,
        *pages_dashboards.router.routes,
        *pages_dashboards.api_router.routes,
    ]
    for route in everything:
        if isinstance(route, APIRoute | Route) and route.path not in UNCHECKED:
            for method in route.methods or ():
                if method != "HEAD":
                    routes.add((method, route.path))
    return routes


def test_every_route_is_in_the_table(module_study: Study) -> None:
    assert app_routes(module_study) == set(ROUTES)


@pytest.fixture(scope="module")
def other_site(module_study: Study) -> Iterator[dict[str, Any]]:
    """A subject of site 02 with a saved AE and a query on it."""
    study = module_study
    crc02 = actor(study, "crc02")
    usubjid = enrolled_subject(study, crc02, site="02")
    saved = entry.save_form(study, crc02, usubjid, "AE", AE_VALUES)
    query = queries.open_query(study, actor(study, "dm"), saved.entry_id, "grade", "check")
    yield {
        "usubjid": usubjid,
        "entry_id": saved.entry_id,
        "query_id": query.id,
        "instance": saved.instance,
        "row_version": saved.row_version,
    }


def _fill(path: str, target: dict[str, Any]) -> str:
    return (
        path.replace("{usubjid}", target["usubjid"])
        .replace("{code}", "AE")
        .replace("{instance}", target["instance"])
        .replace("{entry_id}", str(target["entry_id"]))
        .replace("{query_id}", str(target["query_id"]))
        .replace("{name}", "odm.xml")
        .replace("{username}", "crc02")
        .replace("{decision_id}", "1")
    )


def _payload(method: str, path: str, target: dict[str, Any], csrf: str) -> dict[str, Any]:
    """A request that would succeed if the caller were allowed (valid values, a reason)."""
    values = AE_VALUES | {"site": target["usubjid"][:2], "consent_date": "2025-01-06"}
    if path.startswith("/api/"):
        bodies: dict[str, Any] = {
            "/api/subjects": {"values": values},
            "/api/subjects/{usubjid}/forms/{code}": {"values": AE_VALUES},
            "/api/subjects/{usubjid}/forms/{code}/{instance}": {
                "values": AE_VALUES | {"grade": "3"},
                "reason": "probe",
                "row_version": target["row_version"],
            },
            "/api/entries/{entry_id}/review": {"action": "complete"},
            "/api/entries/{entry_id}/signature": {"password": PASSWORD},
            "/api/entries/{entry_id}/queries": {"field": "grade", "message": "probe"},
            "/api/queries/{query_id}/answer": {"text": "probe"},
            "/api/queries/{query_id}/close": {"text": "probe"},
            "/api/slots": {"usubjid": target["usubjid"]},
            "/api/decisions/{decision_id}/choice": {"action": "pause", "reason": "probe"},
            "/api/decisions/{decision_id}/signature": {"password": PASSWORD},
        }
        return {"json": bodies.get(path, {}), "headers": {"X-CSRF-Token": csrf}}
    form = {
        "csrf_token": csrf,
        "reason": "probe",
        "text": "probe",
        "message": "probe",
        "action": "complete",
        "field": "grade",
        "password": PASSWORD,
        "row_version": str(target["row_version"]),
        **AE_VALUES,
        "grade": "3",
    }
    return {"data": form}


PROBE_ROLES = ("crc01", "inv01")


@pytest.mark.parametrize("username", PROBE_ROLES)
def test_no_route_reads_or_writes_another_sites_subject(
    module_study: Study, other_site: dict[str, Any], username: str
) -> None:
    """A site-01 user tries every route on site 02's subject, form and query: 0 successes."""
    web = client(module_study)
    csrf = login(web, username)
    successes = []
    for method, path in sorted(ROUTES):
        if path in ("/login", "/logout", "/api/session") or "{username}" in path:
            continue
        url = _fill(path, other_site)
        response = web.request(method, url, **_payload(method, path, other_site, csrf))
        body = response.text
        bound = any(p in path for p in ("{usubjid}", "{entry_id}", "{query_id}"))
        leaked = other_site["usubjid"] in body
        ok = response.status_code < 400
        if ok and (bound or leaked):
            successes.append((method, url, response.status_code))
    assert successes == []
    after = reading.get_entry(module_study, actor(module_study, "dm"), other_site["entry_id"])
    assert after.status == "entered" and after.values["grade"] == AE_VALUES["grade"]


@pytest.fixture(scope="module")
def own_site(module_study: Study) -> Iterator[dict[str, Any]]:
    """A subject of site 01 with a saved AE and a query on it."""
    study = module_study
    crc01 = actor(study, "crc01")
    usubjid = enrolled_subject(study, crc01)
    saved = entry.save_form(study, crc01, usubjid, "AE", AE_VALUES)
    query = queries.open_query(study, actor(study, "dm"), saved.entry_id, "grade", "check")
    yield {
        "usubjid": usubjid,
        "entry_id": saved.entry_id,
        "query_id": query.id,
        "instance": saved.instance,
        "row_version": saved.row_version,
    }


USERS_OF = {
    Role.investigator: "inv01",
    Role.coordinator: "crc01",
    Role.data_manager: "dm",
    Role.monitor: "mon",
    Role.statistician: "stat",
    Role.committee: "dec",
    Role.admin: "adm",
}


@pytest.mark.parametrize("role", list(Role))
def test_each_role_is_refused_what_the_table_does_not_allow(
    module_study: Study, own_site: dict[str, Any], role: Role
) -> None:
    """Every API route bound to an action, on a subject the role's sites include: a role
    without the action gets 403, a role with it never does."""
    web = client(module_study)
    headers = bearer(web, USERS_OF[role])
    checked = 0
    for (method, path), action in sorted(ROUTES.items(), key=lambda kv: kv[0]):
        if action is None or not path.startswith("/api/"):
            continue
        request = _payload(method, path, own_site, "")
        request.pop("headers", None)
        response = web.request(method, _fill(path, own_site), headers=headers, **request)
        checked += 1
        if role in PERMISSIONS[action]:
            assert response.status_code != 403, (role, method, path, response.text)
        else:
            assert response.status_code == 403, (role, method, path, response.status_code)
    assert checked == sum(1 for (_, p), a in ROUTES.items() if a and p.startswith("/api/"))
