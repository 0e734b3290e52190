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
from numba import njit

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
    dose_name,
    opening_decision,
)
from oncotrial.designs.lazy_scipy import special
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
    extra-safe boundary for the lowest dose once n ≥ 3, ``stop_any`` the same without the
    n ≥ 3 condition (``get.oc.bf``'s pooled check); both n + 2 where there is none.
    """

    lambda_e: float
    lambda_d: float
    codes: np.ndarray
    escalate: np.ndarray
    deescalate: np.ndarray
    eliminate: np.ndarray
    stop: np.ndarray
    stop_any: np.ndarray

    @property
    def decision_args(self) -> tuple[np.ndarray, ...]:
        """The tables :func:`escalation_decision` takes, in its order."""
        return (
            self.codes,
            self.escalate,
            self.deescalate,
            self.eliminate,
            self.stop,
            self.stop_any,
        )


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

    stop_any = np.full(n_max + 1, n_max + 2)
    if extra_cutoff is not None:
        for n in range(n_max + 1):
            over = special.betaincc(ns[: n + 1] + 1, n - ns[: n + 1] + 1, target) > extra_cutoff
            if over.any():
                stop_any[n] = int(np.argmax(over))
    stop = np.where(ns >= 3, stop_any, n_max + 2)
    codes.setflags(write=False)
    return BfTables(
        bounds.lambda_e,
        bounds.lambda_d,
        codes,
        by_n(bounds.escalate),
        by_n(bounds.deescalate),
        by_n(bounds.eliminate),
        stop,
        stop_any,
    )


# --------------------------------------------------------------------------------------------
# Kernels for one trial (compiled with numba: the simulator runs them trial after trial)
# --------------------------------------------------------------------------------------------


@njit(cache=True)
def backfill_open(
    dose: int,
    responded: np.ndarray,
    n_done: np.ndarray,
    y_done: np.ndarray,
    n_next_to_dose: int,
    y_next_to_dose: int,
    enrolled: np.ndarray,
    cap: int,
    deescalate: np.ndarray,
    out: np.ndarray,
) -> np.ndarray:
    """Doses open to backfilling (module docstring, "Backfill eligibility"), into ``out``.

    ``responded``: a response has been seen at the dose; ``n_done``/``y_done``: patients with a
    complete DLT window and their DLTs; ``n_next_to_dose``/``y_next_to_dose``: the escalation
    patients at the current dose with a complete window, pooled with the dose just below it
    (``get.oc.bf``); ``enrolled``: everyone treated at the dose; ``deescalate[n]``: BOIN's
    de-escalation boundary.
    """
    out[:] = False
    for k in range(dose):
        n_up = n_next_to_dose if k == dose - 1 else n_done[k + 1]
        y_up = y_next_to_dose if k == dose - 1 else y_done[k + 1]
        alone = y_done[k] < deescalate[max(n_done[k], 1)]
        pooled = y_done[k] + y_up < deescalate[max(n_done[k] + n_up, 1)]
        if not (alone or pooled):
            return out  # unsafe: this dose and every dose up to the escalation dose close
        out[k] = responded[k] and enrolled[k] < cap
    return out


@njit(cache=True)
def escalation_decision(
    dose: int,
    n_tot: np.ndarray,
    y_tot: np.ndarray,
    n_esc_lowest: int,
    y_esc_lowest: int,
    lowest_eliminated: int,
    codes: np.ndarray,
    escalate: np.ndarray,
    deescalate: np.ndarray,
    eliminate: np.ndarray,
    stop: np.ndarray,
    stop_any: np.ndarray,
    extrasafe: bool,
    n_earlystop: int,
) -> tuple[int, int, bool, bool]:
    """BF-BOIN's decision at the end of an escalation cohort (module docstring).

    ``n_tot``/``y_tot``: patients with a complete DLT window (escalation and backfill) and their
    DLTs at each dose; ``n_esc_lowest``/``y_esc_lowest``: escalation patients at the lowest dose
    (``get.oc.bf`` uses them in its pooled extra-safe check); the rest are :class:`BfTables`.
    Returns the next dose, the new lowest eliminated dose, whether the trial stops with no dose
    selected, and whether it ends by ``n_earlystop`` (the MTD is then selected).
    """
    n_doses = n_tot.shape[0]
    low = lowest_eliminated
    cur = codes[max(n_tot[dose], 1), y_tot[dose]]
    lower_all_up, lower_agree = True, True
    last_not_up, last_harmful = -1, -1
    for k in range(dose):
        code = codes[max(n_tot[k], 1), y_tot[k]]
        if code != ESCALATE:
            lower_all_up, last_not_up = False, k
        if code >= DEESCALATE:
            lower_agree, last_harmful = False, k
    nxt, halt, stays = dose, False, False
    if dose == 0:
        if cur == ESCALATE:
            if dose + 1 < min(low, n_doses):
                nxt = 1
            else:
                stays = True
        elif cur == STAY:
            stays = True
        elif cur == ELIMINATE:
            halt = True
        elif extrasafe:
            halt = n_tot[0] >= 3 and y_tot[0] >= stop[n_tot[0]]
        else:
            stays = True
    elif cur == ESCALATE and lower_all_up:
        if dose + 1 < min(low, n_doses):
            nxt = dose + 1
        else:
            stays = True
    elif cur == STAY and lower_agree:
        stays = True
    elif cur >= DEESCALATE and lower_agree:
        if cur == ELIMINATE:
            low = min(low, dose)
        nxt = dose - 1
    else:
        # backfill data contradict the escalation dose: pool from b* up to it
        if cur == ESCALATE:
            b_star = last_not_up
        else:
            b_star = last_harmful
            if cur == ELIMINATE:
                low = min(low, dose)
        n_pool, y_pool = 0, 0
        for k in range(b_star, dose + 1):
            n_pool += n_tot[k]
            y_pool += y_tot[k]
        if y_pool <= escalate[n_pool]:
            if dose + 1 < min(low, n_doses):
                nxt = dose + 1
            else:
                stays = True
        elif y_pool >= deescalate[n_pool]:
            best, n_cum, y_cum = -1, 0, 0
            for k in range(b_star, dose + 1):
                n_cum += n_tot[k]
                y_cum += y_tot[k]
                if y_cum < deescalate[n_cum]:
                    best = k
            if best < 0:
                if b_star == 0:
                    toxic = y_tot[0] >= eliminate[n_tot[0]]
                    halt = toxic or (extrasafe and y_esc_lowest >= stop_any[n_esc_lowest])
                nxt = max(b_star - 1, 0)
            elif best == dose:
                stays = True
            else:
                nxt = best
        else:
            stays = True
    # get.oc.bf can stay at a dose it has just eliminated when pooled data look safe; an
    # eliminated dose is never given again here: go below it (stop when nothing is left)
    if not halt and nxt >= low:
        halt = low == 0
        stays = False
        nxt = max(low - 1, 0)
    ended = not halt and stays and n_tot[nxt] >= n_earlystop
    return nxt, low, halt, ended


# --------------------------------------------------------------------------------------------
# The design
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BFBOIN(BOIN):
    """BF-BOIN (module docstring): BOIN's parameters, plus the backfill cap (12 patients a dose,
    as ``bfboin::get.oc.bf``), the DLT window in days (responses are known at its end) and the
    arrival of patients used by :meth:`simulate`. ``n_earlystop`` ends the trial once the dose
    BOIN stays at holds that many evaluated patients.

    Example
    -------
    >>> design = BFBOIN(n_doses=3, target=0.25, n_earlystop=9)
    >>> state = EfficacyState.from_outcomes("1NEN 2NNN", 3)
    >>> design.decide(state).next_dose + 1
    3
    """

    window_days: float = 30.0
    backfill_cap: int = 12
    arrivals: Arrivals = Arrivals()
    name: str = "bf-boin"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.cohort_size < 3:
            raise BfBoinError("BF-BOIN needs cohorts of at least 3 patients (as bfboin)")
        if self.backfill_cap < 1:
            raise BfBoinError("the backfill cap must be at least 1 patient")
        if self.window_days <= 0:
            raise BfBoinError("the DLT window must be positive")
        if self.n_doses < 2:
            raise BfBoinError("backfilling needs at least two doses")

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

    def mtd_from_counts(self, n: np.ndarray, y: np.ndarray) -> np.ndarray:
        """BOIN's MTD (isotonic, with elimination and the extra-safe rule) per row of counts."""
        tables, stop = _tables_for(self, int(np.max(n, initial=0)))
        lowest = _lowest_eliminated(n, y, tables, stop)
        bound = tables.lambda_d if self.bound_mtd else None
        return isotonic_mtd(n, y, self.target, lowest, bound)

    # ---- conduct ----------------------------------------------------------------------------

    def decide(  # type: ignore[override]
        self, state: EfficacyState, names: DoseNames | None = None
    ) -> Decision:
        """Where the next arriving patient goes, or the escalation decision when the current
        escalation cohort is complete.

        ``details["role"]`` is ``"escalation"`` (the patient joins the escalation cohort at
        ``next_dose``), ``"backfill"`` (the patient is backfilled to ``next_dose``) or ``"wait"``
        (no place: accrual is suspended until the cohort's data are complete).
        ``details["eliminated_from_index"]`` is to be carried in the next state's
        ``eliminated_from``.
        """
        opening = opening_decision(
            state, self.n_doses, self.start, names, BfBoinError, {"role": "escalation"}
        )
        if opening is not None:
            return opening
        dose = state.current_dose
        assert dose is not None
        window = state.tox_window_days
        low = self.n_doses if state.eliminated_from is None else state.eliminated_from
        escalation = [p for p in state.patients if not p.backfill]
        in_cohort = len(escalation) % self.cohort_size or self.cohort_size
        cohort = escalation[-in_cohort:]
        done = [p for p in state.patients if not p.dlt_pending(window)]
        n_done = EfficacyState(self.n_doses, tuple(done)).treated()
        y_done = EfficacyState(self.n_doses, tuple(done)).dlts()
        here = dose_name(names, dose)
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
            dose,
            responded,
            n_done.astype(np.int64),
            y_done.astype(np.int64),
            len(esc_here_done),
            sum(p.dlt for p in esc_here_done),
            state.treated().astype(np.int64),
            self.backfill_cap,
            self.tables().deescalate,
            np.zeros(self.n_doses, dtype=np.bool_),
        )
        details["backfill_open_dose_indices"] = [int(k) + 1 for k in np.flatnonzero(open_)]
        target = int(np.flatnonzero(open_).max(initial=-1))
        if target >= 0:
            details["role"] = "backfill"
            return Decision(
                target,
                True,
                eliminated,
                f"the escalation cohort at {here} is being followed; "
                f"{dose_name(names, target)} is the highest dose open to backfilling "
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
        nxt_i, low_i, stop, ended = escalation_decision(
            dose,
            n_done.astype(np.int64),
            y_done.astype(np.int64),
            len(esc_low),
            sum(p.dlt for p in esc_low),
            low,
            *tables.decision_args,
            self.extrasafe,
            self.n_earlystop,
        )
        details["role"] = "escalation"
        details["eliminated_from_index"] = None if low_i >= self.n_doses else low_i + 1
        eliminated = tuple(range(low_i, self.n_doses))
        counts = (
            f"{dose_name(names, dose)}: {y_done[dose]} DLT(s) in {n_done[dose]} evaluated "
            "patient(s), backfilled ones included"
        )
        if stop:
            return Decision(
                None,
                False,
                eliminated,
                f"{counts}; the lowest dose is too toxic: stop, no dose is selected",
                details=details,
            )
        cohorts_done = len(escalation) // self.cohort_size
        if ended or cohorts_done >= self.n_cohorts:
            mtd = int(self.mtd_from_counts(n_done[None, :], y_done[None, :])[0])
            why = (
                f"{n_done[nxt_i]} ≥ n_earlystop = {self.n_earlystop} at the dose BOIN stays at"
                if ended
                else f"all {self.n_cohorts} escalation cohorts done"
            )
            pending = int(sum(p.dlt_pending(state.tox_window_days) for p in state.patients))
            extra = f" ({pending} backfilled patient(s) still pending are not used)" * (pending > 0)
            chosen = "none" if mtd < 0 else dose_name(names, mtd)
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
            f"{counts}; {move} → the next escalation cohort at {dose_name(names, nxt_i)}",
            details=details,
        )

    # ---- simulation -------------------------------------------------------------------------

    def simulate(  # type: ignore[override]
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
