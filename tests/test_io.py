"""Reading and writing CDISC datasets: lossless round trips of every pharmaverse SDTM file
through CSV, Dataset-JSON v1.1 (JSON and NDJSON), Parquet and SAS XPORT v5; XPORT v5 limits;
Dataset-JSON metadata; the validation helpers.

Independent reference: pharmaverse's ``pharmaversesdtm`` 1.5 datasets (gzipped CSV, see
``shared/reference/README.md``); the Dataset-JSON v1.1 specification (CDISC, 2024-12-05) for
the metadata; SAS TS-140 and the FDA Study Data Technical Conformance Guide for XPORT v5.
"""

from __future__ import annotations

import json
import re
import shutil
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from oncotrial.cdisc.errors import CombinedDataError, DataError
from oncotrial.cdisc.frames import check_duplicates, numeric_values, require_columns
from oncotrial.cdisc.terms import numeric_columns as cdisc_numeric_columns
from oncotrial.derive.io import (
    read_dataset,
    read_domains,
    write_dataset,
    xpt_violations,
)

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "pharmaverse"
SDTM = REFERENCE / "sdtm"
needs_reference = pytest.mark.skipif(
    not REFERENCE.is_dir(), reason=f"pharmaverse reference data not found at {REFERENCE}"
)
SDTM_FILES = [
    "ae", "dm", "ds", "ex", "is_ada", "rs_onco", "rs_onco_irecist", "rs_onco_recist",
    "tr_onco", "tr_onco_recist", "tu_onco", "tu_onco_recist",
]  # fmt: skip
FORMATS = ["csv", "json", "ndjson", "parquet", "xpt"]


@cache
def _sdtm(stem: str) -> pd.DataFrame:
    return read_dataset(SDTM / f"{stem}.csv.gz")


@needs_reference
@pytest.mark.parametrize("stem", SDTM_FILES)
def test_every_pharmaverse_sdtm_file_round_trips_in_every_format(stem: str, tmp_path: Path) -> None:
    """All 12 pharmaversesdtm files (66 to 55 995 rows) read back cell for cell — text, ""
    for missing, floats — from CSV, Dataset-JSON, NDJSON, Parquet and XPORT v5 (all are within
    the v5 limits: names ≤ 8, values ≤ 200 bytes)."""
    original = _sdtm(stem)
    domain = original["DOMAIN"].iloc[0]
    for fmt in FORMATS:
        path = write_dataset(original, tmp_path / f"{stem}.{fmt}", name=domain)
        back = read_dataset(path)
        pd.testing.assert_frame_equal(back, original, check_exact=True, obj=f"{stem}.{fmt}")
        if fmt != "csv":
            assert back.attrs["name"] == domain


@needs_reference
def test_csv_columns_are_typed_by_cdisc_name() -> None:
    dm, ex = _sdtm("dm"), _sdtm("ex")
    assert dm["AGE"].dtype == np.float64 and dm["AGE"].iloc[0] == 63.0
    assert dm["DMDY"].dtype == np.float64
    # identifiers that look like numbers stay text; so do all-empty character columns
    assert dm["SUBJID"].iloc[0] == "1015" and dm["SITEID"].iloc[0] == "701"
    assert (dm["RFICDTC"] == "").all() and not pd.api.types.is_numeric_dtype(dm["RFICDTC"])
    assert ex["EXDOSE"].tolist()[:2] == [0.0, 0.0]
    assert ex["EXSTDTC"].iloc[0] == "2014-01-02"
    assert cdisc_numeric_columns(["AVISIT", "AVISITN", "AVAL", "AESEQ", "ARMCD", "AEPTCD"]) == [
        "AVISITN",
        "AVAL",
        "AESEQ",
        "AEPTCD",
    ]


def test_explicit_numeric_column_with_text_names_row_and_subject(tmp_path: Path) -> None:
    path = tmp_path / "vs.csv"
    path.write_text('"USUBJID","VSSTRESN"\n"S1","1.5"\n"S2","n/a"\n', encoding="utf-8")
    assert read_dataset(path)["VSSTRESN"].tolist() == ["1.5", "n/a"]  # guessed: stays text
    with pytest.raises(DataError, match="row 2, subject S2, column VSSTRESN: 'n/a' is not"):
        read_dataset(path, numeric=["VSSTRESN"])


