"""Stopping behaviours that wrap a design (issue 10, section 1).

Semantics checked against the R package escalation's own tests (brockk/escalation,
tests/testthat/test_stop_at_n.R and test_stop_when_n_at_dose.R: dfcrm CRM, skeleton
0.05, 0.1, 0.25, 0.4, 0.6, target 0.25, unrestricted); the vectorised simulators are checked
trial by trial against the wrapped design's scalar ``decide`` on the same latent patients; the
combinators by properties (hypothesis)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from oncotrial.cli.main import app
from oncotrial.designs.base import DesignError, TrialState
from oncotrial.designs.behaviours import (
    backfill,
    describe,
    dont_skip,
    extra_safe,
    select_boin_mtd,
    stop_at_n,
    stop_when_n_at_dose,
)
from oncotrial.designs.blrm import BLRM
from oncotrial.designs.boin import BOIN, boin_select_mtd
from oncotrial.designs.boin12 import BOIN12
from oncotrial.designs.crm import CRM
from oncotrial.designs.interval import MTPI2, I3Plus3, Keyboard
from oncotrial.designs.outcomes import parse_outcomes
from oncotrial.designs.simulation import LatentPatients, replay_trial
from oncotrial.designs.stopping import (
    AllOf,
    AnyOf,
    LowestDoseTooToxic,
    StopAtN,
    StopWhenNAtDose,
    TrialView,
)
from oncotrial.designs.threeplusthree import ThreePlusThree
from oncotrial.sim.operating import Scenario, operating_characteristics

SKELETON = (0.05, 0.1, 0.25, 0.4, 0.6)


def dfcrm(**kw: object) -> CRM:
    """escalation's ``get_dfcrm(skeleton, target = 0.25)``: no restriction on skipping."""
    return CRM(skeleton=SKELETON, target=0.25, max_patients=60, restrict=False, **kw)  # type: ignore[arg-type]


def fit(design: object, outcomes: str):
    state = TrialState(5, parse_outcomes(outcomes, 5))
    return design.decide(state), state  # type: ignore[attr-defined]


def test_stop_at_n_as_escalation() -> None:
    design = stop_at_n(dfcrm(), 15)
    go, state = fit(design, "1NNN 2NTN 2TNN 2NNN")
    assert go.continue_trial and go.next_dose == design.parent.select_mtd(state) == 1
    stop, state = fit(design, "1NNN 2NTN 2TNN 2NNN 2NTT")
    assert not stop.continue_trial and stop.mtd == design.parent.select_mtd(state) == 1
    assert stop.details["stop_reason"] == "15 patients treated"
    # stop_at_n(12) on 12 patients: stop, recommending dose 5
    stop, _ = fit(stop_at_n(dfcrm(), 12), "1NNN 2NNN 2NNN 3NNN")
    assert not stop.continue_trial and stop.mtd == 4


def test_stop_when_n_at_dose_as_escalation() -> None:
    anywhere = stop_when_n_at_dose(dfcrm(), 12, "any")
    assert fit(anywhere, "1NNN 2NTN 2TNN 2NNN")[0].continue_trial
    stop, state = fit(anywhere, "1NNN 2NTN 2TNN 2NNN 2NTT")
    assert not stop.continue_trial and stop.mtd == dfcrm().select_mtd(state)
    recommended = stop_when_n_at_dose(dfcrm(), 9)
    assert fit(recommended, "1NNN 2NTN 2TNN")[0].continue_trial
    stop, _ = fit(recommended, "1NNN 2NTN 2TNN 2NNN")
    assert not stop.continue_trial and stop.mtd == 1
    assert stop.details["stop_reason"] == "9 patients at the recommended dose"


def test_dont_skip_as_escalation() -> None:
    """escalation's test_dont_skip_doses.R: get_dfcrm(skeleton, 0.25) fit to '1NNN' advocates
    dose 4, with dont_skip_doses() dose 2; with stop_when_n_at_dose(n = 3, dose = "any") after
    it, '1NNN 2NNT' stops recommending dose 2."""
    assert fit(dfcrm(), "1NNN")[0].next_dose == 3
    go = fit(dont_skip(dfcrm()), "1NNN")[0]
    assert go.continue_trial and go.next_dose == 1
    stop = fit(stop_when_n_at_dose(dont_skip(dfcrm()), 3, "any"), "1NNN 2NNT")[0]
    assert not stop.continue_trial and stop.mtd == 1
    wrapped = dont_skip(stop_at_n(dfcrm(), 12))
    assert wrapped.rule == StopAtN(12) and wrapped.parent.no_skipping
    assert "no level skipped" in describe(wrapped)
    boin = BOIN(n_doses=5, target=0.3)
    assert dont_skip(boin) is boin
    blrm = dont_skip(BLRM(doses=(100, 200, 400, 600), reference_dose=400, max_patients=24))
    assert blrm.no_skip


