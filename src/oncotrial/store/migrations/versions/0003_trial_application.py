"""The trial application: SDTM IE (criteria not met at screening), users' sites, access
events, login throttle, web sessions, form entries, data queries, e-signatures; on PostgreSQL,
row-level security by site.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

Frozen here, not imported from the models. On PostgreSQL every table that holds a subject's
data gets a row-level security policy (a second wall behind the application's own checks):
a connection whose ``oncotrial.site_scope`` setting names sites ("01,03") sees and writes only
rows of subjects at those sites; ``*`` (central roles) and an unset scope (administrative
connections: migrations, the command line) see everything; ``-`` sees nothing. Policies bind
roles that are not the tables' owner (the web server connects as, or switches to, such a role:
``oncotrial serve --db-role``); superusers bypass them, as PostgreSQL always does.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

JSON_TYPE = sa.JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")

#: tables whose rows belong to a subject (through ``usubjid``), at the time of this migration
SUBJECT_TABLES = (
    "sdtm_dm",
    "sdtm_ex",
    "sdtm_ae",
    "sdtm_tu",
    "sdtm_tr",
    "sdtm_rs",
    "sdtm_is",
    "sdtm_ds",
    "sdtm_ie",
    "form_entries",
    "data_queries",
    "signatures",
)
#: audited tables whose audit rows are a subject's data (audit_log.record_id is their id)
AUDITED_SUBJECT_TABLES = ("subjects", *SUBJECT_TABLES)

SITE_VISIBLE = """CREATE FUNCTION oncotrial_site_visible(site text) RETURNS boolean
LANGUAGE sql STABLE AS $body$
    SELECT CASE coalesce(current_setting('oncotrial.site_scope', true), '')
        WHEN '' THEN true
        WHEN '*' THEN true
        ELSE site = ANY (string_to_array(current_setting('oncotrial.site_scope', true), ','))
    END
