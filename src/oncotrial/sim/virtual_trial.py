"""The virtual trial: synthetic patients of a protocol, run through its designs.

Phase I cohorts are dosed by the protocol's own design (``decide`` on the DLTs seen in the
28-day window, drawn from the protocol's stated dose-toxicity scenario) and every committee
decision is kept; phase II expands at the recommended dose by the protocol's Simon two-stage
plan, whose stage-1 analysis counts the confirmed responses the data show at that time.

The patients and their scans come from :mod:`oncotrial.sim.patients` and
:mod:`oncotrial.sim.tumour` (measurements only); their records from
:mod:`oncotrial.sim.sdtm_writer`. Every response is read from the measurements by the derive
engine, as a site investigator reads the scans: the RECIST 1.1 time-point engine decides when
a patient progresses (and stops treatment and imaging), and the ADRS derivation gives the
stage-1 responders. The data cut is the last first dose plus the protocol's follow-up.

Same seed, same trial.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from oncotrial.derive.recist import evaluate_recist
from oncotrial.derive.response import (
    ResponseWindows,
    derive_adrs_from_lesions,
    objective_response_rate,
)
from oncotrial.designs.base import Patient, TrialState
from oncotrial.designs.phase2 import simon_two_stage
from oncotrial.designs.registry import build_design, spec_from_protocol
from oncotrial.protocol.model import Protocol
from oncotrial.sim.patients import (
    AdaSample,
    AdverseEvent,
    Calibration,
    Dosing,
    VirtualPatient,
    ada_samples,
    adverse_events,
    calibration_for,
    death_day,
    dosing,
    new_patient,
)
from oncotrial.sim.sdtm_writer import (
    SdtmRecords,
    write_ada,
    write_adverse_events,
    write_demography,
    write_exposure,
    write_tumours,
)
from oncotrial.sim.tumour import DAYS_PER_MONTH, baseline_lesions, draw_kinetics, scan_series

#: The criteria the virtual investigators read the scans by (the protocol's primary endpoint).
INVESTIGATOR_CRITERIA = "recist1.1"
#: Simon's stage-1 analysis: this many weeks after the last stage-1 patient's first dose.
STAGE1_ANALYSIS_WEEKS = 24


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
    """The generated trial: SDTM-shaped domains (text columns) and the operational history.

    ``expansion`` holds the Simon plan (``n1``, ``r1``, ``n``), the stage-1 analysis
    (``interim_day``, ``stage1_responders``, ``stage1_subjects``, ``decision``) and
    ``enrolled``."""

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


def _arrivals(rng: np.random.Generator, rate_per_month: float, after: float, n: int) -> list:
    gaps = rng.exponential(DAYS_PER_MONTH / rate_per_month, size=n)
    return list(after + np.cumsum(gaps))


# ----------------------------------------------------------------- the investigator's read


def first_progression(
    protocol: Protocol, patients: list[VirtualPatient], start: date
) -> dict[str, float]:
    """Day of each patient's first RECIST 1.1 progression in their scans, read by the derive
    engine (:func:`oncotrial.derive.recist.evaluate_recist`) from the TU/TR records the scans
    make; patients without progression are absent."""
    scratch = SdtmRecords("READ", start)
    for p in patients:
        write_tumours(scratch, p, p.scans)
    frames = scratch.frames()
    if "TR" not in frames:
        return {}
    timepoints = evaluate_recist(frames["TU"], frames["TR"], INVESTIGATOR_CRITERIA).timepoints
    progressed = timepoints[timepoints["OVRLRESP"].eq("PD")]
    first = progressed.groupby("USUBJID")["ADT"].min()
    return {subject: float((day.date() - start).days) for subject, day in first.items()}


def confirmed_responders(
    protocol: Protocol,
    out: SdtmRecords,
    patients: list[VirtualPatient],
    cut: date,
) -> int:
    """How many of ``patients`` have a confirmed CR or PR in the tumour records dated up to
    ``cut`` (:func:`stage1_responders` on the generated records)."""
    domains = out.frames()
    first_doses = {p.usubjid: out.date(p.first_dose_day) for p in patients}
    return stage1_responders(protocol, domains["TU"], domains["TR"], first_doses, cut)


def stage1_responders(
    protocol: Protocol,
    tu: pd.DataFrame,
    tr: pd.DataFrame,
    first_doses: dict[str, str],
    cut: date,
) -> int:
    """How many of the subjects of ``first_doses`` (USUBJID → first-dose date) have a confirmed
    CR or PR (RECIST 1.1, by the ADRS derivation with the protocol's SD minimum) in the TU/TR
    records dated up to ``cut`` — the Simon stage-1 count (Simon 1989, Control Clin Trials
    10:1)."""
    subjects = list(first_doses)
    study_id = str(tu["STUDYID"].iloc[0]) if len(tu) else protocol.study.id.upper()
    tu = tu[tu["USUBJID"].isin(subjects)]
    tr = tr[tr["USUBJID"].isin(subjects) & (tr["TRDTC"] <= cut.isoformat())]
    adsl = pd.DataFrame(
        {
            "STUDYID": study_id,
            "USUBJID": subjects,
            "TRTSDT": [first_doses[s] for s in subjects],
            "DTHDT": "",
        }
    )
    windows = ResponseWindows(
        reference_date="TRTSDT", sd_min_days=protocol.schedule.sd_minimum_days
    )
    adrs = derive_adrs_from_lesions(
        tu, tr, adsl, criteria=INVESTIGATOR_CRITERIA, windows=windows
    ).data
    return objective_response_rate(adrs, subjects=subjects).x


# ------------------------------------------------------------------------------ patients


def _follow(
    rng: np.random.Generator,
    out: SdtmRecords,
    protocol: Protocol,
    patients: list[VirtualPatient],
    calibration: Calibration,
) -> None:
    """Outcomes and records of ``patients``, each followed for the protocol's follow-up: scans
    until the investigator reads progression, death, end of treatment, AEs, doses, ADA."""
    for p in patients:
        draw_course(rng, protocol, p, calibration)
    progression = first_progression(protocol, patients, out.start)
    for p in patients:
        _complete(rng, out, protocol, p, calibration, progression.get(p.usubjid))


def draw_course(
    rng: np.random.Generator, protocol: Protocol, p: VirtualPatient, calibration: Calibration
) -> None:
    """The patient's tumour (kinetics, baseline lesions), days of loss to follow-up and of
    withdrawal, and the scans every ``tumour_assessment_weeks`` until the follow-up ends."""
    spec = protocol.virtual_trial
    assert spec is not None
    interval = protocol.schedule.tumour_assessment_weeks * 7.0
    p.kinetics = draw_kinetics(
        rng,
        calibration.sensitive_fraction,
        calibration.necrotic_fraction,
        calibration.growth_scale,
    )
    p.lesions = baseline_lesions(rng)
    p.lost_day = p.first_dose_day + float(
        rng.exponential(365.25 / max(spec.loss_to_followup_per_year, 1e-9))
    )
    p.withdraw_day = p.first_dose_day + float(
        rng.exponential(365.25 / max(spec.withdrawal_per_year, 1e-9))
    )
    horizon = min(_followup_end(protocol, p), p.lost_day, p.withdraw_day)
    p.scans = scan_series(rng, p.kinetics, p.lesions, p.first_dose_day, interval, horizon)


def _followup_end(protocol: Protocol, patient: VirtualPatient) -> float:
    return patient.first_dose_day + protocol.schedule.followup_months * DAYS_PER_MONTH


@dataclass
class Outcomes:
    """What happens to a patient on treatment: adverse events, doses and ADA samples."""

    events: list[AdverseEvent]
    doses: list[Dosing]
    samples: list[AdaSample]


def _complete(
    rng: np.random.Generator,
    out: SdtmRecords,
    protocol: Protocol,
    p: VirtualPatient,
    calibration: Calibration,
    progression_day: float | None,
) -> None:
    """The patient's outcomes (:func:`outcomes`) written as records."""
    done = outcomes(rng, protocol, p, calibration, progression_day)
    write_adverse_events(out, p, done.events)
    write_exposure(out, protocol, p, done.doses)
    write_tumours(out, p, p.scans)
    write_ada(out, protocol, p, done.samples)


def outcomes(
    rng: np.random.Generator,
    protocol: Protocol,
    p: VirtualPatient,
    calibration: Calibration,
    progression_day: float | None,
) -> Outcomes:
    """Imaging stops at the first progression; death, end of treatment and of study follow,
    then the adverse events, doses and ADA samples of the time on treatment."""
    spec = protocol.virtual_trial
    assert spec is not None
    followup_end = _followup_end(protocol, p)
    if progression_day is not None:
        p.scans = [s for s in p.scans if s.day <= progression_day + 0.5]
        p.progression_day = progression_day
    death = death_day(rng, p, spec, calibration.pps_scale_days)
    if death <= min(followup_end, p.lost_day, p.withdraw_day):
        p.death_day = death
        p.scans = [s for s in p.scans if s.day < death]
        if p.progression_day is not None and p.progression_day >= death:
            p.progression_day = None
    ends = {
        "PROGRESSIVE DISEASE": p.progression_day,
        "DEATH": p.death_day,
        "WITHDRAWAL BY SUBJECT": p.withdraw_day,
        "LOST TO FOLLOW-UP": p.lost_day,
    }
    reason, end = min(((k, v) for k, v in ends.items() if v is not None), key=lambda kv: kv[1])
    if end > followup_end:
        reason, end = "ONGOING", followup_end
    p.end_of_treatment_day, p.end_reason = end, reason
    contact_end = min(followup_end, p.lost_day, p.withdraw_day, death)
    p.last_contact_day = contact_end
    p.study_end_reason = (
        "DEATH"
        if p.death_day is not None
        else "LOST TO FOLLOW-UP"
        if contact_end == p.lost_day
        else "WITHDRAWAL BY SUBJECT"
        if contact_end == p.withdraw_day
        else "COMPLETED"
    )
    events = adverse_events(rng, protocol, p, end)
    if reason in ("ONGOING", "PROGRESSIVE DISEASE"):
        stops = [e.onset_day for e in events if e.grade >= 4 and e.related]
        if stops and stops[0] < end:
            p.end_of_treatment_day, p.end_reason = stops[0] + 1, "ADVERSE EVENT"
    doses = dosing(rng, protocol, p, p.end_of_treatment_day, events)
    return Outcomes(events, doses, ada_samples(rng, protocol, p, p.end_of_treatment_day))


# ---------------------------------------------------------------------------------- trial


def generate_virtual_trial(
    protocol: Protocol, seed: int, phase2_plan: tuple[int, int, int] | None = None
) -> VirtualTrialResult:
    """Run the whole study on virtual patients (see the module docstring).

    ``phase2_plan`` is (n1, r1, n) of the expansion's two-stage design: stop after n1
    patients with ≤ r1 confirmed responses, otherwise treat n in total; by default it comes
    from the protocol's phase II block (Simon's design).

    Example
    -------
    >>> from oncotrial.protocol import load_protocol
    >>> trial = generate_virtual_trial(load_protocol("protocols/toripalimab-donafenib-hcc.yaml"), 7)
    >>> sorted(trial.domains)  # doctest: +SKIP
    ['AE', 'DM', 'DS', 'EX', 'IS', 'TR', 'TU']
    """
    spec = protocol.virtual_trial
    if spec is None:
        raise ValueError("the protocol has no virtual_trial block")
    scenario = protocol.phase1.scenario(spec.scenario)
    truth = np.asarray(scenario.dlt_probabilities, dtype=float)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed)))
    start = date.fromisoformat(spec.start_date)
    out = SdtmRecords(protocol.study.id.upper(), start)
    calibration = calibration_for(spec)
    patients, decisions, recommended, clock = _phase1(rng, protocol, truth)
    expansion: dict[str, Any] = {}
    stage1: list[VirtualPatient] = []
    if recommended is not None:
        n1, r1, n_total = phase2_plan or _default_phase2_plan(protocol)
        for i, arrival in enumerate(_arrivals(rng, spec.accrual_per_month_phase2, clock, n1)):
            stage1.append(
                new_patient(rng, spec, len(patients) + i + 1, "II", recommended, None, arrival)
            )
        patients += stage1
        interim = max(p.first_dose_day for p in stage1) + STAGE1_ANALYSIS_WEEKS * 7
        expansion = {"dose_index": recommended, "n1": n1, "r1": r1, "n": n_total}
        expansion["interim_day"] = interim
    _follow(rng, out, protocol, patients, calibration)
    if expansion:
        interim = expansion["interim_day"]
        responders = confirmed_responders(
            protocol, out, stage1, start + timedelta(days=int(interim))
        )
        expansion["stage1_subjects"] = [p.usubjid for p in stage1]
        expansion["stage1_responders"] = responders
        if responders > expansion["r1"]:
            arrivals = _arrivals(
                rng, spec.accrual_per_month_phase2, interim, expansion["n"] - expansion["n1"]
            )
            later = [
                new_patient(rng, spec, len(patients) + i + 1, "II", recommended, None, a)
                for i, a in enumerate(arrivals)
            ]
            _follow(rng, out, protocol, later, calibration)
            patients += later
            expansion["decision"] = "stage 1 passed: stage 2 enrolled"
        else:
            expansion["decision"] = "stopped for futility after stage 1"
        expansion["enrolled"] = sum(p.phase == "II" for p in patients)
    last_first_dose = max((p.first_dose_day for p in patients), default=0.0)
    data_cut_day = last_first_dose + protocol.schedule.followup_months * DAYS_PER_MONTH
    for p in patients:
        write_demography(out, protocol, p)
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


