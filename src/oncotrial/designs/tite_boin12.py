"""TITE-BOIN12: BOIN12 with late-onset toxicity and efficacy (Zhou, Lin, Lee, Li, Wang, Li &
Yuan 2022, Statistics in Medicine 41:1918), by its approximated-likelihood (AL) method.

Pending outcomes (paper section 2.2). For each endpoint at a dose, with y observed events,
m complete assessments without event and pending patients followed for t_i of a window τ
(w_i = t_i/τ, events assumed uniform over the window):

* the effective sample size is ESS = y + m + Σ w_i and the rate estimate p̂ = y / ESS;
* a pending patient's outcome is imputed by its conditional probability of an event,
  p̂ (1 − w_i) / (1 − p̂ w_i);
* the utility's quasi-events x = Σ u(T̃_i, Ẽ_i)/100 over all N patients at the dose, pending
  components replaced by the imputations (the two treated as independent), and the
  desirability is Pr(u > u_b) under Beta(1 + x, 1 + N − x), as in BOIN12;
* admissibility uses the effective-binomial posteriors Beta(1 + y, 1 + ESS − y) of each endpoint
  (once N ≥ 3), recomputed at every decision from the data then at hand.

Accrual is suspended while more than half of the current dose's patients have a pending DLT or
a pending response. Otherwise BOIN12's rules are applied with p̂_T in place of the observed DLT
rate and N (everyone treated) as the number of patients. With no pending outcome TITE-BOIN12
is BOIN12. The OBD is selected, as in BOIN12, once every outcome is complete.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from oncotrial.designs.admissibility import lowest_eliminated_from_mask
from oncotrial.designs.base import Decision
from oncotrial.designs.boin12 import BOIN12
from oncotrial.designs.boin12_rules import (
    Boin12Error,
    Boin12Tables,
    admissible_mask,
    boin12_decision,
    desirability,
    neighbours,
)
from oncotrial.designs.efficacy import (
    Arrivals,
    EfficacyLatents,
    EfficacyOutcomes,
    EfficacyState,
    Utilities,
    check_truth,
    dose_name,
)
from oncotrial.designs.lazy_scipy import special

if TYPE_CHECKING:
    from oncotrial.protocol.naming import DoseNames


def effective_endpoint(
    event: np.ndarray, pending: np.ndarray, weight: np.ndarray, dose_of: np.ndarray, n_doses: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The AL summary of one endpoint (module docstring), over the last axis of patients.

    ``event``: observed events; ``pending``: assessment still open; ``weight``: follow-up over
    window of the pending ones; ``dose_of``: each patient's dose (-1: no patient). Returns per
    dose the ESS, the events, p̂ (0 where ESS = 0) and per patient the imputed outcome.
    """
    enrolled = dose_of >= 0
    info = np.where(pending, weight, 1.0) * enrolled
    shape = dose_of.shape[:-1] + (n_doses,)
    ess = np.zeros(shape)
    events = np.zeros(shape, dtype=np.int64)
    for d in range(n_doses):
        at = dose_of == d
        ess[..., d] = (info * at).sum(axis=-1)
        events[..., d] = (event & at).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        p_hat = np.where(ess > 0, events / np.where(ess > 0, ess, 1.0), 0.0)
    p_i = np.take_along_axis(p_hat, np.maximum(dose_of, 0), axis=-1)
    imputed = np.where(
        pending, p_i * (1 - weight) / np.maximum(1 - p_i * weight, 1e-12), event.astype(float)
    )
    return ess, events, p_hat, np.where(enrolled, imputed, 0.0)


def tite_boin12_summary(
    dose_of: np.ndarray,
    tox: tuple[np.ndarray, np.ndarray, np.ndarray],
    eff: tuple[np.ndarray, np.ndarray, np.ndarray],
    utilities: Utilities,
    n_doses: int,
) -> dict[str, np.ndarray]:
    """Per-dose AL quantities from patient arrays (event, pending, weight) of each endpoint:
    enrolled N, DLT and response ESS/events/rates and the utility sum S = 100 x."""
    ess_t, y_t, p_t, imp_t = effective_endpoint(*tox, dose_of, n_doses)
    ess_e, y_e, p_e, imp_e = effective_endpoint(*eff, dose_of, n_doses)
    score = utilities.score(imp_t, imp_e) * (dose_of >= 0)
    shape = dose_of.shape[:-1] + (n_doses,)
    n = np.zeros(shape, dtype=np.int64)
    s = np.zeros(shape)
    for d in range(n_doses):
        at = dose_of == d
        n[..., d] = at.sum(axis=-1)
        s[..., d] = (score * at).sum(axis=-1)
    return {
        "n": n,
        "ess_tox": ess_t,
        "dlts": y_t,
        "p_tox": p_t,
        "ess_eff": ess_e,
        "responses": y_e,
        "p_eff": p_e,
        "utility_sum": s,
    }