def test_csv_with_a_column_twice_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ae.csv"
    path.write_text("USUBJID,AETERM,AETERM\nS1,a,b\n", encoding="utf-8")
    with pytest.raises(DataError, match="column AETERM: column appears twice"):
        read_dataset(path)


@needs_reference
def test_read_domains_by_file_name_with_mapping_and_duplicates(tmp_path: Path) -> None:
    dm = _sdtm("dm")
    write_dataset(dm, tmp_path / "DM.json")
    write_dataset(_sdtm("ex"), tmp_path / "ex.xpt", name="EX")
    write_dataset(_sdtm("ds"), tmp_path / "Ds.parquet")
    shutil.copy(SDTM / "tr_onco_recist.csv.gz", tmp_path / "tr.csv.gz")
    shutil.copy(SDTM / "rs_onco_recist.csv.gz", tmp_path / "rs_onco_recist.csv.gz")
    (tmp_path / "README.md").write_text("not a dataset")

    domains = read_domains(tmp_path)
    assert sorted(domains) == ["dm", "ds", "ex", "rs_onco_recist", "tr"]
    pd.testing.assert_frame_equal(domains["dm"], dm)
    mapped = read_domains(tmp_path, mapping={"RS_ONCO_RECIST": "RS"}, only=["rs", "dm"])
    assert sorted(mapped) == ["dm", "rs"] and len(mapped["rs"]) == 66

    write_dataset(dm, tmp_path / "dm.csv")
    with pytest.raises(DataError, match="two files for domain DM: DM.json and dm.csv"):
        read_domains(tmp_path)


@needs_reference
def test_pharmaverse_names_map_to_domains_only_when_asked() -> None:
    plain = read_domains(SDTM, only=["rs", "rs_onco"])
    assert list(plain) == ["rs_onco"]
    mapped = read_domains(SDTM, mapping={"rs_onco_recist": "rs"}, only=["rs", "rs_onco"])
    assert sorted(mapped) == ["rs", "rs_onco"]
    assert (mapped["rs"]["RSTESTCD"] == "OVRLRESP").all()


@needs_reference
def test_xpt_over_its_limits_is_refused_with_every_violation(tmp_path: Path) -> None:
    dm = _sdtm("dm").copy()
    dm = dm.rename(columns={"ACTARMUD": "ACTARMUDX", "ARM": "Arm"})
    dm.loc[2, "ARMNRS"] = "x" * 201
    dm.loc[4, "RACE"] = "WHITE "
    dm.loc[6, "AGE"] = 1e300
    labels = {"AGE": "Age of the subject at informed consent, in years"}  # 48 bytes
    target = tmp_path / "dm.xpt"
    target.write_bytes(b"earlier export")
    with pytest.raises(CombinedDataError) as caught:
        write_dataset(dm, target, name="DEMOGRAPHICS", labels=labels)
    found = {(e.column, e.row) for e in caught.value.errors}
    assert found == {
        (None, None),  # dataset name DEMOGRAPHICS: 12 characters
        ("Arm", None),  # lower-case letters
        ("ACTARMUDX", None),  # 9 characters
        ("AGE", None),  # label of 48 bytes
        ("ARMNRS", 3),  # 201 bytes
        ("RACE", 5),  # trailing blank
        ("AGE", 7),  # outside the IBM range
    }
    assert "row 3, subject 01-701-1028, column ARMNRS: value is 201 bytes" in str(caught.value)
    assert target.read_bytes() == b"earlier export"  # nothing written, nothing lost
    assert not list(tmp_path.glob(".tmp-*"))
    assert xpt_violations(_sdtm("dm"), name="DM") == []


