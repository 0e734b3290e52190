"""The virtual trial: reproducible, follows the protocol's design, responses read by the derive
engine from the measurements only, and calibrated to the published first-line PD-1 + TKI
results the protocol cites (shared calibration.md; mRECIST vs RECIST 1.1 from IMbrave150,
LEAP-002 and ORIENT-32, see the protocol's virtual_trial block)."""

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from oncotrial.derive.pipeline import derive_study
from oncotrial.derive.recist import evaluate_recist
from oncotrial.derive.response import (
    ResponseWindows,
    derive_adrs_from_lesions,
    objective_response_rate,
)
from oncotrial.protocol import load_protocol
from oncotrial.sim import patients as pt
from oncotrial.sim import virtual_trial as vt
from oncotrial.sim.sdtm_writer import SdtmRecords, write_demography
from oncotrial.stats.survival import kaplan_meier

PROTOCOL = Path(__file__).resolve().parents[1] / "protocols" / "toripalimab-donafenib-hcc.yaml"
COHORT = 500


@pytest.fixture(scope="module")
def protocol():
    return load_protocol(PROTOCOL)


@pytest.fixture(scope="module")
def cohort(protocol):
    """500 virtual patients at the reference dose (L2) followed 6 years (to see the OS
    median), their SDTM, and the ADaM the derive pipeline makes of it, with the mRECIST ADRS."""
    long = protocol.model_copy(deep=True)
    long.schedule.followup_months = 72
    calibration = pt.calibration_for(long.virtual_trial)
    rng = np.random.default_rng(11)
    out = SdtmRecords("TEST", date(2024, 1, 1))
    patients = [
        pt.new_patient(rng, long.virtual_trial, i + 1, "II", 2, None, 0.0) for i in range(COHORT)
    ]
    vt._follow(rng, out, long, patients, calibration)
    for p in patients:
        write_demography(out, long, p)
    sdtm = {k.lower(): v for k, v in out.frames().items()}
    study = derive_study(sdtm, sd_min_days=long.schedule.sd_minimum_days)
    windows = ResponseWindows("TRTSDT", long.schedule.sd_minimum_days)
    mrecist = derive_adrs_from_lesions(
        sdtm["tu"], sdtm["tr"], study.datasets["adsl"], criteria="mrecist", windows=windows
    ).data
    return patients, sdtm, study.datasets, mrecist


def _km(adtte: pd.DataFrame, paramcd: str):
    rows = adtte[adtte.PARAMCD.eq(paramcd)]
    return kaplan_meier(
        rows.AVAL.astype(float).to_numpy() / 30.4375, (rows.CNSR.astype(int) == 0).to_numpy()
    )


def test_calibration_targets(cohort) -> None:
    """Targets (calibration.md): confirmed ORR by RECIST 1.1 25-35 %, median PFS 6-8 months,
    median OS 18-22 months with 12-month OS 67-80 %, grade ≥ 3 treatment-related AEs within the
    published 36-62.5 % (IMbrave150, LEAP-002);
    every number derived by the pipeline from the generated SDTM. 500 patients: ORR's standard
    error is about 2 points, the PFS median's about 0.4 months, the OS median's about 1.3."""
    _, sdtm, adam, _ = cohort
    orr = objective_response_rate(adam["adrs"])
    assert 0.25 <= orr.estimate <= 0.35
    assert 6.0 <= _km(adam["adtte"], "PFS").median().time <= 8.0
    os_fit = _km(adam["adtte"], "OS")
    assert 18.0 <= os_fit.median().time <= 22.0
    assert 0.67 <= os_fit.at([12])[0].surv <= 0.80
    ae = sdtm["ae"]
    severe = ae[(ae.AETOXGR.astype(int) >= 3) & (ae.AEREL == "RELATED")]
    assert 0.36 <= severe.USUBJID.nunique() / COHORT <= 0.625


def test_mrecist_reads_more_responses_than_recist(cohort) -> None:
    """Viable-tumour measurement of the liver lesions: confirmed ORR by mRECIST 3-12 points
    above RECIST 1.1 in the same patients (IMbrave150 +5.9, ORIENT-32 +3, LEAP-002 +14.7), and
    more complete responses; every RECIST 1.1 responder with a liver target stays one."""
    _, _, adam, mrecist = cohort
    recist = objective_response_rate(adam["adrs"])
    by_mrecist = objective_response_rate(mrecist)
    assert 0.03 <= by_mrecist.estimate - recist.estimate <= 0.12
    cbor = adam["adrs"].query("PARAMCD == 'CBOR'").set_index("USUBJID").AVALC
    mcbor = mrecist.query("PARAMCD == 'CBOR'").set_index("USUBJID").AVALC
    assert (mcbor == "CR").sum() > (cbor == "CR").sum()
    assert by_mrecist.n == recist.n == COHORT


