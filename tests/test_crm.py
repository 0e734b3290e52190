"""CRM and TITE-CRM: reference numbers, simulator/decide agreement and design properties.

Reference numbers come from (a) the ``dfcrm::crm`` documentation example (the quoted posterior
mean -0.2121715 and recommended level 2) and (b) ``tests/reference/crm/crm_reference.csv``, made
by ``make_crm_reference.R`` in base R with ``integrate`` (the same definitions, to 1e-12). The
same cases from the dfcrm package itself are ``tests/test_crm_dfcrm.py``; dfcrm and the base-R
script agree to 3e-9.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oncotrial.designs.base import Decision, DesignError, Patient, TrialState
from oncotrial.designs.crm import (
    CRM,
    TITECRM,
    crm_posterior,
    crm_skeleton,
    tite_weights,
)
from oncotrial.designs.simulation import (
    AccrualModel,
    DltTimeModel,
    LatentPatients,
    replay_trial,
)

REFERENCE = Path(__file__).parent / "reference" / "crm" / "crm_reference.csv"

# dfcrm::crm help-page example (Cheung 2011 software): skeleton, target, outcomes, 1-based levels
DFCRM_SKELETON = (0.05, 0.10, 0.20, 0.35, 0.50, 0.70)
DFCRM_LEVELS = [3, 4, 4, 3, 3, 4, 3, 2, 2, 2]
DFCRM_TOX = [0, 0, 1, 0, 0, 1, 1, 0, 0, 0]


def _load_reference() -> dict[tuple[str, str], np.ndarray]:
    rows: dict[tuple[str, str], list[tuple[int, float]]] = defaultdict(list)
    with REFERENCE.open() as fh:
        for row in csv.DictReader(fh):
            rows[(row["case"], row["quantity"])].append((int(row["index"]), float(row["value"])))
    return {key: np.array([v for _, v in sorted(vals)]) for key, vals in rows.items()}


REF = _load_reference()


def _state(levels: list[int], tox: list[int], n_doses: int = 6) -> TrialState:
    pats = tuple(Patient(int(lv), bool(t)) for lv, t in zip(levels, tox, strict=True))
    return TrialState(n_doses=n_doses, patients=pats)


# ---------------------------------------------------------------- skeleton (dfcrm::getprior) ---


@pytest.mark.parametrize(
    ("case", "args"),
    [
        # R: make_crm_reference.R, skeleton_by_roots(0.05, 0.25, 3, 5) = getprior(0.05, 0.25, 3, 5)
        ("skeleton_e_0.05_0.25_3_5", (0.25, 2, 5, 0.05, "empiric")),
        ("skeleton_e_0.04_0.20_4_6", (0.20, 3, 6, 0.04, "empiric")),
        # getprior(0.10, 0.25, 3, 6, model = "logistic"), the dfcrm help-page call
        ("skeleton_l_0.10_0.25_3_6", (0.25, 2, 6, 0.10, "logistic")),
    ],
)
def test_skeleton_matches_r_reference(case: str, args: tuple) -> None:
    target, nu, n_levels, halfwidth, model = args
    got = crm_skeleton(target, nu, n_levels, halfwidth, model=model)
    # e.g. getprior(0.05, 0.25, 3, 5) = 0.0839735 0.1567410 0.2500000 0.3545004 0.4603431
    np.testing.assert_allclose(got, REF[(case, "skeleton")], rtol=0, atol=1e-10)


@settings(max_examples=60, deadline=None)
@given(
    target=st.floats(0.1, 0.4),
    rel_half=st.floats(0.1, 0.8),
    n_levels=st.integers(2, 8),
    data=st.data(),
    model=st.sampled_from(["empiric", "logistic"]),
)
def test_skeleton_indifference_intervals(
    target: float, rel_half: float, n_levels: int, data: st.DataObject, model: str
) -> None:
    """Lee & Cheung (2009): where doses k-1 and k swap, they sit at target -/+ halfwidth."""
    halfwidth = rel_half * min(target, 0.5 - target)
    nu = data.draw(st.integers(0, n_levels - 1))
    try:
        s = crm_skeleton(target, nu, n_levels, halfwidth, model=model)
    except DesignError:
        # wide intervals over many levels underflow (skeleton values of 0 or 1)
        assert rel_half > 0.4
        return
    assert s[nu] == pytest.approx(target)
    assert np.all(np.diff(s) > 0)
    design = CRM(skeleton=tuple(s), target=target, max_patients=10, model=model)
    wm = design._wm
    for k in range(1, n_levels):
        b = wm.beta_above(target + halfwidth, k)
        p = wm.ptox(b)
        assert p[k] == pytest.approx(target + halfwidth, rel=1e-9)
        assert p[k - 1] == pytest.approx(target - halfwidth, rel=1e-9)


def test_skeleton_rejects_bad_input() -> None:
    with pytest.raises(DesignError):
        crm_skeleton(0.25, 5, 5, 0.05)
    with pytest.raises(DesignError):
        crm_skeleton(0.25, 2, 5, 0.3)


# ------------------------------------------------------------ posterior (dfcrm::crm) -----------


def test_dfcrm_documentation_example_empiric() -> None:
    """dfcrm ``crm()`` example: posterior mean -0.2121715, recommended level 2 (empiric, 1.34)."""
    post = crm_posterior(
        DFCRM_SKELETON, np.array(DFCRM_LEVELS) - 1, DFCRM_TOX, target=0.2, model="empiric"
    )
    assert post.beta == pytest.approx(-0.2121715, abs=1e-6)
    assert int(np.argmin(np.abs(post.ptox - 0.2))) + 1 == 2
    case = "dfcrm_example_empiric"
    # R reference (make_crm_reference.R): beta -0.2121715265, var 0.1575955283,
    # ptox 0.0887 0.1553 0.2721 0.4278 0.5708 0.7494, Pr(p_1 > 0.2) 0.1504200939
    assert post.beta == pytest.approx(REF[(case, "beta")][0], abs=1e-9)
    assert post.beta_var == pytest.approx(REF[(case, "beta_var")][0], abs=1e-9)
    np.testing.assert_allclose(post.ptox, REF[(case, "ptox")], atol=1e-9)
    assert post.p_lowest_above_target == pytest.approx(
        REF[(case, "p_lowest_above_target")][0], abs=1e-9
    )

    design = CRM(skeleton=DFCRM_SKELETON, target=0.2, max_patients=24)
    decision = design.decide(_state(list(np.array(DFCRM_LEVELS) - 1), DFCRM_TOX))
    assert decision.next_dose == 1 and decision.continue_trial
    assert decision.details["beta"] == pytest.approx(-0.2121715, abs=1e-6)
    assert "Dose 2" in decision.reason
    json.dumps(decision.to_json())


def test_dfcrm_documentation_example_logistic() -> None:
    """Same data, one-parameter logistic model (a0 = 3); R reference beta -0.1101116088."""
    post = crm_posterior(
        DFCRM_SKELETON, np.array(DFCRM_LEVELS) - 1, DFCRM_TOX, target=0.2, model="logistic"
    )
    case = "dfcrm_example_logistic"
    assert post.beta == pytest.approx(REF[(case, "beta")][0], abs=1e-9)
    assert post.beta_var == pytest.approx(REF[(case, "beta_var")][0], abs=1e-9)
    np.testing.assert_allclose(post.ptox, REF[(case, "ptox")], atol=1e-9)
    assert int(np.argmin(np.abs(post.ptox - 0.2))) == int(REF[(case, "best")][0]) == 1


def test_safety_stop_probability_and_decision() -> None:
    """R reference: 2 DLTs in 3 patients at dose 1 give Pr(p_1 > 0.2) = 0.9119356629."""
    post = crm_posterior(DFCRM_SKELETON, [0, 0, 0], [1, 1, 0], target=0.2)
    assert post.beta == pytest.approx(REF[("safety_2of3", "beta")][0], abs=1e-9)
    assert post.p_lowest_above_target == pytest.approx(
        REF[("safety_2of3", "p_lowest_above_target")][0], abs=1e-9
    )
    design = CRM(
        skeleton=DFCRM_SKELETON, target=0.2, max_patients=24, cohort_size=3, safety_stop=0.9
    )
    decision = design.decide(_state([0, 0, 0], [1, 1, 0]))
    assert decision.next_dose is None and not decision.continue_trial
    assert decision.eliminated == tuple(range(6)) and decision.mtd is None
    assert design.select_mtd(_state([0, 0, 0], [1, 1, 0])) is None
    relaxed = CRM(
        skeleton=DFCRM_SKELETON, target=0.2, max_patients=24, cohort_size=3, safety_stop=0.95
    )
    assert relaxed.decide(_state([0, 0, 0], [1, 1, 0])).next_dose == 0


def test_tite_weights_and_posterior() -> None:
    """Linear and adaptive weights (Cheung & Chappell 2000) and the weighted posterior, vs R."""
    levels = np.array([1, 2, 2, 3, 3, 3, 3, 2]) - 1
    tox = np.array([0, 0, 1, 0, 0, 1, 0, 0], dtype=bool)
    followup = np.array([28, 28, 10, 28, 24, 21, 14, 3], dtype=float)
    for scheme in ("linear", "adaptive"):
        w = tite_weights(followup, tox, followup, 28.0, scheme)
        # adaptive: (0.8095238, 0.4545455, 0.1) for the pending patients 5, 7, 8
        np.testing.assert_allclose(w, REF[("tite", f"weights_{scheme}")], atol=1e-12)
        post = crm_posterior(DFCRM_SKELETON, levels, tox, w, target=0.2)
        assert post.beta == pytest.approx(REF[(f"tite_{scheme}", "beta")][0], abs=1e-9)
        np.testing.assert_allclose(post.ptox, REF[(f"tite_{scheme}", "ptox")], atol=1e-9)

        design = TITECRM(skeleton=DFCRM_SKELETON, target=0.2, max_patients=20, scheme=scheme)
        pats = tuple(
            Patient(int(lv), bool(t), float(f) if t else None, float(f))
            for lv, t, f in zip(levels, tox, followup, strict=True)
        )
        decision = design.decide(TrialState(6, pats, window_days=28.0))
        assert decision.details["beta"] == pytest.approx(post.beta, abs=1e-12)
        np.testing.assert_allclose(decision.details["weights"], w, atol=1e-12)


# ------------------------------------------------------- patient-by-patient traces (R) ---------


def play_cohorts(
    design: CRM, u: np.ndarray, truth: tuple[float, ...], cohort: int, start: int
) -> tuple[list[int], list[int], list[float], list[int], Decision]:
    """A trial on given latent uniforms, decided after every cohort (the loop of the R
    reference scripts): the dose of each patient, the DLTs, the posterior mean after each
    cohort, the next doses and the last decision."""
    levels: list[int] = []
    tox: list[int] = []
    betas: list[float] = []
    nexts: list[int] = []
    dose = start
    for j in range(u.size):
        levels.append(dose)
        tox.append(int(u[j] < truth[dose]))
        if (j + 1) % cohort == 0:
            decision = design.decide(_state(levels, tox))
            betas.append(decision.details["beta"])
            if decision.continue_trial:
                dose = decision.next_dose
                nexts.append(dose)
    return levels, tox, betas, nexts, decision


@pytest.mark.parametrize(
    ("case", "skeleton", "target", "truth", "cohort", "start", "model"),
    [
        (
            "trace_m1_empiric",
            DFCRM_SKELETON,
            0.2,
            (0.06, 0.12, 0.22, 0.33, 0.50, 0.65),
            1,
            2,
            "empiric",
        ),
        ("trace_m3_empiric", None, 0.25, (0.08, 0.15, 0.30, 0.45, 0.60, 0.75), 3, 0, "empiric"),
        ("trace_m3_logistic", None, 0.25, (0.08, 0.15, 0.30, 0.45, 0.60, 0.75), 3, 0, "logistic"),
    ],
)
def test_trace_matches_r(
    case: str,
    skeleton: tuple[float, ...] | None,
    target: float,
    truth: tuple[float, ...],
    cohort: int,
    start: int,
    model: str,
) -> None:
    """Replays the R trial (same latent uniforms) through decide(), cohort by cohort."""
    if skeleton is None:
        skeleton = tuple(crm_skeleton(0.25, 2, 6, 0.05))
    u = REF[(case, "u")]
    n = u.size
    design = CRM(
        skeleton=skeleton,
        target=target,
        max_patients=n,
        cohort_size=cohort,
        start=start,
        model=model,
    )
    levels, tox, betas, nexts, decision = play_cohorts(design, u, truth, cohort, start)
    np.testing.assert_array_equal(levels, REF[(case, "levels")])
    np.testing.assert_array_equal(tox, REF[(case, "dlt")])
    np.testing.assert_array_equal(nexts, REF[(case, "next")])
    np.testing.assert_allclose(betas, REF[(case, "beta")], atol=1e-8)
    assert decision.mtd == int(REF[(case, "best")][-1])

    # the vectorised simulator on the same uniforms follows the same path
    latent = LatentPatients(tox=u[None, :], time=np.full((1, n), 0.5), gap=np.full((1, n), 0.5))
    outcomes, doses = design.simulate_paths(np.array(truth), latent)
    np.testing.assert_array_equal(doses[0], REF[(case, "levels")])
    assert outcomes.selected[0] == decision.mtd


# ---------------------------------------------------------- grid path vs quad path -------------


@pytest.mark.parametrize("model", ["empiric", "logistic"])
def test_grid_posterior_agrees_with_quad(model: str) -> None:
    """The simulators' Gauss-Legendre grid reproduces the quad posterior (to ~1e-10)."""
    rng = np.random.default_rng(7)
    design = CRM(skeleton=DFCRM_SKELETON, target=0.2, max_patients=60, model=model)
    grid = design._grid
    n_tox, n_non, expected = [], [], []
    for size in [1, 3, 6, 12, 24, 24, 36, 60]:
        for _ in range(3):
            levels = rng.integers(0, 6, size)
            tox = rng.random(size) < rng.uniform(0.05, 0.6)
            post = crm_posterior(DFCRM_SKELETON, levels, tox, target=0.2, model=model)
            expected.append((post.beta, post.beta_var, post.p_lowest_above_target))
            n_tox.append(np.bincount(levels[tox], minlength=6))
            n_non.append(np.bincount(levels[~tox], minlength=6))
    # extreme data: every patient toxic at dose 1, none toxic at the top dose
    for levels, tox in [
        (np.zeros(24, int), np.ones(24, bool)),
        (np.full(24, 5), np.zeros(24, bool)),
    ]:
        post = crm_posterior(DFCRM_SKELETON, levels, tox, target=0.2, model=model)
        expected.append((post.beta, post.beta_var, post.p_lowest_above_target))
        n_tox.append(np.bincount(levels[tox], minlength=6))
        n_non.append(np.bincount(levels[~tox], minlength=6))
    mean, var, tail = grid.counts_posterior(np.array(n_tox), np.array(n_non))
    np.testing.assert_allclose(np.stack([mean, var, tail], axis=1), expected, atol=1e-8)