def test_dont_skip_when_deescalating_as_escalation() -> None:
    """escalation's test_dont_skip_doses.R: get_dfcrm fit to '1NNN 2N 3TTT' advocates dose 1;
    with dont_skip_doses(when_deescalating = TRUE) dose 2. Followed by
    stop_when_n_at_dose(n = 3, dose = "any"), '1TTT 2N 3TTT' stops: escalation then recommends
    the constrained next dose (2); we select the design's MTD (dose 1, the CRM's closest to the
    target), as every stopping behaviour here does — no-skipping governs the next patient's
    dose, not the final selection (a deliberate difference)."""
    assert fit(dfcrm(), "1NNN 2N 3TTT")[0].next_dose == 0
    go = fit(dont_skip(dfcrm(), when_deescalating=True), "1NNN 2N 3TTT")[0]
    assert go.continue_trial and go.next_dose == 1
    both = stop_when_n_at_dose(dont_skip(dfcrm(), when_deescalating=True), 3, "any")
    stop, state = fit(both, "1TTT 2N 3TTT")
    assert not stop.continue_trial and stop.mtd == dfcrm().select_mtd(state) == 0
    assert fit(dont_skip(dfcrm(), True), "1TTT 2N 3TTT")[0].next_dose == 1
    with pytest.raises(DesignError, match="when de-escalating"):
        dont_skip(BLRM(doses=(100, 200, 400), reference_dose=200, max_patients=12), True)
    assert dont_skip(BOIN(n_doses=4, target=0.3), True) == BOIN(n_doses=4, target=0.3)


def test_dont_skip_simulation_never_skips_and_equals_decide() -> None:
    design = dont_skip(dfcrm())
    truth = np.array([0.02, 0.05, 0.1, 0.2, 0.4])
    latent = LatentPatients.draw(40, 60, seed=2)
    free, free_paths = dfcrm(cohort_size=3).simulate_paths(truth, latent)
    out, paths = dont_skip(dfcrm(cohort_size=3)).simulate_paths(truth, latent)
    step = lambda p: np.diff(np.where(p >= 0, p, np.nan), axis=1)  # noqa: E731
    assert np.nanmax(step(paths[:, ::3])) <= 1 < np.nanmax(step(free_paths[:, ::3]))
    toxic = np.array([0.3, 0.5, 0.6, 0.7, 0.8])
    _, down = dont_skip(dfcrm(cohort_size=3, start=4), True).simulate_paths(toxic, latent)
    _, free_down = dfcrm(cohort_size=3, start=4).simulate_paths(toxic, latent)
    assert np.nanmin(step(down[:, ::3])) >= -1 > np.nanmin(step(free_down[:, ::3]))
    for i in range(10):
        doses, mtd, state = replay_trial(dont_skip(dfcrm(cohort_size=3)), truth, latent.tox[i], 3)
        assert np.array_equal(state.enrolled_counts(), out.n_per_dose[i]), i
        assert (-1 if mtd is None else mtd) == out.selected[i], i
    assert design.name == "CRM"


SELECT_MTD = json.loads(
    (Path(__file__).parent / "reference" / "boin" / "select_mtd.json").read_text()
)


def test_boin_mtd_selection_is_select_mtd() -> None:
    """BOIN::select.mtd (tests/reference/boin/make_select_mtd_reference.R) on 301 count
    patterns, 18 of them with no acceptable dose."""
    for target in (0.25, 0.3):
        cases = [c for c in SELECT_MTD["cases"] if c["target"] == target]
        n = np.array([c["n"] for c in cases])
        y = np.array([c["y"] for c in cases])
        got = boin_select_mtd(n, y, target)
        assert [None if m < 0 else int(m) + 1 for m in got] == [c["mtd"] for c in cases]


