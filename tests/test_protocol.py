"""The protocol model and its YAML loader.

The seed protocol is checked against the study description (../shared/DESIGN.md) and the
published facts in ../shared/calibration.md; the CRM skeleton against the defining property of
Lee & Cheung's (2009) indifference intervals as computed by dfcrm::getprior. Every refused file
must name the key path and the 1-based line of the offending key.
"""

from __future__ import annotations

import math
import pickle
from itertools import pairwise
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from oncotrial.protocol import Protocol, ProtocolError, load_protocol, parse_protocol

SEED = Path(__file__).resolve().parents[1] / "protocols" / "toripalimab-donafenib-hcc.yaml"

# A small valid protocol; each bad case below changes one thing in it.
MINIMAL = """\
study:
  id: mini
  title: Minimal protocol
  phase: I/II
drugs:
  - name: tki
    form: tablet
    route: oral
    schedule: twice daily
    role: escalated
  - name: pd1
    form: injection
    route: intravenous
    schedule: every 3 weeks
    role: fixed
    fixed_dose: {amount: 240, unit: mg, frequency: Q3W}
dose_levels:
  - level: -1
    doses:
      tki: {amount: 100, unit: mg, frequency: QD}
      pd1: {amount: 240, unit: mg, frequency: Q3W}
  - level: 1
    doses:
      tki: {amount: 100, unit: mg, frequency: BID}
      pd1: {amount: 240, unit: mg, frequency: Q3W}
  - level: 2
    doses:
      tki: {amount: 200, unit: mg, frequency: BID}
      pd1: {amount: 240, unit: mg, frequency: Q3W}
  - level: 3
    doses:
      tki: {amount: 300, unit: mg, frequency: BID}
      pd1: {amount: 240, unit: mg, frequency: Q3W}
dlt:
  window_days: 28
  evaluable:
    definition: completed the window or had a DLT
  criteria:
    - id: grade-5
      category: any
      min_grade: 5
phase1:
  design: boin
  target: 0.3
  cohort_size: 3
  max_patients: 18
  start_level: 1
  crm:
    skeleton: [0.12, 0.2, 0.3, 0.4]
  scenarios:
    - name: mtd-at-2
      dlt_probabilities: [0.05, 0.12, 0.30, 0.48]
    - name: steep
      dlt_probabilities:
        - 0.04
        - 0.27
        - 0.55
        - 0.75
phase2:
  design: simon
  endpoint: ORR
  p0: 0.2
  p1: 0.4
  alpha: 0.05
  power: 0.8
endpoints:
  primary:
    - name: DLT
      definition: dose-limiting toxicity
    - name: ORR
      definition: CR or PR by RECIST 1.1
schedule:
  tumour_assessment_weeks: 6
  followup_months: 18
"""


def line_of(text: str, needle: str) -> int:
    """1-based number of the only line of ``text`` containing ``needle``."""
    hits = [i + 1 for i, line in enumerate(text.splitlines()) if needle in line]
    assert len(hits) == 1, f"{needle!r} is on lines {hits}"
    return hits[0]


def edit(old: str, new: str, text: str = MINIMAL) -> str:
    """``text`` with its only occurrence of ``old`` replaced by ``new``."""
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


def refuse(tmp_path: Path, text: str) -> ProtocolError:
    """Write ``text`` as a protocol file and return the error loading it raises."""
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProtocolError) as info:
        load_protocol(path)
    assert info.value.path == str(path)
    return info.value


# --- the seed study ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seed() -> Protocol:
    return load_protocol(SEED)


