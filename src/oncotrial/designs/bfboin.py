"""BF-BOIN: BOIN with backfilling (Zhao, Yuan, Korn & Freidlin 2024, Clin Cancer Res 30:673).

While an escalation cohort is followed, newly arriving patients may be "backfilled" to lower
doses already cleared, to learn more about them. Rules (paper, "Methods"; the conventions of
the authors' R package bfboin 0.1.1, ``get.oc.bf``):

* Backfill eligibility. A dose k below the current escalation dose d is open to backfilling when
  (1) at least one patient at k has responded, (2) it is safe: its DLT data — alone or pooled
  with those of the next higher dose — are below BOIN's de-escalation boundary, and every dose
  between it and d is safe too, and (3) it holds fewer than ``backfill_cap`` patients. A new
  patient goes to the highest open dose; with none open (or while the escalation cohort has
  free places) the escalation cohort comes first, and otherwise the patient is not enrolled.
* Escalation decisions (at the end of each escalation cohort) use every patient whose DLT
  window is complete, backfilled or not. When the decision at d agrees with those at the lower
  doses (BOIN: escalate, stay, de-escalate, eliminate at the dose's own counts), BOIN's move is
  made. When backfill data contradict it — d says escalate while a lower dose does not, or a
  lower dose says de-escalate/eliminate — the data from the highest conflicting dose b* up to
  d are pooled: escalate if the pooled rate is ≤ λe, de-escalate to the highest dose k whose data
  pooled from b* to k are below λd (or to b* − 1) if it is ≥ λd, and stay otherwise.
* Backfilling ends with escalation. At the end, the MTD is chosen by BOIN's isotonic rule on all
  patients whose DLT window was complete when the last escalation cohort completed.
* An eliminated dose is never given again: where ``get.oc.bf`` would keep treating a dose it
  has just eliminated (pooled data diluted by safer doses in between), we go below it.

Simulation conventions (``get.oc.bf``): inter-arrival times uniform on (0, 2/rate) or
exponential; DLT times Weibull with half of the DLT probability in the first half of the
window; responses known at the end of the window. One deliberate difference: a dose closes to
backfilling when it *reaches* the cap (bfboin lets one more patient in, so its ``n.cap = c``
equals our ``backfill_cap = c + 1``).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import stats

from oncotrial.designs.base import Decision
from oncotrial.designs.boin import BOIN, BoinBoundaries, _lowest_eliminated, _tables_for
from oncotrial.designs.efficacy import (
    DAYS_PER_MONTH,
    Arrivals,
    EfficacyDesignError,
    EfficacyLatents,
    EfficacyOutcomes,
    EfficacyState,
    check_truth,
)
from oncotrial.designs.mtd import isotonic_mtd
from oncotrial.designs.tables import DEESCALATE, ELIMINATE, ESCALATE, STAY

if TYPE_CHECKING:
    from oncotrial.protocol.naming import DoseNames


class BfBoinError(EfficacyDesignError):
    """Invalid BF-BOIN parameters or data."""


@dataclass(frozen=True)
class BfTables:
    """BOIN's boundaries by n = 0..n_max as BF-BOIN uses them (n = 0 reads the n = 1 column).

    ``codes[n, y]`` is E/S/D/DU (:mod:`oncotrial.designs.tables` codes); ``escalate``,
    ``deescalate`` and ``eliminate`` (n + 1: never) are the integer boundaries; ``stop`` the
    extra-safe boundary for the lowest dose (n + 1: never).
    """

    lambda_e: float
    lambda_d: float
    codes: np.ndarray
    escalate: np.ndarray
    deescalate: np.ndarray
    eliminate: np.ndarray
    stop: np.ndarray


@functools.lru_cache(maxsize=32)
def bf_tables(
    target: float,
    n_max: int,
    p_saf: float | None,
    p_tox: float | None,
    cutoff_eli: float,
    extra_cutoff: float | None,
) -> BfTables:
    """The look-up tables of a BF-BOIN design for up to ``n_max`` patients at a dose."""
    bounds = BoinBoundaries.compute(target, n_max, p_saf, p_tox, cutoff_eli)
    codes = bounds.table.codes().copy()
    codes[0] = codes[1]
    ns = np.arange(n_max + 1)

    def by_n(values: np.ndarray) -> np.ndarray:
        out = np.concatenate([values[:1], values])
        return np.where(out < 0, ns + 1, out)

    stop = np.full(n_max + 1, n_max + 2)
    if extra_cutoff is not None:
        for n in range(3, n_max + 1):
            over = stats.beta.sf(target, ns[: n + 1] + 1, n - ns[: n + 1] + 1) > extra_cutoff
            if over.any():
                stop[n] = int(np.argmax(over))
    codes.setflags(write=False)
    return BfTables(
        bounds.lambda_e,
        bounds.lambda_d,
        codes,
        by_n(bounds.escalate),
        by_n(bounds.deescalate),
        by_n(bounds.eliminate),
        stop,
    )


# --------------------------------------------------------------------------------------------
# Kernels on plain arrays (one row per trial)
# --------------------------------------------------------------------------------------------


def backfill_open(
    dose: np.ndarray,
    responded: np.ndarray,
    n_done: np.ndarray,
    y_done: np.ndarray,
    n_next_to_dose: np.ndarray,
    y_next_to_dose: np.ndarray,
    enrolled: np.ndarray,
    cap: int,
    tables: BfTables,
) -> np.ndarray:
    """Doses open to backfilling (module docstring, "Backfill eligibility"), per trial.

    ``responded``: a response has been seen at the dose; ``n_done``/``y_done``: patients with a
    complete DLT window and their DLTs; ``n_next_to_dose``/``y_next_to_dose``: the escalation
    patients at the current dose with a complete window, pooled with the dose just below it
    (``get.oc.bf``); ``enrolled``: everyone treated at the dose.
    """
    rows = np.arange(dose.shape[0])
    n_doses = n_done.shape[1]
    below = np.arange(n_doses)[None, :] < dose[:, None]
    safe_alone = y_done < tables.deescalate[np.maximum(n_done, 1)]
    n_up = np.concatenate([n_done[:, 1:], np.zeros_like(n_done[:, :1])], axis=1)
    y_up = np.concatenate([y_done[:, 1:], np.zeros_like(y_done[:, :1])], axis=1)
    top = np.maximum(dose - 1, 0)
    n_up[rows, top] = n_next_to_dose
    y_up[rows, top] = y_next_to_dose
    safe_pooled = y_done + y_up < tables.deescalate[np.maximum(n_done + n_up, 1)]
    unsafe = below & ~(safe_alone | safe_pooled)
    safe = below & (np.cumsum(unsafe, axis=1) == 0)
    return safe & responded & (enrolled < cap)


def highest_open(open_: np.ndarray) -> np.ndarray:
    """The highest open dose per row (-1 where none is open)."""
    n_doses = open_.shape[1]
    last = n_doses - 1 - np.argmax(open_[:, ::-1], axis=1)
    return np.where(open_.any(axis=1), last, -1)


def _pooled_decision(
    dose: np.ndarray,
    culprit: np.ndarray,
    n_tot: np.ndarray,
    y_tot: np.ndarray,
    n_esc_lowest: np.ndarray,
    y_esc_lowest: np.ndarray,
    low: np.ndarray,
    tables: BfTables,
    extrasafe: bool,
    extra_cutoff: float,
    target: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pooled rule when backfill data contradict the escalation dose (module docstring):
    pool from b*, the highest lower dose whose decision conflicts (``culprit``), up to the
    current dose. Returns the next dose, stop flags and "stays" (subject to n_earlystop)."""
    rows = np.arange(dose.shape[0])
    n_doses = n_tot.shape[1]
    k = np.arange(n_doses)[None, :]
    b_star = np.where(culprit, k, -1).max(axis=1)
    pool = (k >= b_star[:, None]) & (k <= dose[:, None])
    n_cum = np.cumsum(np.where(pool, n_tot, 0), axis=1)
    y_cum = np.cumsum(np.where(pool, y_tot, 0), axis=1)
    n_pool, y_pool = n_cum[rows, dose], y_cum[rows, dose]
    pool_up = y_pool <= tables.escalate[n_pool]
    pool_down = ~pool_up & (y_pool >= tables.deescalate[n_pool])
    rise = pool_up & (dose < n_doses - 1) & (dose + 1 < low)
    nxt = np.where(rise, dose + 1, dose)
    stays = (pool_up & ~rise) | (~pool_up & ~pool_down)
    safe = pool & (y_cum < tables.deescalate[n_cum])
    best_safe = np.where(safe, k, -1).max(axis=1)
    none_safe = pool_down & (best_safe < 0)
    bottom_stop = y_tot[:, 0] >= tables.eliminate[n_tot[:, 0]]
    if extrasafe:
        n0, y0 = n_esc_lowest, y_esc_lowest
        bottom_stop = bottom_stop | (stats.beta.sf(target, y0 + 1, n0 - y0 + 1) > extra_cutoff)
    stop = none_safe & (b_star == 0) & bottom_stop
    nxt = np.where(none_safe, np.maximum(b_star - 1, 0), nxt)
    stays |= pool_down & (best_safe == dose)
    moved_down = pool_down & (best_safe >= 0) & (best_safe < dose)
    nxt = np.where(moved_down, best_safe, nxt)
    return nxt, stop, stays


