"""Shared pieces of the vectorised simulators: latent patients, per-trial outcomes, summaries.

Common random numbers: every virtual patient carries one latent uniform ``tox`` and has a DLT at
dose d exactly when ``tox < truth[d]``, so designs compared on the same latent patients differ
only by their decisions (the "one latent uniform per patient" device of O'Quigley, Paoletti &
Maccario 2002). TITE designs also use ``time`` (when, inside the window, the DLT happens) and
``gap`` (days between arrivals of eligible patients).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from oncotrial.designs.base import Design, Patient, TrialState

#: Trials per random block: each block has its own stream derived from (seed, block index), so
#: results do not depend on how blocks are shared among workers.
BLOCK_TRIALS = 20_000


@dataclass(frozen=True)
class AccrualModel:
    """Poisson accrual of eligible patients: ``rate_per_month`` patients per 30 days.

    Patients who arrive while accrual is suspended are not enrolled; by memorylessness the next
    one arrives an exponential gap after accrual reopens.
    """

    rate_per_month: float = 2.0

    def gaps(self, gap_uniforms: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Inter-arrival gaps in days from latent uniforms (into ``out`` when given)."""
        out = np.negative(gap_uniforms, out=out)
        np.log1p(out, out=out)
        np.negative(out, out=out)
        out *= self.mean_gap_days
        return out

    @property
    def mean_gap_days(self) -> float:
        """Mean days between eligible arrivals (months of 30 days)."""
        return 30.0 / self.rate_per_month


@dataclass(frozen=True)
class DltTimeModel:
    """Time of a DLT inside the window: ``P(T <= t) = (t / window) ** shape``.

    ``shape = 1`` spreads DLTs uniformly over the window; ``shape = log(0.5) / log(0.5) ...``
    larger shapes push them late (the fraction in the second half is ``1 - 0.5 ** shape``;
    Yuan et al. 2018 use 50 % and 70 %, i.e. shape 1 and about 1.74).
    """

    window_days: float = 28.0
    shape: float = 1.0

    def days(self, time_uniforms: np.ndarray) -> np.ndarray:
        """DLT days in (0, window] from latent uniforms."""
        return self.window_days * (1.0 - time_uniforms) ** (1.0 / self.shape)

    @classmethod
    def with_late_fraction(cls, late_fraction: float, window_days: float = 28.0) -> DltTimeModel:
        """The model in which ``late_fraction`` of DLTs fall in the window's second half."""
        if not 0.0 < late_fraction < 1.0:
            raise ValueError("late_fraction must be in (0, 1)")
        return cls(window_days=window_days, shape=float(np.log1p(-late_fraction) / np.log(0.5)))


class LatentPatients:
    """Latent uniforms for ``n_trials`` trials of up to ``max_patients`` patients, in order.

    ``tox`` decides DLTs; ``time`` (DLT day) and ``gap`` (arrival gap) are drawn on first use
    from their own streams, so designs that need only ``tox`` do not pay for them.
    """

    def __init__(
        self,
        tox: np.ndarray,
        time: np.ndarray | None = None,
        gap: np.ndarray | None = None,
        streams: tuple[np.random.SeedSequence, np.random.SeedSequence] | None = None,
    ) -> None:
        if (time is None or gap is None) and streams is None:
            raise ValueError("give time and gap uniforms, or the streams to draw them from")
        self.tox = tox
        self._time = time
        self._gap = gap
        self._streams = streams

    @property
    def n_trials(self) -> int:
        return self.tox.shape[0]

    @property
    def time(self) -> np.ndarray:
        if self._time is None:
            assert self._streams is not None
            self._time = _uniforms(self._streams[0], self.tox.shape)
        return self._time

    @property
    def gap(self) -> np.ndarray:
        if self._gap is None:
            assert self._streams is not None
            self._gap = _uniforms(self._streams[1], self.tox.shape)
        return self._gap

    @classmethod
    def draw(cls, n_trials: int, max_patients: int, seed: int, block: int = 0) -> LatentPatients:
        """The block's latent patients from the streams keyed by ``(seed, block)``.

        Each of ``tox``, ``time`` and ``gap`` has its own stream, filled patient by patient
        (all trials' first patient, then the second, ...), so patient j's numbers do not depend
        on ``max_patients``: designs needing different sample sizes still share patients.
        """
        tox_stream, time_stream, gap_stream = np.random.SeedSequence([seed, block]).spawn(3)
        tox = _uniforms(tox_stream, (n_trials, max_patients))
        return cls(tox, streams=(time_stream, gap_stream))

    def dlt(self, truth: np.ndarray, dose: np.ndarray, patient: int | np.ndarray) -> np.ndarray:
        """DLT indicators of the given patient column(s) treated at ``dose`` (per trial)."""
        return self.tox[np.arange(self.n_trials)[:, None], patient] < truth[dose]


