"""BOIN: the Bayesian optimal interval design (Liu & Yuan 2015, JRSS-C 64:507).

Escalate when the observed DLT rate at the current dose is at or below λe, de-escalate when it
is at or above λd, where (section 2.2, eq. 2)

    λe = log((1 − φ1)/(1 − φ)) / log(φ(1 − φ1) / (φ1(1 − φ)))
    λd = log((1 − φ)/(1 − φ2)) / log(φ2(1 − φ) / (φ(1 − φ2)))

with φ1 = 0.6φ and φ2 = 1.4φ by default. A dose (and all above) is eliminated when
Pr(p > φ | y, n) > 0.95 under a Beta(1, 1) prior and n ≥ 3 (section 2.3). Integer boundaries
follow the BOIN R package's ``get.boundary``: escalate if y ≤ floor(nλe), de-escalate if
y ≥ ceiling(nλd), capped at the elimination boundary.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from oncotrial.designs.admissibility import (
    admissible_dose,
    eliminated_doses,
    lowest_eliminated_from_mask,
)
from oncotrial.designs.base import Decision, TrialState, check_cohort_design
from oncotrial.designs.mtd import isotonic_mtd
from oncotrial.designs.simulation import (
    AccrualModel,
    LatentPatients,
    TrialOutcomes,
)
from oncotrial.designs.stopping import StoppingRule
from oncotrial.designs.tables import DecisionTable, simulate_from_table

if TYPE_CHECKING:
    from oncotrial.designs.behaviours import WithStopping


class BoinError(ValueError):
    """Invalid BOIN parameters."""


def boin_lambdas(
    target: float, p_saf: float | None = None, p_tox: float | None = None
) -> tuple[float, float]:
    """Escalation and de-escalation boundaries (λe, λd) of Liu & Yuan (2015), eq. 2."""
    p_saf = 0.6 * target if p_saf is None else p_saf
    p_tox = 1.4 * target if p_tox is None else p_tox
    if not 0.0 < p_saf < target < p_tox < 1.0:
        raise BoinError(
            f"BOIN needs 0 < p_saf < target < p_tox < 1 (got {p_saf}, {target}, {p_tox})"
        )
    lam_e = math.log((1 - p_saf) / (1 - target)) / math.log(
        target * (1 - p_saf) / (p_saf * (1 - target))
    )
    lam_d = math.log((1 - target) / (1 - p_tox)) / math.log(
        p_tox * (1 - target) / (target * (1 - p_tox))
    )
    return lam_e, lam_d


def posterior_prob_above(target: float, n: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pr(p > target | y DLTs in n) under a Beta(1, 1) prior (Liu & Yuan 2015, section 2.3).

    The Beta(y + 1, n - y + 1) upper tail at ``target`` equals the binomial distribution
    function Pr(Bin(n + 1, target) <= y) (integer parameters; e.g. Johnson, Kemp & Kotz,
    *Univariate Discrete Distributions*, 3rd ed., eq. 3.11), summed exactly here without scipy.
    """
    n_b, y_b = np.broadcast_arrays(np.asarray(n, dtype=np.int64), np.asarray(y, dtype=np.int64))
    out = np.empty(n_b.shape)
    for m in np.unique(n_b):
        k = np.arange(int(m) + 2)
        comb = np.array([math.comb(int(m) + 1, int(j)) for j in k], dtype=float)
        cdf = np.cumsum(comb * target**k * (1.0 - target) ** (int(m) + 1 - k))
        here = n_b == m
        out[here] = np.minimum(cdf[y_b[here]], 1.0)
    return out


def elimination_boundary(
    target: float, n_max: int, cutoff: float = 0.95, min_n: int = 3
) -> np.ndarray:
    """Smallest y with Pr(p > target | y, n) > cutoff for n = 1..n_max (-1 where none).

    Index ``n - 1`` holds the boundary for n patients; below ``min_n`` patients no dose is
    eliminated.
    """
    out = np.full(n_max, -1, dtype=int)
    for n in range(max(min_n, 1), n_max + 1):
        ys = np.arange(0, n + 1)
        over = posterior_prob_above(target, np.full_like(ys, n), ys) > cutoff
        if over.any():
            out[n - 1] = int(ys[over][0])
    return out


