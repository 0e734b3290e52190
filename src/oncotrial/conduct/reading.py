"""What users read: a saved form (its values read back from its SDTM records, its review state,
whether its content is still what was saved), a subject's forms, the subject lists, the values
a new form starts from, and the system's judgements beside the investigator's."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from oncotrial.conduct.assessments import judge_dlt, judge_response
from oncotrial.conduct.entry import content_hash, subject_row
from oncotrial.conduct.errors import NotFoundError
from oncotrial.conduct.forms.model import Values
from oncotrial.conduct.forms.tumour import BASELINE_VISIT
from oncotrial.conduct.lifecycle import open_cohorts
from oncotrial.conduct.roles import Action, Actor, require
from oncotrial.conduct.study import Study
from oncotrial.store.models import Cohort, DataQuery, FormEntry, Subject


@dataclass(frozen=True)
class EntryInfo:
    """A saved form: its values (read back from its SDTM records) and review state."""

    id: int
    usubjid: str
    site: str | None
    form: str
    title: str
    instance: str
    status: str
    values: Values
    records: list[tuple[str, int]]
    content_hash: str
    content_intact: bool
    row_version: int
    created_by: str
    created_at: datetime
    updated_by: str
    updated_at: datetime


def _entry_info(study: Study, store: Any, entry: FormEntry, site: str | None) -> EntryInfo:
    form = study.form(entry.form)
    refs = [(d, int(r)) for d, r in entry.records["refs"]]
    stored: dict[str, list[dict[str, str | None]]] = {}
    frames: dict[str, Any] = {}
    for domain, record_id in refs:
        if domain not in frames:
            frames[domain] = store.records(domain, usubjid=entry.usubjid)
        frame = frames[domain]
        if record_id in frame.index:
            stored.setdefault(domain, []).append(frame.loc[record_id].to_dict())
    values = form.from_records(stored)
    digest = content_hash(entry.form, entry.instance, values, [[d, r] for d, r in refs])
    return EntryInfo(
        entry.id,
        entry.usubjid,
        site,
        entry.form,
        form.title,
        entry.instance,
        entry.status,
        values,
        refs,
        entry.content_hash,
        digest == entry.content_hash,
        entry.row_version,
        entry.created_by,
        entry.created_at,
        entry.updated_by,
        entry.updated_at,
    )


def get_form(study: Study, actor: Actor, usubjid: str, code: str, instance: str) -> EntryInfo:
    """One saved form of a subject, as the actor may see it."""
    require(actor, Action.view_subjects)
    with study.reading(actor) as (store, session):
        subject = subject_row(session, actor, usubjid)
        entry = session.scalar(
            select(FormEntry).where(
                FormEntry.usubjid == usubjid,
                FormEntry.form == code,
                FormEntry.instance == instance,
            )
        )
        if entry is None:
            raise NotFoundError(f"no {code} form {instance} of subject {usubjid}")
        return _entry_info(study, store, entry, subject.site_code)


def get_entry(study: Study, actor: Actor, entry_id: int) -> EntryInfo:
    """A saved form by its id."""
    require(actor, Action.view_subjects)
    with study.reading(actor) as (store, session):
        entry = session.get(FormEntry, entry_id)
        if entry is None:
            raise NotFoundError(f"no form #{entry_id}")
        subject = subject_row(session, actor, entry.usubjid)
        return _entry_info(study, store, entry, subject.site_code)


def subject_forms(study: Study, actor: Actor, usubjid: str) -> list[EntryInfo]:
    """Every saved form of a subject, in the order of the study's forms."""
    require(actor, Action.view_subjects)
    order = {code: i for i, code in enumerate(study.forms)}
    with study.reading(actor) as (store, session):
        subject = subject_row(session, actor, usubjid)
        entries = session.scalars(select(FormEntry).where(FormEntry.usubjid == usubjid)).all()
        infos = [_entry_info(study, store, e, subject.site_code) for e in entries]
    return sorted(infos, key=lambda e: (order.get(e.form, 99), int(e.instance or 0)))


@dataclass(frozen=True)
class SubjectSummary:
    """A subject as listed: id, site, status, dose level (named), cohort, counts."""

    usubjid: str
    site: str | None
    status: str
    consent_date: str | None
    first_dose_date: str | None
    dose_level: str | None
    dose_name: str
    cohort: int | None
    forms: int
    open_queries: int
    row_version: int