@needs_reference
def test_dataset_json_v11_metadata(tmp_path: Path) -> None:
    dm = _sdtm("dm")
    labels = {"USUBJID": "Unique Subject Identifier", "AGE": "Age"}
    path = write_dataset(
        dm, tmp_path / "dm.json", label="Demographics", labels=labels, keys=["STUDYID", "USUBJID"]
    )
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert list(doc) == [
        "datasetJSONCreationDateTime",
        "datasetJSONVersion",
        "sourceSystem",
        "itemGroupOID",
        "records",
        "name",
        "label",
        "columns",
        "rows",
    ]
    assert doc["datasetJSONVersion"] == "1.1.0"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", doc["datasetJSONCreationDateTime"])
    assert doc["sourceSystem"]["name"] == "oncotrial"
    assert doc["records"] == 306 and len(doc["rows"]) == 306
    assert (doc["itemGroupOID"], doc["name"], doc["label"]) == ("IG.DM", "DM", "Demographics")
    columns = {c["name"]: c for c in doc["columns"]}
    assert list(columns["USUBJID"]) == [
        "itemOID",
        "name",
        "label",
        "dataType",
        "length",
        "keySequence",
    ]
    assert columns["USUBJID"] == {
        "itemOID": "IT.DM.USUBJID",
        "name": "USUBJID",
        "label": "Unique Subject Identifier",
        "dataType": "string",
        "length": 11,
        "keySequence": 2,
    }
    assert columns["AGE"]["dataType"] == "integer" and "length" not in columns["AGE"]
    assert columns["RFSTDTC"]["dataType"] == "date"
    assert columns["RFPENDTC"]["dataType"] == "datetime"  # holds 2014-07-02T11:45
    first = dict(zip(columns, doc["rows"][0], strict=True))
    assert first["AGE"] == 63 and first["USUBJID"] == "01-701-1015"
    assert first["DTHDTC"] is None  # missing is null
    back = read_dataset(path)
    assert back.attrs["labels"]["AGE"] == "Age" and back.attrs["label"] == "Demographics"


def test_numeric_dates_round_trip_with_their_types(tmp_path: Path) -> None:
    """ADaM numeric dates (datetime64) survive every typed format; Dataset-JSON writes them as
    ISO strings with targetDataType integer, XPORT as SAS dates/datetimes, Parquet as
    date32/timestamp."""
    frame = pd.DataFrame(
        {
            "USUBJID": ["S1", "S2", "S3"],
            "TRTSDT": pd.to_datetime(["2014-01-02", None, "1959-12-31"]),
            "TRTSDTM": pd.to_datetime(["2014-01-02 00:00:00", None, "2020-02-29 23:59:59"]),
            "AVAL": [0.1, np.nan, -2.5e-7],
        }
    )
    labels = {"TRTSDT": "Date of First Exposure to Treatment"}
    for fmt in ("json", "ndjson", "parquet", "xpt"):
        path = write_dataset(frame, tmp_path / f"adsl.{fmt}", name="ADSL", labels=labels)
        back = read_dataset(path)
        expected = frame.astype({"TRTSDT": "datetime64[ns]", "TRTSDTM": "datetime64[ns]"})
        expected["USUBJID"] = expected["USUBJID"].astype(back["USUBJID"].dtype)
        pd.testing.assert_frame_equal(back, expected, check_exact=True, obj=fmt)
        assert back.attrs["labels"]["TRTSDT"] == labels["TRTSDT"]
    doc = json.loads((tmp_path / "adsl.json").read_text())
    trtsdt, trtsdtm, aval = doc["columns"][1:]
    assert (trtsdt["dataType"], trtsdt["targetDataType"]) == ("date", "integer")
    assert (trtsdtm["dataType"], trtsdtm["targetDataType"]) == ("datetime", "integer")
    assert aval["dataType"] == "double"
    assert doc["rows"][2][1:3] == ["1959-12-31", "2020-02-29T23:59:59"]
    csv_back = read_dataset(write_dataset(frame, tmp_path / "adsl.csv"))
    assert csv_back["TRTSDTM"].tolist() == ["2014-01-02T00:00:00", "", "2020-02-29T23:59:59"]


