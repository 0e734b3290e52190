"""ADSL from SDTM against pharmaverse's ADSL, the loader of a sponsor's ADSL, and bad input.

Independent reference: pharmaverseadam 1.3 ``adsl`` (306 subjects), made by admiral's
``ad_adsl.R`` template from pharmaversesdtm ``dm``, ``ex``, ``ds``, ``ae`` and ``lb``. Every
derived column is reproduced for all 306 subjects except LSTALVDT: the reference folder has no
LB, and admiral takes the last laboratory date into LSTALVDT; for 83 subjects that date is the
latest, so without LB our LSTALVDT is earlier (never later). DS's "FINAL LAB VISIT" record
carries each subject's final laboratory date, and standing it in for LB gives 306/306.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from oncotrial.derive.adsl import ONCOLOGY_ALIVE_SOURCES, derive_adsl, load_adsl
from oncotrial.derive.errors import CombinedDataError, DataError
from oncotrial.derive.io import read_domains, write_dataset

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "pharmaverse"
needs_reference = pytest.mark.skipif(
    not REFERENCE.is_dir(), reason=f"pharmaverse reference data not found at {REFERENCE}"
)
EXACT = [
    "STUDYID", "SUBJID", "SITEID", "AGE", "AGEU", "SEX", "RACE", "ETHNIC", "ARM", "ARMCD",
    "ACTARM", "ACTARMCD", "COUNTRY", "DTHDTC", "DTHFL", "TRT01P", "TRT01A", "TRTSDTM",
    "TRTSTMF", "TRTEDTM", "TRTETMF", "TRTSDT", "TRTEDT", "TRTDURD", "SCRFDT", "EOSDT", "EOSSTT",
    "RANDDT", "DTHDT", "DTHDTF", "SAFFL",
]  # fmt: skip


@cache
def _sdtm() -> dict[str, pd.DataFrame]:
    return read_domains(REFERENCE / "sdtm", only=["dm", "ex", "ds", "ae"])


@cache
def _reference() -> pd.DataFrame:
    return load_adsl(REFERENCE / "adam" / "adsl.csv.gz")


def _agreement(ours: pd.Series, theirs: pd.Series) -> np.ndarray:
    return ((ours == theirs) | (ours.isna() & theirs.isna())).to_numpy()


@needs_reference
def test_adsl_reproduces_pharmaverse_for_every_subject() -> None:
    ours, ref = derive_adsl(_sdtm()), _reference()
    assert ours["USUBJID"].tolist() == ref["USUBJID"].tolist()
    for column in EXACT:
        agree = _agreement(ours[column], ref[column])
        assert agree.all(), f"{column}: {int((~agree).sum())} subjects differ"
    # the reference's numbers: 254 randomised and treated, 52 screen failures, 3 deaths
    assert (ours["SAFFL"] == "Y").sum() == 254 and ours["RANDDT"].notna().sum() == 254
    assert ours["EOSSTT"].value_counts().to_dict() == {
        "DISCONTINUED": 144,
        "COMPLETED": 110,
        "": 52,
    }
    assert ours["DTHDT"].notna().sum() == 3
    assert ours.loc[0, ["TRTSDTM", "TRTEDTM"]].tolist() == [
        pd.Timestamp("2014-01-02 00:00:00"),
        pd.Timestamp("2014-07-02 23:59:59"),
    ]


@needs_reference
def test_last_known_alive_date_differs_only_by_the_missing_lb() -> None:
    sdtm, ref = _sdtm(), _reference()["LSTALVDT"]
    ours = derive_adsl(sdtm)
    assert ours.attrs["lstalvdt_sources"] == ["AE.AESTDTC", "AE.AEENDTC", "ADSL.TRTEDT"]
    agree = _agreement(ours["LSTALVDT"], ref)
    assert agree.sum() == 223
    differ = ~agree
    assert (ours["LSTALVDT"][differ].fillna(pd.Timestamp.min) < ref[differ]).all()

    ds = sdtm["ds"]
    lb = ds[ds["DSDECOD"] == "FINAL LAB VISIT"].rename(columns={"DSSTDTC": "LBDTC"})
    with_lb = derive_adsl({**sdtm, "lb": lb})
    assert "LB.LBDTC" in with_lb.attrs["lstalvdt_sources"]
    assert _agreement(with_lb["LSTALVDT"], ref).all()


@needs_reference
def test_oncology_alive_sources_only_move_the_date_later() -> None:
    """Adding EX, DS and the tumour assessments (rs_onco, tr_onco, tu_onco) to admiral's
    sources: 198 subjects keep the reference date, 56 get a later DS date (final retrieval
    or lab visit), and the 52 screen failures get their screening date."""
    sdtm = read_domains(
        REFERENCE / "sdtm",
        mapping={"rs_onco": "rs", "tr_onco": "tr", "tu_onco": "tu"},
        only=["dm", "ex", "ds", "ae", "rs", "tr", "tu"],
    )
    ours = derive_adsl(sdtm, alive_sources=ONCOLOGY_ALIVE_SOURCES)["LSTALVDT"]
    ref = _reference()["LSTALVDT"]
    assert _agreement(ours, ref).sum() == 198
    assert (ours > ref).sum() == 56
    assert (ref.isna() & ours.notna()).sum() == 52
    assert not (ours < ref).any()


@needs_reference
def test_derived_adsl_survives_xpt_and_dataset_json(tmp_path: Path) -> None:
    adsl = derive_adsl(_sdtm())
    for fmt in ("xpt", "json", "parquet"):
        back = load_adsl(write_dataset(adsl, tmp_path / f"adsl.{fmt}"))
        pd.testing.assert_frame_equal(back, adsl, check_exact=True, obj=fmt)
        assert back.attrs["labels"]["LSTALVDT"] == "Date Last Known Alive"
    from_csv = load_adsl(write_dataset(adsl, tmp_path / "adsl.csv"))
    for column in ("TRTSDT", "TRTSDTM", "RANDDT", "LSTALVDT", "AGE", "SAFFL"):
        pd.testing.assert_series_equal(from_csv[column], adsl[column], check_exact=True)


def test_load_adsl_refuses_duplicates_and_bad_dates() -> None:
    frame = pd.DataFrame({"USUBJID": ["S1", "S2", "S1"], "RANDDT": ["2021-01-01", "", ""]})
    with pytest.raises(DataError, match="row 3, subject S1, column USUBJID: 2 rows share"):
        load_adsl(frame)
    frame = pd.DataFrame({"USUBJID": ["S1", "S2"], "RANDDT": ["2021-01-01", "2021-02"]})
    with pytest.raises(DataError, match="row 2, subject S2, column RANDDT: .* is a partial date"):
        load_adsl(frame)
    frame = pd.DataFrame({"USUBJID": ["S1"], "TRTSDTM": ["2021-01-01 25:00"]})
    with pytest.raises(DataError, match="row 1, subject S1, column TRTSDTM: .*does not exist"):
        load_adsl(frame)
    with pytest.raises(DataError, match="column RANDDT: missing required"):
        load_adsl(pd.DataFrame({"USUBJID": ["S1"]}), required=["RANDDT"])


# ---------------------------------------------------------------- small synthetic SDTM


def _study() -> dict[str, pd.DataFrame]:
    dm = pd.DataFrame(
        {
            "STUDYID": ["JS001-HCC"] * 3,
            "DOMAIN": ["DM"] * 3,
            "USUBJID": ["01-001", "01-002", "01-003"],
            "AGE": [61.0, 55.0, 70.0],
            "SEX": ["M", "F", "M"],
            "ARM": ["Donafenib 200 mg", "Donafenib 300 mg", "Screen Failure"],
            "ACTARM": ["Donafenib 200 mg", "Donafenib 300 mg", "Screen Failure"],
            "DTHDTC": ["", "2021-05", ""],
        }
    )
    ex = pd.DataFrame(
        {
            "USUBJID": ["01-001", "01-001", "01-002"],
            "EXSEQ": [1.0, 2.0, 1.0],
            "EXTRT": ["TORIPALIMAB", "DONAFENIB", "TORIPALIMAB"],
            "EXDOSE": [240.0, 200.0, 240.0],
            "EXSTDTC": ["2021-03-04T10:30", "2021-03-05", "2021-05-03"],
            "EXENDTC": ["2021-03-04T11:00", "2021-04-01", "2021-05-03"],
        }
    )
    ds = pd.DataFrame(
        {
            "USUBJID": ["01-001", "01-002", "01-002", "01-003"],
            "DSCAT": [
                "PROTOCOL MILESTONE",
                "PROTOCOL MILESTONE",
                "DISPOSITION EVENT",
                "DISPOSITION EVENT",
            ],
            "DSDECOD": ["RANDOMIZED", "RANDOMIZED", "DEATH", "SCREEN FAILURE"],
            "DSSTDTC": ["2021-03-01", "2021-04-30", "2021-05-20", "2021-02-15"],
        }
    )
    ae = pd.DataFrame({"USUBJID": ["01-001"], "AESTDTC": ["2021-04"], "AEENDTC": ["2021-06"]})
    return {"dm": dm, "ex": ex, "ds": ds, "ae": ae}


def test_synthetic_study_rules() -> None:
    adsl = derive_adsl(_study()).set_index("USUBJID")
    first, second, failed = adsl.loc["01-001"], adsl.loc["01-002"], adsl.loc["01-003"]
    assert first["TRTSDTM"] == pd.Timestamp("2021-03-04 10:30:00") and first["TRTSTMF"] == "S"
    assert first["TRTEDTM"] == pd.Timestamp("2021-04-01 23:59:59") and first["TRTETMF"] == "H"
    assert first["TRTDURD"] == 29.0 and first["EOSSTT"] == "ONGOING"
    assert first["LSTALVDT"] == pd.Timestamp("2021-06-01")  # AEENDTC 2021-06 → first day
    assert first["RANDDT"] == pd.Timestamp("2021-03-01") and pd.isna(first["DTHDT"])
    # a partial death date in the month of the first dose is imputed, not refused
    assert second["DTHDT"] == pd.Timestamp("2021-05-01") and second["DTHDTF"] == "D"
    assert second["EOSSTT"] == "DISCONTINUED" and second["EOSDT"] == pd.Timestamp("2021-05-20")
    assert (failed["SAFFL"], failed["EOSSTT"]) == ("N", "")
    assert failed["SCRFDT"] == pd.Timestamp("2021-02-15") and pd.isna(failed["TRTSDT"])
    assert adsl["TRT01P"].tolist() == adsl["ARM"].tolist() and "DOMAIN" not in adsl.columns


def test_death_from_ds_when_dm_has_none() -> None:
    study = _study()
    study["dm"].loc[1, "DTHDTC"] = ""
    second = derive_adsl(study).set_index("USUBJID").loc["01-002"]
    assert second["DTHDT"] == pd.Timestamp("2021-05-20") and second["DTHDTF"] == ""


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda s: s.__setitem__("ex", s["ex"].drop(columns="EXDOSE")),
            "dataset EX, column EXDOSE: missing required column",
        ),
        (
            lambda s: s["ex"].__setitem__("EXSTDTC", ["2021-03-04T10:30", "2021-03", "2021-05-03"]),
            r"dataset EX, row 2, subject 01-001, column EXSTDTC: \[date_partial\] '2021-03' is ",
        ),
        (
            lambda s: s["ds"].__setitem__("DSSTDTC", ["2021-02-30", "2021-04-30", "", ""]),
            "dataset DS, row 1, subject 01-001, column DSSTDTC: .*day 30 does not exist",
        ),
        (
            lambda s: s.__setitem__("dm", pd.concat([s["dm"], s["dm"].iloc[[0]]])),
            "dataset DM, row 4, subject 01-001, column USUBJID: 2 rows share .* rows \\[1, 4\\]",
        ),
        (
            lambda s: s["dm"].__setitem__("DTHDTC", ["", "2021-04-28", ""]),
            "dataset DM, row 2, subject 01-002, column DTHDTC: death \\(2021-04-28\\) is before "
            "the first dose \\(2021-05-03\\)",
        ),
        (
            lambda s: s["dm"].__setitem__("DTHDTC", ["", "2021-04", ""]),
            "dataset DM, row 2, subject 01-002, column DTHDTC: death \\(2021-04\\) is before",
        ),
        (
            lambda s: s["ex"].__setitem__("USUBJID", ["01-001", "01-001", "01-009"]),
            "dataset EX, row 3, subject 01-009, column USUBJID: subject is not in DM",
        ),
        (
            lambda s: s["ds"].__setitem__(
                "DSDECOD", ["RANDOMIZED", "RANDOMIZED", "RANDOMIZED", "SCREEN FAILURE"]
            ),
            "dataset DS, row 3, subject 01-002, column USUBJID: more than one randomization",
        ),
        (
            lambda s: s["ex"].__setitem__("EXENDTC", ["2021-03-04", "2021-03-01", "2021-05-03"]),
            "dataset EX, row 2, subject 01-001, column EXENDTC: exposure ends",
        ),
        (
            lambda s: s["ex"].__setitem__("EXDOSE", ["240", "lots", "240"]),
            "dataset EX, row 2, subject 01-001, column EXDOSE: 'lots' is not a number",
        ),
        (
            lambda s: s["ex"].__setitem__("EXSTDTC", ["2021-03-04T24:30", "2021-03-04", ""]),
            "dataset EX, row 1, subject 01-001, column EXSTDTC: .*time 24:30 does not exist",
        ),
    ],
)
def test_bad_input_names_dataset_subject_row_and_column(change, message: str) -> None:
    study = {name: frame.copy() for name, frame in _study().items()}
    change(study)
    with pytest.raises(DataError, match=message):
        derive_adsl(study)


def test_partial_exposure_dates_skipped_as_admiral_when_asked() -> None:
    study = _study()
    study["ex"].loc[0, "EXSTDTC"] = "2021-03"
    adsl = derive_adsl(study, on_partial="ignore").set_index("USUBJID")
    assert adsl.loc["01-001", "TRTSDTM"] == pd.Timestamp("2021-03-05 00:00:00")
    assert adsl.loc["01-001", "TRTSTMF"] == "H"


def test_several_problems_are_reported_together() -> None:
    study = _study()
    study["ex"]["USUBJID"] = ["01-008", "01-001", "01-009"]
    with pytest.raises(CombinedDataError) as caught:
        derive_adsl(study)
    assert [(e.row, e.subject) for e in caught.value.errors] == [(1, "01-008"), (3, "01-009")]


def test_dm_and_ex_are_required() -> None:
    with pytest.raises(DataError, match="dataset EX: is required"):
        derive_adsl({"dm": _study()["dm"]})
