"""Phase I run live: the committee's decision workflow and its e-signatures.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

Escalation decisions gain their state (proposed → final, or superseded), the phase, the data
snapshot they were computed from (as-of date, SHA-256 of the snapshot), the committee's choice
(a dose, a pause or a stop, with its reason and who chose it), the cohort the final decision
opened, and a review flag set when a DLT assessment changes after the decision was signed.
Decisions stored before this revision were confirmed when recorded: they are ``final``.
``decision_signatures`` holds each member's e-signature of a decision (21 CFR Part 11 §11.50,
§11.70, §11.200). Frozen here, not imported from the models.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _decision_columns() -> tuple[sa.Column, ...]:
    return (
        sa.Column("phase", sa.String(10), server_default="I", nullable=False),
        sa.Column("status", sa.String(20), server_default="final", nullable=False),
        sa.Column("as_of", sa.Text(), nullable=True),
        sa.Column("snapshot_hash", sa.String(64), nullable=True),
        sa.Column("action", sa.String(20), nullable=True),
        sa.Column("chosen_dose", sa.String(40), nullable=True),
        sa.Column("choice_reason", sa.Text(), nullable=True),
        sa.Column("chosen_by", sa.Text(), nullable=True),
        sa.Column("next_cohort_id", sa.Integer(), nullable=True),
        sa.Column("review_flag", sa.Text(), nullable=True),
        sa.Column("flagged_at", sa.DateTime(timezone=True), nullable=True),
    )


def upgrade() -> None:
    with op.batch_alter_table("escalation_decisions") as batch:
        for column in _decision_columns():
            batch.add_column(column)
        batch.create_foreign_key(
            "fk_escalation_decisions_next_cohort_id_cohorts", "cohorts", ["next_cohort_id"], ["id"]
        )
    op.create_table(
        "decision_signatures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("decision_id", sa.Integer(), nullable=False),
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("printed_name", sa.Text(), nullable=False),
        sa.Column("role", sa.String(40), nullable=False),
        sa.Column("meaning", sa.Text(), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("invalidated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("invalidated_by", sa.Text(), nullable=True),
        sa.Column("invalidation_reason", sa.Text(), nullable=True),
        sa.Column("row_version", sa.Integer(), server_default="1", nullable=False),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["escalation_decisions.id"],
            name="fk_decision_signatures_decision_id_escalation_decisions",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_decision_signatures"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_decision_signatures_decision_id", "decision_signatures", ["decision_id"])


def downgrade() -> None:
    op.drop_index("ix_decision_signatures_decision_id", "decision_signatures")
    op.drop_table("decision_signatures")
    with op.batch_alter_table("escalation_decisions") as batch:
        batch.drop_constraint("fk_escalation_decisions_next_cohort_id_cohorts", type_="foreignkey")
        for column in reversed(_decision_columns()):
            batch.drop_column(column.name)
