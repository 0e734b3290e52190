"""One typed answer for every design (escalation's fitted-object questions, Brock 2019):
recommended dose, continue?, admissible doses, patients / DLTs / responses at each dose and the
estimated DLT probabilities where the design has them.

:func:`fit` asks the design (wrapped or not) for its decision on a state and reads the counts
from the state itself, so the same questions are answered the same way for 3+3, the interval
designs, CRM, BLRM, BOIN12 or BF-BOIN.

Example
-------
>>> from oncotrial.designs.boin import BOIN
>>> from oncotrial.designs.outcomes import parse_outcomes
>>> res = fit(BOIN(n_doses=4, target=0.3), TrialState(4, parse_outcomes("1NNN 2NTT", 4)))
>>> res.recommended_dose, res.continue_trial, res.n, res.dlts
(0, True, (3, 3, 0, 0), (0, 2, 0, 0))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from oncotrial.designs.base import Decision, TrialState


@dataclass(frozen=True)
class DesignResult:
    """The answers of :func:`fit` (dose indices 0-based; ``to_json`` makes them 1-based).

    ``recommended_dose`` is the next dose while the trial continues and the selected dose when
    it stops (``None``: stop without a dose); ``admissible`` flags each dose the design may still
    give; ``prob_tox`` holds the design's estimates (``None`` for the rule-based designs).
    """

    design: str
    recommended_dose: int | None
    continue_trial: bool
    admissible: tuple[bool, ...]
    n: tuple[int, ...]
    dlts: tuple[int, ...]
    responses: tuple[int, ...] | None
    prob_tox: tuple[float, ...] | None
    reason: str
    stop_reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "design": self.design,
            "recommended_dose": None
            if self.recommended_dose is None
            else self.recommended_dose + 1,
            "continue": self.continue_trial,
            "admissible_doses": [i + 1 for i, ok in enumerate(self.admissible) if ok],
            "n_per_dose": list(self.n),
            "dlts_per_dose": list(self.dlts),
            "responses_per_dose": None if self.responses is None else list(self.responses),
            "prob_tox": None if self.prob_tox is None else list(self.prob_tox),
            "reason": self.reason,
            "stop_reason": self.stop_reason,
        }

    def __str__(self) -> str:
        what = (
            f"continue at dose {self.recommended_dose + 1}"
            if self.continue_trial and self.recommended_dose is not None
            else "stop, no dose selected"
            if self.recommended_dose is None
            else f"stop, select dose {self.recommended_dose + 1}"
        )
        counts = ", ".join(f"{y}/{n}" for n, y in zip(self.n, self.dlts, strict=True))
        return f"{self.design}: {what} (DLTs/patients by dose: {counts})"


def result_of(design: Any, state: Any, decision: Decision) -> DesignResult:
    """The typed result of ``decision`` taken by ``design`` on ``state``."""
    n_doses = int(design.n_doses)
    n, y = _counts(state)
    responses = None
    if hasattr(state, "responses"):
        responses = tuple(int(v) for v in state.responses())
    details = decision.details
    ptox = details.get("ptox")
    eliminated = set(decision.eliminated)
    recommended = decision.next_dose if decision.continue_trial else decision.mtd
    return DesignResult(
        design=str(design.name),
        recommended_dose=recommended,
        continue_trial=decision.continue_trial,
        admissible=tuple(d not in eliminated for d in range(n_doses)),
        n=tuple(int(v) for v in n),
        dlts=tuple(int(v) for v in y),
        responses=responses,
        prob_tox=None if ptox is None else tuple(float(v) for v in ptox),
        reason=decision.reason,
        stop_reason=details.get("stop_reason"),
    )


def fit(design: Any, state: TrialState, *args: Any) -> DesignResult:
    """Ask ``design`` for its decision on ``state`` and answer the common questions."""
    return result_of(design, state, design.decide(state, *args))


def _counts(state: Any) -> tuple[np.ndarray, np.ndarray]:
    """Patients treated and DLTs seen at each dose (pending patients counted as treated)."""
    if isinstance(state, TrialState):
        return state.enrolled_counts(), np.bincount(
            [p.level for p in state.patients if p.dlt], minlength=state.n_doses
        )
    return state.treated(), state.dlts()
