"""The continual reassessment method (CRM) and its time-to-event version (TITE-CRM).

One-parameter working models with a normal prior ``beta ~ N(0, prior_var)`` (O'Quigley, Pepe &
Fisher 1990; Cheung 2011, *Dose Finding by the Continual Reassessment Method*):

* empiric (power): ``p_d(beta) = s_d ** exp(beta)``;
* one-parameter logistic: ``p_d(beta) = expit(a0 + exp(beta) * x_d)`` with the dose labels
  ``x_d = logit(s_d) - a0`` (so that ``p_d(0) = s_d``), as R ``dfcrm::crm``.

``s`` is the skeleton (prior guesses of the DLT probabilities). The posterior mean of ``beta`` is
plugged into the model to estimate the DLT probabilities, and the next dose is the one whose
estimate is closest to the target (Cheung 2011; ``dfcrm::crm``). The TITE-CRM weights a patient
still inside the DLT window in the likelihood ``p ** y * (1 - w p) ** (1 - y)`` (Cheung & Chappell
2000, *Biometrics* 56, 1177-1182).

Two numerical paths compute the same posterior: ``crm_posterior`` integrates with
``scipy.integrate.quad`` over the whole real line (as ``dfcrm`` does with R's ``integrate``), and
the simulators use a fixed Gauss-Legendre grid in ``beta`` so that one update of all trials is one
matrix product. The grid is split at the value of ``beta`` where the lowest dose's DLT probability
equals the target, so that the safety-stop probability is a smooth integral on each piece and
both paths agree to about 1e-10.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from oncotrial.designs.admissibility import admissible_dose, eliminated_doses
from oncotrial.designs.base import Decision, DesignError, Patient, TrialState
from oncotrial.designs.lazy_scipy import special
from oncotrial.designs.simulation import (
    AccrualModel,
    DltTimeModel,
    LatentPatients,
    TrialOutcomes,
    cohort_durations,
    unique_rows,
)
from oncotrial.designs.stopping import StoppingRule, TrialView

Model = Literal["empiric", "logistic"]
WeightScheme = Literal["linear", "adaptive"]

#: Default prior variance of beta, as ``dfcrm`` (scale = sqrt(1.34)).
DEFAULT_PRIOR_VAR = 1.34
#: Why a simulated CRM trial ended (``TrialOutcomes.stop_reason`` indexes into it).
CRM_STOP_REASONS: tuple[str, ...] = ("maximum sample size", "lowest dose too toxic")
#: Half-width of the beta range of the simulators' grid (``dfcrm`` integrates moments on [-10, 10]).
GRID_HALF_RANGE = 10.0
#: Gauss-Legendre nodes on each side of the safety threshold of beta.
GRID_NODES_PER_PIECE = 96


def crm_skeleton(
    target: float,
    nu: int,
    n_levels: int,
    halfwidth: float,
    model: Model = "empiric",
    intercept: float = 3.0,
) -> np.ndarray:
    """Skeleton whose indifference intervals are all ``target +/- halfwidth``.

    Lee & Cheung (2009), *Model calibration in the continual reassessment method*, Clinical
    Trials 6, 227-238 (R ``dfcrm::getprior``). ``nu`` is the 0-based index of the prior guess
    of the MTD (``dfcrm``'s ``nu`` minus one), whose skeleton value is the target. Adjacent
    doses ``k-1, k`` are equidistant from the target (``target - halfwidth`` and
    ``target + halfwidth``) at the same ``beta``, so the CRM switches between them exactly where
    their DLT probabilities leave the indifference interval.
    """
    if not 0.0 < target < 1.0:
        raise DesignError("the target must be in (0, 1)")
    if not 0.0 < halfwidth < min(target, 1.0 - target):
        raise DesignError(
            "the half-width must be positive and keep target +/- half-width in (0, 1)"
        )
    if n_levels < 1 or not 0 <= nu < n_levels:
        raise DesignError(f"the prior MTD index {nu} is outside 0..{n_levels - 1}")
    lo, hi = target - halfwidth, target + halfwidth
    if model == "empiric":
        # labels on the log scale: log p_d(beta) = exp(beta) * log s_d
        g_target, g_lo, g_hi = np.log(target), np.log(lo), np.log(hi)
    elif model == "logistic":
        # labels x_d = logit(s_d) - a0: logit p_d(beta) - a0 = exp(beta) * x_d
        g_target, g_lo, g_hi = (float(special.logit(v)) - intercept for v in (target, lo, hi))
        if g_hi >= 0.0:
            raise DesignError("the logistic skeleton needs target + half-width < expit(intercept)")
    else:
        raise DesignError(f"unknown CRM model {model!r}")
    labels = np.empty(n_levels)
    labels[nu] = g_target
    for k in range(nu, 0, -1):
        # exp(b_k) puts dose k at target + halfwidth; dose k-1 is at target - halfwidth there
        scale = g_hi / labels[k]
        labels[k - 1] = g_lo / scale
    for k in range(nu, n_levels - 1):
        scale = g_lo / labels[k]
        labels[k + 1] = g_hi / scale
    skeleton = np.exp(labels) if model == "empiric" else special.expit(intercept + labels)
    if not (np.all(skeleton > 0.0) and np.all(skeleton < 1.0) and np.all(np.diff(skeleton) > 0)):
        raise DesignError(
            f"a half-width of {halfwidth:g} spreads {n_levels} levels beyond what floating point "
            "can hold: use a smaller half-width or fewer levels"
        )
    return skeleton


@dataclass(frozen=True)
class _WorkingModel:
    """The one-parameter dose-toxicity model: dose labels and the model family."""

    skeleton: np.ndarray
    model: Model
    intercept: float

    @cached_property
    def labels(self) -> np.ndarray:
        """Empiric: ``log s_d``; logistic: ``logit(s_d) - a0`` (``dfcrm``'s ``dosescaled``)."""
        if self.model == "empiric":
            return np.log(self.skeleton)
        return special.logit(self.skeleton) - self.intercept

    def log_p_q(self, beta: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """``log p_d(beta)`` and ``log(1 - p_d(beta))``, shape ``beta.shape + (n_doses,)``."""
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            return self._log_p_q(beta)

    def _log_p_q(self, beta: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        slope = np.exp(beta)
        if self.model == "empiric":
            log_p = np.multiply.outer(slope, self.labels)
            return log_p, np.log(-np.expm1(log_p))
        z = self.intercept + np.multiply.outer(slope, self.labels)
        return -np.logaddexp(0.0, -z), -np.logaddexp(0.0, z)

    def ptox(self, beta: ArrayLike) -> np.ndarray:
        """DLT probabilities at ``beta`` (plug-in estimate when ``beta`` is the posterior mean)."""
        return np.exp(self.log_p_q(beta)[0])

    def beta_above(self, target: float, dose: int = 0) -> float:
        """The ``beta*`` with ``p_dose(beta) > target`` exactly when ``beta < beta*``."""
        if self.model == "empiric":
            return float(np.log(np.log(target) / self.labels[dose]))
        return float(np.log((special.logit(target) - self.intercept) / self.labels[dose]))


def _validate_model(
    skeleton: ArrayLike, target: float, model: str, prior_var: float, intercept: float
) -> np.ndarray:
    s = np.asarray(skeleton, dtype=float)
    if s.ndim != 1 or s.size < 1:
        raise DesignError("the skeleton must be a non-empty list of probabilities")
    if np.any(s <= 0.0) or np.any(s >= 1.0):
        raise DesignError("skeleton probabilities must be in (0, 1)")
    if np.any(np.diff(s) <= 0.0):
        raise DesignError("the skeleton must be strictly increasing in dose")
    if not 0.0 < target < 1.0:
        raise DesignError("the target must be in (0, 1)")
    if prior_var <= 0.0:
        raise DesignError("the prior variance of beta must be positive")
    if model not in ("empiric", "logistic"):
        raise DesignError(f"unknown CRM model {model!r}")
    if model == "logistic":
        ceiling = float(special.expit(intercept))
        if s[-1] >= ceiling or target >= ceiling:
            raise DesignError(
                f"the logistic model with intercept {intercept} needs skeleton and target below "
                f"{ceiling:.4f}"
            )
    return s


@dataclass(frozen=True)
class CRMPosterior:
    """Posterior summaries of ``beta`` and the plug-in DLT probabilities.

    ``ptox`` plugs the posterior mean of ``beta`` into the working model (as ``dfcrm::crm``).
    ``p_lowest_above_target`` is ``Pr(p_1 > target | data)``, the quantity of the safety stop.
    """

    beta: float
    beta_var: float
    ptox: np.ndarray
    p_lowest_above_target: float


def _tally(
    n_doses: int, levels: np.ndarray, dlt: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-dose DLT and full-weight non-DLT counts, plus the partly weighted non-DLT patients."""
    full = weights >= 1.0
    n_tox = np.bincount(levels[dlt], minlength=n_doses).astype(float)
    n_non = np.bincount(levels[~dlt & full], minlength=n_doses).astype(float)
    part = ~dlt & ~full
    return n_tox, n_non, levels[part], weights[part]


def crm_posterior(
    skeleton: ArrayLike,
    levels: ArrayLike,
    dlt: ArrayLike,
    weights: ArrayLike | None = None,
    *,
    target: float,
    model: Model = "empiric",
    prior_var: float = DEFAULT_PRIOR_VAR,
    intercept: float = 3.0,
) -> CRMPosterior:
    """Posterior of ``beta`` by adaptive quadrature over the real line (scalar reference path).

    Likelihood ``prod p_i ** y_i * (1 - w_i p_i) ** (1 - y_i)`` (weights ``w_i = 1`` for the CRM;
    Cheung & Chappell 2000 for the TITE-CRM) times the ``N(0, prior_var)`` prior, integrated
    with ``scipy.integrate.quad`` as ``dfcrm::crm`` does with R's ``integrate``. ``levels`` are
    0-based dose indices.
    """
    s = _validate_model(skeleton, target, model, prior_var, intercept)
    wm = _WorkingModel(s, model, intercept)
    lev = np.asarray(levels, dtype=int).reshape(-1)
    y = np.asarray(dlt, dtype=bool).reshape(-1)
    w = np.ones(lev.size) if weights is None else np.asarray(weights, dtype=float).reshape(-1)
    if not lev.size == y.size == w.size:
        raise DesignError("levels, DLT indicators and weights must have one entry per patient")
    if lev.size and (lev.min() < 0 or lev.max() >= s.size):
        raise DesignError(f"dose indices must be in 0..{s.size - 1}")
    if np.any(w < 0.0) or np.any(w > 1.0):
        raise DesignError("weights must be in [0, 1]")
    n_tox, n_non, pend_x, pend_w = _tally(s.size, lev, y, w)
    from scipy.integrate import quad  # ~1 s of imports: only for the exact scalar posterior

    def log_post(beta: float | np.ndarray) -> np.ndarray:
        log_p, log_q = wm._log_p_q(beta)
        val = log_p @ n_tox + log_q @ n_non - np.square(beta) / (2.0 * prior_var)
        if pend_x.size:
            val = val + np.log1p(-pend_w * np.exp(log_p[..., pend_x])).sum(axis=-1)
        return val

    with np.errstate(all="ignore"):
        scan = np.linspace(-GRID_HALF_RANGE, GRID_HALF_RANGE, 401)
        shift = float(np.nanmax(log_post(scan)))

        def density(beta: float) -> float:
            v = float(np.exp(log_post(beta) - shift))
            return v if np.isfinite(v) else 0.0

        split = wm.beta_above(target)
        moments = np.zeros((2, 3))
        for k in range(3):
            integrand = density if k == 0 else (lambda b, k=k: b**k * density(b))
            for side, (a, b) in enumerate(((-np.inf, split), (split, np.inf))):
                moments[side, k] = quad(integrand, a, b, epsabs=0.0, epsrel=1e-11, limit=200)[0]
    total = moments.sum(axis=0)
    beta_hat = total[1] / total[0]
    return CRMPosterior(
        beta=float(beta_hat),
        beta_var=float(total[2] / total[0] - beta_hat**2),
        ptox=wm.ptox(beta_hat),
        p_lowest_above_target=float(moments[0, 0] / total[0]),
    )


def tite_weights(
    followup: ArrayLike,
    dlt: ArrayLike,
    dlt_day: ArrayLike,
    window_days: float,
    scheme: WeightScheme = "linear",
) -> np.ndarray:
    """TITE-CRM weights of patients (1 for a DLT or a completed window).

    Linear: ``w = followup / window`` (Cheung & Chappell 2000). Adaptive: the
    piecewise-linear estimate of the DLT-time distribution from the DLT times observed so far,
    ``w = (k + (u - t_(k)) / (t_(k+1) - t_(k))) / (z + 1)`` with ``u = followup / window``, the
    ``z`` ordered observed DLT times ``t_(1..z)`` (fractions of the window, ``t_(0) = 0``,
    ``t_(z+1) = 1``) and ``k`` of them at or below ``u`` (Cheung & Chappell 2000;
    ``dfcrm::titecrm(scheme = "adaptive")``). Without any DLT it is the linear weight.
    """
    u = np.asarray(followup, dtype=float) / window_days
    y = np.asarray(dlt, dtype=bool)
    w = np.minimum(u, 1.0)
    if scheme == "adaptive":
        support = np.sort(np.asarray(dlt_day, dtype=float)[y] / window_days)
        z = support.size
        if z:
            knots = np.concatenate([[0.0], support, [1.0]])
            k = np.searchsorted(support, u, side="right")
            lower = knots[k]
            upper = knots[np.minimum(k + 1, z + 1)]
            with np.errstate(divide="ignore", invalid="ignore"):
                frac = np.where(upper > lower, (u - lower) / (upper - lower), 0.0)
            w = np.minimum((k + frac) / (z + 1), 1.0)
    elif scheme != "linear":
        raise DesignError(f"unknown TITE weight scheme {scheme!r}")
    return np.where(y | (u >= 1.0), 1.0, w)


@dataclass(frozen=True)
class _BetaGrid:
    """Fixed Gauss-Legendre grid in beta for the vectorised posterior of many trials at once."""

    wm: _WorkingModel
    prior_var: float
    split: float
    nodes: int = GRID_NODES_PER_PIECE

    @cached_property
    def _nodes_weights(self) -> tuple[np.ndarray, np.ndarray]:
        """Nodes and weights on ``[lo, split]`` and ``[split, hi]``, ``[lo, hi] >= [-10, 10]``."""
        x, w = np.polynomial.legendre.leggauss(self.nodes)
        lo = min(-GRID_HALF_RANGE, self.split - 1.0)
        hi = max(GRID_HALF_RANGE, self.split + 1.0)
        beta, weight = [], []
        for a, b in ((lo, self.split), (self.split, hi)):
            beta.append((b - a) / 2.0 * x + (a + b) / 2.0)
            weight.append((b - a) / 2.0 * w)
        return np.concatenate(beta), np.concatenate(weight)

    @cached_property
    def beta(self) -> np.ndarray:
        return self._nodes_weights[0]

    @cached_property
    def log_weight(self) -> np.ndarray:
        """Log of the quadrature weight times the (unnormalised) normal prior density."""
        return np.log(self._nodes_weights[1]) - self.beta**2 / (2.0 * self.prior_var)

    @cached_property
    def log_pq(self) -> np.ndarray:
        """``[log p; log(1 - p)]`` on the grid, shape ``(2 * n_doses, n_nodes)``."""
        log_p, log_q = self.wm.log_p_q(self.beta)
        return np.concatenate([log_p.T, log_q.T])

    @cached_property
    def p(self) -> np.ndarray:
        """DLT probabilities on the grid, shape ``(n_doses, n_nodes)``."""
        return np.exp(self.log_pq[: self.wm.skeleton.size])

    @cached_property
    def moment_matrix(self) -> np.ndarray:
        """Columns 1, beta, beta**2 and the indicator of ``beta < split`` (the safety tail)."""
        below = np.zeros(self.beta.size)
        below[: self.nodes] = 1.0
        return np.stack([np.ones_like(self.beta), self.beta, self.beta**2, below], axis=1)

    def counts_posterior(
        self, n_tox: np.ndarray, n_non: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``summarise`` for per-dose counts, computed once per distinct row of counts.

        Trials with the same data have the same posterior; early in a simulation most trials
        share a handful of data patterns, so this saves most of the work.
        """
        rows, inverse = unique_rows(np.concatenate([n_tox, n_non], axis=1).astype(np.int64))
        rows = rows.astype(float) @ self.log_pq
        mean, var, tail = self.summarise(rows)
        return mean[inverse], var[inverse], tail[inverse]

    def counts_loglik(self, n_tox: np.ndarray, n_non: np.ndarray) -> np.ndarray:
        """Log-likelihood on the grid of per-dose DLT and non-DLT counts: ``(trials, nodes)``."""
        return np.concatenate([n_tox, n_non], axis=1).astype(float) @ self.log_pq

    def summarise(self, loglik: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Posterior mean and variance of beta and ``Pr(p_1 > target)`` for each row."""
        lp = loglik + self.log_weight
        lp -= lp.max(axis=1, keepdims=True)
        np.exp(lp, out=lp)
        m = lp @ self.moment_matrix
        mean = m[:, 1] / m[:, 0]
        return mean, m[:, 2] / m[:, 0] - mean**2, m[:, 3] / m[:, 0]


def _closest(ptox: np.ndarray, target: float) -> np.ndarray:
    """Dose with the estimate closest to the target (lowest on ties, as ``dfcrm``)."""
    return np.argmin(np.abs(ptox - target), axis=-1)


def _dose(d: int) -> str:
    return f"dose {d + 1}"


@dataclass(frozen=True)
class _CRMBase:
    """Fields and rules shared by the CRM and the TITE-CRM."""

    skeleton: tuple[float, ...]
    target: float
    max_patients: int
    start: int = 0
    model: Model = "empiric"
    prior_var: float = DEFAULT_PRIOR_VAR
    intercept: float = 3.0
    safety_stop: float | None = None
    restrict: bool = True
    window_days: float = 28.0
    no_skip: bool | None = None
    no_skip_down: bool = False
    n_doses: int = field(init=False)

    def __post_init__(self) -> None:
        s = _validate_model(self.skeleton, self.target, self.model, self.prior_var, self.intercept)
        object.__setattr__(self, "skeleton", tuple(float(v) for v in s))
        object.__setattr__(self, "n_doses", int(s.size))
        if self.max_patients < 1:
            raise DesignError("the sample size must be at least 1")
        if not 0 <= self.start < s.size:
            raise DesignError(f"the start dose index {self.start} is outside 0..{s.size - 1}")
        if self.safety_stop is not None and not 0.0 < self.safety_stop < 1.0:
            raise DesignError("the safety-stop probability threshold must be in (0, 1)")
        if self.window_days <= 0.0:
            raise DesignError("the DLT window must be positive")

    @property
    def no_skipping(self) -> bool:
        """Escalation at most one level at a time: ``no_skip``, or else ``restrict`` (dfcrm's
        ``restrict`` forbids both skipping and escalation after a toxic cohort)."""
        return self.restrict if self.no_skip is None else self.no_skip

    @cached_property
    def _wm(self) -> _WorkingModel:
        return _WorkingModel(np.asarray(self.skeleton), self.model, self.intercept)

    @cached_property
    def _grid(self) -> _BetaGrid:
        return _BetaGrid(self._wm, self.prior_var, self._wm.beta_above(self.target))

    def _too_toxic(self, p_lowest_above: ArrayLike) -> np.ndarray:
        """Safety stop (Cheung 2011): ``Pr(p_1 > target | data) > threshold``."""
        if self.safety_stop is None:
            return np.zeros(np.shape(p_lowest_above), dtype=bool)
        return np.asarray(p_lowest_above) > self.safety_stop

    def _check_state(self, state: TrialState) -> None:
        if state.n_doses != self.n_doses:
            raise DesignError(
                f"the trial has {state.n_doses} dose levels but the skeleton has {self.n_doses}"
            )

    def _check_truth(self, truth: ArrayLike, latent: LatentPatients) -> np.ndarray:
        p = np.asarray(truth, dtype=float)
        if p.shape != (self.n_doses,):
            raise DesignError(f"the true DLT probabilities need {self.n_doses} values")
        if np.any(p < 0.0) or np.any(p > 1.0):
            raise DesignError("true DLT probabilities must be in [0, 1]")
        if latent.tox.shape[1] < self.max_patients:
            raise DesignError(
                f"the latent patients have {latent.tox.shape[1]} columns; "
                f"the design needs {self.max_patients}"
            )
        return p

    def _extra_details(self, state: TrialState) -> dict[str, object]:
        """Design-specific numbers shown with every decision (TITE-CRM: the weights)."""
        return {}

    def _opening(
        self, state: TrialState, unit: str
    ) -> Decision | tuple[CRMPosterior, dict[str, object]]:
        """What both CRMs do first: start at the start dose, or stop with the final selection
        once the sample size is reached; otherwise the posterior and its details."""
        self._check_state(state)
        if not state.patients:
            return Decision(
                next_dose=self.start,
                continue_trial=True,
                eliminated=(),
                reason=f"No patient treated yet: the first {unit} starts at {_dose(self.start)}.",
                details={"skeleton": list(self.skeleton), "ptox": list(self.skeleton)},
            )
        post = self.posterior(state)
        details = {**self._details(post), **self._extra_details(state)}
        if len(state.patients) >= self.max_patients:
            pending = int(state.pending_counts().sum())
            note = (
                f" ({pending} patient(s) still in the DLT window: the selection is provisional.)"
                if pending
                else ""
            )
            return self._final(post, details, note)
        return post, details

    def _details(self, post: CRMPosterior) -> dict[str, object]:
        return {
            "model": self.model,
            "target": self.target,
            "beta": post.beta,
            "beta_var": post.beta_var,
            "ptox": [float(v) for v in post.ptox],
            "skeleton": list(self.skeleton),
            "p_lowest_above_target": post.p_lowest_above_target,
        }

    def _mtd_from(self, post: CRMPosterior) -> int | None:
        if bool(self._too_toxic(post.p_lowest_above_target)):
            return None
        return int(_closest(post.ptox, self.target))

    def _stop_for_safety(self, post: CRMPosterior, details: dict[str, object]) -> Decision:
        return Decision(
            next_dose=None,
            continue_trial=False,
            eliminated=eliminated_doses(0, self.n_doses),
            reason=(
                f"Pr(DLT probability at dose 1 > {self.target:g}) = "
                f"{post.p_lowest_above_target:.3f} exceeds {self.safety_stop:g}: every dose is "
                "too toxic, so the trial stops without an MTD."
            ),
            details=details,
        )

    def _final(self, post: CRMPosterior, details: dict[str, object], note: str) -> Decision:
        mtd = self._mtd_from(post)
        if mtd is None:
            decision = self._stop_for_safety(post, details)
            return Decision(
                next_dose=None,
                continue_trial=False,
                eliminated=decision.eliminated,
                reason=f"Sample size {self.max_patients} reached. {decision.reason}{note}",
                details=details,
            )
        return Decision(
            next_dose=None,
            continue_trial=False,
            eliminated=(),
            mtd=mtd,
            reason=(
                f"Sample size {self.max_patients} reached: the MTD is {_dose(mtd)}, whose "
                f"estimated DLT probability {post.ptox[mtd]:.3f} is closest to the target "
                f"{self.target:g}.{note}"
            ),
            details=details,
        )

    def _next(
        self,
        post: CRMPosterior,
        details: dict[str, object],
        current: int,
        escalation_allowed: bool,
        why_not: str,
    ) -> Decision:
        """Closest dose, clipped by the shared admissibility rules (``admissible_dose``)."""
        if bool(self._too_toxic(post.p_lowest_above_target)):
            return self._stop_for_safety(post, details)
        best = int(_closest(post.ptox, self.target))
        allowed = escalation_allowed or not self.restrict
        nxt = int(
            admissible_dose(
                best, current, self.n_doses, allowed, self.no_skipping, self.no_skip_down
            )
        )
        reason = (
            f"{_dose(best).capitalize()} has the estimated DLT probability closest to the target "
            f"{self.target:g} ({post.ptox[best]:.3f})"
        )
        if nxt < best:
            if not allowed and nxt == current:
                reason += f", but {why_not}, so there is no escalation above {_dose(current)}"
            else:
                reason += (
                    f", but escalation may not skip a level: at most one above {_dose(current)}"
                )
        return Decision(
            next_dose=nxt,
            continue_trial=True,
            eliminated=(),
            reason=f"{reason}. Next: {_dose(nxt)}.",
            details=details,
        )


@dataclass(frozen=True)
class CRM(_CRMBase):
    """Bayesian CRM with a fixed sample size, treating cohorts of ``cohort_size`` patients.

    After each complete cohort the posterior mean of beta is updated and the next cohort gets the
    dose whose estimated DLT probability is closest to the target (O'Quigley et al. 1990). With
    ``restrict`` (as ``dfcrm::crmsim(restrict = TRUE)``) escalation never skips a level and there
    is no escalation right after a cohort whose observed DLT rate is at or above the target
    (coherence, Cheung 2005, Biometrika 92); ``no_skip`` sets the first alone (the
    ``dont_skip`` behaviour on an unrestricted CRM), ``no_skip_down`` forbids skipping a level
    when de-escalating too. The optional safety stop ends the trial when
    ``Pr(p_1 > target | data) > safety_stop``. At the end the MTD is the dose closest to the
    target.
    """

    cohort_size: int = 1
    name: str = "CRM"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.cohort_size < 1 or self.max_patients % self.cohort_size:
            raise DesignError("the sample size must be a whole number of cohorts")

    def posterior(self, state: TrialState) -> CRMPosterior:
        """Posterior from the patients with a complete DLT assessment (pending ones excluded)."""
        self._check_state(state)
        done = [p for p in state.patients if not p.is_pending(state.window_days)]
        return crm_posterior(
            self.skeleton,
            [p.level for p in done],
            [p.dlt for p in done],
            target=self.target,
            model=self.model,
            prior_var=self.prior_var,
            intercept=self.intercept,
        )

    def select_mtd(self, state: TrialState) -> int | None:
        """Dose closest to the target at the end (``None`` when the safety stop holds)."""
        return self._mtd_from(self.posterior(state))

    def decide(self, state: TrialState) -> Decision:
        """Next dose for the current data (see the class docstring for the rules)."""
        opening = self._opening(state, "cohort")
        if isinstance(opening, Decision):
            return opening
        post, details = opening
        n = len(state.patients)
        pending = int(state.pending_counts().sum())
        current = state.current_dose
        assert current is not None
        in_cohort = n % self.cohort_size
        if in_cohort:
            return Decision(
                next_dose=current,
                continue_trial=True,
                eliminated=(),
                reason=(
                    f"The cohort at {_dose(current)} has {in_cohort} of {self.cohort_size} "
                    "patients: the next patient joins it."
                ),
                details=details,
            )
        if pending:
            return Decision(
                next_dose=current,
                continue_trial=True,
                eliminated=(),
                accrual_suspended=True,
                reason=(
                    f"{pending} patient(s) still in the DLT window: accrual waits for their "
                    "outcomes before the next cohort."
                ),
                details=details,
            )
        last = state.patients[-self.cohort_size :]
        rate = sum(p.dlt for p in last) / len(last)
        why_not = (
            f"the last cohort had a DLT rate {rate:.2f} at or above the target {self.target:g}"
        )
        return self._next(post, details, current, rate < self.target, why_not)

    def simulate(
        self,
        truth: ArrayLike,
        latent: LatentPatients,
        accrual: AccrualModel | None = None,
        stopping: StoppingRule | None = None,
    ) -> TrialOutcomes:
        """Operating characteristics on the latent patients (vectorised across trials).

        One posterior update per cohort for all running trials at once, on the fixed beta grid.
        Durations: each cohort accrues, then is followed for the whole window before the next
        opens (``simulation.cohort_durations``, as for the other cohort designs). ``stopping``
        is a wrapping behaviour's rule, asked after the design's own safety stop.
        """
        return self.simulate_paths(truth, latent, accrual, stopping)[0]

    def simulate_paths(
        self,
        truth: ArrayLike,
        latent: LatentPatients,
        accrual: AccrualModel | None = None,
        stopping: StoppingRule | None = None,
    ) -> tuple[TrialOutcomes, np.ndarray]:
        """As ``simulate``, also returning every patient's dose (``-1``: not enrolled)."""
        p_true = self._check_truth(truth, latent)
        n_trials, n_max, m, d = latent.n_trials, self.max_patients, self.cohort_size, self.n_doses
        grid, wm = self._grid, self._wm
        n_tox = np.zeros((n_trials, d), dtype=np.int64)
        n_non = np.zeros((n_trials, d), dtype=np.int64)
        doses = np.full((n_trials, n_max), -1, dtype=np.int64)
        selected = np.full(n_trials, -1, dtype=np.int64)
        stopped = np.zeros(n_trials, dtype=bool)
        reason = np.zeros(n_trials, dtype=np.int8)
        cohorts_run = np.zeros(n_trials, dtype=np.int64)
        current = np.full(n_trials, self.start, dtype=np.int64)
        idx = np.arange(n_trials)
        for lo in range(0, n_max, m):
            hi = lo + m
            dose = current[idx]
            doses[idx, lo:hi] = dose[:, None]
            cohorts_run[idx] += 1
            k_tox = (latent.tox[idx, lo:hi] < p_true[dose][:, None]).sum(axis=1)
            n_tox[idx, dose] += k_tox
            n_non[idx, dose] += m - k_tox

            beta, _, tail = grid.counts_posterior(n_tox[idx], n_non[idx])
            best = _closest(wm.ptox(beta), self.target)
            too_toxic = self._too_toxic(tail)
            if hi == n_max:
                selected[idx] = np.where(too_toxic, -1, best)
                break
            lowest = np.where(too_toxic, 0, d)
            coherent = (k_tox / m < self.target) if self.restrict else True
            nxt = admissible_dose(best, dose, lowest, coherent, self.no_skipping, self.no_skip_down)
            stop = nxt < 0
            reason[idx[stop]] = CRM_STOP_REASONS.index("lowest dose too toxic")
            if stopping is not None:
                rule = stopping.codes(TrialView(n_tox[idx] + n_non[idx], n_tox[idx], nxt))
                fired = (rule >= 0) & ~stop
                selected[idx[fired]] = best[fired]
                reason[idx[fired]] = len(CRM_STOP_REASONS) + rule[fired]
                stop |= fired
            stopped[idx[stop]] = True
            current[idx] = nxt
            idx = idx[~stop]
            if idx.size == 0:
                break
        outcomes = TrialOutcomes(
            selected=selected,
            n_per_dose=n_tox + n_non,
            dlt_per_dose=n_tox,
            stopped_early=stopped,
            duration_days=cohort_durations(m, cohorts_run, self.window_days, accrual),
            stop_reason=reason,
            stop_labels=CRM_STOP_REASONS + (stopping.labels() if stopping is not None else ()),
        )
        return outcomes, doses


@dataclass(frozen=True)
class TITECRM(_CRMBase):
    """TITE-CRM: one patient at a time, each dosed on arrival with pending patients weighted.

    Cheung & Chappell (2000): a patient without a DLT who is still inside the window counts with
    weight ``w`` (``scheme`` ``"linear"`` or ``"adaptive"``, see ``tite_weights``) in the
    likelihood ``p ** y (1 - w p) ** (1 - y)`` (as ``dfcrm::titecrm``). With ``restrict`` (as
    ``dfcrm::titesim``) escalation never skips a level and there is no escalation when a DLT was
    observed since the previous patient's enrolment. ``decide`` reads ``state.window_days``; for
    that coherence rule a DLT patient's ``followup_days`` (time since the first dose) tells when
    the DLT was observed, and a DLT patient without it is taken as observed before the previous
    enrolment (the latest patient's own DLT always counts as new). The trial enrols
    ``max_patients`` and selects the MTD once all have completed the window.
    """

    scheme: WeightScheme = "linear"
    name: str = "TITE-CRM"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.scheme not in ("linear", "adaptive"):
            raise DesignError(f"unknown TITE weight scheme {self.scheme!r}")

    def _extra_details(self, state: TrialState) -> dict[str, object]:
        return {"weights": [float(v) for v in self.weights(state)]}

    def weights(self, state: TrialState) -> np.ndarray:
        """Each patient's likelihood weight (1 for a DLT or a complete window)."""
        pats = state.patients
        window = state.window_days
        followup = [window if p.followup_days is None else p.followup_days for p in pats]
        dlt = [p.dlt for p in pats]
        if self.scheme == "adaptive" and any(p.dlt and p.dlt_day is None for p in pats):
            raise DesignError("adaptive TITE weights need the DLT day of every patient with a DLT")
        dlt_day = [p.dlt_day if p.dlt and p.dlt_day is not None else 0.0 for p in pats]
        return tite_weights(followup, dlt, dlt_day, window, self.scheme)

    def posterior(self, state: TrialState) -> CRMPosterior:
        """Posterior with pending patients weighted by their follow-up."""
        self._check_state(state)
        return crm_posterior(
            self.skeleton,
            [p.level for p in state.patients],
            [p.dlt for p in state.patients],
            self.weights(state),
            target=self.target,
            model=self.model,
            prior_var=self.prior_var,
            intercept=self.intercept,
        )

    def select_mtd(self, state: TrialState) -> int | None:
        """Dose closest to the target (``None`` when the safety stop holds)."""
        return self._mtd_from(self.posterior(state))

    @staticmethod
    def _new_dlt(state: TrialState) -> bool:
        """Whether a DLT was observed since the latest patient's enrolment."""
        pats = state.patients
        last = pats[-1]
        if last.dlt:
            return True
        since = state.window_days if last.followup_days is None else last.followup_days
        return any(_observed_ago(p) < since for p in pats[:-1] if p.dlt)

    def decide(self, state: TrialState) -> Decision:
        """Dose for the patient arriving now (see the class docstring for the rules)."""
        opening = self._opening(state, "patient")
        if isinstance(opening, Decision):
            return opening
        post, details = opening
        current = state.current_dose
        assert current is not None
        new_dlt = self._new_dlt(state)
        why_not = "a DLT was observed since the previous patient's enrolment"
        return self._next(post, details, current, not new_dlt, why_not)

    def simulate(
        self,
        truth: ArrayLike,
        latent: LatentPatients,
        accrual: AccrualModel | None = None,
        dlt_time: DltTimeModel | None = None,
    ) -> TrialOutcomes:
        """Operating characteristics with continuous accrual (vectorised across trials).

        Patient ``j`` arrives ``gap`` days after patient ``j - 1`` (the first one ``gap`` days
        after the start) and is dosed on the data observed at that moment; DLT days come from
        ``dlt_time``, whose window should be the design's ``window_days``. The MTD is selected
        once every patient has completed the window, and the trial lasts until then (or until
        the safety stop).
        """
        return self.simulate_paths(truth, latent, accrual, dlt_time)[0]

    def simulate_paths(
        self,
        truth: ArrayLike,
        latent: LatentPatients,
        accrual: AccrualModel | None = None,
        dlt_time: DltTimeModel | None = None,
        compiled: bool = True,
    ) -> tuple[TrialOutcomes, np.ndarray]:
        """As ``simulate``, also returning every patient's dose (``-1``: not enrolled).

        Linear weights run the numba kernel of ``tite_crm_simulation`` (``compiled=False``: the
        numpy path, which the kernel is tested against trial by trial)."""
        p_true = self._check_truth(truth, latent)
        accrual = accrual or AccrualModel()
        dlt_time = dlt_time or DltTimeModel(window_days=self.window_days)
        n_trials, n_max, d = latent.n_trials, self.max_patients, self.n_doses
        grid, wm = self._grid, self._wm
        window = self.window_days
        entry = np.cumsum(accrual.gaps(latent.gap[:, :n_max]), axis=1)
        days = dlt_time.days(latent.time[:, :n_max])
        event = entry + days
        levels = np.arange(d)
        if self.scheme == "linear" and compiled:
            from oncotrial.designs.tite_crm_simulation import simulate_tite_crm

            doses, tox, selected, stopped, duration = simulate_tite_crm(
                self, p_true, entry, event, latent.tox[:, :n_max]
            )
            return self._outcomes(doses, tox, selected, stopped, duration, levels), doses

        doses = np.full((n_trials, n_max), -1, dtype=np.int64)
        tox = np.zeros((n_trials, n_max), dtype=bool)
        selected = np.full(n_trials, -1, dtype=np.int64)
        stopped = np.zeros(n_trials, dtype=bool)
        duration = np.zeros(n_trials)
        doses[:, 0] = self.start
        tox[:, 0] = latent.tox[:, 0] < p_true[self.start]
        idx = np.arange(n_trials)
        for j in range(1, n_max):
            now = entry[idx, j][:, None]
            x = doses[idx, :j]
            dlt = tox[idx, :j]
            seen = dlt & (event[idx, :j] <= now)
            followup = now - entry[idx, :j]
            w = self._batch_weights(followup / window, seen, days[idx, :j], window)
            beta, tail = self._batch_posterior(x, seen, w, levels)
            best = _closest(wm.ptox(beta), self.target)
            too_toxic = self._too_toxic(tail)
            lowest = np.where(too_toxic, 0, d)
            coherent: np.ndarray | bool = True
            if self.restrict:
                new_dlt = (seen & (event[idx, :j] > entry[idx, j - 1][:, None])).any(axis=1)
                coherent = ~new_dlt
            nxt = admissible_dose(
                best, x[:, -1], lowest, coherent, self.no_skipping, self.no_skip_down
            )
            stop = nxt < 0
            stopped[idx[stop]] = True
            duration[idx[stop]] = entry[idx[stop], j]
            go = idx[~stop]
            doses[go, j] = nxt[~stop]
            tox[go, j] = latent.tox[go, j] < p_true[nxt[~stop]]
            idx = go
            if idx.size == 0:
                break
        if idx.size:
            x = doses[idx]
            dlt = tox[idx]
            duration[idx] = entry[idx, -1] + window
            n_tox = (dlt[:, :, None] & (x[:, :, None] == levels)).sum(axis=1)
            n_all = (x[:, :, None] == levels).sum(axis=1)
            beta, _, tail = grid.counts_posterior(n_tox, n_all - n_tox)
            best = _closest(wm.ptox(beta), self.target)
            selected[idx] = np.where(self._too_toxic(tail), -1, best)
        return self._outcomes(doses, tox, selected, stopped, duration, levels), doses

    @staticmethod
    def _outcomes(
        doses: np.ndarray,
        tox: np.ndarray,
        selected: np.ndarray,
        stopped: np.ndarray,
        duration: np.ndarray,
        levels: np.ndarray,
    ) -> TrialOutcomes:
        enrolled = doses >= 0
        onehot = (doses[:, :, None] == levels) & enrolled[:, :, None]
        return TrialOutcomes(
            selected=selected,
            n_per_dose=onehot.sum(axis=1).astype(np.int64),
            dlt_per_dose=(onehot & tox[:, :, None]).sum(axis=1).astype(np.int64),
            stopped_early=stopped,
            duration_days=duration,
            stop_reason=stopped.astype(np.int8),
            stop_labels=CRM_STOP_REASONS,
        )

    def _batch_weights(
        self, u: np.ndarray, seen: np.ndarray, dlt_days: np.ndarray, window: float
    ) -> np.ndarray:
        """``tite_weights`` for a (trials, patients) array of follow-up fractions ``u``."""
        w = np.minimum(u, 1.0)
        if self.scheme == "adaptive":
            t = np.sort(np.where(seen, dlt_days / window, np.inf), axis=1)
            z = seen.sum(axis=1, keepdims=True)
            k = (t[:, None, :] <= u[:, :, None]).sum(axis=2)
            knots = np.concatenate([np.zeros((t.shape[0], 1)), t], axis=1)
            lower = np.take_along_axis(knots, k, axis=1)
            upper = np.take_along_axis(knots, np.minimum(k + 1, knots.shape[1] - 1), axis=1)
            upper = np.where(k + 1 > z, 1.0, upper)
            with np.errstate(divide="ignore", invalid="ignore"):
                frac = np.where(upper > lower, (u - lower) / (upper - lower), 0.0)
            w = np.where(z > 0, np.minimum((k + frac) / (z + 1), 1.0), w)
        return np.where(seen | (u >= 1.0), 1.0, w)

    def _batch_posterior(
        self, x: np.ndarray, seen: np.ndarray, w: np.ndarray, levels: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean of beta and the safety tail for (trials, patients) data."""
        grid = self._grid
        full = seen | (w >= 1.0)
        at = x[:, :, None] == levels
        n_tox = (at & seen[:, :, None]).sum(axis=1)
        n_non = (at & (full & ~seen)[:, :, None]).sum(axis=1)
        loglik = grid.counts_loglik(n_tox, n_non)
        rows, cols = np.nonzero(~full)
        if rows.size:
            terms = np.log1p(-w[rows, cols][:, None] * grid.p[x[rows, cols]])
            owners, starts = np.unique(rows, return_index=True)
            loglik[owners] += np.add.reduceat(terms, starts, axis=0)
        beta, _, tail = grid.summarise(loglik)
        return beta, tail


def _observed_ago(p: Patient) -> float:
    """Days since a DLT patient's DLT was observed (infinite when the follow-up is unknown)."""
    if p.followup_days is None or p.dlt_day is None:
        return float("inf")
    return p.followup_days - p.dlt_day
