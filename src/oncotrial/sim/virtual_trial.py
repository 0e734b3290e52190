"""The virtual trial: realistic synthetic patients of a protocol, run through its design.

Phase I cohorts are dosed by the protocol's own design (``decide`` on the DLTs seen in the
28-day window, drawn from the protocol's stated dose-toxicity scenario) and every committee
decision is kept; phase II expands at the recommended dose by the protocol's Simon two-stage
plan. Each patient gets SDTM-shaped records: DM, DS, EX, AE (CTCAE grades), TU/TR (target and
non-target lesions measured every ``tumour_assessment_weeks``), IS (anti-drug antibodies).

Models (parameters in the protocol's ``virtual_trial`` block, calibrated to published
first-line PD-1 + TKI trials in advanced HCC — see the sources there):

* tumour size: the sum of diameters follows the tumour-growth-inhibition curve
  ``f(t) = exp(-d t) + exp(g t) - 1`` (Stein et al. 2008, Clin Cancer Res 14:2940; Claret
  et al. 2009, J Clin Oncol 27:4103), with a share of sensitive tumours (fast shrinkage), each
  lesion measured with 4 % multiplicative error, new lesions and unequivocal non-target
  progression as Poisson events;
* survival: death before progression at a low constant hazard, and after progression a
  Weibull survival with shape < 1 (the flatter tail of immunotherapy curves);
* adverse events: per-patient probabilities at the reference dose scaled with the donafenib
  daily dose; phase I DLTs come from the scenario and are written as DLT-qualifying AEs inside
  the window, and a patient without a DLT has no DLT-qualifying AE inside it;
* ADA: baseline-positive and treatment-emergent responders with titres; some neutralising.

Same seed, same trial.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from oncotrial.designs.base import Patient, TrialState
from oncotrial.designs.phase2 import simon_two_stage
from oncotrial.designs.registry import build_design, spec_from_protocol
from oncotrial.protocol.model import Protocol, VirtualTrial

DAYS_PER_MONTH = 30.4375
REFERENCE_DAILY_MG = 400.0  # donafenib 200 mg BID, the registered dose (ZGDH3)

#: Tumour kinetics (per day), tuned by ``calibrate_tumour_model`` to the protocol's ORR and
#: median PFS targets; see the module docstring for the model.
SENSITIVE_SHRINK = 0.025
SENSITIVE_GROWTH = 0.0008
RESISTANT_SHRINK = 0.0015
RESISTANT_GROWTH = 0.0011
NEW_LESION_PER_MONTH = 0.03
PRIMARY_PROGRESSOR_FRACTION = 0.17
REFRACTORY_GROWTH = 0.008
#: confirmed responses per sensitive tumour in this model (from the calibration runs)
RESPONSE_YIELD = 0.95
#: median PFS (months) the growth constants give; other targets rescale the growth rates
PFS_AT_DEFAULT_GROWTH = 6.8
NONTARGET_PROGRESSION_PER_MONTH = 0.015
PRE_PROGRESSION_DEATH_PER_MONTH = 0.008

#: Background (mostly unrelated) adverse events common in advanced HCC, per patient.
BACKGROUND_EVENTS = (
    ("Abdominal pain", "Gastrointestinal disorders", 0.18),
    ("Pyrexia", "General disorders and administration site conditions", 0.12),
    ("Cough", "Respiratory, thoracic and mediastinal disorders", 0.10),
    ("Ascites", "Gastrointestinal disorders", 0.08),
    ("Insomnia", "Psychiatric disorders", 0.06),
)

STUDY_VISITS = {0: "CYCLE 1 DAY 1"}


@dataclass
class VirtualPatient:
    """One synthetic patient and the latent quantities behind their records."""

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
    sensitive: bool = False
    shrink: float = 0.0
    growth: float = 0.0
    progression_day: float | None = None
    death_day: float | None = None
    end_of_treatment_day: float | None = None
    end_reason: str | None = None
    last_contact_day: float = 0.0
    study_end_reason: str = "ONGOING"
    best_response: str | None = None
    responses: list[tuple[float, str]] = field(default_factory=list)


@dataclass
class EscalationRecord:
    """A dose-escalation committee decision as the virtual trial made it."""

    cohort: int
    dose_index: int
    decided_day: float
    inputs: dict[str, Any]
    output: dict[str, Any]
    design: str


@dataclass
class VirtualTrialResult:
    """The generated trial: SDTM-shaped domains (text columns) and the operational history."""

    study_id: str
    start_date: date
    data_cut: date
    domains: dict[str, pd.DataFrame]
    patients: list[VirtualPatient]
    decisions: list[EscalationRecord]
    recommended_dose: int | None
    expansion: dict[str, Any] = field(default_factory=dict)

    def day_to_date(self, day: float) -> date:
        return self.start_date + timedelta(days=int(round(day)))


# ---------------------------------------------------------------------------- utilities


def _iso(start: date, day: float) -> str:
    return (start + timedelta(days=int(round(day)))).isoformat()


def _daily_mg(protocol: Protocol, dose_index: int) -> float:
    drug = protocol.escalated_drugs[0].name
    return float(protocol.dose_levels[dose_index].doses[drug].daily_amount)


def _scaled(p: float, multiplier: float) -> float:
    """Probability of at least one event when the exposure is ``multiplier`` times the
    reference: 1 − (1 − p)^m (a constant hazard scaled with dose)."""
    return float(1.0 - (1.0 - p) ** max(multiplier, 0.0))


# ---------------------------------------------------------------------------- patients


def _new_patient(
    rng: np.random.Generator,
    spec: VirtualTrial,
    number: int,
    phase: str,
    dose_index: int,
    cohort: int | None,
    arrival_day: float,
) -> VirtualPatient:
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


# ---------------------------------------------------------------------------- tumour model


@dataclass
class Lesion:
    link_id: str
    role: str  # TARGET / NON-TARGET / NEW
    location: str
    nodal: bool
    baseline: float  # mm (short axis for nodes)
    appear_day: float = 0.0


_TARGET_SITES = (
    ("LIVER", False, 0.62, (np.log(42.0), 0.45, 12.0, 140.0)),
    ("LUNG", False, 0.18, (np.log(18.0), 0.35, 10.0, 55.0)),
    ("LYMPH NODE", True, 0.12, (np.log(21.0), 0.2, 15.0, 40.0)),
    ("ADRENAL GLAND", False, 0.04, (np.log(25.0), 0.3, 10.0, 60.0)),
    ("PERITONEUM", False, 0.04, (np.log(22.0), 0.3, 10.0, 50.0)),
)


def _baseline_lesions(rng: np.random.Generator) -> list[Lesion]:
    """Up to 5 target lesions (≤ 2 per organ, measurable per RECIST 1.1 section 3.1) and 0–3
    non-target lesions."""
    n_target = int(rng.choice([1, 2, 3, 4, 5], p=[0.25, 0.35, 0.22, 0.12, 0.06]))
    per_organ: dict[str, int] = {}
    lesions: list[Lesion] = []
    weights = np.array([w for _, _, w, _ in _TARGET_SITES])
    while len(lesions) < n_target:
        i = int(rng.choice(len(_TARGET_SITES), p=weights / weights.sum()))
        loc, nodal, _, (mu, sd, lo, hi) = _TARGET_SITES[i]
        if per_organ.get(loc, 0) >= 2:
            weights[i] = 0.0
            if weights.sum() == 0:
                break
            continue
        per_organ[loc] = per_organ.get(loc, 0) + 1
        size = float(np.clip(np.exp(rng.normal(mu, sd)), lo, hi))
        lesions.append(Lesion(f"T{len(lesions) + 1:02d}", "TARGET", loc, nodal, round(size)))
    for j in range(int(rng.choice([0, 1, 2, 3], p=[0.3, 0.4, 0.2, 0.1]))):
        loc = str(rng.choice(["LIVER", "PORTAL VEIN", "LYMPH NODE", "BONE", "LUNG"]))
        lesions.append(Lesion(f"NT{j + 1:02d}", "NON-TARGET", loc, loc == "LYMPH NODE", 0.0))
    return lesions


def _tumour_fraction(t: np.ndarray, shrink: float, growth: float) -> np.ndarray:
    """Tumour-growth-inhibition curve exp(−d t) + exp(g t) − 1 (Stein et al. 2008)."""
    return np.exp(-shrink * t) + np.exp(growth * t) - 1.0


def _draw_kinetics(
    rng: np.random.Generator, p_sensitive: float, growth_scale: float
) -> tuple[bool, float, float]:
    """Shrinkage and regrowth rates (per day) of one patient's tumour: sensitive tumours
    shrink fast and regrow slowly, primary-refractory ones grow from the start (progression at
    the first scans, as the 17-20 % primary progressive disease of PD-1 + VEGF trials, e.g.
    IMbrave150 19.6 %); log-normal spread around each centre."""
    u = rng.random()
    sensitive = bool(u < p_sensitive)
    refractory = not sensitive and u > 1.0 - PRIMARY_PROGRESSOR_FRACTION
    shrink = SENSITIVE_SHRINK if sensitive else RESISTANT_SHRINK
    growth = SENSITIVE_GROWTH if sensitive else RESISTANT_GROWTH
    if refractory:
        shrink, growth = 0.0005, REFRACTORY_GROWTH
    return (
        sensitive,
        float(shrink * np.exp(rng.normal(0.0, 0.45))),
        float(growth * growth_scale * np.exp(rng.normal(0.0, 0.6))),
    )


def _measure(rng: np.random.Generator, lesion: Lesion, fraction: float) -> float:
    """A lesion's measured diameter (mm): non-nodal lesions below 3 mm have disappeared (0),
    nodes shrink towards a normal short axis; 4 % measurement error, rounded to 1 mm."""
    size = lesion.baseline * fraction * float(np.exp(rng.normal(0.0, 0.04)))
    if lesion.nodal:
        return float(max(round(size), 5))
    return 0.0 if size < 3.0 else float(round(size))


@dataclass
class Assessment:
    day: float
    sizes: dict[str, float]
    nontarget: dict[str, str]
    new_lesions: list[Lesion]


def _target_progression(sums: list[float], nadir: float) -> bool:
    current = sums[-1]
    return current >= 1.2 * nadir and current - nadir >= 5.0


def _follow_tumour(
    rng: np.random.Generator,
    patient: VirtualPatient,
    lesions: list[Lesion],
    interval_days: float,
    horizon_day: float,
    sd_min_days: float = 42,
) -> list[Assessment]:
    """Assessments every ``interval_days`` (± 3 days) until RECIST progression or
    ``horizon_day``; sets the patient's progression day and best response (RECIST 1.1
    sections 4.3–4.4 on the generated measurements)."""
    targets = [les for les in lesions if les.role == "TARGET"]
    nontargets = [les for les in lesions if les.role == "NON-TARGET"]
    base_sum = sum(les.baseline for les in targets)
    new_day = float(rng.exponential(DAYS_PER_MONTH / NEW_LESION_PER_MONTH))
    nt_day = float(rng.exponential(DAYS_PER_MONTH / NONTARGET_PROGRESSION_PER_MONTH))
    assessments: list[Assessment] = []
    sums = [base_sum]
    nadir = base_sum
    responses: list[str] = []
    k = 1
    while True:
        day = patient.first_dose_day + k * interval_days + float(rng.integers(-3, 4))
        if day > horizon_day:
            break
        t = day - patient.first_dose_day
        fraction = float(_tumour_fraction(np.array([t]), patient.shrink, patient.growth)[0])
        sizes = {les.link_id: _measure(rng, les, fraction) for les in targets}
        total = sum(sizes.values())
        all_gone = all(
            (v < 10.0 if les.nodal else v == 0.0)
            for les, v in zip(targets, sizes.values(), strict=True)
        )
        nt_status = {}
        for les in nontargets:
            if t >= nt_day:
                nt_status[les.link_id] = "UNEQUIVOCAL PROGRESSION"
            elif all_gone and fraction < 0.15:
                nt_status[les.link_id] = "ABSENT"
            else:
                nt_status[les.link_id] = "PRESENT"
        new: list[Lesion] = []
        if t >= new_day:
            new.append(
                Lesion(
                    "NEW01",
                    "NEW",
                    str(rng.choice(["LIVER", "LUNG", "BONE"])),
                    False,
                    0.0,
                    appear_day=day,
                )
            )
        assessments.append(Assessment(day, sizes, nt_status, new))
        sums.append(total)
        progressed = (
            _target_progression(sums, nadir)
            or bool(new)
            or any(v == "UNEQUIVOCAL PROGRESSION" for v in nt_status.values())
        )
        if progressed:
            responses.append("PD")
            patient.progression_day = day
            break
        nadir = min(nadir, total)
        if all_gone and all(v == "ABSENT" for v in nt_status.values()):
            responses.append("CR")
        elif total <= 0.7 * base_sum:
            responses.append("PR")
        else:
            responses.append("SD")
        k += 1
    patient.responses = [(a.day, r) for a, r in zip(assessments, responses, strict=True)]
    patient.best_response = confirmed_best_response(
        patient.responses, patient.first_dose_day, sd_min_days=sd_min_days
    )
    return assessments


def confirmed_best_response(
    responses: list[tuple[float, str]],
    first_dose_day: float,
    until_day: float = float("inf"),
    sd_min_days: float = 42,
) -> str:
    """Best overall response up to ``until_day``: CR or PR confirmed at the next assessment
    (RECIST 1.1 section 4.4: at least 4 weeks later), SD once at least ``sd_min_days`` after
    the first dose, otherwise PD or NE."""
    seen = [r for day, r in responses if day <= until_day]
    days = [day for day, _ in responses if day <= until_day]
    for best in ("CR", "PR"):
        ok = ("CR",) if best == "CR" else ("CR", "PR")
        for i in range(len(seen) - 1):
            if seen[i] in ok and seen[i + 1] in ok and days[i + 1] - days[i] >= 28:
                return best
    if any(
        r != "PD" and d - first_dose_day >= sd_min_days for d, r in zip(days, seen, strict=True)
    ):
        return "SD"
    return "PD" if "PD" in seen else "NE"


# ---------------------------------------------------------------------------- survival


def _death_day(
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


# ---------------------------------------------------------------------------- records


class _Domains:
    """Accumulates SDTM rows per domain (text values) with per-subject sequence numbers."""

    def __init__(self, study_id: str, start: date) -> None:
        self.study_id = study_id
        self.start = start
        self.rows: dict[str, list[dict[str, str]]] = {}
        self.seq: dict[tuple[str, str], int] = {}

    def add(self, domain: str, usubjid: str, **values: Any) -> None:
        key = (domain, usubjid)
        self.seq[key] = self.seq.get(key, 0) + 1
        row = {"STUDYID": self.study_id, "DOMAIN": domain, "USUBJID": usubjid}
        if domain != "DM":
            row[f"{domain}SEQ"] = str(self.seq[key])
        row.update({k: "" if v is None else str(v) for k, v in values.items()})
        self.rows.setdefault(domain, []).append(row)

    def frames(self) -> dict[str, pd.DataFrame]:
        out = {}
        for domain, rows in self.rows.items():
            frame = pd.DataFrame(rows).fillna("")
            out[domain] = frame.astype(str)
        return out


def _visit(day_from_first_dose: float, cycle_days: int) -> tuple[str, str]:
    cycle = int(day_from_first_dose // cycle_days) + 1
    return str(cycle * 100 + 1), f"CYCLE {cycle} DAY 1"


def _write_adverse_events(
    rng: np.random.Generator,
    out: _Domains,
    protocol: Protocol,
    patient: VirtualPatient,
    treatment_end: float,
) -> list[tuple[float, int, bool]]:
    """AE records; returns (onset day, grade, TKI-driven) of grade ≥ 3 related events (for dose
    interruptions and reductions)."""
    spec = protocol.virtual_trial
    assert spec is not None
    window = float(protocol.dlt.window_days)
    multiplier = _daily_mg(protocol, patient.dose_index) / REFERENCE_DAILY_MG
    severe: list[tuple[float, int, bool]] = []
    events: list[tuple[str, str, int, float, float, bool, bool]] = []
    if patient.dlt and patient.dlt_day is not None:
        eligible = [ae for ae in spec.adverse_events if ae.dlt_eligible and ae.grade3plus > 0]
        weights = np.array([ae.grade3plus for ae in eligible])
        ae = eligible[int(rng.choice(len(eligible), p=weights / weights.sum()))]
        grade = 4 if ae.grade4plus > 0 and rng.random() < ae.grade4plus / ae.grade3plus else 3
        events.append(
            (
                ae.term,
                ae.soc,
                grade,
                patient.first_dose_day + patient.dlt_day,
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
        if patient.phase == "I" and grade >= 3 and ae.dlt_eligible and onset <= window:
            # the scenario decides DLTs: without one, no DLT-qualifying event in the window
            onset = window + 1.0 + float(rng.exponential(20.0))
        onset_day = patient.first_dose_day + onset
        if onset_day > treatment_end:
            continue
        duration = float(rng.integers(7, 22)) if grade >= 3 else float(rng.integers(10, 70))
        events.append(
            (
                ae.term,
                ae.soc,
                grade,
                onset_day,
                duration,
                False,
                grade >= 3 and rng.random() < ae.serious_fraction,
            )
        )
    for term, soc, p in BACKGROUND_EVENTS:
        if rng.random() < p:
            onset_day = patient.first_dose_day + float(rng.uniform(1, 180))
            if onset_day <= treatment_end:
                events.append(
                    (
                        term,
                        soc,
                        int(rng.choice([1, 2])),
                        onset_day,
                        float(rng.integers(5, 30)),
                        False,
                        False,
                    )
                )
    for term, soc, grade, onset_day, duration, is_dlt, serious in sorted(
        events, key=lambda e: e[3]
    ):
        related = "NOT RELATED" if any(term == b[0] for b in BACKGROUND_EVENTS) else "RELATED"
        end_day = onset_day + duration
        ongoing = end_day > min(treatment_end + 30, patient.last_contact_day)
        action = "DOSE NOT CHANGED"
        if grade >= 3 and related == "RELATED":
            # grade 4 ends treatment (see _complete_patient); grade 3 interrupts it
            action = "DRUG WITHDRAWN" if grade >= 4 else "DRUG INTERRUPTED"
            severe.append((onset_day, grade, True))
        out.add(
            "AE",
            patient.usubjid,
            AETERM=term.upper(),
            AEDECOD=term,
            AEBODSYS=soc,
            AESOC=soc,
            AETOXGR=grade,
            AESEV={1: "MILD", 2: "MODERATE"}.get(grade, "SEVERE"),
            AESER="Y" if serious else "N",
            AEREL=related,
            AEACN=action,
            AEOUT="NOT RECOVERED/NOT RESOLVED" if ongoing else "RECOVERED/RESOLVED",
            AESTDTC=_iso(out.start, onset_day),
            AEENDTC="" if ongoing else _iso(out.start, end_day),
            AESTDY=int(round(onset_day - patient.first_dose_day)) + 1,
            AEDLT="Y" if is_dlt else "N",
        )
    return severe


def _add_exposure(
    out: _Domains,
    usubjid: str,
    drug: Any,
    dose: Any,
    frequency: str,
    start: float,
    end: float,
    visit: tuple[str, str],
    adjustment: str = "",
) -> None:
    """One EX record: ``drug`` at ``dose`` from day ``start`` to day ``end``."""
    out.add(
        "EX",
        usubjid,
        EXTRT=drug.name.upper(),
        EXDOSE=f"{dose.amount:g}",
        EXDOSU=dose.unit,
        EXDOSFRM=drug.form.upper(),
        EXDOSFRQ=frequency,
        EXROUTE=drug.route.upper(),
        VISITNUM=visit[0],
        VISIT=visit[1],
        EXSTDTC=_iso(out.start, start),
        EXENDTC=_iso(out.start, end),
        EXADJ=adjustment,
    )


def _write_exposure(
    rng: np.random.Generator,
    out: _Domains,
    protocol: Protocol,
    patient: VirtualPatient,
    treatment_end: float,
    severe: list[tuple[float, int, bool]],
) -> None:
    """Donafenib as continuous dosing periods (interrupted 7–14 days after a related grade ≥ 3
    event, then resumed one dose level lower) and toripalimab 240 mg every cycle."""
    cycle_days = protocol.schedule.cycle_days or 21
    escalated = protocol.escalated_drugs[0]
    level = patient.dose_index
    start = patient.first_dose_day

    def period(end: float, adjustment: str) -> None:
        dose = protocol.dose_levels[level].doses[escalated.name]
        visit = _visit(start - patient.first_dose_day, cycle_days)
        _add_exposure(
            out, patient.usubjid, escalated, dose, dose.frequency, start, end, visit, adjustment
        )

    for onset, _grade, _tki in sorted(severe):
        if onset <= start or onset >= treatment_end:
            continue
        period(onset, "")
        start = onset + float(rng.integers(7, 15))
        if level > 0:
            level -= 1
    if start < treatment_end:
        period(treatment_end, "DOSE REDUCED" if level != patient.dose_index else "")
    for drug in (d for d in protocol.drugs if d.role == "fixed"):
        assert drug.fixed_dose is not None
        day = patient.first_dose_day
        while day <= treatment_end:
            visit = _visit(day - patient.first_dose_day, cycle_days)
            _add_exposure(out, patient.usubjid, drug, drug.fixed_dose, "ONCE", day, day, visit)
            day += cycle_days


def _diameter_test(lesion: Lesion) -> tuple[str, str]:
    """Nodes are measured by their short axis, other lesions by the longest diameter
    (RECIST 1.1 section 3.2)."""
    return ("SAXIS", "Short Axis") if lesion.nodal else ("LDIAM", "Longest Diameter")


def _add_identification(
    out: _Domains, usubjid: str, lesion: Lesion, role: str, visit: tuple[str, str], when: str
) -> None:
    """One TU record (TUMIDENT) of ``lesion`` as ``role`` (TARGET / NON-TARGET / NEW)."""
    out.add(
        "TU",
        usubjid,
        TULNKID=lesion.link_id,
        TUTESTCD="TUMIDENT",
        TUTEST="Tumor Identification",
        TUORRES=role,
        TUSTRESC=role,
        TULOC=lesion.location,
        TUMETHOD="CT SCAN",
        TUEVAL="INVESTIGATOR",
        VISITNUM=visit[0],
        VISIT=visit[1],
        TUDTC=when,
    )


def _add_result(
    out: _Domains,
    usubjid: str,
    group: str,
    link: str,
    test: tuple[str, str],
    result: str,
    visit: tuple[str, str],
    when: str,
) -> None:
    """One TR record: a diameter in mm (LDIAM/SAXIS) or a tumour state (TUMSTATE)."""
    measured = test[0] != "TUMSTATE"
    out.add(
        "TR",
        usubjid,
        TRGRPID=group,
        TRLNKID=link,
        TRTESTCD=test[0],
        TRTEST=test[1],
        TRORRES=result,
        TRORRESU="mm" if measured else "",
        TRSTRESC=result,
        TRSTRESN=result if measured else "",
        TRSTRESU="mm" if measured else "",
        TREVAL="INVESTIGATOR",
        VISITNUM=visit[0],
        VISIT=visit[1],
        TRDTC=when,
    )


TUMOUR_STATE = ("TUMSTATE", "Tumor State")


def _write_tumours(
    out: _Domains, patient: VirtualPatient, lesions: list[Lesion], visits: list[Assessment]
) -> None:
    """TU identification at screening (and at first appearance of a new lesion) and TR
    measurements: LDIAM (short axis for nodes) of targets, TUMSTATE of non-target and new
    lesions (pharmaverse ``tu_onco_recist``/``tr_onco_recist`` conventions)."""
    subject = patient.usubjid
    screening = ("1", "SCREENING")
    when = _iso(out.start, max(patient.consent_day, patient.first_dose_day - 7))
    for les in lesions:
        _add_identification(out, subject, les, les.role, screening, when)
        if les.role == "TARGET":
            _add_result(
                out,
                subject,
                "TARGET",
                les.link_id,
                _diameter_test(les),
                f"{les.baseline:g}",
                screening,
                when,
            )
        else:
            _add_result(
                out, subject, "NON-TARGET", les.link_id, TUMOUR_STATE, "PRESENT", screening, when
            )
    by_link = {les.link_id: les for les in lesions}
    for k, assessment in enumerate(visits, start=1):
        visit = (str(100 + k), f"TUMOUR ASSESSMENT {k}")
        when = _iso(out.start, assessment.day)
        for link, size in assessment.sizes.items():
            _add_result(
                out,
                subject,
                "TARGET",
                link,
                _diameter_test(by_link[link]),
                f"{size:g}",
                visit,
                when,
            )
        for link, state in assessment.nontarget.items():
            _add_result(out, subject, "NON-TARGET", link, TUMOUR_STATE, state, visit, when)
        for les in assessment.new_lesions:
            _add_identification(out, subject, les, "NEW", visit, when)
            _add_result(out, subject, "NEW", les.link_id, TUMOUR_STATE, "UNEQUIVOCAL", visit, when)


#: ADA sampling: pre-dose cycle 1, then pre-dose of cycles 2, 4, 8, 12, 16 and 24.
ADA_CYCLES = (1, 2, 4, 8, 12, 16, 24)


def _write_ada(
    rng: np.random.Generator,
    out: _Domains,
    protocol: Protocol,
    patient: VirtualPatient,
    treatment_end: float,
) -> None:
    """IS records of binding (ADA_BAB, titre or NEGATIVE) and neutralising (ADA_NAB) antibodies
    against the fixed-dose antibody (toripalimab, JS001)."""
    spec = protocol.virtual_trial
    assert spec is not None
    cycle_days = protocol.schedule.cycle_days or 21
    agent = next((d.code or d.name for d in protocol.drugs if d.role == "fixed"), "ANTIBODY")
    baseline_pos = rng.random() < spec.ada_baseline_positive
    emergent = rng.random() < spec.ada_treatment_emergent
    onset_cycle = int(rng.choice([2, 4, 8, 12])) if emergent else None
    transient = emergent and rng.random() < 0.3
    nab = emergent and rng.random() < spec.nab_fraction_of_ada
    base_titre = float(rng.choice([10, 20, 40]))
    for cycle in ADA_CYCLES:
        day = patient.first_dose_day + (cycle - 1) * cycle_days - (1 if cycle == 1 else 0)
        if day > treatment_end + 1:
            break
        positive, titre = False, 0.0
        if baseline_pos:
            positive, titre = True, base_titre * (8.0 if emergent and cycle >= 4 else 1.0)
        active = onset_cycle is not None and cycle >= onset_cycle
        if active and not (transient and cycle > (onset_cycle or 0) + 4):
            positive = True
            titre = max(titre, float(rng.choice([20, 40, 80, 160, 320, 640])))
        result = f"{titre:g}" if positive else "NEGATIVE"
        visit = f"CYCLE {cycle} DAY 1"
        common = dict(
            ISCAT="IMMUNOGENICITY",
            ISBDAGNT=agent,
            ISSPEC="SERUM",
            ISBLFL="Y" if cycle == 1 else "",
            VISITNUM=str(cycle * 100 + 1),
            VISIT=visit,
            ISDTC=_iso(out.start, day),
            ISTPT="PRE-DOSE",
        )
        out.add(
            "IS",
            patient.usubjid,
            ISTESTCD="ADA_BAB",
            ISTEST="Binding Antidrug Antibody",
            ISORRES=result,
            ISORRESU="titer" if positive else "",
            ISSTRESC=result,
            ISSTRESN=f"{titre:g}" if positive else "",
            ISSTRESU="titer" if positive else "",
            **common,
        )
        if positive:
            neutral = "POSITIVE" if nab and cycle >= (onset_cycle or 99) else "NEGATIVE"
            out.add(
                "IS",
                patient.usubjid,
                ISTESTCD="ADA_NAB",
                ISTEST="Neutralizing Binding Antidrug Antibody",
                ISORRES=neutral,
                ISORRESU="",
                ISSTRESC=neutral,
                ISSTRESN="",
                ISSTRESU="",
                **common,
            )


# ---------------------------------------------------------------------------- the trial


@dataclass(frozen=True)
class Calibration:
    """Derived generator settings that make the protocol's targets come out."""

    sensitive_fraction: float
    growth_scale: float
    pps_scale_days: float


