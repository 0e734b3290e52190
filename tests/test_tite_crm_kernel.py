"""The compiled TITE-CRM simulator (tite_crm_simulation) against the numpy path it replaces,
trial by trial on the same latent patients (the numpy path is itself checked against
``TITECRM.decide`` and dfcrm in test_crm.py)."""

from __future__ import annotations

import numpy as np
import pytest

from oncotrial.designs.crm import TITECRM
from oncotrial.designs.simulation import AccrualModel, LatentPatients

SKELETON = (0.05, 0.10, 0.20, 0.35, 0.50, 0.70)
TRUTH = np.array([0.02, 0.06, 0.12, 0.20, 0.30, 0.45])


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"safety_stop": 0.8},
        {"restrict": False},
        {"model": "logistic", "start": 1},
        {"restrict": False, "no_skip": True, "no_skip_down": True},
    ],
    ids=["restrict", "safety", "free", "logistic", "no-skip-either-way"],
)
def test_compiled_simulator_equals_numpy_path(options: dict) -> None:
    design = TITECRM(skeleton=SKELETON, target=0.2, max_patients=18, **options)
    latent = LatentPatients.draw(600, 18, seed=9)
    accrual = AccrualModel(4.0)
    fast, fast_doses = design.simulate_paths(TRUTH * 1.5, latent, accrual)
    slow, slow_doses = design.simulate_paths(TRUTH * 1.5, latent, accrual, compiled=False)
    np.testing.assert_array_equal(fast_doses, slow_doses)
    np.testing.assert_array_equal(fast.selected, slow.selected)
    np.testing.assert_array_equal(fast.stopped_early, slow.stopped_early)
    np.testing.assert_allclose(fast.duration_days, slow.duration_days, rtol=0, atol=1e-9)
    assert fast.summary().stop_reason_pct == slow.summary().stop_reason_pct
