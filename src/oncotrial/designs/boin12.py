"""The BOIN12 design (Lin, Zhou, Yan, Li & Yuan 2020, JCO Precision Oncology 4:1393): the design
object with ``decide``/``select_obd``/``simulate`` and its simulator vectorised across trials.

The rules themselves (utility desirability, admissibility, dose assignment, OBD selection, the
RDS table) are the kernels of :mod:`oncotrial.designs.boin12_rules`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from oncotrial.designs.base import Decision
from oncotrial.designs.boin import boin_lambdas
from oncotrial.designs.boin12_rules import (
    Boin12Error,
    Boin12Tables,
    admissible_mask,
    boin12_decision,
    boin12_next,
    boin12_tables,
    eliminations_from_counts,
    obd_selection,
    rank_desirability_table,
    update_eliminations,
)
from oncotrial.designs.efficacy import (
    MAX_N,
    N_AT_DOSE,
    NONE_ADMISSIBLE,
    TOO_TOXIC,
    EfficacyLatents,
    EfficacyOutcomes,
    EfficacyState,
    Utilities,
    check_truth,
    dose_name,
    opening_decision,
)
from oncotrial.designs.mtd import isotonic_mtd
from oncotrial.designs.simulation import AccrualModel, cohort_durations

if TYPE_CHECKING:
    from oncotrial.protocol.naming import DoseNames


def simulate_boin12(
    design: BOIN12,
    p_tox: np.ndarray,
    p_eff: np.ndarray,
    tox: np.ndarray,
    eff: np.ndarray,
) -> tuple[EfficacyOutcomes, np.ndarray]:
    """The BOIN12 simulator: loop over cohorts, vectorised over the trials still running.

    ``tox``/``eff`` are (trials, patients) latent uniforms; patient j has a DLT iff
    ``tox[:, j] < p_tox[dose]`` and responds iff ``eff[:, j] < p_eff[dose]``. Returns the
    outcomes (duration not filled in) and each trial's number of cohorts.
    """
    n_doses = p_tox.shape[0]
    cs, n_cohorts = design.cohort_size, design.n_cohorts
    n_max = cs * n_cohorts
    if tox.shape[1] < n_max or eff.shape[1] < n_max:
        raise Boin12Error(f"the latent patients cover {tox.shape[1]} < {n_max} patients")
    tables = design.tables()
    n_trials = tox.shape[0]
    n = np.zeros((n_trials, n_doses), dtype=np.int64)
    y = np.zeros_like(n)
    r = np.zeros_like(n)
    s = np.zeros((n_trials, n_doses))
    lowest_toxic = np.full(n_trials, n_doses, dtype=np.int64)
    futile = np.zeros((n_trials, n_doses), dtype=bool)
    dose = np.full(n_trials, design.start, dtype=np.int64)
    reason = np.full(n_trials, MAX_N, dtype=np.int8)
    cohorts = np.zeros(n_trials, dtype=np.int64)
    scores = design.utilities.as_tuple()  # E¬T, N, B, T¬E
    score_of = np.array([scores[1], scores[0], scores[3], scores[2]])  # index 2·dlt + response
    tox_t = np.ascontiguousarray(tox[:, :n_max].T)
    eff_t = np.ascontiguousarray(eff[:, :n_max].T)
    running = np.arange(n_trials)
    for c in range(n_cohorts):
        if running.size == 0:
            break
        d = dose[running]
        pt, pe = p_tox[d], p_eff[d]
        dlts = np.zeros(running.size, dtype=np.int64)
        resp = np.zeros(running.size, dtype=np.int64)
        util = np.zeros(running.size)
        for j in range(c * cs, (c + 1) * cs):
            t_j = tox_t[j][running] < pt
            e_j = eff_t[j][running] < pe
            dlts += t_j
            resp += e_j
            util += score_of[2 * t_j + e_j]
        n[running, d] += cs
        y[running, d] += dlts
        r[running, d] += resp
        s[running, d] += util
        cohorts[running] += 1
        n_d = n[running, d]
        low, fut = update_eliminations(
            d, n_d, y[running, d], r[running, d], lowest_toxic[running], futile[running], tables
        )
        lowest_toxic[running] = low
        futile[running] = fut
        open_ = admissible_mask(low, fut)
        stop = np.zeros(running.size, dtype=bool)
        for code, hit in (
            (TOO_TOXIC, low == 0),
            (NONE_ADMISSIBLE, ~open_.any(axis=1)),
            (N_AT_DOSE, n_d >= design.n_earlystop),
        ):
            new = hit & ~stop
            reason[running[new]] = code
            stop |= new
        go = ~stop
        live = running[go]
        if live.size:
            # the rule runs after the last cohort too: no admissible dose to go to means no OBD
            n_live, d_live = n[live], d[go]
            n_here, y_here = n_d[go], y[live, d_live]
            nxt, none_left = boin12_next(
                d_live,
                n_here,
                y_here >= tables.deescalate[n_here],
                y_here <= tables.escalate[n_here],
                tables.score(n_live, s[live]),
                open_[go],
                n_live > 0,
                design.n_star,
                design.n_explore,
            )
            reason[live[none_left]] = NONE_ADMISSIBLE
            dose[live] = nxt
            live = live[~none_left]
        running = live if c < n_cohorts - 1 else running[:0]
    early = (reason == TOO_TOXIC) | (reason == NONE_ADMISSIBLE)
    obd, _ = obd_selection(n, y, s, lowest_toxic, futile, design.target, tables)
    selected = np.where(early, -1, obd)
    stopped_early = (reason != MAX_N) & (cohorts < n_cohorts)
    return (
        EfficacyOutcomes(
            selected=selected,
            n_per_dose=n,
            dlt_per_dose=y,
            stopped_early=stopped_early,
            response_per_dose=r,
            stop_reason=reason,
        ),
        cohorts,
    )


@dataclass(frozen=True)
class BOIN12:
    """The BOIN12 design (module docstring; defaults of Lin et al. 2020 and its application).

    ``target`` is φ_T, the highest acceptable DLT rate (also BOIN's target for λe, λd);
    ``efficacy_floor`` is φ_E, the lowest acceptable response rate; ``n_star`` is N*, the
    patients at a dose in the equivalence interval after which escalation stops; ``n_explore``
    the patients at a dose after which an untried higher dose is explored; ``cutoff_tox`` and
    ``cutoff_eff`` are c_T and c_E; ``n_earlystop`` ends the trial once a dose has that many
    patients.

    Example
    -------
    >>> design = BOIN12(n_doses=5, target=0.35, efficacy_floor=0.25, n_cohorts=10)
    >>> state = EfficacyState.from_outcomes("1NNN 2ENT 3ETT 2EEN", 5)
    >>> design.decide(state).next_dose + 1
    2
    """

    n_doses: int
    target: float
    efficacy_floor: float
    cohort_size: int = 3
    n_cohorts: int = 10
    start: int = 0
    utilities: Utilities = field(default_factory=Utilities)
    n_star: int = 6
    n_explore: int = 9
    cutoff_tox: float = 0.95
    cutoff_eff: float = 0.9
    n_earlystop: int = 12
    p_saf: float | None = None
    p_tox: float | None = None
    prior: tuple[float, float] = (1.0, 1.0)
    window_days: float = 28.0
    eff_window_days: float = 28.0
    name: str = "boin12"

    def __post_init__(self) -> None:
        if self.n_doses < 1:
            raise Boin12Error("a design needs at least one dose")
        for label, value in (("target", self.target), ("efficacy_floor", self.efficacy_floor)):
            if not 0.0 < value < 1.0:
                raise Boin12Error(f"{label} must be in (0, 1), got {value}")
        if self.cohort_size < 1 or self.n_cohorts < 1:
            raise Boin12Error("cohort size and number of cohorts must be at least 1")
        if not 0 <= self.start < self.n_doses:
            raise Boin12Error(f"start dose {self.start + 1} is outside 1..{self.n_doses}")
        for label, value in (("cutoff_tox", self.cutoff_tox), ("cutoff_eff", self.cutoff_eff)):
            if not 0.0 < value < 1.0:
                raise Boin12Error(f"{label} must be in (0, 1), got {value}")
        if self.n_star < 1 or self.n_explore < 1 or self.n_earlystop < 1:
            raise Boin12Error("n_star, n_explore and n_earlystop must be at least 1")
        if min(self.prior) <= 0:
            raise Boin12Error("the utility prior's Beta parameters must be positive")
        if self.window_days <= 0 or self.eff_window_days <= 0:
            raise Boin12Error("assessment windows must be positive")
        boin_lambdas(self.target, self.p_saf, self.p_tox)

    @property
    def max_patients(self) -> int:
        return self.n_cohorts * self.cohort_size

    def tables(self, n_max: int | None = None) -> Boin12Tables:
        """The design's look-up tables for up to ``n_max`` patients (default: the maximum)."""
        return boin12_tables(
            self.target,
            self.efficacy_floor,
            self.utilities,
            max(n_max or 0, self.max_patients),
            self.cutoff_tox,
            self.cutoff_eff,
            self.p_saf,
            self.p_tox,
            self.prior,
        )

    def desirability_table(self, sample_sizes: tuple[int, ...] = (0, 3, 6, 9)) -> list[dict]:
        """The protocol's RDS table (paper Table 3) for these numbers of patients."""
        return rank_desirability_table(
            sample_sizes,
            self.target,
            self.efficacy_floor,
            self.utilities,
            self.cutoff_tox,
            self.cutoff_eff,
            self.prior,
        )

    def _counts(self, state: EfficacyState) -> tuple[np.ndarray, ...]:
        """Patients with both outcomes known, their DLTs, responses and utility sums, per dose."""
        done = tuple(
            p
            for p in state.patients
            if not p.dlt_pending(state.tox_window_days)
            and not p.response_pending(state.eff_window_days)
        )
        known = EfficacyState(state.n_doses, done)
        return known.treated(), known.dlts(), known.responses(), known.utility_sums(self.utilities)

    def select_obd(self, state: EfficacyState) -> int | None:
        """The OBD from the patients with complete outcomes (``None``: no dose acceptable)."""
        n, y, r, s = self._counts(state)
        tables = self.tables(int(n.max(initial=0)))
        low, futile = eliminations_from_counts(n, y, r, tables)
        obd, _ = obd_selection(n[None, :], y[None, :], s[None, :], low, futile, self.target, tables)
        return None if obd[0] < 0 else int(obd[0])

    def select_mtd(self, state: EfficacyState) -> int | None:
        """The isotonic MTD on the patients with complete outcomes (``None``: none acceptable)."""
        n, y, r, _ = self._counts(state)
        low, _ = eliminations_from_counts(n, y, r, self.tables(int(n.max(initial=0))))
        mtd = int(isotonic_mtd(n[None, :], y[None, :], self.target, low)[0])
        return None if mtd < 0 else mtd

    def decide(self, state: EfficacyState, names: DoseNames | None = None) -> Decision:
        """Next dose for the current data, with the numbers behind it.

        Only patients whose DLT and response are both known count; while the current dose has
        patients with a pending outcome BOIN12 waits (TITE-BOIN12 decides with pending
        outcomes). ``names`` names the levels in the reason (default "dose k").
        """
        opening = opening_decision(state, self.n_doses, self.start, names, Boin12Error)
        if opening is not None:
            return opening
        dose = state.current_dose
        assert dose is not None
        n, y, r, s = self._counts(state)
        tables = self.tables(int(n.max(initial=0)))
        low_arr, futile_arr = eliminations_from_counts(n, y, r, tables)
        low, futile = int(low_arr[0]), futile_arr[0]
        open_ = admissible_mask(low_arr, futile_arr)[0]
        eliminated = tuple(int(d) for d in np.flatnonzero(~open_))
        score = tables.score(n, s)
        here = dose_name(names, dose)
        details = {
            "lambda_e": tables.lambda_e,
            "lambda_d": tables.lambda_d,
            "utility_benchmark": tables.benchmark,
            "n": n.tolist(),
            "dlts": y.tolist(),
            "responses": r.tolist(),
            "pending": state.pending_any().tolist(),
            "desirability": score.tolist(),
            "toxic_from_dose_index": None if low >= self.n_doses else low + 1,
            "futile_dose_indices": [int(d) + 1 for d in np.flatnonzero(futile)],
        }
        counts = f"{here}: {y[dose]} DLT(s), {r[dose]} response(s) in {n[dose]} patient(s)"
        if low == 0 or not open_.any():
            why = "the lowest dose is too toxic" if low == 0 else "no dose is admissible"
            return Decision(
                None,
                False,
                eliminated,
                f"{counts}; {why}: stop, no dose selected",
                details=details,
            )
        enough_at_dose = n.max() >= self.n_earlystop
        if not enough_at_dose:
            waiting = int(state.pending_any()[dose])
            if waiting and len(state.patients) < self.max_patients:
                return Decision(
                    dose,
                    True,
                    eliminated,
                    f"{counts}; {waiting} patient(s) with an outcome still pending at {here}: "
                    "BOIN12 waits for complete data",
                    accrual_suspended=True,
                    details=details,
                )
            decision = boin12_decision(
                dose,
                n,
                y,
                score,
                open_,
                tables,
                self.n_star,
                self.n_explore,
                eliminated,
                counts,
                details,
                names,
            )
            if not decision.continue_trial or len(state.patients) < self.max_patients:
                return decision
        why = (
            f"a dose has {n.max()} ≥ n_earlystop = {self.n_earlystop} patients"
            if enough_at_dose
            else f"maximum sample size {self.max_patients} reached"
        )
        if not state.is_complete():
            return Decision(
                None,
                True,
                eliminated,
                f"{counts}; {why}: enrolment ends; the OBD is selected when every pending "
                "outcome is complete",
                accrual_suspended=True,
                details=details,
            )
        obd, mtd = obd_selection(
            n[None, :], y[None, :], s[None, :], low_arr, futile_arr, self.target, tables
        )
        obd_i, mtd_i = int(obd[0]), int(mtd[0])
        details["obd"] = None if obd_i < 0 else obd_i + 1
        chosen = "none" if obd_i < 0 else dose_name(names, obd_i)
        return Decision(
            None,
            False,
            eliminated,
            f"{counts}; {why}: stop, OBD = {chosen}",
            mtd=None if mtd_i < 0 else mtd_i,
            details=details,
        )

    def simulate(
        self,
        p_tox: np.ndarray,
        p_eff: np.ndarray,
        latent: EfficacyLatents,
        accrual: AccrualModel | None = None,
        correlation: float = 0.0,
    ) -> EfficacyOutcomes:
        """Operating characteristics on the given latent patients, vectorised across trials.

        Each cohort is followed for the longer of the two windows before the next decision;
        the duration uses ``accrual`` (Poisson, 2 patients a month by default).
        """
        p_tox, p_eff = check_truth(p_tox, p_eff, self.n_doses)
        eff = latent.efficacy_uniforms(correlation)
        outcomes, cohorts = simulate_boin12(self, p_tox, p_eff, latent.tox, eff)
        outcomes.duration_days = cohort_durations(
            self.cohort_size,
            cohorts,
            max(self.window_days, self.eff_window_days),
            accrual,
        )
        return outcomes
