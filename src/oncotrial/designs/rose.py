"""ROSE: randomised optimal selection between two doses (Wang, Yuan & Liu 2025, arXiv 2505.03898;
Biometrics 81(4) ujaf124).

Patients are randomised 1:1 between a lower and a higher dose already found safe. With observed
response rates ``p_L``, ``p_H`` the higher dose is selected when ``p_H - p_L > lambda`` and the
lower one otherwise: the lower dose is the optimal dose unless the higher one is better by a
clinically meaningful margin ``delta``. The design's sample size ``n`` per arm and boundary
``lambda`` are the smallest ``n`` for which the probability of correct selection (PCS) reaches

* ``pcs_low`` in scenario S_L, equal response rates ``p_L = p_H = p`` (select the lower dose), and
* ``pcs_high`` in scenario S_H, ``p_L = p - delta``, ``p_H = p`` (select the higher dose).

One stage (the paper's section 2): with the normal approximation ``p_H - p_L ~ N(0, s_L^2 / n)``
in S_L, ``s_L^2 = 2 p (1 - p)``, and ``N(delta, s_H^2 / n)`` in S_H, ``s_H^2 = (p - delta) (1 - p
+ delta) + p (1 - p)``, the constraints are ``lambda >= z(pcs_low) s_L / sqrt(n)`` and ``lambda <=
delta - z(pcs_high) s_H / sqrt(n)``, so ``n = ceil(((z_L s_L + z_H s_H) / delta) ** 2)`` and
``lambda = delta z_L s_L / (z_L s_L + z_H s_H)``.

Two stages (section 3): an interim analysis after a fraction ``omega`` of each arm may select the
higher dose early. The error in S_L (``1 - pcs_low``) is spent by the Lan-DeMets O'Brien-Fleming
function ``2 - 2 Phi(z_{1 - a/2} / sqrt(omega))`` at the interim; the final boundary keeps the
overall PCS in S_L, and ``n`` is the smallest with PCS ``>= pcs_high`` in S_H (bivariate normal
with correlation ``sqrt(omega)``). Only the higher dose is selected early; otherwise the trial
continues.

The exact version (the paper's supplement) replaces the normal approximations by the exact
distribution of the difference of two binomial counts and searches integer cuts: the higher dose
is selected when ``x_H - x_L > k`` (``lambda = k / n``), with ``0 <= lambda <= delta`` at the end
and the final boundary not above the interim one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from math import ceil, floor, sqrt
from typing import Literal

import numpy as np
from scipy.integrate import quad
from scipy.optimize import brentq
from scipy.special import ndtr, ndtri
from scipy.stats import binom

from oncotrial.designs.base import DesignError

Method = Literal["normal", "exact"]
Arm = Literal["low", "high"]

#: Largest sample size per arm the design search considers.
MAX_PER_ARM = 1000
#: Slack when comparing an observed difference with the boundary: differences of response rates
#: are multiples of 1 / (n_low n_high), far above it, and an exact design's boundary k / n is then
#: compared as the rational number it is.
_TIE = 1e-9


@dataclass(frozen=True)
class RoseDesign:
    """Sample size per arm and boundaries of a one- or two-stage ROSE design.

    ``boundary`` is the final ``lambda`` (select the higher dose when ``p_H - p_L > lambda``);
    ``interim_n`` and ``interim_boundary`` the interim analysis (``None``: one stage).
    """

    n_per_arm: int
    boundary: float
    interim_n: int | None = None
    interim_boundary: float | None = None
    method: Method = "normal"

    def __post_init__(self) -> None:
        if not 1 <= self.n_per_arm <= MAX_PER_ARM:
            raise DesignError(f"the sample size per arm must be in 1..{MAX_PER_ARM}")
        if not 0.0 <= self.boundary <= 1.0:
            raise DesignError(f"the boundary must be in [0, 1], got {self.boundary}")
        if (self.interim_n is None) != (self.interim_boundary is None):
            raise DesignError("an interim analysis needs both its sample size and its boundary")
        if self.interim_n is not None and self.interim_boundary is not None:
            if not 0 < self.interim_n < self.n_per_arm:
                raise DesignError("the interim must come after some and before all patients")
            if self.interim_boundary < self.boundary:
                raise DesignError("the interim boundary must not be below the final boundary")

    @property
    def two_stage(self) -> bool:
        return self.interim_n is not None

    def cut(self, n: int, boundary: float) -> int:
        """Largest response-count difference at ``n`` per arm that does not select high."""
        return floor(boundary * n + _TIE)

    def to_json(self) -> dict[str, object]:
        return {
            "method": self.method,
            "n_per_arm": self.n_per_arm,
            "boundary": self.boundary,
            "interim_n_per_arm": self.interim_n,
            "interim_boundary": self.interim_boundary,
        }


@dataclass(frozen=True)
class RoseCharacteristics:
    """Probabilities of selecting each dose, of selecting early, and the expected size per arm."""

    select_low: float
    select_high: float
    early_high: float
    mean_n_per_arm: float

    def to_json(self) -> dict[str, float]:
        return asdict(self)


def _check_probability(value: float, name: str) -> None:
    if not 0.0 <= value <= 1.0:
        raise DesignError(f"{name} must be in [0, 1], got {value}")


def _diff_pmf(n: int, p_low: float, p_high: float) -> np.ndarray:
    """``Pr(x_H - x_L = k)`` for ``k = -n..n`` (index ``k + n``), equal arms of ``n``."""
    k = np.arange(n + 1)
    return np.convolve(binom.pmf(k, n, p_high), binom.pmf(k, n, p_low)[::-1])


def operating_characteristics(
    design: RoseDesign, p_low: float, p_high: float
) -> RoseCharacteristics:
    """Exact selection probabilities of ``design`` when the doses' response rates are given.

    Example
    -------
    >>> design = RoseDesign(n_per_arm=23, boundary=1 / 23, method="exact")
    >>> round(operating_characteristics(design, 0.3, 0.3).select_low, 3)
    0.686
    """
    _check_probability(p_low, "p_low")
    _check_probability(p_high, "p_high")
    n = design.n_per_arm
    if design.interim_n is None or design.interim_boundary is None:
        pmf = _diff_pmf(n, p_low, p_high)
        k = design.cut(n, design.boundary)
        low = float(pmf[: k + n + 1].sum())
        return RoseCharacteristics(low, float(pmf[k + n + 1 :].sum()), 0.0, float(n))
    n1 = design.interim_n
    k1 = design.cut(n1, design.interim_boundary)
    first = _diff_pmf(n1, p_low, p_high)
    second = _diff_pmf(n - n1, p_low, p_high)
    early = float(first[k1 + n1 + 1 :].sum())
    k2 = design.cut(n, design.boundary)
    # continue with interim difference d1 <= k1; select high at the end when d1 + d2 > k2
    tail = np.concatenate([np.cumsum(second[::-1])[::-1], [0.0]])  # tail[j] = Pr(d2 >= j - m)
    m = n - n1
    d1 = np.arange(-n1, k1 + 1)
    need = np.clip(k2 - d1 + 1 + m, 0, 2 * m + 1)  # index of d2 = k2 - d1 + 1
    late = float(first[: k1 + n1 + 1] @ tail[need])
    cont = float(first[: k1 + n1 + 1].sum())
    return RoseCharacteristics(cont - late, early + late, early, n1 + (n - n1) * (1.0 - early))


def _spend(pcs_low: float, omega: float) -> float:
    """Lan-DeMets O'Brien-Fleming spending of the S_L error ``1 - pcs_low`` at fraction omega."""
    return float(2.0 * ndtr(ndtri((1.0 - pcs_low) / 2.0) / sqrt(omega)))


