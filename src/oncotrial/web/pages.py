"""The pages people use: sign in, subjects, forms with their checks, queries, review and
signature, the audit trail of a form, casebooks, exports and accounts.

Plain HTML forms, rendered on the server; every handler turns the request into a call of one
:mod:`oncotrial.conduct` use case and renders its answer (or its refusal) — no clinical rule and
no SQL here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from oncotrial.conduct import accounts, entry, exports, queries, reading, review, sessions, trail
from oncotrial.conduct.errors import AuthenticationError, FormRejectedError
from oncotrial.conduct.forms.model import FormDef
from oncotrial.conduct.roles import ROLE_TITLES, Action, Actor, Role, permission_rows
from oncotrial.conduct.study import Study
from oncotrial.store import EditCheckError
from oncotrial.web.casebook import casebook_html, casebook_pdf
from oncotrial.web.security import (
    CSRF_FIELD,
    LOGIN_CSRF_COOKIE,
    CsrfError,
    RecordId,
    check_csrf,
    clear_session_cookie,
    client_of,
    login_csrf,
    same_token,
    session_of,
    set_login_csrf,
    set_session_cookie,
)

router = APIRouter(include_in_schema=False)


def _study(request: Request) -> Study:
    return request.app.state.study


async def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a (blocking) use case off the event loop."""
    return await run_in_threadpool(fn, *args, **kwargs)


async def _actor(request: Request, form: FormData | None = None) -> tuple[Actor, str]:
    """The signed-in actor and its CSRF token; on a POST the form's token is checked."""
    info = await call(session_of, request, _study(request))
    if request.method == "POST":
        check_csrf(request, info, None if form is None else str(form.get(CSRF_FIELD) or ""))
    return info.actor, info.csrf_token


def render(
    request: Request,
    template: str,
    actor: Actor | None,
    csrf: str | None,
    http_status: int = 200,
    **context: Any,
) -> HTMLResponse:
    study = _study(request)
    return request.app.state.templates.TemplateResponse(
        request,
        template,
        {
            "actor": actor,
            "csrf": csrf,
            "study": study,
            "role_title": ROLE_TITLES.get(actor.role) if actor else None,
            "may": (lambda action: actor is not None and actor.may(Action[action])),
            **context,
        },
        status_code=http_status,
    )


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# ---------------------------------------------------------------------------------------------
# signing in and out


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str = "/") -> Response:
    token = login_csrf(request)
    response = render(request, "login.html.j2", None, None, login_token=token, next=next)
    set_login_csrf(response, token, request.app.state.secure_cookies)
    return response


@router.post("/login")
async def login(request: Request) -> Response:
    form = await request.form()
    study = _study(request)
    if not same_token(str(form.get(CSRF_FIELD) or ""), request.cookies.get(LOGIN_CSRF_COOKIE)):
        raise CsrfError("the sign-in form's CSRF token is missing or wrong: reload the page")
    username = str(form.get("username") or "").strip()
    password = str(form.get("password") or "")
    target = str(form.get("next") or "/")
    if not target.startswith("/") or target.startswith("//"):
        target = "/"
    try:
        actor = await call(accounts.authenticate, study, username, password, client_of(request))
    except AuthenticationError as exc:
        token = login_csrf(request)
        return render(
            request,
            "login.html.j2",
            None,
            None,
            http_status=401,
            login_token=token,
            next=target,
            error=str(exc),
            username=username,
        )
    previous = request.cookies.get("oncotrial_session")
    info = await call(sessions.start_session, study, actor, client_of(request), previous)
    response = redirect(target)
    set_session_cookie(response, info.token, request.app.state.secure_cookies)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    form = await request.form()
    await _actor(request, form)
    await call(sessions.end_session, _study(request), request.cookies.get("oncotrial_session"))
    response = redirect("/login")
    clear_session_cookie(response, request.app.state.secure_cookies)
    return response


# ---------------------------------------------------------------------------------------------
# subjects


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, site: str | None = None) -> Response:
    actor, csrf = await _actor(request)
    study = _study(request)
    if actor.role is Role.admin:
        return redirect("/admin/users")
    subjects = await call(reading.list_subjects, study, actor, site or None)
    sites = await call(accounts.list_sites, study, actor)
    open_queries = []
    if actor.may(Action.list_queries):
        open_queries = await call(queries.list_queries, study, actor, status="open")
    return render(
        request,
        "home.html.j2",
        actor,
        csrf,
        subjects=subjects,
        sites=sites,
        site=site,
        open_queries=len(open_queries),
    )


