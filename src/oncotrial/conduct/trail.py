"""The audit trail of one form, one click away for whoever may see the form: every insert,
change and deletion of its SDTM records, of the form entry itself (review states), of its
queries and signatures — who, when (UTC), old and new value, and the reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import select

from oncotrial.conduct.entry import subject_row
from oncotrial.conduct.errors import NotFoundError
from oncotrial.conduct.roles import Action, Actor, require
from oncotrial.conduct.study import Study
from oncotrial.store import DOMAIN_MODELS
from oncotrial.store.models import DataQuery, FormEntry, Signature


@dataclass(frozen=True)
class TrailRow:
    """One row of a record's audit trail."""

    seq: int
    changed_at: str
    user: str
    action: str
    what: str
    field: str | None
    old_value: str | None
    new_value: str | None
    reason: str | None


def form_trail(study: Study, actor: Actor, entry_id: int) -> list[TrailRow]:
    """The audit trail of a form (its records, review states, queries, signatures), in
    sequence order."""
    require(actor, Action.view_audit)
    with study.reading(actor) as (store, session):
        entry = session.get(FormEntry, entry_id)
        if entry is None:
            raise NotFoundError(f"no form #{entry_id}")
        subject_row(session, actor, entry.usubjid)
        targets: list[tuple[str, str, str]] = [("form_entries", str(entry.id), "form")]
        refs = {(d, int(r)) for d, r in entry.records["refs"]}
        history = store.audit_trail("form_entries", entry.id)
        for _, row in history.iterrows():
            if row["field"] == "records" and row["old_value"]:
                refs |= {(d, int(r)) for d, r in json.loads(row["old_value"]).get("refs", [])}
        for domain, record_id in sorted(refs):
            table = DOMAIN_MODELS[domain].__tablename__
            targets.append((table, str(record_id), f"{domain} #{record_id}"))
        for query_id in session.scalars(
            select(DataQuery.id).where(DataQuery.form_entry_id == entry.id)
        ):
            targets.append(("data_queries", str(query_id), f"query #{query_id}"))
        for signature_id in session.scalars(
            select(Signature.id).where(Signature.form_entry_id == entry.id)
        ):
            targets.append(("signatures", str(signature_id), f"signature #{signature_id}"))
        rows: list[TrailRow] = []
        for table, record_id, what in targets:
            frame = store.audit_trail(table, record_id)
            for _, row in frame.iterrows():
                rows.append(
                    TrailRow(
                        int(row["seq"]),
                        str(row["changed_at"]),
                        str(row["user_name"]),
                        str(row["action"]),
                        what,
                        row["field"],
                        row["old_value"],
                        row["new_value"],
                        row["reason"],
                    )
                )
    return sorted(rows, key=lambda r: r.seq)
