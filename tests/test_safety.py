"""Safety derivations: AE analysis dates, treatment-emergent and worst-grade flags, DLTs and
AE summaries by dose level.

Independent reference: pharmaverse ``adam/adae.csv.gz``, made by admiral's ADAE template
(``inst/templates/ad_adae.R``) from ``sdtm/ae.csv.gz`` and ADSL. Reproduced for all 1191 AEs,
cell by cell: ASTDTM, ASTDT, ASTDTF, ASTTMF (26 partial start dates imputed: 15 day, 11 month),
AENDTM, AENDT, AENDTF, AENTMF, ASTDY, AENDY, ADURN, TRTSDT, TRTEDT, TRTEMFL (1122 "Y"),
AOCCIFL (217 "Y", first occurrence of the worst severity ``ASEVN`` per subject) and ASEVN
(our ATOXGRN from AESEV): 0 differences. The reference has no CTCAE grades (only AESEV), so
grade rules beyond severity 1-3 and the DLT rules are checked on hand-made cases against the
seed protocol's DLT definition (protocols/toripalimab-donafenib-hcc.yaml).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from oncotrial.derive.errors import CombinedDataError, DataError
from oncotrial.derive.safety import (
    ae_dates,
    ae_grade_table,
    ae_overview,
    derive_adae,
    dlt_summary,
    evaluate_dlt,
    flag_worst,
    impute_dtc,
    normalise_term,
    parse_grades,
    treatment_emergent,
    worst_grades,
)
from oncotrial.protocol import load_protocol
from oncotrial.protocol.model import DltDefinition

PHARMAVERSE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "pharmaverse"
SEED = Path(__file__).resolve().parents[1] / "protocols" / "toripalimab-donafenib-hcc.yaml"


def _read(name: str) -> pd.DataFrame:
    return pd.read_csv(PHARMAVERSE / f"{name}.csv.gz", dtype=str, keep_default_na=False)


def _cell(value: object) -> str:
    if value is None or value is pd.NaT or value is pd.NA:
        return ""
    if isinstance(value, float) and np.isnan(value):
        return ""
    if isinstance(value, pd.Timestamp):
        fmt = "%Y-%m-%d" if value == value.normalize() else "%Y-%m-%d %H:%M:%S"
        return value.strftime(fmt)
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


@pytest.fixture(scope="module")
def reference() -> dict[str, pd.DataFrame]:
    if not PHARMAVERSE.is_dir():
        pytest.skip(f"pharmaverse reference data not found at {PHARMAVERSE}")
    data = {n: _read(n) for n in ("sdtm/ae", "adam/adsl", "adam/adae")}
    data["ours"] = derive_adae(data["sdtm/ae"], data["adam/adsl"], grade="AESEV")
    return data


def test_adae_reproduced_cell_by_cell(reference: dict[str, pd.DataFrame]) -> None:
    ref, ours = reference["adam/adae"], reference["ours"].rename(columns={"ATOXGRN": "ASEVN"})
    key = ["USUBJID", "AESEQ"]
    merged = ref.merge(ours, on=key, how="outer", suffixes=("_ref", "_our"), indicator=True)
    assert len(merged) == 1191 and (merged["_merge"] == "both").all()
    failures = {}
    for column in (
        "ASTDTM",
        "ASTDT",
        "ASTDTF",
        "ASTTMF",
        "AENDTM",
        "AENDT",
        "AENDTF",
        "AENTMF",
        "ASTDY",
        "AENDY",
        "ADURN",
        "TRTSDT",
        "TRTEDT",
        "TRTEMFL",
        "AOCCIFL",
        "ASEVN",
    ):
        r = merged[f"{column}_ref"].map(_cell)
        o = merged[f"{column}_our"].map(_cell)
        if not (r == o).all():
            failures[column] = merged.loc[r != o, [*key, f"{column}_ref", f"{column}_our"]]
    assert not failures, {c: f.head(5).to_dict("records") for c, f in failures.items()}
    assert (merged["TRTEMFL_ref"] == "Y").sum() == 1122
    assert (merged["AOCCIFL_ref"] == "Y").sum() == 217
    assert merged["ASTDTF_ref"].value_counts().to_dict() == {"": 1165, "D": 15, "M": 11}


def test_overview_matches_reference_flags(reference: dict[str, pd.DataFrame]) -> None:
    """Subjects with >= 1 TEAE per arm, counted from the reference's own TRTEMFL and ASEVN."""
    ref, adsl = reference["adam/adae"], reference["adam/adsl"]
    overview = ae_overview(reference["ours"], adsl, group="TRT01A")
    safety = adsl[adsl["SAFFL"] == "Y"]
    teae = ref[(ref["TRTEMFL"] == "Y") & ref["USUBJID"].isin(safety["USUBJID"])]
    for arm, members in safety.groupby("TRT01A"):
        got = overview[(overview["group"] == arm)].set_index("category")
        sub = teae[teae["TRT01A"] == arm]
        assert got.loc["Any AE", ["n", "N"]].tolist() == [sub["USUBJID"].nunique(), len(members)]
        severe = sub[sub["ASEVN"].astype(int) >= 3]["USUBJID"].nunique()
        assert got.loc["Grade >= 3", "n"] == severe
        serious = sub[sub["AESER"] == "Y"]["USUBJID"].nunique()
        assert got.loc["Serious", "n"] == serious
    total = overview[overview["group"] == "Total"].set_index("category")
    assert total.loc["Any AE", ["n", "N"]].tolist() == [217, 254]
    table = ae_grade_table(reference["ours"], adsl, group="TRT01A")
    any_row = table[(table["AEBODSYS"] == "Any") & (table["group"] == "Total")]
    counts = any_row.set_index("grade")["n"]
    worst = teae.groupby("USUBJID")["ASEVN"].max().value_counts()
    assert [counts["1"], counts["2"], counts["3"]] == [worst["1"], worst["2"], worst["3"]]
    assert counts["any"] == 217