@dataclass(frozen=True)
class BoinBoundaries:
    """BOIN decision boundaries for n = 1..N patients at a dose (the protocol's table)."""

    target: float
    lambda_e: float
    lambda_d: float
    n: np.ndarray
    escalate: np.ndarray
    deescalate: np.ndarray
    eliminate: np.ndarray

    @classmethod
    def compute(
        cls,
        target: float,
        n_max: int,
        p_saf: float | None = None,
        p_tox: float | None = None,
        cutoff_eli: float = 0.95,
    ) -> BoinBoundaries:
        """Boundaries as in ``BOIN::get.boundary`` (de-escalation capped at elimination)."""
        if n_max < 1:
            raise BoinError("the table needs at least one patient")
        lam_e, lam_d = boin_lambdas(target, p_saf, p_tox)
        n = np.arange(1, n_max + 1)
        escalate = np.floor(lam_e * n).astype(int)
        deescalate = np.ceil(lam_d * n).astype(int)
        eliminate = elimination_boundary(target, n_max, cutoff_eli)
        capped = (eliminate >= 0) & (deescalate > eliminate)
        deescalate = np.where(capped, eliminate, deescalate)
        return cls(target, lam_e, lam_d, n, escalate, deescalate, eliminate)

    @property
    def table(self) -> DecisionTable:
        """The same boundaries as the decision table all interval designs share."""
        return DecisionTable(
            n=tuple(int(v) for v in self.n),
            escalate=tuple(int(v) for v in self.escalate),
            deescalate=tuple(int(v) for v in self.deescalate),
            eliminate=tuple(None if e < 0 else int(e) for e in self.eliminate),
        )

    def to_json(self) -> dict:
        """``{"n", "escalate", "deescalate", "eliminate"}`` (``None`` where no elimination)."""
        return {
            "target": self.target,
            "lambda_e": self.lambda_e,
            "lambda_d": self.lambda_d,
            "n": self.n.tolist(),
            "escalate": self.escalate.tolist(),
            "deescalate": self.deescalate.tolist(),
            "eliminate": [None if e < 0 else int(e) for e in self.eliminate],
        }


@functools.lru_cache(maxsize=64)
def _boundaries(
    target: float, n_max: int, p_saf: float | None, p_tox: float | None, cutoff_eli: float
) -> BoinBoundaries:
    return BoinBoundaries.compute(target, n_max, p_saf, p_tox, cutoff_eli)


@functools.lru_cache(maxsize=64)
def _codes(
    target: float, n_max: int, p_saf: float | None, p_tox: float | None, cutoff_eli: float
) -> np.ndarray:
    """The decision-code look-up ``codes[n, y]`` of BOIN's table (cached)."""
    return _boundaries(target, n_max, p_saf, p_tox, cutoff_eli).table.codes()


@functools.lru_cache(maxsize=64)
def _stop_boundary(target: float, n_max: int, cutoff: float) -> np.ndarray:
    return elimination_boundary(target, n_max, cutoff)


def _by_n(table: np.ndarray) -> np.ndarray:
    """Shift a per-n table (index n-1) to be indexed by n itself (n = 0 gives 'no rule')."""
    return np.concatenate([[-1], table])


def boin_move(
    n_d: np.ndarray, y_d: np.ndarray, dose: np.ndarray, n_doses: int, tables: BoinBoundaries
) -> np.ndarray:
    """The dose BOIN proposes from the current dose's counts, before admissibility.

    Escalate when y ≤ floor(nλe), de-escalate when y ≥ ceiling(nλd), otherwise stay
    (Liu & Yuan 2015, section 2.2). Vectorised; ``n_d`` = 0 means "stay".
    """
    esc = _by_n(tables.escalate)[n_d]
    dee = _by_n(tables.deescalate)[n_d]
    up = (n_d > 0) & (y_d <= esc) & (dose < n_doses - 1)
    down = (n_d > 0) & ~up & (y_d >= dee) & (dose > 0)
    return np.where(up, dose + 1, np.where(down, dose - 1, dose))


def _tables_for(design: BOIN, n_max: int) -> tuple[BoinBoundaries, np.ndarray | None]:
    n_max = max(n_max, design.max_patients, 1)
    tables = _boundaries(design.target, n_max, design.p_saf, design.p_tox, design.cutoff_eli)
    stop = (
        _stop_boundary(design.target, n_max, design.cutoff_eli - design.offset)
        if design.extrasafe
        else None
    )
    return tables, stop


def _lowest_eliminated(
    n: np.ndarray, y: np.ndarray, tables: BoinBoundaries, stop: np.ndarray | None
) -> np.ndarray:
    """Lowest eliminated dose per row of (trials, doses) counts (n_doses where none).

    A dose with n ≥ 3 and Pr(p > φ | data) > cutoff is eliminated with all doses above it;
    with the extra-safe rule, the lowest dose is eliminated (the trial stops) when
    Pr(p₁ > φ | data) > cutoff − offset (BOIN R package, ``select.mtd``).
    """
    elim = _by_n(tables.eliminate)[n]
    over = (elim >= 0) & (y >= elim)
    if stop is not None:
        first = _by_n(stop)[n[..., 0]]
        over[..., 0] |= (first >= 0) & (y[..., 0] >= first)
    return lowest_eliminated_from_mask(over)