def escalation_decision(
    dose: np.ndarray,
    n_tot: np.ndarray,
    y_tot: np.ndarray,
    n_esc_lowest: np.ndarray,
    y_esc_lowest: np.ndarray,
    lowest_eliminated: np.ndarray,
    tables: BfTables,
    extrasafe: bool,
    extra_cutoff: float,
    target: float,
    n_earlystop: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """BF-BOIN's decision at the end of an escalation cohort (module docstring), per trial.

    ``n_tot``/``y_tot``: patients with a complete DLT window (escalation and backfill) and their
    DLTs at each dose; ``n_esc_lowest``/``y_esc_lowest``: escalation patients at the lowest dose
    (``get.oc.bf`` uses them in its pooled extra-safe check). Returns the next dose, the new
    lowest eliminated dose, a flag for trials that stop with no dose selected and a flag for
    trials that end by ``n_earlystop`` (the MTD is then selected).
    """
    rows = np.arange(dose.shape[0])
    n_doses = n_tot.shape[1]
    k = np.arange(n_doses)[None, :]
    code = tables.codes[np.maximum(n_tot, 1), y_tot]
    cur = code[rows, dose]
    lower = k < dose[:, None]
    not_escalate = lower & (code != ESCALATE)
    harmful = lower & (code >= DEESCALATE)
    lower_agree_up = ~not_escalate.any(axis=1)
    lower_agree = ~harmful.any(axis=1)
    low = lowest_eliminated.copy()
    nxt = dose.copy()
    stop = np.zeros(dose.shape[0], dtype=bool)
    stay_checked = np.zeros(dose.shape[0], dtype=bool)

    def may_rise(low_now: np.ndarray) -> np.ndarray:
        return (dose < n_doses - 1) & (dose + 1 < low_now)

    def extra_safe_hit(n: np.ndarray, y: np.ndarray) -> np.ndarray:
        return (n >= 3) & (y >= tables.stop[n]) if extrasafe else np.zeros(n.shape, bool)

    first = dose == 0
    other = ~first
    up = (first & (cur == ESCALATE)) | (other & (cur == ESCALATE) & lower_agree_up)
    rise = up & may_rise(low)
    nxt = np.where(rise, dose + 1, nxt)
    stay_checked |= up & ~rise
    stay_checked |= (cur == STAY) & (first | lower_agree)
    stop |= first & (cur == ELIMINATE)
    first_down = first & (cur == DEESCALATE)
    if extrasafe:
        stop |= first_down & extra_safe_hit(n_tot[:, 0], y_tot[:, 0])
    else:
        stay_checked |= first_down
    simple_down = other & (cur >= DEESCALATE) & lower_agree
    low = np.where(simple_down & (cur == ELIMINATE), np.minimum(low, dose), low)
    nxt = np.where(simple_down, dose - 1, nxt)
    # conflicts between the escalation dose and backfilled lower doses: pool from b*
    conflict_up = other & (cur == ESCALATE) & ~lower_agree_up
    conflict_down = other & (cur != ESCALATE) & ~lower_agree
    low = np.where(conflict_down & (cur == ELIMINATE), np.minimum(low, dose), low)
    conflict = conflict_up | conflict_down
    if conflict.any():
        rows_c = np.flatnonzero(conflict)
        nxt_c, stop_c, stay_c = _pooled_decision(
            dose[rows_c],
            np.where(conflict_up[rows_c, None], not_escalate[rows_c], harmful[rows_c]),
            n_tot[rows_c],
            y_tot[rows_c],
            n_esc_lowest[rows_c],
            y_esc_lowest[rows_c],
            low[rows_c],
            tables,
            extrasafe,
            extra_cutoff,
            target,
        )
        nxt[rows_c] = nxt_c
        stop[rows_c] |= stop_c
        stay_checked[rows_c] |= stay_c
    # get.oc.bf can stay at a dose it has just eliminated when pooled data look safe; an
    # eliminated dose is never given again here: go below it (stop when nothing is left)
    kept_above = ~stop & (nxt >= low)
    stop |= kept_above & (low == 0)
    stay_checked &= ~kept_above
    nxt = np.where(kept_above, np.maximum(low - 1, 0), nxt)
    ended = ~stop & stay_checked & (n_tot[rows, nxt] >= n_earlystop)
    return nxt, low, stop, ended


# --------------------------------------------------------------------------------------------
# The design
# --------------------------------------------------------------------------------------------


def _dose_name(names: DoseNames | None, index: int) -> str:
    return f"dose {index + 1}" if names is None else names.short(index)


@dataclass(frozen=True)
class BFBOIN:
    """BF-BOIN (module docstring), defaults of ``bfboin::get.oc.bf`` (cap 12 patients a dose).

    ``window_days`` is the DLT window; responses are known at its end. ``n_earlystop`` ends
    the trial once the dose BOIN stays at holds that many evaluated patients.

    Example
    -------
    >>> design = BFBOIN(n_doses=3, target=0.25, n_earlystop=9)
    >>> state = EfficacyState.from_outcomes("1NEN 2NNN", 3)
    >>> design.decide(state).next_dose + 1
    3
    """

    n_doses: int
    target: float
    cohort_size: int = 3
    n_cohorts: int = 10
    start: int = 0
    p_saf: float | None = None
    p_tox: float | None = None
    cutoff_eli: float = 0.95
    extrasafe: bool = False
    offset: float = 0.05
    bound_mtd: bool = False
    n_earlystop: int = 100
    backfill_cap: int = 12
    window_days: float = 30.0
    arrivals: Arrivals = Arrivals()
    name: str = "bf-boin"

    def __post_init__(self) -> None:
        if self.cohort_size < 3:
            raise BfBoinError("BF-BOIN needs cohorts of at least 3 patients (as bfboin)")
        if self.backfill_cap < 1:
            raise BfBoinError("the backfill cap must be at least 1 patient")
        if self.window_days <= 0:
            raise BfBoinError("the DLT window must be positive")
        if self.n_doses < 2:
            raise BfBoinError("backfilling needs at least two doses")
        _ = self.boin  # builds (and so validates) the BOIN design underneath

    @functools.cached_property
    def boin(self) -> BOIN:
        """The BOIN design underneath (boundaries, elimination and MTD selection)."""
        return BOIN(
            n_doses=self.n_doses,
            target=self.target,
            cohort_size=self.cohort_size,
            n_cohorts=self.n_cohorts,
            start=self.start,
            p_saf=self.p_saf,
            p_tox=self.p_tox,
            cutoff_eli=self.cutoff_eli,
            extrasafe=self.extrasafe,
            offset=self.offset,
            n_earlystop=self.n_earlystop,
            bound_mtd=self.bound_mtd,
            window_days=self.window_days,
        )

    @property
    def max_escalation_patients(self) -> int:
        return self.n_cohorts * self.cohort_size

    @property
    def max_patients(self) -> int:
        """Escalation patients plus the most that backfilling can add."""
        return self.max_escalation_patients + (self.n_doses - 1) * self.backfill_cap

    def tables(self) -> BfTables:
        n_max = 2 * self.max_escalation_patients + self.n_doses * self.backfill_cap
        extra = self.cutoff_eli - self.offset if self.extrasafe else None
        return bf_tables(self.target, n_max, self.p_saf, self.p_tox, self.cutoff_eli, extra)

    def latent_width(self) -> int:
        """Arrivals per trial the simulator may need (waiting patients included), generously."""
        per_window = self.arrivals.rate_per_month * self.window_days / DAYS_PER_MONTH
        return self.n_cohorts * (self.cohort_size + int(math.ceil(1.5 * per_window)) + 2) + 10

    def select_mtd(self, n: np.ndarray, y: np.ndarray) -> np.ndarray:
        """BOIN's MTD (isotonic, with elimination and the extra-safe rule) per row of counts."""
        tables, stop = _tables_for(self.boin, int(np.max(n, initial=0)))
        lowest = _lowest_eliminated(n, y, tables, stop)
        bound = tables.lambda_d if self.bound_mtd else None
        return isotonic_mtd(n, y, self.target, lowest, bound)

    # ---- conduct ----------------------------------------------------------------------------

    def decide(self, state: EfficacyState, names: DoseNames | None = None) -> Decision:
        """Where the next arriving patient goes, or the escalation decision when the current
        escalation cohort is complete.

        ``details["role"]`` is ``"escalation"`` (the patient joins the escalation cohort at
        ``next_dose``), ``"backfill"`` (the patient is backfilled to ``next_dose``) or ``"wait"``
        (no place: accrual is suspended until the cohort's data are complete).
        ``details["eliminated_from_index"]`` is to be carried in the next state's
        ``eliminated_from``.
        """
        if state.n_doses != self.n_doses:
            raise BfBoinError(f"the data have {state.n_doses} doses, the design {self.n_doses}")
        dose = state.current_dose
        if dose is None:
            return Decision(
                self.start,
                True,
                (),
                f"no patient treated yet: start at {_dose_name(names, self.start)}",
                details={"role": "escalation"},
            )
        window = state.tox_window_days
        low = self.n_doses if state.eliminated_from is None else state.eliminated_from
        escalation = [p for p in state.patients if not p.backfill]
        in_cohort = len(escalation) % self.cohort_size or self.cohort_size
        cohort = escalation[-in_cohort:]
        done = [p for p in state.patients if not p.dlt_pending(window)]
        n_done = EfficacyState(self.n_doses, tuple(done)).treated()
        y_done = EfficacyState(self.n_doses, tuple(done)).dlts()
        here = _dose_name(names, dose)
        details: dict = {
            "n_complete": n_done.tolist(),
            "dlts": y_done.tolist(),
            "treated": state.treated().tolist(),
            "backfilled": EfficacyState(
                self.n_doses, tuple(p for p in state.patients if p.backfill)
            )
            .treated()
            .tolist(),
            "eliminated_from_index": None if low >= self.n_doses else low + 1,
        }
        eliminated = tuple(range(low, self.n_doses))
        if len(cohort) < self.cohort_size:
            details["role"] = "escalation"
            return Decision(
                dose,
                True,
                eliminated,
                f"the escalation cohort at {here} has {self.cohort_size - len(cohort)} free "
                f"place(s): the next patient joins it",
                details=details,
            )
        if all(not p.dlt_pending(window) for p in cohort):
            return self._escalate(state, dose, low, n_done, y_done, escalation, details, names)
        esc_here_done = [p for p in escalation if p.level == dose and not p.dlt_pending(window)]
        responded = state.responses() > 0
        open_ = backfill_open(
            np.array([dose]),
            responded[None, :],
            n_done[None, :],
            y_done[None, :],
            np.array([len(esc_here_done)]),
            np.array([sum(p.dlt for p in esc_here_done)]),
            state.treated()[None, :],
            self.backfill_cap,
            self.tables(),
        )[0]
        details["backfill_open_dose_indices"] = [int(k) + 1 for k in np.flatnonzero(open_)]
        target = int(highest_open(open_[None, :])[0])
        if target >= 0:
            details["role"] = "backfill"
            return Decision(
                target,
                True,
                eliminated,
                f"the escalation cohort at {here} is being followed; "
                f"{_dose_name(names, target)} is the highest dose open to backfilling "
                "(cleared, a response seen, under the cap): backfill the next patient there",
                details=details,
            )
        details["role"] = "wait"
        return Decision(
            dose,
            True,
            eliminated,
            f"the escalation cohort at {here} is being followed and no lower dose is open to "
            "backfilling: accrual waits for the cohort's DLT data",
            accrual_suspended=True,
            details=details,
        )

    def _escalate(
        self,
        state: EfficacyState,
        dose: int,
        low: int,
        n_done: np.ndarray,
        y_done: np.ndarray,
        escalation: list,
        details: dict,
        names: DoseNames | None,
    ) -> Decision:
        """The escalation decision once the current cohort's DLT windows are complete."""
        tables = self.tables()
        esc_low = [p for p in escalation if p.level == 0]
        nxt, new_low, stop, ended = escalation_decision(
            np.array([dose]),
            n_done[None, :],
            y_done[None, :],
            np.array([len(esc_low)]),
            np.array([sum(p.dlt for p in esc_low)]),
            np.array([low]),
            tables,
            self.extrasafe,
            self.cutoff_eli - self.offset,
            self.target,
            self.n_earlystop,
        )
        nxt_i, low_i = int(nxt[0]), int(new_low[0])
        details["role"] = "escalation"
        details["eliminated_from_index"] = None if low_i >= self.n_doses else low_i + 1
        eliminated = tuple(range(low_i, self.n_doses))
        counts = (
            f"{_dose_name(names, dose)}: {y_done[dose]} DLT(s) in {n_done[dose]} evaluated "
            "patient(s), backfilled ones included"
        )
        if stop[0]:
            return Decision(
                None,
                False,
                eliminated,
                f"{counts}; the lowest dose is too toxic: stop, no dose is selected",
                details=details,
            )
        cohorts_done = len(escalation) // self.cohort_size
        if ended[0] or cohorts_done >= self.n_cohorts:
            mtd = int(self.select_mtd(n_done[None, :], y_done[None, :])[0])
            why = (
                f"{n_done[nxt_i]} ≥ n_earlystop = {self.n_earlystop} at the dose BOIN stays at"
                if ended[0]
                else f"all {self.n_cohorts} escalation cohorts done"
            )
            pending = int(sum(p.dlt_pending(state.tox_window_days) for p in state.patients))
            extra = f" ({pending} backfilled patient(s) still pending are not used)" * (pending > 0)
            chosen = "none" if mtd < 0 else _dose_name(names, mtd)
            return Decision(
                None,
                False,
                eliminated,
                f"{counts}; {why}: escalation and backfilling end; MTD = {chosen}{extra}",
                mtd=None if mtd < 0 else mtd,
                details=details,
            )
        move = "escalate" if nxt_i > dose else "de-escalate" if nxt_i < dose else "stay"
        return Decision(
            nxt_i,
            True,
            eliminated,
            f"{counts}; {move} → the next escalation cohort at {_dose_name(names, nxt_i)}",
            details=details,
        )

    # ---- simulation -------------------------------------------------------------------------

    def simulate(
        self, p_tox: np.ndarray, p_response: np.ndarray, latent: EfficacyLatents
    ) -> EfficacyOutcomes:
        """Operating characteristics on latent arrivals, vectorised across trials.

        Column j of ``latent`` is the j-th arriving patient (enrolled or not): ``gap`` gives the
        arrival, ``tox`` the DLT (and its Weibull day), ``eff`` the response (see
        :func:`~oncotrial.designs.bfboin_simulation.simulate_bfboin`). Latent patients drawn
        from streams are widened (same first columns) when a trial needs more arrivals.
        """
        from oncotrial.designs.bfboin_simulation import ArrivalsExhaustedError, simulate_bfboin

        p_tox, p_response = check_truth(p_tox, p_response, self.n_doses)
        while True:
            try:
                return simulate_bfboin(self, p_tox, p_response, latent)
            except ArrivalsExhaustedError as exhausted:
                try:
                    latent = latent.widened(2 * latent.tox.shape[1])
                except ValueError:
                    raise BfBoinError(
                        f"{exhausted}: draw at least {self.latent_width()} latent arrivals "
                        "per trial (BFBOIN.latent_width)"
                    ) from None
