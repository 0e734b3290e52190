"""Posterior of the two-parameter Bayesian logistic regression model (BLRM) by quadrature.

Model (Neuenschwander, Branson & Gsponer 2008, *Statistics in Medicine* 27:2420, section 3):

    logit p(d) = log(alpha) + beta * log(d / d*),    (log alpha, log beta) ~ BVN(mean, cov),

with ``d*`` the reference dose, so ``beta > 0`` and the DLT probability increases with dose. The
design reads the posterior through interval probabilities of each dose's DLT probability:
under-dosing ``[0, c1)``, target ``[c1, c2)`` and over-dosing ``[c2, 1]`` (``c1, c2 = 0.16,
0.33`` in the paper, section 3.3).

Quadrature. Write ``a = log alpha`` and ``b = log beta``, and map a square of standard
coordinates ``(z_b, z_a)`` to the parameters by a lower-triangular affine map in the order
``(b, a)``: ``b = m_b + L[0, 0] z_b`` and ``a = m_a + L[1, 0] z_b + L[1, 1] z_a``. On a uniform
tensor grid the trapezoid rule integrates smooth, rapidly decaying functions with an error that
falls exponentially with the number of nodes (Trefethen & Weideman 2014, *SIAM Review* 56:385,
section 5), which gives the normalising constant and posterior means. An interval probability is
an integral of a step function, for which the plain rule converges only linearly; but at fixed
``b`` the event ``p(d) < c`` is ``a < logit(c) - exp(b) log(d / d*)``, a half-line in ``z_a``.
So the inner integral up to that cut is done by sinc indefinite integration (Stenger 1993,
*Numerical Methods Based on Sinc and Analytic Functions*, section 3.6): the integrand is
interpolated by cardinal sine functions through the nodes, whose integral up to ``t`` is
``h (1/2 + Si(pi (t - z_i) / h) / pi)``; this keeps the exponential convergence. The outer
integral over ``b`` is again the trapezoid rule, the cut moving smoothly with ``b``.

Two grids use this one kernel. ``decide`` centres the grid on the posterior mode and scales it by
the inverse Hessian there (the Laplace approximation), so one node spacing serves any amount of
data. The simulators share one grid laid in the prior's whitened coordinates between all
trials, so that one update of every trial is a matrix product of its DLT counts with the
log-probabilities at the nodes. ``tests/test_blrm.py`` shows by refining each grid that its
quadrature error is far below the Monte-Carlo error of the MCMC reference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from numpy.typing import ArrayLike

from oncotrial.designs.base import DesignError
from oncotrial.designs.lazy_scipy import special

#: Interval cut points of Neuenschwander et al. (2008), section 3.3: under-dosing [0, 0.16),
#: target [0.16, 0.33), over-dosing [0.33, 1].
DEFAULT_INTERVALS = (0.16, 0.33)
#: Node spacing (in standard deviations of the Laplace approximation) of the grid centred on the
#: mode.
ADAPTIVE_SPACING = 0.2
#: The mode-centred grid starts at +/- 6 standard deviations and each edge moves out by 2 until
#: the log posterior on it is this far below its value at the mode (e**-46 ~ 1e-20). The
#: posterior of log beta can be several times wider than the Laplace approximation on one side
#: (as beta -> 0 every dose has the same DLT probability and the likelihood flattens), so a fixed
#: Gaussian-sized box would cut off mass.
ADAPTIVE_LOG_DROP = 46.0
#: The furthest an edge may move (standard deviations).
ADAPTIVE_MAX_EXTENT = 80.0


@dataclass(frozen=True)
class BLRMPrior:
    """Bivariate normal prior on ``(log alpha, log beta)``.

    The defaults are a common weakly informative choice: a prior median DLT probability of 1/3
    at the reference dose with a standard deviation of 2 on the logit scale, and ``log beta ~
    N(0, 1)`` (a median slope of 1 on log dose), independent.

    Example
    -------
    >>> prior = BLRMPrior(mean_log_alpha=-0.85, mean_log_beta=1.0, sd_log_alpha=1.0, corr=-0.5)
    >>> prior.cov.tolist()
    [[1.0, -0.5], [-0.5, 1.0]]
    """

    mean_log_alpha: float = math.log((1.0 / 3.0) / (1.0 - 1.0 / 3.0))  # logit(1/3)
    mean_log_beta: float = 0.0
    sd_log_alpha: float = 2.0
    sd_log_beta: float = 1.0
    corr: float = 0.0

    def __post_init__(self) -> None:
        values = (self.mean_log_alpha, self.mean_log_beta, self.sd_log_alpha, self.sd_log_beta)
        if not all(np.isfinite(v) for v in values):
            raise DesignError("the BLRM prior means and standard deviations must be finite")
        if self.sd_log_alpha <= 0.0 or self.sd_log_beta <= 0.0:
            raise DesignError("the BLRM prior standard deviations must be positive")
        if not -1.0 < self.corr < 1.0:
            raise DesignError(f"the BLRM prior correlation must be in (-1, 1), got {self.corr}")

    @property
    def mean(self) -> np.ndarray:
        """``(log alpha, log beta)`` prior mean."""
        return np.array([self.mean_log_alpha, self.mean_log_beta])

    @property
    def cov(self) -> np.ndarray:
        """Prior covariance of ``(log alpha, log beta)``."""
        sa, sb = self.sd_log_alpha, self.sd_log_beta
        c = self.corr * sa * sb
        return np.array([[sa * sa, c], [c, sb * sb]])


@dataclass(frozen=True)
class IntervalPosterior:
    """Posterior summaries per dose: mean DLT probability and the three interval probabilities.

    ``under + target + over == 1`` at every dose (the cut points are shared).
    """

    mean: np.ndarray
    under: np.ndarray
    target: np.ndarray
    over: np.ndarray
    mean_log_alpha: float
    mean_log_beta: float

    def to_json(self) -> dict[str, object]:
        return {
            "ptox": [float(v) for v in self.mean],
            "p_under": [float(v) for v in self.under],
            "p_target": [float(v) for v in self.target],
            "p_over": [float(v) for v in self.over],
            "mean_log_alpha": self.mean_log_alpha,
            "mean_log_beta": self.mean_log_beta,
        }


@dataclass(frozen=True)
class BLRMModel:
    """Doses (any unit, e.g. mg/day), the reference dose, the prior and the interval cuts."""

    doses: tuple[float, ...]
    reference_dose: float
    prior: BLRMPrior = field(default_factory=BLRMPrior)
    intervals: tuple[float, float] = DEFAULT_INTERVALS

    def __post_init__(self) -> None:
        d = np.asarray(self.doses, dtype=float)
        if d.ndim != 1 or d.size < 1:
            raise DesignError("the BLRM needs at least one dose")
        if not np.all(np.isfinite(d)) or np.any(d <= 0.0):
            raise DesignError("BLRM doses must be positive amounts (e.g. mg/day)")
        if np.any(np.diff(d) <= 0.0):
            raise DesignError("BLRM doses must be strictly increasing")
        if not np.isfinite(self.reference_dose) or self.reference_dose <= 0.0:
            raise DesignError("the reference dose must be a positive amount")
        lo, hi = self.intervals
        if not 0.0 < lo < hi < 1.0:
            raise DesignError(
                f"the interval cut points must satisfy 0 < under-dosing < over-dosing < 1, "
                f"got {lo:g}, {hi:g}"
            )
        object.__setattr__(self, "doses", tuple(float(v) for v in d))

    @property
    def n_doses(self) -> int:
        return len(self.doses)

    @cached_property
    def log_dose_ratio(self) -> np.ndarray:
        """``log(d / d*)`` for each dose."""
        return np.log(np.asarray(self.doses) / self.reference_dose)

    def ptox(self, log_alpha: ArrayLike, log_beta: ArrayLike) -> np.ndarray:
        """DLT probabilities, shape ``log_alpha.shape + (n_doses,)``."""
        eta = (
            np.asarray(log_alpha)[..., None]
            + np.exp(np.asarray(log_beta))[..., None] * self.log_dose_ratio
        )
        return special.expit(eta)


@dataclass(frozen=True)
class QuadratureGrid:
    """Nodes of one tensor grid with everything the posterior needs that does not depend on data.

    ``log_weight`` is the log prior density at each node (the grid's Jacobian and spacing are
    constant and cancel); ``log_p``/``log_q`` are ``log p_d`` and ``log(1 - p_d)`` (nodes x
    doses); ``cut_weight[g, d, k]`` is the sinc weight of node ``g`` in ``Pr(p_d < c_k)``.
    """

    log_alpha: np.ndarray
    log_beta: np.ndarray
    log_weight: np.ndarray
    log_p: np.ndarray
    log_q: np.ndarray
    ptox: np.ndarray
    cut_weight: np.ndarray

    @property
    def n_nodes(self) -> int:
        return int(self.log_alpha.size)

    @cached_property
    def _summary_matrix(self) -> np.ndarray:
        """Columns: 1, ``log alpha``, ``log beta``, ``p_d`` and the cut weights of each dose."""
        g, d, k = self.cut_weight.shape
        return np.concatenate(
            [
                np.ones((g, 1)),
                self.log_alpha[:, None],
                self.log_beta[:, None],
                self.ptox,
                self.cut_weight.reshape(g, d * k),
            ],
            axis=1,
        )

    def counts_loglik(self, n_tox: np.ndarray, n_non: np.ndarray) -> np.ndarray:
        """Binomial log-likelihood at every node, rows of DLT / non-DLT counts -> (rows, nodes)."""
        counts = np.concatenate([np.atleast_2d(n_tox), np.atleast_2d(n_non)], axis=1)
        return counts.astype(float) @ np.concatenate([self.log_p, self.log_q], axis=1).T

    def summarise(self, loglik: np.ndarray) -> list[IntervalPosterior]:
        """Posterior summaries for each row of log-likelihoods (see :meth:`summary_arrays`)."""
        mean, cdf, la, lb = self.summary_arrays(loglik)
        return [
            IntervalPosterior(
                mean=mean[r],
                under=cdf[r, :, 0],
                target=cdf[r, :, 1] - cdf[r, :, 0],
                over=1.0 - cdf[r, :, 1],
                mean_log_alpha=float(la[r]),
                mean_log_beta=float(lb[r]),
            )
            for r in range(mean.shape[0])
        ]

    def summary_arrays(
        self, loglik: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Posterior mean DLT probabilities (rows, doses), ``Pr(p_d < c_k)`` (rows, doses, cuts)
        and the posterior means of ``log alpha`` and ``log beta`` (rows)."""
        lp = np.atleast_2d(loglik) + self.log_weight
        lp -= lp.max(axis=1, keepdims=True)
        np.exp(lp, out=lp)
        m = lp @ self._summary_matrix
        total = m[:, :1]
        d = self.ptox.shape[1]
        k = self.cut_weight.shape[2]
        mean = m[:, 3 : 3 + d] / total
        cdf = np.clip(m[:, 3 + d :] / total, 0.0, 1.0).reshape(-1, d, k)
        cdf = np.maximum.accumulate(cdf, axis=2)
        return mean, cdf, m[:, 1] / total[:, 0], m[:, 2] / total[:, 0]


