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
