"""The shared vocabulary of the toxicity-and-efficacy designs (BOIN12, TITE-BOIN12, BF-BOIN).

A patient has a DLT outcome and a response outcome; either may still be pending inside its
assessment window. The phase I/II outcome grammar of Brock et al. (2017, the R package
*escalation*) writes one letter per patient after a 1-based dose index: ``E`` response without
DLT, ``T`` DLT without response, ``B`` both, ``N`` neither — ``"1NNE 2BTN"``.

Simulators draw, per virtual patient, one latent uniform for toxicity (DLT at dose d iff
``tox < p_T[d]``, the same device as :mod:`oncotrial.designs.simulation`) and one for efficacy
(response iff ``eff < p_E[d]``), so designs are compared on common random numbers. A Gaussian
copula with correlation ρ links the two when asked for.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from oncotrial.designs.base import Decision, DesignError
from oncotrial.designs.lazy_scipy import special
from oncotrial.designs.simulation import (
    LatentPatients,
    OperatingCharacteristics,
    OutcomeTotals,
    TrialOutcomes,
)

if TYPE_CHECKING:
    from oncotrial.protocol.naming import DoseNames


class EfficacyDesignError(DesignError):
    """Invalid parameters or data for a toxicity-and-efficacy design."""


DAYS_PER_MONTH = 30.0


@dataclass(frozen=True)
class Arrivals:
    """Arrival of eligible patients: ``rate_per_month`` on average, gaps ``uniform`` on
    (0, 2/rate) (the BF-BOIN application) or exponential (``poisson``, the paper)."""

    rate_per_month: float = 3.0
    kind: str = "uniform"

    def __post_init__(self) -> None:
        if self.rate_per_month <= 0:
            raise EfficacyDesignError(f"accrual rate must be positive, got {self.rate_per_month}")
        if self.kind not in ("uniform", "poisson"):
            raise EfficacyDesignError(f"accrual must be 'uniform' or 'poisson', got '{self.kind}'")

    def gaps_days(self, uniforms: np.ndarray) -> np.ndarray:
        """Inter-arrival gaps in days from latent uniforms."""
        mean = DAYS_PER_MONTH / self.rate_per_month
        if self.kind == "uniform":
            return 2.0 * mean * uniforms
        return -np.log1p(-uniforms) * mean

    def times_days(self, uniforms: np.ndarray) -> np.ndarray:
        """Arrival times: the first patient at day 0, then cumulative gaps (columns 1, 2, …)."""
        times = self.gaps_days(np.asarray(uniforms).T)  # patients first: a fast cumsum
        times[0] = 0.0
        return np.cumsum(times, axis=0, out=times).T


def weibull_event_days(u: np.ndarray, p: np.ndarray, window_days: float) -> np.ndarray:
    """Day of the event (DLT or response) of a patient with latent uniform u < p, p being the
    event's probability within the window.

    The Weibull has F(window) = p and F(window/2) = p/2 (``bfboin::get.oc.bf``: half of the
    events in the first half of the window); by inversion the event happens at F⁻¹(u), so
    ``u < p`` decides the event and its day at once.
    """
    p = np.clip(np.asarray(p, dtype=float), 1e-12, 1 - 1e-12)
    shape = np.log(np.log1p(-p) / np.log1p(-p / 2)) / math.log(2.0)
    scale = window_days / (-np.log1p(-p)) ** (1.0 / shape)
    u = np.minimum(np.asarray(u, dtype=float), p)
    return scale * (-np.log1p(-u)) ** (1.0 / shape)


@dataclass(frozen=True)
class Utilities:
    """Utility (0–100) of each joint outcome; Lin et al. (2020), Table 1 defaults.

    The defaults score a response without DLT 100, no response and no DLT 40, response with a
    DLT 60 and a DLT without response 0.
    """

    response_no_dlt: float = 100.0
    neither: float = 40.0
    both: float = 60.0
    dlt_no_response: float = 0.0

    def __post_init__(self) -> None:
        values = (self.response_no_dlt, self.neither, self.both, self.dlt_no_response)
        if any(not 0.0 <= v <= 100.0 for v in values):
            raise EfficacyDesignError(f"utilities must lie in [0, 100], got {values}")

    @property
    def integral(self) -> bool:
        """True when every utility is a whole number (sums can then be tabulated exactly)."""
        return all(float(u).is_integer() for u in self.as_tuple())

    @property
    def additive(self) -> bool:
        """True when utility depends on the marginal counts only (u(E,¬T)+u(T,¬E) = u(B)+u(N))."""
        return self.response_no_dlt + self.dlt_no_response == self.both + self.neither

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (self.response_no_dlt, self.neither, self.both, self.dlt_no_response)

    def score(self, dlt: np.ndarray, response: np.ndarray) -> np.ndarray:
        """Utility of each patient's joint outcome (elementwise on 0/1 or expected values).

        Expected values (imputed pending outcomes, TITE-BOIN12) are handled by treating DLT and
        response as independent given the imputations.
        """
        t = np.asarray(dlt, dtype=float)
        e = np.asarray(response, dtype=float)
        return (
            self.response_no_dlt * (1 - t) * e
            + self.neither * (1 - t) * (1 - e)
            + self.both * t * e
            + self.dlt_no_response * t * (1 - e)
        )

    def expected(self, p_tox: np.ndarray, p_eff: np.ndarray) -> np.ndarray:
        """True utility of doses with these marginal rates, DLT and response independent."""
        return self.score(p_tox, p_eff)

    def benchmark(self, phi_t: float, phi_e: float) -> float:
        """The utility benchmark u_b = ū + (100 − ū)/2, ū the utility of the highest
        toxicity and lowest efficacy rates still acceptable (Lin et al. 2020, eq. 2)."""
        u_bar = float(self.expected(np.array(phi_t), np.array(phi_e)))
        return u_bar + (100.0 - u_bar) / 2.0


@dataclass(frozen=True)
class EfficacyPatient:
    """One patient's toxicity and response data, as known at the time of the decision.

    ``dlt`` / ``response`` are true once the event has been observed. ``followup_days`` is the
    time since the first dose; ``None`` means every assessment window is complete.
    ``backfill`` marks a patient given a cleared dose outside the escalation cohort (BF-BOIN).
    """

    level: int
    dlt: bool
    response: bool
    followup_days: float | None = None
    backfill: bool = False

    def dlt_pending(self, window_days: float) -> bool:
        """Still inside the DLT window without a DLT."""
        return not self.dlt and self.followup_days is not None and self.followup_days < window_days

    def response_pending(self, window_days: float) -> bool:
        """Still inside the efficacy window without a response."""
        return (
            not self.response
            and self.followup_days is not None
            and self.followup_days < window_days
        )


@dataclass(frozen=True)
class EfficacyState:
    """The trial so far for a toxicity-and-efficacy design.

    ``current`` is the dose of the latest escalation cohort (default: the last escalation
    patient's level); the windows are the DLT and efficacy assessment windows in days.
    ``eliminated_from`` is the lowest dose eliminated by earlier decisions, for designs whose
    eliminations depend on when they were made (BF-BOIN); ``None`` when none is.
    """

    n_doses: int
    patients: tuple[EfficacyPatient, ...] = ()
    current: int | None = None
    tox_window_days: float = 28.0
    eff_window_days: float = 28.0
    eliminated_from: int | None = None

    def __post_init__(self) -> None:
        if self.n_doses < 1:
            raise EfficacyDesignError("a design needs at least one dose level")
        if self.tox_window_days <= 0 or self.eff_window_days <= 0:
            raise EfficacyDesignError("assessment windows must be positive")
        for i, p in enumerate(self.patients, start=1):
            if not 0 <= p.level < self.n_doses:
                raise EfficacyDesignError(
                    f"patient {i}: dose index {p.level + 1} is outside 1..{self.n_doses}"
                )
            if p.followup_days is not None and p.followup_days < 0:
                raise EfficacyDesignError(f"patient {i}: follow-up {p.followup_days} is negative")
        if self.eliminated_from is not None and not 0 <= self.eliminated_from < self.n_doses:
            raise EfficacyDesignError(
                f"eliminated dose index {self.eliminated_from + 1} is outside 1..{self.n_doses}"
            )
        if self.current is not None and not 0 <= self.current < self.n_doses:
            raise EfficacyDesignError(
                f"current dose index {self.current + 1} is outside 1..{self.n_doses}"
            )

    @property
    def current_dose(self) -> int | None:
        """The dose of the latest escalation cohort (``None`` before the first patient)."""
        if self.current is not None:
            return self.current
        escalation = [p.level for p in self.patients if not p.backfill]
        return escalation[-1] if escalation else None

    def _per_dose(self, values: Sequence[float]) -> np.ndarray:
        out = np.zeros(self.n_doses)
        np.add.at(out, [p.level for p in self.patients], values)
        return out

    def treated(self) -> np.ndarray:
        """Patients treated at each dose (pending or not)."""
        return np.bincount([p.level for p in self.patients], minlength=self.n_doses).astype(int)

    def dlts(self) -> np.ndarray:
        """Observed DLTs per dose."""
        return self._per_dose([p.dlt for p in self.patients]).astype(int)

    def responses(self) -> np.ndarray:
        """Observed responses per dose."""
        return self._per_dose([p.response for p in self.patients]).astype(int)

    def utility_sums(self, utilities: Utilities) -> np.ndarray:
        """Σ utility over each dose's patients (complete data), on the 0–100 scale."""
        dlt = np.array([p.dlt for p in self.patients], dtype=float)
        resp = np.array([p.response for p in self.patients], dtype=float)
        return self._per_dose(utilities.score(dlt, resp) if self.patients else [])

    def pending_dlt(self) -> np.ndarray:
        """Patients still inside the DLT window without a DLT, per dose."""
        return self._per_dose([p.dlt_pending(self.tox_window_days) for p in self.patients]).astype(
            int
        )

    def pending_response(self) -> np.ndarray:
        """Patients still inside the efficacy window without a response, per dose."""
        return self._per_dose(
            [p.response_pending(self.eff_window_days) for p in self.patients]
        ).astype(int)

    def pending_any(self) -> np.ndarray:
        """Patients with a pending DLT or response, per dose."""
        return self._per_dose(
            [
                p.dlt_pending(self.tox_window_days) or p.response_pending(self.eff_window_days)
                for p in self.patients
            ]
        ).astype(int)

    def is_complete(self) -> bool:
        """True when no outcome is pending."""
        return not (self.pending_dlt().any() or self.pending_response().any())

    @classmethod
    def from_outcomes(
        cls, text: str, n_doses: int, tox_window_days: float = 28.0, eff_window_days: float = 28.0
    ) -> EfficacyState:
        """A fully evaluated state from an outcome string such as ``"1NNE 2BTN"``."""
        return cls(
            n_doses=n_doses,
            patients=parse_efficacy_outcomes(text, n_doses),
            tox_window_days=tox_window_days,
            eff_window_days=eff_window_days,
        )


_COHORT = re.compile(r"^(\d+)([ETBNetbn]+)$")
_LETTERS = {"E": (False, True), "T": (True, False), "B": (True, True), "N": (False, False)}


def parse_efficacy_outcomes(text: str, n_doses: int) -> tuple[EfficacyPatient, ...]:
    """Patients (fully evaluated, in order) from a phase I/II outcome string ``"1NEN 2BTN"``."""
    patients: list[EfficacyPatient] = []
    for position, token in enumerate(text.split(), start=1):
        match = _COHORT.match(token)
        if match is None:
            raise EfficacyDesignError(
                f"outcome cohort {position} '{token}': expected a dose number followed by "
                "E (response), T (DLT), B (both) or N (neither) letters, e.g. 2NEB"
            )
        dose = int(match.group(1))
        if not 1 <= dose <= n_doses:
            raise EfficacyDesignError(
                f"outcome cohort {position} '{token}': dose {dose} is outside 1..{n_doses}"
            )
        for letter in match.group(2).upper():
            dlt, response = _LETTERS[letter]
            patients.append(EfficacyPatient(dose - 1, dlt, response))
    return tuple(patients)


def _patient_major(stream: np.random.SeedSequence, shape: tuple[int, int]) -> np.ndarray:
    """The numbers of :func:`~oncotrial.designs.simulation._uniforms` for (trials, patients),
    as a view on the patient-major draw (no transposed copy)."""
    n_trials, max_patients = shape
    rng = np.random.Generator(np.random.PCG64(stream))
    return rng.random((max_patients, n_trials)).T


class EfficacyLatents(LatentPatients):
    """:class:`LatentPatients` with a fourth stream: the efficacy uniform of each patient.

    ``eff`` is drawn patient-major from the block's fourth stream, so a patient's number does not
    depend on how many patients were drawn, and ``tox``/``time``/``gap`` stay the numbers the
    toxicity-only designs see for the same ``(seed, block)``. The arrays are views of the
    patient-major draws (column-major), which saves a transposed copy.
    """

    def __init__(
        self,
        tox: np.ndarray,
        eff: np.ndarray | None = None,
        time: np.ndarray | None = None,
        gap: np.ndarray | None = None,
        streams: tuple[np.random.SeedSequence, ...] | None = None,
    ) -> None:
        super().__init__(tox, time, gap, None if streams is None else (streams[0], streams[1]))
        if eff is None and (streams is None or len(streams) < 3):
            raise ValueError("give efficacy uniforms, or the stream to draw them from")
        self._eff = eff
        self._eff_stream = None if streams is None else streams[2]
        self._tox_stream = None if streams is None or len(streams) < 4 else streams[3]

    def _drawn(self, name: str, stream: np.random.SeedSequence | None) -> np.ndarray:
        """The uniforms held in attribute ``name``, drawn from ``stream`` on first use."""
        if getattr(self, name) is None:
            assert stream is not None
            setattr(self, name, _patient_major(stream, self.tox.shape))
        return getattr(self, name)

    @property
    def eff(self) -> np.ndarray:
        return self._drawn("_eff", self._eff_stream)

    @property
    def time(self) -> np.ndarray:
        return self._drawn("_time", None if self._streams is None else self._streams[0])

    @property
    def gap(self) -> np.ndarray:
        return self._drawn("_gap", None if self._streams is None else self._streams[1])

    @classmethod
    def draw(cls, n_trials: int, max_patients: int, seed: int, block: int = 0) -> EfficacyLatents:
        """The block's latent patients; the first three streams are those of
        :meth:`LatentPatients.draw` for the same ``(seed, block)``."""
        tox_s, time_s, gap_s, eff_s = np.random.SeedSequence([seed, block]).spawn(4)
        tox = _patient_major(tox_s, (n_trials, max_patients))
        return cls(tox, streams=(time_s, gap_s, eff_s, tox_s))

    def widened(self, max_patients: int) -> EfficacyLatents:
        """The same patients, more of them per trial (the first columns are unchanged)."""
        if self._tox_stream is None or self._eff_stream is None or self._streams is None:
            raise ValueError("only latent patients drawn from streams can be widened")
        shape = (self.n_trials, max_patients)
        tox = _patient_major(self._tox_stream, shape)
        return EfficacyLatents(
            tox, streams=(self._streams[0], self._streams[1], self._eff_stream, self._tox_stream)
        )

    def efficacy_uniforms(self, correlation: float = 0.0) -> np.ndarray:
        """Efficacy uniforms linked to ``tox`` by a Gaussian copula with ``correlation``.

        With correlation ρ, z_E = ρ z_T + √(1−ρ²) z, where z_T = Φ⁻¹(tox) and z = Φ⁻¹(eff);
        a patient is then more likely to respond when a DLT is more likely (ρ > 0). The
        marginal response probabilities are unchanged.
        """
        if not -1.0 < correlation < 1.0:
            raise EfficacyDesignError(f"correlation must be in (-1, 1), got {correlation}")
        if correlation == 0.0:
            return self.eff
        z_t = special.ndtri(self.tox)
        z = special.ndtri(self.eff)
        # a DLT is tox < p, so a low tox uniform means toxicity-prone: respond-prone for ρ > 0
        return special.ndtr(correlation * z_t + np.sqrt(1.0 - correlation**2) * z)


def check_truth(p_tox: Sequence[float], p_eff: Sequence[float], n_doses: int) -> tuple:
    """Validated true DLT and response probabilities (one per dose, in [0, 1])."""
    tox = np.asarray(p_tox, dtype=float)
    eff = np.asarray(p_eff, dtype=float)
    for name, values in (("DLT", tox), ("response", eff)):
        if values.shape != (n_doses,):
            raise EfficacyDesignError(
                f"true {name} probabilities: need {n_doses} values, got {values.size}"
            )
        if np.any((values < 0) | (values > 1)):
            raise EfficacyDesignError(f"true {name} probabilities must lie in [0, 1]")
    return tox, eff


@dataclass
class EfficacyOutcomes(TrialOutcomes):
    """Per-trial results of a toxicity-and-efficacy simulation.

    ``selected`` is the 0-based optimal (or maximum tolerated) dose, -1 when none;
    ``response_per_dose`` the responses observed; ``backfill_per_dose`` the patients treated
    by backfilling (BF-BOIN); ``stop_reason`` a code per trial (see :data:`STOP_REASONS`).
    """

    response_per_dose: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    backfill_per_dose: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))

    def __post_init__(self) -> None:
        if not self.stop_labels:
            self.stop_labels = STOP_REASONS

    @staticmethod
    def concatenate(parts: list[EfficacyOutcomes]) -> EfficacyOutcomes:  # type: ignore[override]
        """Join blocks in order."""

        def join(name: str) -> np.ndarray:
            return np.concatenate([getattr(p, name) for p in parts])

        return EfficacyOutcomes(
            selected=join("selected"),
            n_per_dose=join("n_per_dose"),
            dlt_per_dose=join("dlt_per_dose"),
            stopped_early=join("stopped_early"),
            duration_days=join("duration_days"),
            response_per_dose=join("response_per_dose"),
            backfill_per_dose=join("backfill_per_dose"),
            stop_reason=join("stop_reason"),
            stop_labels=parts[0].stop_labels,
        )

    def totals(self) -> OutcomeTotals:
        """The additive sums, with responses and backfilled patients."""
        base = super().totals()
        base.sums["responses"] = self.response_per_dose.sum(axis=0)
        base.sums["backfill"] = (
            self.backfill_per_dose.sum(axis=0)
            if self.backfill_per_dose.size
            else np.zeros(self.n_per_dose.shape[1])
        )
        base.efficacy = True
        return base

    def summary(self) -> EfficacyCharacteristics:  # type: ignore[override]
        """Operating characteristics, with responses, backfill, stop reasons and duration."""
        out = self.totals().summary()
        assert isinstance(out, EfficacyCharacteristics)
        return out


