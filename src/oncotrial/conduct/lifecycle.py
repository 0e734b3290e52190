"""A subject's course through the study, read from its forms' records: its status, reference
dates and dose level, kept in step on the subject and in DM whenever a form changes them.

- first dose (``first_dose_date`` ~ DM ``RFXSTDTC``): the earliest complete EX start — the DLT
  window (protocol ``dlt.window_days``) is counted from it;
- last dose (``RFXENDTC``), death (``DTHDTC``/``DTHFL``, from survival follow-up or an end of
  study by death), end of participation (``RFENDTC``/``RFPENDTC``, end of study);
- status: screening → screen_failure | enrolled → on_treatment (first dose) → follow_up (end of
  treatment) → completed | died | lost_to_follow_up | withdrawn (end of study; died at death).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select

from oncotrial.cdisc.dates import date_span
from oncotrial.conduct.errors import StateError
from oncotrial.conduct.forms.catalog import STATUS_AT_END
from oncotrial.conduct.records import stored_rows, stored_values
from oncotrial.conduct.study import Study, Txn
from oncotrial.store import AuditedSession
from oncotrial.store.models import Cohort, CohortSlot, Subject

DERIVED = "derived from the subject's forms"


@dataclass(frozen=True)
class Course:
    """What the records say of a subject."""

    consent: str | None
    first_dose: str | None
    last_dose: str | None
    death: str | None
    end_of_study: str | None
    status: str


def _complete(text: str | None) -> bool:
    span = date_span(text)
    return span is not None and span.complete


def course_of(txn: Txn, usubjid: str, subject: Subject) -> Course:
    """The subject's dates and status from its DS and EX records (as this transaction sees
    them)."""
    ds = [values for _, values in stored_rows(txn, "DS", usubjid)]
    ex = [values for _, values in stored_rows(txn, "EX", usubjid)]
    starts = sorted(v["EXSTDTC"] for v in ex if _complete(v.get("EXSTDTC")))
    ends = sorted(
        (v.get("EXENDTC") or v.get("EXSTDTC") or "")[:10]
        for v in ex
        if _complete((v.get("EXENDTC") or v.get("EXSTDTC") or "")[:10])
    )

    def event(decod: str | None = None, scat: str | None = None) -> Mapping[str, str | None]:
        for row in ds:
            if (decod is None or row.get("DSDECOD") == decod) and (
                scat is None or row.get("DSSCAT") == scat
            ):
                return row
        return {}

    consent = event("INFORMED CONSENT OBTAINED").get("DSSTDTC") or subject.consent_date
    eos = event(scat="END OF STUDY")
    death = event("DEATH", "SURVIVAL FOLLOW-UP").get("DSSTDTC")
    if death is None and eos.get("DSDECOD") == "DEATH":
        death = eos.get("DSSTDTC")
    if eos:
        status = STATUS_AT_END.get(eos.get("DSDECOD") or "", "withdrawn")
    elif death:
        status = "died"
    elif event(scat="END OF TREATMENT"):
        status = "follow_up"
    elif starts:
        status = "on_treatment"
    elif event("ENROLLED") or subject.cohort_id is not None:
        status = "enrolled"
    elif event("SCREEN FAILURE"):
        status = "screen_failure"
    else:
        status = "screening"
    return Course(
        consent,
        starts[0][:10] if starts else None,
        ends[-1] if ends else None,
        death,
        eos.get("DSSTDTC"),
        status,
    )


def lower_first_dose(txn: Txn, subject: Subject, start: str | None) -> None:
    """Before EX is added: move the subject's first dose earlier when ``start`` precedes it
    (the store checks every dose against the first dose)."""
    if not _complete(start) or subject.first_dose_date is None:
        return
    assert start is not None
    if start[:10] < subject.first_dose_date:
        txn.store.update_subject(
            subject.usubjid,
            {"first_dose_date": start[:10]},
            txn.actor.username,
            DERIVED,
            subject.row_version,
        )
        _set_dm(txn, subject.usubjid, {"RFXSTDTC": start[:10], "RFSTDTC": start[:10]})


def sync_subject(study: Study, txn: Txn, usubjid: str) -> Course:
    """Bring the subject's status and dates, and DM's reference variables, in line with its
    records (each change audited with the reason 'derived from the subject's forms')."""
    subject = txn.session.scalar(select(Subject).where(Subject.usubjid == usubjid))
    assert subject is not None
    course = course_of(txn, usubjid, subject)
    changes = {
        key: value
        for key, value, current in (
            ("consent_date", course.consent, subject.consent_date),
            ("first_dose_date", course.first_dose, subject.first_dose_date),
            ("death_date", course.death, subject.death_date),
            ("status", course.status, subject.status),
        )
        if value != current
    }
    if changes:
        txn.store.update_subject(usubjid, changes, txn.actor.username, DERIVED, subject.row_version)
    _set_dm(
        txn,
        usubjid,
        {
            "RFICDTC": course.consent,
            "RFSTDTC": course.first_dose,
            "RFXSTDTC": course.first_dose,
            "RFXENDTC": course.last_dose,
            "DTHDTC": course.death,
            "DTHFL": "Y" if course.death else None,
            "RFENDTC": course.end_of_study,
            "RFPENDTC": course.end_of_study,
            **arm_of(study, subject.dose_level),
            **_cohort_of(txn, subject),
        },
    )
    return course


def _cohort_of(txn: Txn, subject: Subject) -> dict[str, str | None]:
    """DM PHASE (the cohort's phase) and COHORT (its number, in phase I) of an enrolled
    subject, as the virtual trial and the report read them."""
    if subject.cohort_id is None:
        return {}
    cohort = txn.session.get(Cohort, subject.cohort_id)
    assert cohort is not None
    return {"PHASE": cohort.phase, "COHORT": str(cohort.number) if cohort.phase == "I" else None}


def arm_of(study: Study, level: str | None) -> dict[str, str | None]:
    """DM ARMCD/ARM/ACTARMCD/ACTARM of a dose level ("L-1" → "LM1", its full name)."""
    if not level:
        return {"ARMCD": None, "ARM": None, "ACTARMCD": None, "ACTARM": None}
    code = level.replace("-", "M")
    name = study.level_name(level)
    return {"ARMCD": code, "ARM": name, "ACTARMCD": code, "ACTARM": name}


def _set_dm(txn: Txn, usubjid: str, wanted: Mapping[str, str | None]) -> None:
    rows = stored_rows(txn, "DM", usubjid)
    if not rows:
        return
    record_id = rows[0][0]
    values, version = stored_values(txn, "DM", record_id)
    changes = {k: v for k, v in wanted.items() if values.get(k) != v}
    if changes:
        txn.store.update_record("DM", record_id, changes, txn.actor.username, DERIVED, version)


def open_cohorts(session: AuditedSession, phase: str | None = None) -> list[tuple[int, str, int]]:
    """Open cohorts with free slots: (number, dose level, free slots), lowest number first."""
    rows = session.execute(
        select(Cohort.number, Cohort.dose_level, Cohort.phase, CohortSlot.id)
        .join(CohortSlot, CohortSlot.cohort_id == Cohort.id)
        .where(
            Cohort.status == "open",
            CohortSlot.usubjid.is_(None),
            CohortSlot.status == "open",
        )
        .order_by(Cohort.number)
    ).all()
    free: dict[tuple[int, str], int] = {}
    for number, level, cohort_phase, _ in rows:
        if phase is None or cohort_phase == phase:
            free[(number, level)] = free.get((number, level), 0) + 1
    return [(number, level, n) for (number, level), n in free.items()]


def enrol_into_slot(txn: Txn, usubjid: str, cohort: int | None) -> tuple[int, int]:
    """Give the subject a free slot of ``cohort`` (or of the first open cohort); (cohort
    number, slot). The dose level is the cohort's (assigned by the system, never typed). The
    open cohorts are locked first, so concurrent enrolments never share a slot."""
    from oncotrial.conduct.cohorts import lock_open_cohorts, mark_full

    lock_open_cohorts(txn)
    choices = open_cohorts(txn.session)
    if not choices:
        raise StateError("no cohort has an open slot: the committee opens the next cohort")
    number = cohort if cohort is not None else choices[0][0]
    slot = txn.store.assign_slot(
        number, usubjid, txn.actor.username, reason=f"enrolled into cohort {number}"
    )
    mark_full(txn, number)
    return number, slot