def _uniforms(stream: np.random.SeedSequence, shape: tuple[int, int]) -> np.ndarray:
    """Uniforms for (trials, patients), drawn patient-major so a column never depends on width.

    The array is a view on the patient-major draw (column-major): the simulators loop over
    patients, so each patient's numbers for all trials are contiguous and no copy is made.
    """
    rng = np.random.Generator(np.random.PCG64(stream))
    n_trials, max_patients = shape
    return rng.random((max_patients, n_trials)).T


@dataclass
class TrialOutcomes:
    """Per-trial results of a simulation (arrays of length ``n_trials``).

    ``selected`` is the 0-based MTD, -1 when no dose is selected; ``stopped_early`` is true when
    the design's stopping rule ended the trial before the planned sample size. ``stop_reason``
    is why each trial ended, an index into ``stop_labels`` (empty: not recorded).
    """

    selected: np.ndarray
    n_per_dose: np.ndarray
    dlt_per_dose: np.ndarray
    stopped_early: np.ndarray
    duration_days: np.ndarray = field(default_factory=lambda: np.zeros(0))
    stop_reason: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int8))
    stop_labels: tuple[str, ...] = ()

    @property
    def n_trials(self) -> int:
        return int(self.selected.shape[0])

    @staticmethod
    def concatenate(parts: list[TrialOutcomes]) -> TrialOutcomes:
        """Join blocks in order."""
        return TrialOutcomes(
            selected=np.concatenate([p.selected for p in parts]),
            n_per_dose=np.concatenate([p.n_per_dose for p in parts]),
            dlt_per_dose=np.concatenate([p.dlt_per_dose for p in parts]),
            stopped_early=np.concatenate([p.stopped_early for p in parts]),
            duration_days=np.concatenate([p.duration_days for p in parts]),
            stop_reason=np.concatenate([p.stop_reason for p in parts]),
            stop_labels=parts[0].stop_labels,
        )

    def totals(self) -> OutcomeTotals:
        """The additive sums behind the summary (blocks are summarised by adding them)."""
        n_doses = self.n_per_dose.shape[1]
        reasons = (
            np.bincount(self.stop_reason.astype(np.int64), minlength=len(self.stop_labels))
            if self.stop_labels and self.stop_reason.size == self.n_trials
            else np.zeros(0, dtype=np.int64)
        )
        return OutcomeTotals(
            n_trials=self.n_trials,
            sums={
                "selected": np.bincount(self.selected + 1, minlength=n_doses + 1),
                "patients": self.n_per_dose.sum(axis=0),
                "dlts": self.dlt_per_dose.sum(axis=0),
                "stopped": np.array(int(np.count_nonzero(self.stopped_early))),
                "duration": np.array(float(self.duration_days.sum())),
                "timed": np.array(int(self.duration_days.size)),
                "reasons": reasons,
            },
            stop_labels=self.stop_labels,
        )

    def summary(self) -> OperatingCharacteristics:
        """Operating characteristics over all trials."""
        return self.totals().summary()


@dataclass
class OutcomeTotals:
    """Sums over trials of a simulation's outcomes: adding two gives the totals of both, so
    blocks run anywhere are summarised without joining their per-trial arrays."""

    n_trials: int
    sums: dict[str, np.ndarray]
    stop_labels: tuple[str, ...] = ()
    efficacy: bool = False

    def __add__(self, other: OutcomeTotals) -> OutcomeTotals:
        return OutcomeTotals(
            self.n_trials + other.n_trials,
            {k: v + other.sums[k] for k, v in self.sums.items()},
            self.stop_labels,
            self.efficacy,
        )

    def summary(self) -> OperatingCharacteristics:
        """Operating characteristics (the efficacy ones for toxicity-and-efficacy designs)."""
        t, n = self.sums, self.n_trials
        reasons = t["reasons"]
        base = {
            "n_trials": n,
            "selected_pct": (100.0 * t["selected"][1:] / n).tolist(),
            "no_mtd_pct": 100.0 * float(t["selected"][0]) / n,
            "mean_patients": (t["patients"] / n).tolist(),
            "mean_dlts": (t["dlts"] / n).tolist(),
            "stopped_pct": 100.0 * float(t["stopped"]) / n,
            "mean_n": float(t["patients"].sum()) / n,
            "mean_duration_days": float(t["duration"]) / n if int(t["timed"]) else None,
            "stop_reason_pct": {
                label: 100.0 * float(reasons[code]) / n
                for code, label in enumerate(self.stop_labels)
            }
            if reasons.size
            else {},
        }
        if not self.efficacy:
            return OperatingCharacteristics(**base)
        from oncotrial.designs.efficacy import EfficacyCharacteristics

        return EfficacyCharacteristics(
            **base,
            mean_responses=(t["responses"] / n).tolist(),
            mean_backfill=(t["backfill"] / n).tolist(),
        )