def test_select_boin_mtd_as_escalation() -> None:
    """escalation's test_select_boin_mtd.R: get_boin(5, 0.3) %>% stop_at_n(30) %>%
    select_boin_mtd() on Yan et al.'s example stops recommending select.mtd's dose 3; while
    the parent continues the selector does not intervene; a stop with no dose stays one."""
    outcomes = "1NNN 2NNN 3NNN 3NNN 3NNN 3NNT 3TTT 4NNN 4NNT 4TTT"
    design = select_boin_mtd(stop_at_n(BOIN(n_doses=5, target=0.3, n_cohorts=12), 30))
    stop, _ = fit(design, outcomes)
    assert not stop.continue_trial and stop.mtd == SELECT_MTD["cases"][-1]["mtd"] - 1 == 2
    go, _ = fit(design, "1NNN 2NTN")
    assert go == fit(design.parent, "1NNN 2NTN")[0]
    crm = select_boin_mtd(stop_at_n(dfcrm(), 12))
    stop, state = fit(crm, "1NNN 2NNN 2NNN 3TTN")
    assert stop.mtd == crm.select_mtd(state) and stop.details["mtd_selection"] == "boin"
    assert describe(crm).endswith("→ MTD by BOIN's selection")
    with pytest.raises(DesignError, match="optimal biological dose"):
        select_boin_mtd(BOIN12(5, 0.35, 0.25))
    blrm = BLRM(doses=(100, 200, 400, 600), reference_dose=400, max_patients=24)
    with pytest.raises(DesignError, match="needs a target DLT rate"):
        select_boin_mtd(blrm)
    assert select_boin_mtd(blrm, target=0.25).target == 0.25


def test_backfill_wraps_boin_into_bf_boin() -> None:
    from oncotrial.designs.bfboin import BFBOIN
    from oncotrial.designs.efficacy import Arrivals

    boin = BOIN(n_doses=5, target=0.25, n_earlystop=9, extrasafe=True, window_days=30.0)
    assert backfill(boin, 9) == BFBOIN(
        n_doses=5, target=0.25, n_earlystop=9, extrasafe=True, window_days=30.0, backfill_cap=9
    )
    assert backfill(boin, arrivals=Arrivals(2.0, "poisson")).arrivals.kind == "poisson"
    with pytest.raises(DesignError, match="defined for BOIN"):
        backfill(Keyboard(n_doses=5, target=0.3))
    with pytest.raises(DesignError, match="wraps BOIN itself"):
        backfill(stop_at_n(boin, 24))


def test_rules_chain_with_or_and_print_themselves() -> None:
    design = stop_at_n(stop_when_n_at_dose(BOIN(n_doses=5, target=0.3, n_cohorts=12), 12), 36)
    assert repr(design.rule) == "StopWhenNAtDose(12) | StopAtN(36)"
    assert describe(design) == (
        "boin (5 doses, target 0.3, 12 cohorts of 3) → stop when StopWhenNAtDose(12) | StopAtN(36)"
    )
    both = StopAtN(20) & (StopWhenNAtDose(9) | StopWhenNAtDose(12, "any"))
    assert repr(both) == "StopAtN(20) & (StopWhenNAtDose(9) | StopWhenNAtDose(12, dose='any'))"
    assert both.labels() == ("20 patients treated and 9 patients at the recommended dose or "
                             "12 patients at a dose",)  # fmt: skip
    assert pickle.loads(pickle.dumps(design)).rule == design.rule


def test_behaviours_refuse_what_they_cannot_honour() -> None:
    with pytest.raises(DesignError, match="does not take stopping behaviours"):
        stop_at_n(ThreePlusThree(n_doses=4), 12)
    with pytest.raises(DesignError, match="does not take stopping behaviours"):
        stop_at_n(BOIN12(5, 0.35, 0.25), 12)
    with pytest.raises(DesignError, match="at least 1 patient"):
        StopAtN(0)
    with pytest.raises(DesignError, match="'recommended' or 'any'"):
        StopWhenNAtDose(3, "lowest")