def bivariate_normal_cdf(a: float, b: float, rho: float) -> float:
    """``Pr(Z1 <= a, Z2 <= b)`` for standard normals with correlation ``rho`` (|rho| < 1).

    One-dimensional integral ``int_{-inf}^a phi(x) Phi((b - rho x) / sqrt(1 - rho^2)) dx``.
    """
    s = sqrt(1.0 - rho * rho)
    value, _ = quad(
        lambda x: np.exp(-0.5 * x * x) / sqrt(2.0 * np.pi) * ndtr((b - rho * x) / s),
        -np.inf,
        a,
        epsabs=1e-13,
        epsrel=1e-12,
        limit=200,
    )
    return float(value)


def _scenario_sds(p: float, delta: float) -> tuple[float, float]:
    """Per-patient standard deviations of ``p_H - p_L`` in S_L and S_H (one patient per arm)."""
    return sqrt(2.0 * p * (1.0 - p)), sqrt((p - delta) * (1.0 - p + delta) + p * (1.0 - p))


def _check_design_inputs(
    p: float, delta: float, pcs_low: float, pcs_high: float, omega: float | None
) -> None:
    if not 0.0 < p < 1.0:
        raise DesignError(f"the response rate of the higher dose must be in (0, 1), got {p}")
    if not 0.0 < delta <= p:
        raise DesignError(f"the margin must be in (0, {p:g}] (the higher dose's rate), got {delta}")
    for value, name in ((pcs_low, "pcs_low"), (pcs_high, "pcs_high")):
        if not 0.5 < value < 1.0:
            raise DesignError(f"{name} must be in (0.5, 1), got {value}")
    if omega is not None and not 0.0 < omega < 1.0:
        raise DesignError(f"the interim fraction must be in (0, 1), got {omega}")