# --- analysis dates and treatment emergence -----------------------------------------------------

ADSL = pd.DataFrame(
    {
        "USUBJID": ["S1", "S2", "S3", "S4", "S5", "S6", "S7"],
        "TRTSDT": ["2024-01-01"] * 5 + ["", "2024-01-01"],
        "TRTEDT": ["2024-06-01"] * 5 + ["", "2024-06-01"],
        "DTHDT": ["", "", "", "", "", "", "2024-01-25"],
        "EOSDT": ["2024-07-01"] * 7,
        "SAFFL": ["Y"] * 5 + ["N", "Y"],
        "DOSELVL": ["1", "1", "2", "2", "2", "2", "2"],
    }
)


def test_partial_dates_imputed_as_admiral() -> None:
    """admiral derive_vars_dtm(highest_imputation = "M"): start → first day/month but not
    before TRTSDT when the partial date allows; end → last day/month but not after death."""
    trt = pd.Timestamp("2024-01-10").date()
    assert impute_dtc("2024-01", imputation="first", min_dates=[trt]).value.isoformat() == (
        "2024-01-10T00:00:00"
    )
    start = impute_dtc("2024-02", imputation="first", min_dates=[trt])
    assert (start.value.isoformat(), start.date_flag, start.time_flag) == (
        "2024-02-01T00:00:00",
        "D",
        "H",
    )
    year = impute_dtc("2023", imputation="first", min_dates=[trt])
    assert (year.value.isoformat(), year.date_flag) == ("2023-01-01T00:00:00", "M")
    assert impute_dtc("2024", imputation="first", min_dates=[trt]).value.date() == trt
    minute = impute_dtc("2024-01-05T10", imputation="first")
    assert (minute.value.isoformat(), minute.time_flag) == ("2024-01-05T10:00:00", "M")
    death = pd.Timestamp("2024-03-15").date()
    end = impute_dtc("2024-03", imputation="last", max_dates=[death])
    assert (end.value.isoformat(), end.date_flag) == ("2024-03-15T23:59:59", "D")
    assert impute_dtc("2024-04", imputation="last", max_dates=[death]).value.isoformat() == (
        "2024-04-30T23:59:59"
    )
    assert impute_dtc("", imputation="first").value is None

    ae = pd.DataFrame(
        {
            "USUBJID": ["S7", "S7"],
            "AESEQ": ["1", "2"],
            "AESTDTC": ["2024-01", "2023-12-20"],
            "AEENDTC": ["2024-01", ""],
        }
    )
    out = ae_dates(ae, ADSL)
    assert out["ASTDT"].dt.strftime("%Y-%m-%d").tolist() == ["2024-01-01", "2023-12-20"]
    assert out["AENDT"].iloc[0] == pd.Timestamp("2024-01-25")  # death, not 2024-01-31
    assert out["ASTDY"].tolist() == [1, -12]


