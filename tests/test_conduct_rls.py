"""PostgreSQL row-level security, the second wall between sites: the application's connections
switch to a role that is not the tables' owner, and each use case's transaction carries its
actor's sites; a query that bypasses the application's own filters still sees and changes only
its site's rows. (SQLite, for one site on one machine, has no row-level security.)"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, make_url, text

from conduct_fixtures import AE_VALUES, actor, eligible_answers, enrolled_subject, make_study
from oncotrial.conduct import Actor, Study, entry, reading
from oncotrial.conduct.scope import acting_for, bypasses_row_security, scoped_engine
from store_fixtures import PG_ENV, PG_SKIP_REASON, fresh_database

pytest_plugins = ["store_fixtures", "conduct_fixtures"]

#: tables holding a subject's data, each with the column naming the subject
SUBJECT_TABLES = (
    "subjects",
    "sdtm_dm",
    "sdtm_ex",
    "sdtm_ae",
    "sdtm_ds",
    "sdtm_ie",
    "form_entries",
    "data_queries",
)


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Study, str]]:
    """A study on PostgreSQL whose application role is subject to row-level security: a role
    with a unique name, granted the schema's tables, dropped afterwards."""
    if not os.environ.get(PG_ENV):
        pytest.skip(PG_SKIP_REASON)
    with fresh_database("postgresql", tmp_path_factory.mktemp("rls")) as url:
        setup = make_study(url)
        setup.close()
        role = f"oncotrial_rls_{uuid.uuid4().hex[:12]}"
        schema = make_url(url).query["options"].split("=")[1]
        admin = create_engine(os.environ[PG_ENV], isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            for statement in (
                f'CREATE ROLE "{role}" NOLOGIN',
                f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"',
                f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "{schema}" '
                f'TO "{role}"',
                f'GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA "{schema}" TO "{role}"',
            ):
                connection.execute(text(statement))
        study = Study(scoped_engine(url, role), setup.protocol)
        try:
            yield study, role
        finally:
            study.close()
            with admin.connect() as connection:
                connection.execute(text(f'DROP OWNED BY "{role}"'))
                connection.execute(text(f'DROP ROLE "{role}"'))
            admin.dispose()


def populate(study: Study, who: Actor, site: str) -> str:
    """A subject at ``site`` with records in every subject table (a query, an IE record)."""
    usubjid = enrolled_subject(study, who, site=site)
    entry.save_form(
        study,
        who,
        usubjid,
        "DM",
        {"age": "60", "sex": "M", "etiology": "HBV", "bclc": "C", "child_pugh": "A5"},
    )
    entry.save_form(study, who, usubjid, "AE", AE_VALUES | {"end": "2025-02"})
    answers = eligible_answers(study) | {"crit_IN04": "N"}
    entry.screen(study, who, {"site": site, "consent_date": "2025-01-06", **answers})
    return usubjid


def test_the_application_works_under_row_level_security(secured: tuple[Study, str]) -> None:
    study, _ = secured
    assert not bypasses_row_security(study.engine)
    crc01, crc02 = actor(study, "crc01"), actor(study, "crc02")
    one = enrolled_subject(study, crc01)
    two = enrolled_subject(study, crc02, site="02")
    entry.save_form(study, crc01, one, "AE", AE_VALUES | {"end": "2025-02"})
    entry.save_form(study, crc02, two, "AE", AE_VALUES | {"end": "2025-02"})
    assert [s.usubjid for s in reading.list_subjects(study, crc01)] == [one]
    assert {s.usubjid for s in reading.list_subjects(study, actor(study, "dm"))} >= {one, two}


def test_a_query_that_bypasses_the_application_sees_only_its_site(
    secured: tuple[Study, str],
) -> None:
    study, _ = secured
    crc01, crc02 = actor(study, "crc01"), actor(study, "crc02")
    populate(study, crc01, "01")
    other = populate(study, crc02, "02")
    successes = 0
    with acting_for(crc01.site_scope), study.engine.begin() as connection:
        for table in SUBJECT_TABLES:
            column = "site_code" if table == "subjects" else "usubjid"
            rows = connection.execute(text(f"SELECT {column} FROM {table}")).scalars().all()
            assert rows, f"site 01 sees its own {table}"
            foreign = [r for r in rows if str(r).startswith("02")]
            successes += len(foreign)
        audit = connection.execute(
            text("SELECT count(*) FROM audit_log WHERE new_value LIKE :u OR old_value LIKE :u"),
            {"u": f'%"{other}"%'},
        ).scalar()
        successes += int(audit or 0)
        for table in SUBJECT_TABLES[1:]:
            changed = connection.execute(
                text(f"UPDATE {table} SET usubjid = usubjid WHERE usubjid = :u"), {"u": other}
            ).rowcount
            successes += changed
            deleted = connection.execute(
                text(f"DELETE FROM {table} WHERE usubjid = :u AND false"), {"u": other}
            ).rowcount
            successes += deleted
        moved = connection.execute(
            text("UPDATE subjects SET status = status WHERE usubjid = :u"), {"u": other}
        ).rowcount
        successes += moved
    with acting_for(crc01.site_scope), study.engine.connect() as connection:
        with pytest.raises(Exception, match="row-level security"):
            connection.execute(
                text("INSERT INTO sdtm_ae (id, usubjid, aeterm) VALUES (999999, :u, 'X')"),
                {"u": other},
            )
        connection.rollback()
        with pytest.raises(Exception, match="row-level security"):
            connection.execute(
                text(
                    "INSERT INTO subjects (usubjid, site_code, status) VALUES ('02-999', '02', "
                    "'screening')"
                )
            )
        connection.rollback()
    assert successes == 0


def test_a_connection_outside_any_use_case_sees_nothing(secured: tuple[Study, str]) -> None:
    study, _ = secured
    with study.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM subjects")).scalar() == 0
        assert connection.execute(text("SELECT count(*) FROM sdtm_ds")).scalar() == 0
    with acting_for("*"), study.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM subjects")).scalar() > 0
