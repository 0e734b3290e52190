"""The JSON API (described by OpenAPI at ``/api/openapi.json``): the same use cases as the pages,
for machines. Sign in with ``POST /api/session``; send the token as ``Authorization: Bearer``
(or use the session cookie with the ``X-CSRF-Token`` header on every state-changing call).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from oncotrial.conduct import accounts, entry, exports, queries, reading, review, sessions, trail
from oncotrial.conduct.entry import SaveResult
from oncotrial.conduct.queries import QueryInfo
from oncotrial.conduct.reading import EntryInfo, SubjectSummary
from oncotrial.conduct.review import SignatureInfo
from oncotrial.conduct.roles import ROLE_TITLES, Actor
from oncotrial.conduct.study import Study
from oncotrial.conduct.trail import TrailRow
from oncotrial.web.security import RecordId, bearer_token, check_csrf, client_of, session_of

router = APIRouter(prefix="/api", tags=["trial"])

FormValue = str | list[dict[str, str | None]] | None
ERRORS = {
    401: {"description": "not signed in, or the session ended"},
    403: {"description": "the role or site does not allow it, or the CSRF token is missing"},
    404: {"description": "no such record the caller may see"},
    409: {"description": "the record's state or version does not allow it"},
    422: {"description": "refused by a check (findings name form, field and rule)"},
}


def _study(request: Request) -> Study:
    return request.app.state.study


def current_actor(request: Request) -> Actor:
    """The signed-in actor; a state-changing call with the session cookie needs the CSRF
    header."""
    info = session_of(request, _study(request))
    check_csrf(request, info)
    return info.actor


Signed = Depends(current_actor)


class Credentials(BaseModel):
    username: str = Field(max_length=200)
    password: str = Field(max_length=1000)


class UserOut(BaseModel):
    username: str
    full_name: str
    role: str
    role_title: str
    sites: list[str]


class SessionOut(BaseModel):
    token: str
    csrf_token: str
    user: UserOut


class FieldOut(BaseModel):
    name: str
    label: str
    kind: str
    required: bool
    choices: list[list[str]]
    unit: str


class GroupOut(BaseModel):
    name: str
    label: str
    fields: list[FieldOut]


class FormOut(BaseModel):
    code: str
    title: str
    repeating: bool
    description: str
    fields: list[FieldOut]
    groups: list[GroupOut]


class SiteOut(BaseModel):
    code: str
    name: str | None
    country: str | None


class FormValues(BaseModel):
    values: dict[str, FormValue] = Field(default_factory=dict)


class FormChange(FormValues):
    reason: str = Field(min_length=1, max_length=2000)
    row_version: int | None = None


class ReviewIn(BaseModel):
    action: Literal["complete", "verify", "lock", "unlock"]
    reason: str | None = Field(default=None, max_length=2000)
    row_version: int | None = None


class ReviewOut(BaseModel):
    status: str


class SignIn(BaseModel):
    password: str = Field(max_length=1000)


class QueryIn(BaseModel):
    field: str = Field(default="", max_length=100)
    message: str = Field(min_length=1, max_length=4000)


class QueryText(BaseModel):
    text: str = Field(min_length=1, max_length=4000)
    row_version: int | None = None
    reopen: bool = False


def _user(actor: Actor) -> UserOut:
    return UserOut(
        username=actor.username,
        full_name=actor.full_name,
        role=actor.role.value,
        role_title=ROLE_TITLES[actor.role],
        sites=sorted(actor.sites),
    )


# ---------------------------------------------------------------------------------------------


@router.post("/session", response_model=SessionOut, responses={401: ERRORS[401]})
def sign_in(credentials: Credentials, request: Request) -> SessionOut:
    """Sign in; the token authenticates later calls (``Authorization: Bearer <token>``)."""
    study = _study(request)
    actor = accounts.authenticate(
        study, credentials.username, credentials.password, client_of(request)
    )
    info = sessions.start_session(study, actor, client_of(request), bearer_token(request))
    return SessionOut(token=info.token, csrf_token=info.csrf_token, user=_user(actor))


@router.delete("/session", status_code=204, responses={401: ERRORS[401]})
def sign_out(request: Request, actor: Actor = Signed) -> Response:
    """End the session."""
    token = bearer_token(request) or request.cookies.get("oncotrial_session")
    sessions.end_session(_study(request), token)
    return Response(status_code=204)


@router.get("/me", response_model=UserOut, responses={401: ERRORS[401]})
def me(actor: Actor = Signed) -> UserOut:
    """Who the session belongs to."""
    return _user(actor)


@router.get("/forms", response_model=list[FormOut], responses={401: ERRORS[401]})
def forms(request: Request, actor: Actor = Signed) -> list[FormOut]:
    """The study's case report forms: fields, choices, repeating groups."""

    def field(f: Any) -> FieldOut:
        return FieldOut(
            name=f.name,
            label=f.label,
            kind=f.kind,
            required=f.required,
            choices=[list(c) for c in f.choices],
            unit=f.unit,
        )

    return [
        FormOut(
            code=form.code,
            title=form.title,
            repeating=form.repeating,
            description=form.description,
            fields=[field(f) for f in form.fields],
            groups=[
                GroupOut(name=g.name, label=g.label, fields=[field(f) for f in g.fields])
                for g in form.groups
            ],
        )
        for form in _study(request).forms.values()
    ]


@router.get("/sites", response_model=list[SiteOut], responses={401: ERRORS[401]})
def sites(request: Request, actor: Actor = Signed) -> list[SiteOut]:
    """The sites the caller may see."""
    return [
        SiteOut(code=s.code, name=s.name, country=s.country)
        for s in accounts.list_sites(_study(request), actor)
    ]


