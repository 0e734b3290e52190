"""Everything ``oncotrial audit verify`` checks, in one snapshot of the database.

1. the hash chain (:func:`~oncotrial.store.chain.verify_audit`): no audit row altered, removed
   or added behind the application's back;
2. the reconciliation (:func:`~oncotrial.store.reconcile.reconcile`): every row of every
   audited table equals the replay of its audit entries (21 CFR Part 11 §11.10(a), (e));
3. each signed checkpoint given (:mod:`oncotrial.store.checkpoint`): the trail still holds the
   head anchored outside the database, so a consistent rewrite or a truncation is found.

All three read one snapshot (:func:`~oncotrial.store.chain.read_snapshot`), so a check run
while sites keep writing compares the chain, its head and the tables as of one moment.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from oncotrial.store.chain import (
    DEFAULT_LIMIT,
    AuditHead,
    Progress,
    VerifyReport,
    audit_head,
    read_snapshot,
    verify_audit,
)
from oncotrial.store.checkpoint import (
    Checkpoint,
    CheckpointError,
    CheckpointResult,
    compare_checkpoint,
    load_signing_key,
    load_verify_key,
    make_checkpoint,
    read_checkpoint,
    write_checkpoint,
)
from oncotrial.store.reconcile import ReconcileReport, reconcile


@dataclass(frozen=True)
class AuditCheck:
    """The result of :func:`check_audit`; ``ok`` when the chain, the tables and every
    checkpoint agree."""

    head: AuditHead
    chain: VerifyReport
    reconciliation: ReconcileReport
    checkpoints: tuple[CheckpointResult, ...]
    seconds: float

    @property
    def ok(self) -> bool:
        return (
            self.chain.ok
            and self.reconciliation.ok
            and all(result.ok for result in self.checkpoints)
        )

    def __bool__(self) -> bool:
        return self.ok

    def as_dict(self) -> dict[str, Any]:
        """Plain data for ``--format json`` (every list bounded, every count complete)."""
        chain = self.chain
        return {
            "ok": self.ok,
            "head": {"seq": self.head.seq, "hash": self.head.hash},
            "chain": {
                "ok": chain.ok,
                "message": str(chain),
                "rows_checked": chain.rows_checked,
                "problem_count": chain.problem_count,
                "problems": [asdict(link) for link in chain.problems],
            },
            "first_broken": asdict(chain.broken) if chain.broken else None,
            "reconciliation": {
                "ok": self.reconciliation.ok,
                "message": str(self.reconciliation),
                "tables": [asdict(table) for table in self.reconciliation.tables],
                "discrepancy_count": self.reconciliation.discrepancy_count,
                "by_problem": self.reconciliation.by_problem,
                "discrepancies": [asdict(d) for d in self.reconciliation.discrepancies],
            },
            "checkpoints": [
                {
                    "file": str(result.checkpoint.path) if result.checkpoint.path else None,
                    "ok": result.ok,
                    "seq": result.checkpoint.seq,
                    "hash": result.checkpoint.hash,
                    "created_at": result.checkpoint.created_at,
                    "key_id": result.checkpoint.key_id,
                    "database": result.checkpoint.database,
                    "findings": [asdict(finding) for finding in result.findings],
                }
                for result in self.checkpoints
            ],
            "seconds": round(self.seconds, 3),
        }


def check_audit(
    engine: Engine,
    *,
    checkpoints: Sequence[Path] = (),
    key: Path | None = None,
    limit: int = DEFAULT_LIMIT,
    progress: Progress | None = None,
) -> AuditCheck:
    """Verify the chain, reconcile the tables and compare each checkpoint, in one snapshot.

    Parameters
    ----------
    engine
        The trial database.
    checkpoints
        Checkpoint files (:func:`take_checkpoint`) to hold the trail against.
    key
        The public key (or the private key) that signed them; required with ``checkpoints``.
    limit
        How many problems of each kind to list (all are counted).
    progress
        ``progress(done, total)``: audit rows checked, then audit entries replayed.

    Returns
    -------
    AuditCheck

    Example
    -------
    >>> result = check_audit(store.engine, checkpoints=[Path("cp.json")], key=Path("k.pub"))
    ... # doctest: +SKIP
    >>> result.ok, result.reconciliation.discrepancy_count  # doctest: +SKIP
    (True, 0)
    """
    started = time.perf_counter()
    if checkpoints and key is None:
        raise CheckpointError("checking a checkpoint needs the key that signed it (--key)")
    public_key = load_verify_key(key) if checkpoints and key is not None else None
    loaded = [read_checkpoint(path) for path in checkpoints]
    with read_snapshot(engine) as connection:
        head = audit_head(connection)

        def chain_progress(done: int, of: int) -> None:
            if progress is not None:
                progress(done, 2 * of)

        def replay_progress(done: int, of: int) -> None:
            if progress is not None:
                progress(head.seq + done, head.seq + of)

        chain = verify_audit(engine, limit=limit, connection=connection, progress=chain_progress)
        tables = reconcile(engine, limit=limit, connection=connection, progress=replay_progress)
        results = tuple(
            compare_checkpoint(connection, checkpoint, public_key)  # type: ignore[arg-type]
            for checkpoint in loaded
        )
    return AuditCheck(head, chain, tables, results, time.perf_counter() - started)


def take_checkpoint(
    engine: Engine, key: Path, out: Path, *, limit: int = DEFAULT_LIMIT
) -> tuple[AuditCheck, Checkpoint | None]:
    """Check the trail and, when it is sound, write a signed checkpoint of its head to ``out``.

    The check and the checkpoint read one snapshot, so the checkpoint anchors exactly what was
    checked. A trail that fails the check gets no checkpoint (None): anchoring it would certify
    the damage.
    """
    started = time.perf_counter()
    signing_key = load_signing_key(key)
    if out.exists():
        raise CheckpointError(f"{out}: exists already; each checkpoint goes to a new file")
    with read_snapshot(engine) as connection:
        head = audit_head(connection)
        chain = verify_audit(engine, limit=limit, connection=connection)
        tables = reconcile(engine, limit=limit, connection=connection)
        checked = AuditCheck(head, chain, tables, (), time.perf_counter() - started)
        if not checked.ok:
            return checked, None
        checkpoint = make_checkpoint(connection, signing_key)
    write_checkpoint(checkpoint, out)
    return checked, replace(checkpoint, path=out)
