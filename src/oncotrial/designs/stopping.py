"""Stopping rules as objects that combine with ``&`` and ``|``, each giving its reason.

The grammar of crmPack (Sabanés Bové et al. 2019, J Stat Softw 89(10), section 3.4:
``StoppingMinPatients``, ``StoppingPatientsNearDose`` combined by ``&``/``|``) with the names
of the R package *escalation* (Brock 2019, ``stop_at_n``, ``stop_when_n_at_dose``). A rule is
evaluated on per-trial arrays (:class:`TrialView`), so the scalar ``decide`` of a wrapped design
(:mod:`oncotrial.designs.behaviours`) and the vectorised simulators ask the same question of
the same numbers.

Semantics (escalation's tests, ``test-stop_at_n.R`` and ``test-stop_when_n_at_dose.R``):

* ``StopAtN(n)`` fires once ``n`` patients have been treated in total;
* ``StopWhenNAtDose(n, "recommended")`` fires when the dose recommended for the next cohort
  already holds ``n`` patients; ``StopWhenNAtDose(n, "any")`` when any dose does;
* ``LowestDoseTooToxic(target, cutoff)`` fires when at least 3 patients were treated at the
  lowest dose and Pr(p₁ > target | data) > cutoff under a Beta(1, 1) prior: BOIN's extra-safe
  rule (``BOIN::get.oc``/``select.mtd`` with ``extrasafe = TRUE``, cutoff = ``cutoff.eli -
  offset``). It is a *no-dose* rule: a trial it stops selects no dose, and it also withholds
  the selection at the planned end where it holds;
* ``a | b`` fires when either fires (its reason: the first of them that fired, no-dose rules
  first); ``a & b`` when both fire (its reason: the conjunction; no-dose if a part is).

Example
-------
>>> rule = StopWhenNAtDose(12) | StopAtN(36)
>>> rule
StopWhenNAtDose(12) | StopAtN(36)
>>> view = TrialView(np.array([[3, 12, 0]]), np.array([[0, 3, 0]]), np.array([1]))
>>> [rule.labels()[c] for c in rule.codes(view)]
['12 patients at the recommended dose']
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from oncotrial.designs.base import DesignError


@dataclass(frozen=True)
class TrialView:
    """What a stopping rule sees, per trial: patients ``n`` and DLTs ``y`` at each dose
    (trials, doses) and the dose the design recommends next (-1: none)."""

    n: np.ndarray
    y: np.ndarray
    next_dose: np.ndarray

    @property
    def total(self) -> np.ndarray:
        return self.n.sum(axis=-1)


class StoppingRule(ABC):
    """A rule deciding, per trial, whether to stop now; combine with ``&`` and ``|``."""

    @abstractmethod
    def fired(self, view: TrialView) -> np.ndarray:
        """True where the rule stops the trial."""

    def labels(self) -> tuple[str, ...]:
        """The reasons this rule can give (``codes`` indexes into them)."""
        return (self.reason(),)

    @abstractmethod
    def reason(self) -> str:
        """Why a trial stopped by this rule stopped, in words."""

    def codes(self, view: TrialView) -> np.ndarray:
        """Per trial, the index of the reason in :meth:`labels` (-1: the rule did not fire)."""
        return np.where(self.fired(view), 0, -1)

    def no_dose(self) -> tuple[bool, ...]:
        """Per reason in :meth:`labels`: does a trial stopped for it select no dose?"""
        return (False,) * len(self.labels())

    def no_dose_fired(self, view: TrialView) -> np.ndarray:
        """True where a no-dose reason fires (the trial stops and selects no dose)."""
        return self.no_dose_of(self.codes(view))

    def no_dose_of(self, codes: np.ndarray) -> np.ndarray:
        """True where the reason ``codes`` (from :meth:`codes`; -1: none) is a no-dose one."""
        return np.array(self.no_dose() + (False,))[codes]

    def __or__(self, other: StoppingRule) -> StoppingRule:
        return AnyOf(_parts(self, AnyOf) + _parts(other, AnyOf))

    def __and__(self, other: StoppingRule) -> StoppingRule:
        return AllOf(_parts(self, AllOf) + _parts(other, AllOf))


def _parts(rule: StoppingRule, kind: type) -> tuple[StoppingRule, ...]:
    if not isinstance(rule, StoppingRule):
        raise DesignError(f"stopping rules combine only with stopping rules, not {rule!r}")
    return rule.rules if isinstance(rule, kind) else (rule,)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class StopAtN(StoppingRule):
    """Stop once ``n`` patients have been treated (escalation's ``stop_at_n``)."""

    n: int

    def __post_init__(self) -> None:
        if self.n < 1:
            raise DesignError(f"stop_at_n needs at least 1 patient, got {self.n}")

    def fired(self, view: TrialView) -> np.ndarray:
        return view.total >= self.n

    def reason(self) -> str:
        return f"{self.n} patients treated"

    def __repr__(self) -> str:
        return f"StopAtN({self.n})"


@dataclass(frozen=True)
class StopWhenNAtDose(StoppingRule):
    """Stop when the recommended dose (or ``dose="any"`` dose) holds ``n`` patients
    (escalation's ``stop_when_n_at_dose``)."""

    n: int
    dose: str = "recommended"

    def __post_init__(self) -> None:
        if self.n < 1:
            raise DesignError(f"stop_when_n_at_dose needs at least 1 patient, got {self.n}")
        if self.dose not in ("recommended", "any"):
            raise DesignError(
                f"stop_when_n_at_dose: dose must be 'recommended' or 'any', not '{self.dose}'"
            )

    def fired(self, view: TrialView) -> np.ndarray:
        if self.dose == "any":
            return (view.n >= self.n).any(axis=-1)
        nxt = np.asarray(view.next_dose)
        at = np.take_along_axis(view.n, np.maximum(nxt, 0)[..., None], axis=-1)[..., 0]
        return (nxt >= 0) & (at >= self.n)

    def reason(self) -> str:
        where = "the recommended dose" if self.dose == "recommended" else "a dose"
        return f"{self.n} patients at {where}"

    def __repr__(self) -> str:
        extra = "" if self.dose == "recommended" else f", dose={self.dose!r}"
        return f"StopWhenNAtDose({self.n}{extra})"


@dataclass(frozen=True)
class LowestDoseTooToxic(StoppingRule):
    """Stop, selecting no dose, when ``min_n`` or more patients were treated at the lowest dose
    and Pr(p₁ > ``target`` | data) > ``cutoff`` under a Beta(1, 1) prior: BOIN's extra-safe rule
    (Liu & Yuan 2015, section 2.3; BOIN R package ``extrasafe``, cutoff = cutoff.eli - offset)."""

    target: float
    cutoff: float = 0.90
    min_n: int = 3

    def __post_init__(self) -> None:
        if not 0.0 < self.target < 1.0 or not 0.0 < self.cutoff < 1.0 or self.min_n < 1:
            raise DesignError(
                f"extra-safe rule needs target and cutoff in (0, 1) and min_n >= 1, got "
                f"target {self.target}, cutoff {self.cutoff}, min_n {self.min_n}"
            )

    def fired(self, view: TrialView) -> np.ndarray:
        n0, y0 = np.asarray(view.n)[..., 0], np.asarray(view.y)[..., 0]
        first = _first_too_toxic(self.target, self.cutoff, self.min_n, int(np.max(n0, initial=0)))
        return (first[n0] >= 0) & (y0 >= first[n0])

    def no_dose(self) -> tuple[bool, ...]:
        return (True,)

    def reason(self) -> str:
        return f"extra-safe: Pr(DLT rate > {self.target:g}) > {self.cutoff:g} at the lowest dose"

    def __repr__(self) -> str:
        return f"LowestDoseTooToxic({self.target:g}, cutoff={self.cutoff:g})"


@functools.lru_cache(maxsize=64)
def _first_too_toxic(target: float, cutoff: float, min_n: int, n_max: int) -> np.ndarray:
    """``first[n]``: the smallest DLT count with Pr(p > target) > cutoff among n (-1: none)."""
    from oncotrial.designs.boin import elimination_boundary  # boin.py imports this module

    first = np.concatenate([[-1], elimination_boundary(target, max(n_max, 1), cutoff, min_n)])
    first.setflags(write=False)
    return first


@dataclass(frozen=True)
class AnyOf(StoppingRule):
    """Stop when any rule stops; the reason is the first that fired, no-dose reasons first."""

    rules: tuple[StoppingRule, ...]

    def fired(self, view: TrialView) -> np.ndarray:
        return self.codes(view) >= 0

    def labels(self) -> tuple[str, ...]:
        return tuple(label for r in self.rules for label in r.labels())

    def no_dose(self) -> tuple[bool, ...]:
        return tuple(flag for r in self.rules for flag in r.no_dose())

    def codes(self, view: TrialView) -> np.ndarray:
        out = np.full(np.shape(view.next_dose), -1, dtype=np.int64)
        parts, offset = [], 0
        for r in self.rules:
            c = r.codes(view)
            parts.append(np.where(c >= 0, c + offset, -1))
            offset += len(r.labels())
        for wanted in (True, False):
            for c in parts:
                out = np.where((out < 0) & (c >= 0) & (self.no_dose_of(c) == wanted), c, out)
        return out

    def reason(self) -> str:
        return " or ".join(r.reason() for r in self.rules)

    def __repr__(self) -> str:
        return " | ".join(_wrap(r, AllOf) for r in self.rules)


@dataclass(frozen=True)
class AllOf(StoppingRule):
    """Stop when every rule stops; the reason names them all."""

    rules: tuple[StoppingRule, ...]

    def fired(self, view: TrialView) -> np.ndarray:
        out = np.ones(np.shape(view.next_dose), dtype=bool)
        for r in self.rules:
            out &= r.fired(view)
        return out

    def no_dose(self) -> tuple[bool, ...]:
        return (any(flag for r in self.rules for flag in r.no_dose()),)

    def reason(self) -> str:
        return " and ".join(r.reason() for r in self.rules)

    def __repr__(self) -> str:
        return " & ".join(_wrap(r, AnyOf) for r in self.rules)


def _wrap(rule: StoppingRule, kind: type) -> str:
    return f"({rule!r})" if isinstance(rule, kind) else repr(rule)
