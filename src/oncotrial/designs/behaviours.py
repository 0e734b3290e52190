"""Behaviours that wrap a parent design and change only what they change, as in the R package
*escalation* (Brock 2019): ``stop_at_n(stop_when_n_at_dose(boin, 12), 36)`` reads like
``get_boin(5, 0.3) %>% stop_when_n_at_dose(12) %>% stop_at_n(36)``.

A wrapped design asks its parent first. Where the parent continues (and does not wait for
pending data), the stopping rule (:mod:`oncotrial.designs.stopping`) is asked with the
evaluated counts and the parent's admissible next dose; when it fires the trial stops, the dose
selected is the parent's ``select_mtd`` on the same data and the decision's
``details["stop_reason"]`` is the rule's reason. The parent's own stops (safety, its sample
size) come first. Eliminations and admissibility stay the parent's, applied once by
:func:`~oncotrial.designs.admissibility.admissible_dose`: a behaviour never edits a dose.

Other behaviours: :func:`extra_safe` (a no-dose stopping rule), :func:`dont_skip` (the
admissibility's no-skip flag), :func:`select_boin_mtd` (the final dose by BOIN's selection,
escalation's ``select_boin_mtd``) and :func:`backfill` (BOIN into BF-BOIN).

The vectorised simulators honour the same rule (their ``stopping`` argument), so a wrapped
design's ``simulate`` gives, trial by trial, what its ``decide`` gives on the same latent
patients; a parent whose simulator does not take a stopping rule is refused with a clear error.

Example
-------
>>> from oncotrial.designs.boin import BOIN
>>> design = stop_at_n(stop_when_n_at_dose(BOIN(n_doses=5, target=0.3, n_cohorts=12), 12), 36)
>>> describe(design)
'boin (5 doses, target 0.3, 12 cohorts of 3) → stop when StopWhenNAtDose(12) | StopAtN(36)'
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from oncotrial.designs.base import Decision, Design, DesignError, TrialState
from oncotrial.designs.efficacy import TOO_TOXIC
from oncotrial.designs.names import EFFICACY_DESIGNS, ONE_STEP_DESIGNS
from oncotrial.designs.stopping import (
    LowestDoseTooToxic,
    StopAtN,
    StoppingRule,
    StopWhenNAtDose,
    TrialView,
)

#: Designs whose decide and simulator take stopping behaviours.
SUPPORTED = ("boin", "keyboard", "mtpi2", "i3+3", "crm", "blrm")


class Behaviour:
    """What every behaviour shares: a ``parent`` design whose other attributes it shows."""

    parent: Any

    def __getattr__(self, name: str) -> Any:
        # only reached for attributes the wrapper lacks; guard pickling's early look-ups
        if name.startswith("__") or name == "parent":
            raise AttributeError(name)
        return getattr(self.parent, name)

    @property
    def name(self) -> str:
        return str(self.parent.name)

    @property
    def n_doses(self) -> int:
        return int(self.parent.n_doses)


def innermost(design: Any) -> Any:
    """The design under all its behaviours."""
    while isinstance(design, Behaviour):
        design = design.parent
    return design


def _target_of(design: Any, target: float | None, behaviour: str) -> float:
    """``target``, else the design's own target DLT rate (a BLRM has an interval, not one)."""
    chosen = getattr(design, "target", None) if target is None else target
    if chosen is None:
        raise DesignError(f"{behaviour} needs a target DLT rate for {design.name}")
    return float(chosen)


def _takes_stopping(design: Any) -> bool:
    simulate = getattr(innermost(design), "simulate", None)
    return simulate is not None and "stopping" in inspect.signature(simulate).parameters


