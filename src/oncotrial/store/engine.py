"""Database engines of the trial store: SQLite (embedded default) and PostgreSQL (multi-site).

SQLite is used as one file (``sqlite:///path/to/trial.db``) in WAL mode with foreign keys
enforced on every connection. SQLAlchemy, not the ``sqlite3`` module, emits ``BEGIN``, so that
a write transaction can start with ``BEGIN IMMEDIATE``: it takes SQLite's write lock at once,
which serialises writers (and keeps the audit hash chain linear) and makes a second writer wait
instead of failing half-way: after :data:`LOCK_NOTICE_AFTER_S` of waiting it says so (a
warning of the ``oncotrial.store`` logger, printed on stderr when nothing else handles it), and
after :data:`SQLITE_BUSY_TIMEOUT_MS` it gives up with :class:`DatabaseBusyError`, having written
nothing. PostgreSQL is reached through psycopg 3 (``postgresql+psycopg://``); its writers are
serialised on the audit chain-head row instead.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import URL, Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import ConnectionPoolEntry

from oncotrial.store.errors import DatabaseBusyError

#: Connection execution option marking a write transaction (``BEGIN IMMEDIATE`` on SQLite).
WRITE_OPTION = "oncotrial_write"

#: How long a SQLite writer waits for another writer's lock before giving up.
SQLITE_BUSY_TIMEOUT_MS = 30_000
#: After this long waiting for the lock, a writer says that it waits.
LOCK_NOTICE_AFTER_S = 1.0
#: How long one attempt at the write lock blocks before the writer looks at the clock again.
_LOCK_POLL_MS = 100

logger = logging.getLogger("oncotrial.store")


def make_engine(url: str | URL, **kwargs: Any) -> Engine:
    """An engine for ``url``: a SQLite file or PostgreSQL (``postgresql+psycopg://``).

    ``postgresql://`` without a driver is taken to mean psycopg 3. Extra keyword arguments go to
    :func:`sqlalchemy.create_engine`. In-memory SQLite is refused: the store needs a file so
    that several connections (and processes) see one database.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database in (None, "", ":memory:") or "mode=memory" in str(parsed):
            raise ValueError(
                f"{parsed!r}: the trial store needs a SQLite file, e.g. sqlite:///trial.db"
            )
        engine = create_engine(parsed, **kwargs)
        _configure_sqlite(engine)
        return engine
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        if parsed.get_driver_name() != "psycopg":
            raise ValueError(
                f"{parsed.drivername}: PostgreSQL is supported through psycopg 3 "
                "(postgresql+psycopg://)"
            )
        return create_engine(parsed, **kwargs)
    raise ValueError(f"{backend}: the trial store supports SQLite and PostgreSQL only")


def _configure_sqlite(engine: Engine) -> None:
    """WAL, foreign keys and a busy timeout on every connection; BEGIN emitted by SQLAlchemy."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None  # type: ignore[attr-defined]
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if connection.get_execution_options().get(WRITE_OPTION, False):
            begin_immediate(connection.connection.driver_connection, engine.url.database or "")
        else:
            connection.exec_driver_sql("BEGIN")


def begin_immediate(dbapi_connection: sqlite3.Connection, name: str) -> None:
    """``BEGIN IMMEDIATE`` on a SQLite connection, waiting for another writer's lock: a notice
    after :data:`LOCK_NOTICE_AFTER_S`, :class:`DatabaseBusyError` after
    :data:`SQLITE_BUSY_TIMEOUT_MS`."""
    started = time.monotonic()
    told = False
    dbapi_connection.execute(f"PRAGMA busy_timeout={_LOCK_POLL_MS}")
    try:
        while True:
            try:
                dbapi_connection.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
            waited = time.monotonic() - started
            if waited * 1000 >= SQLITE_BUSY_TIMEOUT_MS:
                raise DatabaseBusyError(
                    f"{name}: another writer has held the database's write lock for "
                    f"{waited:.0f} s; nothing was written, try again when it has finished"
                )
            if not told and waited >= LOCK_NOTICE_AFTER_S:
                logger.warning(
                    "%s: waiting for another writer to finish (up to %d s)…",
                    name,
                    SQLITE_BUSY_TIMEOUT_MS // 1000,
                )
                told = True
    finally:
        dbapi_connection.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    if told:
        logger.warning("%s: got the write lock after %.1f s", name, time.monotonic() - started)


def write_engine(engine: Engine) -> Engine:
    """The same engine (and pool) whose transactions are write transactions."""
    return engine.execution_options(**{WRITE_OPTION: True})


def is_postgresql(engine: Engine) -> bool:
    """Whether ``engine`` talks to PostgreSQL (else SQLite)."""
    return engine.dialect.name == "postgresql"


def reserve_ids(connection: Connection, table: str, count: int) -> list[int]:
    """``count`` new ids of ``table`` for rows the caller inserts itself (bulk import).

    PostgreSQL moves the table's sequence on by ``count`` in one statement; SQLite counts on
    from the highest id ever given (``sqlite_sequence``, AUTOINCREMENT). Both are safe because
    every writer of the store holds the writers' lock (audit chain head / ``BEGIN IMMEDIATE``)
    before it inserts, and inserting the ids moves ``sqlite_sequence`` on.
    """
    if count <= 0:
        return []
    if connection.dialect.name == "postgresql":
        last = connection.scalar(
            text(
                "SELECT setval(pg_get_serial_sequence(:t, 'id'), "
                "nextval(pg_get_serial_sequence(:t, 'id')) + :n - 1)"
            ),
            {"t": table, "n": count},
        )
        return list(range(int(last) - count + 1, int(last) + 1))
    last = connection.scalar(
        text(
            "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = :t), 0), "
            f"coalesce((SELECT max(id) FROM {_quote(connection, table)}), 0))"
        ),
        {"t": table},
    )
    return list(range(int(last or 0) + 1, int(last or 0) + 1 + count))


def bulk_insert(
    connection: Connection, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Insert many rows inside the caller's transaction, fast.

    PostgreSQL: ``COPY … FROM STDIN`` through psycopg (or, where row-level security binds the
    current role — PostgreSQL refuses COPY FROM there — a prepared ``INSERT``); SQLite: one
    prepared ``INSERT`` run with ``executemany``. Values are passed as they are (text, numbers,
    None; JSON as JSON text).
    """
    if not rows:
        return
    names = ", ".join(_quote(connection, c) for c in columns)
    target = _quote(connection, table)
    if connection.dialect.name == "postgresql" and not _row_security_active(connection, table):
        driver_connection = connection.connection.driver_connection
        with (
            driver_connection.cursor() as cursor,  # type: ignore[union-attr]
            cursor.copy(f"COPY {target} ({names}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
        return
    mark = "%s" if connection.dialect.name == "postgresql" else "?"
    marks = ", ".join(mark for _ in columns)
    connection.exec_driver_sql(f"INSERT INTO {target} ({names}) VALUES ({marks})", list(rows))


def _row_security_active(connection: Connection, table: str) -> bool:
    """Whether a row-level security policy applies to the current role on ``table``."""
    return bool(connection.scalar(text("SELECT row_security_active(:t)"), {"t": table}))


def _quote(connection: Connection, name: str) -> str:
    return connection.dialect.identifier_preparer.quote(name)
