"""Weighted isotonic (non-decreasing) regression by the pool-adjacent-violators algorithm.

Barlow, Bartholomew, Bremner & Brunk (1972), *Statistical Inference under Order Restrictions*,
ch. 1; used for MTD selection by BOIN (Liu & Yuan 2015, section 2.4) and interval designs.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def pava(values: ArrayLike, weights: ArrayLike | None = None) -> np.ndarray:
    """Non-decreasing fit minimising the weighted squared error to ``values``."""
    y = np.asarray(values, dtype=float)
    w = np.ones_like(y) if weights is None else np.asarray(weights, dtype=float)
    if y.ndim != 1 or w.shape != y.shape:
        raise ValueError("pava expects one-dimensional values and matching weights")
    if np.any(w <= 0):
        raise ValueError("pava weights must be positive")
    means: list[float] = []
    wsum: list[float] = []
    sizes: list[int] = []
    for yi, wi in zip(y, w, strict=True):
        means.append(float(yi))
        wsum.append(float(wi))
        sizes.append(1)
        while len(means) > 1 and means[-2] > means[-1]:
            w_new = wsum[-2] + wsum[-1]
            m_new = (means[-2] * wsum[-2] + means[-1] * wsum[-1]) / w_new
            size = sizes[-2] + sizes[-1]
            del means[-1], wsum[-1], sizes[-1]
            means[-1], wsum[-1], sizes[-1] = m_new, w_new, size
    return np.repeat(means, sizes)


def pava_batch(values: np.ndarray, weights: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Row-wise weighted isotonic regression for many short rows at once.

    ``valid`` marks the entries that take part (invalid ones get NaN); valid entries need not be
    contiguous. Uses the max–min formula ``f_i = max_{j<=i} min_{k>=i} Av(j..k)`` (Barlow et al.
    1972, Theorem 1.4), which is O(D^3) per row but vectorised over rows — fast for dose counts.
    """
    y = np.asarray(values, dtype=float)
    w = np.where(valid, np.asarray(weights, dtype=float), 0.0)
    wy = np.where(valid, w * y, 0.0)
    n_rows, d = y.shape
    cw = np.concatenate([np.zeros((n_rows, 1)), np.cumsum(w, axis=1)], axis=1)
    cwy = np.concatenate([np.zeros((n_rows, 1)), np.cumsum(wy, axis=1)], axis=1)
    # avg[:, j, k] = weighted mean of entries j..k (inclusive), NaN when they hold no weight
    sw = cw[:, None, 1:] - cw[:, :-1, None]
    swy = cwy[:, None, 1:] - cwy[:, :-1, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        avg = swy / sw
    j_idx, k_idx = np.meshgrid(np.arange(d), np.arange(d), indexing="ij")
    upper = k_idx >= j_idx
    avg = np.where(upper[None] & (sw > 0), avg, np.nan)
    fit = np.full((n_rows, d), np.nan)
    for i in range(d):
        block = avg[:, : i + 1, i:]
        inner = np.nanmin(np.where(np.isnan(block), np.inf, block), axis=2)
        inner = np.where(np.isinf(inner), np.nan, inner)
        fit[:, i] = np.nanmax(np.where(np.isnan(inner), -np.inf, inner), axis=1)
    return np.where(valid, fit, np.nan)