def test_seed_study_and_drugs(seed: Protocol) -> None:
    assert seed.study.title == (
        "Toripalimab combined with donafenib in advanced hepatocellular carcinoma"
    )
    assert seed.study.phase == "I/II"
    assert seed.study.registry is None  # not found (calibration.md)
    donafenib, toripalimab = seed.drugs
    assert (donafenib.name, donafenib.form, donafenib.route, donafenib.role) == (
        "donafenib",
        "tablet",
        "oral",
        "escalated",
    )
    assert "tosilate" in (donafenib.product or "")
    assert "twice daily" in donafenib.schedule
    assert (toripalimab.route, toripalimab.role, toripalimab.code) == (
        "intravenous",
        "fixed",
        "JS001",
    )
    assert toripalimab.fixed_dose is not None
    assert str(toripalimab.fixed_dose) == "240 mg Q3W"
    assert [d.name for d in seed.escalated_drugs] == ["donafenib"]


def test_seed_dose_levels(seed: Protocol) -> None:
    assert seed.level_labels == [-1, 1, 2, 3]
    assert seed.n_doses == 4
    assert seed.phase1.start_level == 1
    assert seed.start_index == 1
    assert seed.level_index(2) == 2
    assert [str(level.doses["donafenib"]) for level in seed.dose_levels] == [
        "100 mg QD",
        "100 mg BID",
        "200 mg BID",
        "300 mg BID",
    ]
    assert [level.doses["donafenib"].daily_amount for level in seed.dose_levels] == [
        100,
        200,
        400,
        600,
    ]
    # ZGDH3's registered donafenib dose (200 mg BID) is level 2.
    assert str(seed.dose_levels[seed.level_index(2)].doses["donafenib"]) == "200 mg BID"
    assert {str(level.doses["toripalimab"]) for level in seed.dose_levels} == {"240 mg Q3W"}


def test_seed_dlt_definition(seed: Protocol) -> None:
    dlt = seed.dlt
    assert dlt.window_days == 28
    assert dlt.ctcae_version == "5.0"
    criteria = {c.id: c for c in dlt.criteria}
    nonhaem = criteria["non-haematologic-g3"]
    assert (nonhaem.category, nonhaem.min_grade, nonhaem.terms) == ("non-haematologic", 3, [])
    (exception,) = nonhaem.exceptions
    assert set(exception.terms) == {"Nausea", "Vomiting", "Diarrhea"}
    assert exception.grades == [3]
    assert exception.resolves_within_hours == 72
    neut = criteria["neutropenia-g4-7d"]
    assert (neut.terms, neut.min_grade, neut.lasting_more_than_days) == (
        ["Neutrophil count decreased"],
        4,
        7,
    )
    assert criteria["febrile-neutropenia"].terms == ["Febrile neutropenia"]
    assert criteria["thrombocytopenia-g3-bleeding"].min_grade == 3
    assert "bleeding" in (criteria["thrombocytopenia-g3-bleeding"].condition or "")
    assert criteria["thrombocytopenia-g4"].min_grade == 4
    hepatic = criteria["hepatic-g3"]
    assert (hepatic.category, hepatic.min_grade) == ("hepatic", 3)
    assert set(hepatic.terms) == {
        "Aspartate aminotransferase increased",
        "Alanine aminotransferase increased",
        "Blood bilirubin increased",
    }
    assert "14 days" in (criteria["cycle-2-delay"].condition or "")
    assert criteria["grade-5"].min_grade == 5


def test_seed_designs(seed: Protocol) -> None:
    p1 = seed.phase1
    assert (p1.design, p1.target, p1.cohort_size, p1.max_patients) == ("boin", 0.30, 3, 18)
    assert (p1.boin.phi1, p1.boin.phi2) == pytest.approx((0.18, 0.42))  # 0.6 / 1.4 x target
    assert p1.boin.cutoff_eli == 0.95
    p2 = seed.phase2
    assert p2 is not None
    assert (p2.design, p2.endpoint, p2.p0, p2.p1, p2.alpha, p2.power) == (
        "simon",
        "ORR",
        0.20,
        0.40,
        0.05,
        0.80,
    )
    assert seed.endpoints.names == ["DLT", "ORR", "ADA", "OS", "PFS"]
    assert "RECIST 1.1" in seed.endpoints.primary[1].definition
    assert seed.schedule.tumour_assessment_weeks == 6
    assert seed.schedule.followup_months == 18


