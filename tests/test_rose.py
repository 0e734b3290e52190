"""ROSE randomised dose selection (Wang, Yuan & Liu 2025, arXiv 2505.03898).

References: the paper's Table 1 and exact-design example (``tests/reference/rose/
wang_yuan_liu_2025.json``, with its provenance), and exact selection probabilities computed in R
by direct double sums of ``dbinom`` (``tests/reference/rose/exact_pcs.R`` -> ``exact_pcs.json``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from oncotrial.designs.base import DesignError
from oncotrial.designs.rose import (
    ROSE,
    RoseArms,
    RoseDesign,
    bivariate_normal_cdf,
    operating_characteristics,
    rose_decide,
    rose_design,
    simulate_rose,
)

REFERENCE = Path(__file__).parent / "reference" / "rose"
PAPER = json.loads((REFERENCE / "wang_yuan_liu_2025.json").read_text())


@pytest.mark.parametrize("row", PAPER["table_1"]["rows"], ids=str)
def test_table_1_sample_sizes(row: list[float]) -> None:
    """Wang et al. (2025) Table 1, delta = 0.1: e.g. p = 0.3, PCS 0.6/0.7 -> 24 per arm (one
    stage), 27 (two stages, interim at half)."""
    p, pcs_low, pcs_high, n_one, n_two = row
    delta = PAPER["table_1"]["delta"]
    one = rose_design(p, delta, pcs_low, pcs_high)
    two = rose_design(p, delta, pcs_low, pcs_high, PAPER["table_1"]["interim_fraction"])
    assert one.n_per_arm == n_one
    assert two.n_per_arm == n_two
    assert two.interim_n == int(np.ceil(0.5 * n_two))
    assert 0.0 <= two.boundary <= two.interim_boundary <= 1.0


def test_exact_design_example() -> None:
    """The exact (binomial) designs of the paper's example: 23 per arm, or 19 with an interim."""
    ex = PAPER["exact_example"]
    args = (ex["p_high"], ex["delta"], ex["pcs_low"], ex["pcs_high"])
    one = rose_design(*args, method="exact")
    two = rose_design(*args, interim_fraction=ex["interim_fraction"], method="exact")
    assert (one.n_per_arm, two.n_per_arm) == (ex["n_one_stage"], ex["n_two_stage"])
    for design in (one, two):
        assert operating_characteristics(design, 0.3, 0.3).select_low >= 0.6
        assert operating_characteristics(design, 0.2, 0.3).select_high >= 0.6


def test_normal_design_formula() -> None:
    """One stage: lambda = delta z_L s_L / (z_L s_L + z_H s_H) (p = 0.3, delta = 0.1, PCS 0.6/0.7:
    s_L = sqrt(0.42), s_H = sqrt(0.37), z = 0.2533, 0.5244 -> lambda = 0.0340)."""
    design = rose_design(0.3, 0.1, 0.6, 0.7)
    assert design.boundary == pytest.approx(0.0340, abs=5e-5)


@pytest.mark.parametrize("case", json.loads((REFERENCE / "exact_pcs.json").read_text())["cases"])
def test_exact_operating_characteristics_match_r(case: dict) -> None:
    n, k = case["n"], case["k"]
    if "n1" in case:
        design = RoseDesign(n, k / n, case["n1"], case["k1"] / case["n1"], "exact")
    else:
        design = RoseDesign(n, k / n, method="exact")
    oc = operating_characteristics(design, case["pl"], case["ph"])
    assert oc.select_high == pytest.approx(case["select_high"], abs=1e-12)
    assert oc.early_high == pytest.approx(case["early_high"], abs=1e-12)
    assert oc.select_low + oc.select_high == pytest.approx(1.0, abs=1e-12)


def test_bivariate_normal_cdf() -> None:
    """Closed forms: Phi2(0, 0; rho) = 1/4 + asin(rho) / (2 pi); independence factorises."""
    for rho in (-0.5, 0.0, 0.3, 0.7071):
        assert bivariate_normal_cdf(0.0, 0.0, rho) == pytest.approx(
            0.25 + np.arcsin(rho) / (2 * np.pi), abs=1e-12
        )
    assert bivariate_normal_cdf(1.0, -0.5, 0.0) == pytest.approx(0.8413447 * 0.3085375, abs=1e-7)


