"""Keyboard, mTPI-2 and i3+3 checked against published tables, first principles and replay.

Sources (each test names the one it uses):

* mTPI-2: Guo, Wang, Yang, Lynn & Ji (2017), Contemp Clin Trials, doi:10.1016/j.cct.2017.04.006,
  Figure 3 (target 0.3, ε1 = ε2 = 0.05, decisions for n = 3, 6, 9, 10), as transcribed cell by
  cell in the R package ``escalation`` (tests/testthat/test_mtpi2.R, "Reproduce decisions
  conveyed in Figure 3").
* Keyboard: no printed Keyboard table could be found to check against (the paper's table and
  the ``Keyboard`` package's printed output were not available). The Keyboard table is
  checked (a) against a table computed here from first principles in exact rational
  arithmetic and (b) against the mTPI-2 Figure 3 numbers: with equal-width keys the two rules
  coincide (both R implementations scale truncated end keys by width; the ``IntervalDesign``
  code of R. Lin labels its design 4 "Keyboard design (or mTPI2 design)").
* i3+3: no printed i3+3 table could be found either; the rules of Liu, Wang & Ji (2020),
  J Biopharm Stat 30:294 (as restated in the FIND R package's ``get_decision_i3plus3``) are
  recomputed here in integer arithmetic.
"""

from __future__ import annotations

from fractions import Fraction
from math import comb

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oncotrial.designs.base import Patient, TrialState
from oncotrial.designs.interval import (
    MTPI2,
    DecisionTable,
    I3Plus3,
    IntervalDesignError,
    Keyboard,
    interval_edges,
)
from oncotrial.designs.mtd import isotonic_mtd
from oncotrial.designs.simulation import LatentPatients, replay_trial
from oncotrial.designs.tables import DecisionTableError

DESIGNS = (Keyboard, MTPI2, I3Plus3)

# Guo et al. (2017) Figure 3, target 0.3, EI [0.25, 0.35]: per n, (largest y with E, smallest y
# with D or DU, smallest y with DU). Cells as in escalation's test_mtpi2.R: n = 3: 0 E, 1 S,
# 2 D, 3 DU; n = 6: 0-1 E, 2 S, 3 D, 4-6 DU; n = 9: 0-2 E, 3 S, 4 D, 5-9 DU; n = 10: 0-2 E,
# 3 S, 4-5 D, 6-10 DU.
GUO_2017_FIGURE_3 = {3: (0, 2, 3), 6: (1, 3, 4), 9: (2, 4, 5), 10: (2, 4, 6)}


def _columns(table: DecisionTable, ns: list[int]) -> dict[int, tuple]:
    return {n: (table.escalate[n - 1], table.deescalate[n - 1], table.eliminate[n - 1]) for n in ns}


@pytest.mark.parametrize("cls", [MTPI2, Keyboard])
def test_mtpi2_figure_3_target_030(cls: type) -> None:
    # Guo et al. 2017, Figure 3 (see GUO_2017_FIGURE_3); Keyboard shares the rule.
    table = cls(n_doses=5, target=0.3).decision_table(10)
    assert _columns(table, list(GUO_2017_FIGURE_3)) == GUO_2017_FIGURE_3


def test_i3plus3_agrees_with_figure_3_at_cohort_multiples() -> None:
    # For target 0.3 and ε = 0.05 the i3+3 rules give the same E/D/DU boundaries as mTPI-2's
    # Figure 3 at n = 3, 6, 9, 10 (computed by hand: n = 3: 1/3 in EI → S, 2/3 and 1/3 ≥ 0.25 → D).
    table = I3Plus3(n_doses=5, target=0.3).decision_table(10)
    assert _columns(table, list(GUO_2017_FIGURE_3)) == GUO_2017_FIGURE_3


# --- first principles, exact -------------------------------------------------------------