def test_seed_scenarios_cover_the_planned_shapes(seed: Protocol) -> None:
    scenarios = {s.name: s.dlt_probabilities for s in seed.phase1.scenarios}
    assert 3 <= len(scenarios) <= 4
    assert all(s.rationale for s in seed.phase1.scenarios)
    target = seed.phase1.target

    def true_mtd(probs: list[float]) -> int:
        return min(range(len(probs)), key=lambda i: abs(probs[i] - target))

    assert scenarios["mtd-at-2"][seed.level_index(2)] == target
    assert max(scenarios["all-safe"]) < target
    assert scenarios["start-too-toxic"][seed.start_index] > target + 0.1
    assert true_mtd(scenarios["start-too-toxic"]) == seed.level_index(-1)
    assert min(b - a for a, b in pairwise(scenarios["steep"])) > 0.19


def test_seed_crm_skeleton_is_lee_cheung(seed: Protocol) -> None:
    """dfcrm::getprior(0.05, 0.30, nu = 3, nlevel = 4) gives 0.1225, 0.2040, 0.3000, 0.4018.

    Its defining property (empiric model): at the beta where level k reaches target + 0.05,
    level k - 1 is at target - 0.05, i.e. log(0.25) / log(s[k-1]) == log(0.35) / log(s[k]).
    """
    assert seed.phase1.crm is not None
    skeleton = seed.phase1.crm.skeleton
    assert skeleton == pytest.approx([0.1225, 0.2040, 0.3000, 0.4018], abs=6e-4)
    assert skeleton[2] == 0.30
    for lower, upper in pairwise(skeleton):
        assert math.log(0.25) / math.log(lower) == pytest.approx(
            math.log(0.35) / math.log(upper), rel=5e-3
        )


def test_seed_marks_its_assumptions(seed: Protocol) -> None:
    text = SEED.read_text(encoding="utf-8")
    assert text.count("# ASSUMPTION") >= 8
    joined = " ".join(seed.assumptions)
    for fact in (
        "not found",
        "Dose levels",
        "200 mg BID",
        "ZGDH3",
        "apatinib",
        "BOIN",
        "skeleton",
        "scenarios",
        "Simon",
    ):
        assert fact in joined, fact


