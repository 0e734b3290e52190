"""The expansion part of a simulated seamless study, vectorised across trials.

Single-arm expansions (Simon's two-stage design, BOP2) run on the design's own looks and
boundaries: at look j with ``n_j`` patients the trial stops for futility when the responses are
at most ``b_j``; at the last look H0 is rejected (a positive phase II) when they exceed it —
Simon (1989) is the two-look case ``(n1, n)``, ``(r1, r)``; BOP2 (Zhou, Lee & Yuan 2017) uses
the calibrated boundaries of :func:`~oncotrial.designs.phase2.calibrate_bop2`.

ROSE (Wang, Yuan & Liu 2025) randomises the two selected doses 1:1 (expansion patient 2k to the
lower dose, 2k + 1 to the higher) and selects the higher dose when its response count exceeds
the lower one's by more than the design's cut (:meth:`~oncotrial.designs.rose.RoseDesign.cut`),
at the interim (early) or at the end — the comparisons of
:func:`~oncotrial.designs.rose.simulate_rose`, here with a truth that differs from trial to trial.

Expansion patient j of a trial carries one response uniform (responds iff it is below the
response probability of the dose given) and one arrival gap; both come from their own streams, so
every candidate design of a scenario sees the same expansion patients.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from oncotrial.designs.phase2 import Bop2Design, SimonDesign
from oncotrial.designs.rose import RoseDesign
from oncotrial.designs.simulation import AccrualModel


def looks_of(design: SimonDesign | Bop2Design) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(cumulative patients, futility/rejection boundary) at each analysis of the design."""
    if isinstance(design, SimonDesign):
        return (design.n1, design.n), (design.r1, design.r)
    return tuple(design.looks), tuple(design.boundaries)


def simulate_single_arm(
    looks: tuple[int, ...], bounds: tuple[int, ...], p: np.ndarray, u: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(positive, patients enrolled, analyses made) per trial; trial i's patients respond with
    probability ``p[i]`` (patient j responds iff ``u[i, j] < p[i]``)."""
    total = looks[-1]
    if u.shape[1] < total:
        raise ValueError(f"the expansion needs {total} latent patients per trial")
    x = np.cumsum(u[:, :total] < np.asarray(p)[:, None], axis=1)
    n_trials = u.shape[0]
    alive = np.ones(n_trials, dtype=bool)
    enrolled = np.full(n_trials, total, dtype=np.int64)
    analyses = np.full(n_trials, len(looks), dtype=np.int64)
    positive = np.zeros(n_trials, dtype=bool)
    for j, (n_j, b_j) in enumerate(zip(looks, bounds, strict=True)):
        x_j = x[:, n_j - 1]
        if j < len(looks) - 1:
            stop = alive & (x_j <= b_j)
            enrolled[stop] = n_j
            analyses[stop] = j + 1
            alive &= ~stop
        else:
            positive = alive & (x_j > b_j)
    return positive, enrolled, analyses


def simulate_rose_arms(
    design: RoseDesign,
    p_low: np.ndarray,
    p_high: np.ndarray,
    u_low: np.ndarray,
    u_high: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(higher dose selected, selected at the interim) per trial (module docstring)."""
    n = design.n_per_arm
    x_low = np.cumsum(u_low[:, :n] < np.asarray(p_low)[:, None], axis=1)
    x_high = np.cumsum(u_high[:, :n] < np.asarray(p_high)[:, None], axis=1)
    final = x_high[:, -1] - x_low[:, -1] > design.cut(n, design.boundary)
    early = np.zeros(u_low.shape[0], dtype=bool)
    if design.interim_n is not None and design.interim_boundary is not None:
        n1 = design.interim_n
        early = x_high[:, n1 - 1] - x_low[:, n1 - 1] > design.cut(n1, design.interim_boundary)
    return early | final, early


@dataclass
class ExpansionResult:
    """Per-trial expansion results: ``final`` the study's dose (-1: none), ``positive`` H0
    rejected (single-arm designs only), patients at the lower and higher selected doses, and
    the expansion's duration in days."""

    final: np.ndarray
    positive: np.ndarray
    n_low: np.ndarray
    n_high: np.ndarray
    duration_days: np.ndarray


def run_expansion(
    design: SimonDesign | Bop2Design | RoseDesign,
    low: np.ndarray,
    high: np.ndarray,
    p_eff: np.ndarray,
    eff_u: np.ndarray,
    gap_u: np.ndarray,
    accrual: AccrualModel,
    window_days: float,
) -> ExpansionResult:
    """The expansion of every trial at its selected dose(s) (``high`` alone for single-arm
    designs; -1: no dose selected, no expansion).

    Duration: patients arrive by ``accrual`` after the escalation; enrolment waits at every
    analysis until the last enrolled patient's response is known (``window_days``).
    """
    n_trials = high.shape[0]
    active = high >= 0
    zeros = np.zeros(n_trials, dtype=np.int64)
    p_eff = np.asarray(p_eff, dtype=float)
    if isinstance(design, RoseDesign):
        randomised = active & (low < high)
        h, early = simulate_rose_arms(
            design,
            p_eff[np.maximum(low, 0)],
            p_eff[np.maximum(high, 0)],
            eff_u[:, 0::2],
            eff_u[:, 1::2],
        )
        per_arm = np.where(early, design.interim_n or design.n_per_arm, design.n_per_arm)
        per_arm = np.where(randomised, per_arm, 0)
        analyses = np.where(randomised, np.where(early | (design.interim_n is None), 1, 2), 0)
        final = np.where(randomised & ~h, low, high)
        positive = np.zeros(n_trials, dtype=bool)
        n_low, n_high = per_arm, per_arm.copy()
    else:
        looks, bounds = looks_of(design)
        positive, enrolled, analyses = simulate_single_arm(
            looks, bounds, p_eff[np.maximum(high, 0)], eff_u
        )
        positive &= active
        analyses = np.where(active, analyses, 0)
        n_low, n_high = zeros, np.where(active, enrolled, 0)
        final = high
    enrolled_all = n_low + n_high
    width = int(enrolled_all.max(initial=0))
    duration = analyses * float(window_days)
    if width:
        arrival = np.cumsum(accrual.gaps(gap_u[:, :width]), axis=1)
        last = arrival[np.arange(n_trials), np.maximum(enrolled_all - 1, 0)]
        duration = duration + np.where(enrolled_all > 0, last, 0.0)
    return ExpansionResult(final, positive, n_low, n_high, duration)