def _beta_cdf(n: int, y: int, x: Fraction) -> Fraction:
    """P(p ≤ x) for p ~ Beta(y + 1, n − y + 1) = P(Binomial(n + 1, x) ≥ y + 1), exactly."""
    return sum(
        (comb(n + 1, j) * x**j * (1 - x) ** (n + 1 - j) for j in range(y + 1, n + 2)),
        Fraction(0),
    )


def _eliminates(n: int, y: int, target: Fraction) -> bool:
    # Yan et al. 2017 / Guo et al. 2017 / Liu et al. 2020: n ≥ 3 and Pr(p > φ | data) > 0.95.
    return n >= 3 and 1 - _beta_cdf(n, y, target) > Fraction(19, 20)


def _keyboard_exact(n_max: int, target: Fraction, half: Fraction) -> list[list[str]]:
    """Strongest-key decisions with exact key masses.

    Exact ties do occur (e.g. Beta(2, 2) puts equal mass on keys symmetric about 0.5), but
    only between keys on the same side of the target key, so the tie rule never matters here.
    """
    width = 2 * half
    lo, hi = target - half, target + half
    edges = [lo, hi]
    while edges[0] > 0:
        edges.insert(0, max(edges[0] - width, Fraction(0)))
    while edges[-1] < 1:
        edges.append(min(edges[-1] + width, Fraction(1)))
    target_key = edges.index(lo)
    out = []
    for n in range(1, n_max + 1):
        row = []
        for y in range(n + 1):
            if _eliminates(n, y, target):
                row.append("DU")
                continue
            cdf = [_beta_cdf(n, y, e) for e in edges]
            upm = [(cdf[k + 1] - cdf[k]) / (edges[k + 1] - edges[k]) for k in range(len(edges) - 1)]
            best = max(upm)
            sides = {
                "E" if k < target_key else "S" if k == target_key else "D"
                for k, mass in enumerate(upm)
                if mass == best
            }
            assert len(sides) == 1, f"a tie across decisions at n={n}, y={y}"
            row.append(sides.pop())
        out.append(row)
    return out


@pytest.mark.parametrize("target", ["0.2", "0.25", "0.3"])
def test_keyboard_and_mtpi2_tables_from_first_principles(target: str) -> None:
    # Exact Beta(1, 1) posterior key masses (binomial-sum identity), keys of width 0.1 around
    # [φ − 0.05, φ + 0.05], truncated end keys compared per unit width; n = 1..24.
    exact = _keyboard_exact(24, Fraction(target), Fraction(1, 20))
    for cls in (Keyboard, MTPI2):
        table = cls(n_doses=3, target=float(target)).decision_table(24)
        got = [[table.decision(n, y) for y in range(n + 1)] for n in range(1, 25)]
        assert got == exact


def test_i3plus3_table_from_first_principles() -> None:
    # Liu, Wang & Ji 2020 rules for φ = 0.3, EI = [0.25, 0.35] in integers: y/n < 1/4 ⇔ 4y < n;
    # y/n ≤ 7/20 ⇔ 20y ≤ 7n; (y − 1)/n < 1/4 ⇔ 4(y − 1) < n.
    table = I3Plus3(n_doses=3, target=0.3).decision_table(30)
    for n in range(1, 31):
        for y in range(n + 1):
            if _eliminates(n, y, Fraction(3, 10)):
                want = "DU"
            elif 4 * y < n:
                want = "E"
            elif 20 * y <= 7 * n or 4 * (y - 1) < n:
                want = "S"
            else:
                want = "D"
            assert table.decision(n, y) == want, (n, y)


def test_i3plus3_specific_cells() -> None:
    # The "(y − 1)/n below the EI → stay" rule of i3+3 (Liu et al. 2020): 1/1, 1/2 and 2/5
    # are above 0.35 but 0/1, 0/2 and 1/5 are below 0.25, so i3+3 stays where mTPI-2 does not.
    i3 = I3Plus3(n_doses=3, target=0.3).decision_table(6)
    mtpi2 = MTPI2(n_doses=3, target=0.3).decision_table(6)
    for n, y in [(1, 1), (2, 1), (5, 2)]:
        assert i3.decision(n, y) == "S"
    assert [mtpi2.decision(n, y) for n, y in [(1, 1), (2, 1), (5, 2)]] == ["D", "D", "D"]


