"""Virtual patients of a protocol: who they are, what happens to them and when — as plain data,
before any record is written (:mod:`oncotrial.sim.sdtm_writer` writes them, and a day-by-day
virtual site could enter the same events through the trial's use cases).

Models (parameters in the protocol's ``virtual_trial`` block, calibrated to published
first-line PD-1 + TKI trials in advanced HCC — see the sources there):

* demography of advanced HCC in China (age, sex, aetiology, BCLC stage, Child-Pugh class);
* survival: death before progression at a low constant hazard, and after progression a
  Weibull survival with shape < 1 (the flatter tail of immunotherapy curves);
* adverse events: per-patient probabilities at the reference dose scaled with the donafenib
  daily dose; phase I DLTs come from the dose-toxicity scenario and are events the protocol's
  DLT definition qualifies inside the window, and in phase I no other grade ≥ 3 event starts
  inside it (so the committee's decisions and the report's DLT table agree);
* exposure: donafenib interrupted 7-14 days after a related grade ≥ 3 event, then resumed one
  dose level lower; toripalimab every cycle until the end of treatment;
* anti-drug antibodies: baseline-positive and treatment-emergent responders with titres, some
  neutralising.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from oncotrial.protocol.model import Protocol, VirtualTrial
from oncotrial.sim.tumour import (
    DAYS_PER_MONTH,
    PRIMARY_PROGRESSOR_FRACTION,
    Kinetics,
    Lesion,
    Scan,
)

REFERENCE_DAILY_MG = 400.0  # donafenib 200 mg BID, the registered dose (ZGDH3)
#: confirmed RECIST 1.1 responses per sensitive tumour (from calibration runs of the engine)
RESPONSE_YIELD = 1.06
#: extra confirmed mRECIST responses per necrotic non-sensitive tumour (calibration runs)
NECROSIS_YIELD = 0.47
#: median PFS (months) the default growth constants give; other targets rescale them
PFS_AT_DEFAULT_GROWTH = 6.8
PRE_PROGRESSION_DEATH_PER_MONTH = 0.008

#: Background (mostly unrelated) adverse events common in advanced HCC, per patient.
BACKGROUND_EVENTS = (
    ("Abdominal pain", "Gastrointestinal disorders", 0.18),
    ("Pyrexia", "General disorders and administration site conditions", 0.12),
    ("Cough", "Respiratory, thoracic and mediastinal disorders", 0.10),
    ("Ascites", "Gastrointestinal disorders", 0.08),
    ("Insomnia", "Psychiatric disorders", 0.06),
)
BACKGROUND_TERMS = frozenset(term for term, _, _ in BACKGROUND_EVENTS)
#: ADA sampling: pre-dose cycle 1, then pre-dose of cycles 2, 4, 8, 12, 16 and 24.
ADA_CYCLES = (1, 2, 4, 8, 12, 16, 24)


@dataclass
class VirtualPatient:
    """One synthetic patient and the latent quantities behind their records (days are counted
    from the study start)."""

    usubjid: str
    site: str
    phase: str
    dose_index: int
    cohort: int | None
    consent_day: float
    first_dose_day: float
    age: int
    sex: str
    etiology: str
    bclc: str
    child_pugh: str
    dlt: bool = False
    dlt_day: float | None = None
    kinetics: Kinetics | None = None
    lesions: list[Lesion] = field(default_factory=list)
    scans: list[Scan] = field(default_factory=list)
    progression_day: float | None = None
    death_day: float | None = None
    lost_day: float = float("inf")
    withdraw_day: float = float("inf")
    end_of_treatment_day: float | None = None
    end_reason: str | None = None
    last_contact_day: float = 0.0
    study_end_reason: str = "ONGOING"


@dataclass(frozen=True)
class AdverseEvent:
    """One adverse event: term, body system, CTCAE grade, onset and end (days), whether it is
    the patient's DLT, serious, related, its action on treatment and whether it is ongoing."""

    term: str
    soc: str
    grade: int
    onset_day: float
    end_day: float
    dlt: bool
    serious: bool
    related: bool
    action: str
    ongoing: bool