CASES = [
    stop_at_n(stop_when_n_at_dose(BOIN(n_doses=5, target=0.3, n_cohorts=12), 9), 24),
    stop_at_n(BOIN(n_doses=4, target=0.25, n_cohorts=10, extrasafe=True), 18),
    stop_when_n_at_dose(Keyboard(n_doses=5, target=0.3, n_cohorts=10), 12, "any"),
    stop_at_n(CRM(skeleton=SKELETON, target=0.25, max_patients=30, cohort_size=3), 21),
    stop_when_n_at_dose(BLRM(doses=(100, 200, 400, 600), reference_dose=400, max_patients=24), 9),
    select_boin_mtd(
        stop_at_n(CRM(skeleton=SKELETON, target=0.25, max_patients=30, cohort_size=3), 21)
    ),
    stop_at_n(select_boin_mtd(Keyboard(n_doses=5, target=0.3, n_cohorts=10)), 21),
]


@pytest.mark.parametrize("design", CASES, ids=lambda d: d.name)
def test_vectorised_simulation_equals_scalar_decide(design: object) -> None:
    """Same latent patients: per-dose counts, selected dose and the stopping reason agree."""
    n_doses = design.n_doses  # type: ignore[attr-defined]
    truth = np.linspace(0.05, 0.5, n_doses)
    trials = 120 if design.name in ("boin", "keyboard") else 25  # type: ignore[attr-defined]
    latent = LatentPatients.draw(trials, 40, seed=3)
    out = design.simulate(truth, latent)  # type: ignore[attr-defined]
    rule_labels = design.rule.labels()  # type: ignore[attr-defined]
    assert set(rule_labels) <= set(out.stop_labels)
    fired = 0
    for i in range(trials):
        _, mtd, state = replay_trial(design, truth, latent.tox[i], design.cohort_size)  # type: ignore[attr-defined, arg-type]
        assert np.array_equal(state.enrolled_counts(), out.n_per_dose[i]), i
        assert (-1 if mtd is None else mtd) == out.selected[i], i
        final = design.decide(state)  # type: ignore[attr-defined]
        label = out.stop_labels[out.stop_reason[i]]
        assert final.details.get("stop_reason") == (label if label in rule_labels else None), i
        fired += label in rule_labels
    assert fired > 0


SAFE_CASES = [
    extra_safe(Keyboard(n_doses=4, target=0.25, n_cohorts=8)),
    stop_at_n(extra_safe(MTPI2(n_doses=4, target=0.25, n_cohorts=8)), 18),
    extra_safe(I3Plus3(n_doses=4, target=0.25, n_cohorts=8)),
    extra_safe(CRM(skeleton=SKELETON[:4], target=0.25, max_patients=24, cohort_size=3)),
    extra_safe(
        BLRM(doses=(100, 200, 400, 600), reference_dose=400, max_patients=24, ewoc=0.9),
        target=0.25,
    ),
]


@pytest.mark.parametrize("design", SAFE_CASES, ids=lambda d: d.name)
def test_extra_safe_simulation_equals_scalar_decide(design: object) -> None:
    """extra_safe on designs without BOIN's own rule: on the same latent patients the simulator
    and decide() agree on counts, the selected dose (none where the rule holds at the end) and
    the stop reason; the rule fires in some trials and those select no dose. (The BLRM's own
    overdose control at 0.25 stops before the rule on this truth: a lax EWOC lets it show.)"""
    truth = np.array([0.3, 0.45, 0.6, 0.7])
    trials = 150 if design.name != "blrm" else 30  # type: ignore[attr-defined]
    latent = LatentPatients.draw(trials, 40, seed=5)
    out = design.simulate(truth, latent)  # type: ignore[attr-defined]
    safety = LowestDoseTooToxic(0.25, 0.9).reason()
    fired = 0
    for i in range(trials):
        _, mtd, state = replay_trial(design, truth, latent.tox[i], design.cohort_size)  # type: ignore[attr-defined, arg-type]
        assert np.array_equal(state.enrolled_counts(), out.n_per_dose[i]), i
        assert (-1 if mtd is None else mtd) == out.selected[i], i
        label = out.stop_labels[out.stop_reason[i]]
        if label == safety:
            fired += 1
            assert out.selected[i] == -1 and out.stopped_early[i], i
            assert design.decide(state).details["stop_reason"] == safety, i  # type: ignore[attr-defined]
    assert fired > 0


