"""The JSON API of phase I run live: cohorts and slot reservations, the DLT-window board, the
committee's decisions (propose, choose, sign) and the notifications feed. Same use cases as the
pages (:mod:`oncotrial.conduct.cohorts`, :mod:`oncotrial.conduct.committee`,
:mod:`oncotrial.conduct.notifications`); no rule of its own."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from oncotrial.conduct import board as board_cases
from oncotrial.conduct import cohorts as cohort_cases
from oncotrial.conduct import committee, interim, notifications
from oncotrial.conduct.cohorts import Reservation
from oncotrial.conduct.roles import Actor
from oncotrial.web.api import ERRORS, Signed, _study
from oncotrial.web.security import RecordId

router = APIRouter(prefix="/api", tags=["phase I"])


class SlotOut(BaseModel):
    slot: int
    status: str
    usubjid: str | None
    site: str | None


class CohortOut(BaseModel):
    number: int
    phase: str
    level: str
    level_name: str
    status: str
    free: int
    opened_by_decision: int | None
    slots: list[SlotOut]


class ReserveIn(BaseModel):
    usubjid: str = Field(min_length=1, max_length=100)
    cohort: int | None = None
    enrol_date: date | None = None


class ProposeIn(BaseModel):
    as_of: date | None = None
    phase: Literal["I", "II"] = "I"


class ChoiceIn(BaseModel):
    action: Literal["dose", "pause", "stop"]
    dose: str | None = Field(default=None, max_length=40)
    reason: str | None = Field(default=None, max_length=4000)


class DecisionSignIn(BaseModel):
    password: str = Field(max_length=1000)
    meaning: str | None = Field(default=None, max_length=1000)


@router.get("/cohorts", response_model=list[CohortOut], responses=ERRORS)
def cohorts(request: Request, phase: str | None = None, actor: Actor = Signed) -> list[CohortOut]:
    """Every cohort, newest first, with its slots (the dose level is the cohort's)."""
    return [
        CohortOut(
            number=c.number,
            phase=c.phase,
            level=c.level,
            level_name=c.level_name,
            status=c.status,
            free=c.free,
            opened_by_decision=c.opened_by_decision,
            slots=[SlotOut(**s.__dict__) for s in c.slots],
        )
        for c in cohort_cases.cohorts(_study(request), actor, phase)
    ]


@router.post("/slots", response_model=Reservation, status_code=201, responses=ERRORS)
def reserve(body: ReserveIn, request: Request, actor: Actor = Signed) -> Reservation:
    """Reserve a slot for a screened subject before dosing (409 when no slot is free)."""
    return cohort_cases.reserve_slot(
        _study(request), actor, body.usubjid, cohort=body.cohort, on=body.enrol_date
    )


@router.get("/board", responses=ERRORS)
def board(request: Request, as_of: date | None = None, actor: Actor = Signed) -> dict[str, Any]:
    """The DLT-window board as of a date (default today): every phase I patient's window,
    days remaining, pending/complete/DLT, the DLT's term/grade/onset, open queries; the
    design's current recommendation and the decisions flagged for review."""
    return board_cases.dlt_board(_study(request), actor, as_of).to_json()


@router.get("/decisions", responses=ERRORS)
def decisions(request: Request, actor: Actor = Signed) -> list[dict[str, Any]]:
    """Every committee decision, newest first, with its signatures and review flag."""
    return [d.to_json() for d in committee.decision_list(_study(request), actor)]


@router.post("/decisions", status_code=201, responses=ERRORS)
def propose(body: ProposeIn, request: Request, actor: Actor = Signed) -> dict[str, Any]:
    """The statistician proposes the design's recommendation from a snapshot of the store."""
    study = _study(request)
    if body.phase == "II":
        return interim.propose_stage1(study, actor, as_of=body.as_of).to_json()
    return committee.propose_decision(study, actor, as_of=body.as_of).to_json()


@router.post("/decisions/{decision_id}/choice", responses=ERRORS)
def choose(
    decision_id: RecordId, body: ChoiceIn, request: Request, actor: Actor = Signed
) -> dict[str, Any]:
    """The committee's choice: a dose within the admissible set, a pause or a stop."""
    return committee.choose_dose(
        _study(request), actor, decision_id, action=body.action, dose=body.dose, reason=body.reason
    ).to_json()


@router.post("/decisions/{decision_id}/signature", responses=ERRORS)
def sign(
    decision_id: RecordId, body: DecisionSignIn, request: Request, actor: Actor = Signed
) -> dict[str, Any]:
    """E-sign the decision (the password is asked again); final when every required signer
    has signed."""
    return committee.sign_decision(
        _study(request), actor, decision_id, body.password, body.meaning
    ).to_json()


@router.get("/notifications", responses=ERRORS)
def notification_feed(
    request: Request, as_of: date | None = None, actor: Actor = Signed
) -> list[dict[str, Any]]:
    """The notifications a site expects, newest first: slot open, DLT window complete, DLT
    reported, decision signed, SAE reported (with its 24-hour clock)."""
    return [n.to_json() for n in notifications.notifications(_study(request), actor, as_of)]
