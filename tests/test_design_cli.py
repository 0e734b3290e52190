"""The toxicity-and-efficacy designs and the BLRM through ``oncotrial simulate`` / ``decide``
and the protocol YAML (issue 10, sections 1-2). Each checks the command against an independent
reference where one exists: bfboin::get.oc.bf (tests/reference/bfboin), crmPack's MCMC
posterior (tests/reference/blrm), and otherwise against the library called directly."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from oncotrial.cli.main import app
from oncotrial.designs.base import TrialState
from oncotrial.designs.blrm import BLRM
from oncotrial.designs.boin12 import BOIN12
from oncotrial.designs.simulation import LatentPatients

ROOT = Path(__file__).resolve().parents[1]
PROTOCOL = ROOT / "protocols" / "toripalimab-donafenib-hcc.yaml"
REFERENCE = ROOT / "tests" / "reference"
runner = CliRunner()


def run_json(*args: str) -> dict:
    result = runner.invoke(app, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def refused(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 2, result.output
    return result.stderr


def test_bf_boin_simulate_matches_get_oc_bf() -> None:
    """Scenario S1 of make_get_oc_bf_reference.R (bfboin 0.1.1, 4,000 trials; its n.cap = 11
    is our backfill cap 12, months of 30 days): selection % per dose within 4 binomial standard
    errors of the difference; ``mean_duration_months`` beside the usual keys."""
    trials = 3000
    data = run_json(
        "simulate", "--design", "bf-boin", "--target", "0.25",
        "--truth", "0.05,0.10,0.25,0.40,0.50", "--efficacy", "0.2,0.3,0.4,0.5,0.5",
        "--cohort-size", "3", "--cohorts", "10", "--n-earlystop", "9", "--backfill-cap", "12",
        "--accrual", "uniform", "--accrual-per-month", "3", "--window-days", "30",
        "--trials", str(trials), "--seed", "5",
    )  # fmt: skip
    ref: dict[str, dict[int, float]] = {}
    with open(REFERENCE / "bfboin" / "get_oc_bf_reference.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row["scenario"] == "S1":
                ref.setdefault(row["metric"], {})[int(row["dose"])] = float(row["value"])
    n_ref = ref["trials"][0]
    for dose, pct in enumerate(data["selected_pct"], start=1):
        p = max(pct, ref["selected_pct"][dose]) / 100
        se = 100 * np.sqrt(max(p * (1 - p), 1e-4) * (1 / trials + 1 / n_ref))
        assert abs(pct - ref["selected_pct"][dose]) <= 4 * se, (dose, pct)
    assert data["mean_duration_months"] == pytest.approx(data["mean_duration_days"] / 30)
    assert abs(data["mean_duration_months"] - ref["mean_duration_months"][0]) < 1.0
    assert abs(data["mean_n"] - ref["mean_n"][0]) < 1.5
    for key in ("selected_pct", "mean_patients", "mean_backfill", "stop_reason_pct", "mean_n"):
        assert key in data
    assert sum(data["mean_backfill"]) > 0


def test_boin12_simulate_equals_the_library_on_the_same_patients() -> None:
    """``--design boin12`` runs BOIN12 on the seeded block's latent patients: the JSON is
    the library's summary (OBD selection %), trial for trial the same numbers."""
    from oncotrial.designs.efficacy import EfficacyLatents

    p_tox, p_eff = [0.05, 0.10, 0.20, 0.35, 0.50], [0.10, 0.25, 0.45, 0.50, 0.55]
    data = run_json(
        "simulate", "--design", "boin12", "--target", "0.35", "--efficacy-floor", "0.25",
        "--truth", ",".join(map(str, p_tox)), "--efficacy", ",".join(map(str, p_eff)),
        "--cohorts", "10", "--n-earlystop", "12", "--trials", "2000", "--seed", "3",
    )  # fmt: skip
    design = BOIN12(5, 0.35, 0.25, n_cohorts=10, n_earlystop=12)
    latent = EfficacyLatents.draw(2000, 30, 3, 0)
    expected = design.simulate(np.array(p_tox), np.array(p_eff), latent).summary()
    assert data["selected_pct"] == pytest.approx(expected.selected_pct)
    assert data["mean_responses"] == pytest.approx(expected.mean_responses)
    assert data["stop_reason_pct"] == pytest.approx(expected.stop_reason_pct)