def calibration_for(spec: VirtualTrial) -> Calibration:
    """Share of sensitive tumours for the ORR target, growth rates rescaled for the PFS target,
    and the post-progression Weibull scale for the OS median target."""
    sensitive = min(0.95, spec.orr_target / RESPONSE_YIELD)
    # median OS ≈ median PFS + median post-progression survival (pre-progression deaths rare)
    pps_median = max(spec.os_median_months - spec.pfs_median_months, 1.0) * DAYS_PER_MONTH
    scale = pps_median / np.log(2.0) ** (1.0 / spec.os_weibull_shape)
    return Calibration(
        sensitive_fraction=sensitive,
        growth_scale=PFS_AT_DEFAULT_GROWTH / spec.pfs_median_months,
        pps_scale_days=float(scale),
    )


def _complete_patient(
    rng: np.random.Generator,
    out: _Domains,
    protocol: Protocol,
    patient: VirtualPatient,
    calibration: Calibration,
) -> None:
    """Outcomes and records of one patient, followed for the protocol's follow-up period."""
    spec = protocol.virtual_trial
    assert spec is not None
    interval = protocol.schedule.tumour_assessment_weeks * 7.0
    followup_end = patient.first_dose_day + protocol.schedule.followup_months * DAYS_PER_MONTH
    sd_min_days = protocol.schedule.sd_minimum_days
    patient.sensitive, patient.shrink, patient.growth = _draw_kinetics(
        rng, calibration.sensitive_fraction, calibration.growth_scale
    )
    lesions = _baseline_lesions(rng)
    lost_day = patient.first_dose_day + float(
        rng.exponential(365.25 / max(spec.loss_to_followup_per_year, 1e-9))
    )
    withdraw_day = patient.first_dose_day + float(
        rng.exponential(365.25 / max(spec.withdrawal_per_year, 1e-9))
    )
    visits = _follow_tumour(
        rng, patient, lesions, interval, min(followup_end, lost_day, withdraw_day), sd_min_days
    )
    death = _death_day(rng, patient, spec, calibration.pps_scale_days)
    if death <= min(followup_end, lost_day, withdraw_day):
        patient.death_day = death
        visits = [v for v in visits if v.day < death]
        patient.responses = [(day, r) for day, r in patient.responses if day < death]
        patient.best_response = confirmed_best_response(
            patient.responses, patient.first_dose_day, sd_min_days=sd_min_days
        )
        if patient.progression_day is not None and patient.progression_day >= death:
            patient.progression_day = None
    ends = {
        "PROGRESSIVE DISEASE": patient.progression_day,
        "DEATH": patient.death_day,
        "WITHDRAWAL BY SUBJECT": withdraw_day,
        "LOST TO FOLLOW-UP": lost_day,
    }
    reason, end = min(((k, v) for k, v in ends.items() if v is not None), key=lambda kv: kv[1])
    if end > followup_end:
        reason, end = "ONGOING", followup_end
    patient.end_of_treatment_day = end
    patient.end_reason = reason
    contact_end = min(followup_end, lost_day, withdraw_day, death)
    patient.last_contact_day = contact_end
    patient.study_end_reason = (
        "DEATH"
        if patient.death_day is not None
        else "LOST TO FOLLOW-UP"
        if contact_end == lost_day
        else "WITHDRAWAL BY SUBJECT"
        if contact_end == withdraw_day
        else "COMPLETED"
    )
    severe = _write_adverse_events(rng, out, protocol, patient, end)
    if reason == "ONGOING" or reason == "PROGRESSIVE DISEASE":
        tox_stop = [d for d, g, _ in severe if g >= 4]
        if tox_stop and tox_stop[0] < end:
            patient.end_of_treatment_day, patient.end_reason = tox_stop[0] + 1, "ADVERSE EVENT"
    _write_exposure(rng, out, protocol, patient, patient.end_of_treatment_day, severe)
    _write_tumours(out, patient, lesions, visits)
    _write_ada(rng, out, protocol, patient, patient.end_of_treatment_day)