$body$"""


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _version() -> sa.Column:
    return sa.Column("row_version", sa.Integer(), server_default="1", nullable=False)


def _id() -> sa.Column:
    return sa.Column("id", sa.Integer(), nullable=False)


def _fk(table: str, column: str, target: str, target_column: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.{target_column}"], name=f"fk_{table}_{column}_{target}"
    )


IE_VARIABLES = (
    "studyid domain usubjid ieseq iespid ietestcd ietest iecat iescat ieorres iestresc "
    "visitnum visit visitdy taetord epoch iedtc iedy"
)


def upgrade() -> None:
    op.create_table(
        "sdtm_ie",
        _id(),
        *(sa.Column(name, sa.Text(), nullable=name != "usubjid") for name in IE_VARIABLES.split()),
        sa.Column("extra", JSON_TYPE, nullable=True),
        _version(),
        sa.PrimaryKeyConstraint("id", name="pk_sdtm_ie"),
        sa.UniqueConstraint("usubjid", "ieseq", name="uq_sdtm_ie_usubjid_ieseq"),
        _fk("sdtm_ie", "usubjid", "subjects", "usubjid"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "user_sites",
        _id(),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("site_code", sa.Text(), nullable=False),
        _version(),
        sa.PrimaryKeyConstraint("id", name="pk_user_sites"),
        sa.UniqueConstraint("user_id", "site_code", name="uq_user_sites_user_id_site_code"),
        _fk("user_sites", "user_id", "users", "id"),
        _fk("user_sites", "site_code", "sites", "code"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_user_sites_user_id", "user_sites", ["user_id"])
    op.create_table(
        "access_events",
        _id(),
        _ts("at"),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("detail", JSON_TYPE, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_access_events"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "login_throttle",
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("failures", sa.Integer(), server_default="0", nullable=False),
        _ts("last_failure_at", nullable=True),
        _ts("locked_until", nullable=True),
        sa.PrimaryKeyConstraint("username", name="pk_login_throttle"),
    )
    op.create_table(
        "web_sessions",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        _ts("created_at"),
        _ts("last_seen_at"),
        sa.Column("client", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name="pk_web_sessions"),
        _fk("web_sessions", "user_id", "users", "id"),
    )
    op.create_index("ix_web_sessions_user_id", "web_sessions", ["user_id"])
    op.create_table(
        "form_entries",
        _id(),
        sa.Column("usubjid", sa.Text(), nullable=False),
        sa.Column("form", sa.String(20), nullable=False),
        sa.Column("instance", sa.String(40), nullable=False),
        sa.Column("records", JSON_TYPE, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        _ts("created_at"),
        sa.Column("updated_by", sa.Text(), nullable=False),
        _ts("updated_at"),
        _version(),
        sa.PrimaryKeyConstraint("id", name="pk_form_entries"),
        sa.UniqueConstraint(
            "usubjid", "form", "instance", name="uq_form_entries_usubjid_form_instance"
        ),
        _fk("form_entries", "usubjid", "subjects", "usubjid"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_form_entries_usubjid", "form_entries", ["usubjid"])
    op.create_table(
        "data_queries",
        _id(),
        sa.Column("form_entry_id", sa.Integer(), nullable=False),
        sa.Column("usubjid", sa.Text(), nullable=False),
        sa.Column("field", sa.String(40), nullable=False),
        sa.Column("rule", sa.String(40), nullable=True),
        sa.Column("origin", sa.String(10), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.Column("opened_by", sa.Text(), nullable=False),
        _ts("opened_at"),
        sa.Column("answered_by", sa.Text(), nullable=True),
        _ts("answered_at", nullable=True),
        sa.Column("closed_by", sa.Text(), nullable=True),
        _ts("closed_at", nullable=True),
        _version(),
        sa.PrimaryKeyConstraint("id", name="pk_data_queries"),
        _fk("data_queries", "form_entry_id", "form_entries", "id"),
        _fk("data_queries", "usubjid", "subjects", "usubjid"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_data_queries_form_entry_id", "data_queries", ["form_entry_id"])
    op.create_index("ix_data_queries_usubjid", "data_queries", ["usubjid"])
    op.create_table(
        "signatures",
        _id(),
        sa.Column("form_entry_id", sa.Integer(), nullable=False),
        sa.Column("usubjid", sa.Text(), nullable=False),
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("printed_name", sa.Text(), nullable=False),
        sa.Column("meaning", sa.Text(), nullable=False),
        _ts("signed_at"),
        sa.Column("content_hash", sa.String(64), nullable=False),
        _ts("invalidated_at", nullable=True),
        sa.Column("invalidated_by", sa.Text(), nullable=True),
        sa.Column("invalidation_reason", sa.Text(), nullable=True),
        _version(),
        sa.PrimaryKeyConstraint("id", name="pk_signatures"),
        _fk("signatures", "form_entry_id", "form_entries", "id"),
        _fk("signatures", "usubjid", "subjects", "usubjid"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_signatures_form_entry_id", "signatures", ["form_entry_id"])
    op.create_index("ix_signatures_usubjid", "signatures", ["usubjid"])
    if op.get_context().dialect.name == "postgresql":
        _row_level_security()


def _row_level_security() -> None:
    op.execute(sa.text(SITE_VISIBLE))
    op.execute(sa.text("ALTER TABLE subjects ENABLE ROW LEVEL SECURITY"))
    op.execute(
        sa.text(
            "CREATE POLICY site_isolation ON subjects USING (oncotrial_site_visible(site_code)) "
            "WITH CHECK (oncotrial_site_visible(site_code))"
        )
    )
    for table in SUBJECT_TABLES:
        visible = f"EXISTS (SELECT 1 FROM subjects s WHERE s.usubjid = {table}.usubjid)"
        op.execute(sa.text(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY"))
        op.execute(
            sa.text(
                f"CREATE POLICY site_isolation ON {table} USING ({visible}) WITH CHECK ({visible})"
            )
        )
    op.execute(sa.text("ALTER TABLE cohort_slots ENABLE ROW LEVEL SECURITY"))
    slot_visible = (
        "usubjid IS NULL OR "
        "EXISTS (SELECT 1 FROM subjects s WHERE s.usubjid = cohort_slots.usubjid)"
    )
    op.execute(
        sa.text(
            f"CREATE POLICY site_isolation ON cohort_slots USING ({slot_visible}) "
            f"WITH CHECK ({slot_visible})"
        )
    )
    cases = " ".join(
        f"WHEN '{table}' THEN EXISTS (SELECT 1 FROM {table} r "
        "WHERE r.id = CAST(audit_log.record_id AS integer))"
        for table in AUDITED_SUBJECT_TABLES
    )
    op.execute(sa.text("ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY"))
    op.execute(
        sa.text(
            "CREATE POLICY site_isolation_read ON audit_log FOR SELECT USING "
            f"(oncotrial_site_visible('*') OR CASE table_name {cases} ELSE false END)"
        )
    )
    op.execute(sa.text("CREATE POLICY append ON audit_log FOR INSERT WITH CHECK (true)"))


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        for table in ("subjects", "cohort_slots", *SUBJECT_TABLES):
            op.execute(sa.text(f"DROP POLICY IF EXISTS site_isolation ON {table}"))
            op.execute(sa.text(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY"))
        op.execute(sa.text("DROP POLICY IF EXISTS site_isolation_read ON audit_log"))
        op.execute(sa.text("DROP POLICY IF EXISTS append ON audit_log"))
        op.execute(sa.text("ALTER TABLE audit_log DISABLE ROW LEVEL SECURITY"))
    for table in (
        "signatures",
        "data_queries",
        "form_entries",
        "web_sessions",
        "login_throttle",
        "access_events",
        "user_sites",
        "sdtm_ie",
    ):
        op.drop_table(table)
    if op.get_context().dialect.name == "postgresql":
        op.execute(sa.text("DROP FUNCTION IF EXISTS oncotrial_site_visible(text)"))
