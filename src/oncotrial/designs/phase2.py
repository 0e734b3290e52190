"""Phase II designs for a binary endpoint (objective response rate): Simon's two-stage design and
BOP2, with the decision for a running trial.

Simon (1989), Controlled Clinical Trials 10:1 — two stages; stop after stage 1 if at most ``r1``
of ``n1`` respond; declare the drug promising (reject H0: p ≤ p0) if more than ``r`` of ``n``
respond. Optimal design: minimum EN(p0); minimax: minimum n, then minimum EN(p0). Jung, Lee, Kim
& George (2004), Stat Med 23:561 — admissible designs minimise q·n + (1 − q)·EN(p0) for some
weight q in [0, 1]: the lower convex hull of (n, EN(p0)) between the minimax and optimal designs.
Search and tie-breaking follow R ``clinfun::ph2simon`` / ``twostage.admissible``.

Zhou, Lee & Yuan (2017), Stat Med 36:3302 (BOP2) — at interim look n of N, stop for futility if
Pr(p ≤ p0 | data) > C(n) = 1 − λ(n/N)^γ under a Beta(p0, 1 − p0) prior (mean p0, the weight of
one patient: the default of R ``BOP2FE``, which implements the same futility rule); at N, reject
H0 unless Pr(p ≤ p0 | data) > 1 − λ. Equivalently: stop if Pr(p > p0 | data) < λ(n/N)^γ. λ and
γ are chosen on a grid to maximise power at p1 with type I error ≤ α at p0. Operating
characteristics are exact, by enumerating the responses at each look (no simulation).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any

import numpy as np
from scipy import stats

from oncotrial.designs.base import DesignError
from oncotrial.stats.binomial import Proportion, clopper_pearson, exact_binomial_test

#: ``progress(done, total)`` callback for the searches
Progress = Callable[[int, int], None]

#: the largest total sample size the Simon search accepts (clinfun's limit)
SIMON_NMAX_LIMIT = 1000


def _check_rates(p0: float, p1: float) -> None:
    for name, p in (("p0", p0), ("p1", p1)):
        if not 0.0 < p < 1.0:
            raise DesignError(f"{name} = {p:g}: a response rate must be strictly between 0 and 1")
    if p0 >= p1:
        raise DesignError(
            f"p0 = {p0:g} must be below p1 = {p1:g}: p0 is the response rate not worth pursuing, "
            "p1 the rate the drug should reach"
        )


def _check_probability(value: float, name: str) -> None:
    if not 0.0 < value < 1.0:
        raise DesignError(f"{name} = {value:g} must be strictly between 0 and 1")


@lru_cache(maxsize=16)
def _binomial_tables(p: float, nmax: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``pmf[m, x]``, ``cdf[m, x]`` for m, x in 0..nmax, and ``sf[m, k + nmax] = P(X_m > k)``
    for k in −nmax..nmax (1 for k < 0, 0 for k ≥ m). Read-only: they are cached."""
    m = np.arange(nmax + 1)[:, None]
    x = np.arange(nmax + 1)[None, :]
    k = np.arange(-nmax, nmax + 1)[None, :]
    pmf = stats.binom.pmf(x, m, p)
    cdf = stats.binom.cdf(x, m, p)
    sf = stats.binom.sf(k, m, p)
    for table in (pmf, cdf, sf):
        table.setflags(write=False)
    return pmf, cdf, sf


# --------------------------------------------------------------------------------------------
# Simon's two-stage design


@dataclass(frozen=True)
class SimonDesign:
    """One two-stage design: stop after ``n1`` patients if responses ≤ ``r1``; reject H0 after
    ``n`` if responses > ``r``. ``alpha`` and ``power`` are the design's exact rejection
    probabilities at p0 and p1; ``en_p0`` and ``pet_p0`` its expected size and probability of
    early termination at p0."""

    p0: float
    p1: float
    r1: int
    n1: int
    r: int
    n: int
    en_p0: float
    pet_p0: float
    alpha: float
    power: float

    def to_json(self) -> dict[str, Any]:
        return {
            "r1": self.r1,
            "n1": self.n1,
            "r": self.r,
            "n": self.n,
            "en_p0": self.en_p0,
            "pet_p0": self.pet_p0,
            "alpha": self.alpha,
            "power": self.power,
        }