# ------------------------------------------------- vectorised simulator vs scalar decide -------


@pytest.mark.parametrize(
    ("truth", "cohort", "model"),
    [
        ((0.05, 0.10, 0.20, 0.35, 0.50, 0.70), 3, "empiric"),
        ((0.30, 0.45, 0.55, 0.65, 0.75, 0.85), 3, "empiric"),
        ((0.02, 0.05, 0.08, 0.12, 0.25, 0.40), 2, "logistic"),
    ],
)
def test_crm_simulator_matches_decide(truth: tuple[float, ...], cohort: int, model: str) -> None:
    """Simulate 300 trials, replay a sample through decide(): same doses and MTDs exactly."""
    design = CRM(
        skeleton=tuple(crm_skeleton(0.2, 2, 6, 0.05, model=model)),
        target=0.2,
        max_patients=24,
        cohort_size=cohort,
        safety_stop=0.9,
        model=model,
    )
    p = np.array(truth)
    latent = LatentPatients.draw(300, 24, seed=11)
    outcomes, doses = design.simulate_paths(p, latent)
    assert np.all(np.diff(np.where(doses >= 0, doses, 0), axis=1)[doses[:, 1:] >= 0] <= 1)
    assert outcomes.n_per_dose.sum(axis=1).max() == 24
    sample = np.random.default_rng(0).choice(300, 10, replace=False)
    stopped = np.flatnonzero(outcomes.stopped_early)
    sample = np.unique(np.concatenate([sample, stopped[:3]]))
    for i in sample:
        # the shared scalar reference loop: decide() after every complete cohort
        cohort_doses, mtd, state = replay_trial(design, p, latent.tox[i], cohort)
        path = doses[i, ::cohort]
        np.testing.assert_array_equal(cohort_doses, path[path >= 0])
        assert (-1 if mtd is None else mtd) == outcomes.selected[i]
        assert outcomes.stopped_early[i] == (len(state.patients) < 24)
        np.testing.assert_array_equal(state.enrolled_counts(), outcomes.n_per_dose[i])