def build_grid(
    model: BLRMModel,
    centre: ArrayLike,
    cov: ArrayLike,
    spacing: tuple[float, float],
    extent: tuple[tuple[float, float], tuple[float, float]],
) -> QuadratureGrid:
    """A tensor grid around ``centre`` (``log alpha, log beta``) scaled by ``cov``.

    ``spacing`` is the node spacing in standard coordinates along ``(z_a, z_b)`` and ``extent``
    their ranges ``((lo_a, hi_a), (lo_b, hi_b))``.
    """
    centre = np.asarray(centre, dtype=float)
    chol = _chol_ba(cov)
    h_a, h_b = spacing
    z_a = _axis(extent[0], h_a)
    z_b = _axis(extent[1], h_b)
    zb, za = np.meshgrid(z_b, z_a, indexing="ij")
    log_beta = centre[1] + chol[0, 0] * zb
    shift = centre[0] + chol[1, 0] * zb
    log_alpha = shift + chol[1, 1] * za

    x = model.log_dose_ratio
    eta = log_alpha[..., None] + np.exp(log_beta)[..., None] * x
    log_p = -np.logaddexp(0.0, -eta)
    log_q = -np.logaddexp(0.0, eta)
    # the cut a < logit(c) - exp(b) x in standard coordinates: z_a < tau
    cuts = special.logit(np.asarray(model.intervals))
    tau = (cuts[None, None, :] - np.exp(log_beta[:, :1, None]) * x[None, :, None]) - shift[
        :, :1, None
    ]
    tau = tau / chol[1, 1]
    arg = np.pi * (tau[:, None, :, :] - z_a[None, :, None, None]) / h_a
    cut_weight = 0.5 + special.sici(arg)[0] / np.pi

    n = za.size
    return QuadratureGrid(
        log_alpha=log_alpha.reshape(n),
        log_beta=log_beta.reshape(n),
        log_weight=_log_prior(model.prior, log_alpha, log_beta).reshape(n),
        log_p=log_p.reshape(n, -1),
        log_q=log_q.reshape(n, -1),
        ptox=np.exp(log_p).reshape(n, -1),
        cut_weight=cut_weight.reshape(n, model.n_doses, cuts.size),
    )