@dataclass(frozen=True)
class AdmissibleDesign:
    """A design on the lower convex hull of (n, EN(p0)) and the weights q for which it minimises
    q·n + (1 − q)·EN(p0) (Jung et al. 2004). ``label`` is minimax, admissible or optimal."""

    design: SimonDesign
    q_low: float
    q_high: float
    label: str

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            **self.design.to_json(),
            "q_low": self.q_low,
            "q_high": self.q_high,
        }


@dataclass(frozen=True)
class SimonResult:
    """The search: the best design (minimum EN(p0)) for each feasible total n ≤ ``nmax``, and
    the optimal, minimax and admissible designs among them. ``near_nmax`` warns, as clinfun
    does, that the optimal n is within 10 of ``nmax``: a larger ``nmax`` may find a better one."""

    p0: float
    p1: float
    alpha: float
    power: float
    nmax: int
    designs: tuple[SimonDesign, ...]
    optimal: SimonDesign
    minimax: SimonDesign
    admissible: tuple[AdmissibleDesign, ...]

    @property
    def near_nmax(self) -> bool:
        return self.optimal.n > self.nmax - 10

    def to_json(self) -> dict[str, Any]:
        return {
            "optimal": self.optimal.to_json(),
            "minimax": self.minimax.to_json(),
            "admissible": [a.to_json() for a in self.admissible],
        }


def simon_operating_characteristics(
    r1: int, n1: int, r: int, n: int, p: float
) -> tuple[float, float, float]:
    """(probability of rejecting H0, probability of early termination, expected sample size)
    of the two-stage design at response rate ``p`` (Simon 1989, eq. 1)."""
    if not 0 < n1 < n or not -1 <= r1 < n1 or r < r1:
        raise DesignError(f"({r1}/{n1}, {r}/{n}) is not a two-stage design")
    x1 = np.arange(r1 + 1, n1 + 1)
    reject = float(np.sum(stats.binom.pmf(x1, n1, p) * stats.binom.sf(r - x1, n - n1, p)))
    pet = float(stats.binom.cdf(r1, n1, p))
    return reject, pet, n1 + (1.0 - pet) * (n - n1)


def _tail_sums(terms: np.ndarray) -> np.ndarray:
    """``out[a, r1, r] = Σ_{x1 > r1} terms[a, x1, r]`` for r1 = 0..(len − 2)."""
    return np.cumsum(terms[:, ::-1, :], axis=1)[:, ::-1, :][:, 1:, :]


def _simon_best_for_n(
    n: int, nmax: int, alpha: float, power: float, tables0: tuple, tables1: tuple
) -> tuple[int, int, int, float, float, float, float] | None:
    """The feasible (r1, n1, r) with the least EN(p0) for total size n, vectorised over n1, r1
    and r; clinfun's order breaks ties (n1 ascending, r1 descending, the largest r)."""
    pmf0, cdf0, sf0 = tables0
    pmf1, _, sf1 = tables1
    # H0 is rejected only if more than r of all n respond, so power ≥ target needs
    # P(Bin(n, p1) > r) ≥ power: r ≤ r_top, and r1 ≤ r ≤ r_top
    feasible_r = np.flatnonzero(sf1[n, nmax : nmax + n] >= power)
    if feasible_r.size == 0:
        return None
    r_top = int(feasible_r[-1])
    n1 = np.arange(1, n)
    n2 = n - n1
    x1 = np.arange(r_top + 2)  # the last slot stands for every x1 > r_top
    rr = np.arange(r_top + 1)
    k = rr[None, :] - x1[:, None] + nmax  # offset index of r − x1 into sf
    terms = []
    for pmf, sf in ((pmf0, sf0), (pmf1, sf1)):
        first = pmf[n1, : r_top + 2].copy()
        first[:, -1] = sf[n1, r_top + nmax]
        # reject[a, r1, r] = Σ_{x1 > r1} P(X1 = x1) P(X2 > r − x1), r1 = 0..r_top
        terms.append(_tail_sums(first[:, :, None] * sf[n2[:, None, None], k[None]]))
    rej0, rej1 = terms
    r1 = np.arange(r_top + 1)
    feasible = (rej0 <= alpha) & (rej1 >= power) & (r1[None, :, None] <= rr[None, None, :])
    feasible &= r1[None, :, None] < n1[:, None, None]
    any_r = feasible.any(axis=2)  # [a, r1]
    if not any_r.any():
        return None
    pet = cdf0[n1[:, None], r1[None, :]]
    en = n1[:, None] + (1.0 - pet) * n2[:, None]
    en = np.where(any_r, en, np.inf)
    flipped = en[:, ::-1]  # r1 descending within each n1, as clinfun loops
    a, j = np.unravel_index(int(np.argmin(flipped)), flipped.shape)
    best_r1 = r_top - int(j)
    best_r = int(np.flatnonzero(feasible[a, best_r1])[-1])
    return (
        best_r1,
        int(n1[a]),
        best_r,
        float(en[a, best_r1]),
        float(pet[a, best_r1]),
        float(rej0[a, best_r1, best_r]),
        float(rej1[a, best_r1, best_r]),
    )


