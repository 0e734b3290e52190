"""Checked inputs of the survival kernels: times and 0/1 events, grouping variables coded as R
``factor`` codes them (levels in sorted order), and the normal quantile of a confidence level.

Everything here is linear in the number of observations or a single sort, so that the kernels
stay fast on 10⁶ subjects; errors name the (0-based) position of the first bad value.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

#: Widest range of integer labels coded by counting (``bincount``) instead of sorting.
MAX_COUNTED_RANGE = 1 << 20


def times_events(time: ArrayLike, event: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Validated float times and 0/1 events (as floats); errors name the (0-based) position.

    Parameters
    ----------
    time, event
        One value per observation; ``event`` is 1 for an event and 0 for a censoring.

    Returns
    -------
    The times and events as float arrays.
    """
    t = np.asarray(time, dtype=float)
    e_raw = np.asarray(event)
    if t.ndim != 1 or e_raw.shape != t.shape:
        raise ValueError("time and event must be one-dimensional and of the same length")
    if t.size == 0:
        raise ValueError("no observations")
    bad = np.flatnonzero(~np.isfinite(t))
    if bad.size:
        raise ValueError(f"time at position {bad[0]} is not a finite number ({t[bad[0]]})")
    e = e_raw.astype(float)
    bad = np.flatnonzero((e != 0) & (e != 1))
    if bad.size:
        raise ValueError(f"event at position {bad[0]} is not 0 or 1 ({e_raw[bad[0]]})")
    return t, e


def factor_codes(values: ArrayLike, what: str, n: int) -> tuple[np.ndarray, list[str]]:
    """Integer codes and labels of a grouping variable, levels in sorted order as R ``factor``
    (numbers before text when both occur); a missing value (None or NaN) is an error naming its
    position.

    Parameters
    ----------
    values
        One label per observation: numbers, text or booleans.
    what
        The variable's name in error messages (``"group"``, ``"strata"``).
    n
        The number of observations ``values`` must have.

    Returns
    -------
    codes
        ``int64`` code of each observation, 0 for the first level.
    labels
        The levels as text (``2.0`` as ``"2"``).

    Example
    -------
    >>> factor_codes(["b", "a", "b"], "group", 3)
    (array([1, 0, 1]), ['a', 'b'])
    """
    arr = np.asarray(values)
    if arr.shape != (n,):
        raise ValueError(f"{what} must have one value per observation")
    if arr.dtype.kind == "b":
        arr = arr.astype(np.int64)
    if arr.dtype.kind in "iu":
        codes, levels = _integer_codes(arr)
    elif arr.dtype.kind == "f":
        missing = np.flatnonzero(np.isnan(arr))
        if missing.size:
            raise ValueError(f"{what} at position {missing[0]} is missing")
        whole = np.all(arr == np.floor(arr)) and np.all(np.abs(arr) < 2.0**53)
        if whole:
            codes, levels = _integer_codes(arr.astype(np.int64))
        else:
            uniques, codes = np.unique(arr, return_inverse=True)
            levels = uniques.tolist()
    else:
        codes, levels = _object_codes(arr, what)
    return codes.astype(np.int64, copy=False), [_label(level) for level in levels]


def _integer_codes(arr: np.ndarray) -> tuple[np.ndarray, list]:
    """Codes of integer labels: by counting when their range is small, else by sorting."""
    low, high = int(arr.min()), int(arr.max())
    if high - low >= MAX_COUNTED_RANGE:
        uniques, codes = np.unique(arr, return_inverse=True)
        return codes, uniques.tolist()
    shifted = arr - low
    present = np.bincount(shifted, minlength=high - low + 1) > 0
    code_of = np.cumsum(present) - 1
    return code_of[shifted], (np.flatnonzero(present) + low).tolist()


def _object_codes(arr: np.ndarray, what: str) -> tuple[np.ndarray, list]:
    """Codes of text (or mixed) labels: hashed once per observation (pandas ``factorize``), the
    few distinct levels sorted afterwards with numbers first, as R ``factor`` would order a
    character or numeric column."""
    import pandas as pd  # only text labels need it; numeric callers skip the import

    raw, uniques = pd.factorize(arr.astype(object, copy=False), use_na_sentinel=True)
    missing = np.flatnonzero(raw < 0)
    if missing.size:
        raise ValueError(f"{what} at position {missing[0]} is missing")
    first = list(uniques)
    order = sorted(range(len(first)), key=lambda j: (isinstance(first[j], str), first[j]))
    rank = np.empty(len(first), dtype=np.int64)
    rank[order] = np.arange(len(first))
    return rank[raw], [first[j] for j in order]


def _label(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def normal_quantile(conf_level: float) -> float:
    """The two-sided normal quantile ``z`` of a confidence level (1.959964 for 0.95)."""
    if not 0.0 < conf_level < 1.0:
        raise ValueError(f"the confidence level must be in (0, 1), not {conf_level}")
    return float(special.ndtri(1.0 - (1.0 - conf_level) / 2.0))


def chi2_upper(chisq: float, df: int) -> float:
    """Upper-tail probability of a chi-square statistic (NaN without degrees of freedom)."""
    return float(special.chdtrc(df, chisq)) if df >= 1 else float("nan")


def normal_two_sided(z: np.ndarray) -> np.ndarray:
    """Two-sided p-values ``2 P(Z > |z|)`` of normal deviates."""
    return 2.0 * special.ndtr(-np.abs(z))
