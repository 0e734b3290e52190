"""TITE-BOIN: BOIN with patients still inside the DLT window (Yuan, Lin, Li, Nie & Warren
2018, Clin Cancer Res 24:4921).

At the current dose, with n patients treated, y DLTs observed, c patients pending and
STFT = Σ (follow-up / window) over the pending ones:

1. eliminate the dose (and all above) when n ≥ 3 and Pr(p > φ | y, n) > 0.95 under Beta(1, 1),
   pending patients counted as DLT-free (as in BOIN, section "Safety rule");
2. de-escalate at once when y/n ≥ λd, whatever the pending patients show;
3. suspend accrual when more than half of the dose's patients are pending (c/n > 0.5);
4. otherwise impute the pending outcomes: p̃ = (y + φ/2)/(n − c + 1) (prior Beta(φ/2, 1 − φ/2)),
   p̂ = [y + p̃/(1 − p̃)·(c − STFT)]/n; escalate when p̂ ≤ λe and y/n < φ, de-escalate when
   p̂ ≥ λd and y/n ≥ φ, otherwise stay.

λe, λd are BOIN's. The MTD is chosen as in BOIN once every patient has completed the window.
The rule reproduces the published decision tables (Yuan et al. 2018, Table 1 and
Supplementary Table S1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from oncotrial.designs.admissibility import admissible_dose, eliminated_doses
from oncotrial.designs.base import Decision, TrialState
from oncotrial.designs.boin import (
    BOIN,
    BoinError,
    _by_n,
    _dose_words,
    _lowest_eliminated,
    _tables_for,
)
from oncotrial.designs.mtd import isotonic_mtd
from oncotrial.designs.simulation import (
    AccrualModel,
    DltTimeModel,
    LatentPatients,
    TrialOutcomes,
)

ESCALATE, STAY, DEESCALATE, SUSPEND = 1, 0, -1, 2


def tite_boin_rule(
    n: np.ndarray,
    y: np.ndarray,
    pending: np.ndarray,
    stft: np.ndarray,
    target: float,
    lambda_e: float,
    lambda_d: float,
    deescalate_by_n: np.ndarray,
    max_pending_fraction: float = 0.5,
) -> np.ndarray:
    """The move at the current dose: ESCALATE, STAY, DEESCALATE or SUSPEND (vectorised).

    Steps 2–4 of the module docstring; ``deescalate_by_n[n]`` is BOIN's integer de-escalation
    boundary (y ≥ it ⇔ y/n ≥ λd). Elimination (step 1) is applied by the caller.
    """
    n = np.asarray(n)
    y = np.asarray(y)
    pending = np.asarray(pending)
    stft = np.asarray(stft, dtype=float)
    safe_n = np.maximum(n, 1)
    observed_rate = y / safe_n
    sure_down = (n > 0) & (y >= deescalate_by_n[n])
    suspend = (n > 0) & ~sure_down & (pending > max_pending_fraction * n)
    p_tilde = (y + target / 2) / (n - pending + 1)
    p_hat = (y + p_tilde / (1 - p_tilde) * (pending - stft)) / safe_n
    up = (n > 0) & (p_hat <= lambda_e) & (observed_rate < target)
    down = (n > 0) & (p_hat >= lambda_d) & (observed_rate >= target)
    return np.where(
        sure_down | (~suspend & down),
        DEESCALATE,
        np.where(suspend, SUSPEND, np.where(up, ESCALATE, STAY)),
    )


def _dose_data(state: TrialState, dose: int) -> tuple[int, int, int, float]:
    """Treated, observed DLTs, pending and STFT at ``dose``."""
    treated = [p for p in state.patients if p.level == dose]
    pending = [p for p in treated if p.is_pending(state.window_days)]
    stft = sum(min(p.followup_days or 0.0, state.window_days) for p in pending)
    return (
        len(treated),
        sum(p.dlt for p in treated),
        len(pending),
        stft / state.window_days,
    )


def _observed_counts(state: TrialState) -> tuple[np.ndarray, np.ndarray]:
    """Per dose: all treated patients and the DLTs observed so far (pending = no DLT yet)."""
    n = state.enrolled_counts()
    y = np.zeros(state.n_doses, dtype=int)
    for p in state.patients:
        y[p.level] += int(p.dlt)
    return n, y


_MOVE_WORDS = {ESCALATE: "escalate", STAY: "stay", DEESCALATE: "de-escalate", SUSPEND: "suspend"}


@dataclass(frozen=True)
class TITEBOIN(BOIN):
    """TITE-BOIN (Yuan et al. 2018): BOIN that keeps enrolling while patients are pending.

    ``max_pending_fraction``: accrual is suspended when more than this share of the current
    dose's patients are pending (0.5 in the paper).
    """

    max_pending_fraction: float = 0.5
    name: str = "tite-boin"

    def decide(self, state: TrialState) -> Decision:
        """Next dose with pending patients counted by their follow-up (module docstring)."""
        if state.n_doses != self.n_doses:
            raise BoinError(f"the data have {state.n_doses} doses, the design {self.n_doses}")
        dose = state.current_dose
        if dose is None:
            return Decision(
                self.start, True, (), f"no patient treated yet: start at dose {self.start + 1}"
            )
        n_all, y_obs = _observed_counts(state)
        tables, stop = _tables_for(self, int(n_all.max(initial=0)))
        lowest = int(_lowest_eliminated(n_all[None, :], y_obs[None, :], tables, stop)[0])
        eliminated = eliminated_doses(lowest, self.n_doses)
        n_d, y_d, c_d, stft = _dose_data(state, dose)
        details = {
            "lambda_e": tables.lambda_e,
            "lambda_d": tables.lambda_d,
            "n": n_all.tolist(),
            "dlts": y_obs.tolist(),
            "pending": state.pending_counts().tolist(),
            "stft": stft,
        }
        counts = (
            f"dose {dose + 1}: {y_d} DLT(s) observed in {n_d} patient(s), {c_d} pending "
            f"(STFT {stft:.2f})"
        )
        pending_total = int(state.pending_counts().sum())
        if lowest == 0:
            return Decision(
                None,
                False,
                eliminated,
                f"{counts}; the lowest dose is eliminated: stop, no dose is acceptable",
                details=details,
            )
        move = int(
            tite_boin_rule(
                np.array(n_d),
                np.array(y_d),
                np.array(c_d),
                np.array(stft),
                self.target,
                tables.lambda_e,
                tables.lambda_d,
                _by_n(tables.deescalate),
                self.max_pending_fraction,
            )
        )
        if dose >= lowest:
            move = DEESCALATE
        proposed = dose + 1 if move == ESCALATE else dose - 1 if move == DEESCALATE else dose
        proposed = min(max(proposed, 0), self.n_doses - 1)
        nxt = int(admissible_dose(proposed, dose, lowest))
        if n_d and c_d:
            p_tilde = (y_d + self.target / 2) / (n_d - c_d + 1)
            details["p_hat"] = (y_d + p_tilde / (1 - p_tilde) * (c_d - stft)) / n_d
        finished = len(state.patients) >= self.max_patients or (
            n_d >= self.n_earlystop and move != SUSPEND and nxt == dose
        )
        if finished:
            why = (
                "maximum sample size reached"
                if len(state.patients) >= self.max_patients
                else f"{n_d} ≥ n.earlystop = {self.n_earlystop} at a dose the rule stays at"
            )
            if pending_total:
                return Decision(
                    None,
                    True,
                    eliminated,
                    f"{counts}; {why}: enrolment ends; the MTD is selected when the "
                    f"{pending_total} pending patient(s) complete the window",
                    accrual_suspended=True,
                    details=details,
                )
            mtd = self.select_mtd(state)
            return Decision(
                None,
                False,
                eliminated,
                f"{counts}; {why}: stop, MTD = {_dose_words(mtd)}",
                mtd=mtd,
                details=details,
            )
        if move == SUSPEND:
            return Decision(
                dose,
                True,
                eliminated,
                f"{counts}; more than {self.max_pending_fraction:.0%} of the dose's patients "
                "are pending: suspend accrual until more data are complete",
                accrual_suspended=True,
                details=details,
            )
        words = _MOVE_WORDS[move]
        if nxt != proposed:
            words += f", but dose {proposed + 1} is not admissible"
        return Decision(
            nxt, True, eliminated, f"{counts}; {words} → dose {nxt + 1}", details=details
        )

    def select_mtd(self, state: TrialState) -> int | None:
        """BOIN's selection on complete data (pending patients must have finished)."""
        return BOIN.select_mtd(self, state)

    def simulate(
        self,
        truth: np.ndarray,
        latent: LatentPatients,
        accrual: AccrualModel | None = None,
        dlt_time: DltTimeModel | None = None,
    ) -> TrialOutcomes:
        """Operating characteristics with staggered entry, vectorised across trials.

        Patients arrive by ``accrual``; a cohort is enrolled once its patients have arrived and
        gets the dose decided on the data observed at that moment (DLT times from
        ``dlt_time``). When accrual is suspended the design waits for the next DLT or window
        completion at the current dose and re-decides; patients who arrived meanwhile are not
        enrolled, so the cohort must accrue again after reopening. The MTD is selected when
        every patient has completed the window; the trial lasts until then.
        """
        truth = np.asarray(truth, dtype=float)
        if truth.shape != (self.n_doses,):
            raise BoinError(f"truth needs {self.n_doses} probabilities, got {truth.shape}")
        accrual = accrual or AccrualModel()
        dlt_time = dlt_time or DltTimeModel(window_days=self.window_days)
        window = self.window_days
        cs, n_doses, n_cohorts = self.cohort_size, self.n_doses, self.n_cohorts
        n_trials, width = latent.n_trials, self.max_patients
        tables, stop_tab = _tables_for(self, width)
        dee_by_n = _by_n(tables.deescalate)
        gaps = accrual.gaps(latent.gap[:, :width]).reshape(n_trials, n_cohorts, cs).sum(axis=2)
        dlt_day = dlt_time.days(latent.time[:, :width])
        start = np.full((n_trials, width), np.inf)
        dose_of = np.full((n_trials, width), -1, dtype=np.int64)
        has_dlt = np.zeros((n_trials, width), dtype=bool)
        n_all = np.zeros((n_trials, n_doses), dtype=np.int64)
        dose = np.full(n_trials, self.start, dtype=np.int64)
        last_start = np.zeros(n_trials)
        stopped_at = np.full(n_trials, np.nan)
        stopped_early = np.zeros(n_trials, dtype=bool)
        running = np.arange(n_trials)
        for k in range(n_cohorts):
            if running.size == 0:
                break
            t = last_start[running] + gaps[running, k]
            if k > 0:
                nxt, stop, t = self._decide_at(
                    t,
                    running,
                    k,
                    gaps,
                    start,
                    dose_of,
                    has_dlt,
                    dlt_day,
                    n_all,
                    dose,
                    tables,
                    stop_tab,
                    dee_by_n,
                )
                stopped_at[running[stop]] = t[stop]
                stopped_early[running[stop]] = True
                go = ~stop
                dose[running[go]] = nxt[go]
                running, t = running[go], t[go]
            cols = slice(k * cs, (k + 1) * cs)
            d = dose[running]
            start[running, cols] = t[:, None]
            dose_of[running, cols] = d[:, None]
            has_dlt[running, cols] = latent.tox[running, cols] < truth[d][:, None]
            n_all[running, d] += cs
            last_start[running] = t
        y_all = np.zeros((n_trials, n_doses), dtype=np.int64)
        for j in range(n_doses):
            y_all[:, j] = (has_dlt & (dose_of == j)).sum(axis=1)
        lowest = _lowest_eliminated(n_all, y_all, tables, stop_tab)
        bound = tables.lambda_d if self.bound_mtd else None
        selected = isotonic_mtd(n_all, y_all, self.target, lowest, bound)
        duration = np.where(np.isnan(stopped_at), last_start + window, stopped_at)
        # a trial stopped by n.earlystop still follows its patients before selecting the MTD
        duration = np.where(lowest == 0, duration, np.maximum(duration, last_start + window))
        return TrialOutcomes(selected, n_all, y_all, stopped_early, duration)

    def _decide_at(
        self,
        t,
        running,
        k,
        gaps,
        start,
        dose_of,
        has_dlt,
        dlt_day,
        n_all,
        dose,
        tables,
        stop_tab,
        dee_by_n,
    ):
        """Decisions for the running trials at their cohort-arrival times ``t``.

        Returns next doses, stop flags and the (possibly later) enrolment times.
        """
        window = self.window_days
        n_doses = self.n_doses
        enrolled = k * self.cohort_size
        st = start[running, :enrolled]
        dd = dose_of[running, :enrolled]
        tox = has_dlt[running, :enrolled]
        event = st + np.where(tox, dlt_day[running, :enrolled], window)
        n_r = n_all[running]
        d = dose[running]
        nxt = d.copy()
        stop = np.zeros(running.size, dtype=bool)
        todo = np.ones(running.size, dtype=bool)
        reopened = np.zeros(running.size, dtype=bool)
        t = t.copy()
        for _ in range(2 * enrolled + 4):
            idx = np.flatnonzero(todo)
            if idx.size == 0:
                break
            now = t[idx][:, None]
            seen_dlt = tox[idx] & (event[idx] <= now)
            pending = event[idx] > now
            y_obs = np.zeros((idx.size, n_doses), dtype=np.int64)
            for j in range(n_doses):
                y_obs[:, j] = (seen_dlt & (dd[idx] == j)).sum(axis=1)
            n_i = n_r[idx]
            low = _lowest_eliminated(n_i, y_obs, tables, stop_tab)
            di = d[idx]
            at_dose = dd[idx] == di[:, None]
            rows = np.arange(idx.size)
            c_d = (pending & at_dose).sum(axis=1)
            stft = (np.where(pending & at_dose, now - st[idx], 0.0)).sum(axis=1) / window
            move = tite_boin_rule(
                n_i[rows, di],
                y_obs[rows, di],
                c_d,
                stft,
                self.target,
                tables.lambda_e,
                tables.lambda_d,
                dee_by_n,
                self.max_pending_fraction,
            )
            move = np.where(di >= low, DEESCALATE, move)
            proposed = np.clip(di + np.where(move == SUSPEND, 0, move), 0, n_doses - 1)
            adm = admissible_dose(proposed, di, low)
            safety = low == 0
            converged = (n_i[rows, di] >= self.n_earlystop) & (move != SUSPEND) & (adm == di)
            finished = safety | converged
            suspended = (move == SUSPEND) & ~finished
            arrived = ~suspended & ~reopened[idx]
            stop[idx[arrived]] = finished[arrived]
            nxt[idx[arrived]] = adm[arrived]
            todo[idx[arrived]] = False
            # accrual reopened: the cohort accrues afresh and is decided when it has arrived
            reopen = idx[~suspended & reopened[idx]]
            t[reopen] = t[reopen] + gaps[running[reopen], k]
            reopened[reopen] = False
            if suspended.any():
                sus = idx[suspended]
                later = np.where(
                    (event[sus] > t[sus][:, None]) & at_dose[suspended], event[sus], np.inf
                )
                t[sus] = later.min(axis=1)
                reopened[sus] = True
        return nxt, stop, t