def test_elimination_boundaries_target_030() -> None:
    # Pr(p > 0.3 | y, n) > 0.95 with n ≥ 3 (exact check above): smallest y per n = 3..12.
    table = Keyboard(n_doses=3, target=0.3).decision_table(12)
    want = [None, None] + [
        next(y for y in range(n + 1) if _eliminates(n, y, Fraction(3, 10))) for n in range(3, 13)
    ]
    assert list(table.eliminate) == want
    assert want[2:] == [3, 3, 4, 4, 5, 5, 5, 6, 6, 7]


def test_keyboard_keys_for_target_030() -> None:
    # Yan et al. 2017 / Keyboard::get.boundary.kb: keys of width 0.1 around [0.25, 0.35],
    # truncated at 0 and 1: [0, .05], [.05, .15], ..., [.95, 1]; the target key is the 4th.
    edges, target_index = interval_edges(0.25, 0.35)
    assert [float(e) for e in edges] == [
        0,
        0.05,
        0.15,
        0.25,
        0.35,
        0.45,
        0.55,
        0.65,
        0.75,
        0.85,
        0.95,
        1.0,
    ]
    assert target_index == 3


# --- the table object --------------------------------------------------------------------


def test_decision_table_json_and_text() -> None:
    table = MTPI2(n_doses=3, target=0.3, cohort_size=3, n_cohorts=1).decision_table()
    assert table.to_json() == {
        "n": [1, 2, 3],
        "escalate": [0, 0, 0],
        "deescalate": [1, 1, 2],
        "eliminate": [None, None, 3],
    }
    text = table.to_text()
    lines = text.splitlines()
    assert len(lines) == 4
    assert lines[0].split()[-3:] == ["1", "2", "3"]
    assert lines[1].startswith("E:") and lines[1].split()[-3:] == ["0", "0", "0"]
    assert lines[2].startswith("D:") and lines[2].split()[-3:] == ["1", "1", "2"]
    assert lines[3].startswith("DU:") and lines[3].split()[-3:] == ["NA", "NA", "3"]
    assert str(table) == text
    assert table.row(3) == {"n": 3, "escalate": 0, "deescalate": 2, "eliminate": 3}


def test_decision_table_rejects_non_monotone_rules() -> None:
    with pytest.raises(DecisionTableError):
        DecisionTable.from_actions([np.array([0, 2]), np.array([0, 2, 1])])


# --- decide ------------------------------------------------------------------------------


def test_decide_reasons() -> None:
    design = Keyboard(n_doses=5, target=0.3)
    d = design.decide(TrialState.from_counts([3, 3, 6, 0, 0], [0, 0, 3, 0, 0], current=2))
    assert d.next_dose == 1 and d.continue_trial
    assert d.reason == "3 DLTs in 6 at dose 3: ≥ de-escalation boundary 3 → de-escalate to dose 2"
    assert d.details["table_row"] == {"n": 6, "escalate": 1, "deescalate": 3, "eliminate": 4}

    d = design.decide(TrialState.from_counts([3, 0, 0, 0, 0], [0, 0, 0, 0, 0], current=0))
    assert d.next_dose == 1
    assert d.reason == "0 DLTs in 3 at dose 1: ≤ escalation boundary 0 → escalate to dose 2"

    d = design.decide(TrialState.from_counts([3, 3, 0, 0, 0], [0, 1, 0, 0, 0], current=1))
    assert d.next_dose == 1
    assert d.reason.startswith("1 DLT in 3 at dose 2: between escalation boundary 0 and")

    d = design.decide(TrialState.from_counts([3, 3, 0, 0, 0], [0, 3, 0, 0, 0], current=1))
    assert d.next_dose == 0 and d.eliminated == (1, 2, 3, 4)
    # Pr(p > 0.3 | 3/3) = 1 − 0.3⁴ = 0.9919
    assert d.reason == (
        "3 DLTs in 3 at dose 2: ≥ elimination boundary 3 (Pr(DLT rate > 0.3) = 0.992 > 0.95) "
        "→ eliminate doses 2–5 and de-escalate to dose 1"
    )
    assert d.to_json()["eliminated"] == [2, 3, 4, 5]