def _simulator_kwargs(design: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments the innermost simulator takes (models it does not use are
    dropped), without ``stopping``, which each behaviour hands down itself."""
    params = inspect.signature(innermost(design).simulate).parameters
    return {k: v for k, v in kwargs.items() if k in params and k != "stopping"}


@dataclass(frozen=True)
class WithStopping(Behaviour):
    """``parent`` with a stopping rule (module docstring). Other attributes are the parent's."""

    parent: Any
    rule: StoppingRule

    def __post_init__(self) -> None:
        if not isinstance(self.rule, StoppingRule):
            raise DesignError(f"not a stopping rule: {self.rule!r}")
        if not _takes_stopping(self.parent):
            raise DesignError(
                f"{self.parent.name} does not take stopping behaviours yet ({self.rule!r}); "
                f"they wrap: {', '.join(SUPPORTED)}"
            )

    def select_mtd(self, state: TrialState) -> int | None:
        """The parent's MTD, or none where a no-dose rule (extra-safe) holds on the data."""
        n, y = state.evaluable_counts()
        if self.rule.no_dose_fired(TrialView(n[None, :], y[None, :], np.array([-1])))[0]:
            return None
        return self.parent.select_mtd(state)

    def decide(self, state: TrialState, *args: Any) -> Decision:
        """The parent's decision, unless the stopping rule ends the trial here.

        A no-dose rule (extra-safe) is asked whatever the parent decided, even while it waits
        for pending data or at its planned end: where it holds the trial stops with no dose.
        Other rules are asked only where the parent would treat another cohort.
        """
        decision = self.parent.decide(state, *args)
        n, y = state.evaluable_counts()
        going_on = decision.continue_trial and decision.next_dose is not None
        nxt = decision.next_dose if going_on else -1
        view = TrialView(n[None, :], y[None, :], np.array([nxt]))
        code = int(self.rule.codes(view)[0])
        if code < 0:
            return decision
        why = self.rule.labels()[code]
        details = {**decision.details, "stop_reason": why, "stopping": repr(self.rule)}
        if self.rule.no_dose()[code]:
            if not decision.continue_trial and decision.mtd is None:
                return decision  # the parent's own safety stop comes first
            return Decision(
                None,
                False,
                decision.eliminated,
                f"{decision.reason}; stopping rule {self.rule!r}: {why}: stop, no dose is selected",
                details=details,
            )
        if not going_on or decision.accrual_suspended:
            return decision
        mtd = self.parent.select_mtd(state)
        chosen = "none" if mtd is None else f"dose {mtd + 1}"
        return Decision(
            None,
            False,
            decision.eliminated,
            f"{decision.reason}; stopping rule {self.rule!r}: {why}: stop, MTD = {chosen}",
            mtd=mtd,
            details=details,
        )

    def simulate(self, truth: Any, latent: Any, *args: Any, **kwargs: Any) -> Any:
        """The parent's vectorised simulator with the rule in its cohort loop.

        A rule handed down by an outer wrapper is or-ed with this one. Where a no-dose rule
        holds on a trial's final counts, the trial selects no dose, and if it stopped early
        (not for the parent's own safety stop) the rule is its reason — the order in which
        ``decide`` asks them.
        """
        accepted = _simulator_kwargs(self.parent, kwargs)
        outer = kwargs.get("stopping")
        rule = self.rule if outer is None else outer | self.rule
        outcomes = self.parent.simulate(truth, latent, *args, stopping=rule, **accepted)
        if not any(rule.no_dose()):
            return outcomes
        final = TrialView(outcomes.n_per_dose, outcomes.dlt_per_dose, outcomes.selected)
        codes = rule.codes(final)
        no_dose = rule.no_dose_of(codes)
        outcomes.selected = np.where(no_dose, -1, outcomes.selected)
        if outcomes.stop_labels:
            first = len(outcomes.stop_labels) - len(rule.labels())
            moved = no_dose & outcomes.stopped_early & (outcomes.stop_reason != TOO_TOXIC)
            outcomes.stop_reason = np.where(moved, first + codes, outcomes.stop_reason).astype(
                outcomes.stop_reason.dtype
            )
        return outcomes

    def describe(self) -> str:
        return f"{describe(self.parent)} → stop when {self.rule!r}"

    def __repr__(self) -> str:
        return self.describe()


@dataclass(frozen=True)
class SelectBoinMTD(Behaviour):
    """``parent`` whose final dose is chosen by BOIN's MTD selection (escalation's
    ``select_boin_mtd(when = "finally")``): while the parent continues nothing changes; when it
    stops recommending a dose, that dose is replaced by ``BOIN::select.mtd``'s on all evaluated
    patients (:func:`~oncotrial.designs.boin.boin_select_mtd`: elimination at
    Pr(p > target) > ``cutoff_eli``, isotonic estimate closest to the target); a stop with no
    dose stays one. ``target`` is the parent's unless given (a BLRM has an interval)."""

    parent: Any
    target: float | None = None
    cutoff_eli: float = 0.95

    def __post_init__(self) -> None:
        if self.name.lower() in EFFICACY_DESIGNS:
            raise DesignError(
                f"{self.name} selects an optimal biological dose, not an MTD: BOIN's MTD "
                "selection does not apply"
            )
        target = _target_of(self.parent, self.target, "BOIN's MTD selection")
        object.__setattr__(self, "target", target)

    def _chosen(self, n: np.ndarray, y: np.ndarray) -> np.ndarray:
        from oncotrial.designs.boin import boin_select_mtd  # boin.py builds on this module

        assert self.target is not None
        return boin_select_mtd(n, y, self.target, self.cutoff_eli)

    def select_mtd(self, state: TrialState) -> int | None:
        n, y = state.evaluable_counts()
        mtd = int(self._chosen(n[None, :], y[None, :])[0])
        return None if mtd < 0 else mtd

    def decide(self, state: TrialState, *args: Any) -> Decision:
        """The parent's decision; at a stop that recommends a dose, BOIN's choice instead."""
        decision = self.parent.decide(state, *args)
        if decision.continue_trial or decision.mtd is None:
            return decision
        mtd = self.select_mtd(state)
        chosen = "none" if mtd is None else f"dose {mtd + 1}"
        return replace(
            decision,
            mtd=mtd,
            reason=f"{decision.reason}; MTD by BOIN's selection (isotonic): {chosen}",
            details={**decision.details, "mtd_selection": "boin"},
        )

    def simulate(
        self,
        truth: Any,
        latent: Any,
        *args: Any,
        stopping: StoppingRule | None = None,
        **kwargs: Any,
    ) -> Any:
        """The parent's simulator; each trial that selected a dose selects BOIN's instead."""
        if stopping is not None:
            kwargs["stopping"] = stopping
        outcomes = self.parent.simulate(truth, latent, *args, **kwargs)
        chosen = self._chosen(outcomes.n_per_dose, outcomes.dlt_per_dose)
        outcomes.selected = np.where(outcomes.selected >= 0, chosen, -1)
        return outcomes

    def describe(self) -> str:
        return f"{describe(self.parent)} → MTD by BOIN's selection"

    def __repr__(self) -> str:
        return self.describe()


def select_boin_mtd(
    design: Design, cutoff_eli: float = 0.95, target: float | None = None
) -> SelectBoinMTD:
    """Choose the final dose by BOIN's MTD selection (escalation's ``select_boin_mtd``);
    ``target``: the design's own unless given (a BLRM has a target interval)."""
    return SelectBoinMTD(design, target, cutoff_eli)


def backfill(design: Any, cap: int = 12, arrivals: Any = None) -> Any:
    """BOIN that backfills patients to cleared doses with a response (BF-BOIN; Zhao, Yuan, Korn
    & Freidlin 2024): the BOIN's own settings, at most ``cap`` patients a dose, and the
    arrivals its simulator draws (``Arrivals()``: 3 a month, uniform gaps, as ``get.oc.bf``).
    Backfilling changes the trial's data, so it wraps BOIN itself, before other behaviours."""
    from oncotrial.designs.boin import BOIN  # boin.py builds on this module

    if isinstance(design, Behaviour):
        raise DesignError(
            "backfill wraps BOIN itself (BF-BOIN's simulator takes no other behaviour yet)"
        )
    if type(design) is not BOIN:
        raise DesignError(
            f"backfilling is defined for BOIN (BF-BOIN, Zhao et al. 2024), not for {design.name}"
        )
    from oncotrial.designs.bfboin import BFBOIN  # numba compiles its kernel on import
    from oncotrial.designs.efficacy import Arrivals

    settings = {f.name: getattr(design, f.name) for f in fields(BOIN) if f.name != "name"}
    return BFBOIN(**settings, backfill_cap=cap, arrivals=arrivals or Arrivals())


def with_stopping(design: Design, rule: StoppingRule) -> WithStopping:
    """``design`` that also stops when ``rule`` fires; rules added to a wrapped design are
    or-ed with its rule (escalation's chaining: any of them stops the trial)."""
    if isinstance(design, WithStopping):
        return WithStopping(design.parent, design.rule | rule)
    return WithStopping(design, rule)


def stop_at_n(design: Design, n: int) -> WithStopping:
    """Stop once ``n`` patients have been treated (escalation's ``stop_at_n``)."""
    return with_stopping(design, StopAtN(n))


def stop_when_n_at_dose(design: Design, n: int, dose: str = "recommended") -> WithStopping:
    """Stop when the recommended (or ``"any"``) dose holds ``n`` patients."""
    return with_stopping(design, StopWhenNAtDose(n, dose))


def extra_safe(
    design: Design, cutoff: float = 0.95, offset: float = 0.05, target: float | None = None
) -> WithStopping:
    """Stop, selecting no dose, when the lowest dose is too toxic: at least 3 patients there
    and Pr(p₁ > target | data) > ``cutoff - offset`` (BOIN's ``extrasafe``). ``target`` is the
    design's own unless given (a BLRM has a target interval, not a target rate)."""
    rule = LowestDoseTooToxic(_target_of(design, target, "extra-safe"), cutoff - offset)
    return with_stopping(design, rule)


def dont_skip(design: Any, when_deescalating: bool = False) -> Any:
    """Never escalate more than one level above the current dose, and with
    ``when_deescalating`` never de-escalate more than one below it (escalation's
    ``dont_skip_doses(when_escalating = TRUE, when_deescalating)``; Cheung 2011, section 3.2).

    The rule lives where admissibility is decided (:func:`~oncotrial.designs.admissibility.
    admissible_dose`'s ``no_skip`` and ``no_skip_down`` flags): a CRM gets them set (a BLRM its
    ``no_skip``: no untried level skipped), so its ``decide`` and its simulator honour them
    alike; the designs of :data:`~oncotrial.designs.names.ONE_STEP_DESIGNS` never skip and come
    back unchanged; wrapped behaviours are kept.
    """
    if isinstance(design, Behaviour):
        return replace(design, parent=dont_skip(design.parent, when_deescalating))  # type: ignore[type-var]
    if design.name.lower() in ONE_STEP_DESIGNS:
        return design
    names = {f.name for f in fields(design)}
    if when_deescalating and "no_skip_down" not in names:
        raise DesignError(f"{design.name} has no rule against skipping levels when de-escalating")
    if "no_skip" not in names:
        raise DesignError(f"{design.name} has no no-skipping rule to set")
    extra = {"no_skip_down": True} if when_deescalating else {}
    return replace(design, no_skip=True, **extra)


def describe(design: Any) -> str:
    """One line a statistician reads: the design, its main settings and its behaviours."""
    if isinstance(design, Behaviour):
        return design.describe()  # type: ignore[attr-defined]
    parts = [f"{getattr(design, 'n_doses', '?')} doses"]
    if getattr(design, "target", None) is not None:
        parts.append(f"target {design.target:g}")
    if design.name.lower() not in ONE_STEP_DESIGNS and getattr(
        design, "no_skipping", getattr(design, "no_skip", False)
    ):
        parts.append("no level skipped")
    cohorts, size = getattr(design, "n_cohorts", None), getattr(design, "cohort_size", None)
    if cohorts is not None and size is not None:
        parts.append(f"{cohorts} cohorts of {size}")
    elif getattr(design, "max_patients", None) is not None:
        parts.append(f"at most {design.max_patients} patients")
    return f"{design.name} ({', '.join(parts)})"