def _chol_ba(cov: ArrayLike) -> np.ndarray:
    """Cholesky factor of a (log alpha, log beta) covariance taken in the order (b, a)."""
    c = np.asarray(cov, dtype=float)
    return np.linalg.cholesky(c[np.ix_([1, 0], [1, 0])])


def _log_prior(prior: BLRMPrior, log_alpha: np.ndarray, log_beta: np.ndarray) -> np.ndarray:
    """Log prior density up to a constant."""
    diff = np.stack([log_alpha - prior.mean[0], log_beta - prior.mean[1]], axis=-1)
    return -0.5 * np.einsum("...i,ij,...j->...", diff, np.linalg.inv(prior.cov), diff)


def _axis(extent: tuple[float, float], spacing: float) -> np.ndarray:
    """Nodes ``k * spacing`` (integer ``k``) covering ``extent``; 0 is always a node."""
    lo, hi = extent
    return spacing * np.arange(int(np.floor(lo / spacing)), int(np.ceil(hi / spacing)) + 1)


def prior_grid(model: BLRMModel, spacing: tuple[float, float], half_width: float) -> QuadratureGrid:
    """The grid shared by all simulated trials: laid in the prior's whitened coordinates."""
    extent = ((-half_width, half_width), (-half_width, half_width))
    return build_grid(model, model.prior.mean, model.prior.cov, spacing, extent)