def test_simulate_mixes_toxicity_and_efficacy_designs_on_common_patients() -> None:
    data = run_json(
        "simulate", "--design", "boin", "--design", "tite-boin12", "--target", "0.3",
        "--truth", "0.05,0.15,0.3,0.45", "--efficacy", "0.2,0.3,0.4,0.4",
        "--cohorts", "8", "--trials", "500", "--accrual", "poisson",
    )  # fmt: skip
    assert [r["design"] for r in data["results"]] == ["boin", "tite-boin12"]
    assert all(r["mean_duration_months"] > 0 for r in data["results"])
    assert "mean_responses" in data["results"][1] and "mean_responses" not in data["results"][0]
    # the text table names the OBD and prints at any terminal width
    text = runner.invoke(
        app,
        ["simulate", "--design", "tite-boin12", "--truth", "0.05,0.15,0.3,0.45",
         "--efficacy", "0.2,0.3,0.4,0.4", "--cohorts", "4", "--trials", "200"],
    )  # fmt: skip
    assert text.exit_code == 0, text.output
    assert "optimal biological dose" in " ".join(text.stdout.split())


def test_blrm_simulate_from_the_protocol_uses_mg_doses() -> None:
    """The protocol's donafenib levels are 100, 200, 400, 600 mg/day; the CLI's BLRM is the
    library's on the same latent patients."""
    data = run_json(
        "simulate", "--protocol", str(PROTOCOL), "--design", "blrm", "--reference-dose", "400",
        "--truth", "0.05,0.12,0.25,0.45", "--trials", "400", "--seed", "2",
    )  # fmt: skip
    design = BLRM(doses=(100, 200, 400, 600), reference_dose=400, max_patients=18, start=1)
    latent = LatentPatients.draw(400, 18, 2, 0)
    expected = design.simulate(np.array([0.05, 0.12, 0.25, 0.45]), latent).summary()
    assert data["selected_pct"] == pytest.approx(expected.selected_pct)
    assert data["mean_n"] == pytest.approx(expected.mean_n)


def test_blrm_decide_matches_crmpack_posterior() -> None:
    """crmPack 2.0.1 LogisticLogNormal MCMC (10^6 draws, tests/reference/blrm): the interval
    probabilities printed by ``decide --design blrm`` agree within 5 MCMC standard errors
    plus the quadrature's 0.002."""
    case = json.loads((REFERENCE / "blrm" / "crmpack_blrm.json").read_text())["cases"][0]
    assert case["n"] == [3, 3, 6, 0] and case["y"] == [0, 0, 2, 0]
    data = run_json(
        "decide", "--design", "blrm", "--doses", "4", "--dose-amounts", "100,200,400,600",
        "--reference-dose", "400", "--cohorts", "10", "--outcomes", "1NNN 2NNN 3NNN 3TTN",
    )  # fmt: skip
    for d, ref in enumerate(case["per_dose"]):
        for ours, key in (("p_target", "target"), ("p_over", "over")):
            assert abs(data[ours][d] - ref[key]) <= 5 * ref[f"{key}_se"] + 0.002
    # EWOC: dose 3 has Pr(over-dosing) 0.31 >= 0.25, so dose 2 is next
    assert data["next_dose"] == 2 and data["eliminated"] == [3, 4]
    state = TrialState.from_counts([3, 3, 6, 0], [0, 0, 2, 0], current=2)
    lib = BLRM(doses=(100, 200, 400, 600), reference_dose=400, max_patients=30).decide(state)
    assert data["next_dose"] == lib.next_dose + 1