def _replay_tite(
    design: TITECRM,
    truth: np.ndarray,
    latent: LatentPatients,
    i: int,
    accrual: AccrualModel,
    dlt_time: DltTimeModel,
) -> tuple[list[int], int]:
    n = design.max_patients
    window = dlt_time.window_days
    entry = np.cumsum(accrual.gaps(latent.gap[i, :n]))
    days = dlt_time.days(latent.time[i, :n])
    levels: list[int] = []
    for j in range(n):
        dose = design.start
        if j:
            now = entry[j]
            pats = []
            for k, level in enumerate(levels):
                seen = bool(latent.tox[i, k] < truth[level]) and entry[k] + days[k] <= now
                pats.append(Patient(level, seen, days[k] if seen else None, now - entry[k]))
            decision = design.decide(TrialState(6, tuple(pats), window_days=window))
            if not decision.continue_trial:
                return levels, -1
            dose = decision.next_dose
        levels.append(dose)
    final = tuple(
        Patient(level, bool(latent.tox[i, k] < truth[level]), days[k], None)
        for k, level in enumerate(levels)
    )
    decision = design.decide(TrialState(6, final, window_days=window))
    return levels, -1 if decision.mtd is None else decision.mtd


@pytest.mark.parametrize("scheme", ["linear", "adaptive"])
def test_tite_simulator_matches_decide(scheme: str) -> None:
    """TITE-CRM: simulated arrivals replayed patient by patient through decide()."""
    design = TITECRM(
        skeleton=tuple(crm_skeleton(0.25, 2, 6, 0.05)),
        target=0.25,
        max_patients=18,
        safety_stop=0.9,
        scheme=scheme,
    )
    truth = np.array([0.15, 0.25, 0.35, 0.50, 0.60, 0.70])
    accrual, dlt_time = AccrualModel(6.0), DltTimeModel.with_late_fraction(0.7)
    latent = LatentPatients.draw(200, 18, seed=5)
    outcomes, doses = design.simulate_paths(truth, latent, accrual, dlt_time)
    assert np.all(outcomes.duration_days > 0)
    sample = np.random.default_rng(1).choice(200, 5, replace=False)
    stopped = np.flatnonzero(outcomes.stopped_early)
    assert stopped.size  # the safety stop fires in some trials of this scenario
    for i in np.unique(np.concatenate([sample, stopped[:1]])):
        levels, mtd = _replay_tite(design, truth, latent, i, accrual, dlt_time)
        np.testing.assert_array_equal(levels, doses[i, : len(levels)])
        assert mtd == outcomes.selected[i]


