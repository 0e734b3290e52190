"""Exact binomial inference: Clopper–Pearson intervals and the one-sample exact test.

Clopper & Pearson (1934), Biometrika 26:404: the (1 − α) interval for a proportion with x
successes in n is [B(α/2; x, n − x + 1), B(1 − α/2; x + 1, n − x)] with B the beta quantile
(R ``binom.test``'s interval).
"""

from __future__ import annotations

from dataclasses import dataclass

from scipy import stats


@dataclass(frozen=True)
class Proportion:
    """x of n, the estimate and its exact confidence interval."""

    x: int
    n: int
    estimate: float
    lower: float
    upper: float
    level: float

    def to_json(self) -> dict:
        return {
            "x": self.x,
            "n": self.n,
            "estimate": self.estimate,
            "lower": self.lower,
            "upper": self.upper,
            "level": self.level,
        }


def clopper_pearson(x: int, n: int, level: float = 0.95) -> Proportion:
    """Exact two-sided interval for a binomial proportion (as R ``binom.test``)."""
    if n < 0 or not 0 <= x <= n:
        raise ValueError(f"{x} successes in {n} trials is impossible")
    if not 0.0 < level < 1.0:
        raise ValueError("the confidence level must be in (0, 1)")
    if n == 0:
        return Proportion(0, 0, float("nan"), 0.0, 1.0, level)
    alpha = 1.0 - level
    lower = 0.0 if x == 0 else float(stats.beta.ppf(alpha / 2, x, n - x + 1))
    upper = 1.0 if x == n else float(stats.beta.ppf(1 - alpha / 2, x + 1, n - x))
    return Proportion(x, n, x / n, lower, upper, level)


def exact_binomial_test(x: int, n: int, p0: float, alternative: str = "greater") -> float:
    """P-value of the exact test of H0: p = p0 (``greater``, ``less`` or ``two-sided``, the
    last as R ``binom.test``: outcomes no more likely than the observed one)."""
    if not 0 <= x <= n or n < 1:
        raise ValueError(f"{x} successes in {n} trials is impossible")
    result = stats.binomtest(x, n, p0, alternative=alternative)
    return float(result.pvalue)
