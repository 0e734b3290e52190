"""iRECIST through ADRS: iBOR, confirmed iBOR and the confirmation of progression.

Independent reference: admiral 1.0.2 + admiralonco 1.3.0 (pharmaverse), running the endpoint
definitions of admiralonco's article "Creating ADRS with iRECIST endpoints" on the shared
pharmaversesdtm ``rs_onco_irecist`` (26 subjects, 75 iRECIST visit responses) and
pharmaverseadam ``adsl``; the R script and the numbers it printed are in
``tests/reference/irecist/``. On lesion data, the RECIST engine's iRECIST time points go
through the same ADRS and give what Seymour et al. (Lancet Oncol 2017;18:e143) define.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from oncotrial.derive.errors import DataError
from oncotrial.derive.recist import evaluate_recist, rs_from_timepoints
from oncotrial.derive.response import ResponseWindows, derive_adrs, objective_response_rate
from oncotrial.derive.tte import derive_adtte

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT.parent / "shared" / "reference" / "pharmaverse"
R_OUTPUT = ROOT / "tests" / "reference" / "irecist" / "adrs_irecist.csv"
needs_reference = pytest.mark.skipif(
    not REFERENCE.is_dir(), reason=f"pharmaverse reference data not found at {REFERENCE}"
)
PARAMS = ("ICPD", "IUPD", "IRSP", "ICB", "IBOR", "ICRSP", "ICCB", "ICBOR")


def read(name: str) -> pd.DataFrame:
    return pd.read_csv(REFERENCE / name, dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def irecist_adrs() -> tuple[pd.DataFrame, pd.DataFrame]:
    rs = read("sdtm/rs_onco_irecist.csv.gz")
    adsl = read("adam/adsl.csv.gz")
    with_rs = list(dict.fromkeys(rs["USUBJID"]))
    without = next(s for s in adsl["USUBJID"] if s not in set(with_rs))
    adsl = adsl[adsl["USUBJID"].isin([*with_rs, without])]
    ours = derive_adrs(rs, adsl, criteria="irecist").data
    reference = pd.read_csv(R_OUTPUT, dtype=str, keep_default_na=False)
    return ours, reference


def _text(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame[["USUBJID", "PARAMCD", "AVALC", "ADT"]].copy()
    out["AVALC"] = out["AVALC"].fillna("").astype(str)
    out["ADT"] = pd.to_datetime(out["ADT"]).dt.strftime("%Y-%m-%d").fillna("")
    return out


@needs_reference
def test_every_irecist_parameter_matches_admiralonco(irecist_adrs) -> None:
    """27 subjects × 8 parameters: AVALC and ADT equal admiralonco's, e.g. 01-701-1028
    (iUPD iCPD iSD) iBOR iCPD dated at the iUPD, 01-701-1148 confirmed iBOR NON-iCR/NON-iUPD
    after an unconfirmed iPR, 01-701-1023 (no assessment) MISSING."""
    ours, reference = irecist_adrs
    mine = _text(ours[ours["PARAMCD"].isin(PARAMS)]).set_index(["USUBJID", "PARAMCD"])
    theirs = reference[reference["PARAMCD"].isin(PARAMS)].set_index(["USUBJID", "PARAMCD"])
    assert len(theirs) == 27 * len(PARAMS)
    assert sorted(mine.index) == sorted(theirs.index)
    assert mine[["AVALC", "ADT"]].sort_index().to_dict("index") == (
        theirs[["AVALC", "ADT"]].sort_index().to_dict("index")
    )
    ibor = theirs.xs("IBOR", level="PARAMCD")["AVALC"].value_counts().to_dict()
    assert ibor == {"iCR": 9, "iPR": 6, "iUPD": 4, "iSD": 3, "NE": 2, "iCPD": 2, "MISSING": 1}
    assert mine.loc[("01-701-1028", "IBOR"), "ADT"] == mine.loc[("01-701-1028", "ICPD"), "ADT"]


@needs_reference
def test_visit_flags_match_admiralonco(irecist_adrs) -> None:
    """ANL01FL (worst per date on/after RANDDT) and ANL02FL (up to the first iCPD) on all 75
    visit responses."""
    ours, reference = irecist_adrs
    ovr = ours[ours["PARAMCD"].eq("OVR")]
    mine = ovr.set_index(["USUBJID", ovr["RSSEQ"].astype(int)])[["ANL01FL", "ANL02FL"]]
    ref = reference[reference["PARAMCD"].eq("OVR")]
    ref = ref.set_index(["USUBJID", ref["RSSEQ"].astype(float).astype(int)])[["ANL01FL", "ANL02FL"]]
    assert len(ref) == 75
    assert mine.fillna("").sort_index().to_dict("index") == ref.sort_index().to_dict("index")


@needs_reference
def test_confirmed_irecist_orr(irecist_adrs) -> None:
    """Confirmed iORR from ICBOR: 3 of 27 (01-701-1130 iCR, 01-701-1133 and 01-701-1203 iPR in
    admiralonco's ICBOR), exact 95 % CI 2.4-29.2 % (Clopper-Pearson)."""
    ours, reference = irecist_adrs
    icbor = reference[reference["PARAMCD"].eq("ICBOR")]
    assert set(icbor.loc[icbor.AVALC.isin(["iCR", "iPR"]), "USUBJID"]) == {
        "01-701-1130",
        "01-701-1133",
        "01-701-1203",
    }
    orr = objective_response_rate(ours)
    assert (orr.x, orr.n) == (3, 27)
    assert round(100 * orr.lower, 1) == 2.4 and round(100 * orr.upper, 1) == 29.2


def test_irecist_vocabulary_is_refused_under_recist() -> None:
    rs = pd.DataFrame(
        {
            "USUBJID": ["S1"],
            "RSSEQ": ["1"],
            "RSEVAL": ["INVESTIGATOR"],
            "RSTESTCD": ["OVRLRESP"],
            "RSCAT": ["iRECIST"],
            "RSSTRESC": ["iUPD"],
            "RSDTC": ["2024-03-01"],
        }
    )
    adsl = pd.DataFrame({"USUBJID": ["S1"], "RANDDT": ["2024-01-10"], "DTHDT": [""]})
    with pytest.raises(DataError, match="no overall responses by RECIST 1.1"):
        derive_adrs(rs, adsl, criteria="recist1.1")
    both = pd.concat([rs, rs.assign(RSSEQ="2", RSCAT="RECIST 1.1", RSSTRESC="PD")])
    with pytest.raises(DataError, match="several criteria"):
        derive_adrs(both, adsl)
    assert (
        derive_adrs(both, adsl, criteria="recist1.1").data.query("PARAMCD == 'BOR'").AVALC.item()
        == "PD"
    )


# --------------------------------------------------------------------- lesion data, engine


def _lesions(sums: list[float], days: list[int], new_at: int | None = None):
    """One target liver lesion measured at baseline (day 0) and on ``days``; a new lesion
    from visit ``new_at`` on."""
    tu = [
        {
            "STUDYID": "S",
            "USUBJID": "P1",
            "TULNKID": "T01",
            "TUTESTCD": "TUMIDENT",
            "TUSTRESC": "TARGET",
            "TULOC": "LIVER",
            "TUEVAL": "INVESTIGATOR",
            "VISITNUM": "1",
            "VISIT": "SCREENING",
            "TUDTC": "2024-01-01",
        }
    ]
    tr = []
    start = pd.Timestamp("2024-01-01")
    for k, (value, day) in enumerate(zip(sums, [0, *days], strict=True)):
        when = (start + pd.Timedelta(days=day)).strftime("%Y-%m-%d")
        visit = ("1", "SCREENING") if k == 0 else (str(100 + k), f"WEEK {day // 7}")
        tr.append(
            {
                "STUDYID": "S",
                "USUBJID": "P1",
                "TRLNKID": "T01",
                "TRTESTCD": "LDIAM",
                "TRSTRESC": f"{value:g}",
                "TRSTRESN": f"{value:g}",
                "TRSTRESU": "mm",
                "TREVAL": "INVESTIGATOR",
                "VISITNUM": visit[0],
                "VISIT": visit[1],
                "TRDTC": when,
            }
        )
        if new_at is not None and k >= new_at:
            if k == new_at:
                tu.append(
                    {
                        **tu[0],
                        "TULNKID": "NEW01",
                        "TUSTRESC": "NEW",
                        "VISITNUM": visit[0],
                        "VISIT": visit[1],
                        "TUDTC": when,
                    }
                )
            tr.append(
                {
                    **tr[-1],
                    "TRLNKID": "NEW01",
                    "TRTESTCD": "TUMSTATE",
                    "TRSTRESC": "UNEQUIVOCAL",
                    "TRSTRESN": "",
                    "TRSTRESU": "",
                }
            )
    return pd.DataFrame(tu), pd.DataFrame(tr)


ADSL = pd.DataFrame(
    {
        "STUDYID": ["S"],
        "USUBJID": ["P1"],
        "TRTSDT": ["2024-01-01"],
        "DTHDT": [""],
        "LSTALVDT": ["2024-12-31"],
        **{c: ["X"] for c in ("ARMCD", "ARM", "ACTARMCD", "ACTARM", "SEX")},
        "AGE": [60],
    }
)


def _irecist(sums: list[float], days: list[int], **kwargs) -> pd.DataFrame:
    tu, tr = _lesions(sums, days, **kwargs)
    timepoints = evaluate_recist(tu, tr, "irecist").timepoints
    windows = ResponseWindows(reference_date="TRTSDT")
    return derive_adrs(rs_from_timepoints(timepoints), ADSL, tu, windows=windows).data


def _value(adrs: pd.DataFrame, paramcd: str) -> tuple[str, str]:
    row = adrs[adrs["PARAMCD"].eq(paramcd)].iloc[0]
    adt = "" if pd.isna(row["ADT"]) else pd.Timestamp(row["ADT"]).strftime("%Y-%m-%d")
    return str(row["AVALC"]), adt


def test_engine_pseudo_progression_keeps_the_response() -> None:
    """Seymour 2017: growth ≥ 20 % over the nadir is iUPD; when the next scan shows shrinkage
    the bar resets (iPR) and no progression is confirmed. 100 → 60 (iPR) → 75 (iUPD, +25 %,
    +15 mm) → 55 (iPR) → 50 (iPR): iBOR iPR from day 42; the first iPR is not confirmed (the
    next scan is the iUPD), the iPR of day 126 is (day 168): confirmed iBOR iPR dated day 126;
    ICPD N, IUPD N."""
    adrs = _irecist([100, 60, 75, 55, 50], [42, 84, 126, 168])
    visits = adrs[adrs.PARAMCD.eq("OVR")].sort_values("ADT").AVALC.tolist()
    assert visits == ["iPR", "iUPD", "iPR", "iPR"]
    assert _value(adrs, "IBOR") == ("iPR", "2024-02-12")
    assert _value(adrs, "ICBOR") == ("iPR", "2024-05-06")
    assert _value(adrs, "ICPD") == ("N", "")
    assert _value(adrs, "IUPD") == ("N", "")
    without_last = _irecist([100, 60, 75, 55], [42, 84, 126])
    assert _value(without_last, "ICBOR")[0] == "iSD"  # no iPR confirmed: iSD from day 42


def test_engine_confirmed_progression_is_dated_at_the_iupd() -> None:
    """100 → 90 (iSD) → 115 (iUPD: +27.8 % over the 90 mm nadir) → 125 (iCPD: +10 mm more):
    iBOR iSD (from day 42), ICPD Y on the iUPD's date (day 84), and iPFS is an event then."""
    adrs = _irecist([100, 90, 115, 125], [42, 84, 126])
    visits = adrs[adrs.PARAMCD.eq("OVR")].sort_values("ADT").AVALC.tolist()
    assert visits == ["iSD", "iUPD", "iCPD"]
    assert _value(adrs, "IBOR") == ("iSD", "2024-02-12")
    assert _value(adrs, "ICPD") == ("Y", "2024-03-25")
    adtte = derive_adtte(ADSL, adrs, start_date="TRTSDT").data
    pfs = adtte[adtte.PARAMCD.eq("PFS")].iloc[0]
    assert int(pfs.CNSR) == 0 and int(pfs.AVAL) == 84 + 1


def test_engine_unconfirmed_progression_stays_iupd() -> None:
    """iSD, then a new lesion (iUPD) and no later scan: iBOR iSD; IUPD Y on the iUPD's date
    (neither confirmed nor reset), ICPD N; iPFS censored at the last assessment."""
    adrs = _irecist([100, 95, 95], [42, 84], new_at=2)
    assert adrs[adrs.PARAMCD.eq("OVR")].sort_values("ADT").AVALC.tolist() == ["iSD", "iUPD"]
    assert _value(adrs, "IBOR")[0] == "iSD"
    assert _value(adrs, "IUPD") == ("Y", "2024-03-25")
    assert _value(adrs, "ICPD") == ("N", "")
    adtte = derive_adtte(ADSL, adrs, start_date="TRTSDT").data
    pfs = adtte[adtte.PARAMCD.eq("PFS")].iloc[0]
    assert int(pfs.CNSR) == 1


@needs_reference
def test_derive_command_with_irecist_criteria(tmp_path: Path) -> None:
    """``oncotrial derive --criteria irecist`` on the investigator's iRECIST RS: ADRS in
    iRECIST's words, confirmed iBOR as admiralonco's for the 26 subjects with RS, every other
    ADSL subject MISSING; ADTTE's PFS from the confirmed progression (iPFS).

    The reference RS breaks two input checks that are data defects, not iRECIST: subject
    01-701-1146 has RSSEQ 9 twice (given a new sequence number here; no derivation reads
    RSSEQ), and subject 01-701-1287 has a RECIST 1.1 'PR' among its iRECIST target responses
    (accepted with ``--override controlled_term`` and a reason, as a data manager would)."""
    from typer.testing import CliRunner

    from oncotrial.cli.main import app
    from oncotrial.derive.io import read_dataset

    sdtm = tmp_path / "sdtm"
    sdtm.mkdir()
    rs = pd.read_csv(
        REFERENCE / "sdtm" / "rs_onco_irecist.csv.gz", dtype=str, keep_default_na=False
    )
    seq = pd.to_numeric(rs["RSSEQ"])
    again = rs.duplicated(["USUBJID", "RSSEQ"])
    assert rs.loc[again, "USUBJID"].tolist() == ["01-701-1146"]
    rs.loc[again, "RSSEQ"] = str(int(seq[rs.USUBJID.eq("01-701-1146")].max()) + 1)
    rs.to_csv(sdtm / "rs.csv", index=False)
    out = tmp_path / "adam"
    result = CliRunner().invoke(
        app,
        [
            "derive",
            "--sdtm",
            str(sdtm),
            "--adsl",
            str(REFERENCE / "adam" / "adsl.csv.gz"),
            "--criteria",
            "irecist",
            "--override",
            "controlled_term",
            "--reason",
            "reference data as published",
            "--out",
            str(out),
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    adrs = read_dataset(out / "adrs.csv")
    icbor = adrs[adrs.PARAMCD.eq("ICBOR")].set_index("USUBJID")["AVALC"]
    reference = pd.read_csv(R_OUTPUT, dtype=str, keep_default_na=False)
    theirs = reference[reference.PARAMCD.eq("ICBOR")].set_index("USUBJID")["AVALC"]
    with_rs = theirs.drop("01-701-1023")
    assert icbor.loc[with_rs.index].to_dict() == with_rs.to_dict()
    assert set(icbor.drop(with_rs.index)) == {"MISSING"}
    assert not adrs.PARAMCD.isin(["BOR", "CBOR"]).any()
    adtte = read_dataset(out / "adtte.csv")
    pfs = adtte[adtte.PARAMCD.eq("PFS")]
    assert set(pfs.PARAM) == {"Progression Free Survival (iRECIST)"}
    assert set(pfs.loc[pfs.USUBJID.isin(["01-701-1028", "01-702-1082"]), "EVNTDESC"]) == {
        "Disease Progression"
    }
