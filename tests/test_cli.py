"""The ``oncotrial`` commands end to end (Typer's runner, JSON output parsed)."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from oncotrial.cli.main import app

PROTOCOL = str(Path(__file__).resolve().parents[1] / "protocols" / "toripalimab-donafenib-hcc.yaml")
runner = CliRunner(env={"COLUMNS": "200"})  # help text is checked for content, not layout


def run_json(*args: str) -> dict:
    result = runner.invoke(app, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_every_command_has_help() -> None:
    for command in ("boundaries", "decide", "paths", "simulate", "compare", "demo"):
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0
        assert "--format" in result.output


def test_boundaries_json_matches_the_published_boin_table() -> None:
    data = run_json(
        "boundaries", "--design", "boin", "--target", "0.3", "--cohort-size", "3", "--cohorts", "10"
    )
    assert data["n"] == list(range(1, 31))
    assert data["escalate"][2] == 0 and data["deescalate"][2] == 2 and data["eliminate"][2] == 3
    assert data["eliminate"][:2] == [None, None]
    assert round(data["lambda_e"], 4) == 0.2365 and round(data["lambda_d"], 4) == 0.3585


def test_decide_with_outcomes_and_protocol() -> None:
    # start level 1 is index 2 of (-1, 1, 2, 3); 0/3 there escalates to index 3 (level 2)
    data = run_json("decide", "--protocol", PROTOCOL, "--outcomes", "2NNN")
    assert data["next_dose"] == 3 and data["next_level"] == 2 and data["continue"] is True
    data = run_json("decide", "--protocol", PROTOCOL, "--outcomes", "2NNN 3TTN")
    assert data["next_dose"] == 2


def test_decide_patients_file_with_levels_and_pending(tmp_path: Path) -> None:
    csv = tmp_path / "patients.csv"
    csv.write_text(
        "subject,level,dlt,dlt_day,followup_days\n"
        "001,1,no,,\n002,1,no,,\n003,1,no,,\n004,2,yes,12,\n005,2,no,,10\n"
    )
    data = run_json("decide", "--protocol", PROTOCOL, "--patients", str(csv))
    assert data["accrual_suspended"] is True  # BOIN waits for the pending patient


def test_decide_reports_bad_patient_rows_with_file_row_field(tmp_path: Path) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text("dose_index,dlt\n1,no\n9,yes\n")
    result = runner.invoke(app, ["decide", "--doses", "4", "--patients", str(csv)])
    assert result.exit_code == 2
    assert "row 2" in result.output and "dose_index" in result.output
    csv.write_text("dose_index,dlt,dlt_day\n1,maybe,\n")
    result = runner.invoke(app, ["decide", "--doses", "4", "--patients", str(csv)])
    assert result.exit_code == 2 and "field 'dlt'" in result.output
    csv.write_text("dose_index,dlt,followup_days\n1,no,-3\n")
    result = runner.invoke(app, ["decide", "--doses", "4", "--patients", str(csv)])
    assert result.exit_code == 2 and "followup_days" in result.output


def test_decide_refuses_bad_outcome_strings() -> None:
    result = runner.invoke(app, ["decide", "--doses", "3", "--outcomes", "1NNN 2NXN"])
    assert result.exit_code == 2 and "cohort 2" in result.output
    result = runner.invoke(app, ["decide", "--doses", "3", "--outcomes", "4NNN"])
    assert result.exit_code == 2 and "outside 1..3" in result.output


def test_paths_json_lists_every_outcome() -> None:
    data = run_json("paths", "--protocol", PROTOCOL, "--cohorts", "2")
    first = [r for r in data["paths"] if r["depth"] == 1]
    assert [r["outcomes"] for r in first] == ["2NNN", "2TNN", "2TTN", "2TTT"]
    assert len([r for r in data["paths"] if r["depth"] == 2]) == 16


def test_simulate_json_keys_and_reproducibility() -> None:
    args = (
        "simulate",
        "--design",
        "boin",
        "--truth",
        "0.05,0.15,0.3,0.45,0.6",
        "--target",
        "0.3",
        "--cohorts",
        "10",
        "--trials",
        "3000",
        "--seed",
        "4",
    )
    one = run_json(*args)
    for key in (
        "selected_pct",
        "no_mtd_pct",
        "mean_patients",
        "mean_dlts",
        "stopped_pct",
        "mean_n",
    ):
        assert key in one
    assert len(one["selected_pct"]) == 5
    assert abs(sum(one["selected_pct"]) + one["no_mtd_pct"] - 100) < 1e-9
    assert run_json(*args) == one


def test_simulate_several_designs_share_patients_and_plot(tmp_path: Path) -> None:
    figure = tmp_path / "oc.png"
    data = run_json(
        "simulate",
        "--design",
        "boin",
        "--design",
        "3+3",
        "--design",
        "keyboard",
        "--truth",
        "0.05,0.15,0.3,0.45",
        "--truth",
        "0.3,0.4,0.5,0.6",
        "--trials",
        "2000",
        "--plot",
        str(figure),
    )
    assert len(data["results"]) == 6
    assert figure.stat().st_size > 10_000


def test_compare_runs_the_protocol_scenarios() -> None:
    data = run_json("compare", "--protocol", PROTOCOL, "--trials", "1000")
    designs = {r["design"] for r in data["results"]}
    assert {"boin", "3+3", "tite-boin"} <= designs
    assert {r["scenario"] for r in data["results"]} >= {"mtd-at-2", "all-safe"}


def test_unknown_design_and_missing_doses_are_clear_errors() -> None:
    result = runner.invoke(app, ["decide", "--design", "magic", "--doses", "3", "--outcomes", "1N"])
    assert result.exit_code == 2 and "unknown design" in result.output
    result = runner.invoke(app, ["decide", "--outcomes", "1N"])
    assert result.exit_code == 2 and "how many dose levels" in result.output


@pytest.mark.parametrize("bad", ["0.1,abc", ""])
def test_bad_truth_is_refused(bad: str) -> None:
    result = runner.invoke(app, ["simulate", "--truth", bad, "--trials", "10"])
    assert result.exit_code == 2


def test_errors_are_plain_unwrapped_lines_at_a_narrow_terminal(tmp_path: Path) -> None:
    narrow = CliRunner(env={"COLUMNS": "40"})
    folder = tmp_path / "[site1]"
    folder.mkdir()
    csv = folder / "patients-of-the-first-site-with-a-long-name.csv"
    csv.write_text("dose_index,dlt\n9,yes\n")
    result = narrow.invoke(app, ["decide", "--doses", "4", "--patients", str(csv)])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "[site1]" in lines[0] and "dose_index" in lines[0]


def test_help_keeps_option_names_whole_at_a_narrow_terminal() -> None:
    """At 40 columns rich's panels would cut option names ("--des…"): the command prints
    click's plain help instead (wrapped at click's minimum of 50 columns), every option whole."""
    import os
    import subprocess
    import sys

    script = Path(sys.executable).with_name("oncotrial")
    env = {**os.environ, "COLUMNS": "40"}
    env.pop("TYPER_USE_RICH", None)
    out = subprocess.run(
        [str(script), "simulate", "--help"], capture_output=True, text=True, env=env, check=True
    ).stdout
    assert "--dont-skip / --allow-skip" in out and "--mtd-selection" in out
    assert "…" not in out and max(len(line) for line in out.splitlines()) <= 50