@router.get("/subjects/new", response_class=HTMLResponse)
async def new_subject(request: Request) -> Response:
    actor, csrf = await _actor(request)
    study = _study(request)
    sites = [s for s in await call(accounts.list_sites, study, actor) if actor.sees_site(s.code)]
    form = study.form("SCREEN")
    return render(
        request, "screen.html.j2", actor, csrf, form=form, values={}, errors={}, sites=sites
    )


@router.post("/subjects")
async def screen_subject(request: Request) -> Response:
    raw = await request.form()
    actor, csrf = await _actor(request, raw)
    study = _study(request)
    form = study.form("SCREEN")
    values = form_values(form, raw)
    try:
        result = await call(entry.screen, study, actor, values)
    except EditCheckError as exc:
        sites = await call(accounts.list_sites, study, actor)
        return render(
            request,
            "screen.html.j2",
            actor,
            csrf,
            http_status=422,
            form=form,
            values=values,
            errors=field_errors(exc),
            sites=sites,
        )
    return redirect(f"/subjects/{quote(result.usubjid)}")


@router.get("/subjects/{usubjid}", response_class=HTMLResponse)
async def subject_page(request: Request, usubjid: str) -> Response:
    actor, csrf = await _actor(request)
    study = _study(request)
    summary = await call(reading.subject_summary, study, actor, usubjid)
    forms = await call(reading.subject_forms, study, actor, usubjid)
    subject_queries = await call(queries.list_queries, study, actor, usubjid=usubjid)
    saved = {(f.form) for f in forms}
    addable = [
        f
        for f in study.forms.values()
        if f.code != "SCREEN" and (f.repeating or f.code not in saved)
    ]
    return render(
        request,
        "subject.html.j2",
        actor,
        csrf,
        subject=summary,
        forms=forms,
        addable=addable,
        queries=subject_queries,
    )


# ---------------------------------------------------------------------------------------------
# forms


def form_values(form: FormDef, raw: FormData) -> dict[str, Any]:
    """The posted form as the use case takes it: fields by name, group rows from
    ``<group>-<row>-<field>`` inputs."""
    values: dict[str, Any] = {f.name: raw.get(f.name) for f in form.fields}
    for group in form.groups:
        rows = []
        for index in range(max(group.rows, _posted_rows(raw, group.name))):
            row = {f.name: raw.get(f"{group.name}-{index}-{f.name}") for f in group.fields}
            rows.append(row)
        values[group.name] = rows
    return values


def _posted_rows(raw: FormData, group: str) -> int:
    indices = [
        int(key.split("-")[1])
        for key in raw
        if key.startswith(f"{group}-") and key.split("-")[1].isdigit()
    ]
    return max(indices, default=-1) + 1


def field_errors(exc: EditCheckError) -> dict[str, list[str]]:
    if isinstance(exc, FormRejectedError):
        return exc.by_field()
    return {"": [str(f) for f in exc.findings]}


@router.get("/subjects/{usubjid}/forms/{code}/new", response_class=HTMLResponse)
async def new_form(request: Request, usubjid: str, code: str) -> Response:
    actor, csrf = await _actor(request)
    study = _study(request)
    form = study.form(code)
    summary = await call(reading.subject_summary, study, actor, usubjid)
    values = await call(reading.prefill, study, actor, usubjid, code)
    return render(
        request,
        "form.html.j2",
        actor,
        csrf,
        form=form,
        subject=summary,
        values=values,
        errors={},
        saved=None,
        computed={},
        cohorts=await call(reading.cohort_choices, study, actor),
    )


@router.post("/subjects/{usubjid}/forms/{code}")
async def save_new_form(request: Request, usubjid: str, code: str) -> Response:
    raw = await request.form()
    actor, csrf = await _actor(request, raw)
    study = _study(request)
    form = study.form(code)
    values = form_values(form, raw)
    try:
        result = await call(entry.save_form, study, actor, usubjid, code, values)
    except EditCheckError as exc:
        summary = await call(reading.subject_summary, study, actor, usubjid)
        return render(
            request,
            "form.html.j2",
            actor,
            csrf,
            http_status=422,
            form=form,
            subject=summary,
            values=values,
            errors=field_errors(exc),
            saved=None,
            computed={},
            cohorts=await call(reading.cohort_choices, study, actor),
        )
    return redirect(_form_url(usubjid, code, result.instance, saved=True))


