"""The audit trail is append-only and tamper-evident (21 CFR Part 11 §11.10(e)).

Triggers refuse UPDATE/DELETE of audit rows; a DBA who bypasses them (dropping the SQLite
triggers, or ``session_replication_role = replica`` on PostgreSQL) is caught by the SHA-256 hash
chain: ``verify_audit`` names every broken link — altered (hash mismatch) or removed (gap) —
first one first. Data changed without the trail: ``test_audit_reconcile.py``; a trail rewritten
consistently or cut short: ``test_audit_checkpoint.py``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from oncotrial.store import Store, verify_audit
from oncotrial.store.audit import GENESIS_HASH, canonical_row, chain_hash

pytest_plugins = ["store_fixtures"]


def populate(store: Store) -> None:
    """A site, a subject, four AEs, a two-field correction and a deletion: 9 audit rows."""
    store.add_subject("S-001", "01", "crc", consent_date="2024-01-02", first_dose_date="2024-01-10")
    ids = store.add_records(
        "AE",
        [
            {"USUBJID": "S-001", "AETERM": term, "AETOXGR": "1", "AESTDTC": "2024-01-15"}
            for term in ("Fatigue", "Rash", "Diarrhoea", "Nausea")
        ],
        "investigator",
    ).ids
    store.update_record("AE", ids[1], {"AETOXGR": "2", "AESER": "N"}, "monitor", "SDV", 1)
    store.delete_record("AE", ids[3], "monitor", "entered twice", 1)


@contextmanager
def as_dba(store: Store) -> Iterator[Connection]:
    """A connection that bypasses the append-only triggers, as a database administrator can."""
    with store.engine.connect() as connection:
        if store.engine.dialect.name == "sqlite":
            connection.exec_driver_sql("DROP TRIGGER audit_log_no_update")
            connection.exec_driver_sql("DROP TRIGGER audit_log_no_delete")
        else:
            connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
        yield connection
        connection.commit()


def test_audit_table_refuses_update_delete_and_truncate(store: Store) -> None:
    populate(store)
    statements = [
        "UPDATE audit_log SET new_value = 'x' WHERE seq = 3",
        "DELETE FROM audit_log WHERE seq = 3",
    ]
    if store.engine.dialect.name == "postgresql":
        statements.append("TRUNCATE audit_log")
    for statement in statements:
        with pytest.raises(DBAPIError, match="append-only"), store.engine.begin() as connection:
            connection.exec_driver_sql(statement)
    assert verify_audit(store.engine).ok


def test_chain_head_only_moves_forward(store: Store) -> None:
    populate(store)
    for statement in (
        "UPDATE audit_chain_head SET last_seq = last_seq - 1",
        "DELETE FROM audit_chain_head",
    ):
        with pytest.raises(DBAPIError, match="chain head"), store.engine.begin() as connection:
            connection.exec_driver_sql(statement)


def test_verify_recomputes_the_chain(store: Store) -> None:
    populate(store)
    report = verify_audit(store.engine)
    assert report.ok and bool(report)
    trail = store.audit_trail()
    assert report.rows_checked == report.last_seq == len(trail) == 9
    assert trail.iloc[0]["prev_hash"] == GENESIS_HASH
    # the documented formula, recomputed here independently of verify_audit
    first = trail.iloc[0].to_dict()
    material = (
        GENESIS_HASH.encode()
        + json.dumps(
            [
                first[k]
                for k in (
                    "seq",
                    "txn_id",
                    "changed_at",
                    "user_name",
                    "action",
                    "table_name",
                    "record_id",
                    "field",
                    "old_value",
                    "new_value",
                    "reason",
                )
            ],
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
    )
    assert hashlib.sha256(material).hexdigest() == first["hash"]
    assert canonical_row(first) == material[64:]


def test_verify_reports_an_altered_row(store: Store) -> None:
    populate(store)
    target = store.audit_trail().query("action == 'UPDATE'").iloc[0]
    with as_dba(store) as dba:
        dba.exec_driver_sql(
            f"UPDATE audit_log SET new_value = '1' WHERE seq = {int(target['seq'])}"
        )
    report = verify_audit(store.engine)
    assert not report.ok
    assert report.broken is not None
    assert (report.broken.seq, report.broken.table, report.broken.problem) == (
        target["seq"],
        "sdtm_ae",
        "altered",
    )
    assert "does not match its hash" in str(report)


def test_verify_reports_a_removed_row(store: Store) -> None:
    populate(store)
    with as_dba(store) as dba:
        dba.exec_driver_sql("DELETE FROM audit_log WHERE seq IN (5, 6)")
    report = verify_audit(store.engine)
    assert report.broken is not None
    assert (report.broken.seq, report.broken.problem) == (5, "removed")
    assert "rows 5–6 are missing" in report.broken.message


def test_verify_reports_rows_removed_from_the_end(store: Store) -> None:
    populate(store)
    last = verify_audit(store.engine).last_seq
    with as_dba(store) as dba:
        dba.exec_driver_sql(f"DELETE FROM audit_log WHERE seq = {last}")
    report = verify_audit(store.engine)
    assert report.broken is not None
    assert (report.broken.seq, report.broken.problem) == (last, "removed")


def test_verify_reports_the_first_of_several_breaks(store: Store) -> None:
    populate(store)
    with as_dba(store) as dba:
        dba.exec_driver_sql("DELETE FROM audit_log WHERE seq = 8")
        dba.exec_driver_sql("UPDATE audit_log SET user_name = 'mallory' WHERE seq = 4")
    report = verify_audit(store.engine)
    assert report.broken is not None
    assert (report.broken.seq, report.broken.problem) == (4, "altered")


def test_verify_catches_a_row_rewritten_with_a_recomputed_hash(store: Store) -> None:
    """Rewriting a row and its own hash breaks the next row's link."""
    populate(store)
    row = store.audit_trail().iloc[2].to_dict()
    row["reason"] = "backdated"
    forged = chain_hash(row["prev_hash"], row)
    with as_dba(store) as dba:
        dba.exec_driver_sql(
            f"UPDATE audit_log SET reason = 'backdated', hash = '{forged}' WHERE seq = 3"
        )
    report = verify_audit(store.engine)
    assert report.broken is not None
    assert (report.broken.seq, report.broken.problem) == (4, "altered")
    assert "prev_hash" in report.broken.message


def test_verify_lists_every_broken_link_not_only_the_first(store: Store) -> None:
    """Two rows altered and one removed: all three are named, the list bounded by ``limit``."""
    populate(store)
    with as_dba(store) as dba:
        dba.exec_driver_sql("UPDATE audit_log SET user_name = 'mallory' WHERE seq IN (2, 6)")
        dba.exec_driver_sql("DELETE FROM audit_log WHERE seq = 8")
    report = verify_audit(store.engine)
    assert [(link.seq, link.problem) for link in report.problems] == [
        (2, "altered"),
        (6, "altered"),
        (8, "removed"),
    ]
    assert report.problem_count == 3 and "(and 2 more problems)" in str(report)
    bounded = verify_audit(store.engine, limit=1)
    assert len(bounded.problems) == 1 and bounded.problem_count == 3
