"""Phase I read from the store (issue 9 §1): the snapshot's rows and hash, ``decide --db`` equal
to ``decide --patients`` on its export, and the property that for random stored phase I data
``decide --db`` gives what the design's own ``decide`` gives on the same patients by hand.

Independent reference for the numbers themselves: the designs are checked against R (BOIN
``get.boundary``/``select.mtd``, dfcrm, …) in their own tests; here the reference is the design
object fed by hand, so the only thing under test is the reading of the store.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from oncotrial.cli.main import app
from oncotrial.conduct.phase1 import COMPLETE, DLT, NOT_DOSED, PENDING, phase1_snapshot
from oncotrial.designs.base import Patient, TrialState
from oncotrial.designs.registry import build_design, spec_from_protocol
from oncotrial.protocol import load_protocol
from oncotrial.store import init_db
from phase1_fixtures import START, StoredPatient, store_phase1

pytest_plugins = ["store_fixtures"]

PROTOCOL_PATH = Path(__file__).resolve().parents[1] / "protocols" / "toripalimab-donafenib-hcc.yaml"
PROTOCOL = load_protocol(PROTOCOL_PATH)
runner = CliRunner(env={"COLUMNS": "200"})
LEVELS = ["L-1", "L1", "L2", "L3"]


def decide_json(*args: str) -> dict:
    result = runner.invoke(app, ["decide", *args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_snapshot_rows_window_dates_and_statuses(store) -> None:
    store_phase1(
        store,
        [
            ("L1", [StoredPatient(0), StoredPatient(2, dlt_day=9), StoredPatient(20)]),
            ("L2", [StoredPatient(None)]),
        ],
    )
    as_of = START + timedelta(days=30)
    snap = phase1_snapshot(store, PROTOCOL, as_of)
    rows = {r.usubjid[-4:]: r for r in snap.rows}
    first = rows["0101"]
    assert first.first_dose == START.isoformat()
    assert first.window_end == (START + timedelta(days=27)).isoformat()  # days 1..28
    assert first.status == COMPLETE and first.dlt is False and first.days_remaining == 0
    dlt = rows["0102"]
    assert dlt.status == DLT and dlt.first_dlt is not None
    assert (dlt.first_dlt.term, dlt.first_dlt.grade, dlt.first_dlt.onset_day) == (
        "Platelet count decreased",
        "4",
        9,
    )
    pending = rows["0103"]
    assert pending.status == PENDING and pending.days_followed == 10
    assert pending.days_remaining == 18
    assert rows["0201"].status == NOT_DOSED
    assert all(r.ex_level == r.level for r in snap.rows if r.first_dose)
    # the design's state: three patients at L1 (index 1), one pending with 10 days followed
    assert snap.state.patients == (
        Patient(1, False),
        Patient(1, True, 9.0),
        Patient(1, False, None, 10.0),
    )


def test_window_completes_exactly_after_its_last_day(store) -> None:
    store_phase1(store, [("L1", [StoredPatient(0)])])
    last_day = START + timedelta(days=27)
    assert phase1_snapshot(store, PROTOCOL, last_day).rows[0].status == PENDING
    assert phase1_snapshot(store, PROTOCOL, last_day + timedelta(1)).rows[0].status == COMPLETE


def test_dlt_not_yet_known_on_as_of_and_protocol_judgement_without_flag(store) -> None:
    store_phase1(
        store,
        [("L1", [StoredPatient(0, dlt_day=15), StoredPatient(0, 14, investigator_flag=False)])],
    )
    before = phase1_snapshot(store, PROTOCOL, START + timedelta(days=12))
    assert [r.status for r in before.rows] == [PENDING, PENDING]
    after = phase1_snapshot(store, PROTOCOL, START + timedelta(days=40))
    assert [r.status for r in after.rows] == [DLT, DLT]
    assert after.rows[1].dlts[0].assessed_by == "protocol definition"


def test_snapshot_hash_is_stable_and_follows_the_data(tmp_path: Path) -> None:
    cohorts = [("L1", [StoredPatient(0), StoredPatient(1, dlt_day=5)])]
    day = START + timedelta(days=40)
    hashes = []
    for name in ("a", "b"):
        store = init_db(f"sqlite:///{tmp_path / name}.db")
        store_phase1(store, cohorts)
        hashes.append(phase1_snapshot(store, PROTOCOL, day).snapshot_hash)
        store.close()
    assert hashes[0] == hashes[1] and len(hashes[0]) == 64
    store = init_db(f"sqlite:///{tmp_path / 'c'}.db")
    store_phase1(store, [("L1", [StoredPatient(0), StoredPatient(1)])])
    assert phase1_snapshot(store, PROTOCOL, day).snapshot_hash != hashes[0]
    assert phase1_snapshot(store, PROTOCOL, day + timedelta(1)).snapshot_hash != hashes[0]
    store.close()


@pytest.mark.parametrize("design", ["boin", "tite-boin", "3+3"])
def test_decide_db_equals_decide_patients_on_its_export(tmp_path: Path, design: str) -> None:
    db = tmp_path / "trial.db"
    store = init_db(f"sqlite:///{db}")
    store_phase1(
        store,
        [
            ("L1", [StoredPatient(0), StoredPatient(1), StoredPatient(3)]),
            ("L2", [StoredPatient(31, dlt_day=6), StoredPatient(33), StoredPatient(50)]),
        ],
    )
    store.close()
    export = tmp_path / "patients.csv"
    common = ["--protocol", str(PROTOCOL_PATH), "--design", design]
    stored = decide_json(
        "--db", str(db), "--as-of", "2025-03-10", "--save-patients", str(export), *common
    )
    by_file = decide_json("--patients", str(export), *common)
    snapshot = stored.pop("snapshot")
    assert stored == by_file
    assert snapshot["as_of"] == "2025-03-10" and len(snapshot["snapshot_hash"]) == 64
    assert sum(snapshot["counts"]["pending"]) == 1  # the patient dosed on day 50 (2025-02-25)
    # and the text output names the snapshot
    text = runner.invoke(app, ["decide", "--db", str(db), "--as-of", "2025-03-10", *common])
    assert text.exit_code == 0 and "1 pending" in text.output


def test_decide_db_errors_are_plain_lines(tmp_path: Path) -> None:
    missing = tmp_path / "none.db"
    result = runner.invoke(app, ["decide", "--db", str(missing)])
    assert result.exit_code == 2 and "not a trial database" in result.output
    assert not missing.exists()
    db = tmp_path / "trial.db"
    init_db(f"sqlite:///{db}").close()
    result = runner.invoke(app, ["decide", "--db", str(db), "--as-of", "10/03/2025"])
    assert result.exit_code == 2 and "--as-of" in result.output
    result = runner.invoke(app, ["decide", "--doses", "4", "--as-of", "2025-03-10"])
    assert result.exit_code == 2 and "need --db" in result.output
    result = runner.invoke(app, ["decide", "--db", str(db), "--outcomes", "1NNN"])
    assert result.exit_code == 2 and "not several" in result.output


# ---- the property: random stored phase I data -------------------------------------------------

patients_strategy = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=90),  # first dose, days after START
        st.one_of(st.none(), st.integers(min_value=1, max_value=28)),  # DLT onset day
    ),
    min_size=1,
    max_size=3,
)
cohorts_strategy = st.lists(
    st.tuples(st.sampled_from(LEVELS), patients_strategy), min_size=1, max_size=4
)


def by_hand(cohorts: list, as_of: date) -> tuple[Patient, ...]:
    """The same patients written out from the generated data, without the store."""
    out = []
    for level, patients in cohorts:
        index = LEVELS.index(level)
        for first_day, dlt_day in patients:
            first = START + timedelta(first_day)
            if first > as_of:
                continue
            followed = (as_of - first).days
            if dlt_day is not None and first + timedelta(dlt_day - 1) <= as_of:
                out.append(Patient(index, True, float(dlt_day)))
            elif followed >= 28:
                out.append(Patient(index, False))
            else:
                out.append(Patient(index, False, None, float(followed)))
    return tuple(out)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # each example builds a database
)
@given(
    cohorts=cohorts_strategy,
    as_of_day=st.integers(min_value=0, max_value=130),
    design=st.sampled_from(["boin", "tite-boin", "3+3", "crm", "tite-crm", "keyboard"]),
)
def test_property_decide_db_equals_the_design_by_hand(
    tmp_path_factory: pytest.TempPathFactory, cohorts: list, as_of_day: int, design: str
) -> None:
    db = tmp_path_factory.mktemp("prop") / "trial.db"
    store = init_db(f"sqlite:///{db}")
    store_phase1(store, [(lvl, [StoredPatient(f, d) for f, d in ps]) for lvl, ps in cohorts])
    store.close()
    as_of = START + timedelta(as_of_day)
    spec = spec_from_protocol(PROTOCOL, design)
    state = TrialState(n_doses=spec.n_doses, patients=by_hand(cohorts, as_of), window_days=28.0)
    expected = build_design(spec).decide(state).to_json()
    got = decide_json(
        "--db",
        str(db),
        "--as-of",
        as_of.isoformat(),
        "--protocol",
        str(PROTOCOL_PATH),
        "--design",
        design,
    )
    got.pop("snapshot")
    got.pop("next_level", None)
    expected = {"design": design, **expected}
    assert json.loads(json.dumps(got)) == json.loads(json.dumps(expected, default=float))
