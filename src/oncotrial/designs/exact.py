"""Exact enumeration of a cohort design's future: dose-transition pathways and exact
operating characteristics.

Every outcome of the next cohort (0..c DLTs) is followed through the design's own
``decide``, so the enumeration needs no design-specific code (Brock 2019, "dose pathways";
Yap et al. 2017 Clin Cancer Res 23:7440 for pathway tables in protocols). With the true DLT
probabilities each branch is weighted by its binomial probability, which gives operating
characteristics with no Monte-Carlo error for designs whose trials are short enough to
enumerate (3+3, small BOIN/CRM trials).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from math import comb

import numpy as np

from oncotrial.designs.base import Decision, Design, Patient, TrialState


@dataclass(frozen=True)
class PathNode:
    """One branch: the cohort's dose and DLT count, the decision it leads to, its children."""

    dose: int
    dlts: int
    cohort_size: int
    decision: Decision
    children: tuple[PathNode, ...] = ()

    def outcome_code(self) -> str:
        """The cohort in the compact grammar: 1-based dose then T/N per patient, e.g. ``2NTN``."""
        return f"{self.dose + 1}" + "T" * self.dlts + "N" * (self.cohort_size - self.dlts)


@dataclass
class PathTable:
    """All pathways of the next cohorts from a starting state, in outcome order."""

    root: Decision
    branches: list[PathNode] = field(default_factory=list)

    def rows(self) -> list[dict]:
        """Flat rows: outcomes so far (compact string) and the resulting decision."""
        out: list[dict] = []

        def walk(node: PathNode, prefix: list[str]) -> None:
            codes = [*prefix, node.outcome_code()]
            d = node.decision
            out.append(
                {
                    "outcomes": " ".join(codes),
                    "depth": len(codes),
                    "next_dose": None if d.next_dose is None else d.next_dose + 1,
                    "continue": d.continue_trial,
                    "mtd": None if d.mtd is None else d.mtd + 1,
                    "reason": d.reason,
                }
            )
            for child in node.children:
                walk(child, codes)

        for branch in self.branches:
            walk(branch, [])
        return out


def _add_cohort(state: TrialState, dose: int, dlts: int, size: int) -> TrialState:
    cohort = tuple(Patient(dose, True) for _ in range(dlts)) + tuple(
        Patient(dose, False) for _ in range(size - dlts)
    )
    return TrialState(
        n_doses=state.n_doses,
        patients=state.patients + cohort,
        current=dose,
        window_days=state.window_days,
    )


def dose_paths(
    design: Design,
    state: TrialState,
    n_cohorts: int,
    cohort_size: int,
    progress: Callable[[int, int], None] | None = None,
) -> PathTable:
    """Every outcome of the next ``n_cohorts`` cohorts and the decision after each.

    ``progress(done, total)`` is told after each decision; ``total`` is the number of nodes of
    the full tree, the most there can be (paths end early where a trial stops)."""
    if n_cohorts < 1 or cohort_size < 1:
        raise ValueError("need at least one cohort of at least one patient")
    total = sum((cohort_size + 1) ** depth for depth in range(n_cohorts + 1))
    done = 0

    def decided(new_state: TrialState) -> Decision:
        nonlocal done
        decision = design.decide(new_state)
        done += 1
        if progress is not None:
            progress(done, total)
        return decision

    def grow(current: TrialState, decision: Decision, depth: int) -> tuple[PathNode, ...]:
        if depth == 0 or not decision.continue_trial or decision.next_dose is None:
            return ()
        dose = decision.next_dose
        nodes = []
        for dlts in range(cohort_size + 1):
            nxt_state = _add_cohort(current, dose, dlts, cohort_size)
            nxt = decided(nxt_state)
            nodes.append(PathNode(dose, dlts, cohort_size, nxt, grow(nxt_state, nxt, depth - 1)))
        return tuple(nodes)

    root = decided(state)
    table = PathTable(root=root, branches=list(grow(state, root, n_cohorts)))
    if progress is not None:
        progress(total, total)
    return table


@dataclass(frozen=True)
class ExactCharacteristics:
    """Exact selection probabilities and expected patients/DLTs per dose."""

    selected: np.ndarray
    no_mtd: float
    mean_patients: np.ndarray
    mean_dlts: np.ndarray
    mean_n: float

    def selected_pct(self) -> list[float]:
        return (100.0 * self.selected).tolist()


def exact_operating_characteristics(
    design: Design, truth: np.ndarray, cohort_size: int, max_cohorts: int = 60
) -> ExactCharacteristics:
    """Operating characteristics by full enumeration of cohort outcomes (no simulation).

    Raises ``ValueError`` if a trial could run beyond ``max_cohorts`` cohorts.
    """
    truth = np.asarray(truth, dtype=float)
    n_doses = truth.size
    selected = np.zeros(n_doses)
    patients = np.zeros(n_doses)
    dlts = np.zeros(n_doses)
    no_mtd = 0.0
    binom = [
        np.array(
            [
                comb(cohort_size, k) * p**k * (1 - p) ** (cohort_size - k)
                for k in range(cohort_size + 1)
            ]
        )
        for p in truth
    ]

    def visit(state: TrialState, prob: float, depth: int) -> None:
        nonlocal no_mtd
        decision = design.decide(state)
        if not decision.continue_trial or decision.next_dose is None:
            if decision.mtd is None:
                no_mtd += prob
            else:
                selected[decision.mtd] += prob
            n, y = state.evaluable_counts()
            patients[:] += prob * n
            dlts[:] += prob * y
            return
        if depth >= max_cohorts:
            raise ValueError(f"trial longer than {max_cohorts} cohorts: cannot enumerate")
        dose = decision.next_dose
        for k, pk in enumerate(binom[dose]):
            if pk > 0.0:
                visit(_add_cohort(state, dose, k, cohort_size), prob * pk, depth + 1)

    visit(TrialState(n_doses=n_doses), 1.0, 0)
    return ExactCharacteristics(
        selected=selected,
        no_mtd=no_mtd,
        mean_patients=patients,
        mean_dlts=dlts,
        mean_n=float(patients.sum()),
    )
