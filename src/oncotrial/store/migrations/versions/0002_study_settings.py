"""Study settings: named values of the study itself (its data cut, its protocol's hash …).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02

One audited row per setting, so a change of the data cut is in the audit trail like any other
change. Frozen here, not imported from the models.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "study_settings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(80), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("row_version", sa.Integer(), server_default="1", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_study_settings"),
        sa.UniqueConstraint("key", name="uq_study_settings_key"),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("study_settings")
