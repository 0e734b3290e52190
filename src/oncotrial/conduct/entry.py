"""Data entry: screen a subject, enrol, and save any form of the study — each one transaction.

Saving a form: the form's own structural checks, then its SDTM rows through the store (the
store's edit checks: a hard finding refuses the whole form with the field and rule named), the
subject's course kept in step (:mod:`oncotrial.conduct.lifecycle`), the system's judgements
beside the investigator's (DLT, RECIST response), and a system query for each soft finding or
disagreement. An edit after the first save needs a reason (ICH E6(R3) §4.2: changes are
explained; 21 CFR Part 11 §11.10(e)); an edit of a locked or signed form is refused, and an
edit after a signature invalidates it visibly (§11.70).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from oncotrial.conduct.accounts import now
from oncotrial.conduct.assessments import judge_dlt, judge_response, soc_of
from oncotrial.conduct.dlt_review import dlt_flags, flag_after_dlt_change
from oncotrial.conduct.errors import InvalidInputError, NotFoundError, StateError
from oncotrial.conduct.forms.catalog import eligible
from oncotrial.conduct.forms.model import FormContext, FormDef, Values
from oncotrial.conduct.forms.tumour import BASELINE_VISIT
from oncotrial.conduct.lifecycle import (
    arm_of,
    enrol_into_slot,
    lower_first_dose,
    sync_subject,
)
from oncotrial.conduct.queries import close_resolved, open_system_query
from oncotrial.conduct.records import (
    Applied,
    apply_rows,
    rejection,
    rows_by_domain,
    stored_rows,
)
from oncotrial.conduct.roles import Action, Actor, require
from oncotrial.conduct.study import Study, Txn
from oncotrial.store import (
    AuditedSession,
    ConcurrentEditError,
    EditCheckError,
    Finding,
    ReasonRequiredError,
)
from oncotrial.store.audit import canonical_json
from oncotrial.store.models import Cohort, FormEntry, Signature, Site, Subject

#: review states of a form, in order
ENTERED, COMPLETE, VERIFIED, LOCKED, SIGNED = "entered", "complete", "verified", "locked", "signed"
EDITABLE = frozenset({ENTERED, COMPLETE, VERIFIED})
#: forms whose save changes the subject's course (dates, status)
COURSE_FORMS = frozenset({"SCREEN", "ENROL", "FU", "EOT", "EOS"})


@dataclass(frozen=True)
class SaveResult:
    """What a save did: the form entry, the soft findings (each opened a query), the system's
    judgements (``computed``: e.g. the DLT verdict), queries opened and closed."""

    entry_id: int
    usubjid: str
    form: str
    instance: str
    status: str
    row_version: int
    warnings: list[str] = field(default_factory=list)
    computed: dict[str, str] = field(default_factory=dict)
    queries_opened: list[int] = field(default_factory=list)
    queries_closed: int = 0


def content_hash(form: str, instance: str, values: Values, refs: list[list[Any]]) -> str:
    """SHA-256 of a form's content: its values as the form reads them back from the store and
    the records they are in (what an e-signature is bound to)."""
    payload = canonical_json(
        {"form": form, "instance": instance, "values": values, "records": refs}
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def subject_row(session: AuditedSession, actor: Actor, usubjid: str) -> Subject:
    """The subject, if the actor may see it; another site's subject is 'not found'."""
    subject = session.scalar(select(Subject).where(Subject.usubjid == usubjid))
    if subject is None or not actor.sees_site(subject.site_code):
        raise NotFoundError(f"no subject {usubjid}")
    return subject


def _cohort_phase(txn: Txn, subject: Subject) -> str | None:
    if subject.cohort_id is None:
        return None
    return txn.session.scalar(select(Cohort.phase).where(Cohort.id == subject.cohort_id))


def _context(
    study: Study, txn: Txn, subject: Subject, instance: str, values: Values
) -> FormContext:
    country = txn.session.scalar(select(Site.country).where(Site.code == subject.site_code))
    arm = arm_of(study, subject.dose_level)
    return FormContext(
        studyid=study.studyid,
        usubjid=subject.usubjid,
        site=subject.site_code or "",
        instance=instance,
        subject={
            "consent_date": subject.consent_date,
            "first_dose_date": subject.first_dose_date,
            "dose_level": subject.dose_level,
        },
        extra={
            "arm": {"code": arm["ARMCD"], "name": arm["ARM"]},
            "country": country,
            "soc": soc_of(study.protocol, values.get("term")),
        },
    )


