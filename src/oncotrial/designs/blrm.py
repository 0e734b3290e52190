"""BLRM dose escalation with overdose control (EWOC).

Neuenschwander, Branson & Gsponer (2008), *Critical aspects of the Bayesian approach to phase I
cancer trials*, Statistics in Medicine 27:2420-2439: a two-parameter logistic model of the DLT
probability on log dose relative to a reference dose (``blrm_posterior``), summarised by the
posterior probabilities that each dose under-doses, hits the target interval or over-doses
(section 3.3). Escalation with overdose control (Babb, Rogatko & Zacks 1998, Statistics in
Medicine 17:1103) in the interval form of Neuenschwander et al.: a dose is admissible only while
``Pr(over-dosing) < ewoc`` (0.25), and the next cohort gets the admissible dose with the highest
target probability.

Rules of :class:`BLRM` (all functions of the per-dose patient and DLT counts, so the scalar
``decide`` and the vectorised ``simulate`` share them):

* the first cohort gets the start dose; a cohort is filled before the next decision, and accrual
  waits while a patient is inside the DLT window (as the CRM);
* admissible: ``Pr(p_d >= c2 | data) < ewoc``; since ``beta > 0`` the over-dosing probability
  increases with dose, so the admissible doses are the doses below the first inadmissible one;
* optional escalation limits, counted from the highest dose given so far: at most
  ``max_step_ratio`` times its amount (N&B 2008 and the OncoBayes2 examples use 2, a 100 %
  increase), and with ``no_skip`` at most one level above it;
* next: the admissible dose within the limits with the highest ``Pr(target)`` (lowest on ties);
  when even the lowest dose is inadmissible the trial stops without an MTD;
* optional early end (the "MTD is precise" rule used with the BLRM in practice): stop when the
  recommended dose already has ``min_at_mtd`` patients and ``Pr(target) >= mtd_target_prob``;
* at ``max_patients`` the MTD is the dose with the highest ``Pr(target)`` among the doses given
  to at least one patient and admissible by EWOC (``None`` when there is none).

Doses are amounts (e.g. the protocol's donafenib daily doses in mg/day: 100 mg QD, 100/200/300
mg BID -> 100, 200, 400, 600), so the model's log-dose covariate keeps their true spacing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from numpy.typing import ArrayLike

from oncotrial.designs.admissibility import eliminated_doses, lowest_eliminated_from_mask
from oncotrial.designs.base import Decision, DesignError, TrialState
from oncotrial.designs.blrm_posterior import (
    DEFAULT_INTERVALS,
    BLRMModel,
    BLRMPrior,
    IntervalPosterior,
    QuadratureGrid,
    blrm_posterior,
    prior_grid,
)
from oncotrial.designs.simulation import (
    AccrualModel,
    LatentPatients,
    TrialOutcomes,
    cohort_durations,
    unique_rows,
)
from oncotrial.designs.stopping import StoppingRule, TrialView

#: Why a simulated BLRM trial ended (``simulate_paths`` returns the index into this tuple).
STOP_REASONS: tuple[str, ...] = (
    "maximum sample size",
    "MTD reached (patients and target probability)",
    "every dose over-doses (EWOC)",
)
MAX_PATIENTS, MTD_REACHED, ALL_OVERDOSE = range(3)
#: Half-width of the simulators' shared grid in prior standard deviations.
SIM_GRID_HALF_WIDTH = 7.0


def next_dose_from_summaries(
    p_target: np.ndarray,
    p_over: np.ndarray,
    n_per_dose: np.ndarray,
    doses: np.ndarray,
    ewoc: float,
    max_step_ratio: float | None,
    no_skip: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """The next dose of each row (-1: every dose over-doses) and the lowest inadmissible dose.

    Arrays are (rows, doses); see the module docstring for the rules.
    """
    n_doses = p_target.shape[-1]
    lowest_bad = lowest_eliminated_from_mask(p_over >= ewoc)
    tried = n_per_dose > 0
    highest = np.where(tried.any(axis=-1), n_doses - 1 - np.argmax(tried[..., ::-1], axis=-1), 0)
    ceiling = np.minimum(lowest_bad - 1, n_doses - 1)
    if max_step_ratio is not None:
        limit = doses[highest] * max_step_ratio * (1.0 + 1e-12)
        within = np.searchsorted(doses, limit, side="right") - 1
        ceiling = np.minimum(ceiling, np.maximum(within, highest))
    if no_skip:
        ceiling = np.minimum(ceiling, highest + 1)
    allowed = np.arange(n_doses) <= ceiling[..., None]
    best = np.argmax(np.where(allowed, p_target, -1.0), axis=-1)
    return np.where(lowest_bad <= 0, -1, best), lowest_bad


def mtd_from_summaries(
    p_target: np.ndarray, p_over: np.ndarray, n_per_dose: np.ndarray, ewoc: float
) -> np.ndarray:
    """Final selection per row: highest ``Pr(target)`` among tried, admissible doses (-1: none)."""
    ok = (n_per_dose > 0) & (p_over < ewoc)
    best = np.argmax(np.where(ok, p_target, -1.0), axis=-1)
    return np.where(ok.any(axis=-1), best, -1)


@dataclass(frozen=True)
class BLRM:
    """Bayesian logistic regression model with EWOC (see the module docstring for the rules).

    Parameters
    ----------
    doses
        Dose amounts in increasing order (e.g. mg/day), one per level.
    reference_dose
        The model's ``d*`` (same unit); ``log alpha`` is the log-odds of a DLT there.
    max_patients
        Sample size; a whole number of cohorts.
    prior, intervals
        Prior on ``(log alpha, log beta)`` and the cut points ``c1 < c2`` of the intervals.
    ewoc
        Overdose control: a dose is admissible while ``Pr(p >= c2) < ewoc``.
    max_step_ratio, no_skip
        Escalation limits relative to the highest dose given so far (``None``/``False``: none).
    min_at_mtd, mtd_target_prob
        Early end when the recommended dose has ``min_at_mtd`` patients and its target
        probability is at least ``mtd_target_prob`` (``min_at_mtd=None``: never).
    dose_names
        How reasons name the levels (e.g. "L2, donafenib 200 mg bid"; default "dose k").

    Example
    -------
    >>> design = BLRM(doses=(100, 200, 400, 600), reference_dose=400, max_patients=30)
    >>> state = TrialState.from_counts([3, 3, 6, 0], [0, 0, 2, 0], current=2)
    >>> design.decide(state).next_dose  # dose 3 has Pr(over-dosing) 0.31 >= 0.25
    1
    """

    doses: tuple[float, ...]
    reference_dose: float
    max_patients: int
    cohort_size: int = 3
    start: int = 0
    prior: BLRMPrior = field(default_factory=BLRMPrior)
    intervals: tuple[float, float] = DEFAULT_INTERVALS
    ewoc: float = 0.25
    max_step_ratio: float | None = None
    no_skip: bool = False
    min_at_mtd: int | None = None
    mtd_target_prob: float = 0.5
    window_days: float = 28.0
    dose_names: tuple[str, ...] | None = None
    name: str = "BLRM"
    n_doses: int = field(init=False)

    def __post_init__(self) -> None:
        model = BLRMModel(tuple(self.doses), self.reference_dose, self.prior, self.intervals)
        object.__setattr__(self, "doses", model.doses)
        object.__setattr__(self, "n_doses", model.n_doses)
        if self.cohort_size < 1 or self.max_patients < 1 or self.max_patients % self.cohort_size:
            raise DesignError("the sample size must be a positive whole number of cohorts")
        if not 0 <= self.start < self.n_doses:
            raise DesignError(f"the start dose index {self.start} is outside 0..{self.n_doses - 1}")
        if not 0.0 < self.ewoc < 1.0:
            raise DesignError(f"the EWOC bound must be in (0, 1), got {self.ewoc}")
        if self.max_step_ratio is not None and self.max_step_ratio <= 1.0:
            raise DesignError("the maximum escalation step must be a ratio above 1 (2 = doubling)")
        if self.min_at_mtd is not None and self.min_at_mtd < 1:
            raise DesignError("min_at_mtd must be at least 1")
        if not 0.0 < self.mtd_target_prob < 1.0:
            raise DesignError("mtd_target_prob must be in (0, 1)")
        if self.window_days <= 0.0:
            raise DesignError("the DLT window must be positive")
        if self.dose_names is not None and len(self.dose_names) != self.n_doses:
            raise DesignError(f"dose_names needs one name per dose ({self.n_doses})")

    @cached_property
    def model(self) -> BLRMModel:
        return BLRMModel(self.doses, self.reference_dose, self.prior, self.intervals)

    def _name(self, d: int) -> str:
        return self.dose_names[d] if self.dose_names is not None else f"dose {d + 1}"

    def posterior(self, state: TrialState) -> IntervalPosterior:
        """Posterior from the patients with a complete DLT assessment (pending ones excluded)."""
        self._check_state(state)
        n, y = state.evaluable_counts()
        return blrm_posterior(self.model, n, y)

    def posterior_from_counts(self, n: ArrayLike, y: ArrayLike) -> IntervalPosterior:
        """Posterior from per-dose patient and DLT counts."""
        return blrm_posterior(self.model, n, y)

    def select_mtd(self, state: TrialState) -> int | None:
        """Highest target probability among tried doses admissible by EWOC (``None``: none)."""
        post = self.posterior(state)
        n, _ = state.evaluable_counts()
        mtd = int(mtd_from_summaries(post.target, post.over, n, self.ewoc))
        return None if mtd < 0 else mtd

    def _check_state(self, state: TrialState) -> None:
        if state.n_doses != self.n_doses:
            raise DesignError(
                f"the trial has {state.n_doses} dose levels but the BLRM has {self.n_doses} doses"
            )

    def _details(self, post: IntervalPosterior) -> dict[str, object]:
        return {
            "model": "blrm",
            "doses": list(self.doses),
            "reference_dose": self.reference_dose,
            "intervals": list(self.intervals),
            "ewoc": self.ewoc,
            **post.to_json(),
        }

    def decide(self, state: TrialState) -> Decision:
        """Next dose for the current data (see the module docstring for the rules)."""
        self._check_state(state)
        if not state.patients:
            return Decision(
                next_dose=self.start,
                continue_trial=True,
                eliminated=(),
                reason=(
                    f"No patient treated yet: the first cohort starts at {self._name(self.start)}."
                ),
            )
        post = self.posterior(state)
        details = self._details(post)
        current = state.current_dose
        assert current is not None
        n_all = len(state.patients)
        pending = int(state.pending_counts().sum())
        in_cohort = n_all % self.cohort_size
        if n_all < self.max_patients and in_cohort:
            return Decision(
                next_dose=current,
                continue_trial=True,
                eliminated=(),
                reason=(
                    f"The cohort at {self._name(current)} has {in_cohort} of {self.cohort_size} "
                    "patients: the next patient joins it."
                ),
                details=details,
            )
        if n_all < self.max_patients and pending:
            return Decision(
                next_dose=current,
                continue_trial=True,
                eliminated=(),
                accrual_suspended=True,
                reason=(
                    f"{pending} patient(s) still in the DLT window: accrual waits for their "
                    "outcomes before the next cohort."
                ),
                details=details,
            )
        n, _ = state.evaluable_counts()
        if n_all >= self.max_patients:
            return self._final(post, n, details, pending)
        return self._next(post, n, details)

    def _final(
        self, post: IntervalPosterior, n: np.ndarray, details: dict[str, object], pending: int
    ) -> Decision:
        mtd = int(mtd_from_summaries(post.target, post.over, n, self.ewoc))
        note = (
            f" ({pending} patient(s) still in the DLT window: the selection is provisional.)"
            if pending
            else ""
        )
        head = f"Sample size {self.max_patients} reached"
        if mtd < 0:
            reason = (
                f"{head}: no dose given to patients has Pr(over-dosing) below {self.ewoc:g}, so "
                f"no MTD is selected.{note}"
            )
            return Decision(None, False, (), reason, details=details)
        reason = (
            f"{head}: the MTD is {self._name(mtd)}, with the highest target probability "
            f"Pr({self.intervals[0]:g} <= p < {self.intervals[1]:g}) = {post.target[mtd]:.3f} "
            f"among the doses given, and Pr(over-dosing) = {post.over[mtd]:.3f} < "
            f"{self.ewoc:g}.{note}"
        )
        return Decision(None, False, (), reason, mtd=mtd, details=details)

    def _next(self, post: IntervalPosterior, n: np.ndarray, details: dict[str, object]) -> Decision:
        nxt_arr, bad_arr = next_dose_from_summaries(
            post.target[None],
            post.over[None],
            n[None],
            np.asarray(self.doses),
            self.ewoc,
            self.max_step_ratio,
            self.no_skip,
        )
        nxt, lowest_bad = int(nxt_arr[0]), int(bad_arr[0])
        over_text = f"Pr(p >= {self.intervals[1]:g})"
        if nxt < 0:
            return Decision(
                next_dose=None,
                continue_trial=False,
                eliminated=eliminated_doses(0, self.n_doses),
                reason=(
                    f"{over_text} = {post.over[0]:.3f} at {self._name(0)} is not below the "
                    f"overdose bound {self.ewoc:g}: every dose over-doses, so the trial stops "
                    "without an MTD."
                ),
                details=details,
            )
        eliminated = eliminated_doses(lowest_bad, self.n_doses)
        best_free = int(np.argmax(np.where(np.arange(self.n_doses) < lowest_bad, post.target, -1)))
        reason = (
            f"{self._name(nxt).capitalize()} has the highest target probability "
            f"{post.target[nxt]:.3f} among the doses allowed"
        )
        if eliminated:
            reason += (
                f"; {self._name(lowest_bad)} and above have {over_text} >= {self.ewoc:g} "
                f"({over_text} = {post.over[lowest_bad]:.3f} at {self._name(lowest_bad)})"
            )
        if best_free != nxt:
            reason += (
                f"; {self._name(best_free)} (target probability {post.target[best_free]:.3f}) "
                "is beyond the escalation limit"
            )
        if (
            self.min_at_mtd is not None
            and n[nxt] >= self.min_at_mtd
            and post.target[nxt] >= self.mtd_target_prob
        ):
            return Decision(
                next_dose=None,
                continue_trial=False,
                eliminated=eliminated,
                mtd=nxt,
                reason=(
                    f"{reason}. It already has {n[nxt]} patients (at least {self.min_at_mtd}) "
                    f"and a target probability of at least {self.mtd_target_prob:g}: the trial "
                    f"stops with the MTD {self._name(nxt)}."
                ),
                details=details,
            )
        return Decision(
            next_dose=nxt,
            continue_trial=True,
            eliminated=eliminated,
            reason=f"{reason}. Next: {self._name(nxt)}.",
            details=details,
        )

    @cached_property
    def _grid(self) -> QuadratureGrid:
        """The shared grid of the simulators; its spacing follows the largest possible data.

        With ``N`` patients the information on ``log alpha`` is at most ``N / 4``, which bounds
        the posterior standard deviation from below; the inner spacing is a third of that bound
        (in whitened units) and the outer (``log beta``) spacing twice the inner one.
        """
        prior = self.prior
        sd_a = 1.0 / np.sqrt(self.max_patients / 4.0 + 1.0 / prior.sd_log_alpha**2)
        conditional = prior.sd_log_alpha * np.sqrt(1.0 - prior.corr**2)
        h_a = float(min(0.25, sd_a / conditional / 3.0))
        return prior_grid(self.model, (h_a, min(0.25, 2.0 * h_a)), SIM_GRID_HALF_WIDTH)

    def _check_truth(self, truth: ArrayLike, latent: LatentPatients) -> np.ndarray:
        p = np.asarray(truth, dtype=float)
        if p.shape != (self.n_doses,):
            raise DesignError(f"the true DLT probabilities need {self.n_doses} values")
        if np.any(p < 0.0) or np.any(p > 1.0):
            raise DesignError("true DLT probabilities must be in [0, 1]")
        if latent.tox.shape[1] < self.max_patients:
            raise DesignError(
                f"the latent patients have {latent.tox.shape[1]} columns; "
                f"the design needs {self.max_patients}"
            )
        return p

    def _summaries(self, n_tox: np.ndarray, n_all: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``Pr(target)`` and ``Pr(over)`` (rows, doses), one posterior per distinct state."""
        states, inverse = unique_rows(np.concatenate([n_tox, n_all], axis=1))
        d = self.n_doses
        loglik = self._grid.counts_loglik(states[:, :d], states[:, d:] - states[:, :d])
        _, cdf, _, _ = self._grid.summary_arrays(loglik)
        target = cdf[:, :, 1] - cdf[:, :, 0]
        over = 1.0 - cdf[:, :, 1]
        return target[inverse], over[inverse]

    def simulate(
        self,
        truth: ArrayLike,
        latent: LatentPatients,
        accrual: AccrualModel | None = None,
        stopping: StoppingRule | None = None,
    ) -> TrialOutcomes:
        """Operating characteristics on the latent patients (vectorised across trials).

        After each cohort the posterior of every running trial is computed on the shared grid,
        once per distinct set of counts. Durations: each cohort accrues, then is followed for
        the whole window before the next opens (``simulation.cohort_durations``). ``stopping``
        is a wrapping behaviour's rule, asked after the design's own rules.
        """
        return self.simulate_paths(truth, latent, accrual, stopping)[0]

    def simulate_paths(
        self,
        truth: ArrayLike,
        latent: LatentPatients,
        accrual: AccrualModel | None = None,
        stopping: StoppingRule | None = None,
    ) -> tuple[TrialOutcomes, np.ndarray, np.ndarray]:
        """As ``simulate``, also every patient's dose (-1: not enrolled) and each trial's stop
        reason (an index into :data:`STOP_REASONS`, then the stopping rule's labels)."""
        p_true = self._check_truth(truth, latent)
        n_trials, n_max, m, d = latent.n_trials, self.max_patients, self.cohort_size, self.n_doses
        dose_amounts = np.asarray(self.doses)
        n_tox = np.zeros((n_trials, d), dtype=np.int64)
        n_all = np.zeros((n_trials, d), dtype=np.int64)
        doses = np.full((n_trials, n_max), -1, dtype=np.int64)
        selected = np.full(n_trials, -1, dtype=np.int64)
        reason = np.zeros(n_trials, dtype=np.int64)
        cohorts_run = np.zeros(n_trials, dtype=np.int64)
        current = np.full(n_trials, self.start, dtype=np.int64)
        idx = np.arange(n_trials)
        for lo in range(0, n_max, m):
            hi = lo + m
            dose = current[idx]
            doses[idx, lo:hi] = dose[:, None]
            cohorts_run[idx] += 1
            k_tox = (latent.tox[idx, lo:hi] < p_true[dose][:, None]).sum(axis=1)
            n_tox[idx, dose] += k_tox
            n_all[idx, dose] += m
            target, over = self._summaries(n_tox[idx], n_all[idx])
            if hi == n_max:
                selected[idx] = mtd_from_summaries(target, over, n_all[idx], self.ewoc)
                break
            nxt, _ = next_dose_from_summaries(
                target,
                over,
                n_all[idx],
                dose_amounts,
                self.ewoc,
                self.max_step_ratio,
                self.no_skip,
            )
            toxic = nxt < 0
            done = np.zeros_like(toxic)
            if self.min_at_mtd is not None:
                safe = np.maximum(nxt, 0)
                rows = np.arange(idx.size)
                done = (
                    ~toxic
                    & (n_all[idx, safe] >= self.min_at_mtd)
                    & (target[rows, safe] >= self.mtd_target_prob)
                )
                selected[idx[done]] = nxt[done]
                reason[idx[done]] = MTD_REACHED
            reason[idx[toxic]] = ALL_OVERDOSE
            if stopping is not None:
                rule = stopping.codes(TrialView(n_all[idx], n_tox[idx], nxt))
                fired = (rule >= 0) & ~(toxic | done)
                chosen = mtd_from_summaries(target, over, n_all[idx], self.ewoc)
                selected[idx[fired]] = chosen[fired]
                reason[idx[fired]] = len(STOP_REASONS) + rule[fired]
                done |= fired
            current[idx] = nxt
            idx = idx[~(toxic | done)]
            if idx.size == 0:
                break
        outcomes = TrialOutcomes(
            selected=selected,
            n_per_dose=n_all,
            dlt_per_dose=n_tox,
            stopped_early=reason != 0,
            duration_days=cohort_durations(m, cohorts_run, self.window_days, accrual),
            stop_reason=reason,
            stop_labels=STOP_REASONS + (stopping.labels() if stopping is not None else ()),
        )
        return outcomes, doses, reason
