"""ADTTE (OS, PFS, duration of response) derivations.

Independent reference: pharmaverse's ``pharmaverseadam`` 1.3 ``adtte_onco``, made by
admiralonco 1.4's ``ad_adtte.R`` from ``adsl`` and ``adrs_onco`` (see
``../shared/reference/README.md``); every cell is compared. The FDA PFS censoring options
(guidance "Clinical Trial Endpoints for the Approval of Cancer Drugs and Biologics", 2018,
appendix on PFS analysis) are checked on hand-made data with the expected values worked out
in comments.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from oncotrial.derive.errors import DataError
from oncotrial.derive.response import derive_adrs
from oncotrial.derive.tte import (
    DEATH_EVENT,
    LASTALIVE_CENSOR,
    PfsCensoring,
    censor_source,
    derive_adtte,
    derive_os,
    derive_param_tte,
    derive_pfs,
    derive_rsd,
    event_source,
)

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "pharmaverse"
needs_reference = pytest.mark.skipif(
    not REFERENCE.is_dir(), reason=f"pharmaverse reference data not found at {REFERENCE}"
)


def read(name: str) -> pd.DataFrame:
    return pd.read_csv(REFERENCE / name, dtype=str, keep_default_na=False)


def as_text(value: object) -> str:
    """A cell as the reference CSV writes it: ISO dates, integers without '.0', '' missing."""
    if value is None or value is pd.NaT or value is pd.NA:
        return ""
    if isinstance(value, float) and np.isnan(value):
        return ""
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def compare(ours: pd.DataFrame, ref: pd.DataFrame) -> tuple[int, list]:
    text = ours.copy()
    for column in text.columns:
        text[column] = [as_text(v) for v in text[column].tolist()]
    key = ["USUBJID", "PARAMCD"]
    text, ref = text.set_index(key), ref.set_index(key)
    assert text.index.is_unique and sorted(text.index) == sorted(ref.index)
    compared, diffs = 0, []
    for column in ref.columns:
        mine = text[column].reindex(ref.index)
        compared += len(ref)
        diffs += [(i, column, mine[i], ref.at[i, column]) for i in ref.index[mine != ref[column]]]
    return compared, diffs


@pytest.fixture(scope="module")
def reference_adtte():
    return derive_adtte(read("adam/adsl.csv.gz"), read("adam/adrs_onco.csv.gz"))


@needs_reference
def test_adtte_reproduces_pharmaverse_cell_by_cell(reference_adtte) -> None:
    ref = read("adam/adtte_onco.csv.gz")
    ours, notes = reference_adtte
    # 254 randomised subjects x (OS, PFS) + 4 responders x RSD = 512 records.
    assert len(ours) == len(ref) == 512
    compared, diffs = compare(ours, ref)
    assert compared == 512 * 18  # every non-key column: ADT, AVAL, CNSR, EVNTDESC, STARTDT ...
    assert diffs == []
    # The 52 screen failures (no RANDDT) get no records, each noted once.
    assert len(notes) == 52 and {n.rule for n in notes} == {"no-start-date"}


@needs_reference
def test_adtte_from_our_own_adrs_matches_too() -> None:
    """SDTM -> our ADRS -> our ADTTE equals the reference ADTTE (the CBCP defect of the
    reference ADRS does not reach ADTTE)."""
    adsl = read("adam/adsl.csv.gz")
    adrs = derive_adrs(
        read("sdtm/rs_onco_recist.csv.gz"), adsl, read("sdtm/tu_onco_recist.csv.gz")
    ).data
    compared, diffs = compare(derive_adtte(adsl, adrs).data, read("adam/adtte_onco.csv.gz"))
    assert compared == 9216 and diffs == []


@needs_reference
def test_reference_examples(reference_adtte) -> None:
    row = reference_adtte.data.set_index(["USUBJID", "PARAMCD"])
    # 01-701-1028: first PD 2013-08-30, RANDDT 2013-07-19 -> 42 days + 1 = 43, source ADRS
    # PD record ASEQ 14.
    pfs = row.loc[("01-701-1028", "PFS")]
    assert (pfs.AVAL, pfs.CNSR, pfs.EVNTDESC, pfs.SRCSEQ) == (43, 0, "Disease Progression", 14)
    # 01-705-1018: LSTALVDT 2013-06-30 is before RANDDT 2013-07-05, so the latest censoring
    # is randomisation itself -> AVAL 1.
    os_ = row.loc[("01-705-1018", "OS")]
    assert (as_text(os_.ADT), os_.AVAL, os_.EVNTDESC) == ("2013-07-05", 1, "Randomization")
    # 01-701-1015: response 2014-03-06 is also the last assessment -> RSD of 1 day, censored.
    rsd = row.loc[("01-701-1015", "RSD")]
    assert (rsd.AVAL, rsd.CNSR, rsd.CNSDTDSC) == (1, 1, "Last Tumor Assessment")


# ---------------------------------------------------------------------------------------------
# Hand-made trial: every subject randomised (and dosed) 2024-01-01.


def make_trial(
    visits: dict[str, list[tuple[str, str]]],
    *,
    deaths: dict[str, str] | None = None,
    extra: dict[str, dict[str, str]] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    deaths, extra = deaths or {}, extra or {}
    subjects = list(visits)
    adsl = pd.DataFrame(
        {
            "STUDYID": "S1",
            "USUBJID": subjects,
            "RANDDT": "2024-01-01",
            "TRTSDT": "2024-01-01",
            "DTHDT": [deaths.get(s, "") for s in subjects],
            "LSTALVDT": [deaths.get(s, "2024-07-01") for s in subjects],
            "ARM": "A",
            "ARMCD": "A",
            "ACTARM": "A",
            "ACTARMCD": "A",
            "AGE": 60,
            "SEX": "F",
        }
    )
    for column, values in extra.items():
        adsl[column] = [values.get(s, "") for s in subjects]
    rows = [(s, d, r) for s, vs in visits.items() for d, r in vs]
    rs = pd.DataFrame(rows, columns=["USUBJID", "RSDTC", "RSSTRESC"])
    rs.insert(0, "STUDYID", "S1")
    rs["RSTESTCD"], rs["RSEVAL"] = "OVRLRESP", "INVESTIGATOR"
    rs["RSSEQ"] = rs.groupby("USUBJID").cumcount() + 1
    return adsl, derive_adrs(rs, adsl).data


def pfs_table(adsl: pd.DataFrame, adrs: pd.DataFrame, **options) -> dict[str, tuple]:
    data = derive_pfs(adsl, adrs, censoring=PfsCensoring(**options)).data
    return {
        r.USUBJID: (as_text(r.ADT), int(r.AVAL), int(r.CNSR), r.EVNTDESC) for r in data.itertuples()
    }


def test_pfs_default_is_first_pd_or_death() -> None:
    adsl, adrs = make_trial(
        {"A": [("2024-02-12", "SD"), ("2024-03-25", "PD")], "B": [], "C": [("2024-02-12", "SD")]},
        deaths={"B": "2024-03-01"},
    )
    assert pfs_table(adsl, adrs) == {
        "A": ("2024-03-25", 85, 0, "Disease Progression"),  # 84 days + 1
        "B": ("2024-03-01", 61, 0, "Death"),  # 60 days + 1
        "C": ("2024-02-12", 43, 1, "Last Tumor Assessment"),  # 42 days + 1
    }


def test_pfs_event_after_two_or_more_missed_assessments() -> None:
    # Assessments every 42 days: an event more than 2 x 42 = 84 days after the last adequate
    # assessment (or randomisation) comes after two missed assessments.
    adsl, adrs = make_trial(
        {
            "M1": [("2024-02-12", "SD"), ("2024-06-01", "PD")],  # gap 110 d > 84: censor
            "M2": [("2024-02-12", "SD"), ("2024-05-06", "PD")],  # gap 84 d, not > 84: event
            "M3": [],  # death 2024-06-01, 152 d after randomisation: censor at RANDDT
            "M4": [],  # death 2024-03-01, 60 d: event
            "M5": [("2024-02-12", "SD"), ("2024-03-25", "NE"), ("2024-06-01", "PD")],
        },
        deaths={"M3": "2024-06-01", "M4": "2024-03-01"},
    )
    assert pfs_table(adsl, adrs)["M1"] == ("2024-06-01", 153, 0, "Disease Progression")
    table = pfs_table(adsl, adrs, missed_assessments=2, assessment_interval_days=42)
    assert table == {
        # censored at the SD of 2024-02-12: 42 days + 1
        "M1": ("2024-02-12", 43, 1, "Disease Progression After 2 or More Missed Assessments"),
        # 2024-05-06 - 2024-01-01 = 126 days + 1
        "M2": ("2024-05-06", 127, 0, "Disease Progression"),
        "M3": ("2024-01-01", 1, 1, "Death After 2 or More Missed Assessments"),
        "M4": ("2024-03-01", 61, 0, "Death"),
        # the NE of 2024-03-25 is not an adequate assessment: the gap runs from 2024-02-12
        "M5": ("2024-02-12", 43, 1, "Disease Progression After 2 or More Missed Assessments"),
    }
    # A 30-day visit window widens the limit to 2 x 42 + 30 = 114 days: M1's gap of 110 days
    # is within it, so its PD stands.
    windowed = pfs_table(adsl, adrs, missed_assessments=2, assessment_window_days=30)
    assert windowed["M1"] == ("2024-06-01", 153, 0, "Disease Progression")
    data = derive_pfs(adsl, adrs, censoring=PfsCensoring(missed_assessments=2)).data
    m1 = data.set_index("USUBJID").loc["M1"]
    ovr = adrs[(adrs.USUBJID == "M1") & (adrs.PARAMCD == "OVR")].set_index("RSSEQ")
    assert (m1.SRCDOM, m1.SRCVAR) == ("ADRS", "ADT")
    sd_aseq = ovr.loc[1, "ASEQ"]  # the SD record the censoring date comes from
    assert m1["SRCSEQ"] == sd_aseq
    assert m1.CNSDTDSC == "Last Adequate Tumor Assessment Before Missed Assessments"
    m3 = data.set_index("USUBJID").loc["M3"]
    assert (m3.SRCDOM, m3.SRCVAR, m3.CNSDTDSC) == ("ADSL", "RANDDT", "Randomization")


def test_pfs_new_anticancer_therapy_before_progression() -> None:
    adsl, adrs = make_trial(
        {
            "N1": [("2024-02-12", "SD"), ("2024-03-25", "SD"), ("2024-05-06", "PD")],
            "N2": [("2024-02-12", "SD"), ("2024-03-25", "PD")],
            "N3": [("2024-02-12", "SD"), ("2024-03-25", "NE")],
            "N4": [("2024-02-12", "SD")],
            "N5": [("2024-02-12", "SD"), ("2024-05-06", "PD")],
        },
        extra={
            "NACTDT": {
                "N1": "2024-04-01",
                "N2": "2024-04-01",
                "N3": "2024-04-01",
                "N4": "2024-01-20",
            }
        },
    )
    table = pfs_table(adsl, adrs, new_therapy_date="NACTDT")
    assert table == {
        # PD 2024-05-06 after new therapy 2024-04-01: censored at the last adequate
        # assessment before it, 2024-03-25 (84 days + 1).
        "N1": ("2024-03-25", 85, 1, "New Anticancer Therapy"),
        # PD before the new therapy: the event stands.
        "N2": ("2024-03-25", 85, 0, "Disease Progression"),
        # no PD; last assessment is an NE (not adequate): censored at 2024-02-12, not at the
        # default LSTA censoring of 2024-03-25.
        "N3": ("2024-02-12", 43, 1, "New Anticancer Therapy"),
        # new therapy before any assessment: censored at randomisation.
        "N4": ("2024-01-01", 1, 1, "New Anticancer Therapy"),
        # no new therapy: default rule.
        "N5": ("2024-05-06", 127, 0, "Disease Progression"),
    }
    assert pfs_table(adsl, adrs)["N3"] == ("2024-03-25", 85, 1, "Last Tumor Assessment")
    notes = derive_pfs(adsl, adrs, censoring=PfsCensoring(new_therapy_date="NACTDT")).notes
    assert [(n.rule, n.subject) for n in notes] == [
        ("fda-pfs-new-therapy", s) for s in ("N1", "N3", "N4")
    ]


def test_pfs_no_baseline_or_no_post_baseline_assessment() -> None:
    adsl, adrs = make_trial(
        {
            "B1": [("2024-02-12", "SD"), ("2024-03-25", "PD")],  # no baseline assessment
            "B2": [("2024-02-12", "SD"), ("2024-03-25", "PD")],
            "P1": [],  # died 2024-02-01 without any assessment
            "P2": [("2024-02-12", "NE")],  # only an inadequate assessment
        },
        deaths={"P1": "2024-02-01"},
        extra={"BLTADT": {"B2": "2023-12-20", "P1": "2023-12-20", "P2": "2023-12-20"}},
    )
    baseline = pfs_table(adsl, adrs, baseline_assessment_date="BLTADT")
    # B1 has no baseline date: censored at randomisation whatever happened later; P1 and P2
    # have one.
    assert baseline["B1"] == ("2024-01-01", 1, 1, "No Baseline Tumor Assessment")
    assert baseline["B2"] == ("2024-03-25", 85, 0, "Disease Progression")
    assert baseline["P1"] == ("2024-02-01", 32, 0, "Death")  # 31 days + 1
    post = pfs_table(adsl, adrs, require_post_baseline_assessment=True)
    assert post["P1"] == ("2024-01-01", 1, 1, "No Post-baseline Tumor Assessment")
    assert post["P2"] == ("2024-01-01", 1, 1, "No Post-baseline Tumor Assessment")
    assert post["B2"] == ("2024-03-25", 85, 0, "Disease Progression")
    # Off by default: P1's death is an event, P2 is censored at its (NE) last assessment.
    default = pfs_table(adsl, adrs)
    assert default["P1"] == ("2024-02-01", 32, 0, "Death")
    assert default["P2"] == ("2024-02-12", 43, 1, "Last Tumor Assessment")


def test_os_and_duration_of_response() -> None:
    adsl, adrs = make_trial(
        {
            "R1": [("2024-02-12", "PR"), ("2024-03-25", "PR"), ("2024-05-06", "PD")],
            "R2": [("2024-02-12", "PR"), ("2024-03-04", "SD")],
            "S1": [("2024-02-12", "SD")],
        },
        deaths={"S1": "2024-04-10"},
    )
    os_ = derive_os(adsl, adrs).data.set_index("USUBJID")
    assert (os_.loc["S1", "AVAL"], os_.loc["S1", "CNSR"]) == (101, 0)  # 100 days + 1
    assert (as_text(os_.loc["R1", "ADT"]), os_.loc["R1", "EVNTDESC"]) == ("2024-07-01", "Alive")
    rsd = derive_rsd(adsl, adrs).data.set_index("USUBJID")
    assert sorted(rsd.index) == ["R1", "R2"]  # responders only
    # R1: response 2024-02-12 to PD 2024-05-06 = 84 days + 1.
    assert (rsd.loc["R1", "AVAL"], rsd.loc["R1", "CNSR"]) == (85, 0)
    # R2: censored at the last assessment 2024-03-04: 21 days + 1.
    assert (rsd.loc["R2", "AVAL"], rsd.loc["R2", "CNSR"]) == (22, 1)
    confirmed = derive_rsd(adsl, adrs, confirmed=True).data
    assert confirmed.USUBJID.tolist() == ["R1"]  # R2's PR was not confirmed


# ---------------------------------------------------------------------------------------------
# The generic machinery


def test_sources_as_data_ties_and_start_date() -> None:
    adsl = pd.DataFrame(
        {
            "USUBJID": ["A", "B", "C"],
            "TRTSDT": pd.to_datetime(["2024-01-10", "2024-01-10", "2024-01-10"]),
            "LSTALVDT": pd.to_datetime(["2024-03-01", "2024-03-01", "2024-01-05"]),
            "EOSDT": pd.to_datetime(["2024-03-01", "2024-02-01", None]),
        }
    )
    events = pd.DataFrame(
        {
            "USUBJID": ["A", "A", "C"],
            "ADT": pd.to_datetime(["2024-02-01", "2024-02-01", "2024-01-01"]),
            "KIND": ["X", "Y", "X"],
            "SEQ": [1, 2, 3],
        }
    )
    x = event_source(
        "ev", "ADT", condition=lambda d: d.KIND.eq("X"), description="X", srcdom="EV", srcseq="SEQ"
    )
    y = event_source(
        "ev", "ADT", condition=lambda d: d.KIND.eq("Y"), description="Y", srcdom="EV", srcseq="SEQ"
    )
    eos = censor_source("adsl", "EOSDT", censor=2, description="End of Study", srcdom="ADSL")
    out, notes = derive_param_tte(
        adsl,
        {"adsl": adsl, "ev": events},
        events=[y, x],
        censors=[LASTALIVE_CENSOR, eos],
        paramcd="TTX",
        param="Time to X",
        start_date="TRTSDT",
    )
    rows = out.set_index("USUBJID")
    # A: X and Y on the same day -> the first listed source (Y) wins; 22 days + 1.
    assert (rows.loc["A", "EVNTDESC"], rows.loc["A", "AVAL"], rows.loc["A", "SRCSEQ"]) == (
        "Y",
        23,
        2,
    )
    # B: no event; latest censoring is LSTALVDT 2024-03-01 (EOSDT 2024-02-01 is earlier).
    assert (rows.loc["B", "CNSR"], rows.loc["B", "SRCVAR"], rows.loc["B", "AVAL"]) == (
        1,
        "LSTALVDT",
        52,
    )
    # C: event dated before the start date -> ADT is set to the start date, AVAL 1.
    assert (as_text(rows.loc["C", "ADT"]), rows.loc["C", "AVAL"]) == ("2024-01-10", 1)
    assert notes == []
    # Same-day censorings: the last listed source wins (admiral), here EOSDT with CNSR 2.
    adsl.loc[1, "EOSDT"] = pd.Timestamp("2024-03-01")
    out = derive_param_tte(
        adsl,
        {"adsl": adsl, "ev": events},
        events=[x],
        censors=[LASTALIVE_CENSOR, eos],
        paramcd="TTX",
        param="Time to X",
        start_date="TRTSDT",
    ).data.set_index("USUBJID")
    assert (out.loc["B", "CNSR"], out.loc["B", "EVNTDESC"]) == (2, "End of Study")
    with pytest.raises(ValueError, match="CNSR >= 1"):
        censor_source("adsl", "EOSDT", censor=0)


def test_start_at_first_dose() -> None:
    adsl, adrs = make_trial({"A": [("2024-02-12", "SD")]})
    adsl.loc[0, "TRTSDT"] = "2024-01-05"
    os_ = derive_os(adsl, adrs, start_date="TRTSDT").data.iloc[0]
    assert (as_text(os_.STARTDT), os_.AVAL) == ("2024-01-05", 179)  # to 2024-07-01
    adsl.loc[0, "LSTALVDT"] = ""
    os_ = derive_os(adsl, adrs, start_date="TRTSDT").data.iloc[0]
    assert (os_.EVNTDESC, os_.AVAL, os_.SRCVAR) == ("Treatment Start", 1, "TRTSDT")
    assert DEATH_EVENT.srcseq == "ASEQ"


# ---------------------------------------------------------------------------------------------
# Bad input


def test_death_before_first_dose() -> None:
    adsl, adrs = make_trial({"A": [("2024-02-12", "SD")], "B": []})
    adsl.loc[1, "DTHDT"] = "2023-12-24"
    with pytest.raises(DataError) as err:
        derive_adtte(adsl, adrs)
    assert (err.value.dataset, err.value.row, err.value.subject, err.value.column) == (
        "ADSL",
        2,
        "B",
        "DTHDT",
    )
    assert "before the first dose" in str(err.value)


def test_partial_or_impossible_adsl_dates_and_missing_columns() -> None:
    adsl, adrs = make_trial({"A": [("2024-02-12", "SD")], "B": []})
    partial = adsl.copy()
    partial.loc[1, "LSTALVDT"] = "2024-06"
    with pytest.raises(DataError, match="partial date") as err:
        derive_adtte(partial, adrs)
    assert (err.value.row, err.value.subject, err.value.column) == (2, "B", "LSTALVDT")
    impossible = adsl.copy()
    impossible.loc[0, "RANDDT"] = "2024-02-30"
    with pytest.raises(DataError, match="does not exist") as err:
        derive_adtte(impossible, adrs)
    assert (err.value.dataset, err.value.row, err.value.column) == ("ADSL", 1, "RANDDT")
    with pytest.raises(DataError, match="LSTALVDT") as err:
        derive_adtte(adsl.drop(columns="LSTALVDT"), adrs)
    assert err.value.dataset == "ADSL"
    with pytest.raises(DataError, match="ASEQ") as err:
        derive_adtte(adsl, adrs.drop(columns="ASEQ"))
    assert err.value.dataset == "ADRS"