def _next_instance(txn: Txn, usubjid: str, form: str) -> str:
    numbers = txn.session.scalars(
        select(FormEntry.instance).where(FormEntry.usubjid == usubjid, FormEntry.form == form)
    ).all()
    return str(max((int(n) for n in numbers if n.isdigit()), default=0) + 1)


def save_form(
    study: Study,
    actor: Actor,
    usubjid: str,
    code: str,
    raw: Mapping[str, Any],
    *,
    instance: str | None = None,
    reason: str | None = None,
    expected_version: int | None = None,
) -> SaveResult:
    """Save a new form (``instance`` None) or change a saved one (a reason and the entry's
    ``row_version`` it was based on are required)."""
    require(actor, Action.enter_data)
    form = study.form(code)
    if form.code == "SCREEN":
        raise InvalidInputError(
            "a subject is screened with screen(); its screening form is then edited"
        )
    editing = instance is not None
    if editing and not (reason and reason.strip()):
        raise ReasonRequiredError(f"a reason is required to change the {form.title} form")
    with study.transaction(actor, reason) as txn:
        subject = subject_row(txn.session, actor, usubjid)
        require(actor, Action.enter_data, subject.site_code)
        return _save(study, txn, form, subject, raw, instance, reason, expected_version)


def screen(study: Study, actor: Actor, raw: Mapping[str, Any]) -> SaveResult:
    """Screen a new subject at a site: the subject gets the next id of the site
    (``<site>-<nnn>``), its consent and eligibility are recorded (SCREEN form)."""
    require(actor, Action.enter_data)
    form = study.form("SCREEN")
    site = (raw.get("site") or "").strip()
    require(actor, Action.enter_data, site or None)
    values = form.clean(raw)
    findings = form.check(values, None)
    if findings:
        raise rejection(form, [(f, f.field) for f in findings])
    with study.transaction(actor, "subject screened") as txn:
        if txn.session.scalar(select(Site.id).where(Site.code == site)) is None:
            raise InvalidInputError(f"no site {site}")
        taken = txn.session.scalars(select(Subject.usubjid).where(Subject.site_code == site)).all()
        prefix = f"{site}-"
        number = max(
            (
                int(u[len(prefix) :])
                for u in taken
                if u.startswith(prefix) and u[len(prefix) :].isdigit()
            ),
            default=0,
        )
        usubjid = f"{site}-{number + 1:03d}"
        try:
            txn.store.add_subject(
                usubjid, site, actor.username, consent_date=values.get("consent_date")
            )
        except EditCheckError as exc:
            fields = {"consent_date": "consent_date", "site": "site"}
            raise rejection(form, [(f, fields.get(f.field)) for f in exc.findings]) from exc
        subject = subject_row(txn.session, actor, usubjid)
        return _save(study, txn, form, subject, raw, None, None, None)