def list_subjects(study: Study, actor: Actor, site: str | None = None) -> list[SubjectSummary]:
    """The subjects the actor may see (optionally of one site), in id order."""
    require(actor, Action.view_subjects)
    with study.reading(actor) as (_, session):
        forms = dict(
            session.execute(
                select(FormEntry.usubjid, func.count()).group_by(FormEntry.usubjid)
            ).all()
        )
        queries = dict(
            session.execute(
                select(DataQuery.usubjid, func.count())
                .where(DataQuery.status != "closed")
                .group_by(DataQuery.usubjid)
            ).all()
        )
        rows = session.execute(
            select(Subject, Cohort.number)
            .outerjoin(Cohort, Cohort.id == Subject.cohort_id)
            .order_by(Subject.usubjid)
        ).all()
        out = []
        for subject, number in rows:
            if not actor.sees_site(subject.site_code):
                continue
            if site is not None and subject.site_code != site:
                continue
            out.append(
                SubjectSummary(
                    subject.usubjid,
                    subject.site_code,
                    subject.status,
                    subject.consent_date,
                    subject.first_dose_date,
                    subject.dose_level,
                    study.level_name(subject.dose_level),
                    number,
                    forms.get(subject.usubjid, 0),
                    queries.get(subject.usubjid, 0),
                    subject.row_version,
                )
            )
        return out


def subject_summary(study: Study, actor: Actor, usubjid: str) -> SubjectSummary:
    """One subject as listed (not found for another site's subject)."""
    require(actor, Action.view_subjects)
    with study.reading(actor) as (_, session):
        subject = subject_row(session, actor, usubjid)
        site = subject.site_code
    for row in list_subjects(study, actor, site):
        if row.usubjid == usubjid:
            return row
    raise NotFoundError(f"no subject {usubjid}")


def prefill(study: Study, actor: Actor, usubjid: str, code: str) -> Values:
    """Values a new form starts from: a follow-up tumour assessment lists the baseline target
    and non-target lesions to measure again."""
    require(actor, Action.view_subjects)
    if code != "TA":
        return {}
    with study.reading(actor) as (store, session):
        subject_row(session, actor, usubjid)
        tu = store.records("TU", usubjid=usubjid)
        tr = store.records("TR", usubjid=usubjid)
    if tu.empty:
        return {"visit": BASELINE_VISIT}
    nodal = {
        row["TRLNKID"]: row["TRTESTCD"] == "SAXIS"
        for _, row in tr.iterrows()
        if row.get("TRGRPID") == "TARGET"
    }
    baseline = tu[tu["VISITNUM"] == BASELINE_VISIT]
    targets = [
        {
            "link": r["TULNKID"],
            "location": r["TULOC"],
            "nodal": "Y" if nodal.get(r["TULNKID"]) else "N",
        }
        for _, r in baseline.iterrows()
        if r["TUSTRESC"] == "TARGET"
    ]
    nontargets = [
        {"link": r["TULNKID"], "location": r["TULOC"]}
        for _, r in baseline.iterrows()
        if r["TUSTRESC"] == "NON-TARGET"
    ]
    visits = sorted({int(float(v)) for v in tr["VISITNUM"] if v}) if not tr.empty else []
    follow = max([v for v in visits if v > 100], default=100) + 1
    return {"visit": str(follow), "targets": targets, "nontargets": nontargets, "new": []}


def computed_for(study: Study, actor: Actor, entry_id: int) -> dict[str, str]:
    """The system's judgements beside the investigator's for a saved form (recomputed from the
    store as it is now): the DLT verdict of an AE, the RECIST response of a tumour assessment."""
    saved = get_entry(study, actor, entry_id)
    if saved.form not in ("AE", "TA"):
        return {}
    with study.reading(actor) as (store, session):
        subject = subject_row(session, actor, saved.usubjid)
        phase = (
            session.scalar(select(Cohort.phase).where(Cohort.id == subject.cohort_id))
            if subject.cohort_id is not None
            else None
        )
        if saved.form == "AE":
            if phase != "I":
                return {"dlt": "not assessed for DLT: the subject is not in a phase I cohort"}
            ae = store.records("AE", usubjid=saved.usubjid)
            record = next((rid for d, rid in saved.records if d == "AE"), None)
            if record is None or record not in ae.index:
                return {}
            row = {k: v for k, v in ae.loc[record].to_dict().items()}
            return {"dlt": judge_dlt(study.protocol, row, subject.first_dose_date).text()}
        visit = saved.values.get("visit")
        if visit in (None, BASELINE_VISIT):
            return {}
        tu = store.records("TU", usubjid=saved.usubjid).to_dict("records")
        tr = store.records("TR", usubjid=saved.usubjid).to_dict("records")
    judgement = judge_response(tu, tr, visit)
    if judgement.response:
        return {
            "response": f"RECIST 1.1 from the lesions: {judgement.response} ({judgement.reason})"
        }
    return {"response": f"RECIST 1.1 response {judgement.reason}"}


def cohort_choices(study: Study, actor: Actor) -> list[tuple[str, str]]:
    """Open cohorts with free slots as (number, "Cohort 1 — L1, donafenib 100 mg bid (2 free)")."""
    require(actor, Action.view_subjects)
    with study.reading(actor) as (_, session):
        rows = open_cohorts(session)
    return [
        (str(number), f"Cohort {number} — {study.level_name(level)} ({free} free)")
        for number, level, free in rows
    ]
