"""The trial's commands end to end: simulate-trial into SQLite (and PostgreSQL when
``ONCOTRIAL_TEST_PG`` is set), report, db import/export round trip, audit verify catching
tampering, and ``demo``."""

import json
import os
import sqlite3
import uuid
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from oncotrial.cli.db import database_url
from oncotrial.cli.main import app
from oncotrial.derive.io import read_dataset
from oncotrial.store import Store

ROOT = Path(__file__).resolve().parents[1]
PROTOCOL = str(ROOT / "protocols" / "toripalimab-donafenib-hcc.yaml")
PHARMAVERSE = ROOT.parent / "shared" / "reference" / "pharmaverse"
runner = CliRunner(env={"COLUMNS": "200"})  # help text is checked for content, not layout


@pytest.fixture(scope="module")
def short(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The shipped protocol with 6 months of follow-up: the same trial, played day by day
    through the application's use cases, with fewer forms to enter."""
    text = Path(PROTOCOL).read_text(encoding="utf-8")
    assert "followup_months: 18" in text
    path = tmp_path_factory.mktemp("protocol") / "short.yaml"
    path.write_text(text.replace("followup_months: 18", "followup_months: 6"), encoding="utf-8")
    return str(path)


def invoke_json(*args: str) -> dict:
    result = runner.invoke(app, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def played(short: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """One trial played into SQLite (seed 5), read by several tests (never changed)."""
    db = tmp_path_factory.mktemp("played") / "trial.db"
    run = invoke_json("simulate-trial", "--protocol", short, "--seed", "5", "--db", str(db))
    return db, run


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path: Path):
    if request.param == "sqlite":
        yield str(tmp_path / "trial.db")
        return
    base = os.environ.get("ONCOTRIAL_TEST_PG")
    if not base:
        pytest.skip("ONCOTRIAL_TEST_PG is not set (PostgreSQL runs only where a server is)")
    import psycopg

    name = f"oncotrial_cli_{uuid.uuid4().hex[:10]}"
    plain = base.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield base.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_simulate_trial_then_report(
    db_url: str, tmp_path: Path, short: str, played: tuple[Path, dict]
) -> None:
    if db_url.endswith(".db"):
        db_url, run = str(played[0]), played[1]
    else:
        run = invoke_json("simulate-trial", "--protocol", short, "--seed", "5", "--db", db_url)
    assert run["subjects"] >= 18 and run["recommended_dose"] in {"L-1", "L1", "L2", "L3"}
    out = tmp_path / "report"
    rep = invoke_json("report", "--db", db_url, "--out", str(out), "--protocol", short, "--no-pdf")
    html = Path(rep["html"]).read_text()
    for section in (
        "Demographics and baseline characteristics",
        "Disposition at the data cut",
        "Exposure and dose intensity",
        "Phase I dose escalation",
        "Objective response and disease control",
        "Simon two-stage, stage 1",
        "Waterfall",
        "Overall survival",
        "Duration of response",
        "Immunogenicity",
        "Adverse events by worst CTCAE",
        "Serious adverse events",
        "Deaths",
    ):
        assert section.lower() in html.lower()
    assert rep["summary"]["orr"]["n"] == run["subjects"]
    assert set(rep["summary"]["orr_by_criteria"]) == {"RECIST 1.1", "mRECIST"}
    assert rep["summary"]["data_cut"] == run["data_cut"]
    for name in ("adtte", "adex", "adrs_mrecist"):
        assert (out / "adam" / f"{name}.csv").exists()
    verify = invoke_json("audit", "verify", "--db", db_url)
    assert verify["ok"] is True
    store = Store.open(database_url(db_url))
    try:
        last = store.audit_trail().iloc[-1]
    finally:
        store.close()
    assert rep["summary"]["audit_head"] == {"seq": int(last["seq"]), "hash": last["hash"]}


def test_same_seed_same_trial_in_the_database(
    tmp_path: Path, short: str, played: tuple[Path, dict]
) -> None:
    a, b = played[0], tmp_path / "b.db"
    invoke_json("simulate-trial", "--protocol", short, "--seed", "5", "--db", str(b))
    invoke_json("db", "export", "--db", str(a), "--out", str(tmp_path / "ea"))
    invoke_json("db", "export", "--db", str(b), "--out", str(tmp_path / "eb"))
    for path in (tmp_path / "ea").iterdir():
        assert path.read_bytes() == (tmp_path / "eb" / path.name).read_bytes()


def test_audit_verify_catches_an_altered_row(tmp_path: Path, played: tuple[Path, dict]) -> None:
    db = tmp_path / "t.db"
    db.write_bytes(played[0].read_bytes())
    with sqlite3.connect(db) as conn:  # a DBA working behind the application's back
        triggers = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='trigger' AND tbl_name='audit_log'"
            )
        ]
        for name in triggers:
            conn.execute(f"DROP TRIGGER {name}")
        conn.execute("UPDATE audit_log SET new_value = 'tampered' WHERE seq = 40")
    result = runner.invoke(app, ["audit", "verify", "--db", str(db), "--format", "json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False and report["first_broken"]["seq"] == 40


@pytest.mark.skipif(not PHARMAVERSE.exists(), reason="../shared/reference is not beside us")
def test_db_import_export_round_trip_is_lossless(tmp_path: Path) -> None:
    """pharmaverse DM, EX, AE, DS (the domains the store holds) in, the same cells out."""
    sdtm = tmp_path / "sdtm"
    sdtm.mkdir()
    for name in ("dm", "ex", "ae", "ds"):
        (sdtm / f"{name}.csv.gz").write_bytes(
            (PHARMAVERSE / "sdtm" / f"{name}.csv.gz").read_bytes()
        )
    db = tmp_path / "p.db"
    invoke_json("db", "init", "--db", str(db))
    imported = invoke_json("db", "import", "--db", str(db), "--sdtm", str(sdtm))
    assert imported["imported"]["DM"]["rows"] == 306
    invoke_json("db", "export", "--db", str(db), "--out", str(tmp_path / "out"))
    for name in ("dm", "ex", "ae", "ds"):
        original = pd.read_csv(sdtm / f"{name}.csv.gz", dtype=str, keep_default_na=False)
        exported = pd.read_csv(tmp_path / "out" / f"{name}.csv", dtype=str, keep_default_na=False)
        pd.testing.assert_frame_equal(original, exported[original.columns])


def test_refused_import_stores_nothing(tmp_path: Path) -> None:
    sdtm = tmp_path / "sdtm"
    sdtm.mkdir()
    dm = pd.DataFrame(
        {
            "STUDYID": ["S"] * 2,
            "DOMAIN": ["DM"] * 2,
            "USUBJID": ["S-1", "S-2"],
            "SITEID": ["01", "01"],
            "RFICDTC": ["2024-01-05", "2024-01-05"],
            "RFXSTDTC": ["2024-01-10", "2024-01-10"],
        }
    )
    ae = pd.DataFrame(
        {
            "STUDYID": ["S"],
            "DOMAIN": ["AE"],
            "USUBJID": ["S-1"],
            "AESEQ": ["1"],
            "AETERM": ["RASH"],
            "AEDECOD": ["Rash"],
            "AETOXGR": ["7"],
            "AESTDTC": ["2024-01-12"],
        }
    )
    dm.to_csv(sdtm / "dm.csv", index=False)
    ae.to_csv(sdtm / "ae.csv", index=False)
    db = tmp_path / "r.db"
    invoke_json("db", "init", "--db", str(db))
    result = runner.invoke(app, ["db", "import", "--db", str(db), "--sdtm", str(sdtm)])
    assert result.exit_code == 2
    assert "AETOXGR" in result.output and "S-1" in result.output
    exported = invoke_json("db", "export", "--db", str(db), "--out", str(tmp_path / "o"))
    assert exported["exported"] == {}  # DM of the same import was rolled back too


def test_demo_writes_everything(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    data = invoke_json("demo", "--out", str(out), "--no-pdf")
    files = data["files"]
    assert Path(files["database"]).exists() and Path(files["report"]).exists()
    assert len(data["summary"]) == 5
    assert read_dataset(out / "adam" / "adsl.csv").shape[0] > 18


def test_report_data_cut_override_and_records_after_it(
    tmp_path: Path, short: str, played: tuple[Path, dict]
) -> None:
    """``--data-cut`` replaces the trial's own cut in the report; a cut before some records is
    refused with the domain, row and column of the first of them, and nothing is written."""
    db, run = played
    later = invoke_json(
        "report",
        "--db",
        str(db),
        "--out",
        str(tmp_path / "a"),
        "--protocol",
        short,
        "--no-pdf",
        "--data-cut",
        "2030-01-01",
    )
    assert later["summary"]["data_cut"] == "2030-01-01"
    assert "given with --data-cut" in Path(later["html"]).read_text()
    result = runner.invoke(
        app,
        [
            "report",
            "--db",
            str(db),
            "--out",
            str(tmp_path / "b"),
            "--protocol",
            short,
            "--no-pdf",
            "--data-cut",
            "2025-01-01",
        ],
    )
    assert result.exit_code == 2
    message = " ".join(result.output.split())
    assert "after the data cut 2025-01-01" in message and "row" in message
    assert not (tmp_path / "b" / "report.html").exists()
    assert run["data_cut"] > "2025-01-01"
    bad = runner.invoke(
        app, ["report", "--db", str(db), "--out", str(tmp_path / "c"), "--data-cut", "June"]
    )
    assert bad.exit_code == 2 and "not a date" in bad.output
