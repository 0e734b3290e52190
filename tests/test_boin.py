"""BOIN (Liu & Yuan 2015) checked against published boundaries and its own scalar path."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oncotrial.designs.base import Patient, TrialState
from oncotrial.designs.boin import BOIN, BoinBoundaries, BoinError, boin_lambdas
from oncotrial.designs.simulation import LatentPatients, replay_trial

# Yuan, Hess, Hilsenbeck & Gilbert (2016), Clin Cancer Res 22:4291, Table 1 (φ1 = 0.6φ,
# φ2 = 1.4φ): escalation / de-escalation boundaries, printed to 3 decimals (some entries are
# truncated rather than rounded, so agreement is to the printed precision, 0.001).
PUBLISHED_LAMBDAS = {
    0.15: (0.118, 0.179),
    0.20: (0.157, 0.238),
    0.25: (0.197, 0.298),
    0.30: (0.236, 0.358),
    0.35: (0.276, 0.419),
    0.40: (0.316, 0.479),
}


@pytest.mark.parametrize("target", sorted(PUBLISHED_LAMBDAS))
def test_lambdas_match_published_table(target: float) -> None:
    lam_e, lam_d = boin_lambdas(target)
    assert abs(lam_e - PUBLISHED_LAMBDAS[target][0]) < 1e-3
    assert abs(lam_d - PUBLISHED_LAMBDAS[target][1]) < 1e-3


def test_target_030_four_decimals() -> None:
    # Liu & Yuan (2015) section 2.2 and the BOIN R package: λe = 0.2365, λd = 0.3585 for φ = 0.3
    lam_e, lam_d = boin_lambdas(0.3)
    assert round(lam_e, 4) == 0.2365
    assert round(lam_d, 4) == 0.3585


def test_decision_table_target_030_matches_boin_package() -> None:
    # BOIN R package, get.boundary(target = 0.3, ncohort = 10, cohortsize = 3)$full_boundary_tab
    # as printed in the package documentation / trial protocols using BOIN (n = 1..30).
    table = BoinBoundaries.compute(0.3, 30)
    assert table.escalate.tolist() == [
        0,
        0,
        0,
        0,
        1,
        1,
        1,
        1,
        2,
        2,
        2,
        2,
        3,
        3,
        3,
        3,
        4,
        4,
        4,
        4,
        4,
        5,
        5,
        5,
        5,
        6,
        6,
        6,
        6,
        7,
    ]
    assert table.deescalate.tolist() == [
        1,
        1,
        2,
        2,
        2,
        3,
        3,
        3,
        4,
        4,
        4,
        5,
        5,
        6,
        6,
        6,
        7,
        7,
        7,
        8,
        8,
        8,
        9,
        9,
        9,
        10,
        10,
        11,
        11,
        11,
    ]
    assert table.to_json()["eliminate"] == [
        None,
        None,
        3,
        3,
        4,
        4,
        5,
        5,
        5,
        6,
        6,
        7,
        7,
        8,
        8,
        8,
        9,
        9,
        9,
        10,
        10,
        11,
        11,
        11,
        12,
        12,
        12,
        13,
        13,
        14,
    ]
    # for 3 patients: escalate on 0, de-escalate on >= 2, eliminate on 3 (issue #2, section 5)
    assert (table.escalate[2], table.deescalate[2], table.eliminate[2]) == (0, 2, 3)


@pytest.mark.parametrize("target", [0.15, 0.2, 0.25, 0.3, 0.35, 0.4])
def test_boundaries_are_the_rounded_lambdas(target: float) -> None:
    table = BoinBoundaries.compute(target, 30)
    n = table.n
    assert np.all(table.escalate <= n * table.lambda_e)
    assert np.all(table.escalate + 1 > n * table.lambda_e)
    capped = (table.eliminate >= 0) & (table.deescalate == table.eliminate)
    free = ~capped
    assert np.all(table.deescalate[free] >= n[free] * table.lambda_d)
    assert np.all(table.deescalate[free] - 1 < n[free] * table.lambda_d)


def test_invalid_parameters_are_refused() -> None:
    with pytest.raises(BoinError):
        boin_lambdas(0.3, p_saf=0.35)
    with pytest.raises(BoinError):
        BOIN(n_doses=4, target=1.2)
    with pytest.raises(BoinError):
        BOIN(n_doses=4, target=0.3, start=4)


def test_decide_escalates_stays_and_deescalates() -> None:
    design = BOIN(n_doses=4, target=0.3, cohort_size=3, n_cohorts=6, start=1)
    assert design.decide(TrialState(n_doses=4)).next_dose == 1
    esc = design.decide(TrialState.from_counts([0, 3, 0, 0], [0, 0, 0, 0], current=1))
    assert esc.next_dose == 2 and esc.continue_trial
    stay = design.decide(TrialState.from_counts([0, 3, 0, 0], [0, 1, 0, 0], current=1))
    assert stay.next_dose == 1
    down = design.decide(TrialState.from_counts([0, 3, 0, 0], [0, 2, 0, 0], current=1))
    assert down.next_dose == 0
    assert "de-escalate" in down.reason


def test_elimination_removes_the_dose_and_above() -> None:
    design = BOIN(n_doses=4, target=0.3, n_cohorts=6)
    decision = design.decide(TrialState.from_counts([3, 3, 0, 0], [0, 3, 0, 0], current=1))
    assert decision.eliminated == (1, 2, 3)
    assert decision.next_dose == 0
    # and with dose 1 safe but dose 2 eliminated, dose 1 never escalates again
    again = design.decide(TrialState.from_counts([6, 3, 0, 0], [0, 3, 0, 0], current=0))
    assert again.next_dose == 0


def test_lowest_dose_eliminated_stops_without_mtd() -> None:
    design = BOIN(n_doses=3, target=0.3)
    decision = design.decide(TrialState.from_counts([3, 0, 0], [3, 0, 0], current=0))
    assert not decision.continue_trial
    assert decision.next_dose is None and decision.mtd is None


def test_extrasafe_stops_earlier() -> None:
    # Pr(p1 > 0.3 | 2 DLTs in 3) = 0.9163 (Beta(3, 2) upper tail): below the elimination
    # cutoff 0.95 but above the extra-safe cutoff 0.95 - 0.05 (BOIN package, get.oc/select.mtd)
    plain = BOIN(n_doses=3, target=0.3)
    safe = BOIN(n_doses=3, target=0.3, extrasafe=True)
    state = TrialState.from_counts([3, 0, 0], [2, 0, 0], current=0)
    assert plain.decide(state).continue_trial
    assert not safe.decide(state).continue_trial


def test_pending_patients_suspend_plain_boin() -> None:
    design = BOIN(n_doses=3, target=0.3)
    patients = (Patient(0, False), Patient(0, False), Patient(0, False, followup_days=10))
    decision = design.decide(TrialState(n_doses=3, patients=patients, current=0))
    assert decision.accrual_suspended and decision.next_dose == 0


def test_select_mtd_example_from_boin_package() -> None:
    # BOIN R package, select.mtd documentation example: n = (3, 3, 15, 9, 0),
    # y = (0, 0, 4, 4, 0), target 0.3 → the MTD is dose level 3.
    design = BOIN(n_doses=5, target=0.3)
    state = TrialState.from_counts([3, 3, 15, 9, 0], [0, 0, 4, 4, 0])
    assert design.select_mtd(state) == 2


def test_select_mtd_tie_rule_prefers_lower_dose_above_target() -> None:
    # Two pooled doses above the target share one isotonic estimate: BOIN picks the lower one.
    design = BOIN(n_doses=3, target=0.3)
    state = TrialState.from_counts([3, 6, 3], [0, 3, 1])
    assert design.select_mtd(state) == 1


@pytest.mark.parametrize(
    "truth",
    [
        [0.05, 0.15, 0.3, 0.45, 0.6],
        [0.3, 0.4, 0.5, 0.6, 0.7],
        [0.6, 0.7, 0.75, 0.8, 0.85],
        [0.02, 0.04, 0.06, 0.08, 0.1],
    ],
)
@pytest.mark.parametrize("options", [{}, {"extrasafe": True, "n_earlystop": 9}])
def test_vectorised_simulator_equals_scalar_replay(truth: list[float], options: dict) -> None:
    """Every simulated trial equals the patient-by-patient replay through ``decide``."""
    design = BOIN(n_doses=5, target=0.3, cohort_size=3, n_cohorts=10, **options)
    truth_arr = np.array(truth)
    latent = LatentPatients.draw(300, design.max_patients, seed=11)
    fast = design.simulate(truth_arr, latent)
    for trial in range(latent.n_trials):
        _, mtd, state = replay_trial(design, truth_arr, latent.tox[trial], design.cohort_size)
        n, y = state.evaluable_counts()
        assert n.tolist() == fast.n_per_dose[trial].tolist()
        assert y.tolist() == fast.dlt_per_dose[trial].tolist()
        assert (-1 if mtd is None else mtd) == fast.selected[trial]


@settings(max_examples=150, deadline=None)
@given(
    n=st.lists(st.integers(0, 12), min_size=4, max_size=4),
    data=st.data(),
    current=st.integers(0, 3),
)
def test_more_dlts_never_give_a_higher_dose(n: list[int], data, current: int) -> None:
    y = [data.draw(st.integers(0, k)) for k in n]
    design = BOIN(n_doses=4, target=0.3, n_cohorts=20)
    base = design.decide(TrialState.from_counts(n, y, current=current))
    worse_at = data.draw(st.integers(0, 3))
    if y[worse_at] >= n[worse_at]:
        return
    y2 = list(y)
    y2[worse_at] += 1
    worse = design.decide(TrialState.from_counts(n, y2, current=current))
    if base.next_dose is None:
        assert worse.next_dose is None or not base.continue_trial
        return
    if worse.next_dose is not None:
        assert worse.next_dose <= base.next_dose
    assert set(base.eliminated) <= set(worse.eliminated)


@settings(max_examples=150, deadline=None)
@given(
    n=st.lists(st.integers(0, 12), min_size=4, max_size=4),
    data=st.data(),
    current=st.integers(0, 3),
)
def test_never_eliminated_never_skipped(n: list[int], data, current: int) -> None:
    y = [data.draw(st.integers(0, k)) for k in n]
    design = BOIN(n_doses=4, target=0.3, n_cohorts=20)
    decision = design.decide(TrialState.from_counts(n, y, current=current))
    if decision.next_dose is not None:
        assert decision.next_dose not in decision.eliminated
        assert decision.next_dose <= current + 1
    if decision.mtd is not None:
        assert decision.mtd not in decision.eliminated
