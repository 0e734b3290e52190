"""The pages around data entry: signing in and out, casebooks and exports, accounts, and the
roles table."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from oncotrial.conduct import accounts, exports, sessions
from oncotrial.conduct.errors import AuthenticationError
from oncotrial.conduct.roles import ROLE_TITLES, Role, permission_rows
from oncotrial.web.casebook import casebook_html, casebook_pdf
from oncotrial.web.rendering import call, redirect, render, signed_in, study_of
from oncotrial.web.security import (
    CSRF_FIELD,
    LOGIN_CSRF_COOKIE,
    CsrfError,
    clear_session_cookie,
    client_of,
    login_csrf,
    same_token,
    set_login_csrf,
    set_session_cookie,
)

router = APIRouter(include_in_schema=False)

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
    study = study_of(request)
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
    await signed_in(request, form)
    await call(sessions.end_session, study_of(request), request.cookies.get("oncotrial_session"))
    response = redirect("/login")
    clear_session_cookie(response, request.app.state.secure_cookies)
    return response


# ---------------------------------------------------------------------------------------------
# data out


@router.get("/subjects/{usubjid}/casebook")
async def casebook(request: Request, usubjid: str, pdf: int = 0) -> Response:
    actor, _ = await signed_in(request)
    study = study_of(request)
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
    actor, csrf = await signed_in(request)
    return render(request, "exports.html.j2", actor, csrf)


@router.get("/exports/{name}")
async def export_file(request: Request, name: str) -> Response:
    actor, _ = await signed_in(request)
    study = study_of(request)
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
    actor, csrf = await signed_in(request)
    study = study_of(request)
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
    actor, _ = await signed_in(request, raw)
    await call(
        accounts.add_user,
        study_of(request),
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
    actor, _ = await signed_in(request, raw)
    study = study_of(request)
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
    actor, csrf = await signed_in(request)
    return render(
        request,
        "roles.html.j2",
        actor,
        csrf,
        rows=permission_rows(),
        titles=[ROLE_TITLES[r] for r in Role],
    )