def _admissible(designs: Sequence[SimonDesign]) -> tuple[AdmissibleDesign, ...]:
    """Lower convex hull of (n, EN) from the minimax to the optimal design, walking from the
    minimax by the least slope (clinfun ``twostage.admissible``)."""
    en = np.array([d.en_p0 for d in designs])
    n_opt = int(np.argmin(en))
    hull = [0]
    while hull[-1] < n_opt:
        i = hull[-1]
        cand = np.arange(i + 1, n_opt + 1)
        slopes = (en[cand] - en[i]) / np.array([designs[c].n - designs[i].n for c in cand])
        hull.append(int(cand[int(np.argmin(slopes))]))
    chosen = [designs[i] for i in hull]
    q = [
        (b.en_p0 - a.en_p0) / ((b.en_p0 - a.en_p0) - (b.n - a.n))
        for a, b in zip(chosen, chosen[1:], strict=False)
    ]
    q_low = [*q, 0.0]
    q_high = [1.0, *q]
    out = []
    for i, d in enumerate(chosen):
        label = "minimax" if i == 0 else "optimal" if i == len(chosen) - 1 else "admissible"
        out.append(AdmissibleDesign(d, q_low[i], q_high[i], label))
    return tuple(out)


def simon_two_stage(
    p0: float,
    p1: float,
    alpha: float = 0.05,
    power: float = 0.8,
    nmax: int = 100,
    progress: Progress | None = None,
) -> SimonResult:
    """Simon's optimal, minimax and admissible two-stage designs with type I error ≤ ``alpha``
    at ``p0`` and power ≥ ``power`` at ``p1``, total size ≤ ``nmax`` (Simon 1989; Jung et al.
    2004; as R ``clinfun::ph2simon(p0, p1, alpha, 1 - power, nmax)``)."""
    _check_rates(p0, p1)
    _check_probability(alpha, "alpha")
    _check_probability(power, "power")
    if not 2 <= nmax <= SIMON_NMAX_LIMIT:
        raise DesignError(f"nmax = {nmax} must be within 2..{SIMON_NMAX_LIMIT}")
    tables0 = _binomial_tables(float(p0), nmax)
    tables1 = _binomial_tables(float(p1), nmax)
    designs: list[SimonDesign] = []
    for n in range(2, nmax + 1):
        best = _simon_best_for_n(n, nmax, alpha, power, tables0, tables1)
        if best is not None:
            r1, n1, r, en, pet, a0, pw = best
            designs.append(SimonDesign(p0, p1, r1, n1, r, n, en, pet, a0, pw))
        if progress is not None:
            progress(n - 1, nmax - 1)
    if not designs:
        raise DesignError(
            f"no two-stage design with n ≤ {nmax} reaches type I error ≤ {alpha:g} and power ≥ "
            f"{power:g}: increase nmax"
        )
    admissible = _admissible(designs)
    return SimonResult(
        p0=p0,
        p1=p1,
        alpha=alpha,
        power=power,
        nmax=nmax,
        designs=tuple(designs),
        optimal=admissible[-1].design,
        minimax=designs[0],
        admissible=admissible,
    )


