"""Survival kernels: Kaplan–Meier, log-rank (G-rho) test and the Cox proportional hazards model.

Each rule follows R's ``survival`` package (Therneau; version 3.5), which is what regulatory
statisticians compare against:

- Kaplan & Meier (1958), JASA 53:457 — the product-limit estimate ``S(t) = Π (1 − d/n)``.
- Greenwood (1926) — ``Var log S(t) = Σ d / (n (n − d))``; R's ``survfit`` keeps its square root
  as ``std.err`` (the standard error of ``log S``, infinite once everybody left has died).
- Pointwise confidence intervals as R ``survival:::survfit_confint``: ``log`` (R's default),
  ``log-log`` and ``plain`` (Kalbfleisch & Prentice 2002, §1.3; Klein & Moeschberger 2003, §4.3).
- Quantiles (median) and their confidence limits: the smallest time at which the curve (or a
  band, which inverts the pointwise intervals: Brookmeyer & Crowley 1982, Biometrics 38:29)
  reaches ``1 − p``; where it is flat at exactly ``1 − p``, the midpoint of that flat stretch.
  Quartiles as R ``quantile.survfit``, the median as R ``print.survfit`` (they differ only in
  two corner cases, see :meth:`KaplanMeier.quantiles`).
- Log-rank and Harrington–Fleming G-rho tests for k groups, optionally stratified, as R
  ``survdiff`` (Harrington & Fleming 1982, Biometrika 69:553).
- Cox (1972) proportional hazards with Efron (1977, JASA 72:557) or Breslow ties, fitted by
  Newton–Raphson with step halving as R ``coxph`` (``coxfit6``), optionally stratified.

The kernels know nothing of trials: times are numbers, events are 0/1, groups are labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

ConfType = Literal["log", "log-log", "plain"]
CONF_TYPES: tuple[str, ...] = ("log", "log-log", "plain")
Ties = Literal["efron", "breslow"]
QuantileRule = Literal["quantile", "print"]

#: R ``quantile.survfit``'s tolerance for "the curve is exactly at p": sqrt(.Machine$double.eps)
QUANTILE_TOL = float(np.sqrt(np.finfo(float).eps))


# --- input ------------------------------------------------------------------------------------


def _times_events(time: ArrayLike, event: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Validated float times and 0/1 events; errors name the (0-based) position."""
    t = np.asarray(time, dtype=float)
    e_raw = np.asarray(event)
    if t.ndim != 1 or e_raw.shape != t.shape:
        raise ValueError("time and event must be one-dimensional and of the same length")
    if t.size == 0:
        raise ValueError("no observations")
    bad = np.flatnonzero(~np.isfinite(t))
    if bad.size:
        raise ValueError(f"time at position {bad[0]} is not a finite number ({t[bad[0]]})")
    e = e_raw.astype(float)
    bad = np.flatnonzero((e != 0) & (e != 1))
    if bad.size:
        raise ValueError(f"event at position {bad[0]} is not 0 or 1 ({e_raw[bad[0]]})")
    return t, e


def _labels(values: ArrayLike, what: str, n: int) -> tuple[np.ndarray, list[str]]:
    """Integer codes and labels of a grouping variable, levels in sorted order (R ``factor``)."""
    arr = np.asarray(values)
    if arr.shape != (n,):
        raise ValueError(f"{what} must have one value per observation")
    missing = [i for i, v in enumerate(arr.tolist()) if v is None or v != v]
    if missing:
        raise ValueError(f"{what} at position {missing[0]} is missing")
    levels = sorted(set(arr.tolist()), key=lambda v: (isinstance(v, str), v))
    index = {level: i for i, level in enumerate(levels)}
    codes = np.fromiter((index[v] for v in arr.tolist()), dtype=int, count=n)
    return codes, [_label(level) for level in levels]


