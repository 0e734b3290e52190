"""``oncotrial km`` on the command line: R's ``survival`` numbers through the command (lung,
Loprinzi et al. 1994, as shipped with R; reference values written by
``tests/reference/survival/``'s R script), file formats, one ADaM parameter at a time
(``--param``), one row per subject, errors that name file, row and column, and the README's
example run as written."""

from __future__ import annotations

import functools
import gzip
import json
import re
import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from oncotrial.cli.main import app as main_app
from oncotrial.cli.survival import km

ROOT = Path(__file__).resolve().parents[1]
REF = Path(__file__).resolve().parent / "reference" / "survival"
RTOL = 1e-8


@functools.cache
def reference() -> pd.DataFrame:
    return pd.read_csv(REF / "survival_reference.csv", na_values=["NA"], keep_default_na=False)


def r(case: str, quantity: str) -> np.ndarray:
    ref = reference()
    rows = ref[(ref["case"] == case) & (ref["quantity"] == quantity)].sort_values("index")
    assert len(rows), f"no R reference for {case} / {quantity}"
    return rows["value"].to_numpy(dtype=float)


@functools.cache
def dataset(name: str) -> pd.DataFrame:
    return pd.read_csv(REF / f"{name}.csv")


def km_app() -> typer.Typer:
    app = typer.Typer()
    app.command()(km)
    return app


runner = CliRunner(env={"COLUMNS": "200"})  # help text is checked for content, not layout


def lung_file(tmp_path: Path, suffix: str = ".csv") -> Path:
    lung = dataset("lung")
    frame = pd.DataFrame(
        {
            "days": lung["time"],
            "death": (lung["status"] == 2).astype(int),
            "sex": lung["sex"].map({1: "male", 2: "female"}),
        }
    )
    path = tmp_path / f"lung{suffix}"
    if suffix == ".parquet":
        frame.to_parquet(path)
    elif suffix == ".csv.gz":
        with gzip.open(path, "wt") as handle:
            frame.to_csv(handle, index=False)
    else:
        frame.to_csv(path, index=False)
    return path


def run_km(*args: str) -> dict:
    result = runner.invoke(km_app(), [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".parquet"])
def test_cli_json_lung(tmp_path: Path, suffix: str) -> None:
    # R: survfit(Surv(time, status) ~ 1, lung): median 310 (285–363); summary at 180 and 365
    path = lung_file(tmp_path, suffix)
    data = run_km(str(path), "--time", "days", "--event", "death", "--at", "180,365")
    assert "logrank" not in data
    (group,) = data["groups"]
    assert (group["group"], group["n"], group["events"]) == ("all", 228, 165)
    assert group["median"] == 310 and group["median_ci"] == [285, 363]
    assert [row["n_risk"] for row in group["survival_at"]] == [160, 65]
    np.testing.assert_allclose(
        [row["surv"] for row in group["survival_at"]], r("lung_log", "at_surv")[3:5], rtol=RTOL
    )


def test_cli_by_sex_log_log_and_plot(tmp_path: Path) -> None:
    # R: survdiff(Surv(time, status) ~ sex, lung) → chisq 10.33 on 1 df; survfit(...,
    # conf.type = "log-log") medians by sex and their CIs (quantile reference, print rule)
    path = lung_file(tmp_path)
    figure = tmp_path / "km.png"
    data = run_km(
        str(path), "--time", "days", "--event", "death", "--by", "sex",
        "--conf-type", "log-log", "--at", "365,2000", "--plot", str(figure),
    )  # fmt: skip
    assert [g["group"] for g in data["groups"]] == ["female", "male"]
    assert data["logrank"]["df"] == 1
    assert data["logrank"]["chisq"] == pytest.approx(r("lr_lung_sex", "chisq")[0], rel=RTOL)
    female, male = data["groups"]
    np.testing.assert_allclose(
        [female["median"], *female["median_ci"]],
        [r("lung_sex2_log-log", q)[0] for q in ("print_median", "print_lcl", "print_ucl")],
    )
    np.testing.assert_allclose(
        [male["median"], *male["median_ci"]],
        [r("lung_sex1_log-log", q)[0] for q in ("print_median", "print_lcl", "print_ucl")],
    )
    beyond = male["survival_at"][1]
    assert beyond == {"time": 2000, "surv": None, "lower": None, "upper": None, "n_risk": 0}
    assert figure.stat().st_size > 10_000


