"""ADSL disposition variables from DS (ADaMIG 1.3 EOTSTT, DCTREAS, DCTDT, DCSREAS) and the
data-cut check (no record dated after the trial's cut)."""

from datetime import date

import pandas as pd
import pytest

from oncotrial.derive.datacut import check_data_cut, records_after
from oncotrial.derive.disposition import derive_disposition
from oncotrial.derive.errors import CombinedDataError, DataError

DS = pd.DataFrame(
    {
        "USUBJID": ["A", "A", "B", "B", "C"],
        "DSCAT": ["DISPOSITION EVENT"] * 4 + ["PROTOCOL MILESTONE"],
        "DSSCAT": ["END OF TREATMENT", "END OF STUDY", "END OF TREATMENT", "END OF STUDY", ""],
        "DSDECOD": ["ADVERSE EVENT", "COMPLETED", "COMPLETED", "DEATH", "ENROLLED"],
        "DSSTDTC": ["2024-05-02", "2025-01-10", "2024-09-01", "2024-12-24", "2024-01-01"],
    }
)


def test_reasons_and_statuses() -> None:
    adsl = pd.DataFrame({"USUBJID": ["A", "B", "C"]})
    out = derive_disposition(adsl, DS).set_index("USUBJID")
    assert out.EOTSTT.tolist() == ["DISCONTINUED", "COMPLETED", "ONGOING"]
    assert out.DCTREAS.tolist() == ["ADVERSE EVENT", "", ""]
    assert out.DCTDT.dt.strftime("%Y-%m-%d").fillna("").tolist() == [
        "2024-05-02",
        "2024-09-01",
        "",
    ]
    assert out.DCSREAS.tolist() == ["", "DEATH", ""]


def test_two_end_of_treatment_records_name_both_rows() -> None:
    twice = pd.concat([DS, DS.iloc[[0]].assign(DSDECOD="PROGRESSIVE DISEASE")])
    with pytest.raises(DataError) as err:
        derive_disposition(pd.DataFrame({"USUBJID": ["A"]}), twice)
    assert "rows 1, 6" in str(err.value) and err.value.subject == "A"


def test_records_after_the_cut_are_named_by_domain_row_and_column() -> None:
    ae = pd.DataFrame(
        {"USUBJID": ["A", "A", "B"], "AESTDTC": ["2024-05-01", "2024-07", "2024-06-30"]}
    )
    dm = pd.DataFrame({"USUBJID": ["A"], "BRTHDTC": ["2030"], "RFSTDTC": ["2024-01-02"]})
    cut = date(2024, 6, 30)
    found = records_after({"ae": ae, "dm": dm}, cut)
    assert len(found) == 1  # the partial 2024-07 is after; the birth date is no trial event
    assert (found[0].dataset, found[0].row, found[0].column) == ("AE", 2, "AESTDTC")
    check_data_cut({"ae": ae.iloc[[0, 2]], "dm": dm}, cut)
    tr = pd.DataFrame({"USUBJID": ["B"], "TRDTC": ["2024-08-01"]})
    with pytest.raises(CombinedDataError):
        check_data_cut({"ae": ae, "tr": tr}, cut)
