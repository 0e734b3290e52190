"""Every command that opens a trial database refuses a missing or uninitialised one with one
plain line — "not a trial database; run `oncotrial db init`" — exit status 2, no traceback, and
leaves nothing behind (no file, no folder, no WAL files; an existing file is not touched).
``db init`` and ``simulate-trial`` create the database (and its folder)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from oncotrial.cli.main import app

ROOT = Path(__file__).resolve().parents[1]
PROTOCOL = str(ROOT / "protocols" / "toripalimab-donafenib-hcc.yaml")
pytest_plugins = ["store_fixtures"]
runner = CliRunner(env={"COLUMNS": "40"})
HINT = "not a trial database"
INIT = "run `oncotrial db init`"


def commands(db: str, tmp_path: Path) -> dict[str, list[str]]:
    """Each command that opens an existing database, with what else it needs."""
    sdtm = tmp_path / "sdtm"
    sdtm.mkdir(exist_ok=True)
    (sdtm / "dm.csv").write_text("USUBJID\nS-1\n")
    return {
        "db import": ["db", "import", "--db", db, "--sdtm", str(sdtm)],
        "db export": ["db", "export", "--db", db, "--out", str(tmp_path / "export")],
        "report": [
            "report",
            "--db",
            db,
            "--out",
            str(tmp_path / "rep"),
            "-p",
            PROTOCOL,
            "--no-pdf",
        ],
        "audit verify": ["audit", "verify", "--db", db],
    }


def _refusal(result: Result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    return lines[0]


@pytest.mark.parametrize("name", ["db import", "db export", "report", "audit verify"])
def test_a_missing_sqlite_file_is_refused_and_not_created(tmp_path: Path, name: str) -> None:
    db = tmp_path / "no" / "such" / "trial.db"
    line = _refusal(runner.invoke(app, commands(str(db), tmp_path)[name]))
    assert line == f"error: {db}: {HINT} (no such file); {INIT}"
    assert not (tmp_path / "no").exists()
    line = _refusal(runner.invoke(app, commands(f"sqlite:///{db}", tmp_path)[name]))
    assert HINT in line and not (tmp_path / "no").exists()


@pytest.mark.parametrize("content", [b"", b"USUBJID,AGE\nS-1,60\n"])
def test_a_file_that_is_no_trial_database_is_left_as_it_was(tmp_path: Path, content: bytes) -> None:
    db = tmp_path / "other.db"
    db.write_bytes(content)
    for name, args in commands(str(db), tmp_path).items():
        line = _refusal(runner.invoke(app, args))
        assert line.startswith(f"error: {db}: {HINT} (") and line.endswith(INIT), name
        assert db.read_bytes() == content, name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.db", "sdtm"]


def test_an_uninitialised_postgresql_database_is_refused(tmp_path: Path) -> None:
    from store_fixtures import PG_ENV, fresh_database  # loaded as a plugin above

    with fresh_database("postgresql", tmp_path) as db:  # an empty schema, skipped without a server
        line = _refusal(runner.invoke(app, ["audit", "verify", "--db", db]))
        assert line.endswith(f"{HINT}; {INIT}")
        gone = os.environ[PG_ENV].rsplit("/", 1)[0] + f"/nodb_{uuid.uuid4().hex[:8]}"
        line = _refusal(runner.invoke(app, ["db", "export", "--db", gone, "--out", "x"]))
        assert "cannot open the database" in line and line.endswith(INIT)


def test_db_init_creates_the_database_and_its_folder(tmp_path: Path) -> None:
    db = tmp_path / "new" / "trial.db"
    result = runner.invoke(app, ["db", "init", "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert db.is_file()
    verify = runner.invoke(app, ["audit", "verify", "--db", str(db)])
    assert verify.exit_code == 0, verify.output
