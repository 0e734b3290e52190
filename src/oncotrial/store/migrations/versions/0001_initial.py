"""Initial schema: operational tables, SDTM domain tables, the audit trail and its triggers.

Revision ID: 0001
Revises:
Create Date: 2025-11-24

A frozen snapshot: the SDTM variable lists are written out here (not imported from the models)
so that this migration creates the same schema however the models change later. The audit
table is made append-only by triggers (21 CFR Part 11 §11.10(e)): SQLite ``RAISE(ABORT, …)``,
PostgreSQL a plpgsql function raising an exception; the chain-head row may only move forward.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

GENESIS_HASH = "0" * 64
JSON_TYPE = sa.JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")

#: table: (--SEQ column or None for DM, SDTMIG variables in order, lower case)
DOMAIN_TABLES: dict[str, tuple[str | None, str]] = {
    "sdtm_dm": (
        None,
        (
            "studyid domain usubjid subjid rfstdtc rfendtc rfxstdtc rfxendtc rficdtc rfpendtc "
            "dthdtc dthfl siteid invid invnam brthdtc age ageu sex race ethnic armcd arm actarmcd "
            "actarm armnrs actarmud country dmdtc dmdy"
        ),
    ),
    "sdtm_ex": (
        "exseq",
        (
            "studyid domain usubjid exseq exgrpid exrefid exspid exlnkid exlnkgrp extrt excat "
            "exscat exdose exdostxt exdosu exdosfrm exdosfrq exdosrgm exroute exlot exloc exlat "
            "exdir exfast exadj epoch visitnum visit visitdy taetord exstdtc exendtc exstdy "
            "exendy exdur extpt extptnum exeltm extptref exrftdtc"
        ),
    ),
    "sdtm_ae": (
        "aeseq",
        (
            "studyid domain usubjid aeseq aegrpid aerefid aespid aeterm aemodify aellt aelltcd "
            "aedecod aeptcd aehlt aehltcd aehlgt aehlgtcd aecat aescat aepresp aebodsys aebdsycd "
            "aesoc aesoccd aeloc aesev aeser aeacn aeacnoth aerel aerelnst aepatt aeout aescan "
            "aescong aesdisab aesdth aeshosp aeslife aesod aesmie aecontrt aetoxgr epoch aedtc "
            "aestdtc aeendtc aedy aestdy aeendy aedur aeenrf aeenrtpt aeentpt"
        ),
    ),
    "sdtm_tu": (
        "tuseq",
        (
            "studyid domain usubjid tuseq tugrpid turefid tuspid tulnkid tulnkgrp tutestcd tutest "
            "tuorres tustresc tunam tuloc tulat tudir tuportot tumethod tulobxfl tublfl tueval "
            "tuevalid tuacptfl visitnum visit visitdy taetord epoch tudtc tudy"
        ),
    ),
    "sdtm_tr": (
        "trseq",
        (
            "studyid domain usubjid trseq trgrpid trrefid trspid trlnkid trlnkgrp trtestcd trtest "
            "trorres trorresu trstresc trstresn trstresu trstat trreasnd trnam trmethod trlobxfl "
            "trblfl treval trevalid tracptfl visitnum visit visitdy taetord epoch trdtc trdy"
        ),
    ),
    "sdtm_rs": (
        "rsseq",
        (
            "studyid domain usubjid rsseq rsgrpid rsrefid rsspid rslnkid rslnkgrp rstestcd rstest "
            "rscat rsscat rsorres rsorresu rsstresc rsstresn rsstresu rsstat rsreasnd rsnam "
            "rsmethod rslobxfl rsblfl rsdrvfl rseval rsevalid rsacptfl visitnum visit visitdy "
            "taetord epoch rsdtc rsdy"
        ),
    ),
    "sdtm_is": (
        "isseq",
        (
            "studyid domain usubjid isseq isgrpid isrefid isspid islnkid islnkgrp istestcd istest "
            "isbdagnt iscat isscat isorres isorresu isstresc isstresn isstresu isstat isreasnd "
            "isnam isspec ismethod islobxfl isblfl islloq isuloq visitnum visit visitdy taetord "
            "epoch isdtc isdy istpt istptnum iseltm istptref isrftdtc"
        ),
    ),
    "sdtm_ds": (
        "dsseq",
        (
            "studyid domain usubjid dsseq dsgrpid dsrefid dsspid dsterm dsdecod dscat dsscat "
            "epoch visitnum visit dsdtc dsstdtc dsstdy"
        ),
    ),
}

SQLITE_TRIGGERS = (
    """CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only (21 CFR 11.10(e)): UPDATE refused'); END""",
    """CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only (21 CFR 11.10(e)): DELETE refused'); END""",
    """CREATE TRIGGER audit_chain_head_no_delete BEFORE DELETE ON audit_chain_head
    BEGIN SELECT RAISE(ABORT, 'the audit chain head cannot be deleted'); END""",
    """CREATE TRIGGER audit_chain_head_forward_only BEFORE UPDATE ON audit_chain_head
    WHEN NEW.last_seq < OLD.last_seq OR NEW.id <> OLD.id
    BEGIN SELECT RAISE(ABORT, 'the audit chain head only moves forward'); END""",
)