def test_imaging_stops_where_the_engine_reads_progression(cohort) -> None:
    """The generator has no response rule of its own: each patient's scans end at the first
    visit the RECIST 1.1 engine reads as PD (or earlier, at death or loss), and the records
    carry no RS: responses are derived, not generated."""
    patients, sdtm, _, _ = cohort
    timepoints = evaluate_recist(sdtm["tu"], sdtm["tr"]).timepoints
    first_pd = timepoints[timepoints.OVRLRESP.eq("PD")].groupby("USUBJID").ADT.min()
    last_scan = timepoints.groupby("USUBJID").ADT.max()
    progressed = [p for p in patients if p.progression_day is not None]
    assert len(progressed) > COHORT / 2
    for p in progressed:
        assert first_pd[p.usubjid] == last_scan[p.usubjid]
        assert (first_pd[p.usubjid].date() - date(2024, 1, 1)).days == p.progression_day
    assert "rs" not in sdtm


def test_viable_diameters_only_for_liver_targets(cohort) -> None:
    _, sdtm, _, _ = cohort
    tr, tu = sdtm["tr"], sdtm["tu"]
    viable = tr[tr.TRTESTCD.eq("VLDIAM")]
    where = tu.drop_duplicates(["USUBJID", "TULNKID"]).set_index(["USUBJID", "TULNKID"]).TULOC
    assert set(where.loc[list(zip(viable.USUBJID, viable.TRLNKID, strict=True))]) == {"LIVER"}
    whole = tr[tr.TRTESTCD.eq("LDIAM")].set_index(["USUBJID", "TRLNKID", "VISITNUM"]).TRSTRESN
    pairs = viable.set_index(["USUBJID", "TRLNKID", "VISITNUM"]).TRSTRESN
    assert (pairs.astype(float) <= whole.loc[pairs.index].astype(float)).all()


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


def test_simon_stage1_counts_the_derived_confirmed_responses(protocol) -> None:
    """Stage 1 passes exactly when more than r1 of the first n1 expansion patients have a
    confirmed response (ADRS CBOR) in the tumour data dated up to the stage-1 analysis."""
    trial = vt.generate_virtual_trial(protocol, 1)
    plan = trial.expansion
    stage1 = [p for p in trial.patients if p.usubjid in set(plan["stage1_subjects"])]
    assert len(stage1) == plan["n1"] == 13
    cut = trial.day_to_date(plan["interim_day"]).isoformat()
    tu, tr = trial.domains["TU"], trial.domains["TR"]
    ids = plan["stage1_subjects"]
    adsl = trial.domains["DM"].rename(columns={"RFXSTDTC": "TRTSDT"})
    adsl = adsl[adsl.USUBJID.isin(ids)].assign(DTHDT="")[["STUDYID", "USUBJID", "TRTSDT", "DTHDT"]]
    adrs = derive_adrs_from_lesions(
        tu[tu.USUBJID.isin(ids)],
        tr[tr.USUBJID.isin(ids) & tr.TRDTC.le(cut)],
        adsl,
        windows=ResponseWindows("TRTSDT", protocol.schedule.sd_minimum_days),
    ).data
    responders = objective_response_rate(adrs).x
    assert plan["stage1_responders"] == responders
    passed = responders > plan["r1"]
    assert plan["decision"].startswith("stage 1 passed") == passed
    assert plan["enrolled"] == (plan["n"] if passed else plan["n1"])


def test_demographics_look_like_advanced_hcc_in_china(protocol) -> None:
    trial = vt.generate_virtual_trial(protocol, 5, phase2_plan=(13, 3, 43))
    dm = trial.domains["DM"]
    assert set(dm.SEX) <= {"M", "F"} and set(dm.COUNTRY) == {"CHN"}
    assert dm.USUBJID.is_unique
    assert (dm.RFICDTC <= dm.RFSTDTC).all()
    deaths = dm[dm.DTHDTC != ""]
    assert (deaths.DTHDTC >= deaths.RFSTDTC).all()
    dated = [c for f in trial.domains.values() for c in f.columns if c.endswith("DTC")]
    assert dated
    latest = max(
        frame[c][frame[c] != ""].max()
        for frame in trial.domains.values()
        for c in frame.columns
        if c.endswith("DTC") and c != "BRTHDTC"
    )
    assert latest <= trial.data_cut.isoformat()