def test_tite_is_faster_than_cohort_crm() -> None:
    """With a 28-day window, the TITE-CRM finishes sooner than the CRM waiting for each cohort."""
    skeleton = tuple(crm_skeleton(0.25, 2, 6, 0.05))
    truth = np.array([0.05, 0.12, 0.25, 0.40, 0.55, 0.70])
    latent = LatentPatients.draw(400, 24, seed=3)
    tite = TITECRM(skeleton=skeleton, target=0.25, max_patients=24).simulate(truth, latent)
    crm = CRM(skeleton=skeleton, target=0.25, max_patients=24, cohort_size=3)
    cohort = crm.simulate(truth, latent)
    assert tite.summary().mean_duration_days < cohort.summary().mean_duration_days
    assert cohort.summary().selected_pct[2] > 40.0 and tite.summary().selected_pct[2] > 40.0


# ------------------------------------------------------------------- design rules -----------


def test_restrictions_are_explained() -> None:
    design = CRM(skeleton=DFCRM_SKELETON, target=0.2, max_patients=24, cohort_size=3)
    skip = design.decide(_state([0, 0, 0], [0, 0, 0]))
    assert skip.next_dose == 1 and "skip" in skip.reason
    # 0/12 then 1/3 at dose 2: dose 3 is closest, but the last cohort's rate 1/3 >= 0.2
    coherent = design.decide(_state([1] * 15, [0] * 12 + [1, 0, 0]))
    assert coherent.next_dose == 1 and "DLT rate 0.33" in coherent.reason
    assert coherent.details["ptox"][2] == pytest.approx(0.154, abs=1e-3)
    mid = design.decide(_state([0, 0, 0, 1], [0, 0, 0, 0]))
    assert mid.next_dose == 1 and "joins" in mid.reason
    pending = TrialState(6, (Patient(0, False), Patient(0, False, None, 10.0), Patient(0, False)))
    wait = design.decide(pending)
    assert wait.accrual_suspended and wait.next_dose == 0
    assert design.decide(TrialState(6)).next_dose == 0


