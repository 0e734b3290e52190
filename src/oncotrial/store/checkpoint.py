"""Checkpoints: the head of the audit chain, signed, kept outside the database.

The hash chain is tamper-evident only against someone who cannot recompute it: a database
administrator who drops the append-only triggers can rewrite the tail of the trail (or cut it
short) and re-hash every later row, and :func:`~oncotrial.store.chain.verify_audit` then finds
an internally consistent chain. A checkpoint closes that gap (21 CFR Part 11 §11.10(e):
changes "shall not obscure previously recorded information"; §11.10(c): protection of records).
It records, as of one moment:

- the head (sequence number and SHA-256 hash), the UTC time and the database's identity (its
  backend, location without password, schema revision and the hash of its first audit row);
- a 4-byte prefix of every row's hash, so that a later check names the first row rewritten,
  not only that something was;

signed with an **Ed25519** private key (RFC 8032) that the database never holds. Ed25519
rather than an HMAC: the signing key stays with whoever takes checkpoints (QA, the sponsor),
while monitors, inspectors and CI verify with the public key, which cannot forge one — with an
HMAC every verifier would hold the secret that makes checkpoints. Keys are PEM files
(PKCS #8 private key written with mode 0600, SubjectPublicKeyInfo public key beside it).

A later check (:func:`compare_checkpoint`) finds the trail truncated (it ends before the
checkpoint's head), rewritten (a row up to the head no longer has the hash it had) or signed
by another key / altered (the signature does not verify).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from alembic.runtime.migration import MigrationContext
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Connection, select

from oncotrial.store.audit import canonical_json
from oncotrial.store.chain import audit_head
from oncotrial.store.errors import StoreError
from oncotrial.store.models import AuditLog

#: The ``format`` of a checkpoint file.
FORMAT = "oncotrial-audit-checkpoint/1"

#: Bytes of each row's hash kept in a checkpoint (4: a rewritten row escapes notice with
#: probability 2^-32, and then the next row or the full head hash still catches it).
DIGEST_BYTES = 4

SIGNATURE_ALGORITHM = "Ed25519"


class CheckpointError(StoreError, ValueError):
    """A key or checkpoint file that cannot be used: missing, malformed, the wrong kind."""


# ---------------------------------------------------------------------------------------------
# Keys


@dataclass(frozen=True)
class KeyFiles:
    """The files :func:`generate_key` wrote and the key's id (SHA-256 of the public key)."""

    private: Path
    public: Path
    key_id: str