def test_cli_text_output(tmp_path: Path) -> None:
    # R: print(survfit(Surv(time, status) ~ sex, lung)) → sex=1 median 270 (212–310),
    # sex=2 426 (348–550); survdiff → Chisq = 10.3 (10.33 to two decimals)
    result = runner.invoke(
        km_app(), [str(lung_file(tmp_path)), "--time", "days", "--event", "death", "--by", "sex"]
    )
    assert result.exit_code == 0, result.output
    assert "426 (348–550)" in result.output and "270 (212–310)" in result.output
    assert "chi-square 10.33 on 1 df" in result.output


def test_cli_single_group_has_no_logrank_p(tmp_path: Path) -> None:
    path = tmp_path / "one.csv"
    path.write_text("t,e,arm\n1,1,A\n2,0,A\n3,1,A\n")
    result = runner.invoke(km_app(), [str(path), "--time", "t", "--event", "e", "--by", "arm"])
    assert result.exit_code == 0, result.output
    assert "only one group" in result.output
    data = run_km(str(path), "--time", "t", "--event", "e", "--by", "arm")
    assert data["logrank"] == {"chisq": 0.0, "df": 0, "p": None}
    assert data["groups"][0]["median"] == 3 and data["groups"][0]["median_ci"][1] is None


def test_cli_help_explains_every_option() -> None:
    result = runner.invoke(km_app(), ["--help"], terminal_width=200)
    assert result.exit_code == 0
    for option in ("--time", "--event", "--by", "--conf-type", "--at", "--plot", "--format"):
        assert option in result.output
    assert "censored" in result.output and "log-log" in result.output