def posterior_mode(
    model: BLRMModel, n: ArrayLike, y: ArrayLike, max_iter: int = 200
) -> tuple[np.ndarray, np.ndarray]:
    """Mode of the log posterior of ``(log alpha, log beta)`` and the inverse negative Hessian.

    Damped Newton from the prior mean; where the Hessian is not negative definite (far from the
    mode the log posterior is not concave in ``log beta``) the expected-information matrix is
    used instead, which always is.
    """
    n = np.asarray(n, dtype=float)
    y = np.asarray(y, dtype=float)
    x = model.log_dose_ratio
    mu = model.prior.mean
    precision = np.linalg.inv(model.prior.cov)

    def value(theta: np.ndarray) -> float:
        eta = theta[0] + np.exp(theta[1]) * x
        diff = theta - mu
        return float(np.sum(y * eta - n * np.logaddexp(0.0, eta)) - 0.5 * diff @ precision @ diff)

    def derivatives(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        slope = np.exp(theta[1])
        eta = theta[0] + slope * x
        p = special.expit(eta)
        resid = y - n * p
        w = n * p * (1.0 - p)
        deta = np.stack([np.ones_like(x), slope * x])
        grad = deta @ resid - precision @ (theta - mu)
        info = (deta * w) @ deta.T + precision
        hess = -info.copy()
        hess[1, 1] += float(np.sum(resid * slope * x))
        return grad, hess, info

    theta = mu.copy()
    current = value(theta)
    for _ in range(max_iter):
        grad, hess, info = derivatives(theta)
        neg = -hess
        if np.linalg.eigvalsh(neg).min() <= 0.0:
            neg = info
        step = np.linalg.solve(neg, grad)
        t = 1.0
        while t > 1e-10:
            trial = theta + t * step
            new = value(trial)
            if new >= current - 1e-12:
                break
            t *= 0.5
        theta, moved = trial, float(np.max(np.abs(t * step)))
        current = new
        if moved < 1e-10:
            break
    _, hess, info = derivatives(theta)
    neg = -hess
    if np.linalg.eigvalsh(neg).min() <= 0.0:
        neg = info
    return theta, np.linalg.inv(neg)


def adaptive_grid(
    model: BLRMModel,
    n: ArrayLike,
    y: ArrayLike,
    spacing: float = ADAPTIVE_SPACING,
    log_drop: float = ADAPTIVE_LOG_DROP,
) -> QuadratureGrid:
    """The grid centred on the posterior mode and scaled by the Laplace covariance there, its
    edges moved out until the posterior on them is ``exp(-log_drop)`` of its peak."""
    n = np.asarray(n, dtype=float)
    y = np.asarray(y, dtype=float)
    mode, cov = posterior_mode(model, n, y)
    chol = _chol_ba(cov)
    x = model.log_dose_ratio

    def log_post(za: np.ndarray, zb: np.ndarray) -> np.ndarray:
        log_beta = mode[1] + chol[0, 0] * zb
        log_alpha = mode[0] + chol[1, 0] * zb + chol[1, 1] * za
        eta = log_alpha[..., None] + np.exp(log_beta)[..., None] * x
        loglik = (y * eta - n * np.logaddexp(0.0, eta)).sum(axis=-1)
        return loglik + _log_prior(model.prior, log_alpha, log_beta)

    floor = float(log_post(np.zeros(1), np.zeros(1))[0]) - log_drop
    edges = [-6.0, 6.0, -6.0, 6.0]  # lo_a, hi_a, lo_b, hi_b
    for _ in range(int(ADAPTIVE_MAX_EXTENT)):
        za = _axis((edges[0], edges[1]), spacing)
        zb = _axis((edges[2], edges[3]), spacing)
        lines = (
            log_post(np.full_like(zb, za[0]), zb),
            log_post(np.full_like(zb, za[-1]), zb),
            log_post(za, np.full_like(za, zb[0])),
            log_post(za, np.full_like(za, zb[-1])),
        )
        grow = [
            bool(np.nanmax(v) > floor) and abs(e) < ADAPTIVE_MAX_EXTENT
            for v, e in zip(lines, edges, strict=True)
        ]
        if not any(grow):
            break
        edges = [e + (2.0 if e > 0 else -2.0) * g for e, g in zip(edges, grow, strict=True)]
    extent = ((edges[0], edges[1]), (edges[2], edges[3]))
    return build_grid(model, mode, cov, (spacing, spacing), extent)


def check_counts(model: BLRMModel, n: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Per-dose patient and DLT counts as integer arrays, refused when impossible."""
    n_arr = np.asarray(n)
    y_arr = np.asarray(y)
    if n_arr.shape != (model.n_doses,) or y_arr.shape != (model.n_doses,):
        raise DesignError(f"patient and DLT counts need one entry per dose ({model.n_doses})")
    bad = np.flatnonzero((n_arr < 0) | (y_arr < 0) | (y_arr > n_arr))
    if bad.size:
        d = int(bad[0])
        raise DesignError(f"dose {d + 1}: {y_arr[d]} DLTs among {n_arr[d]} patients is impossible")
    return n_arr.astype(np.int64), y_arr.astype(np.int64)


def blrm_posterior(
    model: BLRMModel,
    n: ArrayLike,
    y: ArrayLike,
    spacing: float = ADAPTIVE_SPACING,
    log_drop: float = ADAPTIVE_LOG_DROP,
) -> IntervalPosterior:
    """Posterior interval probabilities from ``n`` patients and ``y`` DLTs per dose.

    Parameters
    ----------
    model
        Doses, reference dose, prior and interval cuts.
    n, y
        Patients and DLTs at each dose.
    spacing, log_drop
        Node spacing of the mode-centred grid in standard deviations, and how far below its peak
        the posterior must fall at the grid's edges (refine them to check the quadrature error).

    Returns
    -------
    IntervalPosterior
        Posterior mean DLT probability and under-/target/over-dosing probabilities per dose.

    Example
    -------
    >>> model = BLRMModel(doses=(100, 200, 400, 600), reference_dose=400)
    >>> post = blrm_posterior(model, [3, 3, 6, 0], [0, 0, 2, 0])
    >>> [round(float(v), 2) for v in post.target]
    [0.08, 0.2, 0.44, 0.26]
    """
    n_arr, y_arr = check_counts(model, n, y)
    grid = adaptive_grid(model, n_arr, y_arr, spacing, log_drop)
    loglik = grid.counts_loglik(y_arr[None, :], (n_arr - y_arr)[None, :])
    return grid.summarise(loglik)[0]