def boin_select_mtd(
    n: np.ndarray, y: np.ndarray, target: float, cutoff_eli: float = 0.95
) -> np.ndarray:
    """BOIN's MTD selection (``BOIN::select.mtd`` with its defaults) for rows of (trials, doses)
    counts, -1 where no dose is acceptable: doses eliminated by Pr(p > target | data) >
    ``cutoff_eli`` with n ≥ 3 (and all above) are excluded, then the isotonic estimate closest
    to the target is chosen (Liu & Yuan 2015, sections 2.3-2.4). Any design's final choice can
    be made this way (the ``select_boin_mtd`` behaviour)."""
    n = np.atleast_2d(np.asarray(n, dtype=np.int64))
    y = np.atleast_2d(np.asarray(y, dtype=np.int64))
    tables = _boundaries(target, max(int(n.max(initial=0)), 1), None, None, cutoff_eli)
    return isotonic_mtd(n, y, target, _lowest_eliminated(n, y, tables, None))


@dataclass(frozen=True)
class BOIN:
    """The BOIN design for one drug (Liu & Yuan 2015), with the R package's conventions.

    ``n_earlystop``: stop and select the MTD once this many patients have been treated at the
    current dose and the rule would stay there (BOIN ≥ 2.7). ``extrasafe``: the stricter
    stopping rule for the lowest dose. ``bound_mtd``: never select a dose whose isotonic
    estimate is at or above λd.
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
    n_earlystop: int = 100
    bound_mtd: bool = False
    window_days: float = 28.0
    name: str = "boin"

    def __post_init__(self) -> None:
        check_cohort_design(
            self.n_doses, self.target, self.cohort_size, self.n_cohorts, self.start, BoinError
        )
        if not 0.0 < self.cutoff_eli < 1.0 or not 0.0 <= self.offset < 0.5:
            raise BoinError("cutoff_eli must be in (0, 1) and offset in [0, 0.5)")
        boin_lambdas(self.target, self.p_saf, self.p_tox)

    @property
    def max_patients(self) -> int:
        return self.n_cohorts * self.cohort_size

    def boundaries(self, n_max: int | None = None) -> BoinBoundaries:
        """The decision table for n = 1..n_max patients (default: the maximum sample size)."""
        return _tables_for(self, n_max or self.max_patients)[0]

    def decision_table(self, n_max: int | None = None) -> DecisionTable:
        """The protocol's decision table for n = 1..n_max (default: the maximum sample size)."""
        return self.boundaries(n_max).table

    def _lowest(self, n: np.ndarray, y: np.ndarray) -> np.ndarray:
        tables, stop = _tables_for(self, int(np.max(n, initial=0)))
        return _lowest_eliminated(n, y, tables, stop)

    def select_mtd(self, state: TrialState) -> int | None:
        """The MTD from all evaluated patients (``None``: no dose is acceptable)."""
        n, y = state.evaluable_counts()
        lowest = self._lowest(n[None, :], y[None, :])
        bound = self.boundaries().lambda_d if self.bound_mtd else None
        mtd = int(isotonic_mtd(n[None, :], y[None, :], self.target, lowest, bound)[0])
        return None if mtd < 0 else mtd

    def as_behaviours(self) -> BOIN | WithStopping:
        """This design as plain BOIN wrapped in its behaviours: ``extrasafe`` is the extra-safe
        behaviour (:func:`~oncotrial.designs.behaviours.extra_safe`) around BOIN without it, so
        the rule has one implementation for every design."""
        if not self.extrasafe:
            return self
        from oncotrial.designs.behaviours import extra_safe  # behaviours.py builds on this one

        return extra_safe(replace(self, extrasafe=False), self.cutoff_eli, self.offset)

    def decide(self, state: TrialState) -> Decision:
        """Next dose for the current data, with the counts and boundaries behind it."""
        if self.extrasafe:
            return self.as_behaviours().decide(state)
        if state.n_doses != self.n_doses:
            raise BoinError(f"the data have {state.n_doses} doses, the design {self.n_doses}")
        dose = state.current_dose
        if dose is None:
            return Decision(
                self.start, True, (), f"no patient treated yet: start at dose {self.start + 1}"
            )
        n, y = state.evaluable_counts()
        tables, _ = _tables_for(self, int(n.max(initial=0)))
        lowest = int(_lowest_eliminated(n[None, :], y[None, :], tables, None)[0])
        eliminated = eliminated_doses(lowest, self.n_doses)
        n_d, y_d = int(n[dose]), int(y[dose])
        details = {
            "lambda_e": tables.lambda_e,
            "lambda_d": tables.lambda_d,
            "n": n.tolist(),
            "dlts": y.tolist(),
            "pending": state.pending_counts().tolist(),
        }
        if n_d > 0:
            details["boundaries_at_n"] = {
                "n": n_d,
                "escalate_if_dlts_le": int(tables.escalate[n_d - 1]),
                "deescalate_if_dlts_ge": int(tables.deescalate[n_d - 1]),
                "eliminate_if_dlts_ge": (
                    None if tables.eliminate[n_d - 1] < 0 else int(tables.eliminate[n_d - 1])
                ),
            }
            details["prob_above_target"] = float(posterior_prob_above(self.target, n_d, y_d))
        counts = f"dose {dose + 1}: {y_d} DLT(s) in {n_d} evaluable patient(s)"
        if lowest == 0:
            return Decision(
                None,
                False,
                eliminated,
                f"{counts}; the lowest dose is eliminated (Pr(DLT rate > target) > cutoff): "
                "stop, no dose is acceptable",
                details=details,
            )
        pending = state.pending_counts()
        if pending[dose] > 0:
            return Decision(
                dose,
                True,
                eliminated,
                f"{counts}; {pending[dose]} patient(s) still inside the {self.window_days:g}-day "
                "DLT window: BOIN waits for complete data before the next cohort",
                accrual_suspended=True,
                details=details,
            )
        proposed = int(
            boin_move(np.array(n_d), np.array(y_d), np.array(dose), self.n_doses, tables)
        )
        nxt = int(admissible_dose(proposed, dose, lowest))
        rate = y_d / n_d if n_d else float("nan")
        if proposed > dose:
            rule = f"rate {rate:.2f} ≤ λe {tables.lambda_e:.4f}: escalate"
        elif proposed < dose:
            rule = f"rate {rate:.2f} ≥ λd {tables.lambda_d:.4f}: de-escalate"
        elif n_d == 0:
            rule = "no evaluable patient yet: stay"
        else:
            rule = f"rate {rate:.2f} between λe and λd (or no move possible): stay"
        if nxt != proposed:
            rule += f", but dose {proposed + 1} is not admissible (eliminated or skipped)"
        total = len(state.patients)
        if n_d >= self.n_earlystop and nxt == dose:
            mtd = self.select_mtd(state)
            return Decision(
                None,
                False,
                eliminated,
                f"{counts}; {rule}; {n_d} ≥ n.earlystop = {self.n_earlystop} at the dose the "
                f"rule stays at: stop, MTD = {_dose_words(mtd)}",
                mtd=mtd,
                details=details,
            )
        if total >= self.max_patients:
            mtd = self.select_mtd(state)
            return Decision(
                None,
                False,
                eliminated,
                f"{counts}; maximum sample size {self.max_patients} reached: stop, "
                f"MTD = {_dose_words(mtd)}",
                mtd=mtd,
                details=details,
            )
        return Decision(
            nxt, True, eliminated, f"{counts}; {rule} → dose {nxt + 1}", details=details
        )

    def simulate(
        self,
        truth: np.ndarray,
        latent: LatentPatients,
        accrual: AccrualModel | None = None,
        stopping: StoppingRule | None = None,
    ) -> TrialOutcomes:
        """Operating characteristics on the given latent patients, vectorised across trials.

        One pass per cohort over all still-running trials; decisions are table look-ups
        (the shape of simFastBOIN). Follows ``BOIN::get.oc``: elimination after every cohort,
        the n.earlystop rule, MTD by :func:`isotonic_mtd`; then a wrapping behaviour's
        ``stopping`` rule (:mod:`oncotrial.designs.behaviours`; the extra-safe rule is one).
        """
        if self.extrasafe:
            return self.as_behaviours().simulate(truth, latent, accrual, stopping=stopping)
        truth = np.asarray(truth, dtype=float)
        if truth.shape != (self.n_doses,):
            raise BoinError(f"truth needs {self.n_doses} probabilities, got {truth.shape}")
        tables, _ = _tables_for(self, self.max_patients)
        outcomes, _ = simulate_from_table(
            _codes(self.target, self.max_patients, self.p_saf, self.p_tox, self.cutoff_eli),
            truth,
            latent,
            start=self.start,
            n_cohorts=self.n_cohorts,
            cohort_size=self.cohort_size,
            target=self.target,
            window_days=self.window_days,
            accrual=accrual,
            n_earlystop=self.n_earlystop,
            earlystop_only_when_staying=True,
            bound_mtd_above=tables.lambda_d if self.bound_mtd else None,
            stopping=stopping,
            record_paths=False,
        )
        return outcomes


def _dose_words(mtd: int | None) -> str:
    return "none" if mtd is None else f"dose {mtd + 1}"
