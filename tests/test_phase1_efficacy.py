"""Phase I of a toxicity-and-efficacy design (BOIN12, TITE-BOIN12) read from the store: each
subject's response is an investigator's overall response CR/PR (RS OVRLRESP) inside the
efficacy window, pending while the window runs, and the committee's data and the design's
decision equal the design's on the same patients written out by hand (Lin et al. 2020: the
design decides on the DLT and response outcomes of the patients so far)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from oncotrial.cli.main import app
from oncotrial.conduct.phase1 import (
    NON_RESPONDER,
    RESPONDER,
    RESPONSE_PENDING,
    Phase1DesignError,
    phase1_snapshot,
)
from oncotrial.designs.efficacy import EfficacyPatient, EfficacyState
from oncotrial.designs.registry import build_design, spec_from_protocol
from oncotrial.designs.result import result_of
from oncotrial.protocol import load_protocol
from oncotrial.protocol.naming import DoseNames
from oncotrial.store import init_db
from phase1_fixtures import START, StoredPatient, store_phase1

pytest_plugins = ["store_fixtures"]

SHIPPED = Path(__file__).resolve().parents[1] / "protocols" / "toripalimab-donafenib-hcc.yaml"
LEVELS = ["L-1", "L1", "L2", "L3"]
runner = CliRunner(env={"COLUMNS": "200"})


def boin12_protocol(folder: Path) -> Path:
    """The shipped protocol with BOIN12 as the phase I design (same settings)."""
    data = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    data["phase1"]["design"] = "boin12"
    path = folder / "boin12.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def protocol_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return boin12_protocol(tmp_path_factory.mktemp("proto"))


def test_responses_are_read_in_the_efficacy_window(store, protocol_path: Path) -> None:
    protocol = load_protocol(protocol_path)
    window = protocol.phase1.boin12.efficacy_window_days
    assert window == 45  # the first 6-week assessment and its +/- 3-day visit window
    store_phase1(
        store,
        [
            (
                "L1",
                [
                    StoredPatient(0, response_day=40),  # responder, day 40
                    StoredPatient(0, response_day=50),  # PR after the window: no response
                    StoredPatient(0, dlt_day=9),  # DLT, no response, window over
                ],
            ),
            (
                "L2",
                [
                    StoredPatient(40, dlt_day=5),  # DLT known, response pending
                    StoredPatient(50, response_day=3),  # responder within days, DLT pending
                    StoredPatient(55),  # both pending
                ],
            ),
        ],
    )
    as_of = START + timedelta(days=60)
    snap = phase1_snapshot(store, protocol, as_of)
    got = {r.usubjid[-4:]: r.response for r in snap.rows}
    assert got["0101"].status == RESPONDER and got["0101"].day == 40
    assert got["0102"].status == NON_RESPONDER and got["0102"].day is None
    assert got["0103"].status == NON_RESPONDER
    assert got["0201"].status == RESPONSE_PENDING and got["0201"].days_followed == 20
    assert got["0202"].status == RESPONDER and got["0202"].day == 3
    assert got["0203"].status == RESPONSE_PENDING
    assert isinstance(snap.state, EfficacyState)
    assert snap.state.patients == (
        EfficacyPatient(1, False, True),
        EfficacyPatient(1, False, False),
        EfficacyPatient(1, True, False),
        EfficacyPatient(2, True, False, 20.0),
        EfficacyPatient(2, False, True, 10.0),
        EfficacyPatient(2, False, False, 5.0),
    )
    assert snap.counts() == {
        "evaluable": [0, 3, 0, 0],
        "dlts": [0, 1, 1, 0],
        "responses": [0, 1, 1, 0],
        "pending": [0, 0, 3, 0],
        "treated": [0, 3, 3, 0],
    }
    csv_lines = snap.patients_csv().splitlines()
    assert csv_lines[0].endswith(",response") and csv_lines[1].endswith(",yes")
    # the hash covers the responses: a response recorded later changes it
    assert "response" in snap.content()["patients"][0]
    decision = snap.decide()
    assert decision.accrual_suspended and decision.next_dose == 2  # BOIN12 waits at L2


def test_toxicity_designs_keep_their_snapshot_content(store) -> None:
    """A toxicity design reads no responses: its rows (and hashes) are as before."""
    store_phase1(store, [("L1", [StoredPatient(0, response_day=40)])])
    snap = phase1_snapshot(store, load_protocol(SHIPPED), START + timedelta(days=60))
    assert snap.rows[0].response is None
    assert "response" not in snap.content()["patients"][0]


def test_bf_boin_is_refused_with_its_reason(store) -> None:
    with pytest.raises(Phase1DesignError, match="backfill patients need cohort slots"):
        phase1_snapshot(store, load_protocol(SHIPPED), START, design="bf-boin")


def by_hand(cohorts: list, as_of: date, window: int = 45) -> tuple[EfficacyPatient, ...]:
    """The patients written out from the generated data, without the store."""
    out = []
    for level, patients in cohorts:
        for first_day, dlt_day, response_day in patients:
            first = START + timedelta(first_day)
            if first > as_of:
                continue
            followed = (as_of - first).days
            dlt = dlt_day is not None and first + timedelta(dlt_day - 1) <= as_of
            responded = (
                response_day is not None
                and response_day <= window
                and first + timedelta(response_day - 1) <= as_of
            )
            waiting = (not dlt and followed < 28) or (not responded and followed < window)
            out.append(
                EfficacyPatient(
                    LEVELS.index(level),
                    dlt,
                    responded,
                    float(min(followed, window)) if waiting else None,
                )
            )
    return tuple(out)


patients_strategy = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=90),  # first dose, days after START
        st.one_of(st.none(), st.integers(min_value=1, max_value=28)),  # DLT onset day
        st.one_of(st.none(), st.integers(min_value=1, max_value=60)),  # PR day
    ),
    min_size=1,
    max_size=3,
)


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # each example builds a database
)
@given(
    cohorts=st.lists(st.tuples(st.sampled_from(LEVELS), patients_strategy), min_size=1, max_size=4),
    as_of_day=st.integers(min_value=0, max_value=160),
    design=st.sampled_from(["boin12", "tite-boin12"]),
)
def test_property_decide_db_equals_the_design_by_hand(
    tmp_path_factory: pytest.TempPathFactory,
    protocol_path: Path,
    cohorts: list,
    as_of_day: int,
    design: str,
) -> None:
    db = tmp_path_factory.mktemp("prop") / "trial.db"
    store = init_db(f"sqlite:///{db}")
    stored = [(lvl, [StoredPatient(f, d, True, r) for f, d, r in ps]) for lvl, ps in cohorts]
    store_phase1(store, stored)
    store.close()
    as_of = START + timedelta(as_of_day)
    protocol = load_protocol(protocol_path)
    spec = spec_from_protocol(protocol, design)
    state = EfficacyState(spec.n_doses, by_hand(cohorts, as_of), None, 28.0, 45.0)
    built = build_design(spec)
    decision = built.decide(state, DoseNames.of(protocol, spec.n_doses))  # type: ignore[call-arg, arg-type]
    expected = {**decision.to_json(), "result": result_of(built, state, decision).to_json()}
    args = ["decide", "--db", str(db), "--as-of", as_of.isoformat(), "--protocol"]
    result = runner.invoke(app, [*args, str(protocol_path), "--design", design, "--format", "json"])
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    got.pop("snapshot")
    got.pop("next_level", None)
    assert got == json.loads(json.dumps({"design": design, **expected}, default=float))