def _save(
    study: Study,
    txn: Txn,
    form: FormDef,
    subject: Subject,
    raw: Mapping[str, Any],
    instance: str | None,
    reason: str | None,
    expected_version: int | None,
) -> SaveResult:
    usubjid = subject.usubjid
    entry: FormEntry | None = None
    if instance is not None:
        entry = txn.session.scalar(
            select(FormEntry).where(
                FormEntry.usubjid == usubjid,
                FormEntry.form == form.code,
                FormEntry.instance == instance,
            )
        )
        if entry is None:
            raise NotFoundError(f"no {form.code} form {instance} of subject {usubjid}")
        if expected_version is not None and entry.row_version != expected_version:
            raise ConcurrentEditError(
                f"the {form.title} form of {usubjid} was changed by {entry.updated_by} since you "
                "opened it: reload it and re-apply your change",
                table="form_entries",
                record_id=entry.id,
                expected_version=expected_version,
                actual_version=entry.row_version,
            )
        if entry.status not in EDITABLE:
            raise StateError(
                f"the {form.title} form is {entry.status}: a data manager must unlock it first"
            )
    else:
        if form.needs_enrolment and subject.cohort_id is None:
            raise StateError(f"{usubjid} is not enrolled: the {form.title} form waits for that")
        instance = _next_instance(txn, usubjid, form.code) if form.repeating else "1"
        exists = select(FormEntry.id).where(
            FormEntry.usubjid == usubjid, FormEntry.form == form.code
        )
        if not form.repeating and txn.session.scalar(exists) is not None:
            raise StateError(f"the {form.title} form of {usubjid} exists: change it instead")
    values = form.clean(raw)
    findings = form.check(values, usubjid)
    if findings:
        raise rejection(form, [(f, f.field) for f in findings])
    if form.code == "ENROL" and entry is None:
        _enrol(study, txn, subject, values)
    ctx = _context(study, txn, subject, instance, values)
    rows = form.to_records(ctx, values)
    if form.code.startswith("EX-"):
        for row in rows:
            lower_first_dose(txn, subject, row.values().get("EXSTDTC"))
    previous = [tuple(ref) for ref in (entry.records["refs"] if entry else [])]
    dlt_before = dlt_flags(txn, previous) if form.code == "AE" else None
    applied = apply_rows(
        txn,
        form,
        study.studyid,
        usubjid,
        rows,
        previous,
        reason,  # type: ignore[arg-type]
    )
    if dlt_before is not None:
        after = [
            (rid, values) for (_, rid), (_, values) in zip(applied.refs, applied.rows, strict=True)
        ]
        flag_after_dlt_change(txn, usubjid, dlt_before, after)
    if form.code in COURSE_FORMS or form.code.startswith("EX-") or form.code == "DM":
        try:
            sync_subject(study, txn, usubjid)
        except EditCheckError as exc:
            raise rejection(form, [(f, None) for f in exc.findings]) from exc
    stored = rows_by_domain(applied.rows)
    read_back = form.from_records(stored)
    refs = [[domain, rid] for domain, rid in applied.refs]
    digest = content_hash(form.code, instance, read_back, refs)
    moment = now()
    if entry is None:
        entry = FormEntry(
            usubjid=usubjid,
            form=form.code,
            instance=instance,
            records={"refs": refs},
            status=ENTERED,
            content_hash=digest,
            created_by=txn.actor.username,
            created_at=moment,
            updated_by=txn.actor.username,
            updated_at=moment,
        )
        txn.session.add(entry)
    else:
        changed = digest != entry.content_hash
        entry.records = {"refs": refs}
        entry.content_hash = digest
        entry.updated_by, entry.updated_at = txn.actor.username, moment
        if changed:
            if entry.status == VERIFIED:
                entry.status = COMPLETE
            _invalidate_signatures(txn, entry, reason or "")
    txn.session.flush()
    computed, concerns = _judge(study, txn, form, subject, values, applied)
    opened: list[int] = []
    live: set[tuple[str, str]] = set()
    for finding, source in applied.warnings:
        key = (source or "", finding.rule)
        live.add(key)
        query = open_system_query(txn.session, entry, key[0], finding.rule, finding.message)
        if query is not None:
            opened.append(query.id)
    for source, rule, message in concerns:
        live.add((source, rule))
        query = open_system_query(txn.session, entry, source, rule, message)
        if query is not None:
            opened.append(query.id)
    closed = close_resolved(txn.session, entry, live)
    txn.session.flush()
    return SaveResult(
        entry.id,
        usubjid,
        form.code,
        instance,
        entry.status,
        entry.row_version,
        [f"{form.label_of(source) or f.field}: {f.message}" for f, source in applied.warnings],
        computed,
        opened,
        closed,
    )


def _enrol(study: Study, txn: Txn, subject: Subject, values: Values) -> None:
    """Enrolment needs a completed screening that met every criterion, then a free slot."""
    screening = txn.session.scalar(
        select(FormEntry).where(FormEntry.usubjid == subject.usubjid, FormEntry.form == "SCREEN")
    )
    if screening is None:
        raise StateError(f"{subject.usubjid} has no screening form")
    screen_form = study.form("SCREEN")
    stored: dict[str, list[dict[str, str | None]]] = {}
    for domain, record_id in screening.records["refs"]:
        for rid, row in stored_rows(txn, domain, subject.usubjid):
            if rid == record_id:
                stored.setdefault(domain, []).append(row)
    if not eligible(screen_form.from_records(stored), study.protocol):
        raise rejection(
            study.form("ENROL"),
            [
                (
                    Finding(
                        subject.usubjid,
                        "ENROL",
                        "cohort",
                        "eligibility",
                        "the subject did not meet every eligibility criterion at screening",
                    ),
                    "cohort",
                )
            ],
        )
    cohort = values.get("cohort")
    if cohort is not None and not str(cohort).isdigit():
        raise InvalidInputError(f"cohort '{cohort}' is not a cohort number")
    enrol_into_slot(txn, subject.usubjid, int(cohort) if cohort else None)


