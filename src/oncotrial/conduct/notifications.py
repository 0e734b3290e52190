"""The notifications a site and the committee expect, computed from the store (issue 9 §2):
nothing is kept besides the data, so the feed is the same from every server process and is
never out of step with the records.

- ``slot_open``: an open cohort has free slots (when it opened: its insert in the audit trail);
- ``window_complete``: a phase I patient's DLT window is over (the day after its last day);
- ``dlt_reported``: an AE counted as a DLT (when it was entered);
- ``decision_signed``: a committee decision became final (what the system did with it);
- ``sae_reported``: a serious AE (``AESER`` = "Y") with its 24-hour clock — sites report an SAE
  to the sponsor within 24 hours of learning of it (ICH E6(R3) §2.7.3 / 21 CFR 312.64(b)); the
  clock runs from the AE's start (the earliest the site can have known; 00:00 UTC of the day
  when no time is recorded) to its entry in the store.

Site staff see only their sites' patients; central roles see every site.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from oncotrial.conduct.committee import FINAL, decision_list
from oncotrial.conduct.phase1 import COMPLETE, DLT, phase1_snapshot
from oncotrial.conduct.roles import Action, Actor, require
from oncotrial.conduct.study import Study
from oncotrial.store.audit import object_values
from oncotrial.store.models import AdverseEvent, AuditLog, Cohort, CohortSlot, Subject

#: the SAE reporting clock
SAE_HOURS = 24


@dataclass(frozen=True)
class Notification:
    """One notification: its kind, when it happened (UTC), the site and subject it concerns."""

    kind: str
    at: datetime
    text: str
    site: str | None = None
    usubjid: str | None = None
    link: str | None = None
    clock: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["at"] = self.at.isoformat()
        return data


def _day(text: str) -> datetime:
    return datetime.combine(date.fromisoformat(text[:10]), datetime.min.time(), UTC)


def _moment(text: str | None) -> datetime | None:
    """An ISO 8601 date or date-time as UTC (a date is its 00:00)."""
    if not text or len(text) < 10:
        return None
    try:
        if len(text) > 10:
            moment = datetime.fromisoformat(text)
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return _day(text)
    except ValueError:
        return None


def sae_clock(onset: str | None, entered: datetime, now: datetime) -> dict[str, Any]:
    """The 24-hour clock of an SAE: from its start to its entry (hours), due by, on time."""
    start = _moment(onset)
    if start is None:
        return {"onset": onset, "entered": entered.isoformat(), "hours": None, "on_time": None}
    due = start + timedelta(hours=SAE_HOURS)
    hours = (entered - start).total_seconds() / 3600
    return {
        "onset": onset,
        "due": due.isoformat(),
        "entered": entered.isoformat(),
        "hours": round(hours, 1),
        "on_time": entered <= due,
        "hours_left_at_entry": round((due - entered).total_seconds() / 3600, 1),
        "overdue_now": now > due and entered > due,
    }


def notifications(
    study: Study, actor: Actor, as_of: date | None = None, *, now: datetime | None = None
) -> list[Notification]:
    """Every notification the actor may see, newest first, for the study as of ``as_of``."""
    require(actor, Action.view_notifications)
    as_of = as_of or date.today()
    now = now or datetime.now(UTC)
    out: list[Notification] = []
    with study.reading(study.system_actor()) as (_, session):
        inserted = {
            (table, record): at
            for table, record, at in session.execute(
                select(AuditLog.table_name, AuditLog.record_id, AuditLog.changed_at).where(
                    AuditLog.action == "INSERT",
                    AuditLog.table_name.in_(("cohorts", "sdtm_ae")),
                )
            ).all()
        }
        for cohort in session.scalars(select(Cohort).where(Cohort.status == "open")).all():
            free = session.scalars(
                select(CohortSlot.slot).where(
                    CohortSlot.cohort_id == cohort.id,
                    CohortSlot.usubjid.is_(None),
                    CohortSlot.status == "open",
                )
            ).all()
            if free:
                at = _moment(inserted.get(("cohorts", str(cohort.id)))) or now
                out.append(
                    Notification(
                        "slot_open",
                        at,
                        f"Cohort {cohort.number} ({study.level_name(cohort.dose_level)}, phase "
                        f"{cohort.phase}): {len(free)} slot(s) open for reservation",
                        link="/cohorts",
                    )
                )
        sites = dict(session.execute(select(Subject.usubjid, Subject.site_code)).all())
        for ae in session.scalars(select(AdverseEvent).where(AdverseEvent.aeser == "Y")).all():
            if not actor.sees_site(sites.get(ae.usubjid)):
                continue
            values = object_values(ae)
            term = values.get("AEDECOD") or values.get("AETERM")
            entered = _moment(inserted.get(("sdtm_ae", str(ae.id)))) or now
            clock = sae_clock(values.get("AESTDTC"), entered, now)
            late = "" if clock.get("on_time") is not False else " — LATE"
            hours = "" if clock["hours"] is None else f", entered {clock['hours']:g} h after onset"
            out.append(
                Notification(
                    "sae_reported",
                    entered,
                    f"SAE reported for {ae.usubjid}: {term}"
                    f" grade {values.get('AETOXGR') or '?'}, onset {values.get('AESTDTC')}"
                    f"{hours} (24-hour clock){late}",
                    sites.get(ae.usubjid),
                    ae.usubjid,
                    f"/subjects/{ae.usubjid}",
                    clock,
                )
            )
        ae_ids = {(a.usubjid, a.aeseq): a.id for a in session.scalars(select(AdverseEvent)).all()}
    snapshot = phase1_snapshot(study, study.protocol, as_of)
    for row in snapshot.rows:
        if not actor.sees_site(row.site) or row.window_end is None:
            continue
        if row.status in (COMPLETE, DLT) and date.fromisoformat(row.window_end) < as_of:
            out.append(
                Notification(
                    "window_complete",
                    _day(row.window_end) + timedelta(days=1),
                    f"DLT window of {row.usubjid} ({row.level}) complete: days 1–"
                    f"{int(snapshot.spec.window_days)} ended {row.window_end}"
                    f"{' with a DLT' if row.dlt else ', no DLT'}",
                    row.site,
                    row.usubjid,
                    "/board",
                )
            )
        for event in row.dlts:
            record = ae_ids.get((row.usubjid, event.aeseq))
            at = _moment(inserted.get(("sdtm_ae", str(record)))) or _day(event.onset)
            out.append(
                Notification(
                    "dlt_reported",
                    at,
                    f"DLT reported for {row.usubjid} ({row.level}): {event.term} grade "
                    f"{event.grade or '?'}, onset day {event.onset_day}",
                    row.site,
                    row.usubjid,
                    "/board",
                )
            )
    for d in decision_list(study, actor):
        if d.status != FINAL or d.confirmed_at is None:
            continue
        if d.action == "dose":
            what = f"next cohort {d.next_cohort or ''} at {d.chosen_name}".replace("  ", " ")
        else:
            what = {"pause": "accrual paused", "stop": "phase stopped"}.get(d.action or "", "")
        out.append(
            Notification(
                "decision_signed",
                d.confirmed_at,
                f"Committee decision #{d.id} (phase {d.phase}) signed: {what}",
                link=f"/meeting/{d.id}",
            )
        )
    return sorted(out, key=lambda n: n.at, reverse=True)
