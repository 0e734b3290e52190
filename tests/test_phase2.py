"""Phase II designs for a response-rate endpoint: Simon's two-stage design (optimal, minimax,
admissible), stage decisions, BOP2 — each against a named, independent reference.

Sources of the numbers below:
- R clinfun documentation (pkgdown site of veseshan/clinfun, reference/ph2simon.html):
  ``ph2simon(0.2, 0.4, 0.1, 0.1)``, ``ph2simon(0.2, 0.35, 0.05, 0.05)`` with nmax 100 and 150.
- R clinfun documentation, reference/twostage.admissible.html (Jung, Lee, Kim & George 2004,
  Stat Med 23:561): ``twostage.admissible(ph2simon(0.5, 0.7, 0.05, 0.1))``.
- R clinfun vignette "Functions For Clinical Trial Design": ``ph2simon(0.05, 0.2, 0.1, 0.1)``
  (lenvatinib trial, Tchekmedyian et al. 2019) and ``ph2simon(0.25, 0.45, 0.05, 0.1)``, both
  with ``twostage.admissible``.
- Simon (1989), Controlled Clinical Trials 10:1, p. 4 (Table 1): optimal designs for α = 0.05,
  β = 0.20, p1 = p0 + 0.20, p0 = 0.1 … 0.7, as transcribed in the test suite of the Julia package
  kkmann/BinaryTwoStageDesigns (test/test_BinaryTwoStageDesign.jl).
- R ``clinfun::ph2simon(0.05, 0.25, 0.05, 0.2)`` and Simon's p0 = 0.20 / p1 = 0.40 row (EN, PET,
  minimax) as quoted in this module's brief; the minimax 4/18, 10/33 row could not be found in a
  retrievable copy of the paper, and clinfun is not installable here (no CRAN access).
- BOP2 (Zhou, Lee & Yuan 2017, Stat Med 36:3302): futility boundaries from the README of R
  ``BOP2FE`` (belayb/BOP2FE), ``BOP2FE_binary(H0 = 0.2, H1 = 0.4, n = c(10, 5, 5, 5, 5, 5, 5),
  lambda = 0.909, gamma = 1, method = "OF")`` → futility boundary 1 2 3 5 7 9 11 (same futility
  rule and Beta(H0, 1 − H0) prior as BOP2; re-derived with R ``pbeta`` here as well). No published
  BOP2 table with λ, γ and operating characteristics was found, so the calibrated design's exact
  type I error, power and expected size are checked against an independent Monte-Carlo
  simulation of the posterior rule.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import typer
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from typer.testing import CliRunner

from oncotrial.cli.phase2 import design_app
from oncotrial.designs.base import DesignError
from oncotrial.designs.phase2 import (
    Action,
    SimonDesign,
    bop2_boundaries,
    bop2_decide,
    bop2_design,
    bop2_operating_characteristics,
    calibrate_bop2,
    simon_decide,
    simon_operating_characteristics,
    simon_two_stage,
)
from oncotrial.stats.binomial import clopper_pearson


def _row(d: SimonDesign) -> tuple[int, int, int, int]:
    return (d.r1, d.n1, d.r, d.n)


def _naive_simon(r1: int, n1: int, r: int, n: int, p: float) -> tuple[float, float]:
    """Reject probability and EN from the joint distribution of the two stages' responses,
    summed over the (x1, x2) grid (Simon 1989, eq. 1, without the tail-sum shortcut)."""
    x1 = np.arange(n1 + 1)[:, None]
    x2 = np.arange(n - n1 + 1)[None, :]
    joint = stats.binom.pmf(x1, n1, p) * stats.binom.pmf(x2, n - n1, p)
    reject = float(joint[(x1 > r1) & (x1 + x2 > r)].sum())
    pet = float(joint[(x1 <= r1) & (x2 >= 0)].sum())
    return reject, n1 + (1 - pet) * (n - n1)


# --- Simon: published designs ---------------------------------------------------------------


def test_clinfun_ph2simon_005_025_005_02() -> None:
    # clinfun::ph2simon(0.05, 0.25, 0.05, 0.2): optimal 0/9, 2/17, EN(p0) 11.96, PET 0.630;
    # minimax 0/12, 2/16 (Simon 1989 Table 1: EN 12.0 / 13.8, PET .63 / .54)
    res = simon_two_stage(0.05, 0.25, 0.05, 0.8)
    assert _row(res.optimal) == (0, 9, 2, 17)
    assert round(res.optimal.en_p0, 2) == 11.96 and round(res.optimal.pet_p0, 3) == 0.630
    assert _row(res.minimax) == (0, 12, 2, 16)
    assert round(res.minimax.en_p0, 1) == 13.8 and round(res.minimax.pet_p0, 2) == 0.54


def test_simon_1989_p0_020_p1_040() -> None:
    # Simon (1989) Table 1, p0 .20, p1 .40, α .05, β .20: optimal 3/13, 12/43, EN 20.6, PET .75;
    # minimax 4/18, 10/33, EN 22.3, PET .72
    res = simon_two_stage(0.2, 0.4, 0.05, 0.8)
    assert _row(res.optimal) == (3, 13, 12, 43)
    assert round(res.optimal.en_p0, 1) == 20.6 and round(res.optimal.pet_p0, 2) == 0.75
    assert _row(res.minimax) == (4, 18, 10, 33)
    assert round(res.minimax.en_p0, 1) == 22.3 and round(res.minimax.pet_p0, 2) == 0.72


@pytest.mark.parametrize(
    ("p0", "design"),
    [
        # Simon (1989) p. 4, α = .05, β = .20, p1 = p0 + .20, optimal (r1, n1, r, n)
        (0.1, (1, 10, 5, 29)),
        (0.2, (3, 13, 12, 43)),
        (0.3, (5, 15, 18, 46)),
        (0.4, (7, 16, 23, 46)),
        (0.5, (8, 15, 26, 43)),
        (0.6, (7, 11, 30, 43)),
        (0.7, (4, 6, 22, 27)),
    ],
)
def test_simon_1989_optimal_designs(p0: float, design: tuple[int, int, int, int]) -> None:
    assert _row(simon_two_stage(p0, round(p0 + 0.2, 2), 0.05, 0.8).optimal) == design


@pytest.mark.parametrize(
    ("args", "nmax", "optimal", "minimax"),
    [
        # clinfun docs: ph2simon(0.2, 0.4, 0.1, 0.1)
        ((0.2, 0.4, 0.1, 0.9), 100, (3, 17, 10, 37, 26.02, 0.5489), (3, 19, 10, 36, 28.26, 0.4551)),
        # clinfun docs: ph2simon(0.2, 0.35, 0.05, 0.05) — optimal too close to nmax = 100
        (
            (0.2, 0.35, 0.05, 0.95),
            100,
            (11, 53, 26, 99, 69.88, 0.6330),
            (15, 68, 25, 95, 75.44, 0.7244),
        ),
        # clinfun docs: ph2simon(0.2, 0.35, 0.05, 0.05, nmax = 150)
        (
            (0.2, 0.35, 0.05, 0.95),
            150,
            (11, 50, 28, 109, 67.07, 0.7107),
            (15, 68, 25, 95, 75.44, 0.7244),
        ),
    ],
)
def test_clinfun_documentation_examples(
    args: tuple[float, float, float, float], nmax: int, optimal: tuple, minimax: tuple
) -> None:
    res = simon_two_stage(*args, nmax=nmax)
    for got, want in ((res.optimal, optimal), (res.minimax, minimax)):
        assert _row(got) == want[:4]
        assert round(got.en_p0, 2) == want[4] and round(got.pet_p0, 4) == want[5]
    # clinfun warns "Optimal sample size too close to nmax" only for the n = 99 design
    assert res.near_nmax is (res.optimal.n == 99)


@pytest.mark.parametrize(
    ("args", "rows"),
    [
        # clinfun docs, twostage.admissible(ph2simon(0.5, 0.7, 0.05, 0.1)) (Jung et al. 2004)
        (
            (0.5, 0.7, 0.05, 0.9),
            [
                ("minimax", 14, 27, 32, 53, 36.11440, 0.6494460, 0.285, 1.000),
                ("admissible", 12, 23, 34, 57, 34.51987, 0.6611803, 0.112, 0.285),
                ("optimal", 13, 24, 36, 61, 34.01324, 0.7293719, 0.000, 0.112),
            ],
        ),
        # clinfun vignette, twostage.admissible(ph2simon(0.05, 0.2, 0.1, 0.1))
        (
            (0.05, 0.2, 0.1, 0.9),
            [
                ("minimax", 0, 18, 3, 32, 26.43900, 0.3972143, 0.640, 1.000),
                ("admissible", 0, 15, 3, 33, 24.66076, 0.4632912, 0.323, 0.640),
                ("admissible", 0, 13, 3, 35, 23.70647, 0.5133421, 0.097, 0.323),
                ("optimal", 0, 12, 3, 37, 23.49100, 0.5403601, 0.000, 0.097),
            ],
        ),
        # clinfun vignette, twostage.admissible(ph2simon(0.25, 0.45, 0.05, 0.1))
        (
            (0.25, 0.45, 0.05, 0.9),
            [
                ("minimax", 6, 26, 17, 49, 37.14596, 0.5153932, 0.782, 1.000),
                ("admissible", 7, 26, 17, 50, 33.55630, 0.6851542, 0.129, 0.782),
                ("optimal", 6, 22, 19, 57, 32.52206, 0.6993697, 0.000, 0.129),
            ],
        ),
    ],
)
def test_admissible_designs_match_clinfun(args: tuple, rows: list[tuple]) -> None:
    res = simon_two_stage(*args)
    assert len(res.admissible) == len(rows)
    for adm, (label, r1, n1, r, n, en, pet, q_lo, q_hi) in zip(res.admissible, rows, strict=True):
        assert adm.label == label and _row(adm.design) == (r1, n1, r, n)
        assert adm.design.en_p0 == pytest.approx(en, abs=5e-6)
        assert adm.design.pet_p0 == pytest.approx(pet, abs=5e-8)
        assert (round(adm.q_low, 3), round(adm.q_high, 3)) == (q_lo, q_hi)


def test_simon_matches_brute_force_on_a_small_space() -> None:
    # every (r1, n1, r, n) with n ≤ 20, scanned naively with scipy, for the least EN per n
    p0, p1, alpha, power = 0.1, 0.4, 0.1, 0.8
    best: dict[int, tuple[float, tuple]] = {}
    for n in range(2, 21):
        for n1 in range(1, n):
            for r1 in range(n1):
                pet = stats.binom.cdf(r1, n1, p0)
                en = n1 + (1 - pet) * (n - n1)
                if n in best and en >= best[n][0]:
                    continue
                for r in range(r1, n):
                    x1 = np.arange(r1 + 1, n1 + 1)
                    a0 = np.sum(stats.binom.pmf(x1, n1, p0) * stats.binom.sf(r - x1, n - n1, p0))
                    a1 = np.sum(stats.binom.pmf(x1, n1, p1) * stats.binom.sf(r - x1, n - n1, p1))
                    if a0 <= alpha and a1 >= power:
                        best[n] = (en, (r1, n1, n))
                        break
    res = simon_two_stage(p0, p1, alpha, power, nmax=20)
    assert {d.n: (d.r1, d.n1, d.n) for d in res.designs} == {n: v[1] for n, v in best.items()}
    for d in res.designs:
        assert d.en_p0 == pytest.approx(best[d.n][0], abs=1e-12)


@settings(max_examples=20, deadline=None)
@given(
    p0=st.floats(0.05, 0.6),
    delta=st.floats(0.15, 0.3),
    alpha=st.sampled_from([0.05, 0.1]),
    power=st.sampled_from([0.8, 0.9]),
)
def test_reported_alpha_power_recomputed_from_scratch(
    p0: float, delta: float, alpha: float, power: float
) -> None:
    p1 = min(p0 + delta, 0.95)
    try:
        res = simon_two_stage(p0, p1, alpha, power, nmax=70)
    except DesignError:
        return
    for d in (res.optimal, res.minimax, *(a.design for a in res.admissible)):
        reject0, en0 = _naive_simon(d.r1, d.n1, d.r, d.n, p0)
        reject1, _ = _naive_simon(d.r1, d.n1, d.r, d.n, p1)
        assert reject0 <= alpha and reject1 >= power
        assert d.alpha == pytest.approx(reject0, abs=1e-10)
        assert d.power == pytest.approx(reject1, abs=1e-10)
        assert d.en_p0 == pytest.approx(en0, abs=1e-10)
    assert res.minimax.n == min(d.n for d in res.designs)
    assert res.optimal.en_p0 == min(d.en_p0 for d in res.designs)
    qs = [(a.q_low, a.q_high) for a in res.admissible]
    assert qs[0][1] == 1.0 and qs[-1][0] == 0.0
    assert all(lo <= hi for lo, hi in qs)


def test_operating_characteristics_function_and_bad_inputs() -> None:
    reject, pet, en = simon_operating_characteristics(3, 13, 12, 43, 0.2)
    assert (reject, en) == pytest.approx(_naive_simon(3, 13, 12, 43, 0.2))
    assert pet == pytest.approx(stats.binom.cdf(3, 13, 0.2))
    with pytest.raises(DesignError, match="below"):
        simon_two_stage(0.4, 0.2)
    with pytest.raises(DesignError, match="alpha"):
        simon_two_stage(0.2, 0.4, alpha=1.2)
    with pytest.raises(DesignError, match="increase nmax"):
        simon_two_stage(0.2, 0.3, 0.05, 0.9, nmax=20)


# --- decisions in a running trial ----------------------------------------------------------


OPTIMAL_02_04 = simon_two_stage(0.2, 0.4, 0.05, 0.8).optimal  # 3/13, 12/43


def test_simon_stage_decisions() -> None:
    d = OPTIMAL_02_04
    stop = simon_decide(d, 3)
    assert stop.action is Action.STOP_FUTILITY and stop.patients == 13 and stop.look == 1
    go = simon_decide(d, 4)
    assert go.action is Action.CONTINUE
    assert go.p_value == pytest.approx(stats.binomtest(4, 13, 0.2, "greater").pvalue)
    assert go.interval == clopper_pearson(4, 13)
    win = simon_decide(d, 4, 13)
    assert win.action is Action.REJECT_H0 and win.patients == 43 and win.look == 2
    assert win.p_value == pytest.approx(stats.binomtest(13, 43, 0.2, "greater").pvalue)
    assert simon_decide(d, 4, 12).action is Action.STOP_FUTILITY
    assert win.to_json()["action"] == "reject_h0"
    with pytest.raises(DesignError, match="stops after stage 1"):
        simon_decide(d, 2, 10)
    with pytest.raises(DesignError, match="impossible"):
        simon_decide(d, 5, 4)
    with pytest.raises(DesignError, match="impossible"):
        simon_decide(d, 14)


@given(x=st.integers(0, 12))
def test_more_responses_never_stop_simon_when_fewer_do_not(x: int) -> None:
    d = OPTIMAL_02_04
    if simon_decide(d, x).action is Action.CONTINUE:
        assert simon_decide(d, x + 1).action is Action.CONTINUE


# --- BOP2 -----------------------------------------------------------------------------------


def test_bop2_boundaries_match_bop2fe_readme() -> None:
    # BOP2FE README: H0 0.2, looks 10, 15, …, 40, λ 0.909, γ 1 → futility boundary 1 2 3 5 7 9 11;
    # R: for n in seq(10, 40, 5), max x with 1 - pbeta(0.2, 0.2 + x, 0.8 + n - x) < 0.909 n / 40
    assert bop2_boundaries(0.2, range(10, 41, 5), 0.909, 1.0) == (1, 2, 3, 5, 7, 9, 11)


CALIBRATED = calibrate_bop2(0.2, 0.4, [10, 20, 30, 40], alpha=0.05)


def _simulate_bop2(design, p: float, trials: int, seed: int) -> tuple[float, float, float]:
    """Monte-Carlo type I error/power, early-stop probability and mean N, deciding each trial
    from the posterior directly: stop if Pr(p > p0 | data) < λ (n/N)^γ (BOP2FE's form)."""
    rng = np.random.default_rng(seed)
    looks = np.asarray(design.looks)
    counts = np.cumsum(rng.binomial(np.diff(looks, prepend=0), p, size=(trials, looks.size)), 1)
    post_gt = np.empty(counts.shape)
    for j, n in enumerate(looks):  # Pr(p > p0 | x of n) for x = 0..n, looked up per trial
        x = np.arange(n + 1)
        table = stats.beta.sf(design.p0, design.prior_a + x, design.prior_b + n - x)
        post_gt[:, j] = table[counts[:, j]]
    stop = post_gt < design.lam * (looks / looks[-1]) ** design.gamma
    first = np.where(stop.any(axis=1), stop.argmax(axis=1), looks.size)
    early = first < looks.size - 1
    reject = first == looks.size
    size = np.where(early, looks[np.minimum(first, looks.size - 1)], looks[-1])
    return reject.mean(), early.mean(), size.mean()


@pytest.mark.parametrize("which", ["null", "alternative"])
def test_bop2_exact_characteristics_agree_with_simulation(which: str) -> None:
    oc = getattr(CALIBRATED, which)
    trials = 200_000
    reject, early, size = _simulate_bop2(CALIBRATED, oc.p, trials, seed=20170915)
    for simulated, exact in ((reject, oc.reject), (early, oc.early_stop)):
        assert abs(simulated - exact) < 4.5 * np.sqrt(exact * (1 - exact) / trials)
    assert abs(size - oc.expected_n) < 0.05


def test_bop2_calibration_is_the_most_powerful_on_its_grid() -> None:
    lam_grid = np.round(np.arange(0.80, 0.99, 0.01), 2)
    gam_grid = np.round(np.arange(0.0, 1.01, 0.1), 1)
    best = calibrate_bop2(0.2, 0.4, [10, 20, 30, 40], 0.05, lam_grid=lam_grid, gamma_grid=gam_grid)
    assert best.type_i_error <= 0.05
    for lam in lam_grid:
        for gam in gam_grid:
            d = bop2_design(0.2, 0.4, [10, 20, 30, 40], float(lam), float(gam))
            if d.type_i_error <= 0.05:
                assert d.power <= best.power + 1e-12
    assert CALIBRATED.type_i_error <= 0.05 and CALIBRATED.power >= best.power - 1e-12


def test_bop2_characteristics_add_up() -> None:
    for oc in (CALIBRATED.null, CALIBRATED.alternative):
        last = bop2_operating_characteristics(CALIBRATED.boundaries, CALIBRATED.looks, oc.p)
        assert last == oc
        assert sum(oc.stop_by_look) == pytest.approx(oc.early_stop)
        assert oc.early_stop + oc.reject <= 1.0 + 1e-12
        assert CALIBRATED.looks[0] <= oc.expected_n <= CALIBRATED.n
    data = CALIBRATED.to_json()
    assert [b["n"] for b in data["boundaries"]] == [10, 20, 30, 40]
    assert data["type_i_error"] == CALIBRATED.type_i_error


def test_bop2_decisions() -> None:
    d = CALIBRATED
    k = d.boundaries
    assert bop2_decide(d, k[0], 10).action is Action.STOP_FUTILITY
    assert bop2_decide(d, k[0] + 1, 10).action is Action.CONTINUE
    assert bop2_decide(d, 0, 5).action is Action.CONTINUE
    assert bop2_decide(d, k[-1] + 1, 40).action is Action.REJECT_H0
    assert bop2_decide(d, k[-1], 40).action is Action.STOP_FUTILITY
    with pytest.raises(DesignError, match="impossible"):
        bop2_decide(d, 5, 41)


@given(look=st.integers(0, 3), x=st.integers(0, 39))
def test_more_responses_never_stop_bop2_when_fewer_do_not(look: int, x: int) -> None:
    n = CALIBRATED.looks[look]
    if x < n and bop2_decide(CALIBRATED, x, n).action is not Action.STOP_FUTILITY:
        assert bop2_decide(CALIBRATED, x + 1, n).action is not Action.STOP_FUTILITY


@settings(max_examples=30, deadline=None)
@given(
    p0=st.floats(0.05, 0.7),
    lam=st.floats(0.5, 0.99),
    gam=st.floats(0.0, 2.0),
)
def test_bop2_boundaries_follow_the_posterior_rule(p0: float, lam: float, gam: float) -> None:
    looks = (8, 16, 30)
    bounds = bop2_boundaries(p0, looks, lam, gam)
    for n, k in zip(looks, bounds, strict=True):
        cut = 1 - lam * (n / looks[-1]) ** gam
        x = np.arange(n + 1)
        stop = stats.beta.cdf(p0, p0 + x, 1 - p0 + n - x) > cut
        assert np.array_equal(stop, x <= k)


# --- CLI ------------------------------------------------------------------------------------

cli = typer.Typer()
cli.add_typer(design_app, name="design")
runner = CliRunner(env={"COLUMNS": "200"})  # help text is checked for content, not layout


def _json(*args: str) -> dict:
    result = runner.invoke(cli, ["design", *args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_cli_simon_json() -> None:
    data = _json("simon", "--p0", "0.2", "--p1", "0.4", "--alpha", "0.05", "--power", "0.8")
    assert set(data) == {"optimal", "minimax", "admissible"}
    opt = data["optimal"]
    assert (opt["r1"], opt["n1"], opt["r"], opt["n"]) == (3, 13, 12, 43)
    assert set(opt) == {"r1", "n1", "r", "n", "en_p0", "pet_p0", "alpha", "power"}
    assert (data["minimax"]["n1"], data["minimax"]["n"]) == (18, 33)
    assert [a["label"] for a in data["admissible"]][0] == "minimax"


def test_cli_bop2_json_and_text() -> None:
    data = _json("bop2", "--p0", "0.2", "--p1", "0.4", "--n", "40", "--looks", "10,20,30,40")
    assert [b["stop_if_responses_at_most"] for b in data["boundaries"]] == list(
        CALIBRATED.boundaries
    )
    assert data["lambda"] == CALIBRATED.lam and data["gamma"] == CALIBRATED.gamma
    assert data["type_i_error"] <= 0.05 and data["expected_n"]["p0"] < 40
    fixed = ["--lambda", "0.909", "--gamma", "1"]
    given_ = _json("bop2", "--p0", "0.2", "--p1", "0.4", "--looks", "10,15,20,25,30,35", *fixed)
    assert [b["stop_if_responses_at_most"] for b in given_["boundaries"]] == [1, 2, 3, 5, 7, 9, 11]
    text = runner.invoke(cli, ["design", "bop2", "--p0", "0.2", "--p1", "0.4"])
    assert text.exit_code == 0 and "stop if responses" in text.output


@pytest.mark.parametrize(
    "args",
    [
        ["simon", "--p0", "0.4", "--p1", "0.2"],
        ["simon", "--p0", "0.2", "--p1", "0.4", "--alpha", "1.5"],
        ["simon", "--p0", "0.2", "--p1", "0.4", "--alpha", "0"],
        ["bop2", "--p0", "0.3", "--p1", "0.3"],
        ["bop2", "--p0", "0.2", "--p1", "0.4", "--looks", "10,x"],
        ["bop2", "--p0", "0.2", "--p1", "0.4", "--looks", "20,10"],
        ["bop2", "--p0", "0.2", "--p1", "0.4", "--looks", "10,50", "--n", "40"],
        ["bop2", "--p0", "0.2", "--p1", "0.4", "--lambda", "0.9"],
    ],
)
def test_cli_bad_values_exit_2_with_a_clear_error(args: list[str]) -> None:
    result = runner.invoke(cli, ["design", *args])
    assert result.exit_code == 2
    assert "error" in result.output.lower()


def test_cli_every_option_has_help() -> None:
    for command in ("simon", "bop2"):
        group = typer.main.get_command(cli).commands["design"]  # type: ignore[attr-defined]
        cmd = group.commands[command]
        assert cmd.help
        for param in cmd.params:
            assert getattr(param, "help", None), f"{command} {param.name}"
