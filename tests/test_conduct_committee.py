"""The committee's workflow as use cases (issue 9 §2): the system opens cohort 1 at the starting
dose, sites reserve its slots, the statistician proposes from a snapshot (a pending patient
makes BOIN wait; once complete, 0/3 DLTs escalates — the BOIN boundaries λe = 0.2365,
λd = 0.3585 of Liu & Yuan 2015, Table 1, target 0.3), members choose within the admissible set
(no skipping, no eliminated dose) or pause, the required members e-sign, the final decision opens
the next cohort; a DLT assessment changed afterwards flags the decision."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest

from conduct_fixtures import AE_VALUES, PASSWORD, actor, eligible_answers
from oncotrial.conduct import (
    AuthenticationError,
    InvalidInputError,
    PermissionDeniedError,
    StateError,
    Study,
    entry,
)
from oncotrial.conduct.board import dlt_board
from oncotrial.conduct.cohorts import cohorts, open_first_cohort, reserve_slot
from oncotrial.conduct.committee import (
    FINAL,
    PROPOSED,
    SUPERSEDED,
    choose_dose,
    decision_list,
    get_decision,
    propose_decision,
    sign_decision,
)
from oncotrial.conduct.notifications import notifications, sae_clock
from oncotrial.store import Store
from phase1_fixtures import StoredPatient, store_phase1, study_without_cohorts

pytest_plugins = ["store_fixtures", "conduct_fixtures"]

FIRST_DOSES = ("2025-01-13", "2025-01-15", "2025-01-20")


@pytest.fixture
def study(tmp_path: Path) -> Iterator[Study]:
    trial = study_without_cohorts(f"sqlite:///{tmp_path / 'trial.db'}")
    yield trial
    trial.close()


def screened(study: Study, site: str = "01") -> str:
    who = actor(study, f"crc{site}")
    answers = {"site": site, "consent_date": "2025-01-06", **eligible_answers(study)}
    return entry.screen(study, who, answers).usubjid


def dose(study: Study, usubjid: str, day: str, amount: str = "100") -> None:
    entry.save_form(
        study,
        actor(study, "crc01"),
        usubjid,
        "EX-DONAFENIB",
        {"cycle": "1", "start": day, "dose": amount, "frequency": "BID"},
    )


def first_cohort_dosed(study: Study) -> list[str]:
    open_first_cohort(study, actor(study, "stat"))
    crc = actor(study, "crc01")
    subjects = []
    for day in FIRST_DOSES:
        usubjid = screened(study)
        reserve_slot(study, crc, usubjid, on=date(2025, 1, 8))
        dose(study, usubjid, day)
        subjects.append(usubjid)
    return subjects


def test_the_system_opens_cohort_one_and_slots_are_reserved_not_typed(study: Study) -> None:
    with pytest.raises(PermissionDeniedError):
        open_first_cohort(study, actor(study, "crc01"))
    first = open_first_cohort(study, actor(study, "stat"))
    assert (first.number, first.level, first.free) == (1, "L1", 3)
    assert first.level_name == "L1, donafenib 100 mg bid"
    with pytest.raises(StateError, match="cohorts already"):
        open_first_cohort(study, actor(study, "stat"))
    crc = actor(study, "crc01")
    reservations = [reserve_slot(study, crc, screened(study)) for _ in range(3)]
    assert [(r.cohort, r.slot, r.level) for r in reservations] == [
        (1, 1, "L1"),
        (1, 2, "L1"),
        (1, 3, "L1"),
    ]
    with pytest.raises(StateError, match="no cohort has an open slot"):
        reserve_slot(study, crc, screened(study))
    listed = cohorts(study, actor(study, "crc02"))[0]
    assert listed.status == "full" and listed.free == 0
    # another site's staff see the slots taken, not whose
    assert {s.usubjid for s in listed.slots} == {"(another site)"}


def test_meeting_pending_then_complete_choose_sign_and_next_cohort(study: Study) -> None:
    subjects = first_cohort_dosed(study)
    stat, dec, inv = actor(study, "stat"), actor(study, "dec"), actor(study, "inv01")
    with pytest.raises(PermissionDeniedError):
        propose_decision(study, dec, as_of=date(2025, 2, 1))
    # 2025-02-12: the third patient (first dose 2025-01-20) is on day 24 of 28 → BOIN waits
    waiting = propose_decision(study, stat, as_of=date(2025, 2, 12))
    assert waiting.status == PROPOSED and waiting.recommended_action == "pause"
    assert waiting.output["accrual_suspended"] is True and waiting.output["pending"][1] == 1
    assert len(waiting.snapshot_hash or "") == 64
    # 2025-02-17: every window complete, 0 DLTs in 3 → escalate to L2 (0 ≤ λe·3 boundary)
    proposal = propose_decision(study, stat, as_of=date(2025, 2, 17))
    assert get_decision(study, stat, waiting.id).status == SUPERSEDED
    assert proposal.recommended == "L2" and proposal.action == "dose"
    assert proposal.output["boundaries_at_n"]["escalate_if_dlts_le"] == 0
    assert proposal.admissible == ["L-1", "L1", "L2"]  # L3 would skip a level
    assert proposal.inputs["n"] == [0, 3, 0, 0] and proposal.inputs["current_dose"] == 2
    assert {p["usubjid"] for p in proposal.inputs["patients"]} == set(subjects)

    with pytest.raises(InvalidInputError, match="admissible"):
        choose_dose(study, dec, proposal.id, action="dose", dose="L3")
    with pytest.raises(InvalidInputError, match="reason is required"):
        choose_dose(study, dec, proposal.id, action="dose", dose="L1")
    sign_decision(study, stat, proposal.id, PASSWORD)
    chosen = choose_dose(
        study, dec, proposal.id, action="dose", dose="L1", reason="one more cohort at L1"
    )
    assert chosen.chosen_dose == "L1" and not any(s.valid for s in chosen.signatures)
    back = choose_dose(study, dec, proposal.id, action="dose", dose="l2")
    assert back.chosen_dose == "L2" and back.choice_reason is None

    with pytest.raises(AuthenticationError):
        sign_decision(study, stat, proposal.id, "wrong password")
    signed = sign_decision(study, stat, proposal.id, PASSWORD)
    assert signed.status == PROPOSED and signed.missing_signers == [
        "1 × committee member",
        "1 × principal investigator on the committee",
    ]
    with pytest.raises(StateError, match="signed this decision already"):
        sign_decision(study, stat, proposal.id, PASSWORD)
    sign_decision(study, dec, proposal.id, PASSWORD)
    final = sign_decision(study, inv, proposal.id, PASSWORD)
    assert final.status == FINAL and final.next_cohort == 2
    assert [s.role for s in final.signatures if s.valid] == [
        "statistician",
        "committee",
        "investigator",
    ]
    assert all(s.content_hash == final.content_hash for s in final.signatures if s.valid)
    with pytest.raises(StateError, match="final"):
        choose_dose(study, dec, proposal.id, action="pause", reason="too late")
    listed = {c.number: c for c in cohorts(study, stat)}
    assert listed[1].status == "closed"
    assert (listed[2].level, listed[2].status, listed[2].free) == ("L2", "open", 3)
    assert listed[2].opened_by_decision == proposal.id
    # the next site's reservation takes L2 (assigned, never typed); the snapshot still holds
    assert reserve_slot(study, actor(study, "crc01"), screened(study)).level == "L2"
    assert dlt_board(study, stat, date(2025, 3, 1)).stale == []
    # the audit trail holds the decision, its choice and its signatures
    trail = Store(study.engine).audit_trail("escalation_decisions", proposal.id)
    assert {"chosen_dose", "status", "confirmed_by"} <= set(trail["field"].dropna())
    assert len(Store(study.engine).audit_trail("decision_signatures")) >= 5


def test_pause_suspends_the_cohort_and_a_changed_dlt_flags_the_decision(study: Study) -> None:
    subjects = first_cohort_dosed(study)
    stat, dec, inv = actor(study, "stat"), actor(study, "dec"), actor(study, "inv01")
    proposal = propose_decision(study, stat, as_of=date(2025, 2, 17))
    choose_dose(study, dec, proposal.id, action="pause", reason="awaiting PK data")
    for who in (stat, dec, inv):
        decided = sign_decision(study, who, proposal.id, PASSWORD)
    assert decided.status == FINAL and decided.next_cohort is None
    assert cohorts(study, stat)[0].status == "suspended"
    crc = actor(study, "crc01")
    # an AE entered now, not a DLT; then re-assessed as a DLT: the signed decision is flagged
    saved = entry.save_form(
        study, crc, subjects[0], "AE", AE_VALUES | {"dlt": "N", "start": "2025-01-25"}
    )
    assert not get_decision(study, stat, proposal.id).review_flag
    entry.save_form(
        study,
        crc,
        subjects[0],
        "AE",
        AE_VALUES | {"dlt": "Y", "start": "2025-01-25"},
        instance=saved.instance,
        reason="re-assessed by the investigator",
        expected_version=saved.row_version,
    )
    flagged = get_decision(study, stat, proposal.id)
    assert flagged.review_flag and "changed from N to Y" in flagged.review_flag
    board = dlt_board(study, stat, date(2025, 2, 17))
    assert board.to_json()["flagged_decisions"] == [proposal.id]
    assert board.stale == [proposal.id]  # the store no longer gives the decision's snapshot
    row = next(r for r in board.rows if r.usubjid == subjects[0])
    assert row.status == "DLT" and row.first_dlt is not None and row.first_dlt.onset_day == 13
    assert board.recommendation["dlts"] == [0, 1, 0, 0]
    assert decision_list(study, dec)[0].review_flag == flagged.review_flag


def test_board_rows_queries_and_site_scope(study: Study) -> None:
    subjects = first_cohort_dosed(study)
    entry.save_form(
        study,
        actor(study, "crc01"),
        subjects[1],
        "AE",
        AE_VALUES | {"dlt": "N", "start": "2025-01-25"},  # protocol says DLT: a query opens
    )
    board = dlt_board(study, actor(study, "dm"), date(2025, 2, 1))
    by_id = {r.usubjid: r for r in board.rows}
    assert by_id[subjects[0]].days_remaining == 9 and by_id[subjects[0]].status == "pending"
    assert by_id[subjects[0]].window_end == "2025-02-09"
    queries = board.to_json()["patients"][1]["open_queries"]
    assert queries and queries[0]["field"] == "dlt"
    assert dlt_board(study, actor(study, "crc02"), date(2025, 2, 1)).rows == []


def test_notifications_feed(study: Study) -> None:
    subjects = first_cohort_dosed(study)
    entry.save_form(
        study,
        actor(study, "crc01"),
        subjects[0],
        "AE",
        AE_VALUES | {"serious": "Y", "start": "2025-01-25"},
    )
    feed = notifications(study, actor(study, "inv01"), date(2025, 2, 17))
    kinds = [n.kind for n in feed]
    assert kinds.count("window_complete") == 3 and "dlt_reported" in kinds
    sae = next(n for n in feed if n.kind == "sae_reported")
    assert sae.usubjid == subjects[0] and sae.clock is not None and "24-hour" in sae.text
    assert sae.clock["on_time"] is False  # entered long after 2025-01-25
    assert [n for n in notifications(study, actor(study, "crc02"), date(2025, 2, 17))] == []
    open_first = cohorts(study, actor(study, "stat"))
    assert open_first[0].free == 0


def test_sae_clock_arithmetic() -> None:
    entered = datetime.fromisoformat("2025-01-25T20:30:00+00:00")
    clock = sae_clock("2025-01-25", entered, entered)
    assert clock["hours"] == 20.5 and clock["on_time"] is True
    assert clock["due"] == "2025-01-26T00:00:00+00:00"
    late = sae_clock("2025-01-24T06:00", entered, entered)
    assert late["hours"] == 38.5 and late["on_time"] is False


def test_phase1_ends_with_an_mtd_and_the_expansion_opens_at_the_rp2d(study: Study) -> None:
    """18 patients (the protocol's maximum): BOIN stops and selects the MTD by isotonic
    regression (Liu & Yuan 2015 §2.4); the final stop opens the expansion at it with n1 = 13
    slots (Simon's optimal design of the protocol)."""
    none, one = StoredPatient, lambda day: StoredPatient(day, dlt_day=10)
    store_phase1(
        Store(study.engine),
        [
            ("L1", [none(0), none(1), none(2)]),
            ("L2", [none(35), none(36), none(37)]),
            ("L3", [one(70), one(71), none(72)]),
            ("L2", [none(105), one(106), none(107)]),
            ("L2", [none(140), none(141), none(142)]),
            ("L2", [none(175), none(176), none(177)]),
        ],
    )
    stat = actor(study, "stat")
    proposal = propose_decision(study, stat, as_of=date(2025, 9, 1))
    assert proposal.recommended is None and proposal.action == "stop"
    assert proposal.output["mtd"] == 3  # L2 (1-based index 3 of L-1, L1, L2, L3)
    for who in ("stat", "dec", "inv01"):
        final = sign_decision(study, actor(study, who), proposal.id, PASSWORD)
    assert final.status == FINAL
    listed = cohorts(study, stat)
    expansion = [c for c in listed if c.phase == "II"]
    assert [(c.level, len(c.slots), c.status) for c in expansion] == [("L2", 13, "open")]
    assert final.next_cohort == expansion[0].number
    assert all(c.status == "closed" for c in listed if c.phase == "I")
    with pytest.raises(StateError, match="phase I ended"):
        propose_decision(study, stat, as_of=date(2025, 9, 2))
