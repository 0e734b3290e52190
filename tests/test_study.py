"""The whole seamless phase I/II study simulated (``oncotrial.sim.study``) and the protocol's
seamless block.

Independent references:
- Escalation: each design's part of a simulated study selects exactly what the design's own
  simulator selects on the same seed (BOIN through ``operating_characteristics``, i.e.
  ``oncotrial simulate``; BF-BOIN, BOIN12 and BLRM through their ``simulate``), simulators that
  are themselves checked against R ``BOIN::get.oc``, ``bfboin::get.oc.bf``, the BOIN12 tables
  and crmPack in their own tests.
- Simon expansion: the positive rate under H0 (p = p0 = 0.20) and H1 (p1 = 0.40) is the optimal
  design's alpha 0.0496 and power 0.8002 (3/13, 12/43: Simon 1989 Table 1, R
  ``clinfun::ph2simon(0.2, 0.4, 0.05, 0.2)``, checked in test_phase2.py) within 4 Monte-Carlo
  standard errors; decisions trial by trial equal ``simon_decide``'s.
- BOP2 expansion: rejection and early-stop rates equal the exact enumeration of
  ``bop2_operating_characteristics`` within Monte-Carlo error.
- ROSE: the per-trial comparison gives exactly ``simulate_rose``'s selection share on the same
  latent patients, and ``operating_characteristics`` (the exact PCS tested in test_rose.py
  against Wang, Yuan & Liu 2025) within Monte-Carlo error.
- True OBD: the utilities of Lin et al. (2020) Table 1 computed by hand below.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from oncotrial.cli.main import app
from oncotrial.designs.bfboin import BFBOIN
from oncotrial.designs.blrm import BLRM
from oncotrial.designs.boin12 import BOIN12
from oncotrial.designs.efficacy import EfficacyLatents, Utilities, replay_efficacy_trial
from oncotrial.designs.phase2 import (
    Action,
    bop2_operating_characteristics,
    calibrate_bop2,
    simon_decide,
    simon_two_stage,
)
from oncotrial.designs.rose import operating_characteristics as rose_oc
from oncotrial.designs.rose import rose_design, simulate_rose
from oncotrial.designs.simulation import LatentPatients
from oncotrial.protocol import ProtocolError, load_protocol, parse_protocol
from oncotrial.sim import study as study_module
from oncotrial.sim.operating import Scenario, operating_characteristics
from oncotrial.sim.study import study_characteristics
from oncotrial.sim.study_designs import (
    EscalationResult,
    StudyScenario,
    run_escalation,
    select_doses,
    study_designs,
    study_scenarios,
    study_truths,
)
from oncotrial.sim.study_designs import (
    true_doses as true_doses_of,
)
from oncotrial.sim.study_expansion import looks_of, simulate_rose_arms, simulate_single_arm

ROOT = Path(__file__).resolve().parents[1]
SEED_PATH = ROOT / "protocols" / "toripalimab-donafenib-hcc.yaml"
PROTOCOL = load_protocol(SEED_PATH)
DESIGNS = {d.name: d for d in study_designs(PROTOCOL)}
SIMON = simon_two_stage(0.2, 0.4, 0.05, 0.8).optimal
runner = CliRunner()


def _run(names: list[str], scenario: StudyScenario, trials: int, seed: int, **kw):
    designs = [DESIGNS[n] for n in names]
    truths = study_truths(PROTOCOL, [scenario])
    return [
        row[0] for row in study_characteristics(designs, [scenario], truths, trials, seed, **kw)
    ]


def _pct(selected: np.ndarray, n_doses: int) -> list[float]:
    counts = np.bincount(selected + 1, minlength=n_doses + 1)
    return (100.0 * counts[1:] / selected.size).tolist()


# --- the escalation part is the design's own simulator, on the same latent patients ----------

truths_4 = st.lists(st.floats(0.01, 0.7), min_size=4, max_size=4).map(sorted)
responses_4 = st.lists(st.floats(0.0, 0.8), min_size=4, max_size=4)


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), p_tox=truths_4, p_eff=responses_4)
def test_escalation_selects_as_each_design_alone(seed: int, p_tox, p_eff) -> None:
    n = 400
    scen = StudyScenario("s", tuple(p_tox), tuple(p_eff))
    boin, bf, b12, blrm = (
        _run([name], scen, n, seed)[0]
        for name in ("boin-mtd-simon", "bfboin-obd-simon", "boin12-obd-simon", "blrm-mtd-bop2")
    )
    # BOIN: exactly what `oncotrial simulate` computes with this seed
    alone = operating_characteristics(
        [DESIGNS["boin-mtd-simon"].escalation],
        [Scenario("s", tuple(p_tox))],
        n,
        seed,
        accrual=DESIGNS["boin-mtd-simon"].accrual,
    )[0][0]
    assert boin.mtd_selected_pct == alone.selected_pct
    assert boin.mtd_none_pct == alone.no_mtd_pct
    assert boin.mean_n_escalation == pytest.approx(alone.mean_n, rel=1e-12)
    assert boin.mean_duration_escalation_months * 30.0 == pytest.approx(
        alone.mean_duration_days, rel=1e-12
    )
    t, e = np.array(p_tox), np.array(p_eff)
    bf_design = DESIGNS["bfboin-obd-simon"].escalation
    assert isinstance(bf_design, BFBOIN)
    latent = EfficacyLatents.draw(n, bf_design.latent_width(), seed, 0)
    assert bf.mtd_selected_pct == _pct(bf_design.simulate(t, e, latent).selected, 4)
    b12_design = DESIGNS["boin12-obd-simon"].escalation
    assert isinstance(b12_design, BOIN12)
    latent = EfficacyLatents.draw(n, b12_design.max_patients, seed, 0)
    obd = b12_design.simulate(t, e, latent, DESIGNS["boin12-obd-simon"].accrual).selected
    assert b12.final_selected_pct == _pct(obd, 4)  # one dose: the OBD is the study's dose
    blrm_design = DESIGNS["blrm-mtd-bop2"].escalation
    assert isinstance(blrm_design, BLRM)
    latent = LatentPatients.draw(n, blrm_design.max_patients, seed, 0)
    assert blrm.mtd_selected_pct == _pct(blrm_design.simulate(t, latent).selected, 4)


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), p_tox=truths_4, p_eff=responses_4)
def test_summaries_are_coherent(seed: int, p_tox, p_eff) -> None:
    scen = StudyScenario("s", tuple(p_tox), tuple(p_eff))
    truth = study_truths(PROTOCOL, [scen])[0]
    for oc in _run(["boin-mtd-simon", "boin12-rose", "bfboin-obd-simon"], scen, 300, seed):
        assert sum(oc.final_selected_pct) + oc.final_none_pct == pytest.approx(100.0)
        assert sum(oc.mtd_selected_pct) + oc.mtd_none_pct == pytest.approx(100.0)
        right = oc.mtd_none_pct if truth.mtd < 0 else oc.mtd_selected_pct[truth.mtd]
        assert oc.right_mtd_pct == pytest.approx(right)
        right = oc.final_none_pct if truth.obd < 0 else oc.final_selected_pct[truth.obd]
        assert oc.right_obd_pct == pytest.approx(right)
        assert oc.mean_n == pytest.approx(oc.mean_n_escalation + oc.mean_n_expansion)
        if truth.mtd == 3:
            assert oc.mean_above_mtd == 0.0
        if truth.mtd < 0:
            assert oc.mean_above_mtd == pytest.approx(oc.mean_n)
        if oc.positive_pct is not None:
            assert oc.positive_pct <= 100.0 - oc.final_none_pct + 1e-9
            assert oc.positive_at_obd_pct <= min(oc.positive_pct, oc.right_obd_pct) + 1e-9
            if truth.obd < 0:
                assert oc.positive_at_obd_pct == 0.0
        else:
            assert oc.expansion == "rose" and oc.randomised_pct is not None


def test_same_seed_same_numbers_on_one_or_two_workers(monkeypatch) -> None:
    monkeypatch.setattr(study_module, "BLOCK_TRIALS", 250)  # 4 blocks of 250
    scen = study_scenarios(PROTOCOL, ["plateau"])[0]
    names = ["boin-mtd-simon", "boin12-rose"]
    one = _run(names, scen, 1000, 7, workers=1)
    two = _run(names, scen, 1000, 7, workers=2)
    assert [o.to_json() for o in one] == [t.to_json() for t in two]
    # a design's numbers do not depend on which other candidates run beside it
    assert _run(["boin12-rose"], scen, 1000, 7)[0].to_json() == one[1].to_json()
    other = _run(names, scen, 1000, 8, workers=1)
    assert [o.to_json() for o in one] != [t.to_json() for t in other]


# --- the expansion: Simon, BOP2, ROSE ------------------------------------------------------


def test_simon_positive_rate_is_alpha_under_h0_and_power_under_h1() -> None:
    n = 20_000
    for p, target in ((0.2, SIMON.alpha), (0.4, SIMON.power)):
        scen = StudyScenario("flat", (0.02, 0.05, 0.10, 0.16), (p,) * 4)
        oc = _run(["boin-mtd-simon"], scen, n, 3)[0]
        treated = 1.0 - oc.final_none_pct / 100.0
        rate = oc.positive_pct / 100.0 / treated
        se = np.sqrt(target * (1 - target) / (n * treated))
        assert abs(rate - target) < 4 * se, (p, rate, target)
    assert (SIMON.r1, SIMON.n1, SIMON.r, SIMON.n) == (3, 13, 12, 43)


def test_single_arm_decisions_equal_simon_decide_trial_by_trial() -> None:
    rng = np.random.default_rng(5)
    u = rng.random((300, 43))
    p = rng.choice([0.15, 0.3, 0.45], size=300)
    looks, bounds = looks_of(SIMON)
    positive, enrolled, analyses = simulate_single_arm(looks, bounds, p, u)
    for i in range(300):
        x = np.cumsum(u[i] < p[i])
        first = simon_decide(SIMON, int(x[12]))
        if first.action is Action.STOP_FUTILITY:
            assert not positive[i] and enrolled[i] == 13 and analyses[i] == 1
            continue
        final = simon_decide(SIMON, int(x[12]), int(x[42]))
        assert positive[i] == (final.action is Action.REJECT_H0)
        assert enrolled[i] == 43 and analyses[i] == 2


def test_bop2_expansion_matches_its_exact_operating_characteristics() -> None:
    design = calibrate_bop2(0.2, 0.4, [15, 30, 43], alpha=0.05)
    looks, bounds = looks_of(design)
    n = 40_000
    u = np.random.default_rng(11).random((n, 43))
    for p in (0.2, 0.4):
        exact = bop2_operating_characteristics(bounds, looks, p)
        positive, enrolled, _ = simulate_single_arm(looks, bounds, np.full(n, p), u)
        se = np.sqrt(exact.reject * (1 - exact.reject) / n)
        assert abs(positive.mean() - exact.reject) < 4 * se
        assert abs(enrolled.mean() - exact.expected_n) < 0.3


@pytest.mark.parametrize("interim", [None, 0.5])
def test_rose_arms_equal_simulate_rose_and_its_exact_pcs(interim) -> None:
    design = rose_design(0.4, 0.15, 0.65, 0.65, interim, "exact")
    n = 20_000
    rng = np.random.default_rng(2)
    u_low, u_high = rng.random((n, design.n_per_arm)), rng.random((n, design.n_per_arm))
    for p_low, p_high in ((0.4, 0.4), (0.25, 0.4)):
        high, early = simulate_rose_arms(
            design, np.full(n, p_low), np.full(n, p_high), u_low, u_high
        )
        theirs = simulate_rose(design, p_low, p_high, n, 0, latent=(u_low, u_high))
        assert high.mean() == theirs.characteristics.select_high
        assert early.mean() == theirs.characteristics.early_high
        exact = rose_oc(design, p_low, p_high).select_high
        assert abs(high.mean() - exact) < 4 * np.sqrt(exact * (1 - exact) / n)


def test_two_dose_selection_rules() -> None:
    mtd = np.array([-1, 0, 2, 2, 3, 1])
    obd = np.array([-1, 0, 1, 2, -1, 1])
    esc = EscalationResult(mtd, obd, np.zeros((6, 4)), np.zeros(6))
    below = replace(DESIGNS["boin12-rose"], selection="mtd+below")
    low, high = select_doses(below, esc)
    assert low.tolist() == [-1, 0, 1, 1, 2, 0] and high.tolist() == mtd.tolist()
    low, high = select_doses(DESIGNS["boin12-rose"], esc)  # obd+mtd
    assert low.tolist() == [-1, 0, 1, 1, -1, 0]
    assert high.tolist() == [-1, 0, 2, 2, -1, 1]


# --- true doses ----------------------------------------------------------------------------


def test_true_mtd_and_obd_by_hand() -> None:
    u = Utilities()

    def true_doses(*args):  # noqa: ANN002, ANN202
        t = true_doses_of(*args)
        return (t.mtd, t.obd)

    plateau = StudyScenario("p", (0.05, 0.12, 0.30, 0.48), (0.15, 0.30, 0.33, 0.35))
    # utilities (Lin et al. 2020 Table 1): L1 .88·.30·100 + .88·.70·40 + .12·.30·60 = 53.20;
    # L2 .70·.33·100 + .70·.67·40 + .30·.33·60 = 47.80; L-1 has ORR 0.15 < the 0.20 floor
    assert u.expected(np.array(0.12), np.array(0.30)) == pytest.approx(53.2)
    assert true_doses(plateau, 0.3, 0.42, 0.2, u) == (2, 1)
    assert true_doses(replace(plateau, p_eff=(0.1, 0.2, 0.42, 0.48)), 0.3, 0.42, 0.2, u) == (2, 2)
    assert true_doses(replace(plateau, p_eff=(0.1,) * 4), 0.3, 0.42, 0.2, u) == (2, -1)
    assert true_doses(replace(plateau, p_tox=(0.45, 0.5, 0.6, 0.7)), 0.3, 0.42, 0.2, u) == (-1, -1)
    got = study_truths(PROTOCOL, study_scenarios(PROTOCOL))
    assert [(t.mtd, t.obd) for t in got] == [(2, 1), (2, 2), (3, 1), (2, -1)]


# --- the protocol block: every refusal names its key -----------------------------------------

SEED_TEXT = SEED_PATH.read_text()


def _refuse(old: str, new: str) -> str:
    assert SEED_TEXT.count(old) == 1, old
    with pytest.raises(ProtocolError) as info:
        parse_protocol(SEED_TEXT.replace(old, new), "seed.yaml")
    return str(info.value)


def test_protocol_refusals_name_the_key() -> None:
    msg = _refuse("selection: obd+mtd, expansion: rose", "selection: obd, expansion: rose")
    assert "seamless.candidates[3].selection" in msg and "two doses" in msg
    msg = _refuse("selection: mtd, expansion: simon", "selection: obd, expansion: simon")
    assert "seamless.candidates[0].selection" in msg and "records no responses" in msg
    msg = _refuse(
        "response_probabilities: [0.15, 0.30, 0.33, 0.35]",
        "response_probabilities: [0.15, 0.30, 0.33]",
    )
    assert "seamless.scenarios[0].response_probabilities" in msg
    msg = _refuse("reference_dose: 400 ", "reference_dose: 0 ")
    assert "phase1.blrm.reference_dose" in msg
    msg = _refuse("  rose:\n    p: 0.40", "  blrm:\n    reference_dose: 400\n  rose:\n    p: 0.40")
    assert "seamless.blrm" in msg and "phase1.blrm" in msg
    msg = _refuse("  rose:\n    p: 0.40", "  boin12:\n    n_star: 6\n  rose:\n    p: 0.40")
    assert "seamless.boin12" in msg and "one source" in msg
    msg = _refuse("  blrm:                #", "  blrm_off:             #")
    assert "phase1.blrm_off" in msg
    msg = _refuse(
        "escalation: boin12, selection: obd, expansion: simon",
        "escalation: blrm, backfill: true, selection: obd, expansion: simon",
    )
    assert "seamless.candidates[2].backfill" in msg
    msg = _refuse("  rose:\n    p: 0.40", "  rose_x:\n    p: 0.40")
    assert "seamless.rose_x" in msg
    for key, home in (
        ("efficacy_floor: 0.25", "phase1.boin12.efficacy_floor"),
        ("expansion_accrual_per_month: 4.0", "phase2.accrual_per_month"),
        ("response_window_days: 45", "phase1.boin12.efficacy_window_days"),
    ):
        msg = _refuse("  rose:\n    p: 0.40", f"  {key}\n  rose:\n    p: 0.40")
        assert f"seamless.{key.split(':')[0]}" in msg and home in msg, key
    msg = _refuse(
        "    efficacy_window_days: 45",
        "    efficacy_window_days: 45\n    utilities: [100, 40, 50, 0]",
    )
    assert "seamless.candidates[1].selection" in msg and "additive utilities" in msg


def test_a_protocol_without_the_block_is_refused_plainly(tmp_path: Path) -> None:
    text = (
        SEED_TEXT[: SEED_TEXT.index("\nseamless:")] + SEED_TEXT[SEED_TEXT.index("\nendpoints:") :]
    )
    path = tmp_path / "plain.yaml"
    path.write_text(text)
    result = runner.invoke(app, ["simulate-study", "-p", str(path), "--trials", "10"])
    assert result.exit_code == 2
    assert "error: the protocol has no seamless block" in result.stderr


# --- the command -----------------------------------------------------------------------------


def test_simulate_study_json_and_figure(tmp_path: Path) -> None:
    figure = tmp_path / "study.png"
    args = ["simulate-study", "-p", str(SEED_PATH), "--trials", "300", "--seed", "4",
            "--scenarios", "plateau,futile", "--designs", "boin-mtd-simon,boin12-rose",
            "--figure", str(figure), "--format", "json"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["trials"] == 300 and figure.stat().st_size > 10_000
    assert [d["name"] for d in data["designs"]] == ["boin-mtd-simon", "boin12-rose"]
    rows = {(r["design"], r["scenario"]): r for r in data["results"]}
    assert len(rows) == 4
    assert rows[("boin-mtd-simon", "plateau")]["true_mtd_index"] == 3  # L2 is the 3rd level
    assert rows[("boin-mtd-simon", "futile")]["true_obd_index"] is None
    assert rows[("boin-mtd-simon", "plateau")]["true_obd_level"] == "L1, donafenib 100 mg bid"
    assert rows[("boin12-rose", "plateau")]["positive_pct"] is None
    assert data["designs"][1]["expansion_design"]["n_per_arm"] >= 1
    again = json.loads(runner.invoke(app, args).stdout)
    assert again["results"] == data["results"]  # same seed, same numbers


def test_simulate_study_text_and_errors() -> None:
    result = runner.invoke(
        app,
        ["simulate-study", "-p", str(SEED_PATH), "--trials", "50", "--designs", "boin-mtd-simon"],
    )
    assert result.exit_code == 0, result.output
    # the table's layout depends on the terminal; the legend line below it is short
    assert "boin-mtd-simon: boin → mtd → simon" in result.stdout
    bad = runner.invoke(app, ["simulate-study", "-p", str(SEED_PATH), "--designs", "nope"])
    assert bad.exit_code == 2
    assert "error: no candidate design 'nope' (candidates: boin-mtd-simon" in bad.stderr
    bad = runner.invoke(app, ["simulate-study", "-p", str(SEED_PATH), "--scenarios", "x"])
    assert bad.exit_code == 2 and "no seamless scenario 'x'" in bad.stderr
    both = ["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"]
    bad = runner.invoke(app, ["simulate-study", "-p", str(SEED_PATH), *both])
    assert bad.exit_code == 2 and "not both" in bad.stderr
    # help is checked for content, not layout (rich cuts option names in narrow panels)
    help_text = runner.invoke(app, ["simulate-study", "--help"], env={"COLUMNS": "200"}).output
    assert "--format" in help_text and "--figure" in help_text


def test_dask_cluster_gives_the_same_numbers(monkeypatch) -> None:
    """A real Dask scheduler on loopback (the optional ``dask`` extra): the units computed on
    the cluster add up to the local numbers."""
    distributed = pytest.importorskip(
        "distributed", reason="dask.distributed is the optional 'dask' extra"
    )
    monkeypatch.setattr(study_module, "BLOCK_TRIALS", 250)  # block sizes travel with the units
    scen = study_scenarios(PROTOCOL, ["rising"])[0]
    names = ["boin-mtd-simon", "boin12-obd-simon"]
    local = _run(names, scen, 600, 21)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        remote = _run(names, scen, 600, 21, scheduler=cluster.scheduler_address)
    assert [r.to_json() for r in remote] == [o.to_json() for o in local]


def test_boin12_mtd_is_select_mtd_of_the_same_trial() -> None:
    """BOIN12's MTD in a study is ``BOIN12.select_mtd`` of the trial replayed patient by patient
    through ``decide`` (the scalar path); a trial stopped without a dose has no MTD."""
    design = DESIGNS["boin12-obd-simon"]
    b12 = design.escalation
    assert isinstance(b12, BOIN12)
    for p_tox, p_eff in (
        ((0.05, 0.12, 0.30, 0.48), (0.15, 0.30, 0.33, 0.35)),
        ((0.45, 0.55, 0.60, 0.70), (0.30, 0.30, 0.30, 0.30)),
        ((0.05, 0.10, 0.15, 0.20), (0.0, 0.0, 0.02, 0.02)),
    ):
        scen = StudyScenario("s", p_tox, p_eff)
        latent = EfficacyLatents.draw(60, b12.max_patients, 9, 0)
        esc = run_escalation(design, scen, latent)
        for i in range(60):
            _, decision, state = replay_efficacy_trial(
                b12, np.array(p_tox), np.array(p_eff), latent.tox[i], latent.eff[i]
            )
            stopped = "no dose selected" in decision.reason
            mtd = None if stopped else b12.select_mtd(state)
            obd = None if stopped else b12.select_obd(state)
            assert esc.mtd[i] == (-1 if mtd is None else mtd), (p_tox, i)
            assert esc.obd[i] == (-1 if obd is None else obd), (p_tox, i)


@settings(max_examples=50, deadline=None)
@given(
    pairs=st.lists(
        st.integers(-1, 4).flatmap(
            lambda m: st.tuples(st.just(m), st.integers(-1, m) if m >= 0 else st.just(-1))
        ),
        min_size=1,
        max_size=30,
    ),
    rule=st.sampled_from(["mtd", "obd", "mtd+below", "obd+mtd"]),
)
def test_selected_doses_are_ordered_and_come_from_the_escalation(pairs, rule) -> None:
    mtd = np.array([m for m, _ in pairs])
    obd = np.array([o for _, o in pairs])
    esc = EscalationResult(mtd, obd, np.zeros((mtd.size, 5)), np.zeros(mtd.size))
    low, high = select_doses(replace(DESIGNS["boin12-rose"], selection=rule), esc)
    assert np.all((low < 0) == (high < 0)) and np.all(low <= high)
    source = obd if rule.startswith("obd") else mtd
    assert np.all((high < 0) == (source < 0))
    if rule in ("mtd", "obd"):
        assert np.array_equal(low, source) and np.array_equal(high, source)
    else:
        assert np.all(high <= np.maximum(mtd, obd))  # never above what the escalation found
        two = high >= 1
        assert np.all(low[two] < high[two])  # two doses whenever a level lies below


@pytest.mark.parametrize("name", ["blrm-mtd-bop2", "bfboin-obd-simon"])
def test_obd_of_mtd_designs_lies_at_or_below_their_mtd(name) -> None:
    """BF-BOIN and the BLRM get BOIN12's OBD rule on their data, never above their own MTD; the
    BLRM's per-patient doses give back its DLT counts."""
    design = DESIGNS[name]
    scen = StudyScenario("s", (0.05, 0.12, 0.30, 0.48), (0.15, 0.30, 0.33, 0.35))
    latent = EfficacyLatents.draw(500, design.latent_width, 3, 0)
    esc = run_escalation(design, scen, latent)
    assert np.all(esc.obd <= esc.mtd) and np.all(esc.obd[esc.mtd < 0] == -1)
    assert (esc.obd >= 0).mean() > 0.9  # the OBD exists in this scenario
    if isinstance(design.escalation, BLRM):
        p_tox = np.array(scen.p_tox)
        out, doses, _ = design.escalation.simulate_paths(p_tox, latent, design.accrual)
        dlt = latent.tox[:, : doses.shape[1]] < p_tox[np.maximum(doses, 0)]
        for d in range(4):
            assert np.array_equal(((doses == d) & dlt).sum(axis=1), out.dlt_per_dose[:, d])