def test_decide_efficacy_designs_read_responses() -> None:
    """BOIN12's published example (Lin et al. 2020; the class docstring): back to dose 2."""
    data = run_json(
        "decide", "--design", "boin12", "--doses", "5", "--target", "0.35",
        "--efficacy-floor", "0.25", "--outcomes", "1NNN 2ENT 3ETT 2EEN",
    )  # fmt: skip
    assert data["next_dose"] == 2 and data["responses"][:3] == [0, 3, 1]
    bf = run_json("decide", "--design", "bf-boin", "--doses", "3", "--target", "0.25",
                  "--outcomes", "1NEN 2NNN")  # fmt: skip
    assert bf["next_dose"] == 3 and bf["role"] == "escalation"


def test_decide_efficacy_patients_file_and_its_errors(tmp_path: Path) -> None:
    good = tmp_path / "p.csv"
    good.write_text("level,dlt,response,followup_days\n1,0,1,\n1,0,0,\n1,0,0,10\n")
    data = run_json(
        "decide", "--protocol", str(PROTOCOL), "--design", "boin12", "--patients", str(good)
    )
    assert data["pending"][1] == 1 and data["accrual_suspended"] is True
    assert data["next_level"] == 1
    bad = tmp_path / "bad.csv"
    bad.write_text("dose_index,dlt,response\n1,0,1\n1,0,maybe\n")
    err = refused("decide", "--design", "boin12", "--doses", "3", "--patients", str(bad))
    assert "row 2" in err and "'response'" in err and "maybe" in err
    missing = tmp_path / "missing.csv"
    missing.write_text("dose_index,dlt\n1,0\n")
    err = refused("decide", "--design", "bf-boin", "--doses", "3", "--patients", str(missing))
    assert "'response'" in err and "missing" in err


def test_bad_design_options_are_refused_plainly() -> None:
    truth = ("--truth", "0.05,0.1,0.3", "--trials", "10")
    err = refused("simulate", "--design", "boin12", *truth)
    assert "needs the true response probability" in err
    err = refused("simulate", "--design", "bf-boin", *truth, "--efficacy", "0.1,0.2")
    assert "--efficacy 1 has 2 values for 3 doses" in err
    err = refused("simulate", "--design", "bf-boin", *truth, "--efficacy", "0.1,0.2,0.3",
                  "--accrual", "3")  # fmt: skip
    assert "--accrual-per-month" in err
    err = refused("simulate", "--design", "blrm", *truth)
    assert "dose amounts" in err
    err = refused("simulate", "--design", "blrm", *truth, "--dose-amounts", "1,2,4")
    assert "reference dose" in err
    err = refused("simulate", "--design", "blrm", *truth, "--dose-amounts", "1,4,2",
                  "--reference-dose", "2")  # fmt: skip
    assert "increase strictly" in err
    err = refused("simulate", "--design", "blrm", *truth, "--dose-amounts", "1,2,4",
                  "--reference-dose", "2", "--blrm-prior", "0,0,1")  # fmt: skip
    assert "5 numbers" in err


def _protocol_with(tmp_path: Path, phase1: dict, drop: tuple[str, ...] = ()) -> Path:
    data = yaml.safe_load(PROTOCOL.read_text())
    for key in drop:
        data["phase1"].pop(key, None)
    data["phase1"].update(phase1)
    path = tmp_path / "protocol.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_protocol_names_the_new_designs_as_the_cli(tmp_path: Path) -> None:
    scenarios = [
        {
            "name": "plateau",
            "dlt_probabilities": [0.05, 0.12, 0.30, 0.48],
            "response_probabilities": [0.15, 0.30, 0.35, 0.35],
        }
    ]
    path = _protocol_with(
        tmp_path,
        {
            "design": "bf-boin",
            "backfill_cap": 9,
            "accrual": "uniform",
            "accrual_per_month": 3.0,
            "boin12": {"efficacy_floor": 0.2},
            "blrm": {"reference_dose": 400, "ewoc": 0.25},
            "scenarios": scenarios,
        },
    )
    data = run_json("simulate", "--protocol", str(path), "--trials", "300")
    assert data["design"] == "bf-boin" and data["efficacy"] == [0.15, 0.30, 0.35, 0.35]
    from oncotrial.designs.registry import build_design, spec_from_protocol
    from oncotrial.protocol import load_protocol

    proto = load_protocol(path)
    bf = build_design(spec_from_protocol(proto))
    assert bf.backfill_cap == 9 and bf.arrivals.kind == "uniform"  # type: ignore[attr-defined]
    assert build_design(spec_from_protocol(proto, "boin12")).efficacy_floor == 0.2  # type: ignore[attr-defined]
    blrm = build_design(spec_from_protocol(proto, "blrm"))
    assert blrm.doses == (100.0, 200.0, 400.0, 600.0)  # type: ignore[attr-defined]
    data = run_json("simulate", "--protocol", str(path), "--design", "blrm", "--trials", "100")
    assert data["design"] == "blrm"