def test_treatment_emergent_rules() -> None:
    ae = pd.DataFrame(
        {
            "USUBJID": ["S1"] * 7 + ["S6"],
            "AESEQ": [str(i) for i in range(1, 9)],
            "AESTDTC": [
                "2024-07-01",
                "2024-07-02",
                "2023-12-01",
                "2023-12-01",
                "2023-12-01",
                "",
                "2024-01-01",
                "2024-02-01",
            ],
            "AEENDTC": ["", "", "2023-12-05", "", "", "", "", ""],
            "AETOXGR": ["1", "1", "2", "3", "2", "1", "1", "1"],
            "AEITOXGR": ["1", "1", "2", "2", "2", "1", "1", "1"],
        }
    )
    adae = ae_dates(ae, ADSL)
    # last dose 2024-06-01 + 30 days = 2024-07-01 (in), 07-02 (out); ended before first dose;
    # pre-existing ongoing, not worse; missing start (conservatively emergent); first-dose day;
    # untreated subject
    assert treatment_emergent(adae).tolist() == ["Y", "", "", "", "", "Y", "Y", ""]
    worse = treatment_emergent(adae, grade="AETOXGR", initial_grade="AEITOXGR")
    assert worse.tolist() == ["Y", "", "", "Y", "", "Y", "Y", ""]
    assert treatment_emergent(adae, end_window_days=None).tolist()[:2] == ["Y", "Y"]

    episode = pd.DataFrame(
        {
            "USUBJID": ["S1"] * 4,
            "AESEQ": ["1", "2", "3", "4"],
            "AEGRPID": ["E1"] * 4,
            "AESTDTC": ["2023-12-20", "2024-01-05", "2024-01-10", "2024-01-20"],
            "AEENDTC": ["2024-01-04", "2024-01-09", "2024-01-19", ""],
            "AETOXGR": ["1", "1", "2", "1"],
        }
    )
    flags = treatment_emergent(ae_dates(episode, ADSL), grade="AETOXGR", group="AEGRPID")
    assert flags.tolist() == ["", "", "Y", "Y"]


def test_worst_grade_per_subject_term_and_soc() -> None:
    ae = pd.DataFrame(
        {
            "USUBJID": ["S1", "S1", "S1", "S1", "S2"],
            "AESEQ": ["1", "2", "3", "4", "1"],
            "AEDECOD": ["Nausea", "Nausea", "Vomiting", "Rash", "Nausea"],
            "AEBODSYS": ["GI", "GI", "GI", "Skin", "GI"],
            "AESTDTC": ["2024-01-03", "2024-01-02", "2024-01-04", "2024-01-05", "2024-01-02"],
            "AETOXGR": ["2", "2", "3", "1", ""],
        }
    )
    adae = derive_adae(ae, ADSL)
    assert adae["AOCCIFL"].tolist() == ["", "", "Y", "", "Y"]
    assert adae["AOCCPIFL"].tolist() == ["", "Y", "Y", "Y", "Y"]  # earlier of the two grade 2
    assert adae["AOCCSIFL"].tolist() == ["", "", "Y", "Y", "Y"]
    by_term = worst_grades(adae, by=("USUBJID", "AEDECOD"), grade="ATOXGRN")
    assert by_term["WORSTGR"].tolist()[:3] == [2.0, 1.0, 3.0]
    assert np.isnan(by_term["WORSTGR"].iloc[3])
    soc = worst_grades(adae, by=("USUBJID", "AEBODSYS"), grade="ATOXGRN")
    assert soc.loc[soc["AEBODSYS"] == "GI", "WORSTGR"].tolist()[0] == 3.0
    assert flag_worst(adae, by=("AEBODSYS",), grade="ATOXGRN").tolist() == ["", "", "Y", "Y", ""]


# --- DLT rules of the seed protocol ---------------------------------------------------------------

