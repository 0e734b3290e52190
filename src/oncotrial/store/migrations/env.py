"""Alembic environment of the trial store.

Run programmatically by :func:`oncotrial.store.migrate.upgrade`, which hands over an open
connection in ``config.attributes["connection"]``; with only ``sqlalchemy.url`` set (e.g. from
the ``alembic`` command line) it opens its own engine through :func:`make_engine`.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from oncotrial.store.engine import make_engine
from oncotrial.store.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    """Emit the migration as SQL (``alembic upgrade head --sql``)."""
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Migrate through the caller's connection, or one of our own."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.begin() as own:
            _run(own)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