# --------------------------------------------------------------------------------------------
# Decisions in a running trial


class Action(StrEnum):
    """What the trial does next."""

    CONTINUE = "continue"
    STOP_FUTILITY = "stop_futility"
    REJECT_H0 = "reject_h0"


@dataclass(frozen=True)
class StageDecision:
    """The decision with the data it rests on: ``responses`` of ``patients`` at ``look`` (1-based;
    0 between BOP2 looks), the exact one-sided binomial p-value against p0 and the
    Clopper–Pearson interval (both naive: see the deciding function)."""

    action: Action
    look: int
    responses: int
    patients: int
    p_value: float
    interval: Proportion
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {
            "action": str(self.action),
            "look": self.look,
            "responses": self.responses,
            "patients": self.patients,
            "p_value": self.p_value,
            "interval": self.interval.to_json(),
            "reason": self.reason,
        }


def _evidence(x: int, n: int, p0: float, level: float) -> tuple[float, Proportion]:
    return exact_binomial_test(x, n, p0, "greater"), clopper_pearson(x, n, level)


def simon_decide(
    design: SimonDesign, x1: int, x: int | None = None, level: float = 0.95
) -> StageDecision:
    """The decision after stage 1 (``x1`` responses of ``n1``) or, with ``x``, after stage 2
    (``x`` responses of ``n`` in all, ``x1`` of them in stage 1).

    The p-value (exact binomial, H1: p > p0) and the Clopper–Pearson interval treat the patients
    as one fixed-size sample. That is naive after a two-stage design: it ignores the stopping rule
    and so is not exact (Koyama & Chen 2008, Stat Med 27:3145, give the design-adjusted p-value
    and interval; Jung & Kim 2004 the UMVUE). Report them as descriptive."""
    if not 0 <= x1 <= design.n1:
        raise DesignError(f"stage 1: {x1} responses in {design.n1} patients is impossible")
    if x is None:
        p, ci = _evidence(x1, design.n1, design.p0, level)
        if x1 <= design.r1:
            return StageDecision(
                Action.STOP_FUTILITY,
                1,
                x1,
                design.n1,
                p,
                ci,
                f"{x1} responses ≤ r1 = {design.r1} of {design.n1}: stop, the drug is not "
                "promising",
            )
        return StageDecision(
            Action.CONTINUE,
            1,
            x1,
            design.n1,
            p,
            ci,
            f"{x1} responses > r1 = {design.r1} of {design.n1}: enrol {design.n - design.n1} more",
        )
    if x1 <= design.r1:
        raise DesignError(
            f"stage 1 had {x1} responses ≤ r1 = {design.r1}: the trial stops after stage 1"
        )
    n2 = design.n - design.n1
    if not x1 <= x <= x1 + n2:
        raise DesignError(
            f"{x} responses in all is impossible with {x1} in stage 1 and {n2} stage-2 patients"
        )
    p, ci = _evidence(x, design.n, design.p0, level)
    if x > design.r:
        return StageDecision(
            Action.REJECT_H0,
            2,
            x,
            design.n,
            p,
            ci,
            f"{x} responses > r = {design.r} of {design.n}: reject H0 (p ≤ {design.p0:g}), the "
            "drug is promising",
        )
    return StageDecision(
        Action.STOP_FUTILITY,
        2,
        x,
        design.n,
        p,
        ci,
        f"{x} responses ≤ r = {design.r} of {design.n}: H0 not rejected, the drug is not promising",
    )


# --------------------------------------------------------------------------------------------
# BOP2


@dataclass(frozen=True)
class Bop2OperatingCharacteristics:
    """Exact operating characteristics at response rate ``p``: the probability of stopping for
    futility at each interim look, of stopping early at all, of rejecting H0 at the end, and the
    expected number of patients."""

    p: float
    stop_by_look: tuple[float, ...]
    early_stop: float
    reject: float
    expected_n: float

    def to_json(self) -> dict[str, Any]:
        return {
            "p": self.p,
            "stop_by_look": list(self.stop_by_look),
            "early_stop": self.early_stop,
            "reject": self.reject,
            "expected_n": self.expected_n,
        }