def _form_url(usubjid: str, code: str, instance: str, saved: bool = False) -> str:
    url = f"/subjects/{quote(usubjid)}/forms/{quote(code)}/{quote(instance)}"
    return url + ("?saved=1" if saved else "")


async def _form_page(
    request: Request,
    actor: Actor,
    csrf: str,
    usubjid: str,
    code: str,
    instance: str,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, list[str]] | None = None,
    http_status: int = 200,
    message: str | None = None,
) -> Response:
    study = _study(request)
    saved = await call(reading.get_form, study, actor, usubjid, code, instance)
    summary = await call(reading.subject_summary, study, actor, usubjid)
    form_queries = await call(queries.list_queries, study, actor, form_entry_id=saved.id)
    signed = await call(review.signatures, study, actor, saved.id)
    computed = await call(reading.computed_for, study, actor, saved.id)
    return render(
        request,
        "form.html.j2",
        actor,
        csrf,
        http_status=http_status,
        form=study.form(code),
        subject=summary,
        values=values if values is not None else saved.values,
        errors=errors or {},
        saved=saved,
        queries=form_queries,
        signatures=signed,
        computed=computed,
        message=message,
        cohorts=[],
    )


@router.get("/subjects/{usubjid}/forms/{code}/{instance}", response_class=HTMLResponse)
async def form_page(
    request: Request, usubjid: str, code: str, instance: str, saved: int = 0
) -> Response:
    actor, csrf = await _actor(request)
    return await _form_page(
        request, actor, csrf, usubjid, code, instance, message="Saved." if saved else None
    )


@router.post("/subjects/{usubjid}/forms/{code}/{instance}")
async def save_form_edit(request: Request, usubjid: str, code: str, instance: str) -> Response:
    raw = await request.form()
    actor, csrf = await _actor(request, raw)
    study = _study(request)
    form = study.form(code)
    values = form_values(form, raw)
    version = raw.get("row_version")
    try:
        await call(
            entry.save_form,
            study,
            actor,
            usubjid,
            code,
            values,
            instance=instance,
            reason=str(raw.get("reason") or ""),
            expected_version=int(str(version)) if version and str(version).isdigit() else None,
        )
    except EditCheckError as exc:
        return await _form_page(
            request,
            actor,
            csrf,
            usubjid,
            code,
            instance,
            values=values,
            errors=field_errors(exc),
            http_status=422,
        )
    except ValueError as exc:
        return await _form_page(
            request,
            actor,
            csrf,
            usubjid,
            code,
            instance,
            values=values,
            errors={"reason": [str(exc)]},
            http_status=422,
        )
    return redirect(_form_url(usubjid, code, instance, saved=True))


@router.post("/entries/{entry_id}/review")
async def review_form(request: Request, entry_id: RecordId) -> Response:
    raw = await request.form()
    actor, _ = await _actor(request, raw)
    study = _study(request)
    await call(
        review.transition,
        study,
        actor,
        entry_id,
        str(raw.get("action") or ""),
        reason=str(raw.get("reason") or "") or None,
    )
    saved = await call(reading.get_entry, study, actor, entry_id)
    return redirect(_form_url(saved.usubjid, saved.form, saved.instance))


@router.post("/entries/{entry_id}/sign")
async def sign_form(request: Request, entry_id: RecordId) -> Response:
    raw = await request.form()
    actor, csrf = await _actor(request, raw)
    study = _study(request)
    saved = await call(reading.get_entry, study, actor, entry_id)
    try:
        await call(review.sign, study, actor, entry_id, str(raw.get("password") or ""))
    except AuthenticationError as exc:
        return await _form_page(
            request,
            actor,
            csrf,
            saved.usubjid,
            saved.form,
            saved.instance,
            errors={"password": [str(exc)]},
            http_status=401,
        )
    return redirect(_form_url(saved.usubjid, saved.form, saved.instance))


@router.get("/entries/{entry_id}/audit", response_class=HTMLResponse)
async def audit_page(request: Request, entry_id: RecordId) -> Response:
    actor, csrf = await _actor(request)
    study = _study(request)
    saved = await call(reading.get_entry, study, actor, entry_id)
    rows = await call(trail.form_trail, study, actor, entry_id)
    return render(request, "trail.html.j2", actor, csrf, saved=saved, rows=rows)


# ---------------------------------------------------------------------------------------------
# queries