def test_extra_safe_as_boin_defines_it() -> None:
    """BOIN's rule (BOIN::get.oc / select.mtd, extrasafe = TRUE, cutoff.eli - offset = 0.9):
    2 DLTs in 3 at the lowest dose, target 0.25: Pr(p > 0.25) = 1 - pbeta(0.25, 3, 2) = 0.9492
    > 0.9 stops with no dose, though ordinary elimination (0.95) does not. It is asked before
    the parent's wait for pending data and withholds the MTD at the planned end."""
    keyboard = Keyboard(n_doses=4, target=0.25, n_cohorts=2)
    state = TrialState(4, parse_outcomes("1TTN", 4))
    assert keyboard.decide(state).continue_trial
    decision = extra_safe(keyboard).decide(state)
    assert not decision.continue_trial and decision.mtd is None
    assert decision.details["stop_reason"].startswith("extra-safe: Pr(DLT rate > 0.25) > 0.9")
    end = TrialState(4, parse_outcomes("1NNN 1TTT", 4))
    assert keyboard.decide(end).mtd == 0 and extra_safe(keyboard).decide(end).mtd is None
    assert extra_safe(keyboard).select_mtd(end) is None
    assert extra_safe(keyboard, offset=0.0).decide(state).continue_trial
    rule = extra_safe(BOIN(n_doses=4, target=0.25)).rule
    assert rule == BOIN(n_doses=4, target=0.25, extrasafe=True).as_behaviours().rule
    assert describe(extra_safe(keyboard)).endswith("stop when LowestDoseTooToxic(0.25, cutoff=0.9)")
    with pytest.raises(DesignError, match="does not take stopping behaviours"):
        extra_safe(BOIN12(5, 0.35, 0.25))


def test_no_dose_reasons_come_first_in_an_or() -> None:
    view = TrialView(np.array([[3, 9, 0]]), np.array([[2, 1, 0]]), np.array([1]))
    rule = StopWhenNAtDose(9) | LowestDoseTooToxic(0.25, 0.9)
    assert rule.no_dose() == (False, True)
    assert rule.labels()[int(rule.codes(view)[0])] == LowestDoseTooToxic(0.25, 0.9).reason()
    assert bool(rule.no_dose_fired(view)[0])
    assert (StopAtN(3) & LowestDoseTooToxic(0.25, 0.9)).no_dose() == (True,)


def test_operating_characteristics_report_each_stop_reason() -> None:
    design = stop_at_n(stop_when_n_at_dose(BOIN(n_doses=5, target=0.3, n_cohorts=12), 9), 24)
    oc = operating_characteristics(
        [design], [Scenario("s", (0.05, 0.1, 0.2, 0.3, 0.5))], 3000, seed=2
    )[0][0]
    assert sum(oc.stop_reason_pct.values()) == pytest.approx(100)
    assert oc.stop_reason_pct["9 patients at the recommended dose"] > 0
    assert oc.stop_reason_pct["24 patients treated"] > 0
    assert oc.mean_n <= 24