@dataclass(frozen=True)
class Dosing:
    """A period of one drug at one dose (``level`` of the protocol) from ``start`` to ``end``
    (days); a single infusion has ``start == end``. ``adjustment`` is EXADJ."""

    drug: Any
    dose: Any
    frequency: str
    start: float
    end: float
    adjustment: str = ""


@dataclass(frozen=True)
class AdaSample:
    """An anti-drug antibody sample: cycle, day, binding result (titre or None) and the
    neutralising result (None when not tested)."""

    cycle: int
    day: float
    titre: float | None
    neutralising: bool | None


@dataclass(frozen=True)
class Calibration:
    """Derived generator settings that make the protocol's targets come out."""

    sensitive_fraction: float
    necrotic_fraction: float
    growth_scale: float
    pps_scale_days: float


def calibration_for(spec: VirtualTrial) -> Calibration:
    """Share of sensitive tumours for the RECIST 1.1 ORR target, share of necrotic responders
    for the mRECIST ORR target, growth rates rescaled for the PFS target, and the
    post-progression Weibull scale for the OS median target."""
    sensitive = min(0.95, spec.orr_target / RESPONSE_YIELD)
    others = max(1.0 - sensitive - PRIMARY_PROGRESSOR_FRACTION, 1e-9)
    extra = max(spec.mrecist_orr_target - spec.orr_target, 0.0)
    necrotic = min(1.0, extra / (NECROSIS_YIELD * others))
    # median OS ≈ median PFS + median post-progression survival (pre-progression deaths rare)
    pps_median = max(spec.os_median_months - spec.pfs_median_months, 1.0) * DAYS_PER_MONTH
    scale = pps_median / np.log(2.0) ** (1.0 / spec.os_weibull_shape)
    return Calibration(
        sensitive_fraction=sensitive,
        necrotic_fraction=necrotic,
        growth_scale=PFS_AT_DEFAULT_GROWTH / spec.pfs_median_months,
        pps_scale_days=float(scale),
    )


def new_patient(
    rng: np.random.Generator,
    spec: VirtualTrial,
    number: int,
    phase: str,
    dose_index: int,
    cohort: int | None,
    arrival_day: float,
) -> VirtualPatient:
    """A patient consenting on ``arrival_day`` at a random site, first dose 3-14 days later."""
    site_index = int(rng.integers(len(spec.sites)))
    age = int(np.clip(round(rng.normal(spec.age_median, spec.age_sd)), 18, 85))
    u = rng.random()
    etiology = (
        "HBV"
        if u < spec.hbv_fraction
        else ("HCV" if u < spec.hbv_fraction + spec.hcv_fraction else "NON-VIRAL")
    )
    screening = float(rng.integers(3, 15))
    return VirtualPatient(
        usubjid=f"{site_index + 1:02d}-{number:03d}",
        site=f"{site_index + 1:02d}",
        phase=phase,
        dose_index=dose_index,
        cohort=cohort,
        consent_day=arrival_day,
        first_dose_day=arrival_day + screening,
        age=age,
        sex="M" if rng.random() < spec.male_fraction else "F",
        etiology=etiology,
        bclc="C" if rng.random() < spec.bclc_c_fraction else "B",
        child_pugh="A5" if rng.random() < 0.65 else "A6",
    )


def death_day(
    rng: np.random.Generator, patient: VirtualPatient, spec: VirtualTrial, pps_scale: float
) -> float:
    """Death before progression at a constant hazard; after progression a Weibull survival
    with shape ``os_weibull_shape`` (< 1: a flatter tail)."""
    pre = patient.first_dose_day + float(
        rng.exponential(DAYS_PER_MONTH / PRE_PROGRESSION_DEATH_PER_MONTH)
    )
    if patient.progression_day is None or pre < patient.progression_day:
        return pre
    pps = pps_scale * float(rng.weibull(spec.os_weibull_shape))
    return patient.progression_day + max(pps, 1.0)