def _phase1(
    rng: np.random.Generator, protocol: Protocol, truth: np.ndarray
) -> tuple[list[VirtualPatient], list[EscalationRecord], int | None, float]:
    """Cohorts dosed by the protocol's design until it stops: the patients, the committee's
    decisions, the MTD (0-based level or None) and the day of the last decision."""
    spec = protocol.virtual_trial
    assert spec is not None
    design = build_design(spec_from_protocol(protocol))
    window = float(protocol.dlt.window_days)
    patients: list[VirtualPatient] = []
    decisions: list[EscalationRecord] = []
    state = TrialState(n_doses=protocol.n_doses, window_days=window)
    decision = design.decide(state)
    clock, cohort = 0.0, 0
    while decision.continue_trial and decision.next_dose is not None:
        cohort += 1
        dose = decision.next_dose
        members = []
        for arrival in _arrivals(
            rng, spec.accrual_per_month_phase1, clock, protocol.phase1.cohort_size
        ):
            p = new_patient(rng, spec, len(patients) + 1, "I", dose, cohort, arrival)
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
    return patients, decisions, decision.mtd, clock


def _default_phase2_plan(protocol: Protocol) -> tuple[int, int, int]:
    """(n1, r1, n) of the protocol's Simon two-stage design (its optimal or minimax one)."""
    phase2 = protocol.phase2
    if phase2 is None:
        raise ValueError("the protocol has no phase2 block: give phase2_plan=(n1, r1, n)")
    result = simon_two_stage(phase2.p0, phase2.p1, phase2.alpha, phase2.power)
    design = result.minimax if phase2.criterion == "minimax" else result.optimal
    return design.n1, design.r1, design.n