@pytest.mark.parametrize("two_stage", [False, True])
def test_simulation_agrees_with_the_exact_probabilities(two_stage: bool) -> None:
    design = rose_design(0.4, 0.1, 0.65, 0.65, 0.5 if two_stage else None, method="exact")
    exact = operating_characteristics(design, 0.3, 0.4)
    sim = simulate_rose(design, 0.3, 0.4, n_trials=100_000, seed=5)
    assert abs(sim.characteristics.select_high - exact.select_high) < 4.5 * sim.select_high_se
    assert abs(sim.characteristics.early_high - exact.early_high) <= 4.5 * sim.early_high_se
    assert sim.characteristics.mean_n_per_arm == pytest.approx(exact.mean_n_per_arm, rel=0.01)


def test_simulator_matches_the_decision_trial_by_trial() -> None:
    design = rose_design(0.3, 0.1, 0.6, 0.6, 0.5, method="exact")
    rose = ROSE(design, low=1, high=2)
    rng = np.random.default_rng(3)
    u_low, u_high = rng.random((300, design.n_per_arm)), rng.random((300, design.n_per_arm))
    p_low, p_high = 0.25, 0.35
    sim = simulate_rose(design, p_low, p_high, 300, 0, latent=(u_low, u_high))
    n1, n = design.interim_n, design.n_per_arm
    high = 0
    for i in range(300):
        x_low, x_high = np.cumsum(u_low[i] < p_low), np.cumsum(u_high[i] < p_high)
        interim = rose.decide(RoseArms(n1, int(x_low[n1 - 1]), n1, int(x_high[n1 - 1])))
        if interim.selected is None:
            assert interim.continue_trial
            final = rose.decide(RoseArms(n, int(x_low[-1]), n, int(x_high[-1])))
            high += final.selected == "high"
            assert rose.selected_level(final) in (1, 2)
        else:
            high += 1
    assert high / 300 == pytest.approx(sim.characteristics.select_high, abs=1e-12)


def test_decisions_and_their_reasons() -> None:
    design = rose_design(0.3, 0.1, 0.6, 0.6, 0.5, method="exact")  # 19 per arm, interim at 10
    rose = ROSE(design, low=0, high=1, dose_names=("L1, donafenib 100 mg bid", "L2"))
    waiting = rose.decide(RoseArms(6, 2, 7, 3))
    assert waiting.continue_trial and "keep randomising" in waiting.reason
    early = rose.decide(RoseArms(10, 2, 10, 5))
    assert early.selected == "high" and "select L2" in early.reason
    go_on = rose.decide(RoseArms(10, 3, 10, 4))  # difference 0.1 is not above the interim 0.1
    assert go_on.selected is None and go_on.continue_trial and "final analysis" in go_on.reason
    later = rose.decide(RoseArms(12, 3, 12, 7, interim_done=True))  # no second interim look
    assert later.selected is None and "of 19 patients per arm" in later.reason
    final = rose.decide(RoseArms(19, 5, 19, 6))  # 1/19 is not above 1/19
    assert final.selected == "low" and "L1, donafenib 100 mg bid" in final.reason
    with pytest.raises(DesignError, match="higher-dose arm: 12 responses among 10"):
        rose_decide(design, 3, 10, 12, 10)
    with pytest.raises(DesignError, match="no interim"):
        rose_decide(rose_design(0.3, 0.1), 1, 10, 2, 10, interim=True)
    with pytest.raises(DesignError, match="margin"):
        rose_design(0.3, 0.4)
    with pytest.raises(DesignError, match="pcs_low"):
        rose_design(0.3, 0.1, pcs_low=0.4)


PCS = st.floats(0.55, 0.85)


@settings(max_examples=40, deadline=None)
@given(st.floats(0.15, 0.6), st.sampled_from([0.1, 0.15, 0.2]), PCS, PCS, st.floats(0.0, 0.1))
def test_boundary_and_size_are_monotone_in_the_required_pcs(p, delta, pcs_low, pcs_high, more):
    """A stricter PCS in S_L raises the boundary, a stricter PCS in S_H lowers it, and neither
    ever lowers the sample size (normal and exact designs)."""
    assume(delta < p)
    base = rose_design(p, delta, pcs_low, pcs_high)
    stricter_low = rose_design(p, delta, min(pcs_low + more, 0.95), pcs_high)
    stricter_high = rose_design(p, delta, pcs_low, min(pcs_high + more, 0.95))
    assert stricter_low.boundary >= base.boundary - 1e-12
    assert stricter_high.boundary <= base.boundary + 1e-12
    assert stricter_low.n_per_arm >= base.n_per_arm and stricter_high.n_per_arm >= base.n_per_arm
    exact = rose_design(p, delta, pcs_low, pcs_high, method="exact")
    exact_strict = rose_design(p, delta, min(pcs_low + more, 0.95), pcs_high, method="exact")
    assert exact_strict.n_per_arm >= exact.n_per_arm
