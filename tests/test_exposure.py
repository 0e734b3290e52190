"""Exposure (ADEX): doses, durations and dose intensity.

Independent reference: admiral 1.0.2 (pharmaverse) deriving its ADEX template's overall
parameters (TDOSE, TPDOSE, TDURD, TADJ, AVDDSE, TDOSINT) from the shared pharmaversesdtm EX
(591 records, 254 subjects) and pharmaverseadam ADSL, with the template's own input changes;
the R script and its output are in ``tests/reference/exposure/``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from oncotrial.derive.errors import DataError
from oncotrial.derive.exposure import derive_adex

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "reference" / "pharmaverse"
R_OUTPUT = ROOT / "tests" / "reference" / "exposure" / "adex_overall.csv"
needs_reference = pytest.mark.skipif(
    not SHARED.is_dir(), reason=f"pharmaverse reference data not found at {SHARED}"
)


def _template_input() -> pd.DataFrame:
    """The shared EX with admiral's ad_adex.R changes: EXADJ and a 0 mg dose at two subjects'
    visits, EXPLDOS 54 mg (xanomeline) or 0 (placebo)."""
    ex = pd.read_csv(SHARED / "sdtm" / "ex.csv.gz", dtype=str, keep_default_na=False)
    a = ex.USUBJID.eq("01-701-1034") & ex.VISIT.isin(["WEEK 2", "WEEK 24"])
    b = ex.USUBJID.eq("01-701-1148") & ex.VISIT.eq("WEEK 24")
    ex["EXADJ"] = np.select([a, b], ["ADVERSE EVENT", "MEDICATION ERROR"], "")
    ex.loc[a | b, "EXDOSE"] = "0"
    ex["EXPLDOS"] = np.where(ex.EXTRT.eq("PLACEBO"), "0", "54")
    return ex


@needs_reference
def test_overall_parameters_match_admiral() -> None:
    """Every subject's TDOSE, TPDOSE, TDURD, AVDDSE, TDOSINT (1,016 numbers) and TADJ as
    admiral's, e.g. 01-701-1034 TADJ Y and 01-701-1015 (placebo) TDURD 182 days, TDOSINT
    undefined (0 planned)."""
    adex, notes = derive_adex(_template_input())
    ours = adex[adex.PARCAT1.eq("OVERALL")].set_index(["USUBJID", "PARAMCD"])
    ref = pd.read_csv(R_OUTPUT, dtype=str, keep_default_na=False).set_index(["USUBJID", "PARAMCD"])
    numeric = ref[ref.AVALC.eq("") & ~ref.index.get_level_values(1).isin(["TADJ"])]
    assert len(numeric) == 254 * 5
    mine = ours.loc[numeric.index, "AVAL"].astype(float)
    theirs = pd.to_numeric(numeric["AVAL"].replace({"NaN": "nan"}), errors="coerce")
    both_nan = mine.isna() & theirs.isna()
    assert (both_nan | np.isclose(mine, theirs, rtol=1e-9, atol=1e-9)).all()
    adjusted = ref.xs("TADJ", level="PARAMCD")["AVALC"]
    flagged = ours.xs("TADJ", level="PARAMCD")["AVALC"].fillna("")
    assert flagged.loc[adjusted.index].to_dict() == adjusted.to_dict()
    assert set(adjusted[adjusted.eq("Y")].index) == {"01-701-1034", "01-701-1148"}
    assert ours.loc[("01-701-1015", "TDURD"), "AVAL"] == 182
    assert sum(n.rule == "no-end-date" for n in notes) == 6


def test_twice_daily_dosing_interruption_and_infusions() -> None:
    """Donafenib 200 mg BID for 10 days, 11 days off, 100 mg BID for 10 days: 6,000 mg over a
    30-day period, dose intensity 200 mg/day, RDI 200/400 = 50 %, days dosed 20 (AVDDSE 300);
    toripalimab 240 mg on day 1 and day 22: 480 mg, 2 administrations."""
    ex = pd.DataFrame(
        {
            "USUBJID": ["S1"] * 4,
            "EXTRT": ["DONAFENIB", "DONAFENIB", "TORIPALIMAB", "TORIPALIMAB"],
            "EXDOSE": ["200", "100", "240", "240"],
            "EXDOSFRQ": ["BID", "BID", "ONCE", "ONCE"],
            "EXSTDTC": ["2024-01-01", "2024-01-21", "2024-01-01", "2024-01-22"],
            "EXENDTC": ["2024-01-10", "2024-01-30", "2024-01-01", "2024-01-22"],
            "EXADJ": ["", "DOSE REDUCED", "", ""],
        }
    )
    adex = derive_adex(ex).data
    overall = adex[adex.PARCAT1.eq("OVERALL")].set_index(["EXTRT", "PARAMCD"])["AVAL"]
    assert overall["DONAFENIB", "TDOSE"] == 6000
    assert overall["DONAFENIB", "TRTDURD"] == 30 and overall["DONAFENIB", "TDURD"] == 20
    assert overall["DONAFENIB", "DOSINT"] == 200 and overall["DONAFENIB", "RDI"] == 50
    assert overall["DONAFENIB", "AVDDSE"] == 300
    assert overall["TORIPALIMAB", "TDOSE"] == 480 and overall["TORIPALIMAB", "NADMIN"] == 2
    assert ("TORIPALIMAB", "RDI") not in overall.index


def test_bad_records_name_row_and_column() -> None:
    ex = pd.DataFrame(
        {
            "USUBJID": ["S1", "S1"],
            "EXTRT": ["D", "D"],
            "EXDOSE": ["ten", "100"],
            "EXDOSFRQ": ["BID", "EVERY OTHER DAY"],
            "EXSTDTC": ["2024-01-01", "2024-01-05"],
            "EXENDTC": ["2024-01-03", "2024-01-04"],
        }
    )
    with pytest.raises(DataError) as err:
        derive_adex(ex)
    text = str(err.value)
    assert "row 1" in text and "EXDOSE" in text
    assert "row 2" in text and "EXDOSFRQ" in text and "EXENDTC" in text
