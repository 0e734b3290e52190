"""The pages of data entry and review: subjects, screening, forms with their checks, review
and signature, the audit trail of a form, queries.

Plain HTML forms, rendered on the server; every handler turns the request into a call of one
:mod:`oncotrial.conduct` use case and renders its answer (or its refusal) — no clinical rule and
no SQL here.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from oncotrial.conduct import accounts, entry, queries, reading, review, trail
from oncotrial.conduct.errors import AuthenticationError, FormRejectedError
from oncotrial.conduct.forms.model import FormDef
from oncotrial.conduct.roles import Action, Actor, Role
from oncotrial.store import EditCheckError
from oncotrial.web.rendering import call, redirect, render, signed_in, study_of
from oncotrial.web.security import (
    RecordId,
)

router = APIRouter(include_in_schema=False)

# ---------------------------------------------------------------------------------------------
# subjects


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, site: str | None = None) -> Response:
    actor, csrf = await signed_in(request)
    study = study_of(request)
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
    actor, csrf = await signed_in(request)
    study = study_of(request)
    sites = [s for s in await call(accounts.list_sites, study, actor) if actor.sees_site(s.code)]
    form = study.form("SCREEN")
    return render(
        request, "screen.html.j2", actor, csrf, form=form, values={}, errors={}, sites=sites
    )


@router.post("/subjects")
async def screen_subject(request: Request) -> Response:
    raw = await request.form()
    actor, csrf = await signed_in(request, raw)
    study = study_of(request)
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
    actor, csrf = await signed_in(request)
    study = study_of(request)
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
    actor, csrf = await signed_in(request)
    study = study_of(request)
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
    actor, csrf = await signed_in(request, raw)
    study = study_of(request)
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
    study = study_of(request)
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
    actor, csrf = await signed_in(request)
    return await _form_page(
        request, actor, csrf, usubjid, code, instance, message="Saved." if saved else None
    )


@router.post("/subjects/{usubjid}/forms/{code}/{instance}")
async def save_form_edit(request: Request, usubjid: str, code: str, instance: str) -> Response:
    raw = await request.form()
    actor, csrf = await signed_in(request, raw)
    study = study_of(request)
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
    actor, _ = await signed_in(request, raw)
    study = study_of(request)
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
    actor, csrf = await signed_in(request, raw)
    study = study_of(request)
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
    actor, csrf = await signed_in(request)
    study = study_of(request)
    saved = await call(reading.get_entry, study, actor, entry_id)
    rows = await call(trail.form_trail, study, actor, entry_id)
    return render(request, "trail.html.j2", actor, csrf, saved=saved, rows=rows)


# ---------------------------------------------------------------------------------------------
# queries


@router.post("/entries/{entry_id}/queries")
async def raise_query(request: Request, entry_id: RecordId) -> Response:
    raw = await request.form()
    actor, _ = await signed_in(request, raw)
    study = study_of(request)
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
    actor, _ = await signed_in(request, raw)
    study = study_of(request)
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
    actor, csrf = await signed_in(request)
    study = study_of(request)
    rows = await call(queries.list_queries, study, actor, status=status or None, site=site or None)
    sites = await call(accounts.list_sites, study, actor)
    return render(
        request, "queries.html.j2", actor, csrf, rows=rows, status=status, site=site, sites=sites
    )
