"""Reading the audit trail: one consistent snapshot, the chain head, the chain's verification.

:func:`verify_audit` recomputes the SHA-256 chain written by :mod:`oncotrial.store.audit`
(``hash = SHA-256(prev_hash ‖ canonical row)``, gapless ``seq``) and names every row altered,
removed or added behind the application's back (21 CFR Part 11 §11.10(e): audit trails that
"shall not obscure previously recorded information"). :func:`audit_head` gives the head a
report prints or a checkpoint anchors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from sqlalchemy import Connection, Engine, select

from oncotrial.store.audit import GENESIS_HASH, HASHED_FIELDS, chain_hash
from oncotrial.store.models import AuditChainHead, AuditLog

T = TypeVar("T")

#: Progress callback: ``progress(done, total)``.
Progress = Callable[[int, int], None]


# ---------------------------------------------------------------------------------------------
# Reading: one consistent snapshot, the chain head


@contextmanager
def read_snapshot(engine: Engine) -> Iterator[Connection]:
    """A read-only connection whose every query sees the same committed state of the database.

    PostgreSQL: one ``REPEATABLE READ READ ONLY`` transaction. SQLite (WAL): one read
    transaction, which keeps the snapshot of its first read. So the chain, its head and the
    tables are compared as of one moment even while sites keep writing.
    """
    options: dict[str, Any] = {}
    if engine.dialect.name == "postgresql":
        options = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
    with engine.connect().execution_options(**options) as connection, connection.begin():
        yield connection


@dataclass(frozen=True)
class AuditHead:
    """The head of the audit chain: the last sequence number and its hash (``GENESIS_HASH``
    and 0 for an empty trail). Print it with a report, or anchor it in a checkpoint."""

    seq: int
    hash: str

    @property
    def short(self) -> str:
        """The first 12 hex digits of the hash: enough for a person to compare two heads."""
        return self.hash[:12]

    def __str__(self) -> str:
        return f"audit head {self.seq} (sha256 {self.short})"


def audit_head(bind: Engine | Connection) -> AuditHead:
    """The current head of the audit chain as recorded by the writers (one small query).

    Example
    -------
    >>> head = audit_head(store.engine)  # doctest: +SKIP
    >>> print(head)  # doctest: +SKIP
    audit head 60211 (sha256 3f9c0b1e27aa)
    """
    query = select(AuditChainHead.last_seq, AuditChainHead.last_hash).where(AuditChainHead.id == 1)
    if isinstance(bind, Connection):
        seq, last_hash = bind.execute(query).one()
    else:
        with bind.connect() as connection:
            seq, last_hash = connection.execute(query).one()
    return AuditHead(seq=int(seq), hash=str(last_hash))


# ---------------------------------------------------------------------------------------------
# Verification of the chain

Problem = Literal["altered", "removed", "inserted"]

#: How many problems of each kind a report lists (all are counted).
DEFAULT_LIMIT = 100


@dataclass(frozen=True)
class BrokenLink:
    """A place where the audit chain does not hold.

    ``problem`` is ``"altered"`` (a row's content or link no longer matches its hash),
    ``"removed"`` (a gap in the sequence, or rows missing from the end) or ``"inserted"`` (rows
    beyond the chain head). ``table`` and ``record_id`` are those of the row at ``seq`` (None
    when that row is gone).
    """

    seq: int
    table: str | None
    record_id: str | None
    problem: Problem
    message: str

    def __str__(self) -> str:
        where = f" ({self.table} #{self.record_id})" if self.table else ""
        return f"audit row {self.seq}{where} {self.problem}: {self.message}"


@dataclass(frozen=True)
class VerifyReport:
    """The result of :func:`verify_audit`: ``ok``, or the broken links.

    ``broken`` is the first; ``problems`` lists up to the limit asked for, ``problem_count``
    counts them all.
    """

    rows_checked: int
    last_seq: int
    broken: BrokenLink | None
    problems: tuple[BrokenLink, ...] = ()
    problem_count: int = 0

    @property
    def ok(self) -> bool:
        return self.broken is None

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        if self.broken is None:
            return f"audit trail intact: {self.rows_checked} rows, chain head {self.last_seq}"
        more = self.problem_count - 1
        tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more > 0 else ""
        return f"audit trail broken at {self.broken}{tail}"


class Bounded(Generic[T]):
    """Findings of a check: every one counted, the first ``limit`` kept (a report stays
    readable when a whole table was rewritten)."""

    def __init__(self, limit: int) -> None:
        self.limit = max(int(limit), 1)
        self.count = 0
        self.kept: list[T] = []

    def add(self, item: T) -> None:
        self.count += 1
        if len(self.kept) < self.limit:
            self.kept.append(item)


def verify_audit(
    engine: Engine,
    *,
    limit: int = DEFAULT_LIMIT,
    connection: Connection | None = None,
    progress: Progress | None = None,
) -> VerifyReport:
    """Re-compute the hash chain of the audit trail and report every broken link.

    Checks, in sequence order, that sequence numbers have no gap (a gap means rows were
    removed), that each row's ``prev_hash`` is the previous row's hash (else that row was
    rewritten with a recomputed hash, or this link edited) and that its ``hash`` matches its
    content (else it was altered), and that the chain head names the last row. After a break
    the check goes on from the stored hash, so every altered row is found, not only the first.
    ``connection`` (e.g. a :func:`read_snapshot`) is used instead of a new one;
    ``progress(done, total)`` is called every 5,000 rows.
    """
    if connection is None:
        with read_snapshot(engine) as snapshot:
            return verify_audit(engine, limit=limit, connection=snapshot, progress=progress)
    columns = [getattr(AuditLog, name) for name in (*HASHED_FIELDS, "prev_hash", "hash")]
    problems: Bounded[BrokenLink] = Bounded(limit)

    def broken(seq: int, row: dict[str, Any] | None, problem: Problem, message: str) -> None:
        table, record = (row["table_name"], row["record_id"]) if row else (None, None)
        problems.add(BrokenLink(seq, table, record, problem, message))

    expected_seq, prev_hash, checked = 1, GENESIS_HASH, 0
    head = audit_head(connection)
    result = connection.execution_options(yield_per=5000).execute(
        select(*columns).order_by(AuditLog.seq)
    )
    for mapping in result.mappings():
        row = dict(mapping)
        seq = int(row["seq"])
        if seq > expected_seq:
            broken(
                expected_seq,
                None,
                "removed",
                f"rows {expected_seq}–{seq - 1} are missing (gap before row {seq}, "
                f"{row['table_name']} #{row['record_id']})",
            )
        elif row["prev_hash"] != prev_hash:
            broken(
                seq,
                row,
                "altered",
                "prev_hash does not match the hash of the row before: that row was "
                "rewritten (with a recomputed hash) or this row's link was edited",
            )
        if chain_hash(row["prev_hash"], row) != row["hash"]:
            broken(seq, row, "altered", "content does not match its hash")
        prev_hash = row["hash"]
        expected_seq = seq + 1
        checked += 1
        if progress is not None and checked % 5000 == 0:
            progress(checked, max(head.seq, checked))
    last = expected_seq - 1
    if head.seq > last:
        message = f"the chain head says {head.seq} rows but the trail ends at row {last}"
        broken(last + 1, None, "removed", message)
    elif head.seq < last:
        message = f"rows after the chain head ({head.seq}) up to {last}"
        broken(head.seq + 1, None, "inserted", message)
    elif head.hash != prev_hash:
        broken(last, None, "altered", "the chain head hash does not match row")
    if progress is not None:
        progress(checked, max(head.seq, checked))
    return VerifyReport(
        rows_checked=checked,
        last_seq=head.seq,
        broken=problems.kept[0] if problems.kept else None,
        problems=tuple(problems.kept),
        problem_count=problems.count,
    )
