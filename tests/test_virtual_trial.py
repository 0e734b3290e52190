"""The virtual trial: reproducible, follows the protocol's design, and calibrated to the
published first-line PD-1 + TKI results the protocol cites (shared calibration.md)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from oncotrial.protocol import load_protocol
from oncotrial.sim import virtual_trial as vt

PROTOCOL = Path(__file__).resolve().parents[1] / "protocols" / "toripalimab-donafenib-hcc.yaml"


@pytest.fixture(scope="module")
def protocol():
    return load_protocol(PROTOCOL)


def _km_median(times: np.ndarray, events: np.ndarray) -> float | None:
    order = np.lexsort((~events, times))
    t, e = times[order], events[order]
    at_risk, surv = len(t), 1.0
    for ti, ei in zip(t, e, strict=True):
        if ei:
            surv *= (at_risk - 1) / at_risk
            if surv <= 0.5:
                return float(ti)
        at_risk -= 1
    return None


@pytest.fixture(scope="module")
def cohort(protocol):
    """2,000 virtual patients at the reference dose, followed 6 years (to see the OS median)."""
    long = protocol.model_copy(deep=True)
    long.schedule.followup_months = 72
    spec = long.virtual_trial
    calibration = vt.calibration_for(spec)
    rng = np.random.default_rng(11)
    out = vt._Domains("TEST", vt.date(2024, 1, 1))
    patients = []
    for i in range(2000):
        p = vt._new_patient(rng, spec, i + 1, "II", 2, None, 0.0)
        vt._complete_patient(rng, out, long, p, calibration)
        patients.append(p)
    return patients, out.frames()


def test_calibration_targets(cohort) -> None:
    """Targets (issue #4, calibration.md): ORR 25-35 %, median PFS 6-8 months, median OS
    18-22 months with 12-month OS 67-77 %, grade >= 3 treatment-related AEs 40-60 %.
    2,000 patients: ORR's standard error is about 1 point, the medians' about 0.3-0.6 months."""
    patients, domains = cohort
    orr = np.mean([p.best_response in ("CR", "PR") for p in patients])
    assert 0.25 <= orr <= 0.35
    first = np.array([p.first_dose_day for p in patients])
    prog = np.array(
        [
            min(x for x in (p.progression_day, p.death_day, np.inf) if x is not None)
            for p in patients
        ]
    )
    last = np.array([p.last_contact_day for p in patients])
    pfs_event = np.isfinite(prog)
    pfs = np.where(pfs_event, prog, last) - first
    assert 6.0 <= _km_median(pfs, pfs_event) / vt.DAYS_PER_MONTH <= 8.0
    death = np.array([np.inf if p.death_day is None else p.death_day for p in patients])
    os_event = np.isfinite(death)
    os_time = np.where(os_event, death, last) - first
    assert 18.0 <= _km_median(os_time, os_event) / vt.DAYS_PER_MONTH <= 22.0
    died_by_12 = np.mean(os_event & (os_time <= 365.25))
    assert 0.67 <= 1 - died_by_12 <= 0.80
    ae = domains["AE"]
    severe = ae[(ae.AETOXGR.astype(int) >= 3) & (ae.AEREL == "RELATED")]
    assert 0.40 <= severe.USUBJID.nunique() / len(patients) <= 0.60


def test_same_seed_same_trial(protocol) -> None:
    a = vt.generate_virtual_trial(protocol, 7, phase2_plan=(13, 3, 43))
    b = vt.generate_virtual_trial(protocol, 7, phase2_plan=(13, 3, 43))
    assert a.domains.keys() == b.domains.keys()
    for name in a.domains:
        pd.testing.assert_frame_equal(a.domains[name], b.domains[name])
    c = vt.generate_virtual_trial(protocol, 8, phase2_plan=(13, 3, 43))
    assert not a.domains["TR"].equals(c.domains["TR"])


def test_phase1_follows_the_protocol_design(protocol) -> None:
    from oncotrial.designs.base import Patient, TrialState
    from oncotrial.designs.registry import build_design, spec_from_protocol

    trial = vt.generate_virtual_trial(protocol, 3, phase2_plan=(13, 3, 43))
    design = build_design(spec_from_protocol(protocol))
    phase1 = [p for p in trial.patients if p.phase == "I"]
    assert len(phase1) <= protocol.phase1.max_patients
    state = TrialState(n_doses=protocol.n_doses)
    for record in trial.decisions:
        members = [p for p in phase1 if p.cohort == record.cohort]
        assert {p.dose_index for p in members} == {record.dose_index}
        state = TrialState(
            protocol.n_doses,
            state.patients + tuple(Patient(p.dose_index, p.dlt, p.dlt_day) for p in members),
            record.dose_index,
        )
        assert design.decide(state).to_json() == record.output
    # every DLT is an AE flagged in the window, and nobody else has one there
    ae = trial.domains["AE"]
    flagged = set(ae.loc[ae.AEDLT == "Y", "USUBJID"])
    assert flagged == {p.usubjid for p in phase1 if p.dlt}


def test_demographics_look_like_advanced_hcc_in_china(protocol) -> None:
    trial = vt.generate_virtual_trial(protocol, 5, phase2_plan=(13, 3, 43))
    dm = trial.domains["DM"]
    assert set(dm.SEX) <= {"M", "F"} and set(dm.COUNTRY) == {"CHN"}
    assert dm.USUBJID.is_unique
    assert (dm.RFICDTC <= dm.RFSTDTC).all()
    deaths = dm[dm.DTHDTC != ""]
    assert (deaths.DTHDTC >= deaths.RFSTDTC).all()