@dataclass(frozen=True)
class Bop2Design:
    """A BOP2 design: at ``looks[j]`` patients, stop if responses ≤ ``boundaries[j]`` (−1: never);
    at the last look, reject H0 if responses > the last boundary. ``lam`` and ``gamma`` define
    the cutoff C(n) = 1 − λ(n/N)^γ; the prior is Beta(``prior_a``, ``prior_b``)."""

    p0: float
    p1: float
    looks: tuple[int, ...]
    lam: float
    gamma: float
    prior_a: float
    prior_b: float
    boundaries: tuple[int, ...]
    null: Bop2OperatingCharacteristics
    alternative: Bop2OperatingCharacteristics

    @property
    def n(self) -> int:
        return self.looks[-1]

    @property
    def type_i_error(self) -> float:
        return self.null.reject

    @property
    def power(self) -> float:
        return self.alternative.reject

    def to_json(self) -> dict[str, Any]:
        return {
            "p0": self.p0,
            "p1": self.p1,
            "n": self.n,
            "lambda": self.lam,
            "gamma": self.gamma,
            "prior": {"a": self.prior_a, "b": self.prior_b},
            "boundaries": [
                {"n": n, "stop_if_responses_at_most": k if k >= 0 else None}
                for n, k in zip(self.looks, self.boundaries, strict=True)
            ],
            "type_i_error": self.type_i_error,
            "power": self.power,
            "expected_n": {"p0": self.null.expected_n, "p1": self.alternative.expected_n},
            "early_stop": {"p0": self.null.early_stop, "p1": self.alternative.early_stop},
            "null": self.null.to_json(),
            "alternative": self.alternative.to_json(),
        }


def _check_looks(looks: Sequence[int]) -> tuple[int, ...]:
    out = tuple(int(n) for n in looks)
    if not out:
        raise DesignError("give at least one look (the final sample size)")
    if out[0] < 1 or any(b <= a for a, b in zip(out, out[1:], strict=False)):
        raise DesignError(f"looks {list(out)} must be positive and strictly increasing")
    return out


def _prior(p0: float, prior_a: float | None, prior_b: float | None) -> tuple[float, float]:
    a = p0 if prior_a is None else float(prior_a)
    b = 1.0 - p0 if prior_b is None else float(prior_b)
    if a <= 0 or b <= 0:
        raise DesignError(f"Beta({a:g}, {b:g}): prior parameters must be positive")
    return a, b


def bop2_cutoffs(looks: Sequence[int], lam: float, gamma: float) -> np.ndarray:
    """C(n) = 1 − λ(n/N)^γ at each look (Zhou et al. 2017): stop if Pr(p ≤ p0 | data) > C(n)."""
    n = np.asarray(_check_looks(looks), dtype=float)
    return 1.0 - lam * (n / n[-1]) ** gamma


def _posterior_null(p0: float, n: int, a: float, b: float) -> np.ndarray:
    """Pr(p ≤ p0 | x responses of n) for x = 0..n under a Beta(a, b) prior (decreasing in x)."""
    x = np.arange(n + 1)
    return stats.beta.cdf(p0, a + x, b + n - x)


def bop2_boundaries(
    p0: float,
    looks: Sequence[int],
    lam: float,
    gamma: float,
    prior_a: float | None = None,
    prior_b: float | None = None,
) -> tuple[int, ...]:
    """At each look, the largest number of responses at which the trial stops (−1: none)."""
    looks = _check_looks(looks)
    a, b = _prior(p0, prior_a, prior_b)
    cut = bop2_cutoffs(looks, lam, gamma)
    return tuple(
        int(np.sum(_posterior_null(p0, n, a, b) > c)) - 1 for n, c in zip(looks, cut, strict=True)
    )