POSTGRESQL_TRIGGERS = (
    """CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $body$
    BEGIN
        RAISE EXCEPTION 'audit_log is append-only (21 CFR 11.10(e)): % refused', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END
    $body$""",
    """CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()""",
    """CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()""",
    """CREATE FUNCTION audit_chain_head_forward_only() RETURNS trigger LANGUAGE plpgsql AS $body$
    BEGIN
        IF TG_OP = 'DELETE' OR NEW.id <> OLD.id OR NEW.last_seq < OLD.last_seq THEN
            RAISE EXCEPTION 'the audit chain head only moves forward (% refused)', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN NEW;
    END
    $body$""",
    """CREATE TRIGGER audit_chain_head_guard BEFORE UPDATE OR DELETE ON audit_chain_head
    FOR EACH ROW EXECUTE FUNCTION audit_chain_head_forward_only()""",
    """CREATE TRIGGER audit_chain_head_no_truncate BEFORE TRUNCATE ON audit_chain_head
    FOR EACH STATEMENT EXECUTE FUNCTION audit_chain_head_forward_only()""",
)


def _id() -> sa.Column:
    return sa.Column("id", sa.Integer(), nullable=False)


def _version() -> sa.Column:
    return sa.Column("row_version", sa.Integer(), server_default="1", nullable=False)


def _pk(table: str, *columns: str) -> sa.PrimaryKeyConstraint:
    return sa.PrimaryKeyConstraint(*(columns or ("id",)), name=f"pk_{table}")


def _unique(table: str, *columns: str) -> sa.UniqueConstraint:
    return sa.UniqueConstraint(*columns, name=f"uq_{table}_{'_'.join(columns)}")


def _fk(table: str, column: str, target: str, target_column: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.{target_column}"], name=f"fk_{table}_{column}_{target}"
    )


