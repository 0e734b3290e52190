"""The 3+3 design, variant "expand the dose below a failed level to 6".

Rules (Storer 1989, Biometrics 45:925, design "A+B" with A = B = 3; Le Tourneau, Lee & Siu
2009, JNCI 101:708, Figure 1), for cohorts of ``c`` (3) patients:

* 0 DLT in c → escalate; 1 DLT in c → treat c more at the same dose; ≥ 2 DLTs → the dose
  exceeds the MTD (it and all doses above are eliminated);
* ≤ 1 DLT in 2c → escalate; ≥ 2 DLTs in 2c → the dose exceeds the MTD;
* when a dose exceeds the MTD, the dose below is expanded to 2c patients if it has fewer;
  it is the MTD if it then shows ≤ 1 DLT in 2c, otherwise de-escalate again;
* the MTD must have 2c patients: at the highest dose, or below an eliminated one, a 0/c
  result is expanded to 2c rather than declared at once;
* the MTD is the highest dose below the lowest eliminated dose with ≤ 1 DLT in 2c patients;
  if the lowest dose is eliminated no dose is selected.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from oncotrial.designs.admissibility import (
    admissible_dose,
    eliminated_doses,
    lowest_eliminated_from_mask,
)
from oncotrial.designs.base import Decision, DesignError, TrialState
from oncotrial.designs.simulation import (
    AccrualModel,
    LatentPatients,
    TrialOutcomes,
    cohort_durations,
)

VARIANT = "3+3, expand the dose below a failed level to 6"


def three_plus_three_mtd(n: np.ndarray, y: np.ndarray, cohort_size: int = 3) -> np.ndarray:
    """Highest dose below the lowest failed one with ≤ 1 DLT in 2c patients (-1: none)."""
    n = np.atleast_2d(n)
    y = np.atleast_2d(y)
    lowest = lowest_eliminated_from_mask(y >= 2)
    dose_idx = np.arange(n.shape[1])[None, :]
    ok = (n >= 2 * cohort_size) & (y <= 1) & (dose_idx < lowest[:, None])
    highest = n.shape[1] - 1 - np.argmax(ok[:, ::-1], axis=1)
    return np.where(ok.any(axis=1), highest, -1)


def three_plus_three_step(
    n: np.ndarray, y: np.ndarray, dose: np.ndarray, cohort_size: int = 3
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One 3+3 decision per row of counts: (next dose, stop?, lowest eliminated).

    Vectorised over trials so the scalar ``decide`` and the simulator share it.
    """
    n = np.atleast_2d(n)
    y = np.atleast_2d(y)
    dose = np.atleast_1d(dose)
    rows = np.arange(n.shape[0])
    n_doses = n.shape[1]
    c = cohort_size
    lowest = lowest_eliminated_from_mask(y >= 2)
    n_d = n[rows, dose]
    y_d = y[rows, dose]
    failed = dose >= lowest
    below = np.maximum(lowest - 1, 0)
    n_below = n[rows, below]
    room_above = (dose + 1 < lowest) & (dose + 1 < n_doses)
    # current dose failed: fall back to the dose below the lowest failed one
    stop_failed = (lowest == 0) | (n_below >= 2 * c)
    # current dose acceptable so far
    fill = n_d < c
    first_cohort_done = (n_d >= c) & (n_d < 2 * c)
    escalate_now = first_cohort_done & (y_d == 0) & room_above
    expanded = n_d >= 2 * c
    escalate_after = expanded & room_above
    stop_ok = expanded & ~room_above
    proposed = np.where(
        failed,
        below,
        np.where(fill, dose, np.where(escalate_now | escalate_after, dose + 1, dose)),
    )
    stop = np.where(failed, stop_failed, stop_ok)
    # de-escalation to the dose below a failure is within the cap; -1 when dose 1 failed
    nxt = admissible_dose(proposed, dose, lowest)
    return nxt, stop, lowest