def daily_mg(protocol: Protocol, dose_index: int) -> float:
    """The escalated drug's daily dose (mg) at a level."""
    drug = protocol.escalated_drugs[0].name
    return float(protocol.dose_levels[dose_index].doses[drug].daily_amount)


def _scaled(p: float, multiplier: float) -> float:
    """Probability of at least one event when the exposure is ``multiplier`` times the
    reference: 1 − (1 − p)^m (a constant hazard scaled with dose)."""
    return float(1.0 - (1.0 - p) ** max(multiplier, 0.0))


def adverse_events(
    rng: np.random.Generator, protocol: Protocol, patient: VirtualPatient, treatment_end: float
) -> list[AdverseEvent]:
    """The patient's adverse events in onset order; related grade ≥ 3 events interrupt
    (grade 3) or end (grade 4) treatment."""
    spec = protocol.virtual_trial
    assert spec is not None
    window = float(protocol.dlt.window_days)
    multiplier = daily_mg(protocol, patient.dose_index) / REFERENCE_DAILY_MG
    drawn: list[tuple[str, str, int, float, float, bool, bool]] = []
    if patient.dlt and patient.dlt_day is not None:
        # a DLT the protocol's definition decides from the data alone: not a blood count whose
        # criterion needs more than the grade (e.g. thrombocytopenia "with bleeding")
        counts = {t for c in protocol.dlt.criteria if c.category == "haematologic" for t in c.terms}
        eligible = [
            ae
            for ae in spec.adverse_events
            if ae.dlt_eligible and ae.grade3plus > 0 and ae.term not in counts
        ]
        weights = np.array([ae.grade3plus for ae in eligible])
        ae = eligible[int(rng.choice(len(eligible), p=weights / weights.sum()))]
        grade = 4 if ae.grade4plus > 0 and rng.random() < ae.grade4plus / ae.grade3plus else 3
        drawn.append(
            (
                ae.term,
                ae.soc,
                grade,
                patient.first_dose_day + patient.dlt_day - 1,  # on study day dlt_day
                float(rng.integers(7, 22)),
                True,
                rng.random() < ae.serious_fraction,
            )
        )
    for ae in spec.adverse_events:
        m = multiplier**ae.dose_exponent
        p_any = _scaled(ae.any_grade, m)
        p3 = _scaled(ae.grade3plus, m)
        u = rng.random()
        if u >= max(p_any, p3):
            continue
        grade = 3 if u < p3 else (1 if rng.random() < 0.6 else 2)
        if grade == 3 and ae.grade4plus > 0 and rng.random() < ae.grade4plus / ae.grade3plus:
            grade = 4
        onset = float(rng.gamma(2.0, ae.onset_days / 2.0))
        if patient.phase == "I" and grade >= 3 and onset <= window:
            # the scenario decides DLTs: no other grade >= 3 toxicity inside the window
            onset = window + 1.0 + float(rng.exponential(20.0))
        onset_day = patient.first_dose_day + onset
        if onset_day > treatment_end:
            continue
        duration = float(rng.integers(7, 22)) if grade >= 3 else float(rng.integers(10, 70))
        serious = grade >= 3 and rng.random() < ae.serious_fraction
        drawn.append((ae.term, ae.soc, grade, onset_day, duration, False, serious))
    for term, soc, p in BACKGROUND_EVENTS:
        if rng.random() < p:
            onset_day = patient.first_dose_day + float(rng.uniform(1, 180))
            if onset_day <= treatment_end:
                grade = int(rng.choice([1, 2]))
                duration = float(rng.integers(5, 30))
                drawn.append((term, soc, grade, onset_day, duration, False, False))
    events = []
    for term, soc, grade, onset_day, duration, is_dlt, serious in sorted(drawn, key=lambda e: e[3]):
        related = term not in BACKGROUND_TERMS
        end_day = onset_day + duration
        action = "DOSE NOT CHANGED"
        if grade >= 3 and related:
            action = "DRUG WITHDRAWN" if grade >= 4 else "DRUG INTERRUPTED"
        events.append(
            AdverseEvent(
                term=term,
                soc=soc,
                grade=grade,
                onset_day=onset_day,
                end_day=end_day,
                dlt=is_dlt,
                serious=serious,
                related=related,
                action=action,
                ongoing=end_day > min(treatment_end + 30, patient.last_contact_day),
            )
        )
    return events


