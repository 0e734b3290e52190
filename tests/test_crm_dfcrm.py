"""CRM and TITE-CRM against the dfcrm package itself (issue 7 §8).

``tests/reference/crm/dfcrm_reference.csv`` is written by ``make_dfcrm_reference.R`` with dfcrm
0.2-2.1 (``getprior``, ``crm``, ``titecrm``), installed from its CRAN GitHub mirror. dfcrm
integrates the posterior with R's ``integrate`` at its default tolerance, so numbers are compared
to 1e-7; dose paths, DLTs and recommendations exactly.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from oncotrial.designs.base import Patient, TrialState
from oncotrial.designs.crm import CRM, TITECRM, crm_posterior, crm_skeleton, tite_weights
from test_crm import play_cohorts

DFCRM = Path(__file__).parent / "reference" / "crm" / "dfcrm_reference.csv"
SKELETON = (0.05, 0.10, 0.20, 0.35, 0.50, 0.70)
LEVELS = np.array([3, 4, 4, 3, 3, 4, 3, 2, 2, 2]) - 1
TOX = np.array([0, 0, 1, 0, 0, 1, 1, 0, 0, 0])
ATOL = 1e-7


def _load() -> dict[tuple[str, str], np.ndarray]:
    values: dict[tuple[str, str], list[float]] = defaultdict(list)
    with DFCRM.open() as handle:
        for row in csv.DictReader(handle):
            values[(row["case"], row["quantity"])].append(float(row["value"]))
    return {key: np.array(v) for key, v in values.items()}


R = _load()


def _state(levels: list[int], tox: list[int], n_doses: int = 6) -> TrialState:
    return TrialState(
        n_doses, tuple(Patient(int(d), bool(t)) for d, t in zip(levels, tox, strict=True))
    )


@pytest.mark.parametrize(
    ("case", "target", "level", "n", "halfwidth", "model"),
    [
        ("skeleton_e_0.05_0.25_3_5", 0.25, 2, 5, 0.05, "empiric"),
        ("skeleton_e_0.04_0.20_4_6", 0.20, 3, 6, 0.04, "empiric"),
        ("skeleton_l_0.10_0.25_3_6", 0.25, 2, 6, 0.10, "logistic"),
    ],
)
def test_skeleton_is_getprior(
    case: str, target: float, level: int, n: int, halfwidth: float, model: str
) -> None:
    got = crm_skeleton(target, level, n, halfwidth, model)
    np.testing.assert_allclose(got, R[(case, "skeleton")], rtol=0, atol=1e-12)


@pytest.mark.parametrize("model", ["empiric", "logistic"])
def test_posterior_is_crm(model: str) -> None:
    post = crm_posterior(SKELETON, LEVELS, TOX, target=0.2, model=model)
    case = f"dfcrm_example_{model}"
    assert post.beta == pytest.approx(R[(case, "beta")][0], abs=ATOL)
    assert post.beta_var == pytest.approx(R[(case, "beta_var")][0], abs=ATOL)
    np.testing.assert_allclose(post.ptox, R[(case, "ptox")], atol=ATOL)
    design = CRM(skeleton=SKELETON, target=0.2, max_patients=24, model=model)
    assert design.select_mtd(_state(list(LEVELS), list(TOX))) == int(R[(case, "mtd")][0])


def test_two_dlts_in_three_at_the_lowest_dose() -> None:
    post = crm_posterior(SKELETON, [0, 0, 0], [1, 1, 0], target=0.2)
    assert post.beta == pytest.approx(R[("safety_2of3", "beta")][0], abs=ATOL)
    assert int(np.argmin(np.abs(post.ptox - 0.2))) == int(R[("safety_2of3", "mtd")][0]) == 0


@pytest.mark.parametrize("scheme", ["linear", "adaptive"])
def test_tite_weights_and_posterior_are_titecrm(scheme: str) -> None:
    levels = np.array([1, 2, 2, 3, 3, 3, 3, 2]) - 1
    tox = np.array([0, 0, 1, 0, 0, 1, 0, 0], dtype=bool)
    followup = np.array([28, 28, 10, 28, 24, 21, 14, 3], dtype=float)
    weights = tite_weights(followup, tox, followup, 28.0, scheme)
    np.testing.assert_allclose(weights, R[("tite", f"weights_{scheme}")], atol=1e-12)
    post = crm_posterior(SKELETON, levels, tox, weights, target=0.2)
    assert post.beta == pytest.approx(R[(f"tite_{scheme}", "beta")][0], abs=ATOL)
    np.testing.assert_allclose(post.ptox, R[(f"tite_{scheme}", "ptox")], atol=ATOL)
    patients = tuple(
        Patient(int(lv), bool(t), float(f) if t else None, float(f))
        for lv, t, f in zip(levels, tox, followup, strict=True)
    )
    decision = TITECRM(skeleton=SKELETON, target=0.2, max_patients=20, scheme=scheme).decide(
        TrialState(6, patients, window_days=28.0)
    )
    assert decision.details["beta"] == pytest.approx(R[(f"tite_{scheme}", "beta")][0], abs=ATOL)


@pytest.mark.parametrize(
    ("case", "skeleton", "target", "truth", "cohort", "start", "model"),
    [
        ("trace_m1_empiric", SKELETON, 0.2, (0.06, 0.12, 0.22, 0.33, 0.50, 0.65), 1, 2, "empiric"),
        ("trace_m3_empiric", None, 0.25, (0.08, 0.15, 0.30, 0.45, 0.60, 0.75), 3, 0, "empiric"),
        ("trace_m3_logistic", None, 0.25, (0.08, 0.15, 0.30, 0.45, 0.60, 0.75), 3, 0, "logistic"),
    ],
)
def test_trial_follows_dfcrm_cohort_by_cohort(
    case: str,
    skeleton: tuple[float, ...] | None,
    target: float,
    truth: tuple[float, ...],
    cohort: int,
    start: int,
    model: str,
) -> None:
    """The same latent uniforms: dfcrm's posterior and recommendation after every cohort, with
    the restrict = TRUE rules of its crmsim (no skipping, no escalation right after a DLT rate
    at or above the target)."""
    skeleton = skeleton or tuple(crm_skeleton(0.25, 2, 6, 0.05))
    u = R[(case, "u")]
    design = CRM(
        skeleton=skeleton,
        target=target,
        max_patients=u.size,
        cohort_size=cohort,
        start=start,
        model=model,
    )
    levels, tox, betas, nexts, decision = play_cohorts(design, u, truth, cohort, start)
    np.testing.assert_array_equal(levels, R[(case, "levels")])
    np.testing.assert_array_equal(tox, R[(case, "dlt")])
    np.testing.assert_array_equal(nexts, R[(case, "next")])
    np.testing.assert_allclose(betas, R[(case, "beta")], atol=ATOL)
    assert decision.mtd == int(R[(case, "mtd")][-1])
