"""Reconciliation of the tables with the audit trail (21 CFR Part 11 §11.10(a), (e)), on SQLite
and PostgreSQL: a row inserted, changed or deleted by raw SQL — on a clinical table (sdtm_tr)
or an operational one (subjects, users) — is reported with its table, record and field, and an
untouched trail after many kinds of operations reconciles clean.

The expected discrepancies are the tampering each test does itself (the independent source of
truth here is the raw SQL statement, not our replay).
"""

from __future__ import annotations

import threading
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Integer, String, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from audit_tampering import behind_the_back, busy_trial
from oncotrial.store import Store, init_db
from oncotrial.store.audit import audited_models, redacted_text
from oncotrial.store.audit_check import check_audit
from oncotrial.store.chain import audit_head, read_snapshot, verify_audit
from oncotrial.store.models import Audited, Versioned
from oncotrial.store.reconcile import reconcile

pytest_plugins = ["store_fixtures"]


def found(store: Store, **kwargs: object) -> list[tuple[str, str, str | None, str]]:
    report = reconcile(store.engine, **kwargs)  # type: ignore[arg-type]
    return [(d.table, d.record_id, d.field, d.problem) for d in report.discrepancies]


def test_many_operations_reconcile_clean(store: Store) -> None:
    busy_trial(store)
    report = reconcile(store.engine)
    assert report.ok, [str(d) for d in report.discrepancies]
    tables = {t.table: t for t in report.tables}
    assert set(tables) == {m.__table__.name for m in audited_models()}
    assert (tables["sdtm_tr"].rows, tables["sdtm_ae"].rows, tables["subjects"].rows) == (11, 1, 3)
    trail = store.audit_trail()
    assert tables["sdtm_tr"].audit_entries == len(trail[trail["table_name"] == "sdtm_tr"])
    assert check_audit(store.engine).ok


def test_raw_update_of_a_clinical_value_is_named(store: Store) -> None:
    ids = busy_trial(store)
    with behind_the_back(store) as dba:
        dba.execute(text("UPDATE sdtm_tr SET trstresc = '9' WHERE id = :i"), {"i": ids["tr"][3]})
    report = reconcile(store.engine)
    [d] = report.discrepancies
    assert (d.table, d.record_id, d.field, d.problem) == (
        "sdtm_tr",
        str(ids["tr"][3]),
        "TRSTRESC",
        "changed",
    )
    assert (d.stored, d.audited, d.subject) == ("9", "23", "01-001")
    assert "changed outside the application" in str(d) and "01-001" in str(d)


def test_raw_change_of_a_non_standard_variable_is_named(store: Store) -> None:
    ids = busy_trial(store)
    with behind_the_back(store) as dba:
        dba.execute(
            text("UPDATE sdtm_tr SET extra = :x WHERE id = :i"),
            {"x": '{"TRNOTE": "read by PI"}', "i": ids["tr"][4]},
        )
    [d] = reconcile(store.engine).discrepancies
    assert (d.field, d.stored, d.audited) == ("TRNOTE", "read by PI", "read by site")


def test_raw_delete_and_insert_on_a_clinical_table(store: Store) -> None:
    ids = busy_trial(store)
    with behind_the_back(store) as dba:
        dba.execute(text("DELETE FROM sdtm_tr WHERE id = :i"), {"i": ids["tr"][5]})
        dba.execute(
            text(
                "INSERT INTO sdtm_tr (usubjid, trtestcd, trstresc, row_version) "
                "VALUES ('01-003', 'DIAMETER', '5', 1)"
            )
        )
        new_id = dba.execute(text("SELECT max(id) FROM sdtm_tr")).scalar()
    assert sorted(found(store)) == sorted(
        [
            ("sdtm_tr", str(ids["tr"][5]), None, "deleted"),
            ("sdtm_tr", str(new_id), None, "inserted"),
        ]
    )


def test_a_deleted_row_put_back_is_reported(store: Store) -> None:
    """TR record 3 was deleted through the application; an insider re-inserts it as it was."""
    ids = busy_trial(store)
    gone = ids["tr"][2]
    with behind_the_back(store) as dba:
        dba.execute(
            text(
                "INSERT INTO sdtm_tr (id, usubjid, trtestcd, trstresc, row_version) "
                "VALUES (:i, '01-003', 'DIAMETER', '22', 1)"
            ),
            {"i": gone},
        )
    assert found(store) == [("sdtm_tr", str(gone), None, "reappeared")]