def test_tite_coherence_after_new_dlt() -> None:
    """dfcrm::titesim restrict: no escalation right after a toxic outcome."""
    design = TITECRM(skeleton=DFCRM_SKELETON, target=0.2, max_patients=24)
    earlier = [Patient(1, False, None, 100.0 - 5 * k) for k in range(8)]
    latest = Patient(1, False, None, 30.0)
    # a DLT on day 20 of a patient dosed 60 days ago was seen 40 days ago, before the latest
    # enrolment (30 days ago): dose 3 is closest to the target and escalation is allowed
    old_dlt = Patient(1, True, 20.0, 60.0)
    free = design.decide(TrialState(6, (old_dlt, *earlier, latest), window_days=28.0))
    assert free.next_dose == 2
    # the same DLT seen 28 days ago (after the latest enrolment) blocks the escalation
    new_dlt = Patient(1, True, 20.0, 48.0)
    blocked = design.decide(TrialState(6, (new_dlt, *earlier, latest), window_days=28.0))
    assert blocked.next_dose == 1 and "DLT was observed" in blocked.reason
    assert blocked.details["ptox"] == free.details["ptox"]


def test_design_validation() -> None:
    with pytest.raises(DesignError):
        CRM(skeleton=(0.2, 0.1), target=0.2, max_patients=10)
    with pytest.raises(DesignError):
        CRM(skeleton=(0.1, 0.2, 0.97), target=0.2, max_patients=10, model="logistic")
    with pytest.raises(DesignError):
        CRM(skeleton=DFCRM_SKELETON, target=0.2, max_patients=10).decide(TrialState(5))
    with pytest.raises(DesignError):
        TITECRM(skeleton=DFCRM_SKELETON, target=0.2, max_patients=10, scheme="cubic")  # type: ignore[arg-type]


