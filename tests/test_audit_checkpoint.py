"""Signed checkpoints of the audit chain head, on SQLite and PostgreSQL.

An insider who drops the append-only triggers can rewrite the tail of the trail and re-hash it
consistently (``verify_audit`` and the reconciliation then find nothing), or cut rows off the
end and move the head back. A checkpoint signed outside the database catches both and names the
first row concerned. Signatures are Ed25519 (RFC 8032); the first test checks our key handling
against RFC 8032 §7.1 test vector 1 through the ``cryptography`` package, the reference here.
"""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text

from audit_tampering import behind_the_back, busy_trial, rehash_from, trail_rows
from oncotrial.store import Store, init_db
from oncotrial.store.audit_check import check_audit, take_checkpoint
from oncotrial.store.chain import AuditHead, audit_head, read_snapshot, verify_audit
from oncotrial.store.checkpoint import (
    CheckpointError,
    compare_checkpoint,
    generate_key,
    key_id,
    load_signing_key,
    load_verify_key,
    make_checkpoint,
    read_checkpoint,
)
from oncotrial.store.reconcile import reconcile

pytest_plugins = ["store_fixtures"]

#: RFC 8032 §7.1, TEST 1: secret key, public key, and the signature of the empty message.
RFC8032_SECRET = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
RFC8032_PUBLIC = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
RFC8032_SIGNATURE = (
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b"
    "46bd25bf5f0595bbe24655141438e7a100b"
)


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    made = generate_key(tmp_path / "keys" / "qa-signing.pem")
    return made.private, made.public


def checkpoint_now(store: Store, private: Path, out: Path) -> Path:
    checked, written = take_checkpoint(store.engine, private, out)
    assert checked.ok and written is not None
    return out


def findings(store: Store, path: Path, public: Path) -> list[tuple[str, int | None]]:
    result = check_audit(store.engine, checkpoints=[path], key=public)
    [held] = result.checkpoints
    return [(f.problem, f.seq) for f in held.findings]


def test_ed25519_signing_matches_rfc8032_test_vector_1(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(RFC8032_SECRET))
    assert key.sign(b"").hex() == RFC8032_SIGNATURE
    pem = tmp_path / "rfc.pem"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public = load_verify_key(pem)
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert raw.hex() == RFC8032_PUBLIC
    assert load_signing_key(pem).sign(b"").hex() == RFC8032_SIGNATURE


def test_keygen_writes_a_private_key_only_its_owner_reads(keys: tuple[Path, Path]) -> None:
    private, public = keys
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert public.name == "qa-signing.pem.pub" and b"PUBLIC KEY" in public.read_bytes()
    assert key_id(load_verify_key(public)) == key_id(load_verify_key(private))
    with pytest.raises(CheckpointError, match="exists already"):
        generate_key(private)
    with pytest.raises(CheckpointError, match="public key: signing needs the private key"):
        load_signing_key(public)


