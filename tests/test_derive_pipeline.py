"""SDTM → all ADaM: the pipeline and ``oncotrial derive`` on the pharmaverse data and on a
virtual trial, formats, and errors that name where the data are wrong."""

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from oncotrial.cli.main import app
from oncotrial.derive.io import read_dataset, write_dataset
from oncotrial.derive.pipeline import derive_study
from oncotrial.protocol import load_protocol
from oncotrial.sim.virtual_trial import generate_virtual_trial

ROOT = Path(__file__).resolve().parents[1]
PHARMAVERSE = ROOT.parent / "shared" / "reference" / "pharmaverse"
needs_reference = pytest.mark.skipif(
    not PHARMAVERSE.exists(), reason="../shared/reference/pharmaverse is not beside the project"
)
MAP = [
    "--map",
    "rs_onco_recist=rs",
    "--map",
    "tu_onco_recist=tu",
    "--map",
    "tr_onco_recist=tr",
    "--map",
    "is_ada=is",
]
runner = CliRunner(env={"COLUMNS": "200"})  # help text is checked for content, not layout


@needs_reference
def test_derive_command_on_pharmaverse_reproduces_adrs_bor(tmp_path: Path) -> None:
    """``oncotrial derive`` with the reference ADSL (``--adsl``) gives the reference BOR and
    confirmed BOR (pharmaverseadam adrs_onco) for every subject."""
    out = tmp_path / "adam"
    result = runner.invoke(
        app,
        [
            "derive",
            "--sdtm",
            str(PHARMAVERSE / "sdtm"),
            *MAP,
            "--adsl",
            str(PHARMAVERSE / "adam" / "adsl.csv.gz"),
            "--impute-partial-dates",
            "mid",
            "--out",
            str(out),
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert {"adsl", "adrs", "adtte", "adab", "adae", "adtr"} <= set(summary["datasets"])
    assert summary["response_source"] == "investigator (SDTM RS)"
    ours = read_dataset(out / "adrs.csv")
    ref = pd.read_csv(PHARMAVERSE / "adam" / "adrs_onco.csv.gz", dtype=str, keep_default_na=False)
    for param in ("BOR", "CBOR"):
        a = ours[param == ours.PARAMCD].set_index("USUBJID")["AVALC"].sort_index()
        b = ref[param == ref.PARAMCD].set_index("USUBJID")["AVALC"].sort_index()
        assert a.to_dict() == b.to_dict()


@needs_reference
def test_partial_tumour_dates_are_refused_with_their_row(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["derive", "--sdtm", str(PHARMAVERSE / "sdtm"), *MAP, "--out", str(tmp_path / "x")]
    )
    assert result.exit_code == 2
    message = " ".join(result.output.split())
    assert "dataset TR" in message and "TRDTC" in message and "2014-02" in message
    assert not (tmp_path / "x" / "adsl.csv").exists()


def test_virtual_trial_end_to_end(tmp_path: Path) -> None:
    """A virtual trial written as SDTM files (CSV.gz, XPT, Dataset-JSON) derives to ADaM with
    responses computed from the lesion measurements."""
    protocol = load_protocol(ROOT / "protocols" / "toripalimab-donafenib-hcc.yaml")
    trial = generate_virtual_trial(protocol, 21)
    sdtm = tmp_path / "sdtm"
    formats = {
        "DM": "csv",
        "EX": "csv",
        "DS": "csv",
        "AE": "json",
        "TU": "csv",
        "TR": "json",
        "IS": "csv",
    }
    for name, frame in trial.domains.items():
        suffix = ".csv.gz" if name == "TU" else f".{formats[name]}"
        path = sdtm / f"{name.lower()}{suffix}"
        path.parent.mkdir(exist_ok=True)
        if suffix == ".csv.gz":
            frame.to_csv(path, index=False, compression="gzip")
        else:
            write_dataset(frame, path, formats[name], name=name)
    out = tmp_path / "adam"
    result = runner.invoke(
        app,
        [
            "derive",
            "--sdtm",
            str(sdtm),
            "--out",
            str(out),
            "--output-format",
            "xpt",
            "--sd-min-days",
            "39",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["response_source"].startswith("computed from TU/TR")
    assert summary["reference_date"] == "TRTSDT"
    adsl = read_dataset(out / "adsl.xpt")
    assert len(adsl) == len(trial.patients)
    adrs = read_dataset(out / "adrs.xpt")
    cbor = adrs[adrs.PARAMCD == "CBOR"].set_index("USUBJID")["AVALC"]
    # the files (CSV.gz, XPT, Dataset-JSON) derive to what the generated frames derive to
    direct = derive_study({k.lower(): v for k, v in trial.domains.items()}, sd_min_days=39)
    expected = direct.datasets["adrs"].query("PARAMCD == 'CBOR'").set_index("USUBJID")["AVALC"]
    assert cbor.to_dict() == expected.to_dict()
    assert set(cbor) <= {"CR", "PR", "SD", "PD", "NE", "MISSING"}


def test_library_pipeline_notes_single_arm_origin() -> None:
    protocol = load_protocol(ROOT / "protocols" / "toripalimab-donafenib-hcc.yaml")
    trial = generate_virtual_trial(protocol, 2)
    study = derive_study({k.lower(): v for k, v in trial.domains.items()})
    assert study.reference_date == "TRTSDT"
    assert any("TRTSDT" in n for n in study.notes)
    adtte = study.datasets["adtte"]
    assert set(adtte.PARAMCD) == {"OS", "PFS", "RSD"} or set(adtte.PARAMCD) == {"OS", "PFS"}
