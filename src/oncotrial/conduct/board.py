"""The DLT-window board (issue 9 §2): each phase I patient as of a date with the window's dates,
days remaining, pending / complete / DLT and the DLT's term, grade and onset
(:func:`oncotrial.conduct.phase1.phase1_snapshot`), the data queries still open on the patient,
the design's recommendation now, and the committee's decisions — those flagged for review and
those whose snapshot the store no longer reproduces."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select

from oncotrial.conduct.committee import FINAL, DecisionInfo, _recommendation, decision_list
from oncotrial.conduct.phase1 import Phase1Row, Phase1Snapshot, phase1_snapshot
from oncotrial.conduct.roles import Action, Actor, require
from oncotrial.conduct.study import Study
from oncotrial.store.models import DataQuery


@dataclass(frozen=True)
class Board:
    """The DLT-window board: phase I patients as of a date, open queries on each, the design's
    current recommendation, and the decisions (flags shown)."""

    as_of: date
    snapshot: Phase1Snapshot
    rows: list[Phase1Row]
    open_queries: dict[str, list[dict[str, Any]]]
    recommendation: dict[str, Any]
    decisions: list[DecisionInfo] = field(default_factory=list)
    stale: list[int] = field(default_factory=list)

    @property
    def flagged(self) -> list[DecisionInfo]:
        return [d for d in self.decisions if d.review_flag]

    def to_json(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "design": self.snapshot.design,
            "window_days": self.snapshot.spec.window_days,
            "snapshot_hash": self.snapshot.snapshot_hash,
            "counts": self.snapshot.counts(),
            "patients": [
                {**row.to_json(), "open_queries": self.open_queries.get(row.usubjid, [])}
                for row in self.rows
            ],
            "recommendation": self.recommendation,
            "flagged_decisions": [d.id for d in self.flagged],
            "stale_snapshots": self.stale,
            "decisions": [d.to_json() for d in self.decisions],
        }


def dlt_board(study: Study, actor: Actor, as_of: date | None = None) -> Board:
    """The DLT-window board as of ``as_of`` (default today). Site staff see their sites'
    patients; the recommendation is computed from every site's data."""
    require(actor, Action.view_phase1)
    as_of = as_of or date.today()
    snapshot = phase1_snapshot(study, study.protocol, as_of)
    rows = [r for r in snapshot.rows if actor.sees_site(r.site)]
    wanted = {r.usubjid for r in rows}
    queries: dict[str, list[dict[str, Any]]] = {}
    with study.reading(study.system_actor()) as (_, session):
        for q in session.scalars(
            select(DataQuery)
            .where(DataQuery.status != "closed", DataQuery.usubjid.in_(wanted or {""}))
            .order_by(DataQuery.id)
        ).all():
            queries.setdefault(q.usubjid, []).append(
                {"id": q.id, "field": q.field, "status": q.status, "message": q.message}
            )
    decisions = decision_list(study, actor)
    return Board(
        as_of,
        snapshot,
        rows,
        queries,
        _recommendation(study, snapshot),
        decisions,
        stale_snapshots(study, decisions),
    )


def stale_snapshots(study: Study, decisions: Sequence[DecisionInfo]) -> list[int]:
    """Final phase I decisions whose snapshot the store no longer reproduces: the data as of
    the decision's date, read now, hash differently (a change by any door: a form, an import,
    a correction)."""
    out = []
    for d in decisions:
        if d.status != FINAL or d.phase != "I" or not d.as_of or not d.snapshot_hash:
            continue
        again = phase1_snapshot(study, study.protocol, date.fromisoformat(d.as_of), design=d.design)
        if again.snapshot_hash != d.snapshot_hash:
            out.append(d.id)
    return out