def effective_tails(
    summary: dict[str, np.ndarray], target: float, efficacy_floor: float
) -> tuple[np.ndarray, np.ndarray]:
    """Pr(p_T > φ_T) and Pr(p_E < φ_E) per dose under the effective-binomial posteriors
    Beta(1 + events, 1 + ESS − events) (module docstring)."""
    y, ess = summary["dlts"], summary["ess_tox"]
    r, ess_e = summary["responses"], summary["ess_eff"]
    over = special.betaincc(1 + y, 1 + np.maximum(ess - y, 0), target)
    under = special.betainc(1 + r, 1 + np.maximum(ess_e - r, 0), efficacy_floor)
    return over, under


def tite_admissibility(
    summary: dict[str, np.ndarray],
    target: float,
    efficacy_floor: float,
    cutoff_tox: float,
    cutoff_eff: float,
    tables: Boin12Tables | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Lowest dose eliminated for toxicity and futile doses from the effective-binomial
    posteriors (doses with N ≥ 3). Where an ESS is a whole number the ``tables`` of BOIN12
    give the same answer without evaluating a Beta tail."""
    n, y, ess = summary["n"], summary["dlts"], summary["ess_tox"]
    r, ess_e = summary["responses"], summary["ess_eff"]
    enough = n >= 3
    toxic = np.zeros(n.shape, dtype=bool)
    futile = np.zeros(n.shape, dtype=bool)
    for out, count, size, tail in (
        (toxic, y, ess, lambda a, b: special.betaincc(a, b, target) > cutoff_tox),
        (futile, r, ess_e, lambda a, b: special.betainc(a, b, efficacy_floor) > cutoff_eff),
    ):
        whole = np.isclose(size, np.rint(size)) if tables is not None else np.zeros(n.shape, bool)
        frac = enough & ~whole
        if frac.any():
            out[frac] = tail(1 + count[frac], 1 + np.maximum(size[frac] - count[frac], 0))
        if whole.any():
            m = np.rint(size).astype(np.int64)
            hit = count >= tables.eliminate[m] if out is toxic else count <= tables.futile[m]
            out[enough & whole] = hit[enough & whole]
    return lowest_eliminated_from_mask(toxic), futile


def candidate_scores(
    dose: np.ndarray,
    n: np.ndarray,
    utility_sum: np.ndarray,
    open_: np.ndarray,
    tables: Boin12Tables,
) -> np.ndarray:
    """Desirability of the doses BOIN12 may choose between (next lower, current, next higher
    admissible dose), -inf elsewhere; tabulated where the utility sum is a whole number."""
    rows = np.arange(dose.shape[0])
    below, above = neighbours(dose, open_)
    n_doses = n.shape[1]
    score = np.full(n.shape, -np.inf)
    for cand in (below, dose, above):
        ok = (cand >= 0) & (cand < n_doses)
        r_ok, c_ok = rows[ok], cand[ok]
        s = utility_sum[r_ok, c_ok]
        whole = np.isclose(s, np.rint(s)) & (tables.desirability is not None)
        value = np.empty(s.shape)
        if whole.any():
            value[whole] = tables.score(n[r_ok, c_ok][whole], s[whole])
        if (~whole).any():
            value[~whole] = desirability(
                n[r_ok, c_ok][~whole], s[~whole], tables.benchmark, tables.prior
            )
        score[r_ok, c_ok] = value
    return score


@dataclass(frozen=True)
class TITEBOIN12(BOIN12):
    """TITE-BOIN12 (module docstring): BOIN12 that keeps enrolling while outcomes are pending.

    ``window_days`` / ``eff_window_days`` are the DLT and efficacy assessment windows;
    ``max_pending_fraction`` the share of the current dose's patients with a pending outcome
    above which accrual is suspended (one half in the paper); ``arrivals`` the accrual used by
    :meth:`simulate`.
    """

    max_pending_fraction: float = 0.5
    arrivals: Arrivals = Arrivals(3.0, "poisson")
    name: str = "tite-boin12"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 < self.max_pending_fraction <= 1.0:
            raise Boin12Error("max_pending_fraction must be in (0, 1]")

    def summary(self, state: EfficacyState) -> dict[str, np.ndarray]:
        """The AL quantities of every dose for the data in ``state``."""
        tau_t, tau_e = state.tox_window_days, state.eff_window_days
        patients = state.patients
        follow = np.array(
            [np.inf if p.followup_days is None else p.followup_days for p in patients]
        )
        dose_of = np.array([p.level for p in patients], dtype=np.int64)
        tox = (
            np.array([p.dlt for p in patients], dtype=bool),
            np.array([p.dlt_pending(tau_t) for p in patients], dtype=bool),
            np.minimum(follow / tau_t, 1.0),
        )
        eff = (
            np.array([p.response for p in patients], dtype=bool),
            np.array([p.response_pending(tau_e) for p in patients], dtype=bool),
            np.minimum(follow / tau_e, 1.0),
        )
        return tite_boin12_summary(dose_of, tox, eff, self.utilities, self.n_doses)

    def decide(self, state: EfficacyState, names: DoseNames | None = None) -> Decision:
        """Next dose with pending outcomes counted by their follow-up (module docstring)."""
        if state.n_doses != self.n_doses:
            raise Boin12Error(f"the data have {state.n_doses} doses, the design {self.n_doses}")
        dose = state.current_dose
        if dose is None or state.is_complete():
            return BOIN12.decide(self, state, names)
        summary = self.summary(state)
        n = summary["n"]
        tables = self.tables(int(n.max(initial=0)))
        low_arr, futile_arr = tite_admissibility(
            {k: v[None, :] for k, v in summary.items()},
            self.target,
            self.efficacy_floor,
            self.cutoff_tox,
            self.cutoff_eff,
        )
        low, futile = int(low_arr[0]), futile_arr[0]
        open_ = admissible_mask(low_arr, futile_arr)[0]
        eliminated = tuple(int(d) for d in np.flatnonzero(~open_))
        score = desirability(n, summary["utility_sum"], tables.benchmark, self.prior)
        here = dose_name(names, dose)
        pending_t, pending_e = state.pending_dlt(), state.pending_response()
        details = {
            "lambda_e": tables.lambda_e,
            "lambda_d": tables.lambda_d,
            "utility_benchmark": tables.benchmark,
            "n": n.tolist(),
            "dlts": summary["dlts"].tolist(),
            "responses": summary["responses"].tolist(),
            "pending_dlt": pending_t.tolist(),
            "pending_response": pending_e.tolist(),
            "ess_tox": summary["ess_tox"].tolist(),
            "ess_eff": summary["ess_eff"].tolist(),
            "p_tox": summary["p_tox"].tolist(),
            "p_eff": summary["p_eff"].tolist(),
            "desirability": score.tolist(),
            "toxic_from_dose_index": None if low >= self.n_doses else low + 1,
            "futile_dose_indices": [int(d) + 1 for d in np.flatnonzero(futile)],
        }
        counts = (
            f"{here}: {summary['dlts'][dose]} DLT(s), {summary['responses'][dose]} response(s) "
            f"in {n[dose]} patient(s), {pending_t[dose]} DLT and {pending_e[dose]} response "
            f"assessment(s) pending (estimated DLT rate {summary['p_tox'][dose]:.2f})"
        )
        if low == 0 or not open_.any():
            why = "the lowest dose is too toxic" if low == 0 else "no dose is admissible"
            return Decision(
                None,
                False,
                eliminated,
                f"{counts}; {why}: stop, no dose selected",
                details=details,
            )
        if n.max() >= self.n_earlystop or len(state.patients) >= self.max_patients:
            return Decision(
                None,
                True,
                eliminated,
                f"{counts}; enrolment ends; the OBD is selected when every pending outcome is "
                "complete",
                accrual_suspended=True,
                details=details,
            )
        limit = self.max_pending_fraction * n[dose]
        if pending_t[dose] > limit or pending_e[dose] > limit:
            return Decision(
                dose,
                True,
                eliminated,
                f"{counts}; more than {self.max_pending_fraction:.0%} of the patients at {here} "
                "have a pending outcome: suspend accrual until more data are complete",
                accrual_suspended=True,
                details=details,
            )
        return boin12_decision(
            dose,
            n,
            summary["dlts"],
            score,
            open_,
            tables,
            self.n_star,
            self.n_explore,
            eliminated,
            counts,
            details,
            names,
            rate=float(summary["p_tox"][dose]),
        )

    def simulate(  # type: ignore[override]
        self,
        p_tox: np.ndarray,
        p_eff: np.ndarray,
        latent: EfficacyLatents,
        correlation: float = 0.0,
    ) -> EfficacyOutcomes:
        """Operating characteristics with staggered entry, vectorised across trials.

        A cohort is enrolled once its patients have arrived (``arrivals``) and gets the dose
        decided on the data at that moment; DLT and response days are Weibull with half of
        the events in the first half of each window. While accrual is suspended the design
        waits for the next outcome at the current dose and re-decides; patients who arrived
        meanwhile are not enrolled, so the cohort accrues again. The OBD is selected when every
        outcome is complete (with BOIN12's final check that the rule still has an admissible
        dose), which is also when the trial ends.
        """
        from oncotrial.designs.tite_boin12_simulation import simulate_tite_boin12

        p_tox, p_eff = check_truth(p_tox, p_eff, self.n_doses)
        return simulate_tite_boin12(self, p_tox, p_eff, latent, correlation)
