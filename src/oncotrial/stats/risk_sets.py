"""Risk sets of right-censored data, built with one sort: the order of observations by stratum
then time, the rows of distinct (stratum, time) with events, censorings and numbers at risk per
group, and sums accumulated within each stratum.

Every survival kernel (Kaplan–Meier, log-rank, Cox) reads its risk sets from here. The risk set
at time t holds everyone of the stratum whose observed time is ≥ t, so a censoring tied with an
event counts as at risk for it (R ``survival`` convention; Kalbfleisch & Prentice 2002, §1.2).
Times that differ only by floating-point noise are tied first, as R does by default
(``timefix = TRUE``, ``survival:::aeqSurv`` in survival 3.5; see :func:`merge_near_ties`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

#: R ``aeqSurv``'s tolerance: sqrt(.Machine$double.eps)
TIME_TOLERANCE = float(np.sqrt(np.finfo(float).eps))


@dataclass(frozen=True)
class SortedTimes:
    """Observations sorted by stratum, then time: the permutation, the (near-tie merged)
    times and stratum codes in that order, and where each run of one (stratum, time) starts."""

    order: np.ndarray
    time: np.ndarray
    stratum: np.ndarray | None
    new_run: np.ndarray


def sort_times(
    time: np.ndarray, strata: np.ndarray | None = None, timefix: bool = True
) -> SortedTimes:
    """Sort checked times by stratum (integer codes), then time, with one ``argsort``; with
    ``timefix`` near-equal times are merged first (:func:`merge_near_ties`). The order among
    tied times is unspecified: every kernel treats a tied time as one step."""
    order = np.argsort(time)
    ts = time[order]
    if timefix:
        ts = merge_near_ties(ts)
    ss = None
    if strata is not None:
        small = strata.astype(np.int16) if strata.max() < np.iinfo(np.int16).max else strata
        by_stratum = np.argsort(small[order], kind="stable")
        order, ts = order[by_stratum], ts[by_stratum]
        ss = strata[order]
    new_run = np.empty(ts.size, dtype=bool)
    new_run[:1] = True
    np.not_equal(ts[1:], ts[:-1], out=new_run[1:])
    if ss is not None:
        new_run[1:] |= ss[1:] != ss[:-1]
    return SortedTimes(order=order, time=ts, stratum=ss, new_run=new_run)


def merge_near_ties(sorted_time: np.ndarray, tolerance: float = TIME_TOLERANCE) -> np.ndarray:
    """Times that differ by floating-point noise made equal, as R ``survival:::aeqSurv`` (the
    ``timefix`` of ``survfit``, ``survdiff`` and ``coxph``): among the sorted distinct times, a
    gap is a tie when it is ≤ ``tolerance`` or ≤ ``tolerance`` × the mean of their absolute
    values; every time becomes the first time of its chain of tied gaps.

    Example
    -------
    >>> merge_near_ties(np.array([1.0, 1.0 + 1e-12, 2.0, 3.0])).tolist()
    [1.0, 1.0, 2.0, 3.0]
    """
    new = np.empty(sorted_time.size, dtype=bool)
    new[:1] = True
    np.not_equal(sorted_time[1:], sorted_time[:-1], out=new[1:])
    distinct = sorted_time[new]
    gaps = np.diff(distinct)
    if gaps.size == 0:
        return sorted_time
    tied = (gaps <= tolerance) | (gaps / np.mean(np.abs(distinct)) <= tolerance)
    if not tied.any():
        return sorted_time
    starts_chain = np.concatenate(([True], ~tied))
    chain_first = np.flatnonzero(starts_chain)[np.cumsum(starts_chain) - 1]
    return distinct[chain_first][np.cumsum(new) - 1]


def segment_bounds(stratum: np.ndarray) -> np.ndarray:
    """Where each run of equal values starts in a sorted array, and its length at the end: run
    ``i`` is ``[bounds[i], bounds[i + 1])``."""
    if stratum.size == 0:
        return np.zeros(1, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate(([True], stratum[1:] != stratum[:-1])))
    return np.append(starts, stratum.size)


def accumulate_within(
    values: np.ndarray,
    bounds: np.ndarray,
    accumulate: Callable[..., np.ndarray] = np.cumsum,
    reverse: bool = False,
) -> np.ndarray:
    """``accumulate`` (``np.cumsum``, ``np.cumprod``) along the last axis within each segment
    of ``bounds`` (see :func:`segment_bounds`), from the end of the segment if ``reverse``.

    Each segment is accumulated on its own, so a stratum's sums never carry the rounding of
    another stratum's (as R's C code restarts its sums at each stratum).
    """
    out = np.empty_like(values)
    for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        if reverse:
            accumulate(values[..., a:b][..., ::-1], axis=-1, out=out[..., a:b][..., ::-1])
        else:
            accumulate(values[..., a:b], axis=-1, out=out[..., a:b])
    return out


@dataclass(frozen=True)
class RiskTable:
    """One row per distinct (stratum, time), strata in code order and times increasing within
    each. ``n_event``, ``n_leaving`` (events and censorings) and ``n_risk`` (observed time ≥ the
    row's time, within the stratum) are ``(groups, rows)`` arrays: one line per group."""

    time: np.ndarray
    stratum: np.ndarray
    n_event: np.ndarray
    n_leaving: np.ndarray
    n_risk: np.ndarray

    @property
    def n_censor(self) -> np.ndarray:
        """Censorings per group and row."""
        return self.n_leaving - self.n_event

    @property
    def bounds(self) -> np.ndarray:
        """Row ranges of the strata (:func:`segment_bounds`)."""
        return segment_bounds(self.stratum)


def risk_table(
    time: np.ndarray,
    event: np.ndarray,
    group: np.ndarray | None = None,
    n_groups: int = 1,
    strata: np.ndarray | None = None,
    timefix: bool = True,
) -> RiskTable:
    """The life table of checked times and 0/1 events by group (codes ``0..n_groups-1``) and
    stratum (codes), from one sort and counting.

    Parameters
    ----------
    time, event
        Checked float times and 0/1 events (:func:`~oncotrial.stats.survival_input.times_events`).
    group, n_groups
        Integer group codes and their number; one group when ``group`` is None.
    strata
        Integer stratum codes, or None for one stratum.
    timefix
        Merge near-equal times first, as R (:func:`merge_near_ties`).

    Returns
    -------
    RiskTable
        Counts as ``(n_groups, rows)`` integer arrays.

    Example
    -------
    >>> table = risk_table(np.array([3.0, 1.0, 3.0]), np.array([1.0, 1.0, 0.0]))
    >>> table.time.tolist(), table.n_risk[0].tolist(), table.n_event[0].tolist()
    ([1.0, 3.0], [3, 2], [1, 1])
    """
    sorted_ = sort_times(time, strata, timefix)
    order, ts, ss, new_row = sorted_.order, sorted_.time, sorted_.stratum, sorted_.new_run
    row = np.cumsum(new_row) - 1
    rows = int(row[-1]) + 1 if row.size else 0
    cell = row if group is None else np.take(group, order) * rows + row
    size = rows * n_groups
    n_leaving = np.bincount(cell, minlength=size).reshape(n_groups, rows)
    n_event = np.bincount(cell[np.take(event, order) == 1], minlength=size)
    n_event = n_event.reshape(n_groups, rows)
    row_stratum = np.zeros(rows, dtype=np.int64) if ss is None else ss[new_row]
    # at risk: everyone leaving at this row or later, less those of the strata after this one
    n_risk = n_leaving[:, ::-1].cumsum(axis=1)[:, ::-1]
    if ss is not None:
        bounds = segment_bounds(row_stratum)
        later = np.append(n_risk[:, bounds[1:-1]], np.zeros((n_groups, 1), dtype=np.int64), 1)
        n_risk -= np.repeat(later, np.diff(bounds), axis=1)
    return RiskTable(
        time=ts[new_row],
        stratum=row_stratum,
        n_event=n_event,
        n_leaving=n_leaving,
        n_risk=n_risk,
    )