@dataclass(frozen=True)
class OperatingCharacteristics:
    """The table a statistician compares designs by (percentages 0-100).

    ``no_mtd_pct`` is the share of trials that select no dose (``percentstop`` of
    ``BOIN::get.oc``); ``stopped_pct`` is the share that stopped before the planned sample size
    for any reason (safety or an n.earlystop rule); ``stop_reason_pct`` the share of trials
    ending for each reason (the design's own and its stopping rules').
    """

    n_trials: int
    selected_pct: list[float]
    no_mtd_pct: float
    mean_patients: list[float]
    mean_dlts: list[float]
    stopped_pct: float
    mean_n: float
    mean_duration_days: float | None = None
    stop_reason_pct: dict[str, float] = field(default_factory=dict)

    @property
    def mean_duration_months(self) -> float | None:
        """Mean duration in months of 30 days (the accrual models' month)."""
        return None if self.mean_duration_days is None else self.mean_duration_days / 30.0

    def to_json(self) -> dict:
        return {
            "n_trials": self.n_trials,
            "selected_pct": self.selected_pct,
            "no_mtd_pct": self.no_mtd_pct,
            "mean_patients": self.mean_patients,
            "mean_dlts": self.mean_dlts,
            "stopped_pct": self.stopped_pct,
            "mean_n": self.mean_n,
            "mean_duration_days": self.mean_duration_days,
            "mean_duration_months": self.mean_duration_months,
            "stop_reason_pct": self.stop_reason_pct,
        }


def cohort_durations(
    cohort_size: int,
    cohorts_run: np.ndarray,
    window_days: float,
    accrual: AccrualModel | None,
) -> np.ndarray:
    """Expected duration (days) of each trial of a design that waits for each cohort's window.

    Each cohort is enrolled as eligible patients arrive (``accrual``: exponential gaps of mean
    ``30 / rate`` days; patients arriving while the cohort is followed are not enrolled, and by
    memorylessness the next gap starts when accrual reopens), then followed for the whole window.
    Arrivals are independent of the DLT outcomes that decide how many cohorts run, so
    ``E[duration | cohorts run] = cohorts_run * (cohort_size * 30 / rate + window)`` exactly;
    averaging this conditional expectation estimates the mean duration without bias and with
    less Monte-Carlo error than drawing the gaps (Rao-Blackwell), and at no cost.
    """
    accrual = accrual or AccrualModel()
    per_cohort = cohort_size * accrual.mean_gap_days + window_days
    return np.asarray(cohorts_run, dtype=np.float64) * per_cohort


def unique_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of a non-negative integer matrix and the index of each row among them.

    Rows are packed into one int64 key where the values fit (a fast 1-D sort), otherwise
    ``np.unique(axis=0)`` is used.
    """
    rows = np.asarray(rows, dtype=np.int64)
    radix = int(rows.max(initial=0)) + 1
    bits = max(radix - 1, 1).bit_length() * rows.shape[1]
    if rows.min(initial=0) < 0 or bits > 62:
        unique, inverse = np.unique(rows, axis=0, return_inverse=True)
        return unique, inverse.reshape(-1)
    key = np.zeros(rows.shape[0], dtype=np.int64)
    for column in rows.T:
        key = key * radix + column
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    return rows[first], inverse.reshape(-1)


def replay_trial(
    design: Design, truth: np.ndarray, tox_uniforms: np.ndarray, cohort_size: int
) -> tuple[list[int], int | None, TrialState]:
    """Run one trial patient by patient through ``design.decide`` (the scalar reference path).

    Patient j (in order of enrolment) has a DLT at dose d iff ``tox_uniforms[j] < truth[d]``;
    every patient completes the DLT window before the next decision. Returns the dose of each
    cohort, the selected MTD and the final state. The vectorised simulators are checked
    against this loop on the same latent patients.
    """
    n_doses = len(truth)
    state = TrialState(n_doses=n_doses)
    doses: list[int] = []
    used = 0
    while True:
        decision = design.decide(state)
        if not decision.continue_trial or decision.next_dose is None:
            return doses, decision.mtd, state
        dose = decision.next_dose
        if used + cohort_size > len(tox_uniforms):
            raise ValueError("not enough latent patients to finish the trial")
        cohort = tuple(
            Patient(dose, bool(u < truth[dose])) for u in tox_uniforms[used : used + cohort_size]
        )
        used += cohort_size
        doses.append(dose)
        state = TrialState(n_doses=n_doses, patients=state.patients + cohort, current=dose)
