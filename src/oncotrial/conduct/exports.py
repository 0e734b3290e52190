"""Data out: SDTM (every domain as stored, as ``db export`` writes it), CDISC ODM 1.3.2 with
the audit trail and signatures, the whole audit trail, and one subject's casebook. Every export
is an audited access event (who took what, when).
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy import select

from oncotrial.conduct.accounts import record_event
from oncotrial.conduct.errors import NotFoundError
from oncotrial.conduct.odm import OdmForm, build_odm
from oncotrial.conduct.queries import QueryInfo, list_queries
from oncotrial.conduct.reading import EntryInfo, SubjectSummary, subject_forms, subject_summary
from oncotrial.conduct.review import MEANING, SignatureInfo, signatures
from oncotrial.conduct.roles import Action, Actor, require
from oncotrial.conduct.study import Study
from oncotrial.conduct.trail import TrailRow, form_trail
from oncotrial.sim.trial_run import sdtm_from_store
from oncotrial.store import DOMAIN_MODELS
from oncotrial.store.models import FormEntry, Signature, Site, Subject, User

#: export name → (media type, what it is)
EXPORTS = {
    "sdtm.zip": ("application/zip", "SDTM: one CSV per domain, every value as stored"),
    "odm.xml": ("application/xml", "CDISC ODM 1.3.2: clinical data, audit trail, signatures"),
    "audit.csv": ("text/csv", "the whole audit trail with its hash chain"),
}


def _audit_export(study: Study, actor: Actor, what: str) -> None:
    with study.transaction(actor, f"export: {what}") as txn:
        record_event(txn.session, "export", actor.username, what=what)


def sdtm_frames(study: Study, actor: Actor) -> dict[str, pd.DataFrame]:
    """Every SDTM domain the store holds, as stored (text cell by cell): those ``db export``
    writes, and IE."""
    require(actor, Action.export_data)
    with study.reading(actor) as (store, _):
        out = sdtm_from_store(store)
        for domain in DOMAIN_MODELS:
            if domain.lower() not in out:
                frame = store.records(domain)
                if not frame.empty:
                    out[domain.lower()] = frame.reset_index(drop=True)
    return out


def odm_document(study: Study, actor: Actor) -> bytes:
    """The ODM 1.3.2 transactional document of every form of every subject."""
    require(actor, Action.export_data)
    with study.reading(actor) as (store, session):
        entries = session.execute(
            select(FormEntry, Subject.site_code)
            .join(Subject, Subject.usubjid == FormEntry.usubjid)
            .order_by(FormEntry.usubjid, FormEntry.id)
        ).all()
        sigs: dict[int, list[dict[str, Any]]] = {}
        for signature in session.scalars(select(Signature).order_by(Signature.id)):
            sigs.setdefault(signature.form_entry_id, []).append(
                {
                    "username": signature.username,
                    "signed_at": signature.signed_at.isoformat(timespec="seconds"),
                }
            )
        audit: dict[tuple[str, int], list[dict[str, Any]]] = {}
        variables: dict[str, dict[str, set[str]]] = {}
        forms: list[OdmForm] = []
        people = {u.username: u.full_name or u.username for u in session.scalars(select(User))}
        for entry, site in entries:
            refs = [(d, int(r)) for d, r in entry.records["refs"]]
            for domain, record_id in refs:
                table = DOMAIN_MODELS[domain].__tablename__
                rows = store.audit_trail(table, record_id).to_dict("records")
                audit[(domain, record_id)] = rows
                seen = variables.setdefault(entry.form, {}).setdefault(domain, set())
                for row in rows:
                    people.setdefault(str(row["user_name"]), str(row["user_name"]))
                    if row["field"] is not None:
                        seen.add(str(row["field"]))
                    elif row["new_value"]:
                        seen.update(json.loads(row["new_value"]))
            forms.append(
                OdmForm(
                    entry.usubjid, site, entry.form, entry.instance, refs, sigs.get(entry.id, [])
                )
            )
        sites = [(s.code, s.name) for s in session.scalars(select(Site).order_by(Site.code))]
    meta = [
        (
            code,
            form.title,
            form.repeating,
            sorted((d, sorted(v)) for d, v in variables.get(code, {}).items()),
        )
        for code, form in study.forms.items()
    ]
    return build_odm(
        study_oid=study.studyid,
        study_name=study.protocol.study.title,
        description=study.protocol.study.description or study.protocol.study.title,
        forms_meta=meta,
        users=sorted(people.items()),
        sites=sites,
        meaning=MEANING,
        entries=forms,
        audit=audit,
    )


def audit_table(study: Study, actor: Actor) -> pd.DataFrame:
    """The whole audit trail, every row with its hash and the previous row's hash."""
    require(actor, Action.export_audit)
    with study.reading(actor) as (store, _):
        return store.audit_trail()


def export_file(study: Study, actor: Actor, name: str) -> tuple[bytes, str, str]:
    """An export as (bytes, media type, file name); audited."""
    if name not in EXPORTS:
        raise NotFoundError(f"no export '{name}' (exports: {', '.join(EXPORTS)})")
    media = EXPORTS[name][0]
    stem = study.protocol.study.id
    if name == "sdtm.zip":
        frames = sdtm_frames(study, actor)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for domain, frame in frames.items():
                archive.writestr(f"{domain}.csv", frame.to_csv(index=False))
        data = buffer.getvalue()
    elif name == "odm.xml":
        data = odm_document(study, actor)
    else:
        data = audit_table(study, actor).to_csv(index=False).encode("utf-8")
    _audit_export(study, actor, name)
    return data, media, f"{stem}-{name}"


@dataclass
class CasebookForm:
    entry: EntryInfo
    signatures: list[SignatureInfo]
    queries: list[QueryInfo]
    trail: list[TrailRow]


@dataclass
class Casebook:
    """One subject's casebook: every form with its values, signatures, queries, audit trail."""

    subject: SubjectSummary
    forms: list[CasebookForm] = field(default_factory=list)


def casebook(study: Study, actor: Actor, usubjid: str) -> Casebook:
    """The subject's casebook (audited as an export)."""
    require(actor, Action.export_casebook)
    summary = subject_summary(study, actor, usubjid)
    require(actor, Action.export_casebook, summary.site)
    book = Casebook(summary)
    for saved in subject_forms(study, actor, usubjid):
        book.forms.append(
            CasebookForm(
                saved,
                signatures(study, actor, saved.id),
                list_queries(study, actor, form_entry_id=saved.id),
                form_trail(study, actor, saved.id),
            )
        )
    _audit_export(study, actor, f"casebook {usubjid}")
    return book
