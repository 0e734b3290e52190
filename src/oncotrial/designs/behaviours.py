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
from oncotrial.designs.stopping import (
    LowestDoseTooToxic,
    StopAtN,
    StoppingRule,
    StopWhenNAtDose,
    TrialView,
)

#: Designs whose decide and simulator take stopping behaviours.
SUPPORTED = ("boin", "keyboard", "mtpi2", "i3+3", "crm", "blrm")


@dataclass(frozen=True)
class WithStopping:
    """``parent`` with a stopping rule (module docstring). Other attributes are the parent's."""

    parent: Any
    rule: StoppingRule

    def __post_init__(self) -> None:
        if not isinstance(self.rule, StoppingRule):
            raise DesignError(f"not a stopping rule: {self.rule!r}")
        simulate = getattr(self.parent, "simulate", None)
        if simulate is None or "stopping" not in inspect.signature(simulate).parameters:
            raise DesignError(
                f"{self.parent.name} does not take stopping behaviours yet ({self.rule!r}); "
                f"they wrap: {', '.join(SUPPORTED)}"
            )

    def __getattr__(self, name: str) -> Any:
        # only reached for attributes the wrapper lacks; guard pickling's early look-ups
        if name.startswith("__") or name in ("parent", "rule"):
            raise AttributeError(name)
        return getattr(self.parent, name)

    @property
    def name(self) -> str:
        return str(self.parent.name)

    @property
    def n_doses(self) -> int:
        return int(self.parent.n_doses)

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
        params = inspect.signature(self.parent.simulate).parameters
        accepted = {k: v for k, v in kwargs.items() if k in params and k != "stopping"}
        outer = kwargs.get("stopping")
        rule = self.rule if outer is None else outer | self.rule
        outcomes = self.parent.simulate(truth, latent, *args, stopping=rule, **accepted)
        if not any(rule.no_dose()):
            return outcomes
        final = TrialView(outcomes.n_per_dose, outcomes.dlt_per_dose, outcomes.selected)
        codes = rule.codes(final)
        no_dose = rule.no_dose_fired(final)
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
    target = getattr(design, "target", None) if target is None else target
    if target is None:
        raise DesignError(f"extra-safe needs a target DLT rate for {design.name}")
    return with_stopping(design, LowestDoseTooToxic(float(target), cutoff - offset))


#: Designs whose rule moves at most one level per decision: no skipping is already theirs.
ONE_STEP_DESIGNS = (
    "3+3",
    "boin",
    "tite-boin",
    "keyboard",
    "mtpi2",
    "i3+3",
    "boin12",
    "tite-boin12",
    "bf-boin",
)


def dont_skip(design: Any) -> Any:
    """Never escalate more than one level above the current dose (escalation's
    ``dont_skip_doses(when_escalating = TRUE)``; Cheung 2011, section 3.2).

    The rule lives where admissibility is decided (:func:`~oncotrial.designs.admissibility.
    admissible_dose`'s ``no_skip`` flag): a CRM or BLRM gets its ``no_skip`` set, so its
    ``decide`` and its simulator honour it alike; the designs of :data:`ONE_STEP_DESIGNS`
    never skip and come back unchanged; wrapped behaviours are kept.
    """
    if isinstance(design, WithStopping):
        return WithStopping(dont_skip(design.parent), design.rule)
    if design.name.lower() in ONE_STEP_DESIGNS:
        return design
    if "no_skip" in {f.name for f in fields(design)}:
        return replace(design, no_skip=True)
    raise DesignError(f"{design.name} has no no-skipping rule to set")


def describe(design: Any) -> str:
    """One line a statistician reads: the design, its main settings and its behaviours."""
    if hasattr(design, "describe") and isinstance(design, WithStopping):
        return design.describe()
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
