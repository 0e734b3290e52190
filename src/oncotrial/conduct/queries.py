"""Data queries: a question on one field of a form, open → answered → closed.

System queries are opened when a form is saved with a soft finding (a warning of the store's
edit checks) or when the investigator and the system disagree (DLT, RECIST response); they close
themselves when a later save clears the finding. Data managers and monitors open manual queries,
site staff answer them, and the data manager or monitor closes (or re-opens) them — who may do
which is :data:`oncotrial.conduct.roles.PERMISSIONS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from oncotrial.conduct.accounts import now
from oncotrial.conduct.errors import InvalidInputError, NotFoundError, StateError
from oncotrial.conduct.roles import Action, Actor, require
from oncotrial.conduct.study import Study
from oncotrial.store import AuditedSession
from oncotrial.store.models import DataQuery, FormEntry, Subject

SYSTEM = "system"
OPEN, ANSWERED, CLOSED = "open", "answered", "closed"


@dataclass(frozen=True)
class QueryInfo:
    """A query as shown in lists and on its form."""

    id: int
    usubjid: str
    site: str | None
    form: str
    instance: str
    form_entry_id: int
    field: str
    rule: str | None
    origin: str
    status: str
    message: str
    answer: str | None
    resolution: str | None
    opened_by: str
    opened_at: datetime
    answered_by: str | None
    answered_at: datetime | None
    closed_by: str | None
    closed_at: datetime | None
    row_version: int
    #: days since the query was opened (as of when it was read)
    age_days: int


def _info(query: DataQuery, entry: FormEntry, site: str | None) -> QueryInfo:
    return QueryInfo(
        query.id,
        query.usubjid,
        site,
        entry.form,
        entry.instance,
        entry.id,
        query.field,
        query.rule,
        query.origin,
        query.status,
        query.message,
        query.answer,
        query.resolution,
        query.opened_by,
        query.opened_at,
        query.answered_by,
        query.answered_at,
        query.closed_by,
        query.closed_at,
        query.row_version,
        (now() - query.opened_at).days,
    )


def open_system_query(
    session: AuditedSession, entry: FormEntry, field: str, rule: str, message: str
) -> DataQuery | None:
    """Open a system query on ``field`` unless one with the same rule is still open there."""
    existing = session.scalar(
        select(DataQuery).where(
            DataQuery.form_entry_id == entry.id,
            DataQuery.field == field,
            DataQuery.rule == rule,
            DataQuery.status != CLOSED,
        )
    )
    if existing is not None:
        if existing.message != message and existing.status == OPEN:
            existing.message = message
        return None
    query = DataQuery(
        form_entry_id=entry.id,
        usubjid=entry.usubjid,
        field=field,
        rule=rule,
        origin=SYSTEM,
        status=OPEN,
        message=message,
        opened_by=SYSTEM,
        opened_at=now(),
    )
    session.add(query)
    session.flush()
    return query


def close_resolved(session: AuditedSession, entry: FormEntry, live: set[tuple[str, str]]) -> int:
    """Close the entry's system queries whose (field, rule) no longer holds; how many."""
    closed = 0
    for query in session.scalars(
        select(DataQuery).where(
            DataQuery.form_entry_id == entry.id,
            DataQuery.origin == SYSTEM,
            DataQuery.status != CLOSED,
        )
    ):
        if (query.field, query.rule or "") not in live:
            query.status = CLOSED
            query.resolution = "resolved by a change of the data"
            query.closed_by, query.closed_at = SYSTEM, now()
            closed += 1
    session.flush()
    return closed


def _entry_for(session: AuditedSession, actor: Actor, form_entry_id: int) -> tuple[FormEntry, str]:
    entry = session.get(FormEntry, form_entry_id)
    site = None
    if entry is not None:
        site = session.scalar(select(Subject.site_code).where(Subject.usubjid == entry.usubjid))
    if entry is None or site is None or not actor.sees_site(site):
        raise NotFoundError(f"no form #{form_entry_id}")
    return entry, site


def _query_for(session: AuditedSession, actor: Actor, query_id: int) -> tuple[DataQuery, str]:
    query = session.get(DataQuery, query_id)
    if query is None:
        raise NotFoundError(f"no query #{query_id}")
    _, site = _entry_for(session, actor, query.form_entry_id)
    return query, site


