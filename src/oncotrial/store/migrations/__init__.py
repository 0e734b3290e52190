"""Alembic migrations of the trial store (run by ``oncotrial.store.migrate``)."""