#: Why a simulated trial ended (codes stored in :attr:`EfficacyOutcomes.stop_reason`).
STOP_REASONS = (
    "maximum sample size",
    "n at a dose reached n_earlystop",
    "lowest dose too toxic",
    "no admissible dose",
)
MAX_N, N_AT_DOSE, TOO_TOXIC, NONE_ADMISSIBLE = range(4)


@dataclass(frozen=True)
class EfficacyCharacteristics(OperatingCharacteristics):
    """:class:`~oncotrial.designs.simulation.OperatingCharacteristics` plus the efficacy side.

    ``selected_pct`` is the selection of the design's final dose (the OBD for BOIN12, the MTD
    for BF-BOIN); ``mean_duration_months`` uses 30-day months.
    """

    mean_responses: list[float] = field(default_factory=list)
    mean_backfill: list[float] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            **super().to_json(),
            "mean_responses": self.mean_responses,
            "mean_backfill": self.mean_backfill,
        }


def dose_name(names: DoseNames | None, index: int) -> str:
    """A level as people read it: the protocol's short name, or "dose k" without one."""
    return f"dose {index + 1}" if names is None else names.short(index)


def opening_decision(
    state: EfficacyState,
    n_doses: int,
    start: int,
    names: DoseNames | None,
    error: type[EfficacyDesignError],
    details: dict | None = None,
) -> Decision | None:
    """The checks every design makes first: the data's doses are the design's (else ``error``),
    and before anyone is treated the answer is the start dose; ``None`` otherwise."""
    if state.n_doses != n_doses:
        raise error(f"the data have {state.n_doses} doses, the design {n_doses}")
    if state.current_dose is not None:
        return None
    return Decision(
        start,
        True,
        (),
        f"no patient treated yet: start at {dose_name(names, start)}",
        details=details or {},
    )