SOC = {
    "GI": "Gastrointestinal disorders",
    "INV": "Investigations",
    "BLOOD": "Blood and lymphatic system disorders",
    "SKIN": "Skin and subcutaneous tissue disorders",
    "GEN": "General disorders and administration site conditions",
    "INF": "Infections and infestations",
    "VASC": "Vascular disorders",
    "NERV": "Nervous system disorders",
}


def _case(subject: str, term: str, soc: str, grade: int, start: str, end: str, **kw: str) -> dict:
    """One AE; AEREL PROBABLE, no bleeding, no cycle-2 delay, not serious unless given."""
    row = {"USUBJID": subject, "AEDECOD": term, "AEBODSYS": SOC[soc], "AETOXGR": grade}
    row |= {"AESTDTC": start, "AEENDTC": end, "AEREL": "PROBABLE", "BLEEDING": "N"}
    row |= {"C2DELAY": "N", "AESER": "N", "AEACN": ""}
    return row | kw


DLT_CASES = [
    _case("S1", "Nausea", "GI", 3, "2024-01-05", "2024-01-06"),
    _case("S1", "Diarrhoea", "GI", 3, "2024-01-03", "2024-01-06", AEREL="POSSIBLE"),
    _case("S1", "Vomiting", "GI", 3, "2024-01-08T08:00", "2024-01-11T07:00"),
    _case("S1", "Vomiting", "GI", 3, "2024-01-12T08:00", "2024-01-15T09:00"),
    _case("S2", "Neutrophil count decreased", "INV", 4, "2024-01-10", "2024-01-16"),
    _case(
        "S2",
        "Neutrophil count decreased",
        "INV",
        4,
        "2024-01-17",
        "2024-01-24",
        AEACN="DRUG WITHDRAWN",
    ),
    _case("S2", "Neutrophil count decreased", "INV", 3, "2024-01-02", "2024-01-27"),
    _case("S2", "Febrile neutropenia", "BLOOD", 3, "2024-01-20", "2024-01-22"),
    _case("S3", "Platelet count decreased", "INV", 3, "2024-01-05", "2024-01-09", BLEEDING=""),
    _case("S3", "Platelet count decreased", "INV", 3, "2024-01-12", "2024-01-13"),
    _case("S3", "Platelet count decreased", "INV", 4, "2024-01-15", "2024-01-16", BLEEDING=""),
    _case("S3", "Aspartate aminotransferase increased", "INV", 3, "2024-01-08", "2024-01-20"),
    _case("S4", "Rash maculo-papular", "SKIN", 3, "2024-01-29", "2024-02-10"),
    _case("S4", "Rash maculo-papular", "SKIN", 3, "2024-01-28", "2024-01-29"),
    _case("S4", "Fatigue", "GEN", 3, "2024-01-04", "2024-01-20", AEREL="NOT RELATED"),
    _case("S4", "Sepsis", "INF", 5, "2024-01-20", "2024-01-25", AEREL="", AESER="Y"),
    _case("S5", "Neutrophil count decreased", "INV", 4, "2024-01-20", ""),
    _case("S5", "Hypertension", "VASC", 2, "2024-01-03", "2024-01-30", C2DELAY="Y"),
    _case("S5", "Nausea", "GI", 3, "2024-01-06", ""),
    _case("S7", "Headache", "NERV", 1, "2024-01-06", "2024-01-07", AEREL="NONE"),
]
CONDITIONS = {"thrombocytopenia-g3-bleeding": "BLEEDING", "cycle-2-delay": "C2DELAY"}


@pytest.fixture(scope="module")
def dlt_adae() -> pd.DataFrame:
    ae = pd.DataFrame(DLT_CASES)
    ae["AESEQ"] = ae.groupby("USUBJID").cumcount() + 1
    return derive_adae(ae, ADSL)


@pytest.fixture(scope="module")
def definition() -> DltDefinition:
    return load_protocol(SEED).dlt


