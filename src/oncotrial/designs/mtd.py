"""MTD selection by isotonic regression, shared by BOIN, TITE-BOIN, Keyboard, mTPI-2 and i3+3.

Among treated doses below the lowest eliminated one, the weighted isotonic (PAVA) estimate of
p̂ = (y + 0.05)/(n + 0.1), weights 1/var under Beta(0.05, 0.05), closest to the target is
selected (Liu & Yuan 2015, section 2.4; BOIN ``select.mtd``, Keyboard ``select.mtd.kb``, the
same rule for mTPI-2 and i3+3 in Guo et al. 2017).
"""

from __future__ import annotations

from collections.abc import Callable

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
    n_doses = n.shape[1]
    radix = int(keys.max(initial=0)) + 1
    if keys.min(initial=0) >= 0 and max(radix - 1, 1).bit_length() * keys.shape[1] <= 62:
        return _remembered_mtd(keys, radix, n_doses, target, bound_mtd_above)
    unique, inverse = unique_rows(keys)
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


#: Patterns already fitted, per (target, bound, doses, radix): sorted packed keys and MTDs.
#: Blocks of one simulation end in largely the same patterns, so each is fitted once.
_FITTED: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
_FITTED_MAX = 1_000_000


def isotonic_mtd_from_keys(
    keys: np.ndarray,
    width: int,
    radix: int,
    lowest_eliminated: np.ndarray,
    target: float,
    bound_mtd_above: float | None = None,
) -> np.ndarray:
    """:func:`isotonic_mtd` of counts held as one key ``n * width + y < radix`` per dose (the
    table simulator's state): the patterns are packed from the keys themselves, half the
    columns of ``[n, y, lowest]``."""
    n_trials, n_doses = keys.shape
    bits = max(radix - 1, 1).bit_length() * n_doses + max(n_doses, 1).bit_length()
    if n_trials < 64 or bits > 62:
        n, y = keys // width, keys % width
        return isotonic_mtd(n, y, target, lowest_eliminated, bound_mtd_above)
    packed = _pack(np.column_stack([lowest_eliminated, keys]), radix)

    def unpack(new: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rows = _unpack(new, radix, n_doses + 1)
        return rows[:, 1:] // width, rows[:, 1:] % width, rows[:, 0]

    memo = ("keys", target, bound_mtd_above, n_doses, radix, width)
    return _remembered(packed, memo, unpack, target, bound_mtd_above)


def _remembered_mtd(
    keys: np.ndarray, radix: int, n_doses: int, target: float, bound: float | None
) -> np.ndarray:
    """:func:`isotonic_mtd_rows` of each row of ``[n, y, lowest]`` (packed base ``radix``),
    fitting only the patterns not fitted before."""
    packed = _pack(keys, radix)

    def unpack(new: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rows = _unpack(new, radix, keys.shape[1])
        return rows[:, :n_doses], rows[:, n_doses : 2 * n_doses], rows[:, -1]

    return _remembered(packed, (target, bound, n_doses, radix), unpack, target, bound)


def _pack(columns: np.ndarray, radix: int) -> np.ndarray:
    """One int64 key per row of non-negative integers below ``radix`` (first column highest)."""
    packed = np.zeros(columns.shape[0], dtype=np.int64)
    for column in columns.T:
        packed = packed * radix + column
    return packed


def _unpack(packed: np.ndarray, radix: int, n_columns: int) -> np.ndarray:
    """The rows :func:`_pack` packed."""
    rows = np.empty((packed.size, n_columns), dtype=np.int64)
    rest = packed.copy()
    for k in range(n_columns - 1, -1, -1):
        rest, rows[:, k] = np.divmod(rest, radix)
    return rows


def _remembered(
    packed: np.ndarray,
    memo: tuple,
    unpack: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]],
    target: float,
    bound: float | None,
) -> np.ndarray:
    """The MTD of each packed pattern, fitting (``unpack`` → n, y, lowest) only the patterns
    not fitted before under ``memo``."""
    unique, inverse = np.unique(packed, return_inverse=True)
    known_keys, known_mtd = _FITTED.get(memo, (np.zeros(0, np.int64), np.zeros(0, np.int64)))
    at = np.minimum(np.searchsorted(known_keys, unique), max(known_keys.size - 1, 0))
    hit = known_keys[at] == unique if known_keys.size else np.zeros(unique.size, dtype=bool)
    picked = np.empty(unique.size, dtype=np.int64)
    picked[hit] = known_mtd[at[hit]]
    new = unique[~hit]
    if new.size:
        n, y, lowest = unpack(new)
        fitted = isotonic_mtd_rows(n, y, target, lowest, bound)
        picked[~hit] = fitted
        if len(_FITTED) >= 64 and memo not in _FITTED:
            _FITTED.clear()
        if known_keys.size + new.size <= _FITTED_MAX:
            merged = np.concatenate([known_keys, new])
            order = np.argsort(merged, kind="stable")
            _FITTED[memo] = (merged[order], np.concatenate([known_mtd, fitted])[order])
    return picked[inverse.reshape(-1)]
