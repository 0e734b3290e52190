"""The audit commands as a user runs them, on SQLite and PostgreSQL: ``audit verify`` naming raw
changes (text and JSON, exit 1), ``audit keygen`` / ``checkpoint`` / ``verify --checkpoint``,
``audit head``, ``audit export`` (the export re-hashed here with hashlib alone, from the
formula in the export's own header), and clean errors (exit 2) at any terminal width.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from audit_tampering import behind_the_back, busy_trial, rehash_from, trail_rows
from oncotrial.cli.main import app
from oncotrial.store import Store

pytest_plugins = ["store_fixtures"]

WIDTHS = ("40", "300")


def url_of(store: Store) -> str:
    return store.engine.url.render_as_string(hide_password=False)


def run(*args: str, columns: str = "300") -> tuple[int, str, str]:
    result = CliRunner(env={"COLUMNS": columns}).invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def tamper(store: Store, record_id: int) -> None:
    with behind_the_back(store) as dba:
        dba.execute(text("UPDATE sdtm_tr SET trstresc = '9' WHERE id = :i"), {"i": record_id})
        dba.execute(
            text(
                "INSERT INTO subjects (usubjid, site_code, status, row_version) "
                "VALUES ('01-[ghost]', '01', 'enrolled', 1)"
            )
        )


@pytest.mark.parametrize("columns", WIDTHS)
def test_verify_names_each_raw_change_in_text_and_json(store: Store, columns: str) -> None:
    ids = busy_trial(store)
    code, out, _ = run("audit", "verify", "--db", url_of(store), columns=columns)
    assert code == 0 and "audit trail verified" in out
    tamper(store, ids["tr"][3])
    code, out, _ = run("audit", "verify", "--db", url_of(store), columns=columns)
    assert code == 1
    lines = out.splitlines()
    expected = (
        f"  sdtm_tr #{ids['tr'][3]} (01-001) TRSTRESC: stored '9', but the audit trail (to row "
    )
    assert any(line.startswith(expected) for line in lines), out
    assert any("subjects #" in line and "(01-[ghost])" in line for line in lines), out
    assert "audit trail NOT verified" in out
    code, out, _ = run("audit", "verify", "--db", url_of(store), "--format", "json")
    assert code == 1
    data = json.loads(out)
    assert data["ok"] is False and data["chain"]["ok"] is True
    rec = data["reconciliation"]
    assert rec["discrepancy_count"] == 2 and rec["by_problem"] == {"changed": 1, "inserted": 1}
    first = rec["discrepancies"][0]
    assert {k: first[k] for k in ("table", "record_id", "field", "stored", "audited")} == {
        "table": "sdtm_tr",
        "record_id": str(ids["tr"][3]),
        "field": "TRSTRESC",
        "stored": "9",
        "audited": "23",
    }


def test_verify_limit_bounds_the_list_but_counts_everything(store: Store) -> None:
    busy_trial(store)
    with behind_the_back(store) as dba:
        dba.execute(text("UPDATE sdtm_tr SET visit = 'WEEK 7'"))
    code, out, _ = run("audit", "verify", "--db", url_of(store), "--limit", "3")
    assert code == 1 and "… and 8 more" in out
    data = json.loads(run("audit", "verify", "--db", url_of(store), "--format", "json")[1])
    assert data["reconciliation"]["discrepancy_count"] == 11


def test_keygen_checkpoint_then_verify_catches_a_rewritten_tail(
    store: Store, tmp_path: Path
) -> None:
    ids = busy_trial(store)
    key = tmp_path / "qa" / "audit-key.pem"
    code, out, _ = run("audit", "keygen", "--out", str(key), "--format", "json")
    assert code == 0 and json.loads(out)["public_key"] == f"{key}.pub"
    checkpoint = tmp_path / "checkpoints" / "2024-07-31.json"
    code, out, err = run(
        "audit", "checkpoint", "--db", url_of(store), "--key", str(key), "--out", str(checkpoint)
    )
    assert code == 0 and "checkpoint written" in out, err
    verify = ("audit", "verify", "--db", url_of(store), "--checkpoint", str(checkpoint))
    code, out, _ = run(*verify, "--key", f"{key}.pub")
    assert code == 0 and "the trail still holds it" in out
    with behind_the_back(store) as dba:
        [row] = [
            r
            for r in trail_rows(dba)
            if r["record_id"] == str(ids["tr"][0]) and r["field"] == "TRSTRESC"
        ]
        dba.execute(text("UPDATE audit_log SET new_value = '12' WHERE seq = :s"), {"s": row["seq"]})
        dba.execute(text("UPDATE sdtm_tr SET trstresc = '12' WHERE id = :i"), {"i": ids["tr"][0]})
        rehash_from(dba, row["seq"])
    code, out, _ = run(*verify, "--key", f"{key}.pub", "--format", "json")
    assert code == 1
    data = json.loads(out)
    assert data["chain"]["ok"] and data["reconciliation"]["ok"]
    [finding] = data["checkpoints"][0]["findings"]
    assert (finding["problem"], finding["seq"], finding["table"], finding["field"]) == (
        "rewritten",
        row["seq"],
        "sdtm_tr",
        "TRSTRESC",
    )
    code, out, _ = run(*verify, "--key", f"{key}.pub", columns="40")
    assert code == 1 and f"audit row {row['seq']} (sdtm_tr #{ids['tr'][0]} TRSTRESC)" in out


def test_checkpoint_refuses_a_broken_trail_and_wrong_keys(store: Store, tmp_path: Path) -> None:
    ids = busy_trial(store)
    key = tmp_path / "k.pem"
    assert run("audit", "keygen", "--out", str(key))[0] == 0
    code, _, err = run("audit", "keygen", "--out", str(key))
    assert code == 2 and err.startswith("error: ") and "exists already" in err
    out_file = tmp_path / "cp.json"
    code, _, err = run(
        "audit", "checkpoint", "--db", url_of(store), "--key", f"{key}.pub", "--out", str(out_file)
    )
    assert code == 2 and "signing needs the private key" in err
    code, _, err = run("audit", "verify", "--db", url_of(store), "--checkpoint", str(key))
    assert code == 2 and "needs the key" in err
    tamper(store, ids["tr"][1])
    code, out, _ = run(
        "audit", "checkpoint", "--db", url_of(store), "--key", str(key), "--out", str(out_file)
    )
    assert code == 1 and "no checkpoint" in out and not out_file.exists()


def test_not_a_trial_database(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "trial.db"
    for command in ("verify", "head"):
        code, _, err = run("audit", command, "--db", str(missing), columns="40")
        assert code == 2 and "not a trial database" in err and "run `oncotrial db init`" in err
        assert "Traceback" not in err
    assert not missing.parent.exists()
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    code, _, err = run("audit", "verify", "--db", str(empty))
    assert code == 2 and "not a trial database" in err


def _csv_records(path: Path) -> list[list[str | None]]:
    """Parse the export's CSV by its documented rule (quoted = text, bare empty = null)."""
    cell = re.compile(r'"((?:[^"]|"")*)"|([^,\r\n]*)')
    content = path.read_bytes().decode("utf-8")
    records, row, at = [], [], content.index("\r\n") + 2
    while at < len(content):
        match = cell.match(content, at)
        quoted, bare = match.group(1), match.group(2)
        row.append(quoted.replace('""', '"') if quoted is not None else (bare or None))
        at = match.end()
        if content.startswith("\r\n", at):
            records.append(row)
            row, at = [], at + 2
        else:
            at += 1
    return records