def test_dlt_rules_of_the_seed_protocol(dlt_adae: pd.DataFrame, definition: DltDefinition) -> None:
    out = evaluate_dlt(dlt_adae, definition, conditions=CONDITIONS)
    assert definition.window_days == 28
    expected = [
        ("N", ""),  # grade 3 nausea resolved in 48 h: exception
        ("Y", "non-haematologic-g3"),  # diarrhoea (British spelling) 4 days (96 h)
        ("N", ""),  # vomiting 71 h: exception
        ("Y", "non-haematologic-g3"),  # vomiting 73 h
        ("N", ""),  # grade 4 neutropenia 7 days: not > 7
        ("Y", "neutropenia-g4-7d"),  # 8 days
        ("N", ""),  # grade 3 neutropenia: haematologic, no criterion
        ("Y", "febrile-neutropenia"),
        ("N", ""),  # grade 3 thrombocytopenia, bleeding not recorded -> review
        ("N", ""),  # grade 3 thrombocytopenia without bleeding
        ("Y", "thrombocytopenia-g4"),
        ("Y", "non-haematologic-g3; hepatic-g3"),
        ("", ""),  # day 29: outside the 28-day window
        ("Y", "non-haematologic-g3"),  # day 28: inside
        ("", ""),  # not related: not assessed
        ("Y", "non-haematologic-g3; grade-5"),  # relationship missing counts as related
        ("N", ""),  # ongoing grade 4 neutropenia, no cutoff -> review
        ("Y", "cycle-2-delay"),
        ("N", ""),  # ongoing grade 3 nausea, no cutoff -> review (exception may apply)
        ("", ""),  # grade 1 headache, not related: not assessed
    ]
    got = list(zip(out["DLTFL"], out["DLTCRIT"], strict=True))
    assert got == expected
    assert out["DLTWINFL"].tolist()[12:14] == ["", "Y"]
    assert out["DLTDY"].tolist()[12:14] == [29, 28]
    assert "resolved within 48 h" in out["DLTEXC"].iloc[0]
    assert "resolved within 71 h" in out["DLTEXC"].iloc[2]
    assert "lasting 8 days" in out["DLTREAS"].iloc[5]
    assert "relationship missing" in out["DLTREAS"].iloc[15]
    assert [i for i, flag in enumerate(out["DLTREVFL"]) if flag == "Y"] == [8, 16, 18]
    assert "with bleeding" in out["DLTREV"].iloc[8]
    assert out["DLTREV"].iloc[10] == ""  # flagged by grade 4, bleeding not needed

    cut = evaluate_dlt(dlt_adae, definition, conditions=CONDITIONS, cutoff="2024-02-05")
    assert cut["DLTFL"].iloc[16] == "Y" and "ongoing at cutoff" in cut["DLTREAS"].iloc[16]
    assert cut["DLTFL"].iloc[18] == "Y"  # nausea unresolved for > 72 h
    early = evaluate_dlt(dlt_adae, definition, conditions=CONDITIONS, cutoff="2024-01-07")
    assert early["DLTREVFL"].iloc[18] == "Y"  # 2 days: could still resolve within 72 h
    without = evaluate_dlt(dlt_adae, definition)
    assert without["DLTFL"].iloc[17] == "N" and without["DLTREVFL"].iloc[17] == "Y"
    everyone = evaluate_dlt(dlt_adae, definition, conditions=CONDITIONS, related_only=False)
    assert everyone["DLTFL"].iloc[14] == "Y"  # unrelated grade 3 fatigue counts

    summary = dlt_summary(out, ADSL, group="DOSELVL").set_index("DOSELVL")
    assert summary.to_dict("index") == {
        "1": {"N": 2, "n_evaluable": 2, "n_dlt": 2, "n_review": 0},
        "2": {"N": 4, "n_evaluable": 4, "n_dlt": 3, "n_review": 0},
    }


