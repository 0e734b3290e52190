"""Fixtures of the trial-store tests: a fresh database on each backend.

SQLite: a file in the test's temporary directory. PostgreSQL (when ``ONCOTRIAL_TEST_PG`` names a
server, e.g. ``postgresql+psycopg://postgres@127.0.0.1:5432/test``): a schema with a random name,
created for the test (or module) and dropped afterwards, reached through ``search_path`` — so
tests, and parallel runs of the suite, never see each other's data and leave nothing behind.

Test modules load these with ``pytest_plugins = ["store_fixtures"]``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text

from oncotrial.store import Store, init_db

PG_ENV = "ONCOTRIAL_TEST_PG"
BACKENDS = ["sqlite", "postgresql"]
PG_SKIP_REASON = (
    f"{PG_ENV} is not set: PostgreSQL backend not tested "
    "(set it to e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)"
)


@contextmanager
def fresh_database(backend: str, directory: Path) -> Iterator[str]:
    """The URL of a new, empty database on ``backend``; dropped on exit (PostgreSQL)."""
    if backend == "sqlite":
        yield f"sqlite:///{directory / f'trial-{uuid.uuid4().hex[:8]}.db'}"
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(PG_SKIP_REASON)
    schema = f"oncotrial_test_{uuid.uuid4().hex[:16]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database per test, on each backend."""
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """A migrated, empty trial store per test."""
    trial = init_db(db_url)
    try:
        yield trial
    finally:
        trial.close()


@pytest.fixture(scope="module", params=BACKENDS)
def module_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    """A migrated store shared by one module's tests (for tests that only read or are refused)."""
    with fresh_database(request.param, tmp_path_factory.mktemp("store")) as url:
        trial = init_db(url)
        try:
            yield trial
        finally:
            trial.close()


def backend(trial: Store) -> str:
    """``sqlite`` or ``postgresql``."""
    return trial.engine.dialect.name
