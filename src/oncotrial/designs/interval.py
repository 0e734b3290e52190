"""Interval designs driven by a pre-tabulated decision table: Keyboard, mTPI-2 and i3+3.

All three decide from the data at the current dose only: with ``y`` DLTs among ``n`` evaluated
patients the decision is E (escalate), S (stay), D (de-escalate) or DU (de-escalate and
eliminate this dose and all above), read from a table indexed by ``(n, y)``:

* Keyboard (Yan, Mandrekar & Yuan 2017, Clin Cancer Res 23:3994; R package ``Keyboard``,
  ``get.boundary.kb``): equal-width keys of width φ2 − φ1 tile [0, 1] around the target key
  [φ1, φ2] = [φ − 0.05, φ + 0.05]; the strongest key (largest Beta(1, 1) posterior mass, end
  keys truncated at 0 and 1 compensated by width) left of, at or right of the target key
  gives E, S or D.
* mTPI-2 (Guo, Wang, Yang, Lynn & Ji 2017, doi:10.1016/j.cct.2017.04.006): the equivalence
  interval [φ − ε1, φ + ε2] and sub-intervals of the same width ("blunting Ockham's razor");
  the interval with the largest unit probability mass (posterior mass / width) gives the
  decision. With equal widths this is the Keyboard rule (both R implementations scale the
  truncated end intervals by their width).
* i3+3 (Liu, Wang & Ji 2020, J Biopharm Stat 30:294): escalate if y/n < φ − ε1, stay if
  y/n is in [φ − ε1, φ + ε2]; above it de-escalate, unless (y − 1)/n < φ − ε1, then stay.

Safety (all three): a dose with n ≥ 3 and Pr(p > φ | y, n) > 0.95 under Beta(1, 1) is
eliminated with every dose above it (DU); if the lowest dose is eliminated the trial stops
with no MTD. At the end the MTD is the dose whose isotonic estimate is closest to φ
(:func:`oncotrial.designs.mtd.isotonic_mtd`). Admissibility (no skipping, no eliminated
dose) is applied by :func:`oncotrial.designs.admissibility.admissible_dose` only.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from oncotrial.designs.admissibility import (
    admissible_dose,
    eliminated_doses,
    lowest_eliminated_from_mask,
)
from oncotrial.designs.base import Decision, DesignError, TrialState, check_cohort_design
from oncotrial.designs.lazy_scipy import special
from oncotrial.designs.mtd import isotonic_mtd
from oncotrial.designs.simulation import (
    AccrualModel,
    LatentPatients,
    TrialOutcomes,
)
from oncotrial.designs.stopping import StoppingRule
from oncotrial.designs.tables import (
    DEESCALATE,
    ELIMINATE,
    ESCALATE,
    STAY,
    DecisionTable,
    dose_move,
    simulate_from_table,
)


class IntervalDesignError(DesignError):
    """Invalid parameters or data for an interval design."""


def _decimal(x: float) -> Fraction:
    """The decimal a user typed (0.3 → 3/10), so interval edges and rates compare exactly."""
    return Fraction(str(x))


def _around(target: float, below: float, above: float) -> tuple[float, float]:
    """[target − below, target + above], computed on the decimals as written."""
    t = _decimal(target)
    return float(t - _decimal(below)), float(t + _decimal(above))


def prob_above(target: float, n: np.ndarray | int, y: np.ndarray | int) -> np.ndarray:
    """Pr(p > target | y DLTs in n) under a Beta(1, 1) prior (the elimination rule's quantity)."""
    n = np.asarray(n, dtype=float)
    y = np.asarray(y, dtype=float)
    return special.betaincc(y + 1.0, n - y + 1.0, target)


def interval_edges(low: float, high: float) -> tuple[tuple[Fraction, ...], int]:
    """Edges of the equal-width intervals tiling [0, 1] around [low, high], exactly.

    Intervals of width ``high - low`` are laid out from the target interval towards 0 and 1;
    the outermost ones are truncated at 0 and 1 (Keyboard R package ``get.boundary.kb``
    ``getkey``; Guo et al. 2017). Returns the edges and the index of the target interval.
    """
    lo, hi = _decimal(low), _decimal(high)
    if not 0 < lo < hi < 1:
        raise IntervalDesignError(f"the target interval [{low}, {high}] must lie inside (0, 1)")
    width = hi - lo
    below: list[Fraction] = []
    edge = lo - width
    while edge > 0:
        below.append(edge)
        edge -= width
    above: list[Fraction] = []
    edge = hi + width
    while edge < 1:
        above.append(edge)
        edge += width
    edges = [Fraction(0), *reversed(below), lo, hi, *above, Fraction(1)]
    return tuple(edges), len(below) + 1


def strongest_interval_actions(n: int, low: float, high: float, prefer_higher: bool) -> np.ndarray:
    """E/S/D codes for y = 0..n from the interval with the largest unit probability mass.

    Each interval's Beta(y + 1, n − y + 1) posterior mass divided by its width (the Keyboard
    package's compensation of truncated end keys; mTPI-2's UPM, Guo et al. 2017) picks the
    strongest interval: left of the target interval → E, the target → S, right → D. Ties
    (relative 1e-12) go to the higher interval when ``prefer_higher`` (Keyboard package:
    ``max(which(targetp == max(targetp)))``) and to the lower one otherwise.
    """
    edges_exact, target_index = interval_edges(low, high)
    edges = np.array([float(e) for e in edges_exact])
    widths = np.array([float(b - a) for a, b in zip(edges_exact, edges_exact[1:], strict=False)])
    y = np.arange(n + 1, dtype=float)[:, None]
    cdf = special.betainc(y + 1.0, n - y + 1.0, edges[None, :])
    upm = np.diff(cdf, axis=1) / widths[None, :]
    best = upm.max(axis=1, keepdims=True)
    is_best = upm >= best * (1.0 - 1e-12)
    n_intervals = upm.shape[1]
    if prefer_higher:
        strongest = n_intervals - 1 - np.argmax(is_best[:, ::-1], axis=1)
    else:
        strongest = np.argmax(is_best, axis=1)
    return np.where(
        strongest < target_index,
        ESCALATE,
        np.where(strongest == target_index, STAY, DEESCALATE),
    ).astype(np.int8)


def i3plus3_actions(n: int, low: float, high: float) -> np.ndarray:
    """E/S/D codes for y = 0..n from the i3+3 decision rules (Liu, Wang & Ji 2020).

    y/n below the equivalence interval → E; inside [low, high] → S; above it → D, except
    that (y − 1)/n below the interval gives S. Rates are compared exactly (as fractions).
    """
    lo, hi = _decimal(low), _decimal(high)
    out = np.empty(n + 1, dtype=np.int8)
    for y in range(n + 1):
        rate = Fraction(y, n)
        if rate < lo:
            out[y] = ESCALATE
        elif rate <= hi or Fraction(y - 1, n) < lo:
            out[y] = STAY
        else:
            out[y] = DEESCALATE
    return out


@dataclass(frozen=True, kw_only=True)
class _TableDesign(ABC):
    """What Keyboard, mTPI-2 and i3+3 share: the table, ``decide``, MTD selection, simulator.

    ``n_earlystop``: stop and select the MTD once the current dose has this many patients
    (``Keyboard::get.oc.kb``); ``cutoff_eli`` and ``min_n_eliminate``: the elimination rule
    Pr(p > φ | data) > cutoff with at least that many patients (Yan et al. 2017).
    """

    n_doses: int
    target: float = 0.3
    cohort_size: int = 3
    n_cohorts: int = 10
    start: int = 0
    n_earlystop: int | None = None
    cutoff_eli: float = 0.95
    min_n_eliminate: int = 3
    window_days: float = 28.0
    name: str = "interval"

    def __post_init__(self) -> None:
        check_cohort_design(
            self.n_doses,
            self.target,
            self.cohort_size,
            self.n_cohorts,
            self.start,
            IntervalDesignError,
        )
        if self.n_earlystop is not None and self.n_earlystop < 1:
            raise IntervalDesignError("n_earlystop must be at least 1 (or None)")
        if not 0.0 < self.cutoff_eli < 1.0 or self.min_n_eliminate < 1:
            raise IntervalDesignError("cutoff_eli must be in (0, 1) and min_n_eliminate ≥ 1")
        low, high = self.interval
        if not 0.0 < low < self.target < high < 1.0:
            raise IntervalDesignError(
                f"the target interval [{low:g}, {high:g}] must contain the target "
                f"{self.target:g} and lie inside (0, 1)"
            )

    @property
    @abstractmethod
    def interval(self) -> tuple[float, float]:
        """The target (equivalence) interval [φ1, φ2]."""

    @property
    def max_patients(self) -> int:
        return self.n_cohorts * self.cohort_size

    @abstractmethod
    def _rule_actions(self, n: int) -> np.ndarray:
        """E/S/D codes for y = 0..n from the design's own rule (before elimination)."""

    def _rule_note(self, n: int, y: int) -> str:
        """Extra words for the reason, where the design's rule needs them."""
        return ""

    def _compute_table(self, n_max: int) -> DecisionTable:
        actions = []
        for n in range(1, n_max + 1):
            codes = self._rule_actions(n).copy()
            if n >= self.min_n_eliminate:
                over = prob_above(self.target, n, np.arange(n + 1)) > self.cutoff_eli
                codes[over] = ELIMINATE
            actions.append(codes)
        return DecisionTable.from_actions(actions)

    def decision_table(self, n_max: int | None = None) -> DecisionTable:
        """The decision table for n = 1..n_max (default: the maximum sample size)."""
        return _table(self, self.max_patients if n_max is None else max(n_max, 1))

    def lowest_eliminated(self, n: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Lowest eliminated dose per row of (…, doses) counts (n_doses where none)."""
        n = np.asarray(n, dtype=np.int64)
        y = np.asarray(y, dtype=np.int64)
        first = _elimination_by_n(self, max(int(n.max(initial=0)), self.max_patients))
        return lowest_eliminated_from_mask(y >= first[n])

    def select_mtd(self, state: TrialState) -> int | None:
        """The MTD from all evaluated patients (``None``: no dose is acceptable).

        Isotonic selection (:func:`oncotrial.designs.mtd.isotonic_mtd`) on the treated,
        non-eliminated doses.
        """
        self._check_state(state)
        n, y = state.evaluable_counts()
        lowest = self.lowest_eliminated(n[None, :], y[None, :])
        mtd = int(isotonic_mtd(n[None, :], y[None, :], self.target, lowest)[0])
        return None if mtd < 0 else mtd

    def _check_state(self, state: TrialState) -> None:
        if state.n_doses != self.n_doses:
            raise IntervalDesignError(
                f"the data have {state.n_doses} doses, the design {self.n_doses}"
            )

    def decide(self, state: TrialState) -> Decision:
        """The next dose from the table row for the current dose's data, and why.

        Order: lowest dose eliminated → stop with no MTD; patients still pending at the
        current dose → wait (accrual suspended); maximum sample size reached or
        ``n_earlystop`` patients at the current dose → stop and select the MTD; otherwise the
        table's E/S/D/DU, made admissible (no skipping, no eliminated dose).
        """
        self._check_state(state)
        dose = state.current_dose
        if dose is None:
            return Decision(
                self.start,
                True,
                (),
                f"no patient treated yet: start at dose {self.start + 1}",
                details={"design": self.name},
            )
        n, y = state.evaluable_counts()
        pending = state.pending_counts()
        table = self.decision_table(max(int(n.max(initial=0)), self.max_patients))
        lowest = int(self.lowest_eliminated(n, y))
        eliminated = eliminated_doses(lowest, self.n_doses)
        n_d, y_d = int(n[dose]), int(y[dose])
        details: dict[str, Any] = {
            "design": self.name,
            "target": self.target,
            "interval": list(self.interval),
            "n": n.tolist(),
            "dlts": y.tolist(),
            "pending": pending.tolist(),
        }
        counts = f"{_dlts(y_d)} in {n_d} at dose {dose + 1}"
        if n_d > 0:
            details["table_row"] = table.row(n_d)
            details["decision"] = table.decision(n_d, y_d)
            details["prob_above_target"] = float(prob_above(self.target, n_d, y_d))
        if lowest == 0:
            first = table.eliminate[int(n[0]) - 1] if n[0] > 0 else None
            return Decision(
                None,
                False,
                eliminated,
                f"{_dlts(int(y[0]))} in {int(n[0])} at dose 1: ≥ elimination boundary {first} "
                f"(Pr(DLT rate > {self.target:g}) > {self.cutoff_eli:g}) → dose 1 and all "
                "above eliminated: stop, no dose is acceptable",
                details=details,
            )
        if pending[dose] > 0 and dose < lowest:
            return Decision(
                dose,
                True,
                eliminated,
                f"{counts} so far, {int(pending[dose])} patient(s) still inside the "
                f"{self.window_days:g}-day DLT window: wait for complete data before the next "
                "cohort",
                accrual_suspended=True,
                details=details,
            )
        if len(state.patients) >= self.max_patients:
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
        if self.n_earlystop is not None and n_d >= self.n_earlystop:
            mtd = self.select_mtd(state)
            return Decision(
                None,
                False,
                eliminated,
                f"{counts}: {n_d} ≥ n_earlystop = {self.n_earlystop} patients at the current "
                f"dose: stop, MTD = {_dose_words(mtd)}",
                mtd=mtd,
                details=details,
            )
        if n_d == 0:
            nxt = int(admissible_dose(dose, dose, lowest))
            return Decision(
                nxt,
                True,
                eliminated,
                f"no evaluable patient at dose {dose + 1} yet → treat the next cohort at dose "
                f"{nxt + 1}",
                details=details,
            )
        code = table._code(n_d, y_d)
        nxt = int(admissible_dose(dose + dose_move(code), dose, lowest))
        return Decision(
            nxt,
            True,
            eliminated,
            self._reason(table, code, dose, nxt, n_d, y_d, lowest),
            details=details,
        )

    def _reason(
        self, table: DecisionTable, code: int, dose: int, nxt: int, n: int, y: int, lowest: int
    ) -> str:
        row = table.row(n)
        head = f"{_dlts(y)} in {n} at dose {dose + 1}: "
        note = self._rule_note(n, y)
        if code != ELIMINATE and dose >= lowest:
            return (
                f"{head}dose {dose + 1} is already eliminated (doses "
                f"{_dose_range(lowest, self.n_doses)}) → dose {nxt + 1}"
            )
        if code == ELIMINATE:
            p = float(prob_above(self.target, n, y))
            return (
                f"{head}≥ elimination boundary {row['eliminate']} (Pr(DLT rate > "
                f"{self.target:g}) = {p:.3f} > {self.cutoff_eli:g}) → eliminate doses "
                f"{_dose_range(dose, self.n_doses)} and de-escalate to dose {nxt + 1}"
            )
        if code == DEESCALATE:
            rule = f"{head}≥ de-escalation boundary {row['deescalate']}{note} → de-escalate"
            if nxt == dose:
                return f"{rule}, but dose {dose + 1} is the lowest → stay at dose {dose + 1}"
            return f"{rule} to dose {nxt + 1}"
        if code == ESCALATE:
            rule = f"{head}≤ escalation boundary {row['escalate']}{note} → escalate"
            if nxt == dose + 1:
                return f"{rule} to dose {nxt + 1}"
            if dose + 1 >= self.n_doses:
                why = f"dose {dose + 1} is the highest"
            elif dose + 1 >= lowest:
                why = f"dose {dose + 2} is eliminated"
            else:
                why = f"dose {dose + 2} is not admissible"
            return f"{rule}, but {why} → stay at dose {nxt + 1}"
        between = (
            f"between escalation boundary {row['escalate']} and de-escalation boundary "
            f"{_never(row['deescalate'])}"
        )
        return f"{head}{between}{note} → stay at dose {dose + 1}"

    def simulate(
        self,
        truth: np.ndarray | Sequence[float],
        latent: LatentPatients,
        n_cohorts: int | None = None,
        cohort_size: int | None = None,
        accrual: AccrualModel | None = None,
        stopping: StoppingRule | None = None,
    ) -> TrialOutcomes:
        """Operating characteristics on the given latent patients, vectorised across trials.

        One pass per cohort over the trials still running; each decision is a look-up in the
        ``codes[n, y]`` table (the shape of the BOIN package's simFastBOIN loop). ``stopping``
        is a wrapping behaviour's rule (:mod:`oncotrial.designs.behaviours`).
        """
        plan = (truth, latent, n_cohorts, cohort_size, accrual, stopping)
        return _simulate_table_design(self, *plan, record_paths=False)[0]

    def simulate_with_paths(
        self,
        truth: np.ndarray | Sequence[float],
        latent: LatentPatients,
        n_cohorts: int | None = None,
        cohort_size: int | None = None,
        accrual: AccrualModel | None = None,
        stopping: StoppingRule | None = None,
    ) -> tuple[TrialOutcomes, np.ndarray]:
        """:meth:`simulate` and the dose of each cohort ((trials, cohorts), -1 after a stop)."""
        plan = (truth, latent, n_cohorts, cohort_size, accrual, stopping)
        outcomes, paths = _simulate_table_design(self, *plan)
        assert paths is not None
        return outcomes, paths


@dataclass(frozen=True, kw_only=True)
class Keyboard(_TableDesign):
    """The Keyboard design (Yan, Mandrekar & Yuan 2017), defaults of ``Keyboard::get.boundary.kb``.

    Target key [φ − margin_left, φ + margin_right] (0.05 each), equal-width keys, Beta(1, 1)
    prior; the strongest key decides; ties go to the higher key as in the R package.
    """

    margin_left: float = 0.05
    margin_right: float = 0.05
    name: str = "keyboard"

    @property
    def interval(self) -> tuple[float, float]:
        return _around(self.target, self.margin_left, self.margin_right)

    def _rule_actions(self, n: int) -> np.ndarray:
        low, high = self.interval
        return strongest_interval_actions(n, low, high, prefer_higher=True)


@dataclass(frozen=True, kw_only=True)
class MTPI2(_TableDesign):
    """The mTPI-2 design (Guo et al. 2017): largest unit probability mass among intervals.

    Equivalence interval [φ − ε1, φ + ε2] (0.05 each) and sub-intervals of the same width;
    Beta(1, 1) prior; ties go to the lower interval (``which.max``).
    """

    epsilon1: float = 0.05
    epsilon2: float = 0.05
    name: str = "mtpi2"

    @property
    def interval(self) -> tuple[float, float]:
        return _around(self.target, self.epsilon1, self.epsilon2)

    def _rule_actions(self, n: int) -> np.ndarray:
        low, high = self.interval
        return strongest_interval_actions(n, low, high, prefer_higher=False)


@dataclass(frozen=True, kw_only=True)
class I3Plus3(_TableDesign):
    """The i3+3 design (Liu, Wang & Ji 2020) with equivalence interval [φ − ε1, φ + ε2]."""

    epsilon1: float = 0.05
    epsilon2: float = 0.05
    name: str = "i3+3"

    @property
    def interval(self) -> tuple[float, float]:
        return _around(self.target, self.epsilon1, self.epsilon2)

    def _rule_actions(self, n: int) -> np.ndarray:
        low, high = self.interval
        return i3plus3_actions(n, low, high)

    def _rule_note(self, n: int, y: int) -> str:
        low, high = self.interval
        lo, hi = _decimal(low), _decimal(high)
        if Fraction(y, n) > hi and Fraction(y - 1, n) < lo:
            return (
                f" (y/n = {y}/{n} is above the interval but (y − 1)/n = {y - 1}/{n} is below "
                "it: i3+3 stays)"
            )
        return ""


@functools.lru_cache(maxsize=128)
def _table(design: _TableDesign, n_max: int) -> DecisionTable:
    return design._compute_table(n_max)


@functools.lru_cache(maxsize=128)
def _codes(design: _TableDesign, n_max: int) -> np.ndarray:
    return _table(design, n_max).codes()


@functools.lru_cache(maxsize=128)
def _elimination_by_n(design: _TableDesign, n_max: int) -> np.ndarray:
    return _table(design, n_max).elimination_by_n()


def _simulate_table_design(
    design: _TableDesign,
    truth_values: np.ndarray | Sequence[float],
    latent: LatentPatients,
    n_cohorts: int | None,
    cohort_size: int | None,
    accrual: AccrualModel | None,
    stopping: StoppingRule | None = None,
    record_paths: bool = True,
) -> tuple[TrialOutcomes, np.ndarray | None]:
    """Keyboard, mTPI-2 and i3+3 through the shared table simulator (n.earlystop: stop once
    the current dose has that many patients, as ``Keyboard::get.oc.kb``); the cohort plan is
    the design's unless given."""
    truth = np.asarray(truth_values, dtype=float)
    n_cohorts = design.n_cohorts if n_cohorts is None else n_cohorts
    cohort_size = design.cohort_size if cohort_size is None else cohort_size
    if truth.shape != (design.n_doses,) or np.any((truth < 0) | (truth > 1)):
        raise IntervalDesignError(f"truth needs {design.n_doses} probabilities in [0, 1]")
    if n_cohorts < 1 or cohort_size < 1:
        raise IntervalDesignError("cohort size and number of cohorts must be at least 1")
    n_max = n_cohorts * cohort_size
    return simulate_from_table(
        _codes(design, n_max),
        truth,
        latent,
        start=design.start,
        n_cohorts=n_cohorts,
        cohort_size=cohort_size,
        target=design.target,
        window_days=design.window_days,
        accrual=accrual,
        n_earlystop=design.n_earlystop,
        stopping=stopping,
        record_paths=record_paths,
    )


def _dlts(y: int) -> str:
    return f"{y} DLT" if y == 1 else f"{y} DLTs"


def _never(v: int | None) -> str:
    return "none" if v is None else str(v)


def _dose_words(mtd: int | None) -> str:
    return "none" if mtd is None else f"dose {mtd + 1}"


def _dose_range(first: int, n_doses: int) -> str:
    return f"{first + 1}" if first == n_doses - 1 else f"{first + 1}–{n_doses}"