@settings(max_examples=30, deadline=None)
@given(
    data=st.lists(st.tuples(st.integers(0, 3), st.booleans(), st.booleans()), max_size=40),
)
def test_utility_sums_from_marginal_counts_equal_the_joint_ones(data) -> None:
    """With additive utilities (Lin et al.'s defaults: 100 + 0 = 60 + 40) the per-dose utility
    sums from BF-BOIN's marginal counts equal the sums over the patients' joint outcomes."""
    from types import SimpleNamespace

    from oncotrial.sim.study_designs import _additive_utility_sums

    u = Utilities()
    assert u.additive
    n, y, r, joint = (np.zeros((1, 4)) for _ in range(4))
    for dose, dlt, resp in data:
        n[0, dose] += 1
        y[0, dose] += dlt
        r[0, dose] += resp
        joint[0, dose] += u.score(np.array(float(dlt)), np.array(float(resp)))
    out = SimpleNamespace(n_per_dose=n, dlt_per_dose=y, response_per_dose=r)
    assert np.allclose(_additive_utility_sums(u, out), joint)


def test_expected_dlts_agree_with_the_drawn_ones() -> None:
    """The study's expected DLTs (Σ patients × true DLT probability) against the DLTs BOIN's
    own simulator draws on the same patients (Wald's identity: equal means), and in the
    expansion: the patients at each selected dose × its DLT probability, at most the N."""
    p_tox, n = (0.05, 0.12, 0.30, 0.48), 4000
    scen = StudyScenario("s", p_tox, (0.15, 0.30, 0.33, 0.35))
    boin, rose = _run(["boin-mtd-simon", "boin12-rose"], scen, n, 11)
    alone = operating_characteristics(
        [DESIGNS["boin-mtd-simon"].escalation], [Scenario("s", p_tox)], n, 11,
        accrual=DESIGNS["boin-mtd-simon"].accrual,
    )[0][0]  # fmt: skip
    latent = LatentPatients.draw(n, DESIGNS["boin-mtd-simon"].escalation.max_patients, 11, 0)
    drawn = DESIGNS["boin-mtd-simon"].escalation.simulate(np.array(p_tox), latent)
    per_trial = drawn.dlt_per_dose.sum(axis=1)
    se = per_trial.std() / np.sqrt(n)
    assert abs(boin.mean_dlts_escalation - sum(alone.mean_dlts)) < 4 * se
    for oc in (boin, rose):
        assert 0 < oc.mean_dlts_expansion <= max(p_tox) * oc.mean_n_expansion
        assert oc.to_json()["mean_dlts"] == pytest.approx(
            oc.mean_dlts_escalation + oc.mean_dlts_expansion
        )
