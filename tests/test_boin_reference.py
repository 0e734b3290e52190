"""The project's BOIN against published ``BOIN::get.oc`` output, number for number.

``replay_boin_get_oc`` redraws R's uniforms in get.oc's order (set.seed(seed), then per trial and
cohort ``runif(cohortsize) < p.true[d]``) and takes every decision from ``BOIN.decide`` and
``BOIN.select_mtd``: nothing of BOIN's rules is re-implemented here. The published numbers and
their sources are in tests/reference/boin/get_oc_published.json.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from oncotrial.designs.base import Decision, TrialState
from oncotrial.designs.boin import BOIN
from oncotrial.designs.simulation import LatentPatients
from oncotrial.sim.rstream import GetOcSummary, RStream, replay_boin_get_oc

PUBLISHED = json.loads(
    (Path(__file__).parent / "reference" / "boin" / "get_oc_published.json").read_text()
)


def _design(args: dict[str, Any]) -> BOIN:
    return BOIN(
        n_doses=len(args["p_true"]),
        target=args["target"],
        cohort_size=args["cohort_size"],
        n_cohorts=args["n_cohorts"],
        start=args["start"],
        cutoff_eli=args["cutoff_eli"],
        extrasafe=args["extrasafe"],
        offset=args["offset"],
        n_earlystop=args["n_earlystop"],
        bound_mtd=args["bound_mtd"],
    )


def _digits(printed: str) -> int:
    return len(printed.split(".")[1]) if "." in printed else 0


def _as_printed(value: float, printed: str) -> str:
    """Our number with as many decimals as R printed (sprintf rounding, as R's print)."""
    return format(value, f".{_digits(printed)}f")


def _assert_matches(ours: dict[str, Any], printed: dict[str, Any]) -> None:
    for key, expected in printed.items():
        if isinstance(expected, list):
            got = [_as_printed(v, p) for v, p in zip(ours[key], expected, strict=True)]
        else:
            got = _as_printed(ours[key], expected)
        assert got == expected, key


def _numbers(s: GetOcSummary) -> dict[str, Any]:
    return {
        "selpercent": s.selpercent,
        "npatients": s.npatients,
        "ntox": s.ntox,
        "totaltox": s.totaltox,
        "totaln": s.totaln,
        "percentstop": s.percentstop,
    }


@pytest.fixture(scope="module", params=PUBLISHED, ids=[r["id"] for r in PUBLISHED])
def replayed(request: pytest.FixtureRequest) -> tuple[dict[str, Any], BOIN, GetOcSummary]:
    ref = request.param
    args = ref["args"]
    design = _design(args)
    summary = replay_boin_get_oc(
        design,
        args["p_true"],
        n_cohorts=args["n_cohorts"],
        cohort_size=args["cohort_size"],
        n_trials=args["n_trials"],
        seed=args["seed"],
        start=args["start"],
    )
    return ref, design, summary


def test_scalar_design_reproduces_published_get_oc(
    replayed: tuple[dict[str, Any], BOIN, GetOcSummary],
) -> None:
    ref, _, summary = replayed
    _assert_matches(_numbers(summary), ref["printed"])


def test_vectorised_simulator_on_the_same_patients(
    replayed: tuple[dict[str, Any], BOIN, GetOcSummary],
) -> None:
    # BOIN.simulate run on R's uniforms, laid out per trial in the order get.oc consumed them,
    # must give the same trials as the scalar replay and hence the published numbers.
    ref, design, summary = replayed
    u = summary.uniforms
    latent = LatentPatients(tox=u, time=np.full_like(u, 0.5), gap=np.full_like(u, 0.5))
    out = design.simulate(np.asarray(ref["args"]["p_true"]), latent)
    scalar = np.array([-1 if s is None else s for s in summary.selected])
    np.testing.assert_array_equal(out.selected, scalar)
    oc = out.summary()
    # get.oc's percentstop is the share of trials without an MTD (early stop or none
    # acceptable), i.e. no_mtd_pct; TrialOutcomes.stopped_early also counts n.earlystop stops.
    ours = {
        "selpercent": oc.selected_pct,
        "npatients": oc.mean_patients,
        "ntox": oc.mean_dlts,
        "totaltox": float(np.sum(oc.mean_dlts)),
        "totaln": oc.mean_n,
        "percentstop": oc.no_mtd_pct,
    }
    _assert_matches(ours, ref["printed"])


@pytest.mark.parametrize("ref", PUBLISHED, ids=[r["id"] for r in PUBLISHED])
def test_vectorised_simulator_monte_carlo(ref: dict[str, Any]) -> None:
    # Independent latent patients (PCG64), n_sim trials. Tolerance: 3 binomial standard errors
    # of the difference between two independent selection percentages,
    # 100 * sqrt(p (1 - p) (1 / n_sim + 1 / n_ref)), with p the published proportion and n_ref
    # the published number of trials (the published figure has its own Monte Carlo error).
    args = ref["args"]
    design = _design(args)
    n_sim = 40_000
    latent = LatentPatients.draw(n_sim, design.max_patients, seed=20240531)
    oc = design.simulate(np.asarray(args["p_true"]), latent).summary()
    published = [float(x) for x in ref["printed"]["selpercent"]]
    published.append(float(ref["printed"]["percentstop"]))
    ours = [*oc.selected_pct, oc.no_mtd_pct]
    for got, pct in zip(ours, published, strict=True):
        p = pct / 100
        se = 100 * math.sqrt(p * (1 - p) * (1 / n_sim + 1 / args["n_trials"]))
        assert abs(got - pct) <= 3 * se, (got, pct, se)


class _StayDesign:
    """Always stays at the current dose and selects it; records what it was shown."""

    name = "stay"

    def __init__(self, n_doses: int) -> None:
        self.n_doses = n_doses
        self.seen: list[tuple[list[int], list[int], int | None]] = []

    def decide(self, state: TrialState) -> Decision:
        n, y = state.evaluable_counts()
        self.seen.append((n.tolist(), y.tolist(), state.current_dose))
        return Decision(state.current_dose, True, (), "stay")

    def select_mtd(self, state: TrialState) -> int | None:
        return state.current_dose


def test_replay_draws_in_get_oc_order() -> None:
    # get.oc >= 2.7: every cohort draws cohortsize uniforms; the cohort that reaches
    # ncohort * cohortsize ends the trial without a decision. With a design that never moves,
    # trial t consumes draws [t * npts, (t + 1) * npts) of R's stream and the design is asked
    # after cohorts 1 to ncohort - 1 only (decisions are memoised on the counts it sees).
    design = _StayDesign(3)
    p = [0.2, 0.3, 0.4]
    out = replay_boin_get_oc(design, p, n_cohorts=4, cohort_size=3, n_trials=5, seed=6, start=1)
    stream = RStream(6).runif(5 * 12).reshape(5, 12)
    np.testing.assert_array_equal(out.uniforms, stream)
    assert {tuple(n) for n, _, _ in design.seen} == {(0, 3, 0), (0, 6, 0), (0, 9, 0)}
    assert out.npatients == [0.0, 12.0, 0.0]
    assert out.ntox[1] == pytest.approx((stream < 0.3).sum(axis=1).mean())
    assert out.selpercent == [0.0, 100.0, 0.0]
    first_dlts = int((stream[0, :3] < 0.3).sum())
    assert design.seen[0] == ([0, 3, 0], [0, first_dlts, 0], 1)
