"""MTD selection by isotonic regression, shared by BOIN, TITE-BOIN, Keyboard, mTPI-2 and i3+3.

Among treated doses below the lowest eliminated one, the weighted isotonic (PAVA) estimate of
p̂ = (y + 0.05)/(n + 0.1), weights 1/var under Beta(0.05, 0.05), closest to the target is
selected (Liu & Yuan 2015, section 2.4; BOIN ``select.mtd``, Keyboard ``select.mtd.kb``, the
same rule for mTPI-2 and i3+3 in Guo et al. 2017).
"""

from __future__ import annotations

import numpy as np

from oncotrial.designs.simulation import unique_rows
from oncotrial.stats.isotonic import pava_batch


def isotonic_mtd(
    n: np.ndarray,
    y: np.ndarray,
    target: float,
    lowest_eliminated: np.ndarray,
    bound_mtd_above: float | None = None,
) -> np.ndarray:
    """:func:`isotonic_mtd_rows` computed once per distinct row of counts.

    Simulated trials end in far fewer distinct (n, y, eliminated) patterns than there are
    trials, so the isotonic fits run on the distinct patterns only.
    """
    n = np.atleast_2d(n)
    y = np.atleast_2d(y)
    lowest = np.asarray(lowest_eliminated).reshape(-1, 1)
    keys = np.concatenate([n, y, lowest], axis=1)
    if keys.shape[0] < 64:
        return isotonic_mtd_rows(n, y, target, lowest[:, 0], bound_mtd_above)
    unique, inverse = unique_rows(keys)
    n_doses = n.shape[1]
    picked = isotonic_mtd_rows(
        unique[:, :n_doses],
        unique[:, n_doses : 2 * n_doses],
        target,
        unique[:, -1],
        bound_mtd_above,
    )
    return picked[inverse]


def isotonic_mtd_rows(
    n: np.ndarray,
    y: np.ndarray,
    target: float,
    lowest_eliminated: np.ndarray,
    bound_mtd_above: float | None = None,
) -> np.ndarray:
    """MTD per row of (trials, doses) counts: -1 when no dose is acceptable.

    Among treated, non-eliminated doses, the isotonic (weighted PAVA) estimate of
    p̂ = (y + 0.05)/(n + 0.1) with weights 1/var closest to the target is selected; ties
    between pooled doses are broken by adding i·1e-10 to the i-th admissible estimate, so the
    lower dose wins above the target and the higher below it (Liu & Yuan 2015, section 2.4;
    BOIN R package ``select.mtd``). ``bound_mtd_above`` (λd) restricts the choice to estimates
    below it (``boundMTD``).
    """
    n = np.atleast_2d(n)
    y = np.atleast_2d(y)
    n_doses = n.shape[1]
    dose_idx = np.arange(n_doses)
    admissible = (n > 0) & (dose_idx[None, :] < np.asarray(lowest_eliminated)[:, None])
    phat = (y + 0.05) / (n + 0.1)
    var = (y + 0.05) * (n - y + 0.05) / ((n + 0.1) ** 2 * (n + 0.1 + 1))
    fit = pava_batch(phat, 1.0 / var, admissible)
    rank = np.cumsum(admissible, axis=1)
    fit = fit + rank * 1e-10
    allowed = admissible
    if bound_mtd_above is not None:
        allowed = admissible & (fit < bound_mtd_above)
    distance = np.where(allowed, np.abs(fit - target), np.inf)
    best = np.argmin(distance, axis=1)
    return np.where(allowed.any(axis=1), best, -1)
