"""The fast paths of the speed targets (issue 10, section 4) give the same numbers as the
general ones: BOIN's exact binomial tail against scipy's regularised incomplete beta, and a
BOIN simulation that never loads scipy."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from scipy import special

from oncotrial.designs.boin import posterior_prob_above


def test_beta_tail_is_scipy_betaincc() -> None:
    for target in (0.1, 0.2, 0.25, 0.3, 1 / 3, 0.4, 0.5):
        for n in range(1, 80):
            ys = np.arange(n + 1)
            ours = posterior_prob_above(target, np.full_like(ys, n), ys)
            ref = special.betaincc(ys + 1, n - ys + 1, target)
            np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-15)


def test_boin_simulation_does_not_load_scipy() -> None:
    code = (
        "import sys\n"
        "from oncotrial.designs.registry import DesignSpec, build_design\n"
        "from oncotrial.sim.operating import Scenario, operating_characteristics\n"
        "d = build_design(DesignSpec(name='boin', n_doses=5, target=0.3))\n"
        "operating_characteristics([d], [Scenario('s', (0.05, 0.15, 0.3, 0.45, 0.6))], 200, 1)\n"
        "print('scipy.special._ufuncs' in sys.modules, 'pydantic_core' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_tite_crm_posterior_without_logs_equals_log_path() -> None:
    """The compiled TITE-CRM posterior from exp(known) * prod(1 - w p) equals the one from
    known + log prod(1 - w p), and hands over to the log path when the product underflows."""
    from oncotrial.designs.tite_crm_simulation import _posterior, _posterior_pending, _scaled

    rng = np.random.default_rng(3)
    beta = np.linspace(-4, 4, 64)
    below = rng.random(64)
    for _ in range(20):
        known = rng.normal(-30, 10, 64)
        pending = np.prod(1 - rng.random((3, 1)) * rng.random((3, 64)), axis=0)
        scaled = np.empty(64)
        _scaled(known, scaled)
        fast = _posterior_pending(scaled, pending, beta, below)
        slow = _posterior(known + np.log(pending), beta, below)
        np.testing.assert_allclose(fast, slow, rtol=1e-12, atol=1e-14)
    assert np.isnan(_posterior_pending(scaled, np.zeros(64), beta, below)[0])
