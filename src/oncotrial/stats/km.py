"""Kaplan–Meier estimates as R ``survival::survfit`` (Therneau; survival 3.5): the curve, its
pointwise band, quantiles with their confidence limits, landmark summaries and median follow-up.

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
- Median follow-up by the reverse Kaplan–Meier method (Schemper & Smith 1996).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from oncotrial.stats.risk_sets import risk_table
from oncotrial.stats.survival_input import factor_codes, normal_quantile, times_events

ConfType = Literal["log", "log-log", "plain"]
CONF_TYPES: tuple[str, ...] = ("log", "log-log", "plain")
QuantileRule = Literal["quantile", "print"]

#: R ``quantile.survfit``'s tolerance for "the curve is exactly at p": sqrt(.Machine$double.eps)
QUANTILE_TOL = float(np.sqrt(np.finfo(float).eps))


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
    z = normal_quantile(conf_level)
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
    timefix: bool = True,
) -> KaplanMeier:
    """The Kaplan–Meier curve of right-censored data with Greenwood standard errors and a
    pointwise band, as R ``survfit(Surv(time, event) ~ 1)``.

    Parameters
    ----------
    time, event
        Observed time and 1 (event) or 0 (censored) per subject.
    conf_type, conf_level
        Scale and level of the pointwise band (R ``conf.type``, ``conf.int``).
    label
        Name of the curve (legends, tables).
    timefix
        Tie times equal but for floating-point noise first, as R's default
        (:func:`~oncotrial.stats.risk_sets.merge_near_ties`).

    Returns
    -------
    KaplanMeier
        The curve at every distinct observed time.

    Example
    -------
    >>> fit = kaplan_meier([1, 2, 2, 3, 5], [1, 1, 0, 1, 0])
    >>> fit.surv.round(3).tolist(), fit.median().time
    ([0.8, 0.6, 0.3, 0.3], 3.0)
    """
    t, e = times_events(time, event)
    table = risk_table(t, e, timefix=timefix)
    return _from_table(
        table.time,
        table.n_risk[0],
        table.n_event[0],
        table.n_censor[0],
        conf_type=conf_type,
        conf_level=conf_level,
        label=label,
        start_time=min(0.0, float(table.time[0])),
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
    at_risk = np.asarray(n_risk, dtype=float)
    died = np.asarray(n_event, dtype=float)
    surv = np.cumprod(1.0 - died / at_risk)
    survivors = at_risk - died
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(
            died == 0, 0.0, np.where(survivors > 0, died / (at_risk * survivors), np.inf)
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
    timefix: bool = True,
) -> dict[str, KaplanMeier]:
    """One Kaplan–Meier curve per group, groups in sorted order, as R ``survfit(... ~ by)``;
    all groups come from one sort of the data.

    Example
    -------
    >>> fits = kaplan_meier_by([1, 2, 3, 4], [1, 0, 1, 1], ["b", "a", "a", "b"])
    >>> list(fits), fits["b"].surv.tolist()
    (['a', 'b'], [0.5, 0.0])
    """
    t, e = times_events(time, event)
    codes, labels = factor_codes(by, "by", t.size)
    table = risk_table(t, e, strata=codes, timefix=timefix)
    bounds = table.bounds
    return {
        label: _from_table(
            table.time[a:b],
            table.n_risk[0, a:b],
            table.n_event[0, a:b],
            table.n_censor[0, a:b],
            conf_type=conf_type,
            conf_level=conf_level,
            label=label,
            start_time=min(0.0, float(table.time[a])),
        )
        for label, a, b in zip(labels, bounds[:-1], bounds[1:], strict=True)
    }


def median_followup(
    time: ArrayLike, event: ArrayLike, *, conf_type: ConfType = "log", conf_level: float = 0.95
) -> SurvivalQuantile:
    """Median follow-up by the reverse Kaplan–Meier method (see :meth:`KaplanMeier.reverse`).

    Example
    -------
    >>> median_followup([1, 2, 3, 4, 5], [1, 0, 1, 0, 0]).time
    4.0
    """
    return kaplan_meier(time, event, conf_type=conf_type, conf_level=conf_level).reverse().median()