def test_raw_update_delete_insert_on_an_operational_table(store: Store) -> None:
    ids = busy_trial(store)
    with behind_the_back(store) as dba:
        dba.execute(text("UPDATE subjects SET status = 'withdrawn' WHERE usubjid = '01-001'"))
        dba.execute(text("DELETE FROM cohort_slots WHERE usubjid = '01-002'"))
        dba.execute(
            text("UPDATE subjects SET dose_level = NULL, cohort_id = NULL WHERE usubjid = '01-002'")
        )
        dba.execute(
            text(
                "INSERT INTO subjects (usubjid, status, row_version) "
                "VALUES ('01-099', 'enrolled', 1)"
            )
        )
    report = reconcile(store.engine)
    got = {(d.table, d.field, d.problem, d.subject) for d in report.discrepancies}
    assert got == {
        ("subjects", "status", "changed", "01-001"),
        ("subjects", "dose_level", "changed", "01-002"),
        ("subjects", "cohort_id", "changed", "01-002"),
        ("subjects", None, "inserted", "01-099"),
        ("cohort_slots", None, "deleted", "01-002"),
    }
    changed = [d for d in report.discrepancies if d.field == "cohort_id"]
    assert changed[0].record_id == str(ids["subject"]) and changed[0].stored is None
    assert report.by_problem == {"changed": 3, "inserted": 1, "deleted": 1}


def test_a_password_hash_swapped_behind_the_back_is_caught(store: Store) -> None:
    """The trail holds a fingerprint of a redacted column, never its value."""
    ids = busy_trial(store)
    trail = store.audit_trail("users", ids["user"])
    assert "$argon2id" not in "".join(trail["new_value"].dropna())
    with behind_the_back(store) as dba:
        dba.execute(
            text("UPDATE users SET password_hash = '$argon2id$known' WHERE id = :i"),
            {"i": ids["user"]},
        )
    [d] = reconcile(store.engine).discrepancies
    assert (d.table, d.field, d.problem) == ("users", "password_hash", "changed")
    assert d.stored == redacted_text("$argon2id$known")


def test_a_raw_change_later_edited_through_the_application_is_still_caught(store: Store) -> None:
    """The row ends equal to its replay, but the audited change found a value the trail never
    recorded: the UPDATE's old value gives the raw change away."""
    ids = busy_trial(store)
    record = ids["tr"][6]
    with behind_the_back(store) as dba:
        dba.execute(text("UPDATE sdtm_tr SET trstresc = '99' WHERE id = :i"), {"i": record})
    store.update_record("TR", record, {"TRSTRESC": "26"}, "cra", "re-measured", 1)
    seq = audit_head(store.engine).seq
    [d] = reconcile(store.engine).discrepancies
    assert (d.record_id, d.field, d.problem, d.seq) == (
        str(record),
        "TRSTRESC",
        "changed_unaudited",
        seq,
    )
    assert (d.stored, d.audited) == ("99", "26")


def test_a_raw_change_then_an_audited_delete_is_caught(store: Store) -> None:
    ids = busy_trial(store)
    record = ids["tr"][7]
    with behind_the_back(store) as dba:
        dba.execute(text("UPDATE sdtm_tr SET visit = 'WEEK 12' WHERE id = :i"), {"i": record})
    store.delete_record("TR", record, "cra", "wrong subject", 1)
    [d] = reconcile(store.engine).discrepancies
    assert (d.record_id, d.field, d.problem) == (str(record), "VISIT", "changed_unaudited")
    assert (d.stored, d.audited) == ("WEEK 12", "WEEK 6")


def test_every_discrepancy_is_counted_and_the_list_is_bounded(store: Store) -> None:
    busy_trial(store)
    with behind_the_back(store) as dba:
        dba.execute(text("UPDATE sdtm_tr SET trorres = 'x', trstresn = 'y'"))
    report = reconcile(store.engine, limit=5)
    assert report.discrepancy_count == 22 and len(report.discrepancies) == 5
    assert report.by_problem == {"changed": 22}
    assert "22 changed" in str(report)


def test_a_trail_that_contradicts_itself_is_reported(store: Store) -> None:
    """Audit rows naming a record never inserted, or a table that is not audited."""
    busy_trial(store)
    with behind_the_back(store) as dba:
        dba.execute(
            text(
                "UPDATE audit_log SET record_id = '999' "
                "WHERE seq = (SELECT max(seq) FROM audit_log)"
            )
        )
        dba.execute(
            text(
                "UPDATE audit_log SET table_name = 'no_such_table' "
                "WHERE seq = (SELECT min(seq) FROM audit_log)"
            )
        )
    report = reconcile(store.engine)
    problems = {(d.table, d.problem) for d in report.discrepancies}
    assert ("study_settings", "trail") in problems and ("no_such_table", "trail") in problems


class _LaterBase(DeclarativeBase):
    """A declarative base standing for tables a later issue adds (sessions, queries …)."""


class Query(Audited, Versioned, _LaterBase):
    """A data query as the web application might add it: audited, nothing else to declare."""

    __tablename__ = "test_reconcile_queries"

    id: Mapped[int] = mapped_column(primary_key=True)
    field: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20))
    answers: Mapped[int] = mapped_column(Integer, default=0)


