"""The BF-BOIN simulator (compiled, trial after trial) and its scalar reference path.

Column j of the latent patients is the j-th arriving patient, enrolled or not: ``gap`` gives
the arrival (:class:`~oncotrial.designs.bfboin.Arrivals`), ``tox`` the DLT at dose d
(``tox < p_T[d]``) and its Weibull day (:func:`~oncotrial.designs.bfboin.weibull_event_days`),
``eff`` the response (``eff < p_R[d]``), known at the end of the DLT window. The scalar path
:func:`replay_bfboin_trial` walks the same arrivals one by one through ``BFBOIN.decide``,
building the trial's state at every arrival; the tests hold the two to the same trials.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from oncotrial.designs.bfboin import BFBOIN, BfBoinError, backfill_open, escalation_decision
from oncotrial.designs.efficacy import (
    MAX_N,
    N_AT_DOSE,
    TOO_TOXIC,
    EfficacyLatents,
    EfficacyOutcomes,
    EfficacyPatient,
    EfficacyState,
    weibull_event_days,
)


class ArrivalsExhaustedError(BfBoinError):
    """Some trial needed more latent arrivals than were drawn."""


@njit(cache=True)
def _weibull_day(u: float, shape: float, scale: float) -> float:
    """:func:`~oncotrial.designs.efficacy.weibull_event_days` with the dose's parameters."""
    return scale * (-np.log1p(-u)) ** (1.0 / shape)


@njit(cache=True)
def _complete_by(t, esc_n, esc_y, bf_done, bf_dose, bf_dlt, n_bf, n_done, y_done):
    """Patients with a complete DLT window before t, and their DLTs, per dose: every evaluated
    escalation patient and the backfilled ones done by then (into ``n_done``/``y_done``)."""
    n_done[:] = esc_n
    y_done[:] = esc_y
    for b in range(n_bf):
        if bf_done[b] < t:
            n_done[bf_dose[b]] += 1
            y_done[bf_dose[b]] += bf_dlt[b]