@router.get("/subjects", response_model=list[SubjectSummary], responses=ERRORS)
def subjects(
    request: Request, site: str | None = None, actor: Actor = Signed
) -> list[SubjectSummary]:
    """The subjects the caller may see (optionally of one site)."""
    return reading.list_subjects(_study(request), actor, site)


@router.post("/subjects", response_model=SaveResult, status_code=201, responses=ERRORS)
def screen(body: FormValues, request: Request, actor: Actor = Signed) -> SaveResult:
    """Screen a new subject (the SCREEN form's values, ``site`` included)."""
    return entry.screen(_study(request), actor, body.values)


@router.get("/subjects/{usubjid}", response_model=SubjectSummary, responses=ERRORS)
def subject(usubjid: str, request: Request, actor: Actor = Signed) -> SubjectSummary:
    return reading.subject_summary(_study(request), actor, usubjid)


@router.get("/subjects/{usubjid}/forms", response_model=list[EntryInfo], responses=ERRORS)
def subject_forms(usubjid: str, request: Request, actor: Actor = Signed) -> list[EntryInfo]:
    return reading.subject_forms(_study(request), actor, usubjid)


@router.post(
    "/subjects/{usubjid}/forms/{code}", response_model=SaveResult, status_code=201, responses=ERRORS
)
def save_new(
    usubjid: str, code: str, body: FormValues, request: Request, actor: Actor = Signed
) -> SaveResult:
    """Save a new form of the subject."""
    return entry.save_form(_study(request), actor, usubjid, code, body.values)


@router.get(
    "/subjects/{usubjid}/forms/{code}/{instance}", response_model=EntryInfo, responses=ERRORS
)
def get_form(
    usubjid: str, code: str, instance: str, request: Request, actor: Actor = Signed
) -> EntryInfo:
    return reading.get_form(_study(request), actor, usubjid, code, instance)


@router.put(
    "/subjects/{usubjid}/forms/{code}/{instance}", response_model=SaveResult, responses=ERRORS
)
def change_form(
    usubjid: str,
    code: str,
    instance: str,
    body: FormChange,
    request: Request,
    actor: Actor = Signed,
) -> SaveResult:
    """Change a saved form (a reason is required; ``row_version`` guards against lost
    updates)."""
    return entry.save_form(
        _study(request),
        actor,
        usubjid,
        code,
        body.values,
        instance=instance,
        reason=body.reason,
        expected_version=body.row_version,
    )


@router.post("/entries/{entry_id}/review", response_model=ReviewOut, responses=ERRORS)
def review_form(
    entry_id: RecordId, body: ReviewIn, request: Request, actor: Actor = Signed
) -> ReviewOut:
    """Mark complete, source-verify, lock or unlock a form."""
    status = review.transition(
        _study(request),
        actor,
        entry_id,
        body.action,
        reason=body.reason,
        expected_version=body.row_version,
    )
    return ReviewOut(status=status)


@router.post("/entries/{entry_id}/signature", response_model=SignatureInfo, responses=ERRORS)
def sign(
    entry_id: RecordId, body: SignIn, request: Request, actor: Actor = Signed
) -> SignatureInfo:
    """The investigator signs a locked form (the password is asked again)."""
    return review.sign(_study(request), actor, entry_id, body.password)


@router.get("/entries/{entry_id}/signatures", response_model=list[SignatureInfo], responses=ERRORS)
def signatures(entry_id: RecordId, request: Request, actor: Actor = Signed) -> list[SignatureInfo]:
    return review.signatures(_study(request), actor, entry_id)


@router.get("/entries/{entry_id}/audit", response_model=list[TrailRow], responses=ERRORS)
def audit(entry_id: RecordId, request: Request, actor: Actor = Signed) -> list[TrailRow]:
    """The audit trail of a form (its records, review states, queries, signatures)."""
    return trail.form_trail(_study(request), actor, entry_id)


@router.get("/queries", response_model=list[QueryInfo], responses=ERRORS)
def query_list(
    request: Request,
    status: Literal["open", "answered", "closed"] | None = None,
    site: str | None = None,
    actor: Actor = Signed,
) -> list[QueryInfo]:
    """Queries by site and age (oldest first)."""
    return queries.list_queries(_study(request), actor, status=status, site=site)


@router.post(
    "/entries/{entry_id}/queries", response_model=QueryInfo, status_code=201, responses=ERRORS
)
def open_query(
    entry_id: RecordId, body: QueryIn, request: Request, actor: Actor = Signed
) -> QueryInfo:
    """Open a query on a field of a form (data managers, monitors)."""
    return queries.open_query(_study(request), actor, entry_id, body.field, body.message)


@router.post("/queries/{query_id}/answer", response_model=QueryInfo, responses=ERRORS)
def answer(
    query_id: RecordId, body: QueryText, request: Request, actor: Actor = Signed
) -> QueryInfo:
    return queries.answer_query(_study(request), actor, query_id, body.text, body.row_version)


@router.post("/queries/{query_id}/close", response_model=QueryInfo, responses=ERRORS)
def close(
    query_id: RecordId, body: QueryText, request: Request, actor: Actor = Signed
) -> QueryInfo:
    return queries.close_query(
        _study(request),
        actor,
        query_id,
        body.text,
        reopen=body.reopen,
        expected_version=body.row_version,
    )


@router.get(
    "/exports/{name}",
    responses={**ERRORS, 200: {"content": {"application/octet-stream": {}}}},
    response_class=Response,
)
def export(
    name: Literal["sdtm.zip", "odm.xml", "audit.csv"], request: Request, actor: Actor = Signed
) -> Response:
    """SDTM (zip of CSV), CDISC ODM 1.3.2 XML, or the audit trail (CSV); audited."""
    data, media, filename = exports.export_file(_study(request), actor, name)
    return Response(
        data,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