def _demography(out: _Domains, protocol: Protocol, patient: VirtualPatient) -> None:
    labels = protocol.level_labels
    arm = f"LEVEL {labels[patient.dose_index]}"
    escalated = protocol.escalated_drugs[0].name
    dose = protocol.dose_levels[patient.dose_index].doses[escalated]
    armlabel = f"{escalated} {dose} + toripalimab 240 mg Q3W"
    birth_year = out.start.year - patient.age
    death = "" if patient.death_day is None else _iso(out.start, patient.death_day)
    out.add(
        "DM",
        patient.usubjid,
        SUBJID=patient.usubjid.split("-")[1],
        RFSTDTC=_iso(out.start, patient.first_dose_day),
        RFENDTC=_iso(out.start, patient.last_contact_day),
        RFXSTDTC=_iso(out.start, patient.first_dose_day),
        RFXENDTC=_iso(out.start, patient.end_of_treatment_day or patient.first_dose_day),
        RFICDTC=_iso(out.start, patient.consent_day),
        RFPENDTC=_iso(out.start, patient.last_contact_day),
        DTHDTC=death,
        DTHFL="Y" if death else "",
        SITEID=patient.site,
        BRTHDTC=str(birth_year),
        AGE=patient.age,
        AGEU="YEARS",
        SEX=patient.sex,
        RACE="ASIAN",
        ETHNIC="NOT HISPANIC OR LATINO",
        ARMCD=f"L{labels[patient.dose_index]}".replace("-", "M"),
        ARM=f"{arm}: {armlabel}",
        ACTARMCD=f"L{labels[patient.dose_index]}".replace("-", "M"),
        ACTARM=f"{arm}: {armlabel}",
        COUNTRY="CHN",
        PHASE=patient.phase,
        COHORT="" if patient.cohort is None else patient.cohort,
        ETIOLOGY=patient.etiology,
        BCLC=patient.bclc,
        CPCLASS=patient.child_pugh,
    )
    out.add(
        "DS",
        patient.usubjid,
        DSTERM="INFORMED CONSENT OBTAINED",
        DSDECOD="INFORMED CONSENT OBTAINED",
        DSCAT="PROTOCOL MILESTONE",
        DSSTDTC=_iso(out.start, patient.consent_day),
    )
    out.add(
        "DS",
        patient.usubjid,
        DSTERM="ENROLLED",
        DSDECOD="ENROLLED",
        DSCAT="PROTOCOL MILESTONE",
        DSSTDTC=_iso(out.start, patient.first_dose_day),
    )
    if patient.end_reason and patient.end_reason != "ONGOING":
        out.add(
            "DS",
            patient.usubjid,
            DSTERM=patient.end_reason,
            DSDECOD=patient.end_reason,
            DSCAT="DISPOSITION EVENT",
            DSSCAT="END OF TREATMENT",
            EPOCH="TREATMENT",
            DSSTDTC=_iso(out.start, patient.end_of_treatment_day or 0),
        )
    end_day = patient.death_day if patient.death_day is not None else patient.last_contact_day
    out.add(
        "DS",
        patient.usubjid,
        DSTERM=patient.study_end_reason,
        DSDECOD=patient.study_end_reason,
        DSCAT="DISPOSITION EVENT",
        DSSCAT="END OF STUDY",
        EPOCH="FOLLOW-UP",
        DSSTDTC=_iso(out.start, end_day),
    )


