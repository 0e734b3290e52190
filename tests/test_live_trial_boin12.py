"""The virtual trial run with BOIN12 as the phase I design (Lin et al. 2020): the committee's
data hold each patient's response from the stored tumour assessments, the committee waits
(pauses accrual) while an outcome at the current dose is pending, every signed decision is
what BOIN12 recommends on the stored trial as of its date, and the expansion opens at the
optimal biological dose the last decision selected."""

from __future__ import annotations

from datetime import date

import pytest

from live_fixtures import play, short_protocol
from oncotrial.conduct.committee import rp2d_index
from oncotrial.conduct.phase1 import phase1_snapshot
from oncotrial.protocol import load_protocol
from oncotrial.protocol.naming import DoseNames
from oncotrial.sim.trial_run import SIMON_DESIGN
from oncotrial.store import Store


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("live12")
    protocol = short_protocol(folder, {"  design: boin\n": "  design: boin12\n"})
    url, trial = play(folder, "boin12.db", protocol)
    store = Store.open(url)
    try:
        decisions = [d for d in store.decisions() if d["status"] == "final"]
    finally:
        store.close()
    return {
        "url": url,
        "trial": trial,
        "protocol": load_protocol(protocol),
        "protocol_path": protocol,
        "decisions": decisions,
    }


def test_every_decision_replays_from_the_store_alone(played: dict) -> None:
    phase1 = [d for d in played["decisions"] if d["design"] != SIMON_DESIGN]
    assert {d["design"] for d in phase1} == {"boin12"} and len(phase1) >= 3
    store = Store.open(played["url"])
    try:
        for d in phase1:
            inputs, output = d["inputs"], d["output"]
            snapshot = phase1_snapshot(
                store, played["protocol"], date.fromisoformat(inputs["as_of"])
            )
            assert snapshot.snapshot_hash == d["snapshot_hash"]
            counts = snapshot.counts()
            assert counts["responses"] == inputs["responses"]
            assert counts["pending"] == inputs["pending"]
            replayed = snapshot.decide().to_json()
            assert {k: output[k] for k in replayed} == replayed
    finally:
        store.close()


def test_the_committee_waits_for_pending_outcomes(played: dict) -> None:
    phase1 = [d for d in played["decisions"] if d["design"] != SIMON_DESIGN]
    for d in phase1:
        current = d["inputs"]["current_dose"]
        waiting = d["inputs"]["pending"][current - 1] if current else 0
        if d["action"] == "dose":
            assert waiting == 0  # BOIN12 decides on complete data at the current dose
        if waiting and d is not phase1[-1]:
            assert d["action"] == "pause"
    assert any(d["action"] == "pause" for d in phase1)  # the efficacy window outlasts the DLT's
    final = phase1[-1]
    assert final["action"] == "stop" and final["inputs"]["pending"] == [0, 0, 0, 0]


def test_the_expansion_opens_at_the_selected_obd(played: dict) -> None:
    final = [d for d in played["decisions"] if d["design"] != SIMON_DESIGN][-1]
    assert "obd" in final["output"]
    chosen = rp2d_index(final["output"])
    assert chosen == played["trial"].recommended_dose
    assert chosen is not None  # this seed's trial selects an OBD
    assert final["output"]["obd"] == chosen + 1
    store = Store.open(played["url"])
    try:
        dm = store.records("DM")
    finally:
        store.close()
    label = DoseNames.of(played["protocol"]).short(chosen)
    assert set(dm[dm.PHASE == "II"].ARMCD) == {label.replace("-", "M")}


def test_the_board_and_the_decision_pages_show_the_responses(played: dict) -> None:
    from conduct_fixtures import PASSWORD
    from oncotrial.conduct import Study, accounts
    from web_helpers import client, login

    study = Study.open(played["url"], played["protocol_path"], migrate=False)
    try:
        admin = study.system_actor("test-setup")
        accounts.add_user(study, admin, "stat2", "statistician", PASSWORD, full_name="Reviewer")
        web = client(study)
        login(web, "stat2")
        paused = [d for d in played["decisions"] if d["action"] == "pause"]
        board = web.get(f"/board?as_of={paused[0]['inputs']['as_of']}")
        assert board.status_code == 200 and "with a response" in board.text
        assert "evaluable (both outcomes known)" in board.text
        page = web.get(f"/meeting/{paused[-1]['id']}")
        assert page.status_code == 200 and "wait for the pending patients" in page.text
    finally:
        study.close()