def rose_design(
    p: float,
    delta: float,
    pcs_low: float = 0.65,
    pcs_high: float = 0.65,
    interim_fraction: float | None = None,
    method: Method = "normal",
) -> RoseDesign:
    """The smallest ROSE design reaching the required probabilities of correct selection.

    Parameters
    ----------
    p
        Response rate of the higher dose (both doses in S_L).
    delta
        Clinically meaningful improvement: in S_H the lower dose's rate is ``p - delta``.
    pcs_low, pcs_high
        Required probabilities of correct selection in S_L and S_H.
    interim_fraction
        ``None`` for one stage; otherwise the fraction of each arm at the interim analysis.
    method
        ``"normal"`` (the paper's formulas) or ``"exact"`` (binomial, integer cuts).

    Returns
    -------
    RoseDesign
        Sample size per arm and boundaries.

    Example
    -------
    >>> d = rose_design(0.3, 0.1, pcs_low=0.6, pcs_high=0.7)  # Wang et al. 2025, Table 1
    >>> d.n_per_arm, round(d.boundary, 3)
    (24, 0.034)
    """
    _check_design_inputs(p, delta, pcs_low, pcs_high, interim_fraction)
    if method not in ("normal", "exact"):
        raise DesignError(f"unknown ROSE method {method!r} (normal or exact)")
    if method == "normal":
        if interim_fraction is None:
            return _normal_one_stage(p, delta, pcs_low, pcs_high)
        return _normal_two_stage(p, delta, pcs_low, pcs_high, interim_fraction)
    return _exact(p, delta, pcs_low, pcs_high, interim_fraction)


def _normal_one_stage(p: float, delta: float, pcs_low: float, pcs_high: float) -> RoseDesign:
    s_l, s_h = _scenario_sds(p, delta)
    a, b = float(ndtri(pcs_low)) * s_l, float(ndtri(pcs_high)) * s_h
    n = max(1, ceil(((a + b) / delta) ** 2 - 1e-12))
    if n > MAX_PER_ARM:
        raise DesignError(f"the design needs {n} patients per arm (more than {MAX_PER_ARM})")
    return RoseDesign(n_per_arm=n, boundary=delta * a / (a + b), method="normal")


def _normal_two_stage(
    p: float, delta: float, pcs_low: float, pcs_high: float, omega: float
) -> RoseDesign:
    s_l, s_h = _scenario_sds(p, delta)
    rho = sqrt(omega)
    spent = _spend(pcs_low, omega)
    c1 = float(-ndtri(spent))
    c2 = brentq(lambda z: bivariate_normal_cdf(c1, z, rho) - pcs_low, -12.0, 12.0, xtol=1e-12)
    for n in range(2, MAX_PER_ARM + 1):
        n1 = ceil(omega * n)
        if n1 >= n:
            continue
        z1 = (c1 * s_l - delta * sqrt(omega * n)) / s_h
        z2 = (c2 * s_l - delta * sqrt(n)) / s_h
        if 1.0 - bivariate_normal_cdf(z1, z2, rho) < pcs_high:
            continue
        lam1, lam2 = c1 * s_l / sqrt(n1), c2 * s_l / sqrt(n)
        if 0.0 <= lam2 <= lam1 <= 1.0:
            return RoseDesign(n, lam2, n1, lam1, "normal")
    raise DesignError(f"no two-stage design within {MAX_PER_ARM} patients per arm")


def _first_cut(pmf: np.ndarray, n: int, limit: int, level: float) -> int | None:
    """Smallest cut ``k`` in ``0..limit`` with ``Pr(x_H - x_L <= k) >= level``."""
    cdf = np.cumsum(pmf)[n : n + limit + 1]
    hits = np.flatnonzero(cdf >= level - 1e-12)
    return None if hits.size == 0 else int(hits[0])