def test_export_rehashes_without_oncotrial(store: Store, tmp_path: Path) -> None:
    """Recompute every hash of the exported trail from the rule the JSON export states, with
    hashlib and json alone; the CSV holds the same cells (null and empty text apart)."""
    busy_trial(store)
    head = store.audit_head()
    code, out, _ = run(
        "audit", "export", "--db", url_of(store), "--out", str(tmp_path / "a.json"),
        "--format", "json",
    )  # fmt: skip
    assert code == 0 and json.loads(out)["rows"] == head.seq
    exported = json.loads((tmp_path / "a.json").read_text(encoding="utf-8"))
    assert exported["head"] == {"seq": head.seq, "hash": head.hash}
    assert "SHA-256" in exported["hash_rule"]
    fields = [
        "seq", "txn_id", "changed_at", "user_name", "action", "table_name", "record_id",
        "field", "old_value", "new_value", "reason",
    ]  # fmt: skip
    prev = "0" * 64
    for row in exported["rows"]:
        material = json.dumps([row[f] for f in fields], ensure_ascii=False, separators=(",", ":"))
        assert row["prev_hash"] == prev
        prev = hashlib.sha256(prev.encode() + material.encode("utf-8")).hexdigest()
        assert row["hash"] == prev
    assert prev == head.hash
    assert any(row["old_value"] == "" for row in exported["rows"])  # TRREASND '' → kept apart
    assert run("audit", "export", "--db", url_of(store), "--out", str(tmp_path / "a.csv"))[0] == 0
    records = _csv_records(tmp_path / "a.csv")
    as_json = [[row[c] for c in exported["columns"]] for row in exported["rows"]]
    assert [[int(r[0]), *r[1:]] for r in records] == as_json


def test_export_of_one_domain_and_one_record(store: Store, tmp_path: Path) -> None:
    ids = busy_trial(store)
    out = tmp_path / "tr.json"
    code, _, _ = run("audit", "export", "--db", url_of(store), "--table", "TR", "--out", str(out))
    rows = json.loads(out.read_text())["rows"]
    assert code == 0 and {r["table_name"] for r in rows} == {"sdtm_tr"}
    assert len(rows) == len(store.audit_trail("TR"))
    out = tmp_path / "one.csv"
    record = str(ids["tr"][0])
    run("audit", "export", "--db", url_of(store), "--table", "sdtm_tr", "--record", record,
        "--out", str(out))  # fmt: skip
    assert [r[4] for r in _csv_records(out)] == ["INSERT", "UPDATE", "UPDATE"]
    code, _, err = run(
        "audit", "export", "--db", url_of(store), "--out", str(tmp_path / "x.xml"),
        "--output-format", "xml",
    )  # fmt: skip
    assert code == 2 and "not csv or json" in err


def test_head_prints_what_the_report_will(store: Store) -> None:
    busy_trial(store)
    head = store.audit_head()
    code, out, _ = run("audit", "head", "--db", url_of(store), "--format", "json")
    assert code == 0 and json.loads(out) == {"seq": head.seq, "hash": head.hash}
    assert str(head) == f"audit head {head.seq} (sha256 {head.hash[:12]})"


@pytest.mark.parametrize("columns", WIDTHS)
def test_every_audit_command_explains_itself(columns: str) -> None:
    for command, phrase in (
        ("verify", "the trail is replayed against every audited table"),
        ("checkpoint", "signed"),
        ("keygen", "Ed25519 key pair"),
        ("head", "head of the audit chain"),
        ("export", "for inspectors"),
    ):
        code, out, _ = run("audit", command, "--help", columns=columns)
        assert code == 0 and phrase in " ".join(out.split()), (command, out)
