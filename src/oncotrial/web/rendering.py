"""What every page handler shares: the study, the signed-in actor (with the CSRF check of a
POST), running a blocking use case off the event loop, rendering a template, redirecting."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from oncotrial.conduct.roles import ROLE_TITLES, Action, Actor
from oncotrial.conduct.study import Study
from oncotrial.web.security import (
    CSRF_FIELD,
    check_csrf,
    session_of,
)


def study_of(request: Request) -> Study:
    return request.app.state.study


async def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a (blocking) use case off the event loop."""
    return await run_in_threadpool(fn, *args, **kwargs)


async def signed_in(request: Request, form: FormData | None = None) -> tuple[Actor, str]:
    """The signed-in actor and its CSRF token; on a POST the form's token is checked."""
    info = await call(session_of, request, study_of(request))
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
    study = study_of(request)
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