def test_dataset_json_v10_and_bad_rows(tmp_path: Path) -> None:
    v10 = {
        "creationDateTime": "2023-01-01T00:00:00",
        "datasetJSONVersion": "1.0.0",
        "clinicalData": {
            "studyOID": "S",
            "metaDataVersionOID": "M",
            "itemGroupData": {
                "IG.DM": {
                    "records": 1,
                    "name": "DM",
                    "label": "Demographics",
                    "items": [
                        {
                            "OID": "ITEMGROUPDATASEQ",
                            "name": "ITEMGROUPDATASEQ",
                            "label": "Seq",
                            "type": "integer",
                        },
                        {"OID": "IT.USUBJID", "name": "USUBJID", "label": "U", "type": "string"},
                        {"OID": "IT.AGE", "name": "AGE", "label": "Age", "type": "integer"},
                    ],
                    "itemData": [[1, "S1", 70]],
                }
            },
        },
    }
    (tmp_path / "dm.json").write_text(json.dumps(v10))
    dm = read_dataset(tmp_path / "dm.json")
    assert list(dm.columns) == ["USUBJID", "AGE"] and dm["AGE"].tolist() == [70.0]

    bad = {
        "datasetJSONVersion": "1.1.0",
        "records": 2,
        "name": "AE",
        "label": "",
        "itemGroupOID": "IG.AE",
        "datasetJSONCreationDateTime": "2024-01-01T00:00:00",
        "columns": [
            {"itemOID": "a", "name": "USUBJID", "label": "", "dataType": "string"},
            {"itemOID": "b", "name": "AESEQ", "label": "", "dataType": "integer"},
        ],
        "rows": [["S1", 1], ["S2", "two"]],
    }
    (tmp_path / "ae.json").write_text(json.dumps(bad))
    with pytest.raises(DataError, match="dataset ae.json, row 2, column AESEQ: 'two' is not"):
        read_dataset(tmp_path / "ae.json")
    bad["rows"] = [["S1", 1], ["S2"]]
    (tmp_path / "ae.json").write_text(json.dumps(bad))
    with pytest.raises(DataError, match="row 2: row has 1 values, expected 2"):
        read_dataset(tmp_path / "ae.json")


def test_validation_helpers_name_dataset_rows_subject_and_column() -> None:
    dm = pd.DataFrame({"USUBJID": ["S1", "S2", "S1", "S3", "S3"], "AGE": ["70", "x", "", "", ""]})
    with pytest.raises(DataError, match="dataset DM, column SEX, ARM: missing required column"):
        require_columns(dm, ["USUBJID", "SEX", "ARM"], "DM")
    with pytest.raises(CombinedDataError) as caught:
        check_duplicates(dm, ["USUBJID"], "DM")
    first, second = caught.value.errors
    assert (first.dataset, first.subject, first.row, first.column) == ("DM", "S1", 3, "USUBJID")
    assert "rows [1, 3]" in first.message and "rows [4, 5]" in second.message
    with pytest.raises(DataError, match="dataset DM, row 3, subject S1, column USUBJID"):
        check_duplicates(dm.iloc[:3], ["USUBJID"], "DM")
    filtered = dm[dm["USUBJID"] != "S2"]  # rows keep their numbers after filtering
    with pytest.raises(DataError, match="row 5, subject S3"):
        check_duplicates(filtered.iloc[2:], ["USUBJID"], "DM")
    with pytest.raises(DataError, match="row 2, subject S2, column AGE: 'x' is not a number"):
        numeric_values(dm, "AGE", "DM")
    assert numeric_values(dm.iloc[[0, 2]], "AGE", "DM").tolist()[0] == 70.0


def test_unsupported_and_non_text_values_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="unsupported file type"):
        read_dataset(tmp_path / "dm.txt")
    mixed = pd.DataFrame({"USUBJID": ["S1", 2]})
    with pytest.raises(DataError, match="row 2, column USUBJID: character column holds"):
        write_dataset(mixed, tmp_path / "dm.csv")
    assert not (tmp_path / "dm.csv").exists()