def _bop2_oc_many(
    boundaries: np.ndarray, looks: tuple[int, ...], p: float
) -> tuple[np.ndarray, ...]:
    """Exact (stop-by-look, reject) for each row of ``boundaries`` by forward enumeration of the
    cumulative responses: the distribution at each look is the surviving mass convolved with the
    binomial of the new patients."""
    big_n = looks[-1]
    n_b, n_looks = boundaries.shape
    x = np.arange(big_n + 1)
    dist = np.zeros((n_b, big_n + 1))
    dist[:, : looks[0] + 1] = stats.binom.pmf(x[: looks[0] + 1], looks[0], p)
    stop = np.zeros((n_b, n_looks))
    reject = np.zeros(n_b)
    for j in range(n_looks):
        at_or_below = x[None, :] <= boundaries[:, j][:, None]
        if j == n_looks - 1:
            reject = np.where(at_or_below, 0.0, dist).sum(axis=1)
            stop[:, j] = 1.0 - stop[:, :j].sum(axis=1) - reject
            break
        stop[:, j] = np.where(at_or_below, dist, 0.0).sum(axis=1)
        dist = np.where(at_or_below, 0.0, dist)
        m = looks[j + 1] - looks[j]
        step = stats.binom.pmf(np.arange(m + 1), m, p)
        moved = np.zeros_like(dist)
        for y, w in enumerate(step):
            moved[:, y:] += w * dist[:, : big_n + 1 - y]
        dist = moved
    return stop, reject


def bop2_operating_characteristics(
    boundaries: Sequence[int], looks: Sequence[int], p: float
) -> Bop2OperatingCharacteristics:
    """Exact operating characteristics of stopping boundaries at response rate ``p``."""
    looks = _check_looks(looks)
    if len(boundaries) != len(looks):
        raise DesignError(f"{len(boundaries)} boundaries for {len(looks)} looks")
    stop, reject = _bop2_oc_many(np.asarray([boundaries], dtype=int), looks, p)
    interim = stop[0, :-1]
    early = float(interim.sum())
    expected_n = float(np.dot(interim, looks[:-1]) + (1.0 - early) * looks[-1])
    return Bop2OperatingCharacteristics(
        p=p,
        stop_by_look=tuple(float(s) for s in interim),
        early_stop=early,
        reject=float(reject[0]),
        expected_n=expected_n,
    )


def bop2_design(
    p0: float,
    p1: float,
    looks: Sequence[int],
    lam: float,
    gamma: float,
    prior_a: float | None = None,
    prior_b: float | None = None,
) -> Bop2Design:
    """The BOP2 design with given λ and γ, and its exact operating characteristics at p0, p1."""
    _check_rates(p0, p1)
    _check_probability(lam, "lambda")
    if gamma < 0:
        raise DesignError(f"gamma = {gamma:g} must be ≥ 0")
    looks = _check_looks(looks)
    a, b = _prior(p0, prior_a, prior_b)
    bounds = bop2_boundaries(p0, looks, lam, gamma, a, b)
    return Bop2Design(
        p0=p0,
        p1=p1,
        looks=looks,
        lam=lam,
        gamma=gamma,
        prior_a=a,
        prior_b=b,
        boundaries=bounds,
        null=bop2_operating_characteristics(bounds, looks, p0),
        alternative=bop2_operating_characteristics(bounds, looks, p1),
    )


#: default calibration grids: λ in [0.5, 0.999] by 0.001 and γ in [0, 1] by 0.01 (the γ range
#: of R ``BOP2FE``'s examples; a wider γ lets power maximisation all but remove the interim stops)
LAMBDA_GRID = tuple(float(v) for v in np.round(np.arange(0.5, 0.9995, 0.001), 3))
GAMMA_GRID = tuple(float(v) for v in np.round(np.arange(0.0, 1.0 + 1e-9, 0.01), 2))