@njit(cache=True)
def _run_trials(
    p_tox, p_resp, tox, eff, arrival, start, n_cohorts, cohort_size, cap, window, shape, scale,
    codes, escalate, deescalate, eliminate, stop, stop_any, extrasafe, n_earlystop,
    out_n, out_y, out_r, out_bf, out_duration, out_reason, out_cohorts,
):  # fmt: skip
    """Every trial, arrival by arrival (see :func:`simulate_bfboin`); returns False when some
    trial runs out of latent arrivals."""
    n_trials, width = tox.shape
    n_doses = p_tox.shape[0]
    most = n_doses * cap
    esc_n = np.zeros(n_doses, np.int64)
    esc_y = np.zeros(n_doses, np.int64)
    esc_r = np.zeros(n_doses, np.int64)
    treated = np.zeros(n_doses, np.int64)  # escalation patients evaluated + backfilled
    n_done = np.zeros(n_doses, np.int64)
    y_done = np.zeros(n_doses, np.int64)
    responded = np.zeros(n_doses, np.bool_)
    open_ = np.zeros(n_doses, np.bool_)
    first_resp = np.empty(n_doses)
    bf_done = np.empty(most)
    bf_dose = np.empty(most, np.int64)
    bf_dlt = np.empty(most, np.bool_)
    bf_resp = np.empty(most, np.bool_)
    cohort_done = np.empty(cohort_size)
    cohort_dlt = np.empty(cohort_size, np.bool_)
    for i in range(n_trials):
        esc_n[:] = 0
        esc_y[:] = 0
        esc_r[:] = 0
        treated[:] = 0
        first_resp[:] = np.inf
        n_bf = 0
        dose, low, ptr, last_done, reason, cohorts = start, n_doses, 0, 0.0, 0, 0
        for _ in range(n_cohorts):
            if ptr + cohort_size >= width:
                return False
            done_at = 0.0
            for j in range(cohort_size):
                t, u = arrival[i, ptr + j], tox[i, ptr + j]
                dlt = u < p_tox[dose]
                cohort_dlt[j] = dlt
                cohort_done[j] = t + (_weibull_day(u, shape[dose], scale[dose]) if dlt else window)
                done_at = max(done_at, cohort_done[j])
                if eff[i, ptr + j] < p_resp[dose]:
                    esc_r[dose] += 1
                    first_resp[dose] = min(first_resp[dose], t + window)
            ptr += cohort_size
            cohorts += 1
            # arrivals while the cohort is followed: backfill the highest open dose
            while arrival[i, ptr] <= done_at:
                t = arrival[i, ptr]
                seen = False
                for k in range(dose):
                    responded[k] = first_resp[k] < t
                    seen = seen or responded[k]
                if seen:
                    _complete_by(t, esc_n, esc_y, bf_done, bf_dose, bf_dlt, n_bf, n_done, y_done)
                    n_here, y_here = esc_n[dose], esc_y[dose]
                    for j in range(cohort_size):
                        if cohort_done[j] < t:
                            n_here += 1
                            y_here += cohort_dlt[j]
                    backfill_open(
                        dose,
                        responded,
                        n_done,
                        y_done,
                        n_here,
                        y_here,
                        treated,
                        cap,
                        deescalate,
                        open_,
                    )
                    for k in range(dose - 1, -1, -1):
                        if open_[k]:
                            u = tox[i, ptr]
                            dlt = u < p_tox[k]
                            day = _weibull_day(u, shape[k], scale[k]) if dlt else window
                            bf_done[n_bf], bf_dose[n_bf], bf_dlt[n_bf] = t + day, k, dlt
                            bf_resp[n_bf] = eff[i, ptr] < p_resp[k]
                            n_bf += 1
                            treated[k] += 1
                            break
                ptr += 1
                if ptr >= width:
                    return False
            # the escalation decision when the next patient arrives
            decide_at = arrival[i, ptr]
            esc_n[dose] += cohort_size
            treated[dose] += cohort_size
            for j in range(cohort_size):
                esc_y[dose] += cohort_dlt[j]
            last_done = done_at
            _complete_by(decide_at, esc_n, esc_y, bf_done, bf_dose, bf_dlt, n_bf, n_done, y_done)
            dose, low, halt, ended = escalation_decision(
                dose,
                n_done,
                y_done,
                esc_n[0],
                esc_y[0],
                low,
                codes,
                escalate,
                deescalate,
                eliminate,
                stop,
                stop_any,
                extrasafe,
                n_earlystop,
            )
            if halt:
                reason = TOO_TOXIC
                break
            if ended:
                reason = N_AT_DOSE
                break
        # the data are those complete when the last escalation cohort completed
        out_n[i, :] = esc_n
        out_y[i, :] = esc_y
        out_r[i, :] = esc_r
        out_bf[i, :] = 0
        for b in range(n_bf):
            if bf_done[b] < last_done:
                out_n[i, bf_dose[b]] += 1
                out_y[i, bf_dose[b]] += bf_dlt[b]
                out_r[i, bf_dose[b]] += bf_resp[b]
                out_bf[i, bf_dose[b]] += 1
        out_duration[i] = last_done
        out_reason[i] = reason
        out_cohorts[i] = cohorts
    return True


def simulate_bfboin(
    design: BFBOIN, p_tox: np.ndarray, p_resp: np.ndarray, latent: EfficacyLatents
) -> EfficacyOutcomes:
    """BF-BOIN trials, each arrival by arrival, compiled with numba (the event-driven backfill
    of one trial does not vectorise well across trials; numba runs the same kernels as
    ``BFBOIN.decide``, trial after trial).

    Per escalation cohort: enrol the cohort's arrivals, backfill the arrivals that come while
    it is followed to the highest open dose, then make the escalation decision when the first
    patient after the cohort's last DLT assessment arrives; that patient starts the next
    cohort. ``n_per_dose``/``dlt_per_dose`` count the patients whose DLT window was complete
    when the last escalation cohort completed (``get.oc.bf``); ``duration_days`` is that time.
    Raises :class:`ArrivalsExhaustedError` when a trial needs more arrivals than drawn.
    """
    n_trials, width = latent.tox.shape
    n_doses = design.n_doses
    tables = design.tables()
    p = np.clip(p_tox, 1e-12, 1 - 1e-12)
    shape = np.log(np.log1p(-p) / np.log1p(-p / 2)) / np.log(2.0)
    scale = design.window_days / (-np.log1p(-p)) ** (1.0 / shape)
    arrival = np.ascontiguousarray(design.arrivals.times_days(latent.gap[:, :width]))
    out_n, out_y, out_r, out_bf = (np.zeros((n_trials, n_doses), np.int64) for _ in range(4))
    duration = np.zeros(n_trials)
    reason = np.full(n_trials, MAX_N, dtype=np.int8)
    cohorts = np.zeros(n_trials, dtype=np.int64)
    complete = _run_trials(
        np.asarray(p_tox, float),
        np.asarray(p_resp, float),
        np.ascontiguousarray(latent.tox),
        np.ascontiguousarray(latent.eff),
        arrival,
        design.start,
        design.n_cohorts,
        design.cohort_size,
        design.backfill_cap,
        float(design.window_days),
        shape,
        scale,
        *tables.decision_args,
        design.extrasafe,
        design.n_earlystop,
        out_n,
        out_y,
        out_r,
        out_bf,
        duration,
        reason,
        cohorts,
    )
    if not complete:
        raise ArrivalsExhaustedError(f"the trials need more than the {width} arrivals drawn")
    no_dose = reason == TOO_TOXIC
    selected = np.where(no_dose, -1, design.mtd_from_counts(out_n, out_y))
    return EfficacyOutcomes(
        selected=selected,
        n_per_dose=out_n,
        dlt_per_dose=out_y,
        stopped_early=(reason != MAX_N) & (cohorts < design.n_cohorts),
        duration_days=duration,
        response_per_dose=out_r,
        backfill_per_dose=out_bf,
        stop_reason=reason,
    )