@pytest.mark.parametrize(
    ("content", "args", "expected"),
    [
        ("t,e\n1,1\n", ["--time", "days", "--event", "e"], r"no column 'days'"),
        (
            "t,e\n1,1\nabc,0\n",
            ["--time", "t", "--event", "e"],
            r"row 2 \(line 3\), column 't'.*'abc' is not a number",
        ),
        (
            "t,e\n1,1\n-3,0\n",
            ["--time", "t", "--event", "e"],
            r"row 2 \(line 3\), column 't'.*negative",
        ),
        (
            "t,e\n1,3\n",
            ["--time", "t", "--event", "e"],
            r"row 1 \(line 2\), column 'e'.*1 \(event\) or 0",
        ),
        ("t,e\n1,\n", ["--time", "t", "--event", "e"], r"row 1 \(line 2\), column 'e'.*not empty"),
        (
            "t,e,g\n1,1,\n",
            ["--time", "t", "--event", "e", "--by", "g"],
            r"column 'g'.*group is missing",
        ),
        ("t,e\n1,1\n", ["--time", "t", "--event", "e", "--at", "1,x"], r"--at"),
    ],
)
def test_cli_errors_name_file_row_and_column(
    tmp_path: Path, content: str, args: list[str], expected: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    result = runner.invoke(km_app(), [str(path), *args])
    assert result.exit_code == 2
    message = " ".join(result.output.split())  # rich wraps long lines
    assert "bad.csv" in "".join(message.split()) or "--at" in expected
    assert re.search(expected, message), message


def test_cli_reports_all_bad_rows_at_once(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("t,e\nx,1\n2,5\n3,1\n")
    result = runner.invoke(km_app(), [str(path), "--time", "t", "--event", "e"])
    assert result.exit_code == 2
    assert "2 data error(s)" in result.output
    assert "row 1" in result.output and "row 2" in result.output


def test_cli_missing_file(tmp_path: Path) -> None:
    result = runner.invoke(km_app(), [str(tmp_path / "none.csv"), "--time", "t", "--event", "e"])
    assert result.exit_code == 2 and "none.csv:nosuchfile" in "".join(result.output.split())


def test_cli_reads_r_and_adam_event_codings(tmp_path: Path) -> None:
    """R's lung data codes status 1 = censored, 2 = dead (R ``Surv``); ADaM ADTTE has CNSR
    (1 = censored). Both give the published lung median of 310 days (R survfit)."""
    lung = REF / "lung.csv"
    result = runner.invoke(
        km_app(), [str(lung), "--time", "time", "--event", "status", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["groups"][0]["median"] == 310
    frame = pd.read_csv(lung)
    frame["CNSR"] = (frame["status"] == 1).astype(int)
    adtte = tmp_path / "adtte.csv"
    frame.to_csv(adtte, index=False)
    result = runner.invoke(
        km_app(), [str(adtte), "--time", "time", "--event", "CNSR", "--cnsr", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["groups"][0]["median"] == 310


def adtte_file(tmp_path: Path) -> Path:
    """lung as an ADaM ADTTE with two parameters per subject (OS as R's lung time; PFS half
    of it, an event for everyone)."""
    lung = dataset("lung")
    subjects = [f"S-{i:03d}" for i in range(len(lung))]
    os_rows = pd.DataFrame(
        {
            "USUBJID": subjects,
            "PARAMCD": "OS",
            "AVAL": lung["time"],
            "CNSR": (lung["status"] == 1).astype(int),
        }
    )
    pfs_rows = os_rows.assign(PARAMCD="PFS", AVAL=lung["time"] / 2, CNSR=0)
    path = tmp_path / "adtte.csv"
    pd.concat([os_rows, pfs_rows], ignore_index=True).to_csv(path, index=False)
    return path


def test_one_parameter_of_an_adtte_is_analysed(tmp_path: Path) -> None:
    # R: survfit(Surv(time, status) ~ 1, lung) → median 310 days, 165 deaths of 228
    path = adtte_file(tmp_path)
    data = run_km(str(path), "--param", "OS", "--time", "AVAL", "--event", "CNSR", "--cnsr")
    (group,) = data["groups"]
    assert data["param"] == "OS" and (group["n"], group["events"], group["median"]) == (
        228,
        165,
        310,
    )
    pfs = run_km(str(path), "--param", "PFS", "--time", "AVAL", "--event", "CNSR", "--cnsr")
    assert pfs["groups"][0]["events"] == 228


def test_several_parameters_need_param_and_a_subject_twice_is_refused(tmp_path: Path) -> None:
    path = adtte_file(tmp_path)
    args = ["--time", "AVAL", "--event", "CNSR", "--cnsr"]
    result = runner.invoke(km_app(), [str(path), *args])
    assert result.exit_code == 2
    assert "several parameters (OS, PFS): choose one with --param" in result.output
    missing = runner.invoke(km_app(), [str(path), "--param", "DOR", *args])
    assert (
        missing.exit_code == 2 and "no rows of PARAMCD DOR (parameters: OS, PFS)" in missing.output
    )
    frame = pd.read_csv(path)
    frame.loc[frame.PARAMCD == "PFS", "PARAMCD"] = "OS"
    twice = tmp_path / "twice.csv"
    frame.iloc[[0, 1, 228]].to_csv(twice, index=False)
    result = runner.invoke(km_app(), [str(twice), "--param", "OS", *args])
    assert result.exit_code == 2, result.output
    assert "subject S-000 appears 2 times (rows 1, 3; lines 2, 4) in one analysis" in result.output
    no_paramcd = tmp_path / "plain.csv"
    frame.drop(columns=["PARAMCD"]).iloc[[0, 228]].to_csv(no_paramcd, index=False)
    result = runner.invoke(km_app(), [str(no_paramcd), *args])
    assert result.exit_code == 2 and "subject S-000 appears 2 times" in result.output


def test_the_readme_example_works_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """README's ``derive`` then ``km`` lines, on a virtual trial's SDTM."""
    readme = (ROOT / "README.md").read_text()
    lines = {
        word: next(
            line.strip().removeprefix(".venv/bin/oncotrial ")
            for line in readme.splitlines()
            if line.strip().startswith(f".venv/bin/oncotrial {word} ")
        )
        for word in ("derive", "km")
    }
    monkeypatch.chdir(tmp_path)
    (tmp_path / "protocols").mkdir()
    (tmp_path / "protocols" / "toripalimab-donafenib-hcc.yaml").write_text(
        (ROOT / "protocols" / "toripalimab-donafenib-hcc.yaml").read_text()
    )
    for step in (
        [
            "simulate-trial",
            "--protocol",
            "protocols/toripalimab-donafenib-hcc.yaml",
            "--db",
            "t.db",
        ],
        ["db", "export", "--db", "t.db", "--out", "SDTM_DIR"],
        shlex.split(lines["derive"].split(" [")[0]),
        shlex.split(lines["km"]),
    ):
        result = runner.invoke(main_app, step)
        assert result.exit_code == 0, (step, result.output)
    assert (tmp_path / "km.png").stat().st_size > 10_000