def _exact(
    p: float, delta: float, pcs_low: float, pcs_high: float, omega: float | None
) -> RoseDesign:
    for n in range(1, MAX_PER_ARM + 1):
        limit = floor(delta * n + _TIE)
        if omega is None:
            k = _first_cut(_diff_pmf(n, p, p), n, limit, pcs_low)
            if k is None:
                continue
            design = RoseDesign(n, k / n, method="exact")
        else:
            n1 = ceil(omega * n - _TIE)
            if not 0 < n1 < n:
                continue
            # interim: the smallest cut whose S_L early-selection probability is within budget
            k1 = _first_cut(_diff_pmf(n1, p, p), n1, n1, 1.0 - _spend(pcs_low, omega))
            assert k1 is not None  # Pr(d <= n1) = 1
            ceiling = min(limit, floor(k1 * n / n1 + _TIE))
            design = None
            for k in range(ceiling + 1):
                trial = RoseDesign(n, k / n, n1, k1 / n1, "exact")
                if operating_characteristics(trial, p, p).select_low >= pcs_low - 1e-12:
                    design = trial
                    break
            if design is None:
                continue
        if operating_characteristics(design, p - delta, p).select_high >= pcs_high - 1e-12:
            return design
    raise DesignError(f"no exact design within {MAX_PER_ARM} patients per arm")


@dataclass(frozen=True)
class RoseDecision:
    """What the data say at one analysis: the selected arm, or continue (interim only)."""

    selected: Arm | None
    continue_trial: bool
    reason: str
    difference: float

    def to_json(self) -> dict[str, object]:
        return {
            "selected": self.selected,
            "continue": self.continue_trial,
            "difference": self.difference,
            "reason": self.reason,
        }


def rose_decide(
    design: RoseDesign,
    responses_low: int,
    n_low: int,
    responses_high: int,
    n_high: int,
    interim: bool = False,
    names: tuple[str, str] = ("the lower dose", "the higher dose"),
) -> RoseDecision:
    """The decision at the interim (``interim=True``) or final analysis from the arms' counts.

    Arms may differ a little from the plan (a patient not evaluable); the rule compares the
    observed response rates with the boundary of that analysis.
    """
    for r, n, arm in ((responses_low, n_low, "lower"), (responses_high, n_high, "higher")):
        if n < 1 or not 0 <= r <= n:
            raise DesignError(f"{arm}-dose arm: {r} responses among {n} patients is impossible")
    if interim and design.interim_boundary is None:
        raise DesignError("this ROSE design has no interim analysis")
    boundary = design.interim_boundary if interim else design.boundary
    assert boundary is not None
    diff = responses_high / n_high - responses_low / n_low
    low_name, high_name = names
    rates = (
        f"observed response rates {responses_high}/{n_high} at {high_name} and "
        f"{responses_low}/{n_low} at {low_name} differ by {diff:+.3f}"
    )
    if diff > boundary + _TIE:
        return RoseDecision(
            "high",
            False,
            f"The {rates}, above the boundary {boundary:.3f}: select {high_name}.",
            diff,
        )
    if interim:
        return RoseDecision(
            None,
            True,
            f"The {rates}, not above the interim boundary {boundary:.3f}: continue to the "
            "final analysis.",
            diff,
        )
    return RoseDecision(
        "low",
        False,
        f"The {rates}, not above the boundary {boundary:.3f}: select {low_name}.",
        diff,
    )


@dataclass(frozen=True)
class RoseSimulation:
    """Simulated selection percentages with their Monte-Carlo standard errors."""

    n_trials: int
    characteristics: RoseCharacteristics
    select_high_se: float
    early_high_se: float

    def to_json(self) -> dict[str, object]:
        return {
            "n_trials": self.n_trials,
            **self.characteristics.to_json(),
            "select_high_se": self.select_high_se,
            "early_high_se": self.early_high_se,
        }


