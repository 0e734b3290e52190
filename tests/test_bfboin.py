"""BF-BOIN checked against the authors' R package (bfboin 0.1.1 ``get.oc.bf``, operating
characteristics of six scenarios in tests/reference/bfboin/), by hand on small cases, against
its own scalar path on the same arrivals, and by properties of its rules."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oncotrial.designs.bfboin import BFBOIN, BfBoinError, backfill_open, escalation_decision
from oncotrial.designs.bfboin_simulation import replay_bfboin_trial
from oncotrial.designs.efficacy import (
    Arrivals,
    EfficacyDesignError,
    EfficacyLatents,
    EfficacyPatient,
    EfficacyState,
    weibull_event_days,
)

REFERENCE = Path(__file__).parent / "reference" / "bfboin" / "get_oc_bf_reference.csv"

# The scenarios of make_get_oc_bf_reference.R (target 0.25, 10 cohorts of 3; months of 30
# days; bfboin's n.cap = c is our backfill_cap = c + 1, see the bfboin module docstring)
SCENARIOS = {
    "S1": ([0.05, 0.10, 0.25, 0.40, 0.50], [0.2, 0.3, 0.4, 0.5, 0.5], "uniform", 3, 1, 9, 0,
           False, 12),
    "S2": ([0.05, 0.10, 0.25, 0.40, 0.50], [0.2, 0.3, 0.4, 0.5, 0.5], "poisson", 3, 1, 9, 0,
           False, 12),
    "S3": ([0.10, 0.25, 0.45, 0.60], [0.05, 0.05, 0.30, 0.30], "uniform", 1, 1, 100, 1,
           False, 12),
    "S4": ([0.30, 0.45, 0.60], [0.4, 0.4, 0.4], "poisson", 2, 1, 12, 0, True, 9),
    "S5": ([0.02, 0.04, 0.06, 0.08, 0.10], [0.6] * 5, "uniform", 6, 2, 100, 0, False, 12),
    "S6": ([0.08, 0.15, 0.22, 0.35, 0.50], [0.3] * 5, "poisson", 5, 1.5, 100, 0, False, 12),
}  # fmt: skip


def design_for(name: str) -> tuple[BFBOIN, np.ndarray, np.ndarray]:
    p, q, accrual, rate, months, earlystop, start, extrasafe, cap = SCENARIOS[name]
    design = BFBOIN(
        n_doses=len(p),
        target=0.25,
        start=start,
        extrasafe=extrasafe,
        n_earlystop=earlystop,
        backfill_cap=cap,
        window_days=30 * months,
        arrivals=Arrivals(rate, accrual),
    )
    return design, np.array(p), np.array(q)


def reference() -> dict[str, dict[str, dict[int, float]]]:
    out: dict[str, dict[str, dict[int, float]]] = {}
    with open(REFERENCE, newline="") as f:
        for row in csv.DictReader(f):
            metric = out.setdefault(row["scenario"], {}).setdefault(row["metric"], {})
            metric[int(row["dose"])] = float(row["value"])
    return out


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_operating_characteristics_match_get_oc_bf(name: str) -> None:
    """bfboin::get.oc.bf, 4,000 trials per scenario (seed 2024): selection %, patients and
    DLTs per dose, % with no dose selected, mean sample size and mean duration (months) agree
    within 4 standard errors of the difference (variances estimated from our 20,000 trials)."""
    design, p, q = design_for(name)
    ref = reference()[name]
    out = design.simulate(p, q, EfficacyLatents.draw(20_000, design.latent_width(), seed=21))
    n_ref = ref["trials"][0]

    def close(values: np.ndarray, expected: float) -> None:
        se = np.sqrt(values.var() * (1 / out.n_trials + 1 / n_ref))
        assert abs(values.mean() - expected) <= 4 * se + 1e-9, (values.mean(), expected)

    for dose in range(len(p)):
        close(100.0 * (out.selected == dose), ref["selected_pct"][dose + 1])
        close(out.n_per_dose[:, dose].astype(float), ref["mean_patients"][dose + 1])
        close(out.dlt_per_dose[:, dose].astype(float), ref["mean_dlts"][dose + 1])
    close(100.0 * (out.selected == -1), ref["no_selection_pct"][0])
    close(out.n_per_dose.sum(axis=1).astype(float), ref["mean_n"][0])
    close(out.duration_days / 30.0, ref["mean_duration_months"][0])
    assert out.summary().mean_duration_months == pytest.approx(out.duration_days.mean() / 30)


@pytest.mark.parametrize("name", ["S1", "S3", "S4", "S5", "S6"])
def test_vectorised_simulator_equals_the_scalar_decisions(name: str) -> None:
    """Trial by trial, the simulator gives what BFBOIN.decide gives arrival by arrival."""
    design, p, q = design_for(name)
    latent = EfficacyLatents.draw(60, design.latent_width(), seed=8)
    out = design.simulate(p, q, latent)
    for i in range(latent.n_trials):
        trial = replay_bfboin_trial(design, p, q, latent.tox[i], latent.eff[i], latent.gap[i])
        assert np.array_equal(trial["n"], out.n_per_dose[i]), i
        assert np.array_equal(trial["y"], out.dlt_per_dose[i]), i
        assert np.array_equal(trial["backfill"], out.backfill_per_dose[i]), i
        assert trial["duration_days"] == pytest.approx(out.duration_days[i])
        stopped = "no dose is selected" in trial["decision"].reason
        mtd = -1 if stopped else int(design.mtd_from_counts(trial["n"][None], trial["y"][None])[0])
        assert mtd == out.selected[i], i


def test_weibull_puts_half_the_dlt_probability_in_the_first_half() -> None:
    """get.oc.bf: F(window) = p and F(window / 2) = p / 2; by inversion u = p/2 is day W/2."""
    p = np.array([0.05, 0.3, 0.6])
    assert np.allclose(weibull_event_days(p / 2, p, 28.0), 14.0)
    assert np.allclose(weibull_event_days(p, p, 28.0), 28.0)
    days = weibull_event_days(np.random.default_rng(1).uniform(0, 0.3, 100_000), 0.3, 28.0)
    assert np.mean(days <= 14.0) == pytest.approx(0.5, abs=0.01)


def test_arrivals_follow_the_accrual_model() -> None:
    u = np.random.default_rng(2).uniform(size=(20_000, 50))
    for kind in ("uniform", "poisson"):
        times = Arrivals(3.0, kind).times_days(u.copy())
        assert np.all(times[:, 0] == 0) and np.all(np.diff(times, axis=1) >= 0)
        assert np.diff(times, axis=1).mean() == pytest.approx(10.0, rel=0.01)
    assert Arrivals(3.0, "uniform").times_days(u.copy()).max() <= 49 * 20.0


def tables():
    return BFBOIN(n_doses=4, target=0.25).tables()


def open_doses(**changes: object) -> list[bool]:
    """backfill_open for escalation at dose 3 with doses 1 and 2 (3 patients, no DLT) having
    responded, with ``changes`` applied."""
    args: dict = dict(
        dose=2,
        responded=np.array([True, True, False, False]),
        n_done=np.array([3, 3, 0, 0]),
        y_done=np.array([0, 0, 0, 0]),
        n_next_to_dose=0,
        y_next_to_dose=0,
        enrolled=np.array([3, 3, 3, 0]),
        cap=12,
        deescalate=tables().deescalate,
        out=np.zeros(4, dtype=bool),
    )
    args.update(changes)
    return backfill_open(*args.values()).tolist()


def test_backfill_goes_to_the_highest_safe_dose_with_a_response() -> None:
    assert open_doses() == [True, True, False, False]
    # dose 2 at the cap: only dose 1
    assert open_doses(enrolled=np.array([3, 12, 3, 0])) == [True, False, False, False]
    # no response at dose 2: only dose 1
    assert open_doses(responded=np.array([True, False, False, False])) == [
        True,
        False,
        False,
        False,
    ]
    # dose 1 unsafe (2/3 ≥ λd alone and pooled with dose 2's 0/3 → 2/6 ≥ 2): dose 2 closes too
    assert not any(open_doses(y_done=np.array([2, 0, 0, 0])))
    # dose 2 alone 1/3 (≥ λd) but pooled with dose 3's 0/3 → 1/6 < 2: safe
    pooled = open_doses(y_done=np.array([0, 1, 0, 0]), n_next_to_dose=3)
    assert pooled == [True, True, False, False]


def decide_counts(dose: int, n: list[int], y: list[int], low: int = 4) -> tuple:
    t = tables()
    return escalation_decision(
        dose,
        np.array(n),
        np.array(y),
        n[0],
        y[0],
        low,
        t.codes,
        t.escalate,
        t.deescalate,
        t.eliminate,
        t.stop,
        t.stop_any,
        False,
        100,
    )


def test_escalation_decisions_by_hand() -> None:
    """BOIN boundaries for target 0.25 (BOIN::get.boundary): n = 3: E ≤ 0, D ≥ 1, DU ≥ 3;
    n = 9: E ≤ 1, D ≥ 3, DU ≥ 5; n = 12: E ≤ 2, D ≥ 4, DU ≥ 6."""
    # plain BOIN moves when the lower doses agree
    assert decide_counts(1, [3, 3, 0, 0], [0, 0, 0, 0]) == (2, 4, False, False)
    assert decide_counts(1, [3, 3, 0, 0], [0, 1, 0, 0]) == (0, 4, False, False)
    assert decide_counts(1, [3, 3, 0, 0], [0, 3, 0, 0]) == (0, 1, False, False)
    # dose 3 says escalate (0/3) but backfilled dose 2 says de-escalate (3/9): pooled 3/12 is
    # between the boundaries, so stay at dose 3
    assert decide_counts(2, [3, 9, 3, 0], [0, 3, 0, 0]) == (2, 4, False, False)
    # dose 3 1/3 and dose 2 4/9 both de-escalate: pooled 5/12 ≥ 4; no dose is safe pooled
    # from dose 2 (4/9 ≥ 3, 5/12 ≥ 4): go below dose 2
    assert decide_counts(2, [3, 9, 3, 0], [0, 4, 1, 0]) == (0, 4, False, False)
    # the lowest dose eliminated (3/3): stop
    assert decide_counts(0, [3, 0, 0, 0], [3, 0, 0, 0])[2]


def test_decide_assigns_arriving_patients() -> None:
    design = BFBOIN(n_doses=3, target=0.25, window_days=28)
    # cohort at dose 2 complete with 0/3: escalate to dose 3
    complete = EfficacyState.from_outcomes("1NEN 2NNN", 3)
    decision = design.decide(complete)
    assert decision.next_dose == 2 and decision.details["role"] == "escalation"
    # first patient of the new cohort enrolled: the next joins the cohort
    one = EfficacyState(3, complete.patients + (EfficacyPatient(2, False, False, 5.0),))
    assert design.decide(one).details["role"] == "escalation"
    # cohort full and followed: backfill to dose 1 (response seen; dose 2 has none)
    full = EfficacyState(3, one.patients + (EfficacyPatient(2, False, False, 3.0),) * 2)
    decision = design.decide(full)
    assert decision.details["role"] == "backfill" and decision.next_dose == 0
    # nothing open (no response anywhere): accrual waits
    quiet = EfficacyState.from_outcomes("1NNN 2NNN", 3)
    waiting = EfficacyState(3, quiet.patients + (EfficacyPatient(2, False, False, 3.0, False),) * 3)
    assert design.decide(waiting).accrual_suspended


def test_bad_input_is_refused() -> None:
    with pytest.raises(EfficacyDesignError, match="'uniform' or 'poisson'"):
        Arrivals(3, "weekly")
    with pytest.raises(EfficacyDesignError, match="positive"):
        Arrivals(0)
    with pytest.raises(BfBoinError, match="at least 3"):
        BFBOIN(n_doses=3, target=0.25, cohort_size=2)
    with pytest.raises(BfBoinError, match="cap"):
        BFBOIN(n_doses=3, target=0.25, backfill_cap=0)
    with pytest.raises(BfBoinError, match="the design 3"):
        BFBOIN(n_doses=3, target=0.25).decide(EfficacyState.from_outcomes("1NNN", 4))


# --- properties -----------------------------------------------------------------------------


@st.composite
def trial_states(draw: st.DrawFn) -> tuple[EfficacyState, int]:
    """Escalation cohorts on a path of adjacent doses, backfilled patients below the current
    dose, a last cohort partly followed."""
    n_doses = 4
    path = [0]
    for _ in range(draw(st.integers(0, 5))):
        path.append(min(max(path[-1] + draw(st.sampled_from([-1, 0, 1])), 0), n_doses - 1))
    patients: list[EfficacyPatient] = []
    for level in path:
        for _ in range(3):
            patients.append(EfficacyPatient(level, draw(st.booleans()), draw(st.booleans())))
    current = path[-1]
    for _ in range(draw(st.integers(0, 10))):
        if current == 0:
            break
        level = draw(st.integers(0, current - 1))
        dlt = draw(st.booleans())
        patients.append(
            EfficacyPatient(level, dlt, draw(st.booleans()), draw(st.floats(1, 40)), True)
        )
    if draw(st.booleans()):  # the first patient of the last cohort still in the DLT window
        patients[3 * len(path) - 3] = EfficacyPatient(current, False, False, 2.0)
    return EfficacyState(n_doses, tuple(patients), tox_window_days=28.0), current


DESIGN = BFBOIN(n_doses=4, target=0.25, backfill_cap=8, n_cohorts=20, window_days=28.0)


@settings(max_examples=300, deadline=None)
@given(trial_states())
def test_backfill_stays_below_the_escalation_dose_and_under_the_cap(case: tuple) -> None:
    state, current = case
    decision = DESIGN.decide(state)
    if decision.continue_trial and decision.details["role"] == "backfill":
        assert decision.next_dose < state.current_dose
        assert state.treated()[decision.next_dose] < DESIGN.backfill_cap
        assert any(p.response for p in state.patients if p.level == decision.next_dose)


@settings(max_examples=300, deadline=None)
@given(trial_states())
def test_eliminated_doses_are_never_given(case: tuple) -> None:
    state, _ = case
    decision = DESIGN.decide(state)
    if decision.continue_trial:
        assert decision.next_dose not in decision.eliminated


@settings(max_examples=300, deadline=None)
@given(trial_states(), st.integers(0, 2))
def test_a_dlt_at_the_escalation_dose_never_raises_the_next_dose(case: tuple, which: int) -> None:
    """One more DLT among the current cohort's patients never moves the next escalation cohort
    higher (and never turns a stop into going on)."""
    state, current = case
    escalation = [i for i, p in enumerate(state.patients) if not p.backfill]
    index = escalation[-3 + which]
    patient = state.patients[index]
    if patient.dlt or patient.followup_days is not None:
        return
    worse = list(state.patients)
    worse[index] = EfficacyPatient(patient.level, True, patient.response)
    before = DESIGN.decide(state)
    after = DESIGN.decide(EfficacyState(4, tuple(worse), tox_window_days=28.0))
    if before.details.get("role") != "escalation" or after.details.get("role") != "escalation":
        return
    if not before.continue_trial:
        assert not after.continue_trial
    elif after.continue_trial:
        assert after.next_dose <= before.next_dose
