"""The trial store: schema, lossless text in/out, CRUD with its audit trail, optimistic locking,
concurrent writers, cohorts and escalation decisions — on SQLite and (when configured)
PostgreSQL.

References: 21 CFR Part 11 §11.10(e) (who/when/what/why, old values kept) for the audit rows;
SDTMIG v3.4 variable lists for the domain tables.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from oncotrial.store import (
    ActorRequiredError,
    ConcurrentEditError,
    EditCheckError,
    ReasonRequiredError,
    RecordNotFoundError,
    Store,
    UnknownDomainError,
    current_revision,
    init_db,
)
from oncotrial.store import engine as engine_module
from oncotrial.store.errors import DatabaseBusyError
from oncotrial.store.migrate import alembic_config
from oncotrial.store.models import AdverseEvent, Base

pytest_plugins = ["store_fixtures"]


def ae(usubjid: str = "S-001", **values: str | None) -> dict[str, str | None]:
    row: dict[str, str | None] = {
        "STUDYID": "TD-HCC",
        "DOMAIN": "AE",
        "USUBJID": usubjid,
        "AETERM": "Nausea",
        "AEDECOD": "Nausea",
        "AETOXGR": "2",
        "AESER": "N",
        "AESTDTC": "2024-01-20",
    }
    row.update(values)
    return row


def enrol(store: Store, usubjid: str = "S-001", site: str = "01") -> None:
    store.add_subject(
        usubjid, site, "coordinator", consent_date="2024-01-02", first_dose_date="2024-01-10"
    )


# ---- schema ----------------------------------------------------------------------------------


def test_init_db_is_idempotent_and_at_head(db_url: str) -> None:
    first = init_db(db_url)
    first.close()
    again = init_db(db_url)
    try:
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        assert head is not None and current_revision(again.engine) == head
    finally:
        again.close()


def test_migration_creates_exactly_the_models(store: Store) -> None:
    """The frozen migrations and the SQLAlchemy models describe the same schema."""
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diffs = compare_metadata(context, Base.metadata)
    assert diffs == []


def test_sqlite_connections_use_wal_and_foreign_keys(store: Store) -> None:
    if store.engine.dialect.name != "sqlite":
        pytest.skip("WAL and foreign-key pragmas are SQLite settings; this run is on PostgreSQL")
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_make_engine_refuses_memory_and_other_backends() -> None:
    from oncotrial.store import make_engine

    with pytest.raises(ValueError, match="SQLite file"):
        make_engine("sqlite://")
    with pytest.raises(ValueError, match="SQLite and PostgreSQL"):
        make_engine("mysql://u@h/db")
    assert make_engine("postgresql://u@h/db").dialect.driver == "psycopg"


# ---- lossless text in, text out ----------------------------------------------------------------


def test_records_come_back_cell_by_cell_in_column_order(store: Store) -> None:
    enrol(store)
    enrol(store, "S-002")
    frame = pd.DataFrame(
        {
            "STUDYID": ["TD-HCC", "TD-HCC"],
            "DOMAIN": ["TR", "TR"],
            "USUBJID": ["S-001", "S-002"],
            "TRSEQ": ["1", "1"],
            "TRLNKID": ["T01", "T01"],
            "TRTESTCD": ["LDIAM", "LDIAM"],
            "TRORRES": ["10.50", "7"],
            "TRSTRESN": ["10.50", "7.0"],
            "TRORRESU": ["mm", ""],
            "TRDTC": ["2024-02-03", "2024-02-03T10:15"],
            "TRREASND": ["2024-02", "x"],
            "MYFLAG": ["x", None],
            "TRSTAT": [None, ""],
        },
        dtype="string",
    )
    result = store.add_records("TR", frame, "data-manager")
    back = store.records("TR")
    assert list(back.columns) == list(frame.columns)
    assert list(back.index) == result.ids
    expected = frame.astype(object).where(frame.notna(), None)
    assert back.reset_index(drop=True).equals(expected)
    assert back.loc[result.ids[1], "TRSTAT"] == ""
    assert back.loc[result.ids[1], "MYFLAG"] is None
    assert result.warnings == []


def test_numbers_given_as_numbers_are_stored_as_written(store: Store) -> None:
    enrol(store)
    store.add_records(
        "TR",
        [
            {
                "USUBJID": "S-001",
                "TRSEQ": 1,
                "TRLNKID": "T01",
                "TRTESTCD": "LDIAM",
                "TRSTRESN": 10.0,
                "TRORRES": 12.5,
                "VISITNUM": 3,
                "TRDTC": "2024-02-03",
            }
        ],
        "dm",
    )
    row = store.records("TR").iloc[0]
    assert (row["TRSEQ"], row["TRSTRESN"], row["TRORRES"], row["VISITNUM"]) == (
        "1",
        "10",
        "12.5",
        "3",
    )


def test_missing_seq_is_numbered_on_per_subject(store: Store) -> None:
    enrol(store)
    store.add_records("AE", [ae(AESEQ="4")], "investigator")
    store.add_records("AE", [ae(AETERM="Fatigue"), ae(AETERM="Rash")], "investigator")
    assert store.records("AE")["AESEQ"].tolist() == ["4", "5", "6"]


def test_dm_import_registers_subjects_and_sites(store: Store) -> None:
    result = store.add_records(
        "DM",
        [
            {
                "USUBJID": "P-1",
                "SITEID": "701",
                "RFICDTC": "2024-01-01",
                "RFXSTDTC": "2024-01-05",
                "SEX": "F",
            },
            {
                "USUBJID": "P-2",
                "SITEID": "702",
                "RFXSTDTC": "2024-01-07",
                "SEX": "M",
                "DTHDTC": "2024-05-01",
                "DTHFL": "Y",
            },
        ],
        "importer",
    )
    assert result.created_subjects == ["P-1", "P-2"]
    subjects = store.subjects().set_index("usubjid")
    assert subjects.loc["P-1", "site"] == "701"
    assert subjects.loc["P-1", "consent_date"] == "2024-01-01"
    assert subjects.loc["P-2", "status"] == "died"


def test_unknown_domain_and_record(store: Store) -> None:
    with pytest.raises(UnknownDomainError, match="'LB' is not held"):
        store.records("LB")
    with pytest.raises(RecordNotFoundError):
        store.record("AE", 99)


# ---- CRUD with audit ---------------------------------------------------------------------------


def test_insert_update_delete_write_audit_rows(store: Store) -> None:
    enrol(store)
    before = datetime.now(UTC) - timedelta(seconds=5)
    [record_id] = store.add_records("AE", [ae(MYVAR="a")], "investigator").ids
    inserted = store.audit_trail("AE", record_id)
    assert inserted["action"].tolist() == ["INSERT"]
    row = inserted.iloc[0]
    assert row["user_name"] == "investigator" and row["field"] is None
    assert json.loads(row["new_value"])["AETOXGR"] == "2"
    assert json.loads(row["new_value"])["MYVAR"] == "a"
    stamp = datetime.fromisoformat(row["changed_at"])
    assert stamp.utcoffset() == timedelta(0) and stamp >= before

    version = store.update_record(
        "AE",
        record_id,
        {"AETOXGR": "3", "AESER": "N", "MYVAR": "b"},
        "monitor",
        "source data verification: grade 3 in the chart",
        1,
    )
    assert version == 2
    updates = store.audit_trail("AE", record_id).query("action == 'UPDATE'")
    assert updates[["field", "old_value", "new_value"]].values.tolist() == [
        ["AETOXGR", "2", "3"],
        ["MYVAR", "a", "b"],
    ]
    assert set(updates["reason"]) == {"source data verification: grade 3 in the chart"}
    assert store.record("AE", record_id).values["AETOXGR"] == "3"

    store.delete_record("AE", record_id, "monitor", "duplicate of AE 2", 2)
    deleted = store.audit_trail("AE", record_id).iloc[-1]
    assert deleted["action"] == "DELETE" and deleted["reason"] == "duplicate of AE 2"
    assert json.loads(deleted["old_value"])["AETOXGR"] == "3"
    assert store.records("AE").empty
    assert store.verify_audit().ok


def test_update_and_delete_require_a_reason(store: Store) -> None:
    enrol(store)
    [record_id] = store.add_records("AE", [ae()], "investigator").ids
    seq_before = store.verify_audit().last_seq
    for reason in (None, "", "   "):
        with pytest.raises(ReasonRequiredError):
            store.update_record("AE", record_id, {"AETOXGR": "3"}, "monitor", reason, 1)  # type: ignore[arg-type]
        with pytest.raises(ReasonRequiredError):
            store.delete_record("AE", record_id, "monitor", reason, 1)  # type: ignore[arg-type]
    with store.session("monitor") as session:
        session.get(AdverseEvent, record_id).aetoxgr = "4"
        with pytest.raises(ReasonRequiredError):
            session.commit()
    assert store.record("AE", record_id).values["AETOXGR"] == "2"
    assert store.verify_audit().last_seq == seq_before


def test_writes_need_a_user(store: Store) -> None:
    with pytest.raises(ActorRequiredError):
        store.add_subject("S-9", "01", "")
    assert store.subjects().empty


def test_update_subject_rechecks_and_audits(store: Store) -> None:
    enrol(store)
    info = store.update_subject("S-001", {"status": "on_treatment"}, "crc", "first dose given", 1)
    assert (info.status, info.row_version) == ("on_treatment", 2)
    trail = store.audit_trail("subjects", info.id)
    assert trail.iloc[-1][["field", "old_value", "new_value"]].tolist() == [
        "status",
        "screening",
        "on_treatment",
    ]
    with pytest.raises(ConcurrentEditError):
        store.update_subject("S-001", {"status": "follow_up"}, "crc", "x", 1)


# ---- optimistic locking -------------------------------------------------------------------------


def test_stale_expected_version_is_refused(store: Store) -> None:
    enrol(store)
    [record_id] = store.add_records("AE", [ae()], "investigator").ids
    store.update_record("AE", record_id, {"AETOXGR": "3"}, "alice", "query 1 answered", 1)
    with pytest.raises(ConcurrentEditError, match="version 2") as caught:
        store.update_record("AE", record_id, {"AETOXGR": "4"}, "bob", "query 2 answered", 1)
    assert (caught.value.expected_version, caught.value.actual_version) == (1, 2)
    with pytest.raises(ConcurrentEditError):
        store.delete_record("AE", record_id, "bob", "entered twice", 1)
    assert store.record("AE", record_id).values["AETOXGR"] == "3"


def test_two_sessions_updating_one_record_do_not_lose_an_update(store: Store) -> None:
    """Both read version 1; the first commit wins, the second gets ConcurrentEditError
    (SQLAlchemy version_id_col: UPDATE … WHERE row_version = 1 matches no row)."""
    enrol(store)
    [record_id] = store.add_records("AE", [ae()], "investigator").ids
    alice = store.session("alice", reason="grade corrected from source")
    bob = store.session("bob", reason="grade corrected from lab report")
    mine = alice.get(AdverseEvent, record_id)
    alice.commit()
    theirs = bob.get(AdverseEvent, record_id)
    bob.commit()
    mine.aetoxgr = "3"
    alice.commit()
    theirs.aetoxgr = "4"
    with pytest.raises(ConcurrentEditError, match="changed or deleted by someone else"):
        bob.commit()
    bob.rollback()
    alice.close()
    bob.close()
    assert store.record("AE", record_id).values["AETOXGR"] == "3"
    updates = store.audit_trail("AE", record_id).query("action == 'UPDATE'")
    assert updates[["user_name", "new_value"]].values.tolist() == [["alice", "3"]]


def test_concurrent_writers_keep_the_hash_chain_linear(store: Store) -> None:
    enrol(store)
    errors: list[Exception] = []

    def writer(name: str) -> None:
        try:
            for i in range(6):
                ids = store.add_records("AE", [ae(AETERM=f"{name}-{i}")], name).ids
                store.update_record("AE", ids[0], {"AETOXGR": "1"}, name, "recoded", 1)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    report = store.verify_audit()
    assert report.ok, str(report)
    trail = store.audit_trail()
    assert trail["seq"].tolist() == list(range(1, len(trail) + 1))
    assert len(store.records("AE")) == 24
    # each transaction's rows are contiguous in the chain
    runs = (trail["txn_id"] != trail["txn_id"].shift()).sum()
    assert runs == trail["txn_id"].nunique()


# ---- cohorts and escalation decisions -----------------------------------------------------------


def test_cohort_slots_hold_one_dose_level(store: Store) -> None:
    store.add_cohort(1, "1", "statistician", slots=3)
    store.add_cohort(2, "2", "statistician", slots=3)
    enrol(store, "S-001")
    enrol(store, "S-002")
    assert store.assign_slot(1, "S-001", "crc") == 1
    info = store.subject("S-001")
    assert (info.cohort, info.dose_level, info.status) == (1, "1", "enrolled")
    with pytest.raises(EditCheckError) as caught:
        store.assign_slot(2, "S-001", "crc")
    rules = {f.rule for f in caught.value.findings}
    assert rules == {"cohort_dose_level", "duplicate"}
    with pytest.raises(EditCheckError, match="dose level 2 but cohort 1 is at dose level 1"):
        store.add_subject("S-003", "01", "crc", dose_level="2", cohort=1)
    assert store.assign_slot(1, "S-002", "crc", slot=3) == 3
    assert store.subject("S-002").dose_level == "1"


def test_escalation_decision_is_recorded_with_confirmation(store: Store) -> None:
    store.add_cohort(1, "1", "statistician")
    inputs = {"doses": [1], "n": [3], "dlt": [0], "pending": []}
    output = {"decision": "escalate", "next_level": 2, "boundaries": {"e": 0.236, "d": 0.359}}
    decision_id = store.record_decision(1, "boin", inputs, output, "2", "statistician")
    store.confirm_decision(decision_id, "Dr. Chair (DEC)", "statistician", expected_version=1)
    [decision] = store.decisions()
    assert decision["inputs"] == inputs and decision["output"] == output
    assert decision["recommended_dose"] == "2" and decision["cohort"] == 1
    assert decision["confirmed_by"] == "Dr. Chair (DEC)"
    assert decision["confirmed_at"].utcoffset() == timedelta(0)
    trail = store.audit_trail("escalation_decisions", decision_id)
    assert trail["action"].tolist() == ["INSERT", "UPDATE", "UPDATE"]
    assert set(trail["reason"].dropna()) == {"escalation decision confirmed"}


def test_foreign_keys_are_enforced(store: Store) -> None:
    with pytest.raises(Exception, match="(?i)foreign key"), store.engine.begin() as connection:
        connection.execute(text("INSERT INTO sdtm_ae (usubjid, row_version) VALUES ('nobody', 1)"))


def test_study_settings_are_audited_and_a_change_needs_a_reason(store: Store) -> None:
    store.set_study_setting("data_cut", "2025-06-30", "statistician")
    assert store.study_settings() == {"data_cut": "2025-06-30"}
    with pytest.raises(ReasonRequiredError):
        store.set_study_setting("data_cut", "2025-07-31", "statistician")
    store.set_study_setting("data_cut", "2025-07-31", "statistician", "second data cut")
    assert store.study_settings()["data_cut"] == "2025-07-31"
    trail = store.audit_trail()
    changes = trail[trail["table_name"] == "study_settings"]
    assert len(changes) >= 2 and "second data cut" in set(changes["reason"].dropna())
    assert store.verify_audit().ok


# ---- a second SQLite writer waits, and says so --------------------------------------------------


def _hold_lock(
    path: Path, seconds: float, release: threading.Event | None = None
) -> threading.Thread:
    """Another writer holding the database's write lock for ``seconds`` (or until
    ``release`` is set)."""
    locked = threading.Event()
    release = release or threading.Event()

    def hold() -> None:
        connection = sqlite3.connect(path, isolation_level=None)
        connection.execute("BEGIN IMMEDIATE")
        locked.set()
        release.wait(seconds)
        connection.execute("ROLLBACK")
        connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    assert locked.wait(5)
    return thread


def test_a_second_sqlite_writer_says_it_waits_then_proceeds(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "trial.db"
    store = init_db(f"sqlite:///{path}")
    try:
        holder = _hold_lock(path, 1.6)
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="oncotrial.store"):
            store.add_subject("S-001", "01", "coordinator")
        holder.join()
        assert time.monotonic() - started >= 1.0
        messages = [r.getMessage() for r in caplog.records]
        assert any("waiting for another writer to finish" in m for m in messages), messages
        assert any("got the write lock after" in m for m in messages), messages
        assert store.subject("S-001").site == "01"
    finally:
        store.close()


def test_a_sqlite_writer_gives_up_with_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "trial.db"
    store = init_db(f"sqlite:///{path}")
    monkeypatch.setattr(engine_module, "SQLITE_BUSY_TIMEOUT_MS", 1200)
    try:
        holder = _hold_lock(path, 2.5)
        with pytest.raises(
            DatabaseBusyError, match="another writer has held the database's write lock"
        ):
            store.add_subject("S-001", "01", "coordinator")
        holder.join()
        assert store.subjects().empty
    finally:
        store.close()


def test_the_waiting_notice_reaches_the_command_line(tmp_path: Path) -> None:
    """The notice is printed on stderr while the command waits; once the other writer is done
    the command proceeds."""
    path = tmp_path / "trial.db"
    init_db(f"sqlite:///{path}").close()
    release = threading.Event()
    holder = _hold_lock(path, 60, release)
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "oncotrial"), "db", "init", "--db", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        first = process.stderr.readline()  # blocks until the command says something
    finally:
        release.set()
        holder.join()
    rest, _ = process.communicate(timeout=60)
    assert "waiting for another writer to finish" in first
    assert process.returncode == 0
    assert "database ready" in rest
