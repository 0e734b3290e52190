"""Clopper–Pearson against R's binom.test (ISO 8601 dates are tested in test_cdisc_dates.py)."""

import pytest

from oncotrial.stats.binomial import clopper_pearson, exact_binomial_test


@pytest.mark.parametrize(
    ("x", "n", "lower", "upper"),
    [
        # R: binom.test(7, 20)$conf.int → 0.1539092 0.5921885
        (7, 20, 0.1539092, 0.5921885),
        # R: binom.test(0, 10)$conf.int → 0.0000000 0.3084971
        (0, 10, 0.0, 0.3084971),
        # R: binom.test(10, 10)$conf.int → 0.6915029 1.0000000
        (10, 10, 0.6915029, 1.0),
        # R: binom.test(682, 925)$conf.int → 0.7076683 0.7654066 (R documentation example,
        # Mendel's peas)
        (682, 925, 0.7076683, 0.7654066),
    ],
)
def test_clopper_pearson_matches_r(x: int, n: int, lower: float, upper: float) -> None:
    ci = clopper_pearson(x, n)
    assert ci.lower == pytest.approx(lower, abs=5e-8)
    assert ci.upper == pytest.approx(upper, abs=5e-8)


def test_exact_test_matches_r() -> None:
    # R: binom.test(682, 925, p = 3/4)$p.value → 0.3825 (R documentation example)
    assert exact_binomial_test(682, 925, 0.75, "two-sided") == pytest.approx(0.3825, abs=5e-5)