def test_decide_stops_and_waits() -> None:
    design = MTPI2(n_doses=3, target=0.3, n_cohorts=4)
    d = design.decide(TrialState(n_doses=3))
    assert (d.next_dose, d.continue_trial) == (0, True)

    d = design.decide(TrialState.from_counts([3, 0, 0], [3, 0, 0], current=0))
    assert d.next_dose is None and not d.continue_trial and d.mtd is None
    assert d.eliminated == (0, 1, 2)

    d = design.decide(TrialState.from_counts([3, 6, 3], [0, 1, 2], current=2))
    assert not d.continue_trial and d.mtd == 1  # 12 = 4 × 3 patients: the maximum sample size

    early = MTPI2(n_doses=3, target=0.3, n_cohorts=10, n_earlystop=6)
    d = early.decide(TrialState.from_counts([3, 6, 0], [0, 2, 0], current=1))
    assert not d.continue_trial and d.mtd == 1 and "n_earlystop" in d.reason

    pending = TrialState(
        n_doses=3,
        patients=(Patient(0, False), Patient(0, False), Patient(0, False, followup_days=5.0)),
    )
    d = design.decide(pending)
    assert d.accrual_suspended and d.next_dose == 0 and d.continue_trial

    d = design.decide(TrialState.from_counts([3, 0, 0], [0, 0, 0], current=2))
    assert d.next_dose == 2 and "no evaluable patient" in d.reason


def test_decide_at_the_edges_and_i3plus3_note() -> None:
    top = Keyboard(n_doses=2, target=0.3)
    d = top.decide(TrialState.from_counts([3, 3], [0, 0], current=1))
    assert d.next_dose == 1 and "dose 2 is the highest" in d.reason
    low = Keyboard(n_doses=2, target=0.3)
    d = low.decide(TrialState.from_counts([3, 0], [2, 0], current=0))
    assert d.next_dose == 0 and "dose 1 is the lowest" in d.reason
    i3 = I3Plus3(n_doses=3, target=0.3, cohort_size=1, n_cohorts=20)
    d = i3.decide(TrialState.from_counts([3, 5, 0], [0, 2, 0], current=1))
    assert d.next_dose == 1 and "i3+3 stays" in d.reason


def test_invalid_parameters_are_refused() -> None:
    with pytest.raises(IntervalDesignError):
        Keyboard(n_doses=3, target=1.2)
    with pytest.raises(IntervalDesignError):
        MTPI2(n_doses=3, target=0.03, epsilon1=0.05)
    with pytest.raises(IntervalDesignError):
        I3Plus3(n_doses=3, start=3)
    with pytest.raises(IntervalDesignError):
        Keyboard(n_doses=3).decide(TrialState(n_doses=4))
    with pytest.raises(IntervalDesignError):
        Keyboard(n_doses=3).simulate([0.1, 0.2], LatentPatients.draw(5, 30, seed=1))


# --- MTD selection -----------------------------------------------------------------------


def test_select_mtd_keyboard_package_example() -> None:
    # Keyboard::select.mtd.kb documentation example: target 0.3, npts (3, 3, 15, 9, 0), ntox
    # (0, 0, 4, 4, 0). By hand: p̂ = 0.016, 0.016, 0.268, 0.445 (no violators) → dose 3.
    state = TrialState.from_counts([3, 3, 15, 9, 0], [0, 0, 4, 4, 0])
    assert Keyboard(n_doses=5, target=0.3).select_mtd(state) == 2