def replay_bfboin_trial(
    design: BFBOIN,
    p_tox: np.ndarray,
    p_resp: np.ndarray,
    tox: np.ndarray,
    eff: np.ndarray,
    gap: np.ndarray,
) -> dict:
    """One BF-BOIN trial arrival by arrival through ``design.decide`` (the scalar path).

    At each arrival the state holds what is known then (a DLT once it has happened, a response
    once the window is over) and the decision says where the patient goes: the escalation
    cohort, a backfill dose, nowhere (accrual waits) — or, when the cohort is complete, the
    escalation decision, after which the patient starts the next cohort. Returns the escalation
    patients and the backfilled ones whose window was complete when the last cohort completed,
    and their DLTs, per dose; the backfilled ones among them; that time; the final decision and
    the escalation doses.
    """
    window = design.window_days
    arrival = design.arrivals.times_days(np.asarray(gap, dtype=float)[None, :])[0]
    # (level, enrolled at, DLT, DLT day, response, backfilled)
    enrolled: list[tuple[int, float, bool, float, bool, bool]] = []
    eliminated_from: int | None = None
    doses: list[int] = []
    last_done = 0.0
    for j, t in enumerate(arrival):
        patients = tuple(
            EfficacyPatient(
                level,
                dlt and start + day < t,
                resp and start + window < t,
                followup_days=t - start,
                backfill=backfilled,
            )
            for level, start, dlt, day, resp, backfilled in enrolled
        )
        state = EfficacyState(
            design.n_doses, patients, None, window, window, eliminated_from=eliminated_from
        )
        decision = design.decide(state)
        escalation = [e for e in enrolled if not e[5]]
        if len(escalation) % design.cohort_size == 0 and escalation:
            cohort = escalation[-design.cohort_size :]
            cohort_done = max(s + (d if x else window) for _, s, x, d, _, _ in cohort)
            if cohort_done < t:
                last_done = cohort_done
                index = decision.details["eliminated_from_index"]
                eliminated_from = None if index is None else index - 1
        if not decision.continue_trial:
            n = np.zeros(design.n_doses, dtype=np.int64)
            y = np.zeros_like(n)
            backfilled = np.zeros_like(n)
            for level, start, dlt, day, _, bf in enrolled:
                if not bf or start + (day if dlt else window) < last_done:
                    n[level] += 1
                    y[level] += dlt
                    backfilled[level] += bf
            return {
                "n": n,
                "y": y,
                "backfill": backfilled,
                "duration_days": last_done,
                "decision": decision,
                "doses": doses,
            }
        role = decision.details["role"]
        if role == "wait":
            continue
        level = int(decision.next_dose)
        is_backfill = role == "backfill"
        if not is_backfill and len(escalation) % design.cohort_size == 0:
            doses.append(level)
        dlt = bool(tox[j] < p_tox[level])
        day = float(weibull_event_days(tox[j], p_tox[level], window)) if dlt else window
        enrolled.append((level, float(t), dlt, day, bool(eff[j] < p_resp[level]), is_backfill))
    raise BfBoinError("not enough latent arrivals to finish the trial")
