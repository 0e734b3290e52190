"""The TITE-CRM simulator compiled with numba: trial by trial, patient by patient, the same
posterior on the same Gauss-Legendre grid as :meth:`TITECRM.simulate_paths`' numpy path.

Per arriving patient the log-likelihood on the grid is the complete data's
``log p``/``log(1 - p)`` terms (accumulated as outcomes become known) times ``1 - w p``
for each patient still inside the window
with the linear weight ``w`` of Cheung & Chappell (2000); the posterior mean of beta, the
safety tail ``Pr(p_1 > target)``, the closest dose and the shared admissibility rule
(``admissibility.admissible_dose``: coherence under ``restrict``, no skipping under
``no_skipping``) follow. The
adaptive weight scheme stays on the numpy path.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _posterior(loglik, beta, below):  # pragma: no cover - compiled
    """Posterior mean of beta and the safety tail from the log posterior on the grid (the
    log-likelihood plus the log prior-and-quadrature weight)."""
    g_n = loglik.shape[0]
    top = -np.inf
    for g in range(g_n):
        if loglik[g] > top:
            top = loglik[g]
    m0 = 0.0
    m1 = 0.0
    m3 = 0.0
    for g in range(g_n):
        e = np.exp(loglik[g] - top)
        m0 += e
        m1 += e * beta[g]
        m3 += e * below[g]
    return m1 / m0, m3 / m0


@njit(cache=True)
def _scaled(known, scaled):  # pragma: no cover - compiled
    """``exp(known - max(known))`` into ``scaled`` (the complete data's likelihood, scaled)."""
    top = -np.inf
    for g in range(known.shape[0]):
        if known[g] > top:
            top = known[g]
    for g in range(known.shape[0]):
        scaled[g] = np.exp(known[g] - top)


@njit(cache=True)
def _posterior_pending(scaled, pending, beta, below):  # pragma: no cover - compiled
    """Posterior mean of beta and the safety tail when the likelihood is ``scaled`` (complete
    patients) times ``pending`` (the product of ``1 - w p``): no logarithm needed. Returns
    NaN when the product underflows, for the caller to take the log path."""
    m0 = 0.0
    m1 = 0.0
    m3 = 0.0
    for g in range(scaled.shape[0]):
        e = scaled[g] * pending[g]
        m0 += e
        m1 += e * beta[g]
        m3 += e * below[g]
    if not m0 > 1e-280:
        return np.nan, np.nan
    return m1 / m0, m3 / m0


@njit(cache=True)
def _closest(mean, labels, empiric, intercept, target):  # pragma: no cover - compiled
    slope = np.exp(mean)
    best = 0
    gap = np.inf
    for k in range(labels.shape[0]):
        if empiric:
            p = np.exp(slope * labels[k])
        else:
            p = 1.0 / (1.0 + np.exp(-(intercept + slope * labels[k])))
        here = abs(p - target)
        if here < gap:
            gap = here
            best = k
    return best


@njit(cache=True)
def simulate_tite_crm_kernel(
    entry,
    event,
    tox_u,
    p_true,
    log_p,
    log_q,
    p_grid,
    log_weight,
    beta,
    below,
    labels,
    empiric,
    intercept,
    target,
    window,
    start,
    coherent,
    no_skip,
    no_skip_down,
    safety_stop,
    doses,
    tox,
    selected,
    stopped,
    duration,
):  # pragma: no cover - compiled
    """Fill ``doses``/``tox`` (trials, patients), ``selected``, ``stopped`` and ``duration``.

    ``safety_stop`` < 0 means no safety stop. The complete patients' log-likelihood is kept
    per trial and grows by one row of ``log_p``/``log_q`` as each patient's outcome becomes
    known (a DLT, or the whole window without one); the patients still pending enter through
    the product of their ``1 - w p`` per node, which multiplies the complete patients'
    likelihood (exponentiated again only when it changed).
    """
    n_trials, n_max = entry.shape
    d, g_n = log_p.shape
    known = np.empty(g_n)
    loglik = np.empty(g_n)
    pending = np.empty(g_n)
    scaled = np.empty(g_n)
    complete = np.zeros(n_max, dtype=np.bool_)
    for t in range(n_trials):
        doses[t, 0] = start
        tox[t, 0] = tox_u[t, 0] < p_true[start]
        known[:] = log_weight
        complete[:] = False
        changed = True
        alive = True
        for j in range(1, n_max):
            now = entry[t, j]
            new_dlt = False
            for g in range(g_n):
                pending[g] = 1.0
            for i in range(j):
                if complete[i]:
                    continue
                x = doses[t, i]
                if tox[t, i] and event[t, i] <= now:
                    complete[i] = True
                    changed = True
                    if event[t, i] > entry[t, j - 1]:
                        new_dlt = True
                    for g in range(g_n):
                        known[g] += log_p[x, g]
                    continue
                u = (now - entry[t, i]) / window
                if u >= 1.0:
                    complete[i] = True
                    changed = True
                    for g in range(g_n):
                        known[g] += log_q[x, g]
                    continue
                for g in range(g_n):
                    pending[g] *= 1.0 - u * p_grid[x, g]
            if changed:
                _scaled(known, scaled)
                changed = False
            mean, tail = _posterior_pending(scaled, pending, beta, below)
            if np.isnan(mean):
                for g in range(g_n):
                    loglik[g] = known[g] + np.log(pending[g])
                mean, tail = _posterior(loglik, beta, below)
            best = _closest(mean, labels, empiric, intercept, target)
            if safety_stop >= 0.0 and tail > safety_stop:
                stopped[t] = True
                duration[t] = now
                alive = False
                break
            current = doses[t, j - 1]
            ceiling = d - 1
            if no_skip:
                ceiling = current + 1
            if coherent and new_dlt:
                ceiling = current
            if no_skip_down and best < current - 1:
                best = current - 1
            nxt = min(best, ceiling, d - 1)
            if nxt < 0:
                nxt = 0
            doses[t, j] = nxt
            tox[t, j] = tox_u[t, j] < p_true[nxt]
        if alive:
            duration[t] = entry[t, n_max - 1] + window
            for i in range(n_max):
                if complete[i]:
                    continue
                x = doses[t, i]
                if tox[t, i]:
                    for g in range(g_n):
                        known[g] += log_p[x, g]
                else:
                    for g in range(g_n):
                        known[g] += log_q[x, g]
            mean, tail = _posterior(known, beta, below)
            best = _closest(mean, labels, empiric, intercept, target)
            if safety_stop >= 0.0 and tail > safety_stop:
                selected[t] = -1
            else:
                selected[t] = best


def simulate_tite_crm(
    design: object,
    p_true: np.ndarray,
    entry: np.ndarray,
    event: np.ndarray,
    tox_u: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Run the kernel for a ``TITECRM`` (linear weights): doses, DLTs, selected, stopped,
    duration."""
    grid, wm = design._grid, design._wm  # type: ignore[attr-defined]
    d = wm.skeleton.size
    n_trials, n_max = entry.shape
    doses = np.full((n_trials, n_max), -1, dtype=np.int64)
    tox = np.zeros((n_trials, n_max), dtype=np.bool_)
    selected = np.full(n_trials, -1, dtype=np.int64)
    stopped = np.zeros(n_trials, dtype=np.bool_)
    duration = np.zeros(n_trials)
    safety = -1.0 if design.safety_stop is None else float(design.safety_stop)  # type: ignore[attr-defined]
    simulate_tite_crm_kernel(
        np.ascontiguousarray(entry),
        np.ascontiguousarray(event),
        np.ascontiguousarray(tox_u),
        np.ascontiguousarray(p_true, dtype=np.float64),
        np.ascontiguousarray(grid.log_pq[:d]),
        np.ascontiguousarray(grid.log_pq[d:]),
        np.ascontiguousarray(grid.p),
        np.ascontiguousarray(grid.log_weight),
        np.ascontiguousarray(grid.beta),
        np.ascontiguousarray(grid.moment_matrix[:, 3]),
        np.ascontiguousarray(wm.labels, dtype=np.float64),
        wm.model == "empiric",
        float(wm.intercept),
        float(design.target),  # type: ignore[attr-defined]
        float(design.window_days),  # type: ignore[attr-defined]
        int(design.start),  # type: ignore[attr-defined]
        bool(design.restrict),  # type: ignore[attr-defined]
        bool(design.no_skipping),  # type: ignore[attr-defined]
        bool(design.no_skip_down),  # type: ignore[attr-defined]
        safety,
        doses,
        tox,
        selected,
        stopped,
        duration,
    )
    return doses, tox, selected, stopped, duration
