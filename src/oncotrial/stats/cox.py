"""The Cox (1972) proportional hazards model as R ``survival::coxph``: Efron (1977, JASA 72:557)
or Breslow ties, Newton–Raphson with step halving as R's ``coxfit6``, optionally stratified.

With the subjects sorted by stratum then time once, each Newton step costs a few passes over
the data: the risk-set sums ``S0 = Σ r`` and ``S1 = Σ r x`` (r = exp(x'β)) are cumulative sums
within each stratum, and the information's ``Σ_j w_j S2_j`` is one weighted cross-product
``X' diag(r · Σ_{j ∋ i} w_j) X`` instead of a p × p sum per event time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from oncotrial.stats.risk_sets import accumulate_within, segment_bounds, sort_times
from oncotrial.stats.survival_input import (
    chi2_upper,
    factor_codes,
    normal_quantile,
    normal_two_sided,
    times_events,
)

Ties = Literal["efron", "breslow"]


@dataclass(frozen=True)
class ChiSquareTest:
    """A chi-square statistic with its degrees of freedom and upper-tail p-value."""

    chisq: float
    df: int
    p: float


@dataclass(frozen=True)
class CoxFit:
    """A fitted Cox model, as R ``summary(coxph(...))``: coefficients, hazard ratios, standard
    errors, Wald z and p per covariate, confidence limits of the hazard ratios, the
    log partial likelihood at 0 and at the estimate, and the Wald, likelihood-ratio and score
    (log-rank) tests of all coefficients being 0."""

    names: tuple[str, ...]
    coef: np.ndarray
    se: np.ndarray
    hr: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    z: np.ndarray
    p: np.ndarray
    var: np.ndarray
    loglik: tuple[float, float]
    wald: ChiSquareTest
    lr: ChiSquareTest
    score: ChiSquareTest
    n: int
    n_event: int
    iterations: int
    ties: str
    conf_level: float
    converged: bool = True
    possibly_infinite: tuple[bool, ...] = ()


@dataclass(frozen=True)
class _RiskSets:
    """What every Newton step needs, subjects sorted by stratum then time: the centred
    covariates as a (p, n) array (one row per covariate: fast cumulative sums and gathers), the
    strata's ranges, each event's position and event time (``group``), each event time's first
    event and the first subject of its risk set, and Efron's fraction k/d of each event (empty,
    and ``tied`` False, when no event time holds several events or with Breslow ties)."""

    XT: np.ndarray
    bounds: np.ndarray
    dead: np.ndarray
    group: np.ndarray
    group_first: np.ndarray
    start: np.ndarray
    frac: np.ndarray
    tied: bool
    XT_dead: np.ndarray


def _risk_sets(
    t: np.ndarray,
    e: np.ndarray,
    X: np.ndarray,
    scodes: np.ndarray | None,
    ties: str,
    timefix: bool,
) -> _RiskSets:
    """Sort once and index the event times (see :class:`_RiskSets`)."""
    sorted_ = sort_times(t, scodes, timefix)
    order, new_run = sorted_.order, sorted_.new_run
    n = order.size
    bounds = np.array([0, n]) if sorted_.stratum is None else segment_bounds(sorted_.stratum)
    run_start = np.maximum.accumulate(np.where(new_run, np.arange(n), 0))
    dead = np.flatnonzero(e[order] == 1)
    run_of_dead = np.cumsum(new_run)[dead]
    first = np.empty(dead.size, dtype=bool)
    first[:1] = True
    np.not_equal(run_of_dead[1:], run_of_dead[:-1], out=first[1:])
    group = np.cumsum(first) - 1
    group_first = np.flatnonzero(first)
    d = np.diff(np.append(group_first, dead.size))
    efron = ties == "efron" and int(d.max()) > 1
    # centred covariates (R coxph centres too): the partial likelihood is unchanged
    XT = np.array(X.T, order="C")
    XT -= XT.mean(axis=1, keepdims=True)
    XT = np.take(XT, order, axis=1)
    return _RiskSets(
        XT=XT,
        bounds=bounds,
        dead=dead,
        group=group,
        group_first=group_first,
        start=run_start[dead[group_first]],
        frac=(np.arange(dead.size) - group_first[group]) / d[group] if efron else np.zeros(0),
        tied=efron,
        XT_dead=np.take(XT, dead, axis=1),
    )


def _cox_derivatives(beta: np.ndarray, rs: _RiskSets) -> tuple[float, np.ndarray, np.ndarray]:
    """Log partial likelihood, score and information at ``beta`` (Efron or Breslow).

    For the k-th of d tied events (k = 0..d−1) Efron's denominator is ``S0 − (k/d) D0`` and its
    mean covariate ``a = (S1 − (k/d) D1) / den``, D the sums over the tied events themselves
    (Breslow: k/d = 0). Score ``Σ x_event − Σ a``; information ``Σ (S2 − (k/d) D2) / den −
    Σ a a'`` (Therneau & Grambsch 2000, §3.3).
    """
    XT, g = rs.XT, rs.group
    m = rs.start.size
    eta = beta @ XT
    r = np.exp(eta)
    rx = r * XT
    s0 = accumulate_within(r, rs.bounds, reverse=True)[rs.start]
    s1 = np.take(accumulate_within(rx, rs.bounds, reverse=True), rs.start, axis=1)
    r_dead = r[rs.dead]
    if rs.tied:
        d0 = np.bincount(g, weights=r_dead, minlength=m)
        d1 = np.array([np.bincount(g, weights=r_dead * x, minlength=m) for x in rs.XT_dead])
        den = s0[g] - rs.frac * d0[g]
        a = np.take(s1, g, axis=1)
        a -= rs.frac * np.take(d1, g, axis=1)
    else:
        den = s0[g]
        a = np.take(s1, g, axis=1)
    a /= den
    loglik = float(eta[rs.dead].sum() - np.log(den).sum())
    score = rs.XT_dead.sum(axis=1) - a.sum(axis=1)
    inverse = 1.0 / den
    # Σ_j S2_j Σ_k 1/den_jk = Σ_i r_i x_i x_i' (the sum over the event times whose risk set holds i)
    held = np.zeros(r.size)
    held[rs.start] = np.bincount(g, weights=inverse, minlength=m)
    weight = r * accumulate_within(held, rs.bounds)
    info = (XT * weight) @ XT.T - a @ a.T
    if rs.tied:
        tie_weight = r_dead * np.bincount(g, weights=rs.frac * inverse, minlength=m)[g]
        info -= (rs.XT_dead * tie_weight) @ rs.XT_dead.T
    return loglik, score, info


def cox_ph(
    time: ArrayLike,
    event: ArrayLike,
    covariates: ArrayLike,
    *,
    names: Sequence[str] | None = None,
    strata: ArrayLike | None = None,
    ties: Ties = "efron",
    conf_level: float = 0.95,
    max_iter: int = 20,
    eps: float = 1e-9,
    timefix: bool = True,
) -> CoxFit:
    """Cox proportional hazards regression, as R ``coxph`` (default Efron ties).

    Newton–Raphson from β = 0 with step halving when the log partial likelihood falls,
    stopping when its relative change is ≤ ``eps`` (R ``coxph.control``: eps 1e-9, 20
    iterations). Covariates are centred first, which leaves the partial likelihood unchanged.
    The score test is at β = 0; the Wald test and standard errors use the information at β̂.
    ``converged`` is False when ``max_iter`` ran out (R warns and keeps the last step);
    ``possibly_infinite`` flags coefficients whose likelihood still rises when it stops
    (monotone likelihood, e.g. no events in one group), as R's other warning does, and those
    whose variance at the estimate is not positive (an information matrix that the monotone
    likelihood has left singular to rounding).

    Parameters
    ----------
    time, event
        Observed time and 1 (event) or 0 (censored) per subject.
    covariates
        One row per subject, one column per covariate (a vector for one covariate).
    names
        Covariate names (default ``x1, x2, …``).
    strata
        Stratum label per subject: a baseline hazard of its own per stratum.
    ties, conf_level, max_iter, eps
        Tie handling, level of the hazard ratios' intervals, R's ``coxph.control``.
    timefix
        Tie times equal but for floating-point noise first, as R's default
        (:func:`~oncotrial.stats.risk_sets.merge_near_ties`).

    Returns
    -------
    CoxFit

    Example
    -------
    >>> fit = cox_ph([1, 2, 3, 4, 5, 6], [1, 1, 0, 1, 1, 0], [0, 1, 0, 1, 0, 1])
    >>> round(float(fit.coef[0]), 6)  # R coxph: -0.2739478173
    -0.273948
    """
    t, e = times_events(time, event)
    X = np.asarray(covariates, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2 or X.shape[0] != t.size:
        raise ValueError("covariates must be a matrix with one row per observation")
    bad = np.argwhere(~np.isfinite(X))
    if bad.size:
        raise ValueError(f"covariate {bad[0][1]} at position {bad[0][0]} is missing or infinite")
    if ties not in ("efron", "breslow"):
        raise ValueError(f"ties must be 'efron' or 'breslow', not '{ties}'")
    p = X.shape[1]
    labels = tuple(names) if names is not None else tuple(f"x{i + 1}" for i in range(p))
    if len(labels) != p:
        raise ValueError(f"{len(labels)} names for {p} covariates")
    if e.sum() == 0:
        raise ValueError("no events: the Cox model cannot be fitted")
    scodes = None if strata is None else factor_codes(strata, "strata", t.size)[0]
    risk_sets = _risk_sets(t, e, X, scodes, ties, timefix)

    beta = np.zeros(p)
    loglik0, u, info = _cox_derivatives(beta, risk_sets)
    step = _solve(info, u)
    score_chisq = float(u @ step)
    loglik = loglik0
    new_beta = beta + step
    halving = False
    converged = False
    iterations = 0
    while iterations < max_iter:
        iterations += 1
        new_loglik, new_u, new_info = _cox_derivatives(new_beta, risk_sets)
        # R's |1 - loglik / new_loglik| <= eps, without dividing by a log-likelihood of 0
        converged = not halving and abs(new_loglik - loglik) <= eps * abs(new_loglik)
        if converged or iterations == max_iter:
            # done, or out of iterations: R keeps this last proposal (and warns)
            beta, loglik, info, u = new_beta, new_loglik, new_info, new_u
            break
        if not np.isfinite(new_loglik) or new_loglik < loglik:
            halving = True
            new_beta = (new_beta + beta) / 2
        else:
            halving = False
            beta, loglik, info = new_beta, new_loglik, new_info
            new_beta = beta + _solve(info, new_u)

    var = np.linalg.inv(info)
    with np.errstate(invalid="ignore"):  # a non-positive variance: flagged just below
        se = np.sqrt(np.diag(var))
    z = beta / se
    zc = normal_quantile(conf_level)
    wald = float(beta @ np.linalg.solve(var, beta))
    lr = 2.0 * (loglik - loglik0)
    # R coxph.fit: "Loglik converged before variable ...; coefficient may be infinite"
    remaining = np.abs(u @ var)
    infinite = (remaining > eps) & (remaining > np.sqrt(eps) * np.abs(beta))
    # a monotone likelihood can also stop with an information matrix that rounding has left
    # singular or indefinite: its variance is then not positive, and the coefficient not finite
    infinite |= ~(np.diag(var) > 0)
    with np.errstate(over="ignore"):
        hr, lower, upper = np.exp(beta), np.exp(beta - zc * se), np.exp(beta + zc * se)
    return CoxFit(
        names=labels,
        coef=beta,
        se=se,
        hr=hr,
        lower=lower,
        upper=upper,
        z=z,
        p=normal_two_sided(z),
        var=var,
        loglik=(loglik0, loglik),
        wald=ChiSquareTest(wald, p, chi2_upper(wald, p)),
        lr=ChiSquareTest(lr, p, chi2_upper(lr, p)),
        score=ChiSquareTest(score_chisq, p, chi2_upper(score_chisq, p)),
        n=int(t.size),
        n_event=int(e.sum()),
        iterations=iterations,
        ties=ties,
        conf_level=conf_level,
        converged=converged,
        possibly_infinite=tuple(bool(x) for x in infinite),
    )


def _solve(info: np.ndarray, u: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.solve(info, u)
    except np.linalg.LinAlgError:
        raise ValueError(
            "the covariates are collinear (or one is constant): the Cox model cannot be fitted"
        ) from None