@pytest.mark.parametrize(
    ("dlts", "expected"),
    [
        ((1, 2, 4, 5, 7), 1),  # observed rates 0.1, 0.2, 0.4, 0.5, 0.7 → dose 2
        ((1, 2, 3, 5, 7), 1),  # 0.1, 0.2, 0.3, 0.5, 0.7 → dose 2 (0.203 is nearer than 0.302)
        ((1, 2, 2, 5, 7), 2),  # tie 0.2 = 0.2 below the target → the higher dose, dose 3
        ((1, 2, 2, 3, 7), 2),  # 0.1, 0.2, 0.2, 0.3, 0.7 → dose 3
    ],
)
def test_select_mtd_guo_2017_examples(dlts: tuple[int, ...], expected: int) -> None:
    # Guo et al. 2017 MTD examples (target 0.25, 10 patients per dose) as quoted in
    # escalation's tests/testthat/test_select_mtpi2_mtd.R comments ("we should choose dose").
    state = TrialState.from_counts([10] * 5, list(dlts))
    for cls in DESIGNS:
        assert cls(n_doses=5, target=0.25).select_mtd(state) == expected


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 12), st.integers(0, 12)), min_size=1, max_size=6),
    st.sampled_from([0.2, 0.25, 0.3]),
)
def test_select_mtd_scalar_equals_vectorised(counts: list[tuple[int, int]], target: float) -> None:
    n = [a for a, _ in counts]
    y = [min(a, b) for a, b in counts]
    design = I3Plus3(n_doses=len(n), target=target)
    scalar = design.select_mtd(TrialState.from_counts(n, y))
    n_arr, y_arr = np.array([n]), np.array([y])
    vector = isotonic_mtd(n_arr, y_arr, target, design.lowest_eliminated(n_arr, y_arr))
    assert (-1 if scalar is None else scalar) == int(vector[0])


# --- simulation: replay and sanity ---------------------------------------------------------

SCENARIOS = [
    ([0.05, 0.12, 0.30, 0.45, 0.60], {}),
    ([0.30, 0.45, 0.55, 0.65, 0.75], {"n_earlystop": 9}),
    ([0.02, 0.05, 0.08, 0.12, 0.20], {"start": 1}),
    ([0.55, 0.65, 0.75, 0.85, 0.90], {}),
]


@pytest.mark.parametrize("cls", DESIGNS)
@pytest.mark.parametrize(("truth", "options"), SCENARIOS)
def test_vectorised_simulator_equals_patient_by_patient_replay(
    cls: type, truth: list[float], options: dict
) -> None:
    """Every simulated trial equals the replay through ``decide`` on the same uniforms."""
    design = cls(n_doses=5, target=0.3, cohort_size=3, n_cohorts=10, **options)
    truth_arr = np.array(truth)
    latent = LatentPatients.draw(300, design.max_patients, seed=20170415)
    outcomes, paths = design.simulate_with_paths(truth_arr, latent)
    for trial in range(latent.n_trials):
        doses, mtd, state = replay_trial(design, truth_arr, latent.tox[trial], design.cohort_size)
        assert doses == [int(d) for d in paths[trial] if d >= 0]
        assert (-1 if mtd is None else mtd) == outcomes.selected[trial]
        n, y = state.evaluable_counts()
        assert n.tolist() == outcomes.n_per_dose[trial].tolist()
        assert y.tolist() == outcomes.dlt_per_dose[trial].tolist()