def key_id(public_key: Ed25519PublicKey) -> str:
    """A short fingerprint of a public key: the first 16 hex digits of SHA-256 of its bytes."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_key_path(private: Path) -> Path:
    """Where :func:`generate_key` puts the public key of ``private``: beside it, ``.pub``."""
    return private.with_name(private.name + ".pub")


def generate_key(private: Path) -> KeyFiles:
    """Make a new Ed25519 key pair: ``private`` (mode 0600) and ``private.pub``.

    Existing files are never overwritten (a lost signing key would orphan its checkpoints).
    """
    public = public_key_path(private)
    for path in (private, public):
        if path.exists():
            raise CheckpointError(f"{path}: exists already; choose another name")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    private.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return KeyFiles(private=private, public=public, key_id=key_id(key.public_key()))


def _read_key_file(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read the key file ({exc.strerror})") from None


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 private key in ``path`` (made by :func:`generate_key`)."""
    data = _read_key_file(path)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        hint = (
            " (this is a public key: signing needs the private key)"
            if b"PUBLIC KEY" in data
            else ""
        )
        raise CheckpointError(f"{path}: not an Ed25519 private key{hint} ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise CheckpointError(f"{path}: a {type(key).__name__}, not an Ed25519 private key")
    return key


def load_verify_key(path: Path) -> Ed25519PublicKey:
    """The Ed25519 public key in ``path`` (a private key file gives its public half)."""
    data = _read_key_file(path)
    if b"PRIVATE KEY" in data:
        return load_signing_key(path).public_key()
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"{path}: not an Ed25519 public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise CheckpointError(f"{path}: a {type(key).__name__}, not an Ed25519 public key")
    return key


# ---------------------------------------------------------------------------------------------
# Making and reading checkpoints


@dataclass(frozen=True)
class Checkpoint:
    """A signed head of the audit chain (see the module docstring)."""

    seq: int
    hash: str
    created_at: str
    database: dict[str, Any]
    digests: bytes
    key_id: str
    signature: bytes
    path: Path | None = None

    def digest(self, seq: int) -> bytes:
        """The digest row ``seq`` had when the checkpoint was made."""
        return self.digests[DIGEST_BYTES * (seq - 1) : DIGEST_BYTES * seq]

    def payload(self) -> dict[str, Any]:
        """What the signature covers (as canonical JSON)."""
        return {
            "format": FORMAT,
            "seq": self.seq,
            "hash": self.hash,
            "created_at": self.created_at,
            "database": self.database,
            "digest_bytes": DIGEST_BYTES,
            "digests": base64.b64encode(self.digests).decode("ascii"),
        }

    def document(self) -> dict[str, Any]:
        """The checkpoint file's content."""
        return {
            "payload": self.payload(),
            "signature": {
                "algorithm": SIGNATURE_ALGORITHM,
                "key_id": self.key_id,
                "value": base64.b64encode(self.signature).decode("ascii"),
            },
        }

    def __str__(self) -> str:
        return (
            f"checkpoint of audit row {self.seq} (sha256 {self.hash[:12]}) at "
            f"{self.created_at}, key {self.key_id}"
        )


def row_digest(row_hash: str) -> bytes:
    """What a checkpoint keeps of an audit row's hash: its first :data:`DIGEST_BYTES` bytes."""
    return bytes.fromhex(row_hash[: 2 * DIGEST_BYTES])


def _signed_bytes(payload: dict[str, Any]) -> bytes:
    return canonical_json(payload).encode("utf-8")


def database_identity(connection: Connection, first_hash: str | None) -> dict[str, Any]:
    """Which database a checkpoint is of: backend, location (no password), schema revision
    and the hash of its first audit row (which no other database shares)."""
    return {
        "backend": connection.dialect.name,
        "location": connection.engine.url.render_as_string(hide_password=True),
        "schema_revision": MigrationContext.configure(connection).get_current_revision(),
        "first_hash": first_hash,
    }


def make_checkpoint(connection: Connection, key: Ed25519PrivateKey) -> Checkpoint:
    """Sign the head of the chain as ``connection`` sees it (use one snapshot for the check
    that the trail is intact and for the checkpoint, so it anchors what was checked)."""
    head = audit_head(connection)
    digests = bytearray()
    first_hash: str | None = None
    last_hash: str | None = None
    rows = connection.execution_options(yield_per=20000).execute(
        select(AuditLog.seq, AuditLog.hash).where(AuditLog.seq <= head.seq).order_by(AuditLog.seq)
    )
    for expected, (seq, row_hash) in enumerate(rows, start=1):
        if int(seq) != expected:
            raise CheckpointError(f"audit row {expected} is missing: no checkpoint of a gap")
        first_hash = first_hash or row_hash
        last_hash = row_hash
        digests += row_digest(row_hash)
    if len(digests) != head.seq * DIGEST_BYTES or (head.seq and last_hash != head.hash):
        raise CheckpointError("the chain head does not name the last audit row: no checkpoint")
    created_at = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    unsigned = Checkpoint(
        seq=head.seq,
        hash=head.hash,
        created_at=created_at,
        database=database_identity(connection, first_hash),
        digests=bytes(digests),
        key_id=key_id(key.public_key()),
        signature=b"",
    )
    signature = key.sign(_signed_bytes(unsigned.payload()))
    return replace(unsigned, signature=signature)


def write_checkpoint(checkpoint: Checkpoint, out: Path) -> Path:
    """Write ``checkpoint`` to ``out`` (never over an existing file: each one is an anchor)."""
    if out.exists():
        raise CheckpointError(f"{out}: exists already; each checkpoint goes to a new file")
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("x", encoding="utf-8") as handle:
        json.dump(checkpoint.document(), handle, indent=2)
        handle.write("\n")
    return out


def read_checkpoint(path: Path) -> Checkpoint:
    """A checkpoint file as written by :func:`write_checkpoint` (the signature not checked)."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
        payload, signature = document["payload"], document["signature"]
        if payload["format"] != FORMAT or payload["digest_bytes"] != DIGEST_BYTES:
            raise ValueError(f"format {payload['format']!r} is not {FORMAT!r}")
        return Checkpoint(
            seq=int(payload["seq"]),
            hash=str(payload["hash"]),
            created_at=str(payload["created_at"]),
            database=dict(payload["database"]),
            digests=base64.b64decode(payload["digests"], validate=True),
            key_id=str(signature["key_id"]),
            signature=base64.b64decode(signature["value"], validate=True),
            path=Path(path),
        )
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read the checkpoint ({exc.strerror})") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{path}: not an oncotrial audit checkpoint ({exc})") from None


# ---------------------------------------------------------------------------------------------
# Comparing a checkpoint with the trail

CheckpointProblem = Literal["signature", "truncated", "rewritten"]


@dataclass(frozen=True)
class CheckpointFinding:
    """Where the trail departs from a checkpoint: ``seq`` is the first row concerned; table,
    record and field are those the row holds now (None when the row is gone)."""

    problem: CheckpointProblem
    message: str
    seq: int | None = None
    table: str | None = None
    record_id: str | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = ""
        if self.table:
            where = f" ({self.table} #{self.record_id}{' ' + self.field if self.field else ''})"
        row = f"audit row {self.seq}{where}: " if self.seq is not None else ""
        return f"{row}{self.message}"


@dataclass(frozen=True)
class CheckpointResult:
    """One checkpoint compared with the trail: ``ok`` when the trail still holds it."""

    checkpoint: Checkpoint
    findings: tuple[CheckpointFinding, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.findings

    def __str__(self) -> str:
        name = self.checkpoint.path.name if self.checkpoint.path else "checkpoint"
        state = "the trail still holds it" if self.ok else "; ".join(map(str, self.findings))
        return f"{name} ({self.checkpoint}): {state}"


def _row(connection: Connection, seq: int) -> tuple[str | None, str | None, str | None]:
    found = connection.execute(
        select(AuditLog.table_name, AuditLog.record_id, AuditLog.field).where(AuditLog.seq == seq)
    ).first()
    return (found[0], found[1], found[2]) if found else (None, None, None)


def _verify_signature(checkpoint: Checkpoint, public_key: Ed25519PublicKey) -> str | None:
    mine = key_id(public_key)
    if checkpoint.key_id != mine:
        return f"signed with key {checkpoint.key_id}, not with the key given ({mine})"
    try:
        public_key.verify(checkpoint.signature, _signed_bytes(checkpoint.payload()))
    except InvalidSignature:
        return "the signature does not verify: the checkpoint file was altered"
    if len(checkpoint.digests) != checkpoint.seq * DIGEST_BYTES:
        return "the checkpoint's row digests do not cover its head"
    return None


def compare_checkpoint(
    connection: Connection, checkpoint: Checkpoint, public_key: Ed25519PublicKey
) -> CheckpointResult:
    """Check the signature of ``checkpoint``, then that the trail still holds it: rows 1 to
    its head present, each with the hash it had then. Names the first row that departs."""
    problem = _verify_signature(checkpoint, public_key)
    if problem is not None:
        return CheckpointResult(checkpoint, (CheckpointFinding("signature", problem),))
    rows = connection.execution_options(yield_per=20000).execute(
        select(AuditLog.seq, AuditLog.hash)
        .where(AuditLog.seq <= checkpoint.seq)
        .order_by(AuditLog.seq)
    )
    when = checkpoint.created_at
    expected, last_hash = 1, None
    for seq, row_hash in rows:
        seq = int(seq)
        if seq != expected:
            finding = CheckpointFinding(
                "truncated",
                f"rows {expected}–{seq - 1}, present at the checkpoint of {when}, are gone",
                seq=expected,
            )
            return CheckpointResult(checkpoint, (finding,))
        at = DIGEST_BYTES * (seq - 1)
        if (
            bytes.fromhex(row_hash[: 2 * DIGEST_BYTES])
            != checkpoint.digests[at : at + DIGEST_BYTES]
        ):
            table, record_id, name = _row(connection, seq)
            other = (
                f"; or the checkpoint is of another database ({checkpoint.database['location']})"
                if seq == 1
                else ""
            )
            finding = CheckpointFinding(
                "rewritten",
                f"differs from the checkpoint of {when}: the trail was rewritten from this row "
                f"on (rows {seq}–{checkpoint.seq} no longer match){other}",
                seq=seq,
                table=table,
                record_id=record_id,
                field=name,
            )
            return CheckpointResult(checkpoint, (finding,))
        expected, last_hash = seq + 1, row_hash
    if expected <= checkpoint.seq:
        head = audit_head(connection)
        finding = CheckpointFinding(
            "truncated",
            f"the trail ends at row {expected - 1} (chain head {head.seq}), but the checkpoint "
            f"of {when} anchored {checkpoint.seq} rows: rows {expected}–{checkpoint.seq} were "
            "removed",
            seq=expected,
        )
        return CheckpointResult(checkpoint, (finding,))
    if checkpoint.seq and last_hash != checkpoint.hash:
        table, record_id, name = _row(connection, checkpoint.seq)
        finding = CheckpointFinding(
            "rewritten",
            f"its hash is not the one anchored at {when}",
            seq=checkpoint.seq,
            table=table,
            record_id=record_id,
            field=name,
        )
        return CheckpointResult(checkpoint, (finding,))
    return CheckpointResult(checkpoint)
