"""3+3 ("expand the dose below to 6"): scalar rules, exact enumeration, simulation."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oncotrial.designs.base import TrialState
from oncotrial.designs.exact import dose_paths, exact_operating_characteristics
from oncotrial.designs.simulation import LatentPatients, replay_trial
from oncotrial.designs.threeplusthree import ThreePlusThree


def closed_form_selection(truth: list[float]) -> np.ndarray:
    """P(MTD = dose i) in closed form, derived as in Lin & Shih (2001, Biostatistics 2:203,
    section 2.1) for this variant: a dose passes escalation with 0/3 (prob A) or 1/3 then 0/3
    (prob B); when the dose above fails, a passed dose is accepted outright after B and after
    A only if the 3 added patients show ≤ 1 DLT (prob E); otherwise it fails in turn.
    """
    p = np.asarray(truth)
    q = 1 - p
    a = q**3
    b = 3 * p * q**2 * q**3
    e = q**3 + 3 * p * q**2
    alpha = a + b
    accept = (b + a * e) / alpha
    fail_back = a * (1 - e) / alpha
    n_doses = p.size
    reach_and_fail = [np.prod(alpha[:m]) * (1 - alpha[m]) for m in range(n_doses)]
    reach_and_fail.append(np.prod(alpha))  # all pass: the top dose is confirmed like a fallback
    sel = np.zeros(n_doses)
    for i in range(n_doses):
        for m in range(i + 1, n_doses + 1):
            sel[i] += reach_and_fail[m] * np.prod(fail_back[i + 1 : m]) * accept[i]
    return sel


SCENARIOS = [
    [0.05, 0.15, 0.3, 0.45, 0.6],
    [0.1, 0.2, 0.25, 0.35, 0.5],
    [0.3, 0.4, 0.5, 0.6, 0.7],
    [0.01, 0.02, 0.03, 0.04, 0.05],
]


@pytest.mark.parametrize("truth", SCENARIOS)
def test_exact_enumeration_equals_closed_form(truth: list[float]) -> None:
    exact = exact_operating_characteristics(ThreePlusThree(5), np.array(truth), 3)
    assert np.allclose(exact.selected, closed_form_selection(truth), atol=1e-12)
    assert exact.no_mtd == pytest.approx(1 - closed_form_selection(truth).sum(), abs=1e-12)


@pytest.mark.parametrize("truth", SCENARIOS[:2])
def test_simulation_agrees_with_exact_within_monte_carlo_error(truth: list[float]) -> None:
    """100,000 trials: each selection share within 4 binomial standard errors (≈ 0.6 points)."""
    design = ThreePlusThree(5)
    n_trials = 100_000
    latent = LatentPatients.draw(n_trials, design.max_cohorts * 3, seed=2024)
    oc = design.simulate(np.array(truth), latent).summary()
    exact = exact_operating_characteristics(design, np.array(truth), 3)
    for sim_pct, p in zip(oc.selected_pct, exact.selected, strict=True):
        se = 100 * np.sqrt(p * (1 - p) / n_trials)
        assert abs(sim_pct - 100 * p) <= 4 * se + 1e-9
    assert abs(oc.mean_n - exact.mean_n) < 0.05


def test_simulator_equals_scalar_replay() -> None:
    design = ThreePlusThree(4, start=1)
    truth = np.array([0.1, 0.25, 0.4, 0.55])
    latent = LatentPatients.draw(500, design.max_cohorts * 3, seed=5)
    fast = design.simulate(truth, latent)
    for t in range(latent.n_trials):
        _, mtd, state = replay_trial(design, truth, latent.tox[t], 3)
        n, y = state.evaluable_counts()
        assert n.tolist() == fast.n_per_dose[t].tolist()
        assert y.tolist() == fast.dlt_per_dose[t].tolist()
        assert (-1 if mtd is None else mtd) == fast.selected[t]


@pytest.mark.parametrize(
    ("n", "y", "current", "next_dose", "goes_on", "mtd"),
    [
        ([3, 0, 0], [0, 0, 0], 0, 1, True, None),  # 0/3 → escalate
        ([3, 0, 0], [1, 0, 0], 0, 0, True, None),  # 1/3 → expand
        ([6, 0, 0], [1, 0, 0], 0, 1, True, None),  # 1/6 → escalate
        ([6, 3, 0], [1, 2, 0], 1, None, False, 0),  # 2/3 above a full dose → MTD below
        ([3, 3, 0], [0, 2, 0], 1, 0, True, None),  # 2/3 above 0/3 → expand the dose below
        ([6, 3, 0], [2, 2, 0], 0, None, False, None),  # 2/6 at the lowest → no MTD
        ([3, 3, 3], [0, 0, 0], 2, 2, True, None),  # 0/3 at the top → expand to 6
        ([3, 3, 6], [0, 0, 1], 2, None, False, 2),  # 1/6 at the top → MTD = top
        ([3, 0, 0], [2, 0, 0], 0, None, False, None),  # 2/3 at the lowest → stop
    ],
)
def test_rules(n, y, current, next_dose, goes_on, mtd) -> None:
    decision = ThreePlusThree(3).decide(TrialState.from_counts(n, y, current=current))
    assert decision.next_dose == next_dose
    assert decision.continue_trial is goes_on
    assert decision.mtd == mtd


def test_start_above_lowest_can_fall_to_level_minus_one() -> None:
    # the seed study starts at level 1 with level -1 below: 2/3 there goes down to level -1
    design = ThreePlusThree(4, start=1)
    decision = design.decide(TrialState.from_counts([0, 3, 0, 0], [0, 2, 0, 0], current=1))
    assert decision.next_dose == 0 and decision.eliminated == (1, 2, 3)


def test_paths_of_first_two_cohorts() -> None:
    table = dose_paths(ThreePlusThree(3), TrialState(n_doses=3), n_cohorts=2, cohort_size=3)
    rows = {r["outcomes"]: r for r in table.rows()}
    assert rows["1NNN"]["next_dose"] == 2
    assert rows["1TNN 1NNN"]["next_dose"] == 2
    assert rows["1TNN 1TNN"]["continue"] is False
    assert rows["1TTN"]["continue"] is False


@settings(max_examples=200, deadline=None)
@given(
    n=st.lists(st.sampled_from([0, 3, 6]), min_size=4, max_size=4),
    data=st.data(),
    current=st.integers(0, 3),
)
def test_more_dlts_never_escalate_and_no_skipping(n, data, current) -> None:
    y = [data.draw(st.integers(0, k)) for k in n]
    design = ThreePlusThree(4)
    base = design.decide(TrialState.from_counts(n, y, current=current))
    if base.next_dose is not None:
        assert base.next_dose <= current + 1
        assert base.next_dose not in base.eliminated
    k = data.draw(st.integers(0, 3))
    if y[k] < n[k]:
        y2 = list(y)
        y2[k] += 1
        worse = design.decide(TrialState.from_counts(n, y2, current=current))
        if base.next_dose is not None and worse.next_dose is not None:
            assert worse.next_dose <= base.next_dose


def test_chow_shao_wang_example_expected_patients_at_top_dose() -> None:
    # Chow, Shao & Wang (2003), Sample Size Calculations in Clinical Research, Example 11.6.2
    # (3+3 with de-escalation), p = (0.01, 0.014, 0.025, 0.056, 0.177, 0.594, 0.963):
    # expected patients at dose 7 printed as 0.2.
    truth = np.array([0.01, 0.014, 0.025, 0.056, 0.177, 0.594, 0.963])
    exact = exact_operating_characteristics(ThreePlusThree(7), truth, 3)
    assert round(float(exact.mean_patients[6]), 1) == 0.2


def test_exact_matches_an_independent_implementation() -> None:
    # An independent closed-form implementation of Lin & Shih (2001) with "expand the dose
    # below to 6" and the top dose also expanded (the convention of the R package simFastBOIN's
    # 3+3 "expand" option), written separately for this project's review, printed to 4 decimals
    # for p = (.05, .10, .20, .30, .50, .70): P(no MTD) .0272, selection .0971 .2775 .3305
    # .2337 .0334 .0006, expected sample size 17.2736.
    truth = np.array([0.05, 0.10, 0.20, 0.30, 0.50, 0.70])
    exact = exact_operating_characteristics(ThreePlusThree(6), truth, 3)
    assert np.round(exact.selected, 4).tolist() == [0.0971, 0.2775, 0.3305, 0.2337, 0.0334, 0.0006]
    assert round(exact.no_mtd, 4) == 0.0272
    assert round(exact.mean_n, 4) == 17.2736