def test_a_model_added_later_is_covered_without_edits(store: Store) -> None:
    """Audited models are discovered from the metadata: a new one gets its audit rows from the
    session hooks and is reconciled like the rest."""
    _LaterBase.metadata.create_all(store.engine)
    with store.session("dm") as session:
        session.add(Query(field="TRSTRESC", status="open"))
        session.commit()
    with store.session("dm", reason="site answered") as session:
        session.get(Query, 1).status = "answered"
        session.commit()
    models = [*audited_models(), *audited_models(_LaterBase)]
    assert reconcile(store.engine, models=models).ok
    with behind_the_back(store) as dba:
        dba.execute(text("UPDATE test_reconcile_queries SET status = 'closed'"))
    assert found(store, models=models) == [("test_reconcile_queries", "1", "status", "changed")]
    assert {d.table for d in reconcile(store.engine).discrepancies} == {"test_reconcile_queries"}


def test_one_snapshot_while_a_site_keeps_writing(store: Store) -> None:
    """Rows committed after the snapshot began are not half-seen: no false alarm."""
    busy_trial(store)
    with read_snapshot(store.engine) as snapshot:
        head = audit_head(snapshot)
        writer = threading.Thread(
            target=store.add_records,
            args=(
                "AE",
                [
                    {
                        "USUBJID": "01-003",
                        "AETERM": "Fatigue",
                        "AETOXGR": "1",
                        "AESTDTC": "2024-01-20",
                    }
                ],
                "crc",
            ),
        )
        writer.start()
        writer.join()
        assert audit_head(store.engine).seq == head.seq + 1
        chain = verify_audit(store.engine, connection=snapshot)
        assert chain.ok and chain.rows_checked == head.seq
        assert reconcile(store.engine, connection=snapshot).ok
    assert check_audit(store.engine).ok


#: Fields of an AE and values the edit checks accept for each (CTCAE grade, Y/N flag, free text).
FIELD_VALUES = {
    "AETOXGR": ["1", "2", "3", "4", "5"],
    "AESER": ["Y", "N", ""],
    "AETERM": ["Rash", "", "Fièvre", "Hypertension [grade 3]", 'say "ah"'],
    "AELOC": ["SKIN", "", "LIVER"],
}
FIELDS = tuple(FIELD_VALUES)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(0, 30)),
        st.sampled_from(FIELDS).flatmap(
            lambda name: st.tuples(
                st.just("update"),
                st.integers(0, 30),
                st.just(name),
                st.sampled_from(FIELD_VALUES[name]),
            )
        ),
        st.tuples(st.just("delete"), st.integers(0, 30)),
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=operations, pick=st.integers(0, 1000), field=st.sampled_from(FIELDS))
def test_property_audited_operations_reconcile_and_any_raw_change_is_named(
    module_store: Store, ops: list[tuple], pick: int, field: str
) -> None:
    """Whatever the application does, the tables equal the replay; and a raw change of any
    field of any record is reported as that table, record and field."""
    store = module_store
    if "S-P" not in set(store.subjects()["usubjid"]):
        store.add_subject(
            "S-P", "01", "crc", consent_date="2024-01-02", first_dose_date="2024-01-10"
        )
    for op in ops:
        live = store.records("AE").index.tolist()
        if op[0] == "add":
            row = {
                "USUBJID": "S-P",
                "AESTDTC": "2024-01-20",
                **{n: v[op[1] % len(v)] for n, v in FIELD_VALUES.items()},
            }
            store.add_records("AE", [row], "crc")
        elif live and op[0] == "update":
            record = store.record("AE", live[op[1] % len(live)])
            store.update_record("AE", record.id, {op[2]: op[3]}, "cra", "SDV", record.row_version)
        elif live:
            record = store.record("AE", live[op[1] % len(live)])
            store.delete_record("AE", record.id, "cra", "duplicate", record.row_version)
    assert reconcile(store.engine).ok
    live = store.records("AE")
    if live.empty:
        return
    record_id = int(live.index[pick % len(live)])
    current = live.loc[record_id, field]
    tampered = "tampered" if current != "tampered" else "other"
    with store.engine.connect() as connection:  # changed and rolled back: nothing kept
        connection.execute(
            text(f"UPDATE sdtm_ae SET {field.lower()} = :v WHERE id = :i"),
            {"v": tampered, "i": record_id},
        )
        report = reconcile(store.engine, connection=connection)
        connection.rollback()
    assert [(d.table, d.record_id, d.field, d.stored) for d in report.discrepancies] == [
        ("sdtm_ae", str(record_id), field, tampered)
    ]


def test_a_json_cell_that_is_not_json_any_more_is_reported_not_a_crash(tmp_path: Path) -> None:
    """SQLite only: PostgreSQL's JSONB refuses a cell that is not JSON."""
    store = init_db(f"sqlite:///{tmp_path / 'trial.db'}")
    busy_trial(store)
    with behind_the_back(store) as dba:
        dba.execute(text("UPDATE escalation_decisions SET output = 'escalate!'"))
        dba.execute(text("UPDATE sdtm_tr SET extra = '{broken' WHERE id = 1"))
    report = reconcile(store.engine)
    got = {(d.table, d.field, d.stored) for d in report.discrepancies}
    assert ("escalation_decisions", "output", "escalate!") in got
    assert ("sdtm_tr", "extra", "{broken") in got and ("sdtm_tr", "TRNOTE", None) in got
    store.close()
