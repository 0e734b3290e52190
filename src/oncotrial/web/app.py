"""The ASGI application: server-rendered pages for people, a JSON API (OpenAPI at
``/api/openapi.json``) for machines; both call the same :mod:`oncotrial.conduct` use cases.

FastAPI was chosen over Litestar because its OpenAPI comes from the same pydantic v2 models the
project already uses for its protocol, and schemathesis, Starlette's test client and uvicorn
work with it as they are. Every piece of state (sessions included) is in the study database, so
any number of server processes can serve one study.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from oncotrial.conduct.errors import (
    AuthenticationError,
    ConductError,
    FormRejectedError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    SessionExpiredError,
    StateError,
)
from oncotrial.conduct.study import Study
from oncotrial.store import (
    ConcurrentEditError,
    EditCheckError,
    ReasonRequiredError,
    RecordNotFoundError,
    StoreError,
)
from oncotrial.web.security import SECURITY_HEADERS, CsrfError

HERE = Path(__file__).parent

#: HTTP status of each refusal
STATUS: tuple[tuple[type[Exception], int], ...] = (
    (CsrfError, 403),
    (PermissionDeniedError, 403),
    (NotFoundError, 404),
    (AuthenticationError, 401),
    (SessionExpiredError, 401),
    (ConcurrentEditError, 409),
    (StateError, 409),
    (EditCheckError, 422),
    (ReasonRequiredError, 422),
    (InvalidInputError, 422),
    (RecordNotFoundError, 404),
    (StoreError, 422),
    (ConductError, 400),
)


def status_of(exc: Exception) -> int:
    for kind, code in STATUS:
        if isinstance(exc, kind):
            return code
    return 500


def error_body(exc: Exception) -> dict:
    """The JSON of a refusal: a message and, for edit checks, every finding with its field."""
    body: dict = {"error": type(exc).__name__, "message": str(exc).split("\n")[0]}
    if isinstance(exc, EditCheckError):
        fields = exc.fields if isinstance(exc, FormRejectedError) else [None] * len(exc.findings)
        body["findings"] = [
            {
                "subject": f.usubjid,
                "form": f.domain,
                "field": field or f.field,
                "variable": f.field,
                "rule": f.rule,
                "message": f.message,
                "severity": f.severity,
            }
            for f, field in zip(exc.findings, fields, strict=True)
        ]
    return body


def create_app(study: Study, *, secure_cookies: bool = False) -> FastAPI:
    """The application serving ``study``."""
    from oncotrial.web.api import router as api_router
    from oncotrial.web.api_committee import router as committee_api_router
    from oncotrial.web.pages import router as page_router
    from oncotrial.web.pages_admin import router as admin_router
    from oncotrial.web.pages_committee import router as committee_router
    from oncotrial.web.pages_dashboards import api_router as dashboards_api
    from oncotrial.web.pages_dashboards import router as dashboards_router

    app = FastAPI(
        title=f"oncotrial — {study.protocol.study.title}",
        version="1",
        description="The trial application's JSON API: subjects, forms (SDTM records through "
        "the store's edit checks), queries, review states, e-signatures, audit trail, exports. "
        "Authenticate with POST /api/session and send the token as a Bearer token.",
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.state.study = study
    app.state.secure_cookies = secure_cookies
    app.state.templates = Jinja2Templates(directory=str(HERE / "templates"))
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.include_router(api_router)
    app.include_router(committee_api_router)
    app.include_router(admin_router)
    app.include_router(committee_router)
    app.include_router(dashboards_api)
    app.include_router(dashboards_router)
    app.include_router(page_router)

    @app.middleware("http")
    async def security_headers(request: Request, call_next):  # type: ignore[no-untyped-def]
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            if name == "Cache-Control" and request.url.path.startswith("/static"):
                continue
            response.headers.setdefault(name, value)
        return response

    async def refused(request: Request, exc: Exception) -> Response:
        code = status_of(exc)
        if request.url.path.startswith("/api"):
            return JSONResponse(error_body(exc), status_code=code)
        if isinstance(exc, SessionExpiredError):
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        templates: Jinja2Templates = request.app.state.templates
        return templates.TemplateResponse(
            request,
            "error.html.j2",
            {
                "status": code,
                "message": str(exc),
                "error": error_body(exc),
                "actor": None,
                "study": request.app.state.study,
            },
            status_code=code,
        )

    for kind, _ in STATUS:
        app.add_exception_handler(kind, refused)

    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        if request.url.path.startswith("/api"):
            detail = [
                {"where": [str(p) for p in e.get("loc", ())], "message": str(e.get("msg", ""))}
                for e in exc.errors()
            ]
            body = {"error": "InvalidRequest", "message": "the request does not fit the API"}
            return JSONResponse({**body, "detail": detail}, status_code=422)
        return HTMLResponse("<p>The request does not fit this page.</p>", status_code=422)

    app.add_exception_handler(RequestValidationError, invalid_request)  # type: ignore[arg-type]
    return app