def replay_efficacy_trial(
    design: object,
    p_tox: np.ndarray,
    p_eff: np.ndarray,
    tox_uniforms: np.ndarray,
    eff_uniforms: np.ndarray,
) -> tuple[list[int], object, EfficacyState]:
    """Run one trial cohort by cohort through ``design.decide`` (the scalar reference path).

    Patient j (in order of enrolment) has a DLT at dose d iff ``tox_uniforms[j] < p_tox[d]`` and
    responds iff ``eff_uniforms[j] < p_eff[d]``; every cohort is fully evaluated before the next
    decision. Returns the dose of each cohort, the final decision and the final state; the
    vectorised simulators are tested against this loop on the same latent patients.
    """
    n_doses = len(p_tox)
    cohort_size = int(design.cohort_size)  # type: ignore[attr-defined]
    state = EfficacyState(n_doses=n_doses)
    doses: list[int] = []
    used = 0
    while True:
        decision = design.decide(state)  # type: ignore[attr-defined]
        if not decision.continue_trial or decision.next_dose is None:
            return doses, decision, state
        dose = decision.next_dose
        if used + cohort_size > len(tox_uniforms):
            raise ValueError("not enough latent patients to finish the trial")
        cohort = tuple(
            EfficacyPatient(dose, bool(t < p_tox[dose]), bool(e < p_eff[dose]))
            for t, e in zip(
                tox_uniforms[used : used + cohort_size],
                eff_uniforms[used : used + cohort_size],
                strict=True,
            )
        )
        used += cohort_size
        doses.append(dose)
        state = EfficacyState(n_doses=n_doses, patients=state.patients + cohort, current=dose)