def test_minimal_protocol_loads_with_defaults(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(MINIMAL, encoding="utf-8")
    p = load_protocol(path)
    assert p.level_labels == [-1, 1, 2, 3]
    assert p.start_index == 1
    assert (p.phase1.boin.phi1, p.phase1.boin.phi2) == pytest.approx((0.18, 0.42))
    assert p.phase1.boin.n_earlystop == 100
    assert p.phase1.crm is not None and p.phase1.crm.model == "empiric"
    assert p.phase1.scenario("steep").dlt_probabilities == [0.04, 0.27, 0.55, 0.75]
    assert p.phase2 is not None and p.phase2.criterion == "optimal"


def test_frequency_is_case_insensitive() -> None:
    p = parse_protocol(edit("frequency: QD}", "frequency: qd}"))
    assert p.dose_levels[0].doses["tki"].frequency == "QD"


# --- refused files ------------------------------------------------------------------------------


def test_unknown_key(tmp_path: Path) -> None:
    text = edit("  cohort_size: 3\n", "  cohort_size: 3\n  cohort_sise: 3\n")
    err = refuse(tmp_path, text)
    assert err.key_path == "phase1.cohort_sise"
    assert err.line == line_of(text, "cohort_sise")
    assert "unknown key" in err.message and "did you mean 'cohort_size'" in err.message


def test_unknown_key_in_a_list_item(tmp_path: Path) -> None:
    text = edit("      min_grade: 5\n", "      min_grade: 5\n      severity: high\n")
    err = refuse(tmp_path, text)
    assert err.key_path == "dlt.criteria[0].severity"
    assert err.line == line_of(text, "severity")


def test_dose_levels_out_of_order(tmp_path: Path) -> None:
    text = edit("amount: 300, unit: mg, frequency: BID", "amount: 150, unit: mg, frequency: BID")
    err = refuse(tmp_path, text)
    assert err.key_path == "dose_levels[3].doses.tki"
    assert err.line == line_of(text, "amount: 150")
    assert "increasing dose" in err.message


def test_dose_levels_without_any_increase(tmp_path: Path) -> None:
    text = edit("amount: 100, unit: mg, frequency: QD", "amount: 50, unit: mg, frequency: QID")
    err = refuse(tmp_path, text)
    assert err.key_path == "dose_levels[1].doses"
    assert err.line == line_of(text, "  - level: 1") + 1


def test_duplicate_level_labels(tmp_path: Path) -> None:
    text = edit("  - level: 3\n", "  - level: 2\n")
    err = refuse(tmp_path, text)
    assert err.key_path == "dose_levels[3].level"
    assert err.line == line_of(text, "amount: 300") - 2
    assert "duplicate level label 2" in err.message


def test_fixed_drug_dose_must_not_change(tmp_path: Path) -> None:
    old = "  - level: 3\n    doses:\n      tki: {amount: 300, unit: mg, frequency: BID}\n"
    text = edit(old + "      pd1: {amount: 240", old + "      pd1: {amount: 200")
    err = refuse(tmp_path, text)
    assert err.key_path == "dose_levels[3].doses.pd1"
    assert err.line == line_of(text, "pd1: {amount: 200")
    assert "fixed at 240 mg Q3W" in err.message


@pytest.mark.parametrize("value", ["1.3", "0", "1", "-0.1"])
def test_target_outside_open_unit_interval(tmp_path: Path, value: str) -> None:
    text = edit("  target: 0.3\n", f"  target: {value}\n")
    err = refuse(tmp_path, text)
    line = line_of(text, "target:")
    assert (err.key_path, err.line) == ("phase1.target", line)
    got = f"{float(value):g}"
    assert str(err) == (
        f"{tmp_path / 'bad.yaml'}:{line}: phase1.target: "
        f"must be strictly between 0 and 1 (got {got})"
    )


def test_start_level_not_defined(tmp_path: Path) -> None:
    text = edit("  start_level: 1\n", "  start_level: 0\n")
    err = refuse(tmp_path, text)
    assert (err.key_path, err.line) == ("phase1.start_level", line_of(text, "start_level"))
    assert "level 0 is not a defined dose level (levels: -1, 1, 2, 3)" in err.message


def test_scenario_of_wrong_length(tmp_path: Path) -> None:
    text = edit("[0.05, 0.12, 0.30, 0.48]", "[0.05, 0.12, 0.30]")
    err = refuse(tmp_path, text)
    assert err.key_path == "phase1.scenarios[0].dlt_probabilities"
    assert err.line == line_of(text, "[0.05, 0.12, 0.30]")
    assert "(got 3)" in err.message


def test_decreasing_scenario_points_at_the_item(tmp_path: Path) -> None:
    text = edit("        - 0.55\n", "        - 0.20\n")
    err = refuse(tmp_path, text)
    assert err.key_path == "phase1.scenarios[1].dlt_probabilities[2]"
    assert err.line == line_of(text, "- 0.20")
    assert "must not decrease" in err.message


def test_scenario_probability_outside_unit_interval(tmp_path: Path) -> None:
    text = edit("        - 0.75\n", "        - 1.5\n")
    err = refuse(tmp_path, text)
    assert err.key_path == "phase1.scenarios[1].dlt_probabilities[3]"
    assert err.line == line_of(text, "- 1.5")


def test_skeleton_of_wrong_length(tmp_path: Path) -> None:
    text = edit("[0.12, 0.2, 0.3, 0.4]", "[0.12, 0.2, 0.3]")
    err = refuse(tmp_path, text)
    assert (err.key_path, err.line) == ("phase1.crm.skeleton", line_of(text, "skeleton"))


def test_bad_yaml_syntax(tmp_path: Path) -> None:
    text = edit("  cohort_size: 3\n", "  cohort_size: 3: 4\n")
    err = refuse(tmp_path, text)
    assert err.key_path == ""
    assert err.line == line_of(text, "cohort_size: 3: 4")
    assert "YAML syntax error" in err.message
    assert str(err).startswith(f"{tmp_path / 'bad.yaml'}:{err.line}: YAML syntax error")


def test_missing_key_points_at_parent_mapping(tmp_path: Path) -> None:
    text = edit("  target: 0.3\n", "")
    err = refuse(tmp_path, text)
    assert (err.key_path, err.line) == ("phase1.target", line_of(text, "phase1:"))
    assert err.message == "required key is missing"


def test_missing_key_in_a_list_item(tmp_path: Path) -> None:
    text = edit("      definition: CR or PR by RECIST 1.1\n", "")
    err = refuse(tmp_path, text)
    assert (err.key_path, err.line) == (
        "endpoints.primary[1].definition",
        line_of(text, "name: ORR"),
    )


def test_missing_top_level_key(tmp_path: Path) -> None:
    text = edit("schedule:\n  tumour_assessment_weeks: 6\n  followup_months: 18\n", "")
    err = refuse(tmp_path, text)
    assert (err.key_path, err.line) == ("schedule", 1)


def test_duplicate_yaml_key(tmp_path: Path) -> None:
    text = edit("  cohort_size: 3\n", "  cohort_size: 3\n  cohort_size: 6\n")
    err = refuse(tmp_path, text)
    assert (err.key_path, err.line) == ("phase1.cohort_size", line_of(text, "cohort_size: 6"))
    assert f"first given at line {line_of(text, 'cohort_size: 3')}" in err.message


def test_all_errors_are_reported_in_line_order(tmp_path: Path) -> None:
    text = edit("frequency: QD}", "frequency: QQ}")
    text = edit("  target: 0.3\n", "  target: 1.3\n", text)
    text = edit("  alpha: 0.05\n", "  alpha: 5\n", text)
    err = refuse(tmp_path, text)
    assert [(i.key_path, i.line) for i in err.issues] == [
        ("dose_levels[0].doses.tki.frequency", line_of(text, "QQ")),
        ("phase1.target", line_of(text, "target: 1.3")),
        ("phase2.alpha", line_of(text, "alpha: 5")),
    ]
    assert str(err).count("\n") == 2
    assert (err.key_path, err.line) == (err.issues[0].key_path, err.issues[0].line)


def test_empty_file_and_non_mapping(tmp_path: Path) -> None:
    assert refuse(tmp_path, "# nothing here\n").line == 1
    err = refuse(tmp_path, "- study\n- drugs\n")
    assert (err.key_path, err.line) == ("", 1)
    assert "expected a mapping with keys study, drugs" in err.message


def test_error_is_a_picklable_value_error(tmp_path: Path) -> None:
    err = refuse(tmp_path, edit("  target: 0.3\n", "  target: 1.3\n"))
    assert isinstance(err, ValueError)
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.path, copy.key_path, copy.line, str(copy)) == (
        err.path,
        err.key_path,
        err.line,
        str(err),
    )


def test_model_refuses_bad_data_without_yaml() -> None:
    data = yaml.safe_load(edit("  max_patients: 18\n", "  max_patients: 2\n"))
    with pytest.raises(ValidationError) as info:
        Protocol.model_validate(data)
    (error,) = info.value.errors()
    assert error["loc"] == ("phase1", "max_patients")
    assert "at least cohort_size (3)" in error["msg"]
