"""The TITE-BOIN12 simulator with staggered entry, vectorised across trials, and its scalar
reference path through ``TITEBOIN12.decide`` (:func:`replay_tite_boin12_trial`).

Per virtual patient: ``tox`` decides the DLT (``tox < p_T[d]``) and, by inversion of the Weibull
with half of the events in the first half of the window, its day; ``eff`` (through the copula)
the response and its day; ``gap`` the arrival. A cohort is enrolled when its patients have
arrived (:class:`~oncotrial.designs.efficacy.Arrivals`).
"""

from __future__ import annotations

import numpy as np

from oncotrial.designs.base import Decision
from oncotrial.designs.boin12 import BOIN12
from oncotrial.designs.boin12_rules import (
    Boin12Error,
    Boin12Tables,
    admissible_mask,
    boin12_next,
    eliminations_from_counts,
    obd_selection,
)
from oncotrial.designs.efficacy import (
    MAX_N,
    N_AT_DOSE,
    NONE_ADMISSIBLE,
    TOO_TOXIC,
    EfficacyLatents,
    EfficacyOutcomes,
    EfficacyPatient,
    EfficacyState,
    Utilities,
    weibull_event_days,
)
from oncotrial.designs.tite_boin12 import (
    TITEBOIN12,
    candidate_scores,
    tite_admissibility,
    tite_boin12_summary,
)


def _complete_counts(
    dose_of: np.ndarray, dlt: np.ndarray, resp: np.ndarray, utilities: Utilities, n_doses: int
) -> tuple[np.ndarray, ...]:
    """Final per-dose patients, DLTs, responses and utility sums (all outcomes complete)."""
    score = utilities.score(dlt, resp)
    shape = (dose_of.shape[0], n_doses)
    n, y, r = (np.zeros(shape, dtype=np.int64) for _ in range(3))
    s = np.zeros(shape)
    for d in range(n_doses):
        at = dose_of == d
        n[:, d], y[:, d], r[:, d] = at.sum(1), (dlt & at).sum(1), (resp & at).sum(1)
        s[:, d] = (score * at).sum(1)
    return n, y, r, s


def simulate_tite_boin12(
    design: TITEBOIN12,
    p_tox: np.ndarray,
    p_eff: np.ndarray,
    latent: EfficacyLatents,
    correlation: float = 0.0,
) -> EfficacyOutcomes:
    """TITE-BOIN12 trials (see :meth:`TITEBOIN12.simulate`), one pass per cohort."""
    cs, n_doses, n_cohorts = design.cohort_size, design.n_doses, design.n_cohorts
    tau_t, tau_e = design.window_days, design.eff_window_days
    n_trials, width = latent.n_trials, design.max_patients
    if latent.tox.shape[1] < width:
        raise Boin12Error(f"the latent patients cover {latent.tox.shape[1]} < {width} patients")
    tables = design.tables()
    eff_u = latent.efficacy_uniforms(correlation)[:, :width]
    tox_u = latent.tox[:, :width]
    gaps = design.arrivals.gaps_days(latent.gap[:, :width]).reshape(n_trials, n_cohorts, cs)
    cohort_gap = gaps.sum(axis=2)
    start = np.full((n_trials, width), np.inf)
    dose_of = np.full((n_trials, width), -1, dtype=np.int64)
    dlt = np.zeros((n_trials, width), dtype=bool)
    resp = np.zeros((n_trials, width), dtype=bool)
    tox_done = np.full((n_trials, width), np.inf)  # when the DLT assessment completes
    eff_done = np.full((n_trials, width), np.inf)
    dose = np.full(n_trials, design.start, dtype=np.int64)
    last_start = np.zeros(n_trials)
    stopped_at = np.full(n_trials, np.nan)
    reason = np.full(n_trials, MAX_N, dtype=np.int8)
    running = np.arange(n_trials)
    for k in range(n_cohorts):
        if running.size == 0:
            break
        t = last_start[running] + cohort_gap[running, k]
        if k > 0:
            nxt, code, t = _decide_at(
                design,
                tables,
                t,
                running,
                k,
                cohort_gap,
                start,
                dose_of,
                dlt,
                resp,
                tox_done,
                eff_done,
                dose,
            )
            halt = code != MAX_N
            reason[running[halt]] = code[halt]
            stopped_at[running[halt]] = t[halt]
            dose[running[~halt]] = nxt[~halt]
            running, t = running[~halt], t[~halt]
        cols = slice(k * cs, (k + 1) * cs)
        d = dose[running]
        start[running, cols] = t[:, None]
        dose_of[running, cols] = d[:, None]
        u_t, u_e = tox_u[running, cols], eff_u[running, cols]
        pt, pe = p_tox[d][:, None], p_eff[d][:, None]
        dlt[running, cols] = u_t < pt
        resp[running, cols] = u_e < pe
        tox_done[running, cols] = t[:, None] + np.where(
            u_t < pt, weibull_event_days(u_t, pt, tau_t), tau_t
        )
        eff_done[running, cols] = t[:, None] + np.where(
            u_e < pe, weibull_event_days(u_e, pe, tau_e), tau_e
        )
        last_start[running] = t
    n, y, r, s = _complete_counts(dose_of, dlt, resp, design.utilities, n_doses)
    low, futile = eliminations_from_counts(n, y, r, tables)
    open_ = admissible_mask(low, futile)
    safety = (reason == TOO_TOXIC) | (reason == NONE_ADMISSIBLE)
    # BOIN12's check after the last cohort, on complete data: the rule must have somewhere to go
    check = np.flatnonzero(
        ~safety & (reason != N_AT_DOSE) & (n.max(axis=1) < design.n_earlystop) & open_.any(axis=1)
    )
    last = dose_of[check, n[check].sum(axis=1) - 1]
    n_here, y_here = n[check, last], y[check, last]
    _, stuck = boin12_next(
        last,
        n_here,
        y_here >= tables.deescalate[n_here],
        y_here <= tables.escalate[n_here],
        tables.score(n[check], s[check]),
        open_[check],
        n[check] > 0,
        design.n_star,
        design.n_explore,
    )
    stuck_rows = check[stuck]
    reason[stuck_rows] = NONE_ADMISSIBLE
    stuck_or_toxic = safety.copy()
    stuck_or_toxic[stuck_rows] = True
    obd, _ = obd_selection(n, y, s, low, futile, design.target, tables)
    selected = np.where(stuck_or_toxic | (low == 0), -1, obd)
    complete = np.maximum(tox_done, eff_done)
    finished = np.where(np.isfinite(complete), complete, 0.0).max(axis=1)
    duration = np.where(safety, stopped_at, finished)
    return EfficacyOutcomes(
        selected=selected,
        n_per_dose=n,
        dlt_per_dose=y,
        stopped_early=reason != MAX_N,
        duration_days=duration,
        response_per_dose=r,
        stop_reason=reason,
    )


