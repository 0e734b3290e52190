"""ADA (immunogenicity) derivations.

Independent reference: pharmaverse ``adam/adab.csv.gz``, made by admiral's ADAB template
(``inst/templates/ad_adab.R``) from ``sdtm/is_ada.csv.gz`` and ADSL. Every parameter of the
reference (22 PARAMCDs, 6430 rows, 254 subjects) is reproduced per subject, parameter and
sample, cell by cell, in the columns AVAL, AVALC, AVALU, BASE, CHG, DTYPE, ABLFL, ADABLPFL,
ADPBLPFL, AVISIT, AVISITN, ADT, ADY, NFRLT, AFRLT and PARAM: 0 differences.

Columns of the reference not reproduced, and why: copies of ADSL (STUDYID, SUBJID, SITEID,
REGION1, COUNTRY, ETHNIC, AGE, AGEU, SEX, RACE, SAFFL, TRT01P, TRT01A, TRTSDTM, TRTSDT,
TRTEDTM, TRTEDT; ADAFL is ADSL.SAFFL) and of IS (ISSEQ is the join key; ISTESTCD, ISTEST,
ISCAT, ISBDAGNT, ISSTRESC, ISSTRESN, ISSTRESU, ISSTAT, ISREASND, ISSPEC, VISITNUM, VISIT,
VISITDY, EPOCH, ISDTC, ISDY, ISTPT/ATPT, ISTPTNUM) carry no derivation; the template's
constants (BASETYPE, APERIOD, APERIODC, APHASE, APHASEN, MRT = 1.4 and DTL = 999, which
feed nothing but the titre imputation tested through AVAL/DTYPE, ATMF, FRLTU, PARCAT1);
ASEQ is a sort order; ADTM/FANLDTM/FANLDT/FANLTM/FANLTMF are intermediate datetimes whose
effect is checked through ADT, ADY and AFRLT (first dose is taken from ADSL TRTSDTM, equal
to the template's first EX dose here).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from oncotrial.derive.ada import (
    AdaRules,
    ada_incidence,
    ada_populations,
    ada_samples,
    ada_subject_status,
    adab_parameters,
    orr_by_ada,
    os_by_ada,
    os_summary_by_ada,
)
from oncotrial.derive.errors import DataError
from oncotrial.stats.binomial import clopper_pearson
from oncotrial.stats.survival import kaplan_meier

PHARMAVERSE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "pharmaverse"
needs_reference = pytest.mark.skipif(
    not PHARMAVERSE.is_dir(),
    reason=f"pharmaverse reference data not found at {PHARMAVERSE} (shared/ beside the clone)",
)


def _read(name: str) -> pd.DataFrame:
    return pd.read_csv(PHARMAVERSE / f"{name}.csv.gz", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def reference() -> dict[str, pd.DataFrame]:
    if not PHARMAVERSE.is_dir():
        pytest.skip(f"pharmaverse reference data not found at {PHARMAVERSE}")
    data = {n: _read(n) for n in ("sdtm/is_ada", "adam/adsl", "adam/adab")}
    samples = ada_samples(data["sdtm/is_ada"], data["adam/adsl"], rules=AdaRules(mrt=1.4))
    status = ada_subject_status(samples)
    data["samples"] = samples
    data["status"] = status
    data["ours"] = adab_parameters(samples, status)
    return data


def _cell(value: object) -> str:
    if value is None or value is pd.NaT or value is pd.NA:
        return ""
    if isinstance(value, float) and np.isnan(value):
        return ""
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d")
    return str(value)


@needs_reference
def test_adab_reproduced_cell_by_cell(reference: dict[str, pd.DataFrame]) -> None:
    ref, ours = reference["adam/adab"].copy(), reference["ours"].copy()
    assert len(ours) == len(ref) == 6430
    ref["KEYSEQ"] = pd.to_numeric(ref["ISSEQ"], errors="coerce")
    ours["KEYSEQ"] = ours["ISSEQ"]
    key = ["USUBJID", "PARAMCD", "KEYSEQ"]
    merged = ref.merge(ours, on=key, how="outer", suffixes=("_ref", "_our"), indicator=True)
    assert (merged["_merge"] == "both").all(), merged.loc[merged["_merge"] != "both", key]

    compared = 0
    failures: dict[str, pd.DataFrame] = {}
    for column in ("AVAL", "BASE", "CHG", "AVISITN", "ADY", "NFRLT", "AFRLT"):
        r = pd.to_numeric(merged[f"{column}_ref"], errors="coerce").to_numpy(dtype=float)
        o = pd.to_numeric(merged[f"{column}_our"], errors="coerce").to_numpy(dtype=float)
        same = (np.isnan(r) & np.isnan(o)) | (np.abs(r - o) <= 1e-9 * np.maximum(1, np.abs(r)))
        compared += int((~np.isnan(r)).sum())
        if not same.all():
            failures[column] = merged.loc[~same, [*key, f"{column}_ref", f"{column}_our"]]
    for column in (
        "AVALC",
        "AVALU",
        "DTYPE",
        "ABLFL",
        "ADABLPFL",
        "ADPBLPFL",
        "AVISIT",
        "ADT",
        "PARAM",
    ):
        r = merged[f"{column}_ref"].map(_cell)
        o = merged[f"{column}_our"].map(_cell)
        compared += int((r != "").sum())
        if not (r == o).all():
            failures[column] = merged.loc[r != o, [*key, f"{column}_ref", f"{column}_our"]]
    assert not failures, {c: f.head(5).to_dict("records") for c, f in failures.items()}
    assert compared > 40000


@needs_reference
def test_reference_flag_counts(reference: dict[str, pd.DataFrame]) -> None:
    # adab.csv.gz: ADASTAT1 POSITIVE 49 / NEGATIVE 95 / MISSING 110; INDUCD1 Y 27; ENHANC1 Y 22;
    # PERSADA1 Y 25; TRANADA1 Y 2; NABSTAT1 POSITIVE 3 / NEGATIVE 45 / MISSING 97.
    status = reference["status"]
    assert status["ADASTAT"].value_counts().to_dict() == {
        "MISSING": 110,
        "NEGATIVE": 95,
        "POSITIVE": 49,
    }
    assert (status["INDUCED"] == "Y").sum() == 27
    assert (status["ENHANCED"] == "Y").sum() == 22
    assert (status["PERSADA"] == "Y").sum() == 25
    assert (status["TRANADA"] == "Y").sum() == 2
    nab = status.loc[status["NABSTAT"] != "", "NABSTAT"].value_counts().to_dict()
    assert nab == {"MISSING": 97, "NEGATIVE": 45, "POSITIVE": 3}


@needs_reference
def test_incidence_denominators_from_reference(reference: dict[str, pd.DataFrame]) -> None:
    ref = reference["adam/adab"]
    subject = ref[ref["PARAMCD"] == "ADASTAT1"].set_index("USUBJID")["AVALC"]
    post = set(ref.loc[(ref["PARAMCD"] == "RESULT1") & (ref["ADPBLPFL"] == "Y"), "USUBJID"])
    x = int((subject.loc[sorted(post)] == "POSITIVE").sum())
    table = ada_incidence(reference["status"], adsl=reference["adam/adsl"])
    row = table.set_index("measure").loc["treatment-emergent ADA"]
    assert (row["x"], row["n"]) == (x, len(post)) == (49, 144)
    ci = clopper_pearson(49, 144)
    assert (row["lower"], row["upper"]) == pytest.approx((ci.lower, ci.upper))
    base = table.set_index("measure").loc["baseline ADA positive"]
    bflag = ref[(ref["PARAMCD"] == "BFLAG1") & (ref["AVALC"] != "")]
    assert (base["x"], base["n"]) == ((bflag["AVALC"] == "Y").sum(), len(bflag)) == (118, 252)
    by_arm = ada_incidence(reference["status"], adsl=reference["adam/adsl"], by="TRT01A")
    emergent = by_arm[by_arm["measure"] == "treatment-emergent ADA"]
    assert emergent["x"].sum() == 49 and emergent["n"].sum() == 144


@needs_reference
def test_orr_and_os_by_ada_status(reference: dict[str, pd.DataFrame]) -> None:
    adrs = _read("adam/adrs_onco")
    adtte = _read("adam/adtte_onco")
    ref = reference["adam/adab"]
    ref_status = ref[ref["PARAMCD"] == "ADASTAT1"].set_index("USUBJID")["AVALC"]
    bor = adrs[adrs["PARAMCD"] == "BOR"]
    orr = orr_by_ada(bor, reference["status"]).set_index("ADASTAT")
    joined = bor.assign(ada=bor["USUBJID"].map(ref_status).fillna("MISSING"))
    for group, sub in joined.groupby("ada"):
        x = int(sub["AVALC"].isin(["CR", "PR"]).sum())
        assert (orr.loc[group, "x"], orr.loc[group, "n"]) == (x, len(sub))
    assert orr["n"].sum() == 306 and orr["x"].sum() == 4
    os_frame = os_by_ada(adtte[adtte["PARAMCD"] == "OS"], reference["status"])
    assert len(os_frame) == 254
    assert (os_frame["ADASTAT"] == "POSITIVE").sum() == 49
    assert set(os_frame["EVENT"]) <= {0, 1}
    summary = os_summary_by_ada(adtte[adtte["PARAMCD"] == "OS"], reference["status"])
    summary = summary.set_index("ADASTAT")
    assert summary["n"].to_dict() == {"MISSING": 110, "NEGATIVE": 95, "POSITIVE": 49}
    for group, sub in os_frame.groupby("ADASTAT"):
        curve = kaplan_meier(sub["AVAL"], sub["EVENT"])
        assert summary.loc[group, "events"] == int(sub["EVENT"].sum()) == curve.events
        assert summary.loc[group, "median"] == pytest.approx(curve.median().time, nan_ok=True)


# --- hand-made cases of the rules -------------------------------------------------------------

ADSL = pd.DataFrame(
    {
        "USUBJID": ["A", "B", "C", "D", "E", "F"],
        "TRTSDTM": ["2024-01-01T08:00"] * 6,
        "SAFFL": ["Y"] * 6,
        "DOSE": ["1", "1", "1", "2", "2", "2"],
    }
)


def _is(rows: list[tuple[str, str, str, str, int]]) -> pd.DataFrame:
    """IS rows (subject, test, ISSTRESC, ISDTC, VISITDY); numeric results go to ISSTRESN."""
    frame = pd.DataFrame(rows, columns=["USUBJID", "ISTESTCD", "ISSTRESC", "ISDTC", "VISITDY"])
    frame["ISSTRESN"] = pd.to_numeric(frame["ISSTRESC"], errors="coerce")
    frame["ISSEQ"] = frame.groupby("USUBJID").cumcount() + 1
    frame["VISIT"] = ["BASELINE" if d <= 1 else f"DAY {d}" for d in frame["VISITDY"]]
    frame["VISITNUM"] = frame["VISITDY"]
    frame["ISBDAGNT"] = "JS001"
    return frame


def _day(d: int) -> str:
    return (pd.Timestamp("2024-01-01T09:00") + pd.Timedelta(days=d - 1)).strftime("%Y-%m-%dT%H:%M")


PERSISTENCE = _is(
    [
        # A: induced, positives 18 weeks apart, last sample negative -> persistent
        ("A", "ADA_BAB", "NEGATIVE", "2024-01-01T07:00", 1),
        ("A", "ADA_BAB", "1.6", _day(15), 15),
        ("A", "ADA_BAB", "1.7", _day(141), 141),
        ("A", "ADA_BAB", "NEGATIVE", _day(169), 169),
        # B: induced, positives 8 weeks apart, last negative -> transient
        ("B", "ADA_BAB", "NEGATIVE", "2024-01-01T07:00", 1),
        ("B", "ADA_BAB", "1.6", _day(15), 15),
        ("B", "ADA_BAB", "1.6", _day(71), 71),
        ("B", "ADA_BAB", "NEGATIVE", _day(169), 169),
        # C: induced at the last sample only -> persistent
        ("C", "ADA_BAB", "NEGATIVE", "2024-01-01T07:00", 1),
        ("C", "ADA_BAB", "NEGATIVE", _day(15), 15),
        ("C", "ADA_BAB", "1.5", _day(169), 169),
        # D: one positive, not last -> transient; no baseline sample at all
        ("D", "ADA_BAB", "1.5", _day(15), 15),
        ("D", "ADA_BAB", "NEGATIVE", _day(169), 169),
        # E: positives exactly 16 weeks apart, last negative -> persistent (boundary)
        ("E", "ADA_BAB", "NEGATIVE", "2024-01-01T07:00", 1),
        ("E", "ADA_BAB", "1.5", _day(15), 15),
        ("E", "ADA_BAB", "1.5", _day(127), 127),
        ("E", "ADA_BAB", "NEGATIVE", _day(169), 169),
        # F: baseline positive 1.5, boosted to 2.1 (+0.6 log10 = 4-fold), then 2.0
        ("F", "ADA_BAB", "1.5", "2024-01-01T07:00", 1),
        ("F", "ADA_BAB", "2.0", _day(15), 15),
        ("F", "ADA_BAB", "2.1", _day(169), 169),
        ("F", "ADA_NAB", "POSITIVE", _day(169), 169),
        ("A", "ADA_NAB", "NEGATIVE", _day(141), 141),
        ("B", "ADA_NAB", "POSITIVE", _day(15), 15),
    ]
)


def test_persistent_and_transient_16_week_rule() -> None:
    """Shankar et al. 2014 (AAPS J 16:658), as admiral's ADAB template: persistent = induced
    ADA at >= 2 samples with first and last positive >= 16 weeks apart, or at the last sample;
    transient = otherwise induced with the last sample not positive."""
    status = ada_subject_status(ada_samples(PERSISTENCE, ADSL)).set_index("USUBJID")
    assert status["INDUCED"].to_dict() == {
        "A": "Y",
        "B": "Y",
        "C": "Y",
        "D": "Y",
        "E": "Y",
        "F": "N",
    }
    assert status["PERSADA"].to_dict() == {
        "A": "Y",
        "B": "N",
        "C": "Y",
        "D": "N",
        "E": "Y",
        "F": "N",
    }
    assert status["TRANADA"].to_dict() == {
        "A": "N",
        "B": "Y",
        "C": "N",
        "D": "Y",
        "E": "N",
        "F": "N",
    }
    # D has no baseline sample: missing baseline counts as negative (induced), not evaluable
    # for baseline prevalence
    assert status.loc["D", "BASESTAT"] == "MISSING" and status.loc["D", "ADABLPFL"] == "N"
    # ADA duration (weeks): (last - first positive + 1 day) / 7; onset from first dose
    assert status.loc["A", "ADADUR"] == pytest.approx(round((126 + 1) / 7, 4))
    assert status.loc["A", "TIMADA"] == pytest.approx(round((14 * 24 + 1) / (7 * 24), 4))
    longer = ada_subject_status(
        ada_samples(PERSISTENCE, ADSL), rules=AdaRules(persistent_weeks=20)
    ).set_index("USUBJID")
    assert longer.loc["A", "PERSADA"] == "N" and longer.loc["A", "TRANADA"] == "Y"


def test_boosted_fold_parameter_and_neutralising() -> None:
    samples = ada_samples(PERSISTENCE, ADSL)
    f = samples[(samples["USUBJID"] == "F") & (samples["ADATYPE"] == "ADA_BAB")]
    assert f["TFLAGV"].tolist()[1:] == [3, 2]  # +0.5 unaffected, +0.6 boosted (4-fold)
    status = ada_subject_status(samples).set_index("USUBJID")
    assert status.loc["F", ["ENHANCED", "ADASTAT", "BASESTAT"]].tolist() == [
        "Y",
        "POSITIVE",
        "POSITIVE",
    ]
    assert status.loc["F", "PERSADAE"] == "Y" and status.loc["F", "PERSADA"] == "N"
    # NAb: ADA-positive with a positive NAb sample; B positive; A all NAb negative
    assert status.loc[["A", "B", "F"], "NABSTAT"].tolist() == ["NEGATIVE", "POSITIVE", "POSITIVE"]
    assert status.loc["C", "NABSTAT"] == ""
    # fold 8 (log10 0.9): 2.1 is no longer boosted
    eight = ada_samples(PERSISTENCE, ADSL, rules=AdaRules(fold=8))
    assert eight.loc[eight["USUBJID"] == "F", "TFLAGV"].dropna().tolist() == [3, 3]
    # linear titres: 100 -> 400 is 4-fold, 100 -> 399 is not
    linear = _is(
        [
            ("A", "ADA_BAB", "100", "2024-01-01T07:00", 1),
            ("A", "ADA_BAB", "399", _day(15), 15),
            ("A", "ADA_BAB", "400", _day(29), 29),
        ]
    )
    flags = ada_samples(linear, ADSL, rules=AdaRules(titre_scale="linear"))["TFLAGV"]
    assert flags.dropna().tolist() == [3, 2]


def test_populations_and_incidence_by_dose() -> None:
    status = ada_subject_status(ada_samples(PERSISTENCE, ADSL))
    pops = ada_populations(status).set_index("USUBJID")
    assert pops.loc["D"].tolist() == ["N", "Y", "N"]
    table = ada_incidence(status, adsl=ADSL, by="DOSE")
    induced = table[table["measure"] == "treatment-induced ADA"].set_index("group")
    assert induced[["x", "n"]].to_dict("index") == {"1": {"x": 3, "n": 3}, "2": {"x": 2, "n": 3}}
    assert induced.loc["2", "lower"] == pytest.approx(clopper_pearson(2, 3).lower)


# --- bad input ---------------------------------------------------------------------------------


def test_bad_input_is_located() -> None:
    with pytest.raises(DataError, match="column ISDTC"):
        ada_samples(PERSISTENCE.drop(columns=["ISDTC"]), ADSL)
    bad = PERSISTENCE.copy()
    bad.loc[3, "ISSTRESC"] = "INDETERMINATE"
    with pytest.raises(DataError, match=r"dataset IS, row 4, subject A, column ISSTRESC"):
        ada_samples(bad, ADSL)
    bad = PERSISTENCE.copy()
    bad.loc[4, "ISDTC"] = "2024-02"
    with pytest.raises(DataError, match=r"row 5, subject B, column ISDTC: .*partial"):
        ada_samples(bad, ADSL)
    bad.loc[4, "ISDTC"] = "2024-02-30"
    with pytest.raises(DataError, match="does not exist"):
        ada_samples(bad, ADSL)
    bad = pd.concat([PERSISTENCE, PERSISTENCE.iloc[[1]]], ignore_index=True)
    with pytest.raises(DataError, match=r"row 24, subject A, column ISDTC: two samples"):
        ada_samples(bad, ADSL)
    with pytest.raises(DataError, match="subject F.*not in ADSL"):
        ada_samples(PERSISTENCE, ADSL[ADSL["USUBJID"] != "F"])
    with pytest.raises(DataError, match="dataset ADSL, row 7, subject A"):
        ada_samples(PERSISTENCE, pd.concat([ADSL, ADSL.iloc[[0]]], ignore_index=True))
    filtered = pd.concat([PERSISTENCE.iloc[:2].assign(ISTESTCD="PK"), PERSISTENCE])
    filtered.iloc[5, filtered.columns.get_loc("ISDTC")] = "2024-13-01"
    with pytest.raises(DataError, match="row 6, subject A, column ISDTC: .*month 13"):
        ada_samples(filtered, ADSL)  # rows counted in the input, other tests included
    two = PERSISTENCE.assign(ISBDAGNT=["JS001"] * 20 + ["OTHER"] * 3)
    with pytest.raises(DataError, match="several analytes"):
        ada_samples(two, ADSL)
    assert len(ada_samples(two, ADSL, drug="js001")) == 20
    with pytest.raises(ValueError, match="fold"):
        AdaRules(fold=1)
    survival = pd.DataFrame({"USUBJID": ["A", "B"], "AVAL": ["10", "-1"], "CNSR": ["0", "1"]})
    with pytest.raises(DataError, match="row 2, subject B, column AVAL"):
        os_by_ada(survival, pd.DataFrame({"USUBJID": ["A"], "ADASTAT": ["POSITIVE"]}))