def test_checkpoint_holds_and_the_trail_may_grow(
    store: Store, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    private, public = keys
    busy_trial(store)
    head = audit_head(store.engine)
    path = checkpoint_now(store, private, tmp_path / "cp-1.json")
    document = json.loads(path.read_text())
    payload = document["payload"]
    assert (payload["seq"], payload["hash"]) == (head.seq, head.hash)
    assert payload["created_at"].endswith("Z") and payload["database"]["backend"] in (
        "sqlite",
        "postgresql",
    )
    assert len(base64.b64decode(payload["digests"])) == 4 * head.seq
    assert "password" not in payload["database"]["location"]
    store.add_records(
        "AE",
        [{"USUBJID": "01-003", "AETERM": "Cough", "AETOXGR": "1", "AESTDTC": "2024-02-01"}],
        "crc",
    )
    result = check_audit(store.engine, checkpoints=[path], key=public)
    assert result.ok and result.checkpoints[0].ok
    with pytest.raises(CheckpointError, match="exists already"):
        take_checkpoint(store.engine, private, path)


def test_a_consistently_rewritten_tail_is_caught_only_by_the_checkpoint(
    store: Store, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    """The insider changes a tumour measurement, rewrites its audit row to match and re-hashes
    every later row and the head: the chain and the tables agree; the checkpoint does not."""
    private, public = keys
    ids = busy_trial(store)
    path = checkpoint_now(store, private, tmp_path / "cp.json")
    record = str(ids["tr"][0])
    with behind_the_back(store) as dba:
        [audited] = [
            row
            for row in trail_rows(dba)
            if row["table_name"] == "sdtm_tr"
            and row["record_id"] == record
            and row["field"] == "TRSTRESC"
        ]
        dba.execute(text("UPDATE sdtm_tr SET trstresc = '12' WHERE id = :i"), {"i": int(record)})
        dba.execute(
            text("UPDATE audit_log SET new_value = '12' WHERE seq = :s"), {"s": audited["seq"]}
        )
        rehash_from(dba, audited["seq"])
    assert verify_audit(store.engine).ok and reconcile(store.engine).ok
    result = check_audit(store.engine, checkpoints=[path], key=public)
    assert not result.ok
    [finding] = result.checkpoints[0].findings
    assert (finding.problem, finding.seq) == ("rewritten", audited["seq"])
    assert (finding.table, finding.record_id, finding.field) == ("sdtm_tr", record, "TRSTRESC")
    assert "rewritten from this row on" in str(finding)


def checkpoint_then_cut_the_last_change(
    store: Store, keys: tuple[Path, Path], tmp_path: Path
) -> tuple[Path, Path, AuditHead]:
    """A busy trial checkpointed; then the insider removes the last change (the second data
    cut) from the trail, puts the old value back and moves the head back."""
    private, public = keys
    busy_trial(store)
    head = audit_head(store.engine)
    path = checkpoint_now(store, private, tmp_path / "cp.json")
    with behind_the_back(store) as dba:
        dba.execute(text("DELETE FROM audit_log WHERE seq = :s"), {"s": head.seq})
        dba.execute(text("UPDATE study_settings SET value = '2024-06-30'"))
        rehash_from(dba, head.seq)
    return path, public, head


def test_a_trail_truncated_after_the_checkpoint_is_caught(
    store: Store, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    """The last change cut from the trail and from the table: only the checkpoint sees it."""
    path, public, head = checkpoint_then_cut_the_last_change(store, keys, tmp_path)
    assert verify_audit(store.engine).ok and reconcile(store.engine).ok
    assert findings(store, path, public) == [("truncated", head.seq)]
    [held] = check_audit(store.engine, checkpoints=[path], key=public).checkpoints
    assert f"rows {head.seq}–{head.seq} were removed" in str(held)


def test_truncated_then_regrown_past_the_checkpoint_is_caught(
    store: Store, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    """Cut back, then new work appended: the trail is longer than the checkpoint again, but row
    ``head.seq`` is no longer the row that was anchored."""
    path, public, head = checkpoint_then_cut_the_last_change(store, keys, tmp_path)
    store.add_records(
        "AE",
        [{"USUBJID": "01-003", "AETERM": "Cough", "AETOXGR": "1", "AESTDTC": "2024-02-01"}],
        "crc",
    )
    store.add_records(
        "AE",
        [{"USUBJID": "01-003", "AETERM": "Fever", "AETOXGR": "1", "AESTDTC": "2024-02-01"}],
        "crc",
    )
    assert verify_audit(store.engine).ok and reconcile(store.engine).ok
    result = check_audit(store.engine, checkpoints=[path], key=public)
    [finding] = result.checkpoints[0].findings
    assert (finding.problem, finding.seq, finding.table) == ("rewritten", head.seq, "sdtm_ae")


def test_a_forged_or_foreign_checkpoint_is_refused(
    store: Store, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    private, public = keys
    busy_trial(store)
    path = checkpoint_now(store, private, tmp_path / "cp.json")
    forged = json.loads(path.read_text())
    forged["payload"]["seq"] -= 1
    forged_path = tmp_path / "forged.json"
    forged_path.write_text(json.dumps(forged))
    assert findings(store, forged_path, public) == [("signature", None)]
    other = generate_key(tmp_path / "other.pem")
    result = check_audit(store.engine, checkpoints=[path], key=other.public)
    assert "not with the key given" in str(result.checkpoints[0])
    broken = tmp_path / "broken.json"
    broken.write_text("{ not json")
    with pytest.raises(CheckpointError, match="not an oncotrial audit checkpoint"):
        check_audit(store.engine, checkpoints=[broken], key=public)
    with pytest.raises(CheckpointError, match="needs the key"):
        check_audit(store.engine, checkpoints=[path])


def test_a_checkpoint_of_another_database_is_named_so(
    store: Store, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    private, public = keys
    busy_trial(store)
    path = checkpoint_now(store, private, tmp_path / "cp.json")
    other = init_db(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        busy_trial(other)
        with read_snapshot(other.engine) as connection:
            checkpoint = read_checkpoint(path)
            result = compare_checkpoint(connection, checkpoint, load_verify_key(public))
    finally:
        other.close()
    [finding] = result.findings
    assert (finding.problem, finding.seq) == ("rewritten", 1)
    assert "another database" in finding.message


def test_no_checkpoint_of_a_trail_that_does_not_verify(
    store: Store, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    private, _ = keys
    ids = busy_trial(store)
    with behind_the_back(store) as dba:
        dba.execute(text("DELETE FROM sdtm_tr WHERE id = :i"), {"i": ids["tr"][0]})
    checked, written = take_checkpoint(store.engine, private, tmp_path / "cp.json")
    assert written is None and not checked.ok
    assert checked.reconciliation.by_problem == {"deleted": 1}
    assert not (tmp_path / "cp.json").exists()


def test_a_checkpoint_of_an_empty_trail(store: Store, keys: tuple[Path, Path]) -> None:
    private, public = keys
    with read_snapshot(store.engine) as connection:
        checkpoint = make_checkpoint(connection, load_signing_key(private))
        assert (checkpoint.seq, checkpoint.database["first_hash"]) == (0, None)
    busy_trial(store)
    with read_snapshot(store.engine) as connection:
        assert compare_checkpoint(connection, checkpoint, load_verify_key(public)).ok
