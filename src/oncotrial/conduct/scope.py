"""The database's second wall: every transaction of a use case carries its actor's site scope.

On PostgreSQL, migration 0003 puts row-level security on every table holding a subject's data;
its policies read the setting ``oncotrial.site_scope``. :func:`scoped_engine` makes an engine
whose connections (1) optionally switch to a database role that is not the tables' owner (so the
policies bind it), (2) start with the scope ``-`` (see nothing), and (3) at the start of every
transaction set the scope of the actor whose use case is running (:func:`acting_for`), for that
transaction only (``set_config(…, true)``). A query issued on such a connection outside a use
case, or one that forgets the application's own site filter, therefore sees only what the
actor's sites allow. SQLite has no row-level security: there the application's checks are the
only wall (SQLite serves one site on one machine).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import Engine, event, text
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import ConnectionPoolEntry

from oncotrial.store import make_engine

#: Scope of a connection outside any use case: nothing.
NO_SITES = "-"
_SCOPE: ContextVar[str] = ContextVar("oncotrial_site_scope", default=NO_SITES)
_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@contextmanager
def acting_for(scope: str) -> Iterator[None]:
    """Transactions begun inside the block carry site scope ``scope`` (``*``, ``01,02``, ``-``)."""
    token = _SCOPE.set(scope)
    try:
        yield
    finally:
        _SCOPE.reset(token)


def current_scope() -> str:
    """The site scope transactions begun now would carry."""
    return _SCOPE.get()


def scoped_engine(url: str, db_role: str | None = None, **kwargs: Any) -> Engine:
    """An engine for the trial application: on PostgreSQL with the hooks described above
    (``db_role``: a role to ``SET ROLE`` to on every new connection)."""
    engine = make_engine(url, **kwargs)
    if engine.dialect.name != "postgresql":
        return engine
    if db_role is not None and not _ROLE_NAME.match(db_role):
        raise ValueError(f"--db-role: '{db_role}' is not a plain PostgreSQL role name")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry) -> None:
        cursor = dbapi_connection.cursor()
        if db_role is not None:
            cursor.execute(f'SET ROLE "{db_role}"')
        cursor.execute("SELECT set_config('oncotrial.site_scope', %s, false)", (NO_SITES,))
        cursor.close()
        dbapi_connection.commit()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.execute(
            text("SELECT set_config('oncotrial.site_scope', :scope, true)"),
            {"scope": _SCOPE.get()},
        )

    return engine


def bypasses_row_security(engine: Engine) -> bool:
    """Whether the engine's role is exempt from row-level security (a superuser, a role with
    BYPASSRLS, or the tables' owner): then only the application's checks separate sites."""
    if engine.dialect.name != "postgresql":
        return True
    with engine.connect() as connection:
        return bool(
            connection.scalar(
                text(
                    "SELECT r.rolsuper OR r.rolbypassrls OR "
                    "pg_has_role(current_user, c.relowner, 'USAGE') "
                    "FROM pg_roles r, pg_class c "
                    "WHERE r.rolname = current_user AND c.oid = 'subjects'::regclass"
                )
            )
        )