def _arrivals(rng: np.random.Generator, rate_per_month: float, after: float, n: int) -> list:
    gaps = rng.exponential(DAYS_PER_MONTH / rate_per_month, size=n)
    return list(after + np.cumsum(gaps))


def generate_virtual_trial(
    protocol: Protocol, seed: int, phase2_plan: tuple[int, int, int] | None = None
) -> VirtualTrialResult:
    """Run the whole study on virtual patients (see the module docstring).

    ``phase2_plan`` is (n1, r1, n) of the expansion's two-stage design: stop after n1
    patients with ≤ r1 confirmed responses, otherwise treat n in total; by default it comes
    from the protocol's phase II block (Simon's design).
    """
    spec = protocol.virtual_trial
    if spec is None:
        raise ValueError("the protocol has no virtual_trial block")
    scenario = protocol.phase1.scenario(spec.scenario)
    truth = np.asarray(scenario.dlt_probabilities, dtype=float)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed)))
    start = date.fromisoformat(spec.start_date)
    out = _Domains(protocol.study.id.upper(), start)
    calibration = calibration_for(spec)
    design = build_design(spec_from_protocol(protocol))
    window = float(protocol.dlt.window_days)
    patients: list[VirtualPatient] = []
    decisions: list[EscalationRecord] = []
    state = TrialState(n_doses=protocol.n_doses, window_days=window)
    decision = design.decide(state)
    clock, cohort = 0.0, 0
    cohort_size = protocol.phase1.cohort_size
    while decision.continue_trial and decision.next_dose is not None:
        cohort += 1
        dose = decision.next_dose
        members = []
        for arrival in _arrivals(rng, spec.accrual_per_month_phase1, clock, cohort_size):
            p = _new_patient(rng, spec, len(patients) + 1, "I", dose, cohort, arrival)
            p.dlt = bool(rng.random() < truth[dose])
            p.dlt_day = float(rng.integers(1, int(window) + 1)) if p.dlt else None
            patients.append(p)
            members.append(p)
        decided = max(p.first_dose_day for p in members) + window
        state = TrialState(
            n_doses=protocol.n_doses,
            patients=state.patients
            + tuple(Patient(p.dose_index, p.dlt, p.dlt_day) for p in members),
            current=dose,
            window_days=window,
        )
        decision = design.decide(state)
        n, y = state.evaluable_counts()
        decisions.append(
            EscalationRecord(
                cohort=cohort,
                dose_index=dose,
                decided_day=decided,
                inputs={"n": n.tolist(), "dlts": y.tolist(), "current_dose": dose + 1},
                output=decision.to_json(),
                design=design.name,
            )
        )
        clock = decided
    recommended = decision.mtd
    expansion: dict[str, Any] = {}
    if recommended is not None:
        n1, r1, n_total = phase2_plan or _default_phase2_plan(protocol)
        arrivals = _arrivals(rng, spec.accrual_per_month_phase2, clock, n1)
        stage1 = [
            _new_patient(rng, spec, len(patients) + i + 1, "II", recommended, None, a)
            for i, a in enumerate(arrivals)
        ]
        patients += stage1
        # Simon's stage-1 analysis: 24 weeks after the last stage-1 patient's first dose
        interim = max(p.first_dose_day for p in stage1) + 24 * 7
        expansion = {
            "dose_index": recommended,
            "n1": n1,
            "r1": r1,
            "n": n_total,
            "interim_day": interim,
        }
    for p in patients:
        _complete_patient(rng, out, protocol, p, calibration)
    if expansion:
        interim = expansion["interim_day"]
        responders = sum(
            confirmed_best_response(
                p.responses, p.first_dose_day, interim, protocol.schedule.sd_minimum_days
            )
            in ("CR", "PR")
            for p in patients
            if p.phase == "II"
        )
        expansion["stage1_responders"] = responders
        if responders > expansion["r1"]:
            later = [
                _new_patient(rng, spec, len(patients) + i + 1, "II", recommended, None, a)
                for i, a in enumerate(
                    _arrivals(
                        rng,
                        spec.accrual_per_month_phase2,
                        interim,
                        expansion["n"] - expansion["n1"],
                    )
                )
            ]
            for p in later:
                _complete_patient(rng, out, protocol, p, calibration)
            patients += later
            expansion["decision"] = "stage 1 passed: stage 2 enrolled"
        else:
            expansion["decision"] = "stopped for futility after stage 1"
        expansion["enrolled"] = sum(p.phase == "II" for p in patients)
    last_first_dose = max((p.first_dose_day for p in patients), default=0.0)
    data_cut_day = last_first_dose + protocol.schedule.followup_months * DAYS_PER_MONTH
    for p in patients:
        _demography(out, protocol, p)
    return VirtualTrialResult(
        study_id=protocol.study.id.upper(),
        start_date=start,
        data_cut=start + timedelta(days=int(data_cut_day)),
        domains=out.frames(),
        patients=patients,
        decisions=decisions,
        recommended_dose=recommended,
        expansion=expansion,
    )


def _default_phase2_plan(protocol: Protocol) -> tuple[int, int, int]:
    """(n1, r1, n) of the protocol's Simon two-stage design (its optimal or minimax one)."""
    phase2 = protocol.phase2
    if phase2 is None:
        raise ValueError("the protocol has no phase2 block: give phase2_plan=(n1, r1, n)")
    result = simon_two_stage(phase2.p0, phase2.p1, phase2.alpha, phase2.power)
    design = result.minimax if phase2.criterion == "minimax" else result.optimal
    return design.n1, design.r1, design.n