def calibrate_bop2(
    p0: float,
    p1: float,
    looks: Sequence[int],
    alpha: float = 0.05,
    prior_a: float | None = None,
    prior_b: float | None = None,
    lam_grid: Sequence[float] = LAMBDA_GRID,
    gamma_grid: Sequence[float] = GAMMA_GRID,
    progress: Progress | None = None,
) -> Bop2Design:
    """BOP2 with λ, γ chosen on a grid to maximise power at ``p1`` subject to type I error ≤
    ``alpha`` at ``p0`` (Zhou et al. 2017); ties go to the smaller EN(p0), then to the first
    (λ, γ) of the grid. Every (λ, γ) giving the same boundaries is the same design: the grid is
    reduced to its distinct boundary vectors, whose characteristics are computed exactly."""
    _check_rates(p0, p1)
    _check_probability(alpha, "alpha")
    looks = _check_looks(looks)
    a, b = _prior(p0, prior_a, prior_b)
    lam = np.asarray(lam_grid, dtype=float)
    gam = np.asarray(gamma_grid, dtype=float)
    if lam.size == 0 or gam.size == 0 or np.any((lam <= 0) | (lam >= 1)) or np.any(gam < 0):
        raise DesignError("the λ grid must lie within (0, 1) and the γ grid within [0, ∞)")
    lam_all = np.repeat(lam, gam.size)
    gam_all = np.tile(gam, lam.size)
    frac = np.asarray(looks, dtype=float) / looks[-1]
    cut = 1.0 - lam_all[:, None] * frac[None, :] ** gam_all[:, None]
    bounds = np.empty((lam_all.size, len(looks)), dtype=int)
    for j, n in enumerate(looks):
        post = _posterior_null(p0, n, a, b)
        bounds[:, j] = (post[None, :] > cut[:, j][:, None]).sum(axis=1) - 1
    unique, first, inverse = np.unique(bounds, axis=0, return_index=True, return_inverse=True)
    if progress is not None:
        progress(0, 2)
    stop0, rej0 = _bop2_oc_many(unique, looks, p0)
    if progress is not None:
        progress(1, 2)
    _, rej1 = _bop2_oc_many(unique, looks, p1)
    if progress is not None:
        progress(2, 2)
    ok = rej0 <= alpha
    if not ok.any():
        raise DesignError(
            f"no (λ, γ) on the grid keeps the type I error ≤ {alpha:g} with looks {list(looks)}"
        )
    interim = stop0[:, :-1]
    en0 = interim @ np.asarray(looks[:-1], dtype=float) + (1.0 - interim.sum(axis=1)) * looks[-1]
    order = np.lexsort((first, en0, -rej1))
    best = int(next(i for i in order if ok[i]))
    pick = int(np.flatnonzero(inverse.ravel() == best)[0])
    return bop2_design(p0, p1, looks, float(lam_all[pick]), float(gam_all[pick]), a, b)


def bop2_decide(
    design: Bop2Design, responses: int, patients: int, level: float = 0.95
) -> StageDecision:
    """The decision with ``responses`` of ``patients`` evaluated: at an interim look, stop for
    futility if responses ≤ the look's boundary; at the last look, reject H0 if responses exceed
    it; between looks, continue (the trial is assumed not to have stopped at an earlier look).
    The p-value and interval are naive, as in :func:`simon_decide`
    (they ignore the interim looks)."""
    if patients < 1 or patients > design.n or not 0 <= responses <= patients:
        raise DesignError(
            f"{responses} responses in {patients} patients is impossible for a trial of at most "
            f"{design.n}"
        )
    p, ci = _evidence(responses, patients, design.p0, level)
    if patients not in design.looks:
        nxt = next(n for n in design.looks if n > patients)
        return StageDecision(
            Action.CONTINUE, 0, responses, patients, p, ci, f"no look at {patients}; next at {nxt}"
        )
    j = design.looks.index(patients)
    k = design.boundaries[j]
    last = j == len(design.looks) - 1
    if responses <= k:
        what = "H0 not rejected, the drug is not promising" if last else "stop for futility"
        return StageDecision(
            Action.STOP_FUTILITY,
            j + 1,
            responses,
            patients,
            p,
            ci,
            f"{responses} responses ≤ {k} at look {j + 1} ({patients} patients): {what}",
        )
    if last:
        return StageDecision(
            Action.REJECT_H0,
            j + 1,
            responses,
            patients,
            p,
            ci,
            f"{responses} responses > {k} of {patients}: reject H0 (p ≤ {design.p0:g})",
        )
    return StageDecision(
        Action.CONTINUE,
        j + 1,
        responses,
        patients,
        p,
        ci,
        f"{responses} responses > {k} at look {j + 1} ({patients} patients): continue",
    )
