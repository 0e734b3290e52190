"""Phase II: the Simon stage-1 interim computed from the stored responses, proposed and signed
like a dose decision (issue 9 §2).

The plan is the protocol's Simon two-stage design (:func:`oncotrial.designs.phase2.
simon_two_stage`, its optimal or minimax design as ``phase2.criterion`` says; Simon 1989): the
first ``n1`` patients enrolled into the expansion (slot order) are evaluated; the expansion goes
on to stage 2 when more than ``r1`` of them have a confirmed response (CR or PR, RECIST 1.1 by
default) — computed by the derive room's engine from the store's SDTM dated up to the
analysis date (:func:`oncotrial.derive.pipeline.derive_study`, then :func:`oncotrial.derive.
response_summary.objective_response_rate`), as the report computes it. The decision record's
design is ``simon two-stage`` (the name the report reads); continuing is the action ``dose`` at
the expansion's level (the final decision opens the stage-2 cohort of ``n - n1`` slots),
stopping is ``stop``.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
from sqlalchemy import select

from oncotrial.conduct.committee import PROPOSED, DecisionInfo, _info, _supersede
from oncotrial.conduct.errors import StateError
from oncotrial.conduct.roles import Action, Actor, require
from oncotrial.conduct.study import Study
from oncotrial.derive.errors import DataError
from oncotrial.derive.pipeline import analysis_settings, derive_study
from oncotrial.derive.response_summary import objective_response_rate
from oncotrial.designs.phase2 import simon_two_stage
from oncotrial.store.models import Cohort, CohortSlot, EscalationDecision, Subject

SIMON_DESIGN = "simon two-stage"
#: each domain read, with the date that places a record before or after the analysis date
DOMAINS = {
    "DM": None,
    "DS": "DSSTDTC",
    "EX": "EXSTDTC",
    "AE": "AESTDTC",
    "TU": "TUDTC",
    "TR": "TRDTC",
    "RS": "RSDTC",
}


def known_on(frame: pd.DataFrame, column: str | None, as_of: date) -> pd.DataFrame:
    """The records of ``frame`` dated on or before ``as_of`` (undated records are kept; a
    partial date counts from its first possible day, as the data cut reads it)."""
    if column is None or column not in frame.columns:
        return frame
    text = frame[column].fillna("").astype(str).str[:10]
    return frame[(text == "") | (text <= as_of.isoformat())]


def simon_plan(study: Study) -> tuple[int, int, int]:
    """(n1, r1, n) of the protocol's Simon design."""
    phase2 = study.protocol.phase2
    if phase2 is None:
        raise StateError("the protocol has no phase II (expansion) design")
    result = simon_two_stage(phase2.p0, phase2.p1, phase2.alpha, phase2.power)
    design = result.minimax if phase2.criterion == "minimax" else result.optimal
    return design.n1, design.r1, design.n


def propose_stage1(study: Study, actor: Actor, *, as_of: date | None = None) -> DecisionInfo:
    """The statistician proposes the stage-1 decision from the stored responses of the first
    ``n1`` expansion patients (refused until ``n1`` patients are dosed)."""
    require(actor, Action.propose_decision)
    as_of = as_of or date.today()
    n1, r1, n = simon_plan(study)
    with study.transaction(actor, "Simon stage-1 decision proposed") as txn:
        cohort = txn.session.scalar(
            select(Cohort).where(Cohort.phase == "II").order_by(Cohort.number)
        )
        if cohort is None:
            raise StateError("no expansion (phase II) cohort yet")
        enrolled = txn.session.execute(
            select(Subject.usubjid, Subject.first_dose_date)
            .join(CohortSlot, CohortSlot.usubjid == Subject.usubjid)
            .join(Cohort, Cohort.id == CohortSlot.cohort_id)
            .where(Cohort.phase == "II")
            .order_by(Cohort.number, CohortSlot.slot)
        ).all()[:n1]
        dosed = [(u, d) for u, d in enrolled if d and d[:10] <= as_of.isoformat()]
        if len(dosed) < n1:
            raise StateError(f"stage 1 needs {n1} dosed expansion patients ({len(dosed)} so far)")
        subjects = [u for u, _ in dosed[:n1]]
        frames = {d.lower(): known_on(txn.store.records(d), c, as_of) for d, c in DOMAINS.items()}
        domains = {k: v.reset_index(drop=True) for k, v in frames.items() if not v.empty}
        settings = analysis_settings(study.protocol)
        try:
            adrs = derive_study(domains, settings=settings, checked=True).datasets.get("adrs")
        except DataError as exc:
            raise StateError(
                f"the responses cannot be derived from the stored data: {exc}"
            ) from exc
        if adrs is None or adrs.empty:
            responders = 0
        else:
            responders = objective_response_rate(
                pd.DataFrame(adrs), subjects=subjects, criteria=settings.criteria
            ).x
        passed = responders > r1
        _supersede(txn, "II")
        inputs = {
            "stage": 1,
            "n1": n1,
            "r1": r1,
            "n": n,
            "subjects": subjects,
            "responders": int(responders),
            "analysis_date": as_of.isoformat(),
            "criteria": f"{settings.criteria}, confirmed CR or PR",
        }
        output = {
            "continue_trial": passed,
            "next_dose": 1 if passed else None,
            "decision": "continue to stage 2" if passed else "stop for futility",
            "reason": (
                f"{responders} of {n1} patients responded; the plan continues when more than "
                f"{r1} do"
            ),
            "admissible_levels": [cohort.dose_level] if passed else [],
        }
        level = cohort.dose_level if passed else None
        decision_id = txn.store.record_decision(
            cohort.number, SIMON_DESIGN, inputs, output, level, actor.username
        )
        row = txn.session.get(EscalationDecision, decision_id)
        assert row is not None
        row.phase, row.status, row.as_of = "II", PROPOSED, as_of.isoformat()
        row.action, row.chosen_dose, row.chosen_by = (
            "dose" if passed else "stop",
            level,
            actor.username,
        )
        txn.session.flush()
        return _info(study, txn.session, row)
