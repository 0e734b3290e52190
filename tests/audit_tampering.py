"""What a database administrator can do behind the application's back, for the audit tests.

``behind_the_back`` gives a connection with the append-only triggers out of the way (dropped on
SQLite; ``session_replication_role = replica`` on PostgreSQL, which a superuser may set), so a
test can change data and rewrite or cut the trail exactly as an insider could. ``busy_trial``
fills a store with the kinds of operations a real study makes, through the application.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, text

from oncotrial.store import Store
from oncotrial.store.audit import HASHED_FIELDS, chain_hash
from oncotrial.store.models import User

SQLITE_TRIGGERS = (
    "audit_log_no_update",
    "audit_log_no_delete",
    "audit_chain_head_no_delete",
    "audit_chain_head_forward_only",
)


@contextmanager
def behind_the_back(store: Store) -> Iterator[Connection]:
    """A committed-on-exit connection that bypasses the audit trail's triggers."""
    with store.engine.connect() as connection:
        if store.engine.dialect.name == "sqlite":
            for name in SQLITE_TRIGGERS:
                connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")
        else:
            connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
        yield connection
        connection.commit()


def trail_rows(connection: Connection, from_seq: int = 1) -> list[dict[str, Any]]:
    """Audit rows from ``from_seq`` on, as dicts, in sequence order."""
    result = connection.execute(
        text("SELECT * FROM audit_log WHERE seq >= :s ORDER BY seq"), {"s": from_seq}
    )
    return [dict(row) for row in result.mappings()]


def rehash_from(connection: Connection, from_seq: int) -> None:
    """Recompute the hash of every row from ``from_seq`` on and move the head to match: the
    rewritten chain is internally consistent, as an insider would leave it."""
    rows = trail_rows(connection, from_seq)
    previous = connection.execute(
        text("SELECT hash FROM audit_log WHERE seq = :s"), {"s": from_seq - 1}
    ).scalar()
    prev_hash = previous or "0" * 64
    for row in rows:
        row["prev_hash"] = prev_hash
        row["hash"] = chain_hash(prev_hash, {k: row[k] for k in HASHED_FIELDS})
        connection.execute(
            text("UPDATE audit_log SET prev_hash = :p, hash = :h WHERE seq = :s"),
            {"p": row["prev_hash"], "h": row["hash"], "s": row["seq"]},
        )
        prev_hash = row["hash"]
    last = connection.execute(text("SELECT max(seq), count(*) FROM audit_log")).one()
    connection.execute(
        text("UPDATE audit_chain_head SET last_seq = :q, last_hash = :h WHERE id = 1"),
        {"q": last[0] or 0, "h": prev_hash if rows else previous or "0" * 64},
    )


def busy_trial(store: Store) -> dict[str, Any]:
    """A small study with every kind of audited operation: sites, users (a password hash set
    and changed), subjects enrolled into cohort slots, SDTM records imported in bulk and one by
    one (with non-standard variables), corrections with reasons, deletions, a confirmed
    escalation decision, a changed data cut. Returns ids the tests tamper with."""
    store.add_site("01", "admin", name="Zhongshan", country="CHN")
    user_id = store.add_user("dr.li", "investigator", "admin", full_name="Dr. Li")
    with store.session("admin", reason="password set at first login") as session:
        session.get(User, user_id).password_hash = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"
        session.commit()
    store.add_cohort(1, "1", "statistician", slots=3)
    for i in range(1, 4):
        store.add_subject(
            f"01-00{i}",
            "01",
            "coordinator",
            consent_date="2024-01-02",
            first_dose_date="2024-01-10",
        )
        store.assign_slot(1, f"01-00{i}", "coordinator")
    store.update_subject("01-001", {"status": "on_treatment"}, "coordinator", "first dose", 2)
    tr_rows = [
        {
            "STUDYID": "TD-HCC",
            "DOMAIN": "TR",
            "USUBJID": f"01-00{1 + i % 3}",
            "TRLNKID": f"T{i // 3}",
            "TRTESTCD": "DIAMETER",
            "TRORRES": str(20 + i),
            "TRSTRESC": str(20 + i),
            "TRSTRESN": str(20 + i),
            "TRDTC": "2024-02-10",
            "VISIT": "WEEK 6",
            "TRNOTE": "" if i % 2 else "read by site",
        }
        for i in range(12)
    ]
    tr_ids = store.add_records("TR", tr_rows, "site-reader").ids
    store.update_record("TR", tr_ids[0], {"TRSTRESC": "19", "TRNOTE": "re-read"}, "cra", "SDV", 1)
    store.update_record("TR", tr_ids[1], {"TRNOTE": None, "TRREASND": ""}, "cra", "query 4", 1)
    store.delete_record("TR", tr_ids[2], "cra", "entered twice", 1)
    ae_ids = store.add_records(
        "AE",
        [
            {"USUBJID": "01-001", "AETERM": "Rash", "AETOXGR": "2", "AESTDTC": "2024-01-15"},
            {"USUBJID": "01-002", "AETERM": "Hypertension", "AETOXGR": "3"},
        ],
        "investigator",
    ).ids
    store.update_record("AE", ae_ids[1], {"AETOXGR": "2"}, "monitor", "lab report", 1)
    store.delete_record("AE", ae_ids[0], "monitor", "not an AE", 1)
    decision = store.record_decision(
        1, "boin", {"n": [3], "dlt": [0], "pending": []}, {"decision": "escalate"}, "2", "stat"
    )
    store.confirm_decision(decision, "Dr. Chair", "stat", 1)
    store.set_study_setting("data_cut", "2024-06-30", "statistician")
    store.set_study_setting("data_cut", "2024-07-31", "statistician", "second data cut")
    subject_id = int(store.subjects().set_index("usubjid").loc["01-002", "id"])
    return {"tr": tr_ids, "ae": ae_ids, "user": user_id, "subject": subject_id}