def test_cli_and_protocol_name_the_behaviours_the_same(tmp_path) -> None:
    runner = CliRunner()
    safe = runner.invoke(app, ["simulate", "--design", "keyboard", "--target", "0.25", "--truth",
                               "0.3,0.45,0.6,0.7", "--trials", "2000", "--extrasafe",
                               "--format", "json"])  # fmt: skip
    assert safe.exit_code == 0, safe.output
    reasons = json.loads(safe.stdout)["stop_reason_pct"]
    assert reasons["extra-safe: Pr(DLT rate > 0.25) > 0.9 at the lowest dose"] > 10
    crm = ["simulate", "--design", "crm", "--target", "0.25", "--truth", "0.05,0.1,0.25,0.4,0.6",
           "--trials", "3000", "--format", "json"]  # fmt: skip
    own, boin = (runner.invoke(app, [*crm, *extra]) for extra in ([], ["--mtd-selection", "boin"]))
    assert own.exit_code == boin.exit_code == 0, boin.output
    picked = [json.loads(r.stdout)["selected_pct"] for r in (own, boin)]
    assert picked[0] != picked[1] and sum(picked[1]) == pytest.approx(sum(picked[0]))
    bad = runner.invoke(app, [*crm, "--mtd-selection", "best"])
    assert bad.exit_code == 2 and "'design' or 'boin'" in bad.stderr
    args = ["simulate", "--design", "boin", "--truth", "0.05,0.1,0.2,0.3,0.5", "--cohorts", "12",
            "--trials", "2000", "--stop-at-n", "24", "--stop-when-n-at-dose", "9"]  # fmt: skip
    result = runner.invoke(app, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["stop_reason_pct"]["24 patients treated"] > 0
    assert data["mean_n"] <= 24
    text = runner.invoke(app, args)
    assert text.exit_code == 0, text.output
    assert "24 patients treated" in " ".join(text.stdout.split())
    assert "stop when StopWhenNAtDose(9) | StopAtN(24)" in " ".join(text.stdout.split())
    decide = runner.invoke(app, ["decide", "--doses", "5", "--stop-when-n-at-dose", "6",
                                 "--outcomes", "1NNN 2NTN 2NTN", "--format", "json"])  # fmt: skip
    assert decide.exit_code == 0, decide.output
    assert json.loads(decide.stdout)["stop_reason"] == "6 patients at the recommended dose"
    refused = runner.invoke(app, ["simulate", "--design", "3+3", "--truth", "0.1,0.2",
                                  "--stop-at-n", "9"])  # fmt: skip
    assert refused.exit_code == 2 and "does not take stopping behaviours" in refused.stderr


counts = st.lists(st.integers(0, 15), min_size=3, max_size=3)


@settings(max_examples=60, deadline=None)
@given(counts, st.integers(-1, 2), st.integers(1, 30), st.integers(1, 15))
def test_combinators_are_or_and_and(n: list[int], nxt: int, a: int, b: int) -> None:
    view = TrialView(np.array([n]), np.zeros((1, 3), dtype=int), np.array([nxt]))
    r1, r2 = StopAtN(a), StopWhenNAtDose(b)
    f1, f2 = bool(r1.fired(view)[0]), bool(r2.fired(view)[0])
    assert bool((r1 | r2).fired(view)[0]) == (f1 or f2)
    assert bool((r1 & r2).fired(view)[0]) == (f1 and f2)
    code = int((r1 | r2).codes(view)[0])
    assert code == (0 if f1 else 1 if f2 else -1)
    assert isinstance(r1 | r2 | r1, AnyOf) and len((r1 | r2 | r1).rules) == 3
    assert isinstance(r1 & r2 & r1, AllOf)


def test_one_typed_result_for_every_design() -> None:
    """fit() answers the same questions for a rule-based, a model-based, a wrapped and a
    toxicity-and-efficacy design (escalation's recommended_dose, continue, n_at_dose, ...)."""
    from oncotrial.designs.efficacy import EfficacyState
    from oncotrial.designs.result import fit

    state = TrialState(5, parse_outcomes("1NNN 2NTN 2TNN 2NNN", 5))
    crm = fit(stop_at_n(dfcrm(), 12), state)
    assert (crm.continue_trial, crm.recommended_dose, crm.stop_reason) == (
        False,
        1,
        "12 patients treated",
    )
    assert crm.n == (3, 9, 0, 0, 0) and crm.dlts == (0, 2, 0, 0, 0)
    assert crm.prob_tox is not None and len(crm.prob_tox) == 5
    boin = fit(BOIN(n_doses=5, target=0.25, n_cohorts=10), state)
    assert boin.continue_trial and boin.prob_tox is None and boin.admissible == (True,) * 5
    tpt = fit(ThreePlusThree(n_doses=5), TrialState(5, parse_outcomes("1NNN 2TTN", 5)))
    assert tpt.admissible == (True, False, False, False, False)
    b12 = fit(BOIN12(5, 0.35, 0.25), EfficacyState.from_outcomes("1NNN 2ENT 3ETT 2EEN", 5))
    assert b12.responses == (0, 3, 1, 0, 0) and b12.recommended_dose == 1
    assert b12.to_json()["recommended_dose"] == 2
    runner = CliRunner()
    out = runner.invoke(app, ["decide", "--doses", "5", "--design", "crm", "--skeleton",
                              ",".join(map(str, SKELETON)), "--outcomes", "1NNN 2NTN",
                              "--format", "json"])  # fmt: skip
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)["result"]
    assert result["n_per_dose"] == [3, 3, 0, 0, 0] and len(result["prob_tox"]) == 5