def _label(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _z(conf_level: float) -> float:
    if not 0.0 < conf_level < 1.0:
        raise ValueError(f"the confidence level must be in (0, 1), not {conf_level}")
    return float(stats.norm.ppf(1.0 - (1.0 - conf_level) / 2.0))


# --- Kaplan–Meier -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SurvivalQuantile:
    """The time by which a fraction ``prob`` has had the event, with its confidence limits.

    NaN means "not reached" (the curve or band never gets down to ``1 − prob``).
    """

    prob: float
    time: float
    lower: float
    upper: float


@dataclass(frozen=True)
class SurvivalAt:
    """Survival at one landmark time, as a row of R ``summary(fit, times = ...)``.

    ``std_err`` is the standard error of S itself (Greenwood); ``n_event`` and ``n_censor``
    count what happened after the previous landmark up to and including this one.
    """

    time: float
    surv: float
    std_err: float
    lower: float
    upper: float
    n_risk: int
    n_event: int
    n_censor: int


@dataclass(frozen=True)
class KaplanMeier:
    """A Kaplan–Meier curve at every distinct observed time (events and censorings), as R
    ``survfit``: numbers at risk, events and censored at each time, S(t), R's ``std.err`` (the
    standard error of log S) and the pointwise confidence band."""

    time: np.ndarray
    n_risk: np.ndarray
    n_event: np.ndarray
    n_censor: np.ndarray
    surv: np.ndarray
    std_err: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    n: int
    conf_type: ConfType = "log"
    conf_level: float = 0.95
    label: str = ""
    start_time: float = 0.0

    @property
    def events(self) -> int:
        """Total number of events."""
        return int(self.n_event.sum())

    @property
    def variance(self) -> np.ndarray:
        """Greenwood variance of S(t): ``S² Σ d / (n (n − d))``."""
        with np.errstate(invalid="ignore"):
            return self.surv**2 * self.std_err**2

    def with_confidence(self, conf_type: ConfType = "log", conf_level: float = 0.95) -> KaplanMeier:
        """The same curve with a band on another scale or level."""
        lower, upper = pointwise_ci(self.surv, self.std_err, conf_type, conf_level)
        return replace(self, lower=lower, upper=upper, conf_type=conf_type, conf_level=conf_level)

    def reverse(self) -> KaplanMeier:
        """The reverse Kaplan–Meier curve, whose median is the median follow-up (Schemper &
        Smith 1996, Control Clin Trials 17:343): censoring is the event and events are
        censored, as R ``survfit(Surv(time, event == 0) ~ 1)``; same risk sets."""
        return _from_table(
            self.time,
            self.n_risk,
            self.n_censor,
            self.n_event,
            conf_type=self.conf_type,
            conf_level=self.conf_level,
            label=self.label,
            start_time=self.start_time,
        )

    def quantiles(
        self, probs: Sequence[float] = (0.25, 0.5, 0.75), rule: QuantileRule = "quantile"
    ) -> list[SurvivalQuantile]:
        """Survival quantiles with confidence limits: the time for ``p`` is the smallest t with
        S(t) ≤ 1 − p, and the midpoint of the stretch where S is flat at exactly 1 − p; the
        limits apply the same rule to the lower and upper bands (Brookmeyer & Crowley).

        ``rule="quantile"`` is R ``quantile.survfit`` (a curve flat at 1 − p up to its last
        time gives the midpoint to that time; a band that rises again is searched as R's
        ``approx`` does). ``rule="print"`` is R ``print.survfit`` / ``summary(fit)$table``
        (first time at or below 1 − p; midpoint only up to a later drop). They differ only in
        those two situations, e.g. R's ``aml`` median upper limit: 48 by quantile, 45 by print.
        """
        p = np.asarray(probs, dtype=float)
        if np.any(np.isnan(p)) or np.any((p < 0) | (p > 1)):
            raise ValueError("quantile probabilities must be within [0, 1]")
        curves = (self.surv, self.lower, self.upper)
        if rule == "quantile":
            x = np.concatenate(([self.start_time], self.time))
            q, lo, hi = (_findq(x, np.concatenate(([0.0], 1.0 - c)), p) for c in curves)
        elif rule == "print":
            q, lo, hi = (np.array([_minmin(c, self.time, 1.0 - pk) for pk in p]) for c in curves)
        else:
            raise ValueError(f"unknown quantile rule '{rule}' (quantile or print)")
        return [
            SurvivalQuantile(float(pi), float(a), float(b), float(c))
            for pi, a, b, c in zip(p, q, lo, hi, strict=True)
        ]

    def median(self, rule: QuantileRule = "print") -> SurvivalQuantile:
        """Median survival and its confidence interval as R prints it (``print.survfit``, the
        convention of ``summary(fit)$table`` that reports quote); ``rule="quantile"`` gives
        R ``quantile(fit, 0.5)`` instead (see :meth:`quantiles`)."""
        return self.quantiles([0.5], rule=rule)[0]

    def n_risk_at(self, times: ArrayLike) -> np.ndarray:
        """Number still at risk (observed time ≥ t) at each of ``times``, for risk tables."""
        t = np.atleast_1d(np.asarray(times, dtype=float))
        following = np.searchsorted(self.time, t, side="left")
        return np.concatenate((self.n_risk, [0]))[following].astype(int)

    def at(self, times: ArrayLike, extend: bool = False) -> list[SurvivalAt]:
        """Survival, band and numbers at landmark times, sorted, as R ``summary(fit, times)``.

        S is the value of the step function at t (1 before the first time). Times after the
        last observed time are not estimable: their S and limits are NaN (R drops them) unless
        ``extend`` carries the last value forward (R ``extend = TRUE``). ``n_risk`` is the
        number with observed time ≥ t.
        """
        t = np.sort(np.atleast_1d(np.asarray(times, dtype=float)))
        if np.any(np.isnan(t)):
            raise ValueError("landmark times must be numbers")
        # R summary.survfit works on survfit0(fit): a row at start_time with S = 1 is prepended
        has_start = self.time.size > 0 and self.time[0] == self.start_time
        pad = 0 if has_start else 1
        time0 = np.concatenate(([self.start_time] * pad, self.time))
        surv0 = np.concatenate(([1.0] * pad, self.surv))
        se0 = np.concatenate(([0.0] * pad, self.std_err))
        lower0 = np.concatenate(([1.0] * pad, self.lower))
        upper0 = np.concatenate(([1.0] * pad, self.upper))
        cum_event = np.concatenate(([0.0] * pad, np.cumsum(self.n_event)))
        cum_censor = np.concatenate(([0.0] * pad, np.cumsum(self.n_censor)))
        row = np.maximum(np.searchsorted(time0, t, side="right") - 1, 0)
        n_risk = self.n_risk_at(t)
        last = time0[-1]
        rows: list[SurvivalAt] = []
        prev_event = prev_censor = 0.0
        for ti, r, nr in zip(t, row, n_risk, strict=True):
            beyond = ti > last and not extend
            with np.errstate(invalid="ignore"):
                se_s = surv0[r] * se0[r]
            ev, ce = cum_event[r], cum_censor[r]
            rows.append(
                SurvivalAt(
                    time=float(ti),
                    surv=np.nan if beyond else float(surv0[r]),
                    std_err=np.nan if beyond else float(se_s),
                    lower=np.nan if beyond else float(lower0[r]),
                    upper=np.nan if beyond else float(upper0[r]),
                    n_risk=int(nr),
                    n_event=int(ev - prev_event),
                    n_censor=int(ce - prev_censor),
                )
            )
            prev_event, prev_censor = ev, ce
        return rows


def pointwise_ci(
    surv: ArrayLike, std_err: ArrayLike, conf_type: ConfType = "log", conf_level: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise confidence limits of S from R's ``std.err`` (the standard error of log S), as
    R ``survival:::survfit_confint`` (``conf.lower = "usual"``):

    - ``log``: ``exp(log S ± z·se)``, the upper limit truncated at 1; undefined where S = 0.
    - ``log-log``: ``exp(−exp(log(−log S) ∓ z·se / log S))``; undefined where S is 0 or 1.
    - ``plain``: ``S ± z·se·S`` clipped to [0, 1].

    Undefined limits are NaN (R's NA).
    """
    s = np.asarray(surv, dtype=float)
    se = np.asarray(std_err, dtype=float)
    z = _z(conf_level)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if conf_type == "log":
            xx = np.where(s == 0, np.nan, s)
            lower = np.exp(np.log(xx) - z * se)
            upper = np.minimum(np.exp(np.log(xx) + z * se), 1.0)
        elif conf_type == "log-log":
            xx = np.where((s == 0) | (s == 1), np.nan, s)
            se2 = z * se / np.log(xx)
            lower = np.exp(-np.exp(np.log(-np.log(xx)) - se2))
            upper = np.exp(-np.exp(np.log(-np.log(xx)) + se2))
        elif conf_type == "plain":
            se2 = se * s * z
            lower = np.maximum(s - se2, 0.0)
            upper = np.minimum(s + se2, 1.0)
        else:
            raise ValueError(f"unknown confidence interval type '{conf_type}' ({CONF_TYPES})")
    return lower, upper


def _findq(x: np.ndarray, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """R ``survival:::findq``: for a non-decreasing ``y`` = 1 − S at times ``x``, the x where y
    first reaches each p; the midpoint of a stretch where y equals p (within the tolerance),
    reaching to the last time if the curve ends there. NaN entries of y (undefined band) are
    skipped and repeats of a y value keep their first time, as R ``approx`` does."""
    tol = QUANTILE_TOL
    out = np.full(p.shape, np.nan)
    if y.size == 0 or np.all(np.isnan(y)) or np.nanmax(y) < p.min():
        return out
    xmax = x[-1]
    _, first = np.unique(y, return_index=True)  # NaNs count as one value, as R duplicated()
    keep = np.sort(first)
    x, y = x[keep], y[keep]
    position = np.arange(y.size)
    ok = ~np.isnan(y)

    def first_at_least(shifted: np.ndarray, value: float) -> int | None:
        # R approx(shifted, 1:n, value, method = "constant", f = 1): the point with the smallest
        # shifted value ≥ value, none outside [min, max] of the shifted values
        s, pos = shifted[ok], position[ok]
        if value < s.min() or value > s.max():
            return None
        candidates = s >= value
        return int(pos[candidates][np.argmin(s[candidates])])

    last_defined = not np.isnan(y[-1])
    for k, pk in enumerate(p):
        i1 = first_at_least(y + tol, pk)
        i2 = first_at_least(y - tol, pk)
        if last_defined and abs(pk - y[-1]) < tol:
            out[k] = np.nan if i1 is None else (x[i1] + xmax) / 2
        elif pk == 0:
            out[k] = x[0]
        elif i1 is not None and i2 is not None:
            out[k] = (x[i1] + x[i2]) / 2
    return out


def _minmin(y: np.ndarray, x: np.ndarray, level: float) -> float:
    """R ``survival:::survmean``'s ``minmin`` (the median of ``print.survfit``) at any level:
    the first x where y < level + tol; if y is there exactly at the level and falls later, the
    midpoint to the first time it is lower. NaN entries are skipped."""
    keep = ~np.isnan(y) & (y < level + QUANTILE_TOL)
    if not keep.any():
        return float("nan")
    xs, ys = x[keep], y[keep]
    lower = np.flatnonzero(ys < ys[0])
    if abs(ys[0] - level) < QUANTILE_TOL and lower.size:
        return float((xs[0] + xs[lower[0]]) / 2)
    return float(xs[0])


def kaplan_meier(
    time: ArrayLike,
    event: ArrayLike,
    *,
    conf_type: ConfType = "log",
    conf_level: float = 0.95,
    label: str = "",
) -> KaplanMeier:
    """The Kaplan–Meier curve of right-censored data (event 1 = event, 0 = censored) with
    Greenwood standard errors and a pointwise band, as R ``survfit(Surv(time, event) ~ 1)``."""
    t, e = _times_events(time, event)
    times, inverse = np.unique(t, return_inverse=True)
    n_event = np.bincount(inverse, weights=e, minlength=times.size)
    n_obs = np.bincount(inverse, minlength=times.size).astype(float)
    n_risk = t.size - np.concatenate(([0.0], np.cumsum(n_obs)[:-1]))
    return _from_table(
        times,
        n_risk,
        n_event,
        n_obs - n_event,
        conf_type=conf_type,
        conf_level=conf_level,
        label=label,
        start_time=min(0.0, float(t.min())),
    )


def _from_table(
    times: np.ndarray,
    n_risk: np.ndarray,
    n_event: np.ndarray,
    n_censor: np.ndarray,
    *,
    conf_type: ConfType,
    conf_level: float,
    label: str,
    start_time: float,
) -> KaplanMeier:
    """Product-limit estimate and Greenwood standard error from the life table."""
    surv = np.cumprod(1.0 - n_event / n_risk)
    survivors = n_risk - n_event
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(
            n_event == 0, 0.0, np.where(survivors > 0, n_event / (n_risk * survivors), np.inf)
        )
    std_err = np.sqrt(np.cumsum(terms))
    lower, upper = pointwise_ci(surv, std_err, conf_type, conf_level)
    return KaplanMeier(
        time=times,
        n_risk=np.asarray(n_risk).astype(int),
        n_event=np.asarray(n_event).astype(int),
        n_censor=np.asarray(n_censor).astype(int),
        surv=surv,
        std_err=std_err,
        lower=lower,
        upper=upper,
        n=int(n_risk[0]) if len(n_risk) else 0,
        conf_type=conf_type,
        conf_level=conf_level,
        label=label,
        start_time=start_time,
    )


def kaplan_meier_by(
    time: ArrayLike,
    event: ArrayLike,
    by: ArrayLike,
    *,
    conf_type: ConfType = "log",
    conf_level: float = 0.95,
) -> dict[str, KaplanMeier]:
    """One Kaplan–Meier curve per group, groups in sorted order (R ``survfit(... ~ by)``)."""
    t, e = _times_events(time, event)
    codes, labels = _labels(by, "by", t.size)
    return {
        label: kaplan_meier(
            t[codes == i], e[codes == i], conf_type=conf_type, conf_level=conf_level, label=label
        )
        for i, label in enumerate(labels)
    }


def median_followup(
    time: ArrayLike, event: ArrayLike, *, conf_type: ConfType = "log", conf_level: float = 0.95
) -> SurvivalQuantile:
    """Median follow-up by the reverse Kaplan–Meier method (see :meth:`KaplanMeier.reverse`)."""
    return kaplan_meier(time, event, conf_type=conf_type, conf_level=conf_level).reverse().median()


# --- log-rank ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChiSquareTest:
    """A chi-square statistic with its degrees of freedom and upper-tail p-value."""

    chisq: float
    df: int
    p: float


@dataclass(frozen=True)
class LogRankTest:
    """R ``survdiff``: observed and expected events per group (summed over strata), the
    variance matrix of O − E, and the chi-square test of equal survival."""

    groups: tuple[str, ...]
    n: np.ndarray
    observed: np.ndarray
    expected: np.ndarray
    variance: np.ndarray
    chisq: float
    df: int
    p: float
    rho: float = 0.0


def logrank_test(
    time: ArrayLike,
    event: ArrayLike,
    group: ArrayLike,
    *,
    strata: ArrayLike | None = None,
    rho: float = 0.0,
) -> LogRankTest:
    """Log-rank test (``rho = 0``) or Harrington–Fleming G-rho test of k groups, optionally
    stratified, as R ``survdiff``. At each event time the weight is ``S(t−)^rho`` with S the
    pooled Kaplan–Meier of the stratum; the statistic is ``(O − E)' V⁻ (O − E)`` over groups
    with some expected events, one group dropped; ``df`` = such groups − 1."""
    t, e = _times_events(time, event)
    codes, labels = _labels(group, "group", t.size)
    k = len(labels)
    scodes = np.zeros(t.size, dtype=int) if strata is None else _labels(strata, "strata", t.size)[0]
    observed = np.zeros(k)
    expected = np.zeros(k)
    variance = np.zeros((k, k))
    for s in np.unique(scodes):
        mask = scodes == s
        ts, es, gs = t[mask], e[mask], codes[mask]
        times, inverse = np.unique(ts, return_inverse=True)
        deaths = np.zeros((times.size, k))
        leaving = np.zeros((times.size, k))
        np.add.at(deaths, (inverse, gs), es)
        np.add.at(leaving, (inverse, gs), 1.0)
        at_risk = leaving[::-1].cumsum(axis=0)[::-1]
        d = deaths.sum(axis=1)
        n = at_risk.sum(axis=1)
        if rho == 0:
            w = np.ones(times.size)
        else:
            km = np.cumprod(1.0 - d / n)
            w = np.concatenate(([1.0], km[:-1])) ** rho
        observed += (w[:, None] * deaths).sum(axis=0)
        expected += (w * d / n) @ at_risk
        several = n > 1
        c = np.zeros(times.size)
        c[several] = (w**2 * d * (n - d))[several] / (n[several] * (n[several] - 1))
        frac = at_risk / n[:, None]
        variance += np.einsum("t,tj->j", c, at_risk) * np.eye(k) - np.einsum(
            "t,tj,tk->jk", c, at_risk, frac
        )
    used = expected > 0
    df = int(used.sum()) - 1
    if df < 1:
        chisq = 0.0
    else:
        idx = np.flatnonzero(used)[1:]
        diff = (observed - expected)[idx]
        chisq = float(diff @ np.linalg.solve(variance[np.ix_(idx, idx)], diff))
    p = float(stats.chi2.sf(chisq, df)) if df >= 1 else float("nan")
    return LogRankTest(
        groups=tuple(labels),
        n=np.bincount(codes, minlength=k),
        observed=observed,
        expected=expected,
        variance=variance,
        chisq=chisq,
        df=df,
        p=p,
        rho=float(rho),
    )


# --- Cox proportional hazards ---------------------------------------------------------------


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


def _cox_blocks(t: np.ndarray, e: np.ndarray, X: np.ndarray, scodes: np.ndarray, ties: str):
    """Per stratum, what every Newton step needs: covariates sorted by time, where each event
    time's risk set starts, and each event's time group and Efron fraction k/d."""
    blocks = []
    for s in np.unique(scodes):
        idx = np.flatnonzero(scodes == s)
        idx = idx[np.argsort(t[idx], kind="stable")]
        ts, es = t[idx], e[idx]
        dead = np.flatnonzero(es == 1)
        if dead.size == 0:
            continue
        dtimes, group = np.unique(ts[dead], return_inverse=True)
        start = np.searchsorted(ts, dtimes, side="left")
        d = np.bincount(group).astype(float)
        rank = np.arange(dead.size) - np.searchsorted(group, group, side="left")
        frac = rank / d[group] if ties == "efron" else np.zeros(dead.size)
        blocks.append((X[idx], dead, group, start, frac))
    return blocks


def _cox_derivatives(beta: np.ndarray, blocks) -> tuple[float, np.ndarray, np.ndarray]:
    """Log partial likelihood, score and information at ``beta`` (Efron or Breslow)."""
    p = beta.size
    loglik = 0.0
    score = np.zeros(p)
    info = np.zeros((p, p))
    for Xs, dead, group, start, frac in blocks:
        eta = Xs @ beta
        r = np.exp(eta)
        rx = r[:, None] * Xs
        rxx = rx[:, :, None] * Xs[:, None, :]
        s0 = r[::-1].cumsum()[::-1][start]
        s1 = rx[::-1].cumsum(axis=0)[::-1][start]
        s2 = rxx[::-1].cumsum(axis=0)[::-1][start]
        m = start.size
        d0 = np.bincount(group, weights=r[dead], minlength=m)
        d1 = np.zeros((m, p))
        d2 = np.zeros((m, p, p))
        np.add.at(d1, group, rx[dead])
        np.add.at(d2, group, rxx[dead])
        den = s0[group] - frac * d0[group]
        a = (s1[group] - frac[:, None] * d1[group]) / den[:, None]
        loglik += float(eta[dead].sum() - np.log(den).sum())
        score += Xs[dead].sum(axis=0) - a.sum(axis=0)
        info += ((s2[group] - frac[:, None, None] * d2[group]) / den[:, None, None]).sum(
            axis=0
        ) - np.einsum("ij,ik->jk", a, a)
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
) -> CoxFit:
    """Cox proportional hazards regression, as R ``coxph`` (default Efron ties).

    Newton–Raphson from β = 0 with step halving when the log partial likelihood falls,
    stopping when its relative change is ≤ ``eps`` (R ``coxph.control``: eps 1e-9, 20
    iterations). Covariates are centred first, which leaves the partial likelihood unchanged.
    The score test is at β = 0; the Wald test and standard errors use the information at β̂.
    ``converged`` is False when ``max_iter`` ran out (R warns and keeps the last step);
    ``possibly_infinite`` flags coefficients whose likelihood still rises when it stops
    (monotone likelihood, e.g. no events in one group), as R's other warning does.
    """
    t, e = _times_events(time, event)
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
    scodes = np.zeros(t.size, dtype=int) if strata is None else _labels(strata, "strata", t.size)[0]
    blocks = _cox_blocks(t, e, X - X.mean(axis=0), scodes, ties)

    beta = np.zeros(p)
    loglik0, u, info = _cox_derivatives(beta, blocks)
    step = _solve(info, u)
    score_chisq = float(u @ step)
    loglik = loglik0
    new_beta = beta + step
    halving = False
    converged = False
    iterations = 0
    while iterations < max_iter:
        iterations += 1
        new_loglik, new_u, new_info = _cox_derivatives(new_beta, blocks)
        converged = not halving and abs(1 - loglik / new_loglik) <= eps
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
    se = np.sqrt(np.diag(var))
    z = beta / se
    zc = _z(conf_level)
    wald = float(beta @ np.linalg.solve(var, beta))
    lr = 2.0 * (loglik - loglik0)
    # R coxph.fit: "Loglik converged before variable ...; coefficient may be infinite"
    remaining = np.abs(u @ var)
    infinite = (remaining > eps) & (remaining > np.sqrt(eps) * np.abs(beta))
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
        p=2.0 * stats.norm.sf(np.abs(z)),
        var=var,
        loglik=(loglik0, loglik),
        wald=ChiSquareTest(wald, p, float(stats.chi2.sf(wald, p))),
        lr=ChiSquareTest(lr, p, float(stats.chi2.sf(lr, p))),
        score=ChiSquareTest(score_chisq, p, float(stats.chi2.sf(score_chisq, p))),
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