def test_protocol_refuses_inconsistent_efficacy_blocks(tmp_path: Path) -> None:
    path = _protocol_with(
        tmp_path,
        {
            "design": "blrm",
            "scenarios": [
                {
                    "name": "s",
                    "dlt_probabilities": [0.05, 0.12, 0.30, 0.48],
                    "response_probabilities": [0.1, 0.2],
                }
            ],
        },
        drop=("blrm",),
    )
    err = refused("simulate", "--protocol", str(path))
    assert "blrm" in err and "reference_dose" in err
    assert "response_probabilities" in err and "2 values for 4 dose levels" in err


def test_protocol_names_dont_skip_as_the_cli(tmp_path: Path) -> None:
    """phase1.dont_skip is the --dont-skip behaviour; the BLRM's old no_skip key is refused at
    its path, naming the new one."""
    from oncotrial.designs.registry import build_design, spec_from_protocol
    from oncotrial.protocol import load_protocol

    free = _protocol_with(tmp_path, {"dont_skip": False})
    spec = spec_from_protocol(load_protocol(free), "blrm")
    assert not build_design(spec).no_skip  # type: ignore[attr-defined]
    shipped = spec_from_protocol(load_protocol(PROTOCOL), "blrm")
    assert shipped.dont_skip and build_design(shipped).no_skip  # type: ignore[attr-defined]
    data = yaml.safe_load(PROTOCOL.read_text())
    data["phase1"]["blrm"]["no_skip"] = True
    old = tmp_path / "old.yaml"
    old.write_text(yaml.safe_dump(data, sort_keys=False))
    err = refused("simulate", "--protocol", str(old))
    assert "phase1.blrm.no_skip" in err and "phase1.dont_skip" in err
    (tmp_path / "down").mkdir()
    down = _protocol_with(tmp_path / "down", {"design": "crm", "dont_skip_down": True})
    crm = build_design(spec_from_protocol(load_protocol(down)))
    assert crm.no_skip_down and crm.no_skipping  # type: ignore[attr-defined]
    err = refused("simulate", "--protocol", str(down), "--design", "blrm")
    assert "when de-escalating" in err
    one = run_json("simulate", "--protocol", str(free), "--design", "blrm", "--dont-skip",
                   "--trials", "50")  # fmt: skip
    assert {r["design"] for r in one["results"]} == {"blrm"}


def test_protocol_names_the_mtd_selection_as_the_cli(tmp_path: Path) -> None:
    from oncotrial.designs.behaviours import SelectBoinMTD
    from oncotrial.designs.registry import build_design, spec_from_protocol
    from oncotrial.protocol import load_protocol

    path = _protocol_with(tmp_path, {"design": "crm", "mtd_selection": "boin"})
    assert isinstance(build_design(spec_from_protocol(load_protocol(path))), SelectBoinMTD)
    bad = _protocol_with(tmp_path, {"mtd_selection": "best"})
    err = refused("simulate", "--protocol", str(bad))
    assert "phase1.mtd_selection" in err