# ------------------------------------------------------------------- properties -------------

counts = st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=6, max_size=6).map(
    lambda pairs: [(n, min(y, n)) for n, y in pairs]
)


def _as_rank(dose: int | None) -> int:
    return -1 if dose is None else dose


@settings(max_examples=40, deadline=None)
@given(data=counts, current=st.integers(0, 5), pick=st.integers(0, 5))
def test_more_dlts_never_raise_the_next_dose(
    data: list[tuple[int, int]], current: int, pick: int
) -> None:
    """Turning one non-DLT into a DLT at any dose never gives a higher next dose."""
    n = [a for a, _ in data]
    y = [b for _, b in data]
    candidates = [d for d in range(6) if y[d] < n[d]]
    if not candidates:
        return
    d = candidates[pick % len(candidates)]
    design = CRM(skeleton=DFCRM_SKELETON, target=0.2, max_patients=100, safety_stop=0.9)
    before = design.decide(TrialState.from_counts(n, y, current=current))
    y_more = list(y)
    y_more[d] += 1
    after = design.decide(TrialState.from_counts(n, y_more, current=current))
    assert _as_rank(after.next_dose) <= _as_rank(before.next_dose)
    assert after.details["beta"] < before.details["beta"]


@settings(max_examples=40, deadline=None)
@given(data=counts, current=st.integers(0, 5), safety=st.sampled_from([None, 0.6, 0.9]))
def test_no_skipping_and_eliminated_doses_never_given(
    data: list[tuple[int, int]], current: int, safety: float | None
) -> None:
    n = [a for a, _ in data]
    y = [b for _, b in data]
    design = CRM(skeleton=DFCRM_SKELETON, target=0.2, max_patients=100, safety_stop=safety)
    decision = design.decide(TrialState.from_counts(n, y, current=current))
    if decision.next_dose is not None:
        assert decision.next_dose <= current + 1
        assert all(decision.next_dose < e for e in decision.eliminated)
    else:
        assert decision.eliminated and decision.mtd is None
    final = CRM(skeleton=DFCRM_SKELETON, target=0.2, max_patients=1, safety_stop=safety)
    end = final.decide(TrialState.from_counts(n, y, current=current))
    if sum(n):
        assert end.next_dose is None and not end.continue_trial
        assert end.mtd is None or end.mtd not in end.eliminated


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), level=st.integers(0, 5))
def test_simulated_paths_never_skip(seed: int, level: int) -> None:
    """In every simulated trial, CRM and TITE-CRM escalate by at most one level at a time."""
    skeleton = tuple(crm_skeleton(0.25, 2, 6, 0.05))
    truth = np.clip(np.array(skeleton) * (0.5 + level / 4), 0, 1)
    latent = LatentPatients.draw(100, 12, seed=seed)
    for design in (
        CRM(skeleton=skeleton, target=0.25, max_patients=12, cohort_size=2, safety_stop=0.8),
        TITECRM(skeleton=skeleton, target=0.25, max_patients=12, safety_stop=0.8),
    ):
        outcomes, doses = design.simulate_paths(truth, latent)
        steps = np.diff(doses, axis=1)[doses[:, 1:] >= 0]
        assert np.all(steps <= 1)
        assert np.all(outcomes.selected[outcomes.stopped_early] == -1)