def _invalidate_signatures(txn: Txn, entry: FormEntry, reason: str) -> None:
    for signature in txn.session.scalars(
        select(Signature).where(
            Signature.form_entry_id == entry.id, Signature.invalidated_at.is_(None)
        )
    ):
        signature.invalidated_at = now()
        signature.invalidated_by = txn.actor.username
        signature.invalidation_reason = f"form changed after signing: {reason}"


def _judge(
    study: Study,
    txn: Txn,
    form: FormDef,
    subject: Subject,
    values: Values,
    applied: Applied,
) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    """The system's judgements beside the investigator's, and the disagreements to query."""
    computed: dict[str, str] = {}
    concerns: list[tuple[str, str, str]] = []
    if form.code == "AE":
        if _cohort_phase(txn, subject) != "I":
            computed["dlt"] = "not assessed for DLT: the subject is not in a phase I cohort"
            return computed, concerns
        ae = applied.rows[0][1]
        judgement = judge_dlt(study.protocol, ae, subject.first_dose_date)
        computed["dlt"] = judgement.text()
        investigator = values.get("dlt")
        system = judgement.flag or None
        if system == "Y" and investigator != "Y":
            concerns.append(
                (
                    "dlt",
                    "dlt_disagreement",
                    f"the protocol's DLT definition makes this a DLT ({judgement.reasons}); "
                    f"the investigator's assessment is {investigator or 'missing'}",
                )
            )
        elif investigator == "Y" and system != "Y":
            concerns.append(
                (
                    "dlt",
                    "dlt_disagreement",
                    f"assessed as a DLT by the investigator, but {judgement.text()}",
                )
            )
    if form.code == "TA" and values.get("visit") not in (None, BASELINE_VISIT):
        tu = [values for _, values in stored_rows(txn, "TU", subject.usubjid)]
        tr = [values for _, values in stored_rows(txn, "TR", subject.usubjid)]
        judgement = judge_response(tu, tr, values["visit"])
        computed["response"] = (
            f"RECIST 1.1 from the lesions: {judgement.response} ({judgement.reason})"
            if judgement.response
            else f"RECIST 1.1 response {judgement.reason}"
        )
        investigator = values.get("response")
        if judgement.response and investigator and judgement.response != investigator:
            concerns.append(
                (
                    "response",
                    "recist_disagreement",
                    f"the investigator's overall response {investigator} differs from "
                    f"RECIST 1.1 computed from the lesions: {judgement.response} "
                    f"({judgement.reason})",
                )
            )
        elif judgement.response and not investigator:
            concerns.append(
                (
                    "response",
                    "recist_missing",
                    f"no overall response given; RECIST 1.1 from the lesions: {judgement.response}",
                )
            )
    return computed, concerns


@dataclass(frozen=True)
class FormSave:
    """One form of a batch (:func:`save_forms`): a new form (``instance`` None) or a change of
    a saved one (with its ``reason``)."""

    code: str
    values: Mapping[str, Any]
    instance: str | None = None
    reason: str | None = None


def save_forms(study: Study, actor: Actor, usubjid: str, saves: list[FormSave]) -> list[SaveResult]:
    """Save several forms of one subject in one transaction — a visit's forms, all or none —
    each exactly as :func:`save_form` saves it (same checks, judgements and queries)."""
    require(actor, Action.enter_data)
    forms = [study.form(save.code) for save in saves]
    for form, save in zip(forms, saves, strict=True):
        if form.code == "SCREEN":
            raise InvalidInputError(
                "a subject is screened with screen(); its screening form is then edited"
            )
        if save.instance is not None and not (save.reason and save.reason.strip()):
            raise ReasonRequiredError(f"a reason is required to change the {form.title} form")
    with study.transaction(actor) as txn:
        subject = subject_row(txn.session, actor, usubjid)
        require(actor, Action.enter_data, subject.site_code)
        results = []
        for form, save in zip(forms, saves, strict=True):
            txn.session.info["reason"] = save.reason  # each change audited with its own
            results.append(
                _save(study, txn, form, subject, save.values, save.instance, save.reason, None)
            )
            txn.session.flush()
        txn.session.info["reason"] = None
        return results