def simulate_rose(
    design: RoseDesign,
    p_low: float,
    p_high: float,
    n_trials: int,
    seed: int,
    latent: tuple[np.ndarray, np.ndarray] | None = None,
) -> RoseSimulation:
    """Selection probabilities by simulation, vectorised across trials.

    Each virtual patient of arm ``a`` carries one latent uniform and responds when it is below
    the arm's response rate (common random numbers across designs and scenarios); ``latent``
    gives them as (trials, patients) arrays for the low and high arms, else they are drawn from
    ``seed``.
    """
    _check_probability(p_low, "p_low")
    _check_probability(p_high, "p_high")
    n = design.n_per_arm
    if latent is None:
        rng = np.random.default_rng(seed)
        latent = (rng.random((n_trials, n)), rng.random((n_trials, n)))
    u_low, u_high = latent
    if u_low.shape[0] != n_trials or min(u_low.shape[1], u_high.shape[1]) < n:
        raise DesignError(f"the latent patients need {n_trials} trials of {n} per arm")
    x_low = np.cumsum(u_low[:, :n] < p_low, axis=1)
    x_high = np.cumsum(u_high[:, :n] < p_high, axis=1)
    final = x_high[:, -1] - x_low[:, -1] > design.cut(n, design.boundary)
    early = np.zeros(n_trials, dtype=bool)
    if design.interim_n is not None and design.interim_boundary is not None:
        n1 = design.interim_n
        early = x_high[:, n1 - 1] - x_low[:, n1 - 1] > design.cut(n1, design.interim_boundary)
    high = early | final
    share, share_early = float(high.mean()), float(early.mean())
    mean_n = float(np.where(early, design.interim_n or n, n).mean())
    return RoseSimulation(
        n_trials=n_trials,
        characteristics=RoseCharacteristics(1.0 - share, share, share_early, mean_n),
        select_high_se=float(np.sqrt(share * (1.0 - share) / n_trials)),
        early_high_se=float(np.sqrt(share_early * (1.0 - share_early) / n_trials)),
    )


@dataclass(frozen=True)
class RoseArms:
    """Randomised patients and responses so far in the lower- and higher-dose arms.

    ``interim_done`` records that the interim analysis has been made (and the trial continued),
    so that it is not repeated on later data.
    """

    n_low: int = 0
    responses_low: int = 0
    n_high: int = 0
    responses_high: int = 0
    interim_done: bool = False


@dataclass(frozen=True)
class ROSE:
    """A ROSE design between two dose levels (0-based indices ``low < high``).

    ``decide`` tells, from the arms' counts, whether to keep randomising, to analyse at the
    interim or to select at the end; ``simulate`` gives selection probabilities.

    Example
    -------
    >>> rose = ROSE(rose_design(0.3, 0.1, 0.6, 0.6), low=1, high=2)
    >>> rose.decide(RoseArms(11, 3, 11, 4)).selected  # 4/11 - 3/11 = 0.091 > 0.052
    'high'
    """

    design: RoseDesign
    low: int
    high: int
    dose_names: tuple[str, str] | None = None
    name: str = "ROSE"

    def __post_init__(self) -> None:
        if not 0 <= self.low < self.high:
            raise DesignError("ROSE needs two dose levels, the lower one first")

    @property
    def _names(self) -> tuple[str, str]:
        if self.dose_names is not None:
            return self.dose_names
        return (f"dose {self.low + 1}", f"dose {self.high + 1}")

    def selected_level(self, decision: RoseDecision) -> int | None:
        """The dose level of the selected arm (``None`` while the trial continues)."""
        return {"low": self.low, "high": self.high, None: None}[decision.selected]

    def decide(self, arms: RoseArms) -> RoseDecision:
        """Keep randomising, or the interim or final decision once both arms have reached it."""
        d = self.design
        reached = min(arms.n_low, arms.n_high)
        final = reached >= d.n_per_arm
        interim = (
            not final
            and d.interim_n is not None
            and not arms.interim_done
            and reached >= d.interim_n
        )
        if final or interim:
            counts = (arms.responses_low, arms.n_low, arms.responses_high, arms.n_high)
            return rose_decide(d, *counts, interim=interim, names=self._names)
        before_interim = d.interim_n is not None and not arms.interim_done
        look = d.interim_n if before_interim and d.interim_n is not None else d.n_per_arm
        return RoseDecision(
            None,
            True,
            f"{reached} of {look} patients per arm evaluated for the next analysis: keep "
            "randomising 1:1.",
            float("nan"),
        )

    def simulate(self, p_low: float, p_high: float, n_trials: int, seed: int) -> RoseSimulation:
        """Selection probabilities when the lower and higher doses' response rates are given."""
        return simulate_rose(self.design, p_low, p_high, n_trials, seed)
