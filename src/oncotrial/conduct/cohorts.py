"""Cohorts and their slots, as sites and the committee use them (issue 9 §2).

- The system opens cohorts: the first at the protocol's starting level when the study starts
  (:func:`open_first_cohort`), each next one at the dose of the committee's latest final
  decision (:func:`open_cohort`, called by :mod:`oncotrial.conduct.committee`). Nobody types a
  dose level: a subject takes its cohort's.
- A site reserves a slot for a screened, eligible subject before dosing
  (:func:`reserve_slot`: the enrolment form, so the same checks and audit trail apply as on the
  form page). Reservations are safe under concurrency: every write transaction of the store
  first locks the audit chain's head (PostgreSQL ``SELECT … FOR UPDATE``; SQLite: one writer),
  and the open cohorts' rows are locked ``FOR UPDATE`` before a free slot is chosen
  (:func:`lock_open_cohorts`), so two reservations never see the same free slot, whichever
  server process serves them. A cohort whose last slot is taken becomes ``full``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select

from oncotrial.conduct.roles import Action, Actor, require
from oncotrial.conduct.study import Study, Txn
from oncotrial.store.models import Cohort, CohortSlot, EscalationDecision, Subject

#: why the system changes a cohort (the audit trail's reason)
FILLED = "every slot of the cohort is filled"


@dataclass(frozen=True)
class SlotInfo:
    """One slot: its number, state and (when the actor may see it) the subject holding it."""

    slot: int
    status: str
    usubjid: str | None
    site: str | None


@dataclass(frozen=True)
class CohortInfo:
    """A cohort as the cohorts page shows it."""

    number: int
    phase: str
    level: str
    level_name: str
    status: str
    slots: tuple[SlotInfo, ...]
    opened_by_decision: int | None

    @property
    def free(self) -> int:
        return sum(1 for s in self.slots if s.usubjid is None and s.status == "open")

    @property
    def reservable(self) -> bool:
        return self.status == "open" and self.free > 0


@dataclass(frozen=True)
class Reservation:
    """A reserved slot: the subject, cohort, slot and the dose level the system assigned."""

    usubjid: str
    cohort: int
    slot: int
    level: str
    level_name: str
    entry_id: int


def cohorts(study: Study, actor: Actor, phase: str | None = None) -> list[CohortInfo]:
    """Every cohort (of ``phase``), newest first, with its slots; subjects of sites the actor
    does not work at are shown as a filled slot without the subject's id."""
    require(actor, Action.view_phase1)
    with study.reading(study.system_actor()) as (_, session):
        query = select(Cohort).order_by(Cohort.number.desc())
        if phase is not None:
            query = query.where(Cohort.phase == phase)
        rows = session.scalars(query).all()
        slots = session.execute(
            select(CohortSlot, Subject.site_code)
            .outerjoin(Subject, Subject.usubjid == CohortSlot.usubjid)
            .order_by(CohortSlot.cohort_id, CohortSlot.slot)
        ).all()
        opened = dict(
            session.execute(
                select(EscalationDecision.next_cohort_id, EscalationDecision.id).where(
                    EscalationDecision.next_cohort_id.is_not(None)
                )
            ).all()
        )
    by_cohort: dict[int, list[SlotInfo]] = {}
    for slot, site in slots:
        visible = slot.usubjid is not None and actor.sees_site(site)
        by_cohort.setdefault(slot.cohort_id, []).append(
            SlotInfo(
                slot.slot,
                slot.status,
                slot.usubjid if visible else None if slot.usubjid is None else "(another site)",
                site if visible else None,
            )
        )
    return [
        CohortInfo(
            c.number,
            c.phase,
            c.dose_level,
            study.level_name(c.dose_level),
            c.status,
            tuple(by_cohort.get(c.id, [])),
            opened.get(c.id),
        )
        for c in rows
    ]


def lock_open_cohorts(txn: Txn) -> list[Cohort]:
    """The open cohorts, locked for the rest of the transaction (PostgreSQL ``FOR UPDATE``;
    SQLite already holds the one writer's lock)."""
    return list(
        txn.session.scalars(
            select(Cohort).where(Cohort.status == "open").order_by(Cohort.number).with_for_update()
        ).all()
    )


def mark_full(txn: Txn, number: int) -> None:
    """Mark cohort ``number`` full when it has no free slot left."""
    cohort = txn.session.scalar(select(Cohort).where(Cohort.number == number))
    if cohort is None or cohort.status != "open":
        return
    free = txn.session.scalar(
        select(func.count(CohortSlot.id)).where(
            CohortSlot.cohort_id == cohort.id,
            CohortSlot.usubjid.is_(None),
            CohortSlot.status == "open",
        )
    )
    if not free:
        txn.store.set_cohort_status(number, "full", txn.actor.username, FILLED)


def open_cohort(txn: Txn, level: str, phase: str, slots: int, reason: str) -> Cohort:
    """Open the next cohort (number = highest + 1) at ``level`` with ``slots`` slots; earlier
    open cohorts of the phase are closed (their free slots are no longer offered)."""
    for earlier in txn.session.scalars(
        select(Cohort).where(
            Cohort.phase == phase, Cohort.status.in_(("open", "full", "suspended"))
        )
    ).all():
        txn.store.set_cohort_status(earlier.number, "closed", txn.actor.username, reason)
    number = (txn.session.scalar(select(func.max(Cohort.number))) or 0) + 1
    txn.store.add_cohort(number, level, txn.actor.username, slots=slots, phase=phase)
    cohort = txn.session.scalar(select(Cohort).where(Cohort.number == number))
    assert cohort is not None
    return cohort


def open_first_cohort(study: Study, actor: Actor) -> CohortInfo:
    """Open cohort 1 at the protocol's starting level (phase I), once, when the study starts."""
    require(actor, Action.propose_decision)
    protocol = study.protocol
    level = study.dose_names.short(protocol.start_index)
    with study.transaction(actor, "first cohort opened at the protocol's starting dose") as txn:
        if txn.session.scalar(select(func.count(Cohort.id))):
            from oncotrial.conduct.errors import StateError

            raise StateError("the study has cohorts already: the committee opens the next one")
        open_cohort(txn, level, "I", protocol.phase1.cohort_size, "study start")
    return cohorts(study, actor)[0]


def reserve_slot(
    study: Study,
    actor: Actor,
    usubjid: str,
    *,
    cohort: int | None = None,
    on: date | None = None,
) -> Reservation:
    """Reserve a slot of an open cohort (``cohort`` or the first with a free slot) for a
    screened subject, before its first dose: the enrolment form, dated ``on`` (default today).
    The dose level is the cohort's. Refused when no slot is free (:class:`StateError`) or the
    subject was not eligible at screening."""
    from oncotrial.conduct.entry import save_form

    values = {"enrol_date": (on or date.today()).isoformat()}
    if cohort is not None:
        values["cohort"] = str(cohort)
    saved = save_form(study, actor, usubjid, "ENROL", values)
    with study.reading(actor) as (_, session):
        number, slot, level = session.execute(
            select(Cohort.number, CohortSlot.slot, Cohort.dose_level)
            .join(CohortSlot, CohortSlot.cohort_id == Cohort.id)
            .where(CohortSlot.usubjid == usubjid)
        ).one()
    return Reservation(usubjid, number, slot, level, study.level_name(level), saved.entry_id)