@pytest.mark.parametrize("cls", DESIGNS)
def test_simulated_paths_never_skip_and_never_use_eliminated_doses(cls: type) -> None:
    design = cls(n_doses=5, target=0.3, n_cohorts=12)
    latent = LatentPatients.draw(5000, design.max_patients, seed=7)
    outcomes, paths = design.simulate_with_paths([0.1, 0.25, 0.4, 0.5, 0.6], latent)
    steps = np.diff(paths, axis=1)
    both = (paths[:, 1:] >= 0) & (paths[:, :-1] >= 0)
    assert steps[both].max() <= 1
    lowest = design.lowest_eliminated(outcomes.n_per_dose, outcomes.dlt_per_dose)
    assert np.all(outcomes.selected < lowest)
    chosen = outcomes.selected >= 0
    rows = np.flatnonzero(chosen)
    assert np.all(outcomes.n_per_dose[rows, outcomes.selected[chosen]] > 0)
    assert outcomes.duration_days.shape == (5000,)


def test_overly_toxic_truth_stops_without_mtd() -> None:
    design = Keyboard(n_doses=4, target=0.3)
    latent = LatentPatients.draw(2000, design.max_patients, seed=3)
    summary = design.simulate([0.9, 0.95, 0.97, 0.99], latent).summary()
    assert summary.no_mtd_pct > 99.0
    assert summary.stopped_pct > 99.0


def test_simulate_accepts_other_cohort_plans() -> None:
    design = MTPI2(n_doses=4, target=0.25)
    latent = LatentPatients.draw(500, 40, seed=11)
    outcomes = design.simulate([0.05, 0.1, 0.25, 0.4], latent, n_cohorts=20, cohort_size=2)
    assert outcomes.n_per_dose.sum(axis=1).max() <= 40


# --- properties ----------------------------------------------------------------------------


@st.composite
def trial_states(draw: st.DrawFn) -> tuple[type, float, TrialState]:
    cls = draw(st.sampled_from(DESIGNS))
    target = draw(st.sampled_from([0.2, 0.25, 0.3, 0.33]))
    n_doses = draw(st.integers(2, 6))
    n = draw(st.lists(st.integers(0, 12), min_size=n_doses, max_size=n_doses))
    y = [draw(st.integers(0, k)) for k in n]
    treated = [d for d in range(n_doses) if n[d] > 0] or [0]
    if n[treated[0]] == 0:
        n[0] = 1
    current = draw(st.sampled_from(treated))
    return cls, target, TrialState.from_counts(n, y, current=current)


def _next(design: object, state: TrialState) -> int:
    d = design.decide(state)  # type: ignore[attr-defined]
    return -1 if d.next_dose is None else d.next_dose


@settings(max_examples=300, deadline=None)
@given(trial_states(), st.integers(1, 10))
def test_more_dlts_never_give_a_higher_dose(case: tuple, n_cohorts: int) -> None:
    cls, target, state = case
    design = cls(n_doses=state.n_doses, target=target, n_cohorts=n_cohorts)
    n, y = state.evaluable_counts()
    dose = state.current_dose
    if y[dose] >= n[dose]:
        return
    more = y.copy()
    more[dose] += 1
    worse = TrialState.from_counts(n.tolist(), more.tolist(), current=dose)
    assert _next(design, worse) <= _next(design, state)


@settings(max_examples=300, deadline=None)
@given(trial_states(), st.integers(1, 10), st.sampled_from([None, 6, 9]))
def test_eliminated_doses_are_never_recommended_and_levels_not_skipped(
    case: tuple, n_cohorts: int, n_earlystop: int | None
) -> None:
    cls, target, state = case
    design = cls(n_doses=state.n_doses, target=target, n_cohorts=n_cohorts, n_earlystop=n_earlystop)
    decision = design.decide(state)
    n, y = state.evaluable_counts()
    must_go = {
        d
        for d in range(state.n_doses)
        if n[d] >= 3 and design.decision_table(max(int(n.max()), 1)).decision(n[d], y[d]) == "DU"
    }
    first = min(must_go, default=state.n_doses)
    assert set(decision.eliminated) == set(range(first, state.n_doses))
    if decision.next_dose is not None:
        assert decision.next_dose not in decision.eliminated
        assert decision.next_dose <= state.current_dose + 1
    if decision.mtd is not None:
        assert decision.mtd not in decision.eliminated
        assert n[decision.mtd] > 0
