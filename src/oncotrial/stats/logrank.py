"""The log-rank and Harrington–Fleming G-rho tests of k groups, optionally stratified, as R
``survival::survdiff`` (Harrington & Fleming 1982, Biometrika 69:553; Therneau & Grambsch 2000,
§3.3).

At each event time of a stratum with ``d`` events among ``n`` at risk (``d_g`` and ``n_g`` in
group g) the weight is ``w = S(t−)^rho``, S the stratum's pooled Kaplan–Meier curve; summed over
event times and strata: observed ``O_g = Σ w d_g``, expected ``E_g = Σ w d n_g / n`` and
``V_gh = Σ w² d (n − d) / (n − 1) · (n_g / n) (δ_gh − n_h / n)``. The statistic is
``(O − E)' V⁻¹ (O − E)`` over the groups with some expected events, the first of them dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from oncotrial.stats.risk_sets import accumulate_within, risk_table
from oncotrial.stats.survival_input import chi2_upper, factor_codes, times_events


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
    timefix: bool = True,
) -> LogRankTest:
    """Log-rank test (``rho = 0``) or Harrington–Fleming G-rho test of k groups, optionally
    stratified, as R ``survdiff(Surv(time, event) ~ group + strata(strata), rho = rho)``.

    Parameters
    ----------
    time, event
        Observed time and 1 (event) or 0 (censored) per subject.
    group
        Group label per subject; groups are reported in sorted order.
    strata
        Stratum label per subject: the test sums within-stratum comparisons.
    rho
        Weight exponent: 0 the log-rank test, 1 the Peto–Peto (Prentice) Wilcoxon-type test.
    timefix
        Tie times equal but for floating-point noise first, as R's default
        (:func:`~oncotrial.stats.risk_sets.merge_near_ties`).

    Returns
    -------
    LogRankTest
        ``df`` is the number of groups with some expected events, less one; with fewer than
        two such groups ``chisq`` is 0 and ``p`` NaN. A singular variance (no information to
        compare the groups) is refused with ValueError, as R refuses it.

    Example
    -------
    >>> test = logrank_test([1, 2, 3, 4, 5, 6], [1, 1, 0, 1, 1, 0], ["a", "b", "a", "b", "a", "b"])
    >>> test.observed.tolist(), round(test.chisq, 6)  # R survdiff: 2, 2; Chisq 0.073903
    ([2.0, 2.0], 0.073903)
    """
    t, e = times_events(time, event)
    codes, labels = factor_codes(group, "group", t.size)
    k = len(labels)
    scodes = None if strata is None else factor_codes(strata, "strata", t.size)[0]
    table = risk_table(t, e, codes, k, scodes, timefix)
    d_all = table.n_event.sum(axis=0)
    with_events = d_all > 0
    deaths = table.n_event[:, with_events].astype(float)
    at_risk = table.n_risk[:, with_events].astype(float)
    d = d_all[with_events].astype(float)
    n = np.ones(k) @ at_risk  # the sum over groups, as one BLAS pass
    if rho == 0 or d.size == 0:
        w = np.ones(d.size)
    else:
        # S(t−) of the pooled stratum curve: the product of the earlier event times' factors
        bounds = _event_bounds(table.bounds, with_events)
        surv = accumulate_within(1.0 - d / n, bounds, np.cumprod)
        before = np.concatenate(([1.0], surv[:-1]))
        before[bounds[:-1]] = 1.0
        w = before**rho
    observed = deaths @ w
    expected = at_risk @ (w * d / n)
    # hypergeometric variance factor w² d (n − d) / (n (n − 1)), 0 where one is at risk
    c = np.divide(w**2 * d * (n - d), n * (n - 1), out=np.zeros(d.size), where=n > 1)
    variance = np.diag(at_risk @ c) - (at_risk * (c / n)) @ at_risk.T
    used = expected > 0
    df = int(used.sum()) - 1
    if df < 1:
        chisq = 0.0
    else:
        idx = np.flatnonzero(used)[1:]
        diff = (observed - expected)[idx]
        try:
            chisq = float(diff @ np.linalg.solve(variance[np.ix_(idx, idx)], diff))
        except np.linalg.LinAlgError:
            # R survdiff stops too ("system is exactly singular")
            raise ValueError(
                "the variance of observed − expected events is singular (e.g. everybody at "
                "risk has the event at the same time): no log-rank test"
            ) from None
    return LogRankTest(
        groups=tuple(labels),
        n=np.bincount(codes, minlength=k),
        observed=observed,
        expected=expected,
        variance=variance,
        chisq=chisq,
        df=df,
        p=chi2_upper(chisq, df),
        rho=float(rho),
    )


def _event_bounds(bounds: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Stratum bounds of the table restricted to the rows in ``keep`` (strata without any kept
    row are dropped)."""
    kept_before = np.concatenate(([0], np.cumsum(keep)))
    return np.unique(kept_before[bounds])
