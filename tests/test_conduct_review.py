"""Queries (open → answered → closed, who may do which, the list by site and age), review
states and the investigator's e-signature (21 CFR Part 11 §11.50, §11.70, §11.200), and the
audit trail of a form, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from conduct_fixtures import AE_VALUES, PASSWORD, actor, enrolled_subject
from oncotrial.conduct import (
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    StateError,
    Study,
    entry,
    queries,
    reading,
    review,
    trail,
)
from oncotrial.conduct.accounts import access_events
from oncotrial.store import Store

pytest_plugins = ["store_fixtures", "conduct_fixtures"]


def test_query_lifecycle_and_who_may_do_what(module_study: Study) -> None:
    study = module_study
    crc, dm, mon = actor(study, "crc01"), actor(study, "dm"), actor(study, "mon")
    usubjid = enrolled_subject(study, crc)
    saved = entry.save_form(study, crc, usubjid, "AE", AE_VALUES)
    with pytest.raises(PermissionDeniedError):
        queries.open_query(study, crc, saved.entry_id, "grade", "please check")
    query = queries.open_query(study, dm, saved.entry_id, "grade", "grade 4 on the chart?")
    assert (query.status, query.origin, query.opened_by) == ("open", "manual", "dm")
    with pytest.raises(NotFoundError):
        queries.answer_query(study, actor(study, "crc02"), query.id, "not my site")
    with pytest.raises(PermissionDeniedError):
        queries.answer_query(study, mon, query.id, "monitors do not answer")
    answered = queries.answer_query(study, crc, query.id, "yes, platelets 20 x 10^9/L")
    assert (answered.status, answered.answered_by) == ("answered", "crc01")
    with pytest.raises(PermissionDeniedError):
        queries.close_query(study, crc, query.id, "site staff do not close")
    reopened = queries.close_query(study, mon, query.id, "give the date too", reopen=True)
    assert reopened.status == "open" and "re-opened by mon" in reopened.message
    queries.answer_query(study, crc, query.id, "platelets 20 x 10^9/L on 2025-01-25")
    closed = queries.close_query(study, dm, query.id, "confirmed against source")
    assert (closed.status, closed.closed_by, closed.resolution) == (
        "closed",
        "dm",
        "confirmed against source",
    )
    with pytest.raises(StateError):
        queries.answer_query(study, crc, query.id, "too late")
    listed = queries.list_queries(study, dm, site="01")
    assert all(q.site == "01" for q in listed) and query.id in {q.id for q in listed}
    assert [q.opened_at for q in listed] == sorted(q.opened_at for q in listed)
    assert queries.list_queries(study, actor(study, "crc02")) == [] or all(
        q.site == "02" for q in queries.list_queries(study, actor(study, "crc02"))
    )


def test_review_states_signature_and_invalidation(module_study: Study) -> None:
    study = module_study
    crc, inv, mon, dm = (actor(study, u) for u in ("crc01", "inv01", "mon", "dm"))
    usubjid = enrolled_subject(study, crc)
    saved = entry.save_form(study, crc, usubjid, "AE", AE_VALUES)
    form_id = saved.entry_id
    with pytest.raises(StateError):
        review.transition(study, mon, form_id, "verify")
    with pytest.raises(PermissionDeniedError):
        review.transition(study, crc, form_id, "lock")
    assert review.transition(study, crc, form_id, "complete") == "complete"
    assert review.transition(study, mon, form_id, "verify") == "verified"
    with pytest.raises(PermissionDeniedError):
        review.sign(study, crc, form_id, PASSWORD)
    with pytest.raises(StateError):
        review.sign(study, inv, form_id, PASSWORD)
    assert review.transition(study, dm, form_id, "lock") == "locked"
    with pytest.raises(StateError, match="locked"):
        entry.save_form(
            study,
            crc,
            usubjid,
            "AE",
            AE_VALUES | {"grade": "3"},
            instance=saved.instance,
            reason="x",
            expected_version=None,
        )
    with pytest.raises(AuthenticationError):
        review.sign(study, inv, form_id, "not the password")
    assert "signature_refused" in {e["kind"] for e in access_events(study, actor(study, "adm"))}
    signature = review.sign(study, inv, form_id, PASSWORD)
    current = reading.get_entry(study, inv, form_id)
    # §11.50: printed name, date and time, meaning; §11.70: bound to the content's hash
    assert signature.printed_name == "Name of inv01"
    assert signature.signed_at.tzinfo is not None and signature.signed_at.utcoffset().seconds == 0
    assert "confirm" in signature.meaning
    assert signature.content_hash == current.content_hash and signature.valid
    assert current.status == "signed"
    with pytest.raises(Exception, match="reason"):
        review.transition(study, dm, form_id, "unlock")
    assert review.transition(study, dm, form_id, "unlock", reason="correct the end date") == (
        "verified"
    )
    opened = reading.get_entry(study, crc, form_id)
    entry.save_form(
        study,
        crc,
        usubjid,
        "AE",
        opened.values | {"end": "2025-02-12"},
        instance=saved.instance,
        reason="end date per discharge letter",
        expected_version=opened.row_version,
    )
    [after] = review.signatures(study, inv, form_id)
    assert not after.valid
    assert after.invalidated_by == "crc01"
    assert "end date per discharge letter" in (after.invalidation_reason or "")
    assert reading.get_entry(study, crc, form_id).status == "complete"


def test_a_change_by_another_door_shows_the_signature_invalid(module_study: Study) -> None:
    study = module_study
    crc, inv, mon, dm = (actor(study, u) for u in ("crc01", "inv01", "mon", "dm"))
    usubjid = enrolled_subject(study, crc)
    saved = entry.save_form(study, crc, usubjid, "AE", AE_VALUES)
    for who, action in ((crc, "complete"), (mon, "verify"), (dm, "lock")):
        review.transition(study, who, saved.entry_id, action)
    review.sign(study, inv, saved.entry_id, PASSWORD)
    store = Store(study.engine)
    [(domain, record_id)] = reading.get_entry(study, inv, saved.entry_id).records
    record = store.record(domain, record_id)
    store.update_record(
        domain, record_id, {"AETOXGR": "3"}, "db-admin", "direct fix", record.row_version
    )
    current = reading.get_entry(study, inv, saved.entry_id)
    assert not current.content_intact
    [signature] = review.signatures(study, inv, saved.entry_id)
    assert not signature.valid and signature.invalidated_at is None


def test_the_audit_trail_of_a_form_is_one_call_away(module_study: Study) -> None:
    study = module_study
    crc = actor(study, "crc01")
    usubjid = enrolled_subject(study, crc)
    saved = entry.save_form(study, crc, usubjid, "AE", AE_VALUES)
    entry.save_form(
        study,
        crc,
        usubjid,
        "AE",
        AE_VALUES | {"grade": "3"},
        instance=saved.instance,
        reason="grade per source",
    )
    review.transition(study, crc, saved.entry_id, "complete")
    rows = trail.form_trail(study, actor(study, "mon"), saved.entry_id)
    actions = [(r.what.split(" #")[0], r.action, r.field) for r in rows]
    assert ("AE", "INSERT", None) in actions
    assert ("AE", "UPDATE", "AETOXGR") in actions
    assert ("form", "UPDATE", "status") in actions
    grade = next(r for r in rows if r.field == "AETOXGR")
    assert (grade.old_value, grade.new_value, grade.reason, grade.user) == (
        "4",
        "3",
        "grade per source",
        "crc01",
    )
    assert [r.seq for r in rows] == sorted(r.seq for r in rows)
    with pytest.raises(NotFoundError):
        trail.form_trail(study, actor(study, "crc02"), saved.entry_id)
