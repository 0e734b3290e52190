"""The shared vocabulary of every dose-finding design.

A design sees the trial as plain data (:class:`TrialState`: one :class:`Patient` per enrolled
patient) and answers with a :class:`Decision`. Dose levels are 0-based indices into the design's
ordered levels inside the library; the CLI and JSON show them 1-based.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np


class DesignError(ValueError):
    """A design was given parameters or data it cannot work with."""


def check_cohort_design(
    n_doses: int,
    target: float,
    cohort_size: int,
    n_cohorts: int,
    start: int,
    error: type[DesignError] = DesignError,
) -> None:
    """The parameter checks every cohort-based design shares (raised as ``error``)."""
    if n_doses < 1:
        raise error("a design needs at least one dose")
    if not 0.0 < target < 1.0:
        raise error(f"target must be in (0, 1), got {target}")
    if cohort_size < 1 or n_cohorts < 1:
        raise error("cohort size and number of cohorts must be at least 1")
    if not 0 <= start < n_doses:
        raise error(f"start dose {start + 1} is outside 1..{n_doses}")


@dataclass(frozen=True)
class Patient:
    """One patient's dose-limiting-toxicity (DLT) data.

    ``followup_days`` is the time since the first dose; ``None`` means the patient has completed
    the DLT window (or had a DLT). ``dlt_day`` is the day of the DLT when ``dlt`` is true.
    """

    level: int
    dlt: bool
    dlt_day: float | None = None
    followup_days: float | None = None

    def is_pending(self, window_days: float) -> bool:
        """True while the patient is still inside the DLT window without a DLT."""
        return not self.dlt and self.followup_days is not None and self.followup_days < window_days


@dataclass(frozen=True)
class TrialState:
    """The trial so far: doses, patients, the dose of the latest cohort and the DLT window."""

    n_doses: int
    patients: tuple[Patient, ...] = ()
    current: int | None = None
    window_days: float = 28.0

    def __post_init__(self) -> None:
        if self.n_doses < 1:
            raise DesignError("a design needs at least one dose level")
        for i, p in enumerate(self.patients):
            if not 0 <= p.level < self.n_doses:
                raise DesignError(
                    f"patient {i + 1}: dose level index {p.level + 1} is outside 1..{self.n_doses}"
                )
            if p.dlt_day is not None and p.dlt_day < 0:
                raise DesignError(f"patient {i + 1}: DLT day {p.dlt_day} is negative")
            if p.followup_days is not None and p.followup_days < 0:
                raise DesignError(f"patient {i + 1}: follow-up {p.followup_days} is negative")
        if self.current is not None and not 0 <= self.current < self.n_doses:
            raise DesignError(f"current dose index {self.current + 1} is outside 1..{self.n_doses}")

    @property
    def current_dose(self) -> int | None:
        """The dose of the latest cohort (explicit ``current`` or the last patient's level)."""
        if self.current is not None:
            return self.current
        return self.patients[-1].level if self.patients else None

    def evaluable_counts(self) -> tuple[np.ndarray, np.ndarray]:
        """Patients with a complete DLT assessment and their DLTs, per dose (pending excluded)."""
        n = np.zeros(self.n_doses, dtype=int)
        y = np.zeros(self.n_doses, dtype=int)
        for p in self.patients:
            if p.is_pending(self.window_days):
                continue
            n[p.level] += 1
            y[p.level] += int(p.dlt)
        return n, y

    def pending_counts(self) -> np.ndarray:
        """Patients still inside the DLT window without a DLT, per dose."""
        m = np.zeros(self.n_doses, dtype=int)
        for p in self.patients:
            if p.is_pending(self.window_days):
                m[p.level] += 1
        return m

    def enrolled_counts(self) -> np.ndarray:
        """All patients treated at each dose, pending or not."""
        return np.bincount([p.level for p in self.patients], minlength=self.n_doses).astype(int)

    def highest_tried(self) -> int:
        """Highest dose index given to anyone (-1 when nobody is treated yet)."""
        return max((p.level for p in self.patients), default=-1)

    @classmethod
    def from_counts(
        cls, n: Sequence[int], y: Sequence[int], current: int | None = None
    ) -> TrialState:
        """Build a state from per-dose patient and DLT counts (all patients fully evaluated)."""
        if len(n) != len(y):
            raise DesignError("patient and DLT counts must have one entry per dose")
        patients: list[Patient] = []
        for level, (nd, yd) in enumerate(zip(n, y, strict=True)):
            if yd < 0 or nd < 0 or yd > nd:
                raise DesignError(f"dose {level + 1}: {yd} DLTs among {nd} patients is impossible")
            patients += [Patient(level, True)] * int(yd) + [Patient(level, False)] * int(nd - yd)
        return cls(n_doses=len(n), patients=tuple(patients), current=current)


@dataclass(frozen=True)
class Decision:
    """What a design recommends next, and why.

    ``next_dose`` is ``None`` when the trial stops; ``mtd`` is the dose selected at the end
    (``None`` when no dose is acceptable or the trial continues). ``details`` carries the design's
    numbers (boundaries, posterior mean, toxicity estimates) for display and JSON.
    """

    next_dose: int | None
    continue_trial: bool
    eliminated: tuple[int, ...]
    reason: str
    accrual_suspended: bool = False
    mtd: int | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Machine form with 1-based dose indices, as the CLI prints it."""
        out: dict[str, Any] = {
            "next_dose": None if self.next_dose is None else self.next_dose + 1,
            "continue": self.continue_trial,
            "eliminated": [d + 1 for d in self.eliminated],
            "accrual_suspended": self.accrual_suspended,
            "mtd": None if self.mtd is None else self.mtd + 1,
            "reason": self.reason,
        }
        out.update(self.details)
        return out


class Design(Protocol):
    """What every dose-finding design offers."""

    name: str
    n_doses: int

    def decide(self, state: TrialState) -> Decision:
        """The next dose for the current data."""
        ...

    def select_mtd(self, state: TrialState) -> int | None:
        """The dose selected as MTD at the end of the trial (``None``: no dose acceptable)."""
        ...
