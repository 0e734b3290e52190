"""Schema migrations of the trial store, run through Alembic's API (no ``alembic.ini`` needed).

The scripts live in ``oncotrial/store/migrations`` inside the package, so an installed copy can
create or upgrade a database by itself: ``init_db("sqlite:///trial.db")``.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import URL, Engine, make_url

from oncotrial.cdisc.checks import DEFAULT_SETTINGS, CheckSettings
from oncotrial.store.api import Store
from oncotrial.store.engine import make_engine, write_engine

#: Where the Alembic environment and revision scripts are.
MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    """An Alembic configuration pointing at the packaged migrations (and ``url`` if given)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database of ``engine`` to ``revision`` in one transaction."""
    config = alembic_config()
    with write_engine(engine).begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    """The schema revision the database is at (None for an empty database)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def init_db(url: str | URL | Engine, *, settings: CheckSettings = DEFAULT_SETTINGS) -> Store:
    """Create or upgrade the trial database at ``url`` (``alembic upgrade head``; a SQLite
    file's folder is made first); its store (edit checks with ``settings``)."""
    if not isinstance(url, Engine):
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = url if isinstance(url, Engine) else make_engine(url)
    upgrade(engine)
    return Store(engine, settings=settings)