def _check_version(query: DataQuery, expected: int | None) -> None:
    from oncotrial.store import ConcurrentEditError

    if expected is not None and query.row_version != expected:
        raise ConcurrentEditError(
            f"query #{query.id} changed since it was read (version {query.row_version}, "
            f"expected {expected}): reload it"
        )


def open_query(
    study: Study, actor: Actor, form_entry_id: int, field: str, message: str
) -> QueryInfo:
    """A data manager's or monitor's question on one field of a form."""
    require(actor, Action.open_query)
    if not message or not message.strip():
        raise InvalidInputError("a query needs its question")
    with study.transaction(actor, "query opened") as txn:
        entry, site = _entry_for(txn.session, actor, form_entry_id)
        require(actor, Action.open_query, site)
        if field and not study.form(entry.form).has_field(field):
            raise InvalidInputError(f"form {entry.form} has no field '{field}'")
        query = DataQuery(
            form_entry_id=entry.id,
            usubjid=entry.usubjid,
            field=field or "",
            rule=None,
            origin="manual",
            status=OPEN,
            message=message.strip(),
            opened_by=actor.username,
            opened_at=now(),
        )
        txn.session.add(query)
        txn.session.flush()
        return _info(query, entry, site)


def answer_query(
    study: Study, actor: Actor, query_id: int, answer: str, expected_version: int | None = None
) -> QueryInfo:
    """Site staff answer an open query (the data change, if any, is made on the form)."""
    require(actor, Action.answer_query)
    if not answer or not answer.strip():
        raise InvalidInputError("an answer is required")
    with study.transaction(actor, "query answered") as txn:
        query, site = _query_for(txn.session, actor, query_id)
        require(actor, Action.answer_query, site)
        _check_version(query, expected_version)
        if query.status != OPEN:
            raise StateError(f"query #{query_id} is {query.status}: only an open query is answered")
        query.status = ANSWERED
        query.answer = answer.strip()
        query.answered_by, query.answered_at = actor.username, now()
        txn.session.flush()
        return _info(query, txn.session.get(FormEntry, query.form_entry_id), site)


def close_query(
    study: Study,
    actor: Actor,
    query_id: int,
    resolution: str,
    *,
    reopen: bool = False,
    expected_version: int | None = None,
) -> QueryInfo:
    """Close an answered (or open) query with a resolution, or re-open an answered one."""
    require(actor, Action.close_query)
    if not resolution or not resolution.strip():
        raise InvalidInputError("a resolution (or the reason to re-open) is required")
    with study.transaction(actor, "query re-opened" if reopen else "query closed") as txn:
        query, site = _query_for(txn.session, actor, query_id)
        require(actor, Action.close_query, site)
        _check_version(query, expected_version)
        if query.status == CLOSED:
            raise StateError(f"query #{query_id} is closed already")
        if reopen:
            if query.status != ANSWERED:
                raise StateError(
                    f"query #{query_id} is {query.status}: only an answer is re-opened"
                )
            query.status = OPEN
            query.message = (
                f"{query.message}\n— re-opened by {actor.username}: {resolution.strip()}"
            )
        else:
            query.status = CLOSED
            query.resolution = resolution.strip()
            query.closed_by, query.closed_at = actor.username, now()
        txn.session.flush()
        return _info(query, txn.session.get(FormEntry, query.form_entry_id), site)


def list_queries(
    study: Study,
    actor: Actor,
    *,
    status: str | None = None,
    site: str | None = None,
    usubjid: str | None = None,
    form_entry_id: int | None = None,
) -> list[QueryInfo]:
    """Queries the actor may see, oldest first (the data manager's list by site and age)."""
    if form_entry_id is None and usubjid is None:
        require(actor, Action.list_queries)
    else:
        require(actor, Action.view_subjects)
    with study.reading(actor) as (_, session):
        stmt = (
            select(DataQuery, FormEntry, Subject.site_code)
            .join(FormEntry, FormEntry.id == DataQuery.form_entry_id)
            .join(Subject, Subject.usubjid == DataQuery.usubjid)
            .order_by(DataQuery.opened_at, DataQuery.id)
        )
        if status:
            stmt = stmt.where(DataQuery.status == status)
        if site:
            stmt = stmt.where(Subject.site_code == site)
        if usubjid:
            stmt = stmt.where(DataQuery.usubjid == usubjid)
        if form_entry_id is not None:
            stmt = stmt.where(DataQuery.form_entry_id == form_entry_id)
        return [
            _info(query, entry, code)
            for query, entry, code in session.execute(stmt).all()
            if actor.sees_site(code)
        ]