@router.post("/entries/{entry_id}/queries")
async def raise_query(request: Request, entry_id: RecordId) -> Response:
    raw = await request.form()
    actor, _ = await _actor(request, raw)
    study = _study(request)
    await call(
        queries.open_query,
        study,
        actor,
        entry_id,
        str(raw.get("field") or ""),
        str(raw.get("message") or ""),
    )
    saved = await call(reading.get_entry, study, actor, entry_id)
    return redirect(_form_url(saved.usubjid, saved.form, saved.instance))


@router.post("/queries/{query_id}/{action}")
async def act_on_query(request: Request, query_id: RecordId, action: str) -> Response:
    raw = await request.form()
    actor, _ = await _actor(request, raw)
    study = _study(request)
    text = str(raw.get("text") or "")
    if action == "answer":
        info = await call(queries.answer_query, study, actor, query_id, text)
    elif action in ("close", "reopen"):
        info = await call(
            queries.close_query, study, actor, query_id, text, reopen=action == "reopen"
        )
    else:
        return HTMLResponse("unknown query action", status_code=404)
    back = str(raw.get("back") or "")
    if back.startswith("/") and not back.startswith("//"):
        return redirect(back)
    return redirect(_form_url(info.usubjid, info.form, info.instance))


@router.get("/queries", response_class=HTMLResponse)
async def query_list(
    request: Request, status: str | None = "open", site: str | None = None
) -> Response:
    actor, csrf = await _actor(request)
    study = _study(request)
    rows = await call(queries.list_queries, study, actor, status=status or None, site=site or None)
    sites = await call(accounts.list_sites, study, actor)
    return render(
        request, "queries.html.j2", actor, csrf, rows=rows, status=status, site=site, sites=sites
    )


# ---------------------------------------------------------------------------------------------
# data out


@router.get("/subjects/{usubjid}/casebook")
async def casebook(request: Request, usubjid: str, pdf: int = 0) -> Response:
    actor, _ = await _actor(request)
    study = _study(request)
    if pdf:
        data = await call(casebook_pdf, study, actor, usubjid)
        return Response(
            data,
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="casebook-{usubjid}.pdf"'},
        )
    html = await call(casebook_html, study, actor, usubjid)
    return HTMLResponse(html)


@router.get("/exports", response_class=HTMLResponse)
async def exports_page(request: Request) -> Response:
    actor, csrf = await _actor(request)
    return render(request, "exports.html.j2", actor, csrf)


@router.get("/exports/{name}")
async def export_file(request: Request, name: str) -> Response:
    actor, _ = await _actor(request)
    study = _study(request)
    data, media, filename = await call(exports.export_file, study, actor, name)
    return Response(
        data,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# ---------------------------------------------------------------------------------------------
# accounts and help


@router.get("/admin/users", response_class=HTMLResponse)
async def users_page(request: Request) -> Response:
    actor, csrf = await _actor(request)
    study = _study(request)
    users = await call(accounts.list_users, study, actor)
    sites = await call(accounts.list_sites, study, actor)
    events = await call(accounts.access_events, study, actor, 50)
    return render(
        request,
        "users.html.j2",
        actor,
        csrf,
        users=users,
        sites=sites,
        events=events,
        roles=list(Role),
        titles=ROLE_TITLES,
    )


@router.post("/admin/users")
async def add_user(request: Request) -> Response:
    raw = await request.form()
    actor, _ = await _actor(request, raw)
    await call(
        accounts.add_user,
        _study(request),
        actor,
        str(raw.get("username") or ""),
        str(raw.get("role") or ""),
        str(raw.get("password") or ""),
        full_name=str(raw.get("full_name") or ""),
        sites=[str(s) for s in raw.getlist("sites")],
    )
    return redirect("/admin/users")


@router.post("/admin/users/{username}/{action}")
async def change_user(request: Request, username: str, action: str) -> Response:
    raw = await request.form()
    actor, _ = await _actor(request, raw)
    study = _study(request)
    reason = str(raw.get("reason") or "")
    if action == "role":
        await call(
            accounts.set_role,
            study,
            actor,
            username,
            str(raw.get("role") or ""),
            reason,
            sites=[str(s) for s in raw.getlist("sites")] or None,
        )
    elif action in ("disable", "enable"):
        await call(accounts.set_active, study, actor, username, action == "enable", reason)
    else:
        return HTMLResponse("unknown account action", status_code=404)
    return redirect("/admin/users")


@router.get("/help/roles", response_class=HTMLResponse)
async def roles_page(request: Request) -> Response:
    actor, csrf = await _actor(request)
    return render(
        request,
        "roles.html.j2",
        actor,
        csrf,
        rows=permission_rows(),
        titles=[ROLE_TITLES[r] for r in Role],
    )
