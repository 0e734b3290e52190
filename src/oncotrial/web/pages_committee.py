"""The pages of phase I run live: the DLT-window board, cohorts and slot reservation, the
committee meeting (propose, choose, pause, sign) with the decision list, and notifications.

Every handler calls one use case of :mod:`oncotrial.conduct.cohorts`,
:mod:`oncotrial.conduct.committee`, :mod:`oncotrial.conduct.interim` or
:mod:`oncotrial.conduct.notifications` and renders its answer; a refusal is shown on the page it
came from. No clinical rule and no SQL here.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from oncotrial.conduct import board as board_cases
from oncotrial.conduct import cohorts as cohort_cases
from oncotrial.conduct import committee, interim, notifications, reading
from oncotrial.conduct.errors import ConductError, InvalidInputError
from oncotrial.conduct.roles import Action
from oncotrial.store import StoreError
from oncotrial.web.rendering import call, redirect, render, signed_in, study_of
from oncotrial.web.security import RecordId

router = APIRouter(include_in_schema=False)


def _as_of(text: str | None) -> date | None:
    """A page's ``as_of`` (YYYY-MM-DD; empty: today)."""
    if not text:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInputError(f"as of '{text}' is not a date (YYYY-MM-DD)") from None


@router.get("/board", response_class=HTMLResponse)
async def board_page(request: Request, as_of: str | None = None) -> Response:
    actor, csrf = await signed_in(request)
    board = await call(board_cases.dlt_board, study_of(request), actor, _as_of(as_of))
    return render(request, "board.html.j2", actor, csrf, board=board, data=board.to_json())


@router.get("/cohorts", response_class=HTMLResponse)
async def cohorts_page(request: Request, message: str | None = None) -> Response:
    actor, csrf = await signed_in(request)
    return await _cohorts(request, actor, csrf, message=message)


async def _cohorts(
    request: Request,
    actor: Any,
    csrf: str,
    *,
    message: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    study = study_of(request)
    rows = await call(cohort_cases.cohorts, study, actor)
    waiting: list[Any] = []
    if actor.may(Action.enter_data):
        subjects = await call(reading.list_subjects, study, actor)
        waiting = [s for s in subjects if s.cohort is None and s.status == "screening"]
    return render(
        request,
        "cohorts.html.j2",
        actor,
        csrf,
        http_status=status,
        cohorts=rows,
        waiting=waiting,
        message=message,
        error=error,
        today=date.today().isoformat(),
    )


@router.post("/cohorts/reserve")
async def reserve(request: Request) -> Response:
    raw = await request.form()
    actor, csrf = await signed_in(request, raw)
    usubjid = str(raw.get("usubjid") or "")
    try:
        done = await call(
            cohort_cases.reserve_slot,
            study_of(request),
            actor,
            usubjid,
            on=_as_of(str(raw.get("enrol_date") or "")),
        )
    except (ConductError, StoreError) as exc:
        return await _cohorts(request, actor, csrf, error=f"{usubjid}: {exc}", status=409)
    text = f"{done.usubjid}: slot {done.slot} of cohort {done.cohort} reserved at {done.level_name}"
    return redirect(f"/cohorts?message={quote(text)}")


@router.post("/cohorts/first")
async def first_cohort(request: Request) -> Response:
    raw = await request.form()
    actor, _ = await signed_in(request, raw)
    opened = await call(cohort_cases.open_first_cohort, study_of(request), actor)
    text = f"cohort {opened.number} opened at {opened.level_name}"
    return redirect(f"/cohorts?message={quote(text)}")


@router.get("/meeting", response_class=HTMLResponse)
async def meeting_page(request: Request, as_of: str | None = None) -> Response:
    actor, csrf = await signed_in(request)
    study = study_of(request)
    day = _as_of(as_of)
    board = await call(board_cases.dlt_board, study, actor, day)
    return render(
        request,
        "meeting.html.j2",
        actor,
        csrf,
        board=board,
        decisions=board.decisions,
        as_of=board.as_of.isoformat(),
        has_phase2=study.protocol.phase2 is not None,
    )


@router.post("/meeting/propose")
async def propose(request: Request) -> Response:
    raw = await request.form()
    actor, _ = await signed_in(request, raw)
    study = study_of(request)
    day = _as_of(str(raw.get("as_of") or ""))
    if raw.get("phase") == "II":
        made = await call(interim.propose_stage1, study, actor, as_of=day)
    else:
        made = await call(committee.propose_decision, study, actor, as_of=day)
    return redirect(f"/meeting/{made.id}")


@router.get("/meeting/{decision_id}", response_class=HTMLResponse)
async def decision_page(request: Request, decision_id: RecordId) -> Response:
    return await _decision(request, decision_id)


async def _decision(
    request: Request,
    decision_id: int,
    *,
    errors: dict[str, str] | None = None,
    status: int = 200,
    actor_csrf: tuple[Any, str] | None = None,
) -> Response:
    actor, csrf = actor_csrf or await signed_in(request)
    study = study_of(request)
    decision = await call(committee.get_decision, study, actor, decision_id)
    signers = committee.required_signers(study)
    return render(
        request,
        "decision.html.j2",
        actor,
        csrf,
        http_status=status,
        d=decision,
        signers=signers,
        meaning=committee.MEANINGS.get(actor.role.value, ""),
        errors=errors or {},
        levels=study.dose_names.all_short(),
    )


@router.post("/meeting/{decision_id}/choice")
async def choose(request: Request, decision_id: RecordId) -> Response:
    raw = await request.form()
    who = await signed_in(request, raw)
    try:
        await call(
            committee.choose_dose,
            study_of(request),
            who[0],
            decision_id,
            action=str(raw.get("action") or ""),
            dose=str(raw.get("dose") or "") or None,
            reason=str(raw.get("reason") or ""),
        )
    except InvalidInputError as exc:
        return await _decision(
            request, decision_id, errors={"choice": str(exc)}, status=422, actor_csrf=who
        )
    return redirect(f"/meeting/{decision_id}")


@router.post("/meeting/{decision_id}/sign")
async def sign(request: Request, decision_id: RecordId) -> Response:
    raw = await request.form()
    who = await signed_in(request, raw)
    try:
        await call(
            committee.sign_decision,
            study_of(request),
            who[0],
            decision_id,
            str(raw.get("password") or ""),
            str(raw.get("meaning") or "") or None,
        )
    except ConductError as exc:
        code = 401 if type(exc).__name__ == "AuthenticationError" else 409
        return await _decision(
            request, decision_id, errors={"sign": str(exc)}, status=code, actor_csrf=who
        )
    return redirect(f"/meeting/{decision_id}")


@router.get("/notifications", response_class=HTMLResponse)
async def notifications_page(request: Request, as_of: str | None = None) -> Response:
    actor, csrf = await signed_in(request)
    rows = await call(notifications.notifications, study_of(request), actor, _as_of(as_of))
    return render(request, "notifications.html.j2", actor, csrf, rows=rows)