def dosing(
    rng: np.random.Generator,
    protocol: Protocol,
    patient: VirtualPatient,
    treatment_end: float,
    events: list[AdverseEvent],
) -> list[Dosing]:
    """Donafenib as continuous dosing periods (interrupted 7–14 days after a related grade ≥ 3
    event, then resumed one dose level lower) and toripalimab 240 mg every cycle."""
    cycle_days = protocol.schedule.cycle_days or 21
    escalated = protocol.escalated_drugs[0]
    level = patient.dose_index
    start = patient.first_dose_day
    out: list[Dosing] = []

    def period(end: float) -> None:
        dose = protocol.dose_levels[level].doses[escalated.name]
        adjustment = "DOSE REDUCED" if level != patient.dose_index else ""
        out.append(Dosing(escalated, dose, dose.frequency, start, end, adjustment))

    severe = sorted(e.onset_day for e in events if e.grade >= 3 and e.related)
    for onset in severe:
        if onset <= start or onset >= treatment_end:
            continue
        period(onset)
        start = onset + float(rng.integers(7, 15))
        if level > 0:
            level -= 1
    if start < treatment_end:
        period(treatment_end)
    for drug in (d for d in protocol.drugs if d.role == "fixed"):
        assert drug.fixed_dose is not None
        day = patient.first_dose_day
        while day <= treatment_end:
            out.append(Dosing(drug, drug.fixed_dose, "ONCE", day, day))
            day += cycle_days
    return out


def ada_samples(
    rng: np.random.Generator, protocol: Protocol, patient: VirtualPatient, treatment_end: float
) -> list[AdaSample]:
    """Binding (titre) and neutralising results against the fixed-dose antibody at the
    pre-dose samples of :data:`ADA_CYCLES` while on treatment."""
    spec = protocol.virtual_trial
    assert spec is not None
    cycle_days = protocol.schedule.cycle_days or 21
    baseline_pos = rng.random() < spec.ada_baseline_positive
    emergent = rng.random() < spec.ada_treatment_emergent
    onset_cycle = int(rng.choice([2, 4, 8, 12])) if emergent else None
    transient = emergent and rng.random() < 0.3
    nab = emergent and rng.random() < spec.nab_fraction_of_ada
    base_titre = float(rng.choice([10, 20, 40]))
    samples = []
    for cycle in ADA_CYCLES:
        day = patient.first_dose_day + (cycle - 1) * cycle_days - (1 if cycle == 1 else 0)
        if day > treatment_end + 1 or (patient.death_day is not None and day > patient.death_day):
            break
        titre: float | None = None
        if baseline_pos:
            titre = base_titre * (8.0 if emergent and cycle >= 4 else 1.0)
        active = onset_cycle is not None and cycle >= onset_cycle
        if active and not (transient and cycle > (onset_cycle or 0) + 4):
            titre = max(titre or 0.0, float(rng.choice([20, 40, 80, 160, 320, 640])))
        neutralising = None
        if titre is not None:
            neutralising = bool(nab and cycle >= (onset_cycle or 99))
        samples.append(AdaSample(cycle, day, titre, neutralising))
    return samples