@dataclass(frozen=True)
class ThreePlusThree:
    """The 3+3 design (variant named in :data:`VARIANT`), optionally capped at ``max_patients``."""

    n_doses: int
    cohort_size: int = 3
    start: int = 0
    max_patients: int | None = None
    window_days: float = 28.0
    name: str = "3+3"

    def __post_init__(self) -> None:
        if self.n_doses < 1 or self.cohort_size < 1:
            raise DesignError("3+3 needs at least one dose and a cohort size of at least 1")
        if not 0 <= self.start < self.n_doses:
            raise DesignError(f"start dose {self.start + 1} is outside 1..{self.n_doses}")

    @property
    def variant(self) -> str:
        return VARIANT

    @property
    def max_cohorts(self) -> int:
        """The largest number of cohorts a trial can need (two per dose, plus one)."""
        cap = 2 * self.n_doses + 1
        if self.max_patients is not None:
            cap = min(cap, -(-self.max_patients // self.cohort_size))
        return cap

    def select_mtd(self, state: TrialState) -> int | None:
        n, y = state.evaluable_counts()
        mtd = int(three_plus_three_mtd(n, y, self.cohort_size)[0])
        return None if mtd < 0 else mtd

    def decide(self, state: TrialState) -> Decision:
        """Next dose by the 3+3 rules, with the counts behind it."""
        if state.n_doses != self.n_doses:
            raise DesignError(f"the data have {state.n_doses} doses, the design {self.n_doses}")
        dose = state.current_dose
        if dose is None:
            return Decision(
                self.start, True, (), f"no patient treated yet: start at dose {self.start + 1}"
            )
        n, y = state.evaluable_counts()
        nxt, stop, lowest = three_plus_three_step(n, y, np.array([dose]), self.cohort_size)
        nxt_i, stop_b, low = int(nxt[0]), bool(stop[0]), int(lowest[0])
        eliminated = eliminated_doses(low, self.n_doses)
        counts = f"dose {dose + 1}: {y[dose]} DLT(s) in {n[dose]} evaluable patient(s)"
        details = {"n": n.tolist(), "dlts": y.tolist(), "variant": VARIANT}
        pending = state.pending_counts()
        if stop_b or (self.max_patients is not None and len(state.patients) >= self.max_patients):
            mtd = self.select_mtd(state)
            why = (
                "the lowest dose exceeds the MTD"
                if low == 0
                else "maximum sample size reached"
                if not stop_b
                else "the MTD is determined"
            )
            words = "none" if mtd is None else f"dose {mtd + 1}"
            return Decision(
                None,
                False,
                eliminated,
                f"{counts}; {why}: stop, MTD = {words}",
                mtd=mtd,
                details=details,
            )
        if pending[dose] > 0:
            return Decision(
                dose,
                True,
                eliminated,
                f"{counts}; {pending[dose]} patient(s) still inside the DLT window: wait",
                accrual_suspended=True,
                details=details,
            )
        if dose >= low:
            rule = f"≥ 2 DLTs: dose {dose + 1} exceeds the MTD; expand dose {nxt_i + 1} to "
            rule += f"{2 * self.cohort_size}"
        elif nxt_i > dose:
            rule = "escalate"
        elif n[dose] < self.cohort_size:
            rule = "complete the cohort"
        else:
            rule = f"expand to {2 * self.cohort_size} patients"
        return Decision(
            nxt_i, True, eliminated, f"{counts}; {rule} → dose {nxt_i + 1}", details=details
        )

    def simulate(
        self, truth: np.ndarray, latent: LatentPatients, accrual: AccrualModel | None = None
    ) -> TrialOutcomes:
        """Operating characteristics, vectorised across trials (one pass per cohort)."""
        truth = np.asarray(truth, dtype=float)
        if truth.shape != (self.n_doses,):
            raise DesignError(f"truth needs {self.n_doses} probabilities, got {truth.shape}")
        c = self.cohort_size
        n_trials = latent.n_trials
        if latent.tox.shape[1] < self.max_cohorts * c:
            raise DesignError("not enough latent patients for the longest 3+3 trial")
        n = np.zeros((n_trials, self.n_doses), dtype=np.int64)
        y = np.zeros((n_trials, self.n_doses), dtype=np.int64)
        dose = np.full(n_trials, self.start, dtype=np.int64)
        cohorts_run = np.zeros(n_trials, dtype=np.int64)
        running = np.arange(n_trials)
        for k in range(self.max_cohorts):
            if running.size == 0:
                break
            d = dose[running]
            cohort = latent.tox[running, k * c : (k + 1) * c] < truth[d][:, None]
            n[running, d] += c
            y[running, d] += cohort.sum(axis=1)
            cohorts_run[running] += 1
            nxt, stop, _ = three_plus_three_step(n[running], y[running], d, c)
            if self.max_patients is not None:
                stop = stop | (n[running].sum(axis=1) >= self.max_patients)
            dose[running] = np.where(stop, d, nxt)
            running = running[~stop]
        selected = three_plus_three_mtd(n, y, c)
        capped = np.zeros(n_trials, dtype=bool)
        if self.max_patients is not None:
            capped = n.sum(axis=1) >= self.max_patients
        stopped_early = (selected < 0) & ~capped
        duration = cohort_durations(c, cohorts_run, self.window_days, accrual)
        return TrialOutcomes(selected, n, y, stopped_early, duration)
