"""The BF-BOIN simulator, vectorised across trials, and its scalar reference path.

Column j of the latent patients is the j-th arriving patient, enrolled or not: ``gap`` gives
the arrival (:class:`~oncotrial.designs.bfboin.Arrivals`), ``tox`` the DLT at dose d
(``tox < p_T[d]``) and its Weibull day (:func:`~oncotrial.designs.bfboin.weibull_event_days`),
``eff`` the response (``eff < p_R[d]``), known at the end of the DLT window. The scalar path
:func:`replay_bfboin_trial` walks the same arrivals one by one through ``BFBOIN.decide``; the
tests hold the two to the same trials.
"""

from __future__ import annotations

import numpy as np

from oncotrial.designs.bfboin import (
    BFBOIN,
    BfBoinError,
    backfill_open,
    escalation_decision,
    highest_open,
)
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


class BackfillLedger:
    """The backfilled patients of many trials: who is still pending, and the counts so far.

    Pending patients sit in a few slots per trial (a trial rarely has more than a window's
    arrivals pending at once; the slots grow when needed). Asked for the counts at a later time,
    the ledger moves the patients completed since into per-dose counts, touching only trials
    in which one has completed: times asked for must not decrease per trial. ``record`` keeps
    every patient for the final count at an earlier time.
    """

    def __init__(self, n_trials: int, n_doses: int) -> None:
        self.n_doses = n_doses
        self.n_done = np.zeros((n_trials, n_doses), dtype=np.int64)
        self.y_done = np.zeros_like(self.n_done)
        self.enrolled = np.zeros_like(self.n_done)
        self.next_done = np.full(n_trials, np.inf)
        self.pending = np.full((n_trials, 8), np.inf)
        self.pending_flat = np.zeros((n_trials, 8), dtype=np.int64)
        self.pending_dlt = np.zeros((n_trials, 8), dtype=bool)
        self.count = np.zeros(n_trials, dtype=np.int64)
        self.rec_done = np.full((n_trials, 16), np.inf)
        self.rec_flat = np.zeros((n_trials, 16), dtype=np.int64)
        self.rec_dlt = np.zeros((n_trials, 16), dtype=bool)
        self.rec_resp = np.zeros((n_trials, 16), dtype=bool)

    @staticmethod
    def _grow(arrays: list[np.ndarray], fill: list) -> list[np.ndarray]:
        width = arrays[0].shape[1]
        return [
            np.concatenate([a, np.full((a.shape[0], width), f, dtype=a.dtype)], axis=1)
            for a, f in zip(arrays, fill, strict=True)
        ]

    def add(
        self,
        rows: np.ndarray,
        dose: np.ndarray,
        done: np.ndarray,
        dlt: np.ndarray,
        resp: np.ndarray,
    ) -> None:
        """Backfill one patient in each of ``rows`` (distinct trials)."""
        flat = rows * self.n_doses + dose
        free = np.isinf(self.pending[rows])
        if not free.any(axis=1).all():
            self.pending, self.pending_flat, self.pending_dlt = self._grow(
                [self.pending, self.pending_flat, self.pending_dlt], [np.inf, 0, False]
            )
            free = np.isinf(self.pending[rows])
        slot = np.argmax(free, axis=1)
        self.pending[rows, slot] = done
        self.pending_flat[rows, slot] = flat
        self.pending_dlt[rows, slot] = dlt
        self.next_done[rows] = np.minimum(self.next_done[rows], done)
        if int(self.count[rows].max()) >= self.rec_done.shape[1]:
            self.rec_done, self.rec_flat, self.rec_dlt, self.rec_resp = self._grow(
                [self.rec_done, self.rec_flat, self.rec_dlt, self.rec_resp],
                [np.inf, 0, False, False],
            )
        at = self.count[rows]
        self.rec_done[rows, at] = done
        self.rec_flat[rows, at] = flat
        self.rec_dlt[rows, at] = dlt
        self.rec_resp[rows, at] = resp
        self.count[rows] += 1
        self.enrolled.ravel()[flat] += 1

    def completed(self, rows: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Backfilled patients with a complete DLT window before t, and their DLTs, per dose."""
        stale = self.next_done[rows] < t
        if stale.any():
            r, now = rows[stale], t[stale][:, None]
            times = self.pending[r]
            done = times < now
            i, j = np.nonzero(done)
            cells, where, counts = np.unique(
                self.pending_flat[r[i], j], return_inverse=True, return_counts=True
            )
            self.n_done.ravel()[cells] += counts
            dlts = np.bincount(where, self.pending_dlt[r[i], j], minlength=cells.size)
            self.y_done.ravel()[cells] += dlts.astype(np.int64)
            self.pending[r[i], j] = np.inf
            self.next_done[r] = np.where(done, np.inf, times).min(axis=1)
        return self.n_done[rows], self.y_done[rows]

    def final(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per dose, the backfilled patients complete before t (any t), their DLTs and
        responses."""
        shape = self.n_done.shape
        done = self.rec_done < t[:, None]
        flat = self.rec_flat[done]
        n = np.bincount(flat, minlength=shape[0] * shape[1]).reshape(shape)
        y = np.bincount(flat, self.rec_dlt[done], minlength=n.size).reshape(shape)
        r = np.bincount(flat, self.rec_resp[done], minlength=n.size).reshape(shape)
        return n, y.astype(np.int64), r.astype(np.int64)


def first_after(
    arrival: np.ndarray, rows: np.ndarray, start: np.ndarray, time: np.ndarray
) -> np.ndarray:
    """Index of the first arrival after ``time`` at or beyond column ``start``, per row.

    Arrival times increase along a row: a binary search, vectorised over the rows (the last
    column when no arrival comes after ``time``).
    """
    flat = arrival.ravel()
    width = arrival.shape[1]
    base = rows * width
    lo, hi = start.copy(), np.full(start.shape, width - 1)
    while True:
        todo = lo < hi
        if not todo.any():
            return lo
        mid = (lo + hi) // 2
        early = flat[base + mid] <= time
        lo = np.where(todo & early, mid + 1, lo)
        hi = np.where(todo & ~early, mid, hi)


def simulate_bfboin(
    design: BFBOIN, p_tox: np.ndarray, p_resp: np.ndarray, latent: EfficacyLatents
) -> EfficacyOutcomes:
    """BF-BOIN trials, one pass per escalation cohort over the trials still running.

    Each pass enrols the cohort's arrivals, then walks the arrivals that come while the cohort
    is followed (backfilling each to the highest open dose, all trials at once), then makes the
    escalation decision when the first patient after the cohort's last DLT assessment arrives;
    that patient starts the next cohort. ``n_per_dose``/``dlt_per_dose`` count the patients
    whose DLT window was complete when the last escalation cohort completed (``get.oc.bf``);
    ``duration_days`` is that time.
    """
    n_trials, width = latent.tox.shape
    n_doses, cs, cap = design.n_doses, design.cohort_size, design.backfill_cap
    window = design.window_days
    tables = design.tables()
    extra_cutoff = design.cutoff_eli - design.offset
    arrival = design.arrivals.times_days(latent.gap[:, :width])
    tox, eff = latent.tox, latent.eff
    esc_n = np.zeros((n_trials, n_doses), dtype=np.int64)
    esc_y = np.zeros_like(esc_n)
    esc_r = np.zeros_like(esc_n)
    ledger = BackfillLedger(n_trials, n_doses)
    first_resp = np.full((n_trials, n_doses), np.inf)
    dose = np.full(n_trials, design.start, dtype=np.int64)
    low = np.full(n_trials, n_doses, dtype=np.int64)
    ptr = np.zeros(n_trials, dtype=np.int64)
    last_done = np.zeros(n_trials)
    no_dose = np.zeros(n_trials, dtype=bool)
    reason = np.full(n_trials, MAX_N, dtype=np.int8)
    cohorts = np.zeros(n_trials, dtype=np.int64)

    def need(cols: np.ndarray) -> None:
        if cols.size and int(cols.max()) >= width:
            raise ArrivalsExhaustedError(f"the trials need more than the {width} arrivals drawn")

    doses = np.arange(n_doses)
    running = np.arange(n_trials)
    for _ in range(design.n_cohorts):
        if running.size == 0:
            break
        d = dose[running]
        cols = ptr[running][:, None] + np.arange(cs)[None, :]
        need(cols)
        start = arrival[running[:, None], cols]
        u = tox[running[:, None], cols]
        pt = p_tox[d][:, None]
        dlt = u < pt
        finish = start + np.where(dlt, weibull_event_days(u, pt, window), window)
        resp = eff[running[:, None], cols] < p_resp[d][:, None]
        seen = np.where(resp, start + window, np.inf).min(axis=1)
        first_resp[running, d] = np.minimum(first_resp[running, d], seen)
        cohort_done = finish.max(axis=1)
        ptr[running] += cs
        cohorts[running] += 1
        # arrivals while the cohort is followed may be backfilled; the first one after its
        # last DLT assessment triggers the escalation decision and starts the next cohort
        first_wait = ptr[running]
        trigger = first_after(arrival, running, first_wait, cohort_done)
        need(np.where(arrival[running, trigger] > cohort_done, trigger, width))
        below = doses[None, :] < d[:, None]
        resp_below = np.where(below, first_resp[running], np.inf).min(axis=1)
        cand = np.flatnonzero((trigger > first_wait) & (resp_below < cohort_done))
        pos = first_wait[cand]
        while cand.size:
            tr = running[cand]
            t = arrival[tr, pos]
            # a dose can be opened only once a response is known below the escalation dose
            live = t > resp_below[cand]
            if live.any():
                w, tr_w, t_w, pos_w = cand[live], tr[live], t[live], pos[live]
                d_w = d[w]
                n_bf, y_bf = ledger.completed(tr_w, t_w)
                here_done = finish[w] < t_w[:, None]
                open_ = backfill_open(
                    d_w,
                    first_resp[tr_w] < t_w[:, None],
                    esc_n[tr_w] + n_bf,
                    esc_y[tr_w] + y_bf,
                    esc_n[tr_w, d_w] + here_done.sum(axis=1),
                    esc_y[tr_w, d_w] + (here_done & dlt[w]).sum(axis=1),
                    esc_n[tr_w] + ledger.enrolled[tr_w],
                    cap,
                    tables,
                )
                target = highest_open(open_)
                go = target >= 0
                if go.any():
                    g_tr, g_dose, g_t, g_pos = tr_w[go], target[go], t_w[go], pos_w[go]
                    ug = tox[g_tr, g_pos]
                    pg = p_tox[g_dose]
                    g_dlt = ug < pg
                    g_done = g_t + np.where(g_dlt, weibull_event_days(ug, pg, window), window)
                    ledger.add(g_tr, g_dose, g_done, g_dlt, eff[g_tr, g_pos] < p_resp[g_dose])
            pos = pos + 1
            more = pos < trigger[cand]
            cand, pos = cand[more], pos[more]
        ptr[running] = trigger
        # the escalation decision when the next patient arrives
        decide_at = arrival[running, ptr[running]]
        esc_n[running, d] += cs
        esc_y[running, d] += dlt.sum(axis=1)
        esc_r[running, d] += resp.sum(axis=1)
        last_done[running] = cohort_done
        n_bf, y_bf = ledger.completed(running, decide_at)
        nxt, new_low, stop, ended = escalation_decision(
            d,
            esc_n[running] + n_bf,
            esc_y[running] + y_bf,
            esc_n[running, 0],
            esc_y[running, 0],
            low[running],
            tables,
            design.extrasafe,
            extra_cutoff,
            design.target,
            design.n_earlystop,
        )
        low[running] = new_low
        dose[running] = nxt
        no_dose[running[stop]] = True
        reason[running[stop]] = TOO_TOXIC
        reason[running[ended]] = N_AT_DOSE
        running = running[~stop & ~ended]
    n_bf, y_bf, r_bf = ledger.final(last_done)
    n_all = esc_n + n_bf
    y_all = esc_y + y_bf
    selected = np.where(no_dose, -1, design.select_mtd(n_all, y_all))
    return EfficacyOutcomes(
        selected=selected,
        n_per_dose=n_all,
        dlt_per_dose=y_all,
        stopped_early=(reason != MAX_N) & (cohorts < design.n_cohorts),
        duration_days=last_done,
        response_per_dose=esc_r + r_bf,
        backfill_per_dose=n_bf,
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