def upgrade() -> None:
    op.create_table(
        "users",
        _id(),
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("full_name", sa.Text(), nullable=True),
        sa.Column("role", sa.String(40), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=True),
        _version(),
        _pk("users"),
        _unique("users", "username"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "sites",
        _id(),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("country", sa.Text(), nullable=True),
        sa.Column("status", sa.String(20), server_default="active", nullable=False),
        _version(),
        _pk("sites"),
        _unique("sites", "code"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "cohorts",
        _id(),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("dose_level", sa.String(20), nullable=False),
        sa.Column("phase", sa.String(10), server_default="I", nullable=False),
        sa.Column("status", sa.String(20), server_default="open", nullable=False),
        _version(),
        _pk("cohorts"),
        _unique("cohorts", "number"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "subjects",
        _id(),
        sa.Column("usubjid", sa.Text(), nullable=False),
        sa.Column("site_code", sa.Text(), nullable=True),
        sa.Column("status", sa.String(30), server_default="screening", nullable=False),
        sa.Column("consent_date", sa.Text(), nullable=True),
        sa.Column("first_dose_date", sa.Text(), nullable=True),
        sa.Column("dose_level", sa.String(20), nullable=True),
        sa.Column("cohort_id", sa.Integer(), nullable=True),
        sa.Column("death_date", sa.Text(), nullable=True),
        _version(),
        _pk("subjects"),
        _unique("subjects", "usubjid"),
        _fk("subjects", "site_code", "sites", "code"),
        _fk("subjects", "cohort_id", "cohorts", "id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_subjects_site_code", "subjects", ["site_code"])
    op.create_index("ix_subjects_cohort_id", "subjects", ["cohort_id"])
    op.create_table(
        "cohort_slots",
        _id(),
        sa.Column("cohort_id", sa.Integer(), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("usubjid", sa.Text(), nullable=True),
        sa.Column("status", sa.String(20), server_default="open", nullable=False),
        _version(),
        _pk("cohort_slots"),
        _unique("cohort_slots", "cohort_id", "slot"),
        _unique("cohort_slots", "usubjid"),
        _fk("cohort_slots", "cohort_id", "cohorts", "id"),
        _fk("cohort_slots", "usubjid", "subjects", "usubjid"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_cohort_slots_cohort_id", "cohort_slots", ["cohort_id"])
    op.create_table(
        "escalation_decisions",
        _id(),
        sa.Column("cohort_id", sa.Integer(), nullable=True),
        sa.Column("design", sa.String(40), nullable=False),
        sa.Column("inputs", JSON_TYPE, nullable=False),
        sa.Column("output", JSON_TYPE, nullable=False),
        sa.Column("recommended_dose", sa.String(40), nullable=True),
        sa.Column("confirmed_by", sa.Text(), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _version(),
        _pk("escalation_decisions"),
        _fk("escalation_decisions", "cohort_id", "cohorts", "id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_escalation_decisions_cohort_id", "escalation_decisions", ["cohort_id"])
    op.create_table(
        "dataset_columns",
        sa.Column("domain", sa.String(8), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        _pk("dataset_columns", "domain", "name"),
        _unique("dataset_columns", "domain", "position"),
    )
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("txn_id", sa.String(36), nullable=False),
        sa.Column("changed_at", sa.String(40), nullable=False),
        sa.Column("user_name", sa.Text(), nullable=False),
        sa.Column("action", sa.String(6), nullable=False),
        sa.Column("table_name", sa.String(64), nullable=False),
        sa.Column("record_id", sa.Text(), nullable=False),
        sa.Column("field", sa.Text(), nullable=True),
        sa.Column("old_value", sa.Text(), nullable=True),
        sa.Column("new_value", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        _pk("audit_log", "seq"),
    )
    op.create_index("ix_audit_log_table_record", "audit_log", ["table_name", "record_id"])
    head = op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
        _pk("audit_chain_head"),
    )
    op.bulk_insert(head, [{"id": 1, "last_seq": 0, "last_hash": GENESIS_HASH}])

    for table, (seq, variables) in DOMAIN_TABLES.items():
        columns = [
            sa.Column(name, sa.Text(), nullable=name != "usubjid") for name in variables.split()
        ]
        key = ("usubjid",) if seq is None else ("usubjid", seq)
        op.create_table(
            table,
            _id(),
            *columns,
            sa.Column("extra", JSON_TYPE, nullable=True),
            _version(),
            _pk(table),
            _unique(table, *key),
            _fk(table, "usubjid", "subjects", "usubjid"),
            sqlite_autoincrement=True,
        )

    dialect = op.get_bind().dialect.name
    for statement in SQLITE_TRIGGERS if dialect == "sqlite" else POSTGRESQL_TRIGGERS:
        op.execute(sa.text(statement))


def downgrade() -> None:
    for table in reversed(DOMAIN_TABLES):
        op.drop_table(table)
    for table in (
        "audit_chain_head",
        "audit_log",
        "dataset_columns",
        "escalation_decisions",
        "cohort_slots",
        "subjects",
        "cohorts",
        "sites",
        "users",
    ):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.text("DROP FUNCTION IF EXISTS audit_log_append_only()"))
        op.execute(sa.text("DROP FUNCTION IF EXISTS audit_chain_head_forward_only()"))
