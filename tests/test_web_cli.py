"""The set-up commands (users, sites) and serve's help, at any terminal width, as text and
JSON; refusals are one plain error line with exit status 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from oncotrial.cli.main import app
from oncotrial.conduct import passwords

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def cheap_hashes() -> None:
    passwords.set_cost(time_cost=1, memory_kib=8192, parallelism=1)


@pytest.mark.parametrize("columns", ["40", "300"])
def test_users_and_sites_at_any_width(tmp_path: Path, columns: str) -> None:
    runner = CliRunner(env={"COLUMNS": columns})
    db = str(tmp_path / "trial.db")

    def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
        result = runner.invoke(app, list(args), input=stdin)
        return result.exit_code, result.stdout, result.stderr

    assert run("sites", "add", "01", "--name", "Beijing", "--country", "CHN", "--db", db)[0] == 0
    code, out, _ = run("sites", "list", "--db", db, "--format", "json")
    assert code == 0 and json.loads(out)["sites"][0]["code"] == "01"
    code, out, _ = run(
        "users",
        "add",
        "li.wei",
        "--role",
        "investigator",
        "--name",
        "Li Wei",
        "--site",
        "01",
        "--password-stdin",
        "--db",
        db,
        "--by",
        "setup",
        "--format",
        "json",
        stdin=PASSWORD + "\n",
    )
    assert code == 0, out
    assert json.loads(out)["added"]["sites"] == ["01"]
    code, out, err = run(
        "users",
        "add",
        "zhang",
        "--role",
        "coordinator",
        "--name",
        "Zhang",
        "--password-stdin",
        "--db",
        db,
        stdin=PASSWORD + "\n",
    )
    assert code == 2 and err.startswith("error: ") and "named sites" in err
    assert len(err.strip().splitlines()) == 1
    code, out, err = run(
        "users",
        "add",
        "dm",
        "--role",
        "data-manager",
        "--name",
        "Dee Em",
        "--password-stdin",
        "--db",
        db,
        stdin="short\n",
    )
    assert code == 2 and "12 characters" in err
    code, out, _ = run(
        "users",
        "set-role",
        "li.wei",
        "coordinator",
        "--reason",
        "new job",
        "--db",
        db,
        "--format",
        "json",
    )
    assert code == 0 and json.loads(out)["user"]["role"] == "coordinator"
    code, out, _ = run("users", "disable", "li.wei", "--reason", "left", "--db", db)
    assert code == 0 and "disabled" in out
    code, out, _ = run("users", "list", "--db", db)
    assert code == 0 and "li.wei" in out
    code, out, _ = run("users", "list", "--db", db, "--format", "json")
    [user] = json.loads(out)["users"]
    assert (user["role"], user["active"]) == ("coordinator", False)


@pytest.mark.parametrize("command", [["serve"], ["users"], ["users", "add"], ["sites", "add"]])
def test_help_for_a_newcomer(command: list[str]) -> None:
    result = CliRunner(env={"COLUMNS": "200"}).invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert len(result.stdout) > 200
