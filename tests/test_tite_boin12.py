"""TITE-BOIN12 checked against an independent implementation of the paper's approximated
likelihood (tests/reference/boin12/tite_boin12_al_reference.json), against BOIN12 when no
outcome is pending (the escalation package's cases and whole simulated trials), and against its
own scalar path with staggered entry."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oncotrial.designs.boin12 import BOIN12
from oncotrial.designs.boin12_rules import desirability
from oncotrial.designs.efficacy import (
    Arrivals,
    EfficacyLatents,
    EfficacyPatient,
    EfficacyState,
    Utilities,
)
from oncotrial.designs.simulation import AccrualModel
from oncotrial.designs.tite_boin12 import (
    TITEBOIN12,
    effective_endpoint,
    effective_tails,
    tite_boin12_summary,
)
from oncotrial.designs.tite_boin12_simulation import replay_tite_boin12_trial

REFERENCE = Path(__file__).parent / "reference" / "boin12"


def test_approximated_likelihood_matches_the_reference() -> None:
    """ESS, rates, imputed outcomes, quasi-events, desirability and the two posterior tails of
    two doses with every pattern of pending outcomes (non-additive utilities 100/30/65/0)."""
    ref = json.loads((REFERENCE / "tite_boin12_al_reference.json").read_text())
    design, patients = ref["design"], ref["patients"]
    dose_of = np.array([p["dose"] - 1 for p in patients])

    def endpoint(code: str, follow: str, window: float) -> tuple[np.ndarray, ...]:
        codes = np.array([p[code] for p in patients])
        weight = np.array([p[follow] for p in patients]) / window
        return codes == 1, codes == -1, np.minimum(weight, 1.0)

    tox = endpoint("tox", "tf", design["tox_window"])
    eff = endpoint("eff", "ef", design["eff_window"])
    _, _, _, imputed_t = effective_endpoint(*tox, dose_of, 2)
    _, _, _, imputed_e = effective_endpoint(*eff, dose_of, 2)
    assert imputed_t == pytest.approx([p["expected_t"] for p in patients], rel=1e-12)
    assert imputed_e == pytest.approx([p["expected_e"] for p in patients], rel=1e-12)
    utilities = Utilities(**design["utilities"])
    summary = tite_boin12_summary(dose_of, tox, eff, utilities, 2)
    over, under = effective_tails(summary, design["phi_t"], design["phi_e"])
    benchmark = utilities.benchmark(design["phi_t"], design["phi_e"])
    score = desirability(summary["n"], summary["utility_sum"], benchmark)
    for d, row in enumerate(ref["doses"]):
        assert summary["n"][d] == row["n"]
        assert summary["ess_tox"][d] == pytest.approx(row["ess_t"])
        assert summary["ess_eff"][d] == pytest.approx(row["ess_e"])
        assert summary["p_tox"][d] == pytest.approx(row["pi_t"], rel=1e-12)
        assert summary["p_eff"][d] == pytest.approx(row["pi_e"], rel=1e-12)
        assert summary["utility_sum"][d] / 100 == pytest.approx(row["utility_events"], rel=1e-12)
        assert score[d] == pytest.approx(row["utility_probability"], rel=1e-10)
        assert over[d] == pytest.approx(row["overdose"], rel=1e-10)
        assert under[d] == pytest.approx(row["futility"], rel=1e-10)


def escalation_cases() -> list[dict]:
    with open(REFERENCE / "escalation_test_boin12.csv", newline="") as f:
        return [c for c in csv.DictReader(f) if c["block"] != "app2"]


@pytest.mark.parametrize("case", escalation_cases(), ids=lambda c: c["outcomes"])
def test_complete_data_give_boin12_decisions(case: dict) -> None:
    """With every outcome known TITE-BOIN12 is BOIN12 (the escalation package's cases)."""
    n_cohorts = 10 if case["block"] == "paper" else 12
    tite = TITEBOIN12(5, 0.35, 0.25, n_cohorts=n_cohorts)
    state = EfficacyState.from_outcomes(case["outcomes"], 5)
    a, b = tite.decide(state), BOIN12(5, 0.35, 0.25, n_cohorts=n_cohorts).decide(state)
    assert (a.next_dose, a.continue_trial, a.details.get("obd")) == (
        b.next_dose,
        b.continue_trial,
        b.details.get("obd"),
    )


@pytest.mark.parametrize("n_earlystop", [12, 100])
def test_slow_accrual_simulates_exactly_boin12(n_earlystop: int) -> None:
    """When patients arrive far apart every decision has complete data: trial by trial, the
    TITE-BOIN12 simulator then selects and allocates as the BOIN12 simulator does."""
    p_tox = np.array([0.05, 0.15, 0.30, 0.45, 0.60])
    p_eff = np.array([0.10, 0.30, 0.50, 0.50, 0.50])
    latent = EfficacyLatents.draw(2000, 30, seed=3)
    boin12 = BOIN12(5, 0.35, 0.25, n_earlystop=n_earlystop).simulate(p_tox, p_eff, latent)
    tite = TITEBOIN12(
        5, 0.35, 0.25, n_earlystop=n_earlystop, arrivals=Arrivals(0.001), eff_window_days=56
    ).simulate(p_tox, p_eff, latent)
    assert np.array_equal(tite.selected, boin12.selected)
    assert np.array_equal(tite.n_per_dose, boin12.n_per_dose)
    assert np.array_equal(tite.response_per_dose, boin12.response_per_dose)


CASES = [
    TITEBOIN12(5, 0.35, 0.25, arrivals=Arrivals(3, "poisson"), eff_window_days=60),
    TITEBOIN12(5, 0.35, 0.25, n_earlystop=100, arrivals=Arrivals(6, "uniform"), eff_window_days=84),
    TITEBOIN12(4, 0.3, 0.3, utilities=Utilities(neither=30, both=65), eff_window_days=42),
]


@pytest.mark.parametrize("design", CASES, ids=["poisson", "uniform-long", "nonadditive"])
def test_vectorised_simulator_equals_the_scalar_decisions(design: TITEBOIN12) -> None:
    p_tox = np.linspace(0.05, 0.55, design.n_doses)
    p_eff = np.linspace(0.15, 0.55, design.n_doses)
    latent = EfficacyLatents.draw(80, design.max_patients, seed=4)
    out = design.simulate(p_tox, p_eff, latent)
    for i in range(latent.n_trials):
        _, decision, state = replay_tite_boin12_trial(
            design, p_tox, p_eff, latent.tox[i], latent.eff[i], latent.gap[i]
        )
        obd = decision.details.get("obd")
        assert out.selected[i] == (-1 if obd is None else obd - 1), i
        assert np.array_equal(out.n_per_dose[i], state.treated()), i


def test_pending_outcomes_shorten_the_trial() -> None:
    """The point of the design (Zhou et al. 2022, section 4): with 3 patients a month and a
    2-month efficacy window, continuous accrual ends the trial far sooner than waiting for
    every cohort."""
    p_tox, p_eff = np.full(5, 0.1), np.linspace(0.2, 0.6, 5)
    latent = EfficacyLatents.draw(2000, 30, seed=6)
    tite = TITEBOIN12(5, 0.35, 0.25, arrivals=Arrivals(3, "poisson"), eff_window_days=60)
    waiting = BOIN12(5, 0.35, 0.25, eff_window_days=60).simulate(
        p_tox, p_eff, latent, accrual=AccrualModel(3.0)
    )
    assert tite.simulate(p_tox, p_eff, latent).duration_days.mean() < (
        0.75 * waiting.duration_days.mean()
    )


def patient(dose: int, dlt: bool, resp: bool, days: float | None) -> EfficacyPatient:
    return EfficacyPatient(dose, dlt, resp, followup_days=days)


def test_accrual_is_suspended_when_more_than_half_are_pending() -> None:
    design = TITEBOIN12(5, 0.35, 0.25, window_days=28, eff_window_days=56)
    done = [patient(0, False, True, None)] * 3
    two_pending = done + [patient(1, False, False, 40.0)] + [patient(1, False, False, 5.0)] * 2
    assert design.decide(EfficacyState(5, tuple(two_pending), 1, 28, 56)).accrual_suspended
    one_pending = done + [patient(1, False, True, 40.0)] * 2 + [patient(1, False, False, 5.0)]
    decision = design.decide(EfficacyState(5, tuple(one_pending), 1, 28, 56))
    assert not decision.accrual_suspended and decision.continue_trial
    assert decision.details["ess_tox"][1] == pytest.approx(2 + 5 / 28)
    # exactly half pending is allowed (> 50 % suspends)
    half = done + [patient(1, False, True, None)] * 3 + [patient(1, False, False, 10.0)] * 3
    assert not design.decide(EfficacyState(5, tuple(half), 1, 28, 56)).accrual_suspended


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.booleans(), st.booleans(), st.floats(0.0, 100.0)), min_size=1, max_size=12
    )
)
def test_effective_sample_sizes_are_bounded(rows: list) -> None:
    """0 ≤ ESS ≤ N, completed patients count fully, imputations are probabilities ≤ p̂."""
    window = 28.0
    follow = np.array([r[2] for r in rows])
    event = np.array([r[0] for r in rows]) & (follow >= 1.0)
    pending = ~event & (follow < window)
    weight = np.minimum(follow / window, 1.0)
    dose_of = np.zeros(len(rows), dtype=np.int64)
    ess, events, p_hat, imputed = effective_endpoint(event, pending, weight, dose_of, 1)
    assert (~pending).sum() - 1e-9 <= ess[0] <= len(rows) + 1e-9
    assert 0 <= p_hat[0] <= 1
    assert np.all((imputed[pending] >= 0) & (imputed[pending] <= p_hat[0] + 1e-12))