def test_summaries_by_dose_level(dlt_adae: pd.DataFrame) -> None:
    overview = ae_overview(dlt_adae, ADSL, group="DOSELVL")
    table = overview.pivot(index="category", columns="group", values="n")
    assert table.loc["Any AE"].tolist() == [2, 4, 6]
    assert table.loc["Grade >= 3"].tolist() == [2, 3, 5]
    assert table.loc["Serious"].tolist() == [0, 1, 1]
    assert table.loc["Leading to discontinuation"].tolist() == [1, 0, 1]
    assert table.loc["Treatment-related"].tolist() == [2, 3, 5]
    assert table.loc["Grade 5 (fatal)"].tolist() == [0, 1, 1]
    assert overview.loc[overview["group"] == "2", "N"].unique().tolist() == [4]
    pct = overview.set_index(["category", "group"]).loc[("Serious", "2"), "pct"]
    assert pct == pytest.approx(25.0)
    grades = ae_grade_table(dlt_adae, ADSL, group="DOSELVL")
    neut = grades[(grades["AEDECOD"] == "Neutrophil count decreased")]
    four = neut[neut["grade"] == "4"].set_index("group")["n"].to_dict()
    assert four == {"1": 1, "2": 1, "Total": 2}
    soc = grades[(grades["AEBODSYS"] == "Investigations") & (grades["AEDECOD"] == "")]
    assert soc[soc["grade"] == ">=3"].set_index("group")["n"].to_dict() == {
        "1": 1,
        "2": 2,
        "Total": 3,
    }


# --- bad input ---------------------------------------------------------------------------------


def test_bad_input_is_located() -> None:
    ae = pd.DataFrame(
        {
            "USUBJID": ["S1", "S1", "S2"],
            "AESEQ": ["1", "2", "1"],
            "AEDECOD": ["Nausea"] * 3,
            "AESTDTC": ["2024-01-02"] * 3,
            "AEENDTC": [""] * 3,
            "AETOXGR": ["1", "2", "3"],
        }
    )
    with pytest.raises(DataError, match="dataset AE, column AETOXGR"):
        derive_adae(ae.drop(columns=["AETOXGR"]), ADSL)
    bad = ae.assign(AETOXGR=["1", "6", "G3"])
    with pytest.raises(CombinedDataError) as info:
        derive_adae(bad, ADSL)
    assert [(e.row, e.subject, e.column) for e in info.value.errors] == [
        (2, "S1", "AETOXGR"),
        (3, "S2", "AETOXGR"),
    ]
    with pytest.raises(DataError, match="not a CTCAE grade"):
        parse_grades(pd.Series(["2.5"]))
    with pytest.raises(DataError, match=r"row 2, subject S1, column AESTDTC: .*month 13"):
        derive_adae(ae.assign(AESTDTC=["2024-01-02", "2024-13-01", "2024-01-02"]), ADSL)
    with pytest.raises(DataError, match=r"row 3, subject S2, column AEENDTC: .*before"):
        derive_adae(ae.assign(AEENDTC=["", "", "2024-01-01"]), ADSL)
    with pytest.raises(DataError, match=r"row 2, subject S1, column USUBJID, AESEQ: duplicate"):
        derive_adae(ae.assign(AESEQ=["1", "1", "1"]), ADSL)
    with pytest.raises(DataError, match="subject S9.*not in ADSL"):
        derive_adae(ae.assign(USUBJID=["S1", "S1", "S9"]), ADSL)
    with pytest.raises(DataError, match="dataset ADSL, row 2, subject S1"):
        derive_adae(ae, pd.concat([ADSL.iloc[[0]], ADSL], ignore_index=True))
    with pytest.raises(DataError, match="unknown relationship 'MAYBE'"):
        ae_overview(derive_adae(ae, ADSL).assign(AEREL="MAYBE"), ADSL, group="DOSELVL")


def test_term_spelling() -> None:
    assert normalise_term("Diarrhoea") == normalise_term("diarrhea")
    assert normalise_term("Anaemia") == normalise_term("Anemia")
    assert normalise_term("Oedema  limbs") == normalise_term("Edema limbs")


def test_dlt_review_when_start_or_grade_unknown(definition: DltDefinition) -> None:
    ae = pd.DataFrame(
        [
            _case("S1", "Nausea", "GI", 3, "", ""),
            _case("S1", "Vomiting", "GI", 3, "2024-01-03", "2024-01-10", AETOXGR=""),
            _case("S1", "Rash", "SKIN", 3, "", "", AEREL="NONE"),
        ]
    )
    ae["AESEQ"] = [1, 2, 3]
    out = evaluate_dlt(derive_adae(ae, ADSL), definition, conditions=CONDITIONS)
    assert out["DLTFL"].tolist() == ["", "N", ""]
    assert out["DLTREVFL"].tolist() == ["Y", "Y", ""]
    assert out["DLTREV"].tolist()[:2] == [
        "start date unknown: cannot place the AE in the DLT window",
        "grade missing",
    ]