def _decide_at(
    design: TITEBOIN12,
    tables: Boin12Tables,
    t: np.ndarray,
    running: np.ndarray,
    k: int,
    cohort_gap: np.ndarray,
    start: np.ndarray,
    dose_of: np.ndarray,
    dlt: np.ndarray,
    resp: np.ndarray,
    tox_done: np.ndarray,
    eff_done: np.ndarray,
    dose: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decisions for the running trials when cohort k has arrived at times ``t``.

    Suspended trials wait for the next outcome at their current dose, then for the cohort to
    arrive again. Returns the next doses, a stop code per trial (``MAX_N``: go on) and the
    (possibly later) enrolment times.
    """
    n_doses, enrolled = design.n_doses, k * design.cohort_size
    tau_t, tau_e = design.window_days, design.eff_window_days
    cols = slice(0, enrolled)
    nxt = dose[running].copy()
    code = np.full(running.size, MAX_N, dtype=np.int8)
    t = t.copy()
    todo = np.arange(running.size)
    reopened = np.zeros(running.size, dtype=bool)
    for _ in range(4 * enrolled + 8):
        if todo.size == 0:
            break
        tr = running[todo]
        now = t[todo][:, None]
        d_of, st = dose_of[tr, cols], start[tr, cols]
        follow = now - st
        tox_pending = tox_done[tr, cols] > now
        eff_pending = eff_done[tr, cols] > now
        summary = tite_boin12_summary(
            d_of,
            (dlt[tr, cols] & ~tox_pending, tox_pending, np.minimum(follow / tau_t, 1.0)),
            (resp[tr, cols] & ~eff_pending, eff_pending, np.minimum(follow / tau_e, 1.0)),
            design.utilities,
            n_doses,
        )
        low, futile = tite_admissibility(
            summary,
            design.target,
            design.efficacy_floor,
            design.cutoff_tox,
            design.cutoff_eff,
            tables,
        )
        open_ = admissible_mask(low, futile)
        n = summary["n"]
        rows = np.arange(todo.size)
        d = dose[tr]
        stop = np.full(todo.size, MAX_N, dtype=np.int8)
        stop = np.where(~open_.any(axis=1), NONE_ADMISSIBLE, stop)
        stop = np.where(low == 0, TOO_TOXIC, stop)
        stop = np.where((stop == MAX_N) & (n.max(axis=1) >= design.n_earlystop), N_AT_DOSE, stop)
        at_d = d_of == d[:, None]
        limit = design.max_pending_fraction * n[rows, d]
        suspend = (stop == MAX_N) & (
            ((tox_pending & at_d).sum(axis=1) > limit) | ((eff_pending & at_d).sum(axis=1) > limit)
        )
        p_t = summary["p_tox"][rows, d]
        score = candidate_scores(d, n, summary["utility_sum"], open_, tables)
        moved, stuck = boin12_next(
            d,
            n[rows, d],
            p_t >= tables.lambda_d,
            p_t <= tables.lambda_e,
            score,
            open_,
            n > 0,
            design.n_star,
            design.n_explore,
        )
        stop = np.where((stop == MAX_N) & ~suspend & stuck, NONE_ADMISSIBLE, stop)
        decided = ~suspend & ~reopened[todo]
        code[todo[decided]] = stop[decided]
        nxt[todo[decided]] = moved[decided]
        # accrual reopened: the cohort accrues again and is decided when it has arrived
        again = todo[~suspend & reopened[todo]]
        t[again] = t[again] + cohort_gap[running[again], k]
        reopened[again] = False
        waiting = todo[suspend]
        if waiting.size:
            w_rows = suspend
            events = np.where(
                at_d[w_rows] & tox_pending[w_rows], tox_done[running[waiting], cols], np.inf
            )
            events = np.minimum(
                events,
                np.where(
                    at_d[w_rows] & eff_pending[w_rows], eff_done[running[waiting], cols], np.inf
                ),
            )
            t[waiting] = events.min(axis=1)
            reopened[waiting] = True
        todo = np.concatenate([again, waiting])
    return nxt, code, t


def replay_tite_boin12_trial(
    design: TITEBOIN12,
    p_tox: np.ndarray,
    p_eff: np.ndarray,
    tox: np.ndarray,
    eff: np.ndarray,
    gap: np.ndarray,
) -> tuple[list[int], Decision, EfficacyState]:
    """One TITE-BOIN12 trial through ``design.decide`` with the simulator's conventions (the
    scalar reference path): cohort k is decided when its patients have arrived; while accrual
    is suspended the trial waits for the next outcome at the current dose, then the cohort
    accrues again. Returns the cohort doses, the decision on the complete data and that
    state."""
    cs, tau_t, tau_e = design.cohort_size, design.window_days, design.eff_window_days
    gaps = design.arrivals.gaps_days(np.asarray(gap, dtype=float)[None, : design.max_patients])
    cohort_gap = gaps.reshape(design.n_cohorts, cs).sum(axis=1)
    # (level, start, DLT, DLT assessed at, response, response assessed at)
    enrolled: list[tuple[int, float, bool, float, bool, float]] = []

    def followup(t: float, s: float, x: bool, td: float, r: bool, ed: float) -> float:
        # a completed assessment ends at start + window: keep rounding from reopening it
        f = t - s
        f = max(f, tau_t) if not x and td <= t else f
        return max(f, tau_e) if not r and ed <= t else f

    def state_at(t: float) -> EfficacyState:
        return EfficacyState(
            design.n_doses,
            tuple(
                EfficacyPatient(level, x and td <= t, r and ed <= t, followup(t, s, x, td, r, ed))
                for level, s, x, td, r, ed in enrolled
            ),
            tox_window_days=tau_t,
            eff_window_days=tau_e,
        )

    doses: list[int] = []
    dose, last_start = design.start, 0.0
    for k in range(design.n_cohorts):
        t = last_start + cohort_gap[k]
        reopened = False
        while k > 0:
            decision = design.decide(state_at(t))
            if decision.accrual_suspended:
                t = min(
                    e
                    for level, s, x, td, r, ed in enrolled
                    if level == dose
                    for e in (td, ed)
                    if e > t
                )
                reopened = True
            elif reopened:
                t, reopened = t + cohort_gap[k], False
            elif not decision.continue_trial:
                break
            else:
                dose = int(decision.next_dose)
                break
        else:
            decision = None
        if decision is not None and not decision.continue_trial:
            break
        for j in range(k * cs, (k + 1) * cs):
            x, r = bool(tox[j] < p_tox[dose]), bool(eff[j] < p_eff[dose])
            td = t + (float(weibull_event_days(tox[j], p_tox[dose], tau_t)) if x else tau_t)
            ed = t + (float(weibull_event_days(eff[j], p_eff[dose], tau_e)) if r else tau_e)
            enrolled.append((dose, t, x, td, r, ed))
        doses.append(dose)
        last_start = t
    final = state_at(np.inf)
    final = EfficacyState(
        design.n_doses,
        tuple(EfficacyPatient(p.level, p.dlt, p.response) for p in final.patients),
        tox_window_days=tau_t,
        eff_window_days=tau_e,
    )
    return doses, BOIN12.decide(design, final), final
