"""The state of phase I read from the store: the one adapter between the stored trial and the
escalation designs (issue 9 §1).

For each subject in a phase I cohort it reads, in one database snapshot:

- the dose level assigned by the cohort slot (the cohort's level; never typed) and the level
  the first EX record of the escalated drug(s) corresponds to (shown beside it, a mismatch is
  flagged for the committee);
- the first-dose date (the earliest complete EX start) and the DLT window: days 1 ..
  ``dlt.window_days`` counted from it (day 1 = first dose, as :func:`oncotrial.derive.safety.
  evaluate_dlt` counts), so the window's last day is ``first dose + window_days - 1``;
- the DLTs: AEs whose DLT assessment (``AEDLT``, the investigator's assessment against the
  protocol's definition; when absent, the protocol's own verdict from
  :func:`oncotrial.conduct.assessments.judge_dlt`) is "Y", with onset on a day of the window
  and no later than ``as_of``;
- the follow-up: days since the first dose as of ``as_of`` (the window is complete from day
  ``window_days + 1`` on, i.e. once ``as_of - first dose >= window_days``). A subject whose
  study ended (death, withdrawal, loss to follow-up) inside the window without a DLT is not
  evaluable for DLT and is left out of the design's data (protocol ``dlt.evaluable``).

For a toxicity-and-efficacy design (BOIN12, TITE-BOIN12: Lin et al. 2020, Zhou et al. 2022)
it also reads each subject's response: an objective response (CR or PR, RECIST 1.1) in an
investigator's overall response (RS ``OVRLRESP``) dated on a day of the efficacy window
(``phase1.boin12.efficacy_window_days``, default the DLT window) and no later than ``as_of``.
Without one the response is pending while the window runs, and "no response" once it is over
or the subject's follow-up has ended (a subject evaluable for DLT stays in the design's data).

The design's :class:`~oncotrial.designs.base.TrialState` then holds every dosed, evaluable
subject in cohort order: complete patients, patients with a DLT (with its day) and pending
patients with their follow-up days — TITE designs weight them, the others wait for them
(Yuan et al. 2018, TITE-BOIN §2; Cheung & Chappell 2000, TITE-CRM); for a toxicity-and-
efficacy design an :class:`~oncotrial.designs.efficacy.EfficacyState` holds them with their
responses. BF-BOIN, whose backfill patients need slots of their own, is refused here. The
snapshot's SHA-256 hash is computed from its canonical JSON content, so the committee's decision
names exactly the data it was made on.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from oncotrial.cdisc.dates import date_span
from oncotrial.conduct.assessments import judge_dlt
from oncotrial.conduct.errors import InvalidInputError
from oncotrial.conduct.scope import acting_for
from oncotrial.designs.base import Decision, Patient, TrialState
from oncotrial.designs.efficacy import EfficacyPatient, EfficacyState
from oncotrial.designs.names import EFFICACY_DESIGNS
from oncotrial.designs.registry import DesignSpec, build_design, spec_from_protocol
from oncotrial.protocol.model import Protocol
from oncotrial.protocol.naming import DoseNames
from oncotrial.store import AuditedSession
from oncotrial.store.audit import object_values
from oncotrial.store.models import (
    AdverseEvent,
    Cohort,
    CohortSlot,
    DiseaseResponse,
    Disposition,
    Exposure,
    Subject,
)

#: the statuses of a phase I subject on the board
NOT_DOSED, PENDING, COMPLETE, DLT, NOT_EVALUABLE = (
    "not dosed",
    "pending",
    "complete",
    "DLT",
    "not evaluable",
)
#: subject statuses that end follow-up (the store's ``subjects.status``)
ENDED = frozenset({"died", "withdrawn", "lost_to_follow_up"})
#: a subject's response for a toxicity-and-efficacy design
RESPONDER, NON_RESPONDER, RESPONSE_PENDING = "responder", "no response", "pending"
#: RECIST 1.1 overall responses that are an objective response (Eisenhauer et al. 2009, §4.3)
OBJECTIVE_RESPONSES = frozenset({"CR", "PR"})
#: designs whose data the committee cannot read from the store yet, and why
NOT_CONDUCTED = {
    "bf-boin": "BF-BOIN's backfill patients need cohort slots of their own, which the trial "
    "store does not open yet: conduct the escalation with boin or boin12",
}


class Phase1DesignError(InvalidInputError):
    """A design whose phase I data the store cannot give (named with the reason)."""


@dataclass(frozen=True)
class ResponseStatus:
    """A subject's response as a toxicity-and-efficacy design reads it: ``status`` (responder,
    no response, pending), the day of the first objective response (day 1 = first dose) and
    the days followed inside the efficacy window."""

    status: str
    day: int | None
    days_followed: int


@dataclass(frozen=True)
class DltEvent:
    """One AE counted as a DLT: its term, CTCAE grade, onset day (day 1 = first dose)."""

    aeseq: str | None
    term: str
    grade: str | None
    onset: str
    onset_day: int
    assessed_by: str


@dataclass(frozen=True)
class Phase1Row:
    """One phase I subject as the committee reads it (dates ISO 8601; levels by label)."""

    usubjid: str
    site: str | None
    cohort: int
    slot: int | None
    level: str
    level_index: int
    ex_level: str | None
    first_dose: str | None
    window_end: str | None
    days_followed: int | None
    days_remaining: int | None
    status: str
    dlt: bool | None
    dlts: tuple[DltEvent, ...] = ()
    notes: tuple[str, ...] = ()
    response: ResponseStatus | None = None

    @property
    def first_dlt(self) -> DltEvent | None:
        return min(self.dlts, key=lambda e: e.onset_day) if self.dlts else None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["dlts"] = [asdict(e) for e in self.dlts]
        data["notes"] = list(self.notes)
        if self.response is None:  # a toxicity design: its snapshots' content is unchanged
            del data["response"]
        first = self.first_dlt
        data.update(
            dlt_term=first.term if first else None,
            dlt_grade=first.grade if first else None,
            dlt_onset_day=first.onset_day if first else None,
        )
        return data

    def patient(self) -> Patient | None:
        """The design's view of this subject (``None``: not in the design's data)."""
        if self.status in (NOT_DOSED, NOT_EVALUABLE):
            return None
        first = self.first_dlt
        if first is not None:
            return Patient(self.level_index, True, float(first.onset_day), None)
        if self.status == PENDING:
            return Patient(self.level_index, False, None, float(self.days_followed or 0))
        return Patient(self.level_index, False)

    def efficacy_patient(self) -> EfficacyPatient | None:
        """The toxicity-and-efficacy design's view (``None``: not in its data). Follow-up days
        are given while either outcome is pending (None once both are known)."""
        if self.status in (NOT_DOSED, NOT_EVALUABLE) or self.response is None:
            return None
        waiting = self.status == PENDING or self.response.status == RESPONSE_PENDING
        followed = max(self.days_followed or 0, self.response.days_followed)
        return EfficacyPatient(
            self.level_index,
            self.first_dlt is not None,
            self.response.status == RESPONDER,
            float(followed) if waiting else None,
        )


@dataclass(frozen=True)
class Phase1Snapshot:
    """Phase I as the store holds it on ``as_of``: the rows, the design's state and its hash."""

    as_of: date
    spec: DesignSpec
    rows: tuple[Phase1Row, ...]
    state: TrialState | EfficacyState
    snapshot_hash: str
    level_names: tuple[str, ...] = field(default=())

    @property
    def design(self) -> str:
        return self.spec.name

    @property
    def efficacy(self) -> bool:
        """True for a toxicity-and-efficacy design (responses in the state)."""
        return isinstance(self.state, EfficacyState)

    def decide(self) -> Decision:
        """The design's recommendation on this snapshot."""
        return build_design(self.spec).decide(self.state)  # type: ignore[arg-type]

    def decision_json(self, decision: Decision | None = None) -> dict[str, Any]:
        """The design's answer as ``oncotrial decide --format json`` prints it."""
        decision = decision or self.decide()
        data: dict[str, Any] = {"design": self.spec.name, **decision.to_json()}
        if decision.next_dose is not None and self.level_names:
            data["next_level"] = int(self.level_names[decision.next_dose].removeprefix("L"))
        return data

    def content(self) -> dict[str, Any]:
        """The canonical content the hash is computed from."""
        return _content(self.as_of, self.spec, self.rows)

    def counts(self) -> dict[str, list[int]]:
        """Per dose level (0-based order): evaluable, DLTs, pending, treated (and responses,
        for a toxicity-and-efficacy design: evaluable = both outcomes known, pending = either
        outcome pending)."""
        state = self.state
        if isinstance(state, EfficacyState):
            pending = state.pending_any()
            return {
                "evaluable": (state.treated() - pending).tolist(),
                "dlts": state.dlts().tolist(),
                "responses": state.responses().tolist(),
                "pending": pending.tolist(),
                "treated": state.treated().tolist(),
            }
        n, y = state.evaluable_counts()
        return {
            "evaluable": n.tolist(),
            "dlts": y.tolist(),
            "pending": state.pending_counts().tolist(),
            "treated": state.enrolled_counts().tolist(),
        }

    def patients_csv(self) -> str:
        """The design's patients as the CSV ``oncotrial decide --patients`` reads (``level``
        by protocol label, ``dlt``, ``dlt_day``, ``followup_days`` blank when complete; and
        ``response`` for a toxicity-and-efficacy design)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        header = ["usubjid", "level", "dlt", "dlt_day", "followup_days"]
        writer.writerow(header + (["response"] if self.efficacy else []))
        for row in self.rows:
            p = row.patient()
            if p is None:
                continue
            e = row.efficacy_patient() if self.efficacy else None
            followup = p.followup_days if e is None else e.followup_days  # either outcome's
            line = [
                row.usubjid,
                row.level.removeprefix("L"),
                "yes" if p.dlt else "no",
                "" if p.dlt_day is None else f"{p.dlt_day:g}",
                "" if followup is None else f"{followup:g}",
            ]
            writer.writerow(line + ([] if e is None else ["yes" if e.response else "no"]))
        return out.getvalue()

    def to_json(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "design": self.spec.name,
            "window_days": self.spec.window_days,
            "snapshot_hash": self.snapshot_hash,
            "counts": self.counts(),
            "patients": [row.to_json() for row in self.rows],
        }


def _content(as_of: date, spec: DesignSpec, rows: Iterable[Phase1Row]) -> dict[str, Any]:
    """What the decision rests on: the dosed patients (those not dosed by ``as_of`` change
    nothing, so a later enrolment leaves an earlier snapshot's hash as it was)."""
    return {
        "as_of": as_of.isoformat(),
        "design": spec.name,
        "window_days": spec.window_days,
        "patients": [row.to_json() for row in rows if row.status != NOT_DOSED],
    }


def snapshot_hash(content: Mapping[str, Any]) -> str:
    """SHA-256 of canonical JSON (sorted keys, no spaces, UTF-8): the same data, the same hash."""
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _engine_of(source: Any) -> Engine:
    engine = getattr(source, "engine", source)
    if not isinstance(engine, Engine):
        raise TypeError("phase1_snapshot needs a Study, a Store or an Engine")
    return engine


def phase1_snapshot(
    source: Any,
    protocol: Protocol,
    as_of: date | None = None,
    *,
    design: str | None = None,
    spec: DesignSpec | None = None,
    session: Session | None = None,
) -> Phase1Snapshot:
    """Phase I of ``protocol`` as stored in ``source`` (a :class:`~oncotrial.conduct.Study`, a
    :class:`~oncotrial.store.Store` or an engine) on ``as_of`` (default: today, UTC).

    ``design`` replaces the protocol's design name (same settings), ``spec`` the whole design
    (the command line's overrides); ``session`` reads inside a caller's transaction (a use case)
    instead of a snapshot of its own.
    """
    as_of = as_of or date.today()
    spec = spec or spec_from_protocol(protocol, design)
    if spec.name.lower() in NOT_CONDUCTED:
        raise Phase1DesignError(f"{spec.name}: {NOT_CONDUCTED[spec.name.lower()]}")
    efficacy = spec.name.lower() in EFFICACY_DESIGNS
    if session is not None:
        raw = _read(session, efficacy)
    else:
        engine = _engine_of(source)
        # the committee reads every site (PostgreSQL row-level security: central scope)
        with acting_for("*"), AuditedSession(bind=engine) as own:
            if engine.dialect.name == "postgresql":
                own.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            raw = _read(own, efficacy)
    rows = tuple(_row(protocol, spec, as_of, item) for item in raw)
    state: TrialState | EfficacyState
    if efficacy:
        people = tuple(p for p in (row.efficacy_patient() for row in rows) if p is not None)
        state = EfficacyState(
            spec.n_doses,
            people,
            tox_window_days=spec.window_days,
            eff_window_days=spec.efficacy_window_days,
        )
    else:
        patients = tuple(p for p in (row.patient() for row in rows) if p is not None)
        state = TrialState(n_doses=spec.n_doses, patients=patients, window_days=spec.window_days)
    names = DoseNames.of(protocol)
    return Phase1Snapshot(
        as_of=as_of,
        spec=spec,
        rows=rows,
        state=state,
        snapshot_hash=snapshot_hash(_content(as_of, spec, rows)),
        level_names=tuple(names.all_short()),
    )


@dataclass
class _Stored:
    subject: dict[str, Any]
    cohort: int
    cohort_level: str
    slot: int | None
    ex: list[dict[str, str]] = field(default_factory=list)
    ae: list[dict[str, str]] = field(default_factory=list)
    ds: list[dict[str, str]] = field(default_factory=list)
    rs: list[dict[str, str]] = field(default_factory=list)


def _read(session: Session, responses: bool) -> list[_Stored]:
    """Every subject of a phase I cohort with its EX, AE and DS records, and with
    ``responses`` its RS records (cohort, slot order)."""
    rows = session.execute(
        select(Subject, Cohort.number, Cohort.dose_level, CohortSlot.slot)
        .join(Cohort, Cohort.id == Subject.cohort_id)
        .outerjoin(CohortSlot, CohortSlot.usubjid == Subject.usubjid)
        .where(Cohort.phase == "I")
        .order_by(Cohort.number, CohortSlot.slot, Subject.usubjid)
    ).all()
    stored = {
        s.usubjid: _Stored(
            {
                "usubjid": s.usubjid,
                "site": s.site_code,
                "status": s.status,
                "dose_level": s.dose_level,
                "first_dose_date": s.first_dose_date,
                "death_date": s.death_date,
            },
            number,
            level,
            slot,
        )
        for s, number, level, slot in rows
    }
    if not stored:
        return []
    ids = list(stored)
    domains: list[tuple[Any, str]] = [(Exposure, "ex"), (AdverseEvent, "ae"), (Disposition, "ds")]
    if responses:
        domains.append((DiseaseResponse, "rs"))
    for model, attr in domains:
        records = session.scalars(
            select(model).where(model.usubjid.in_(ids)).order_by(model.id)  # type: ignore[attr-defined]
        ).all()
        for record in records:
            getattr(stored[record.usubjid], attr).append(object_values(record))
    return list(stored.values())


def _complete_day(text: str | None) -> date | None:
    span = date_span(text)
    if span is None or not span.complete:
        return None
    return date.fromisoformat(str(text)[:10])


def ex_level(protocol: Protocol, ex: list[dict[str, str]]) -> str | None:
    """The level whose escalated-drug doses match the subject's first EX record of each
    escalated drug (amount and frequency); ``None`` when no EX or no level matches."""
    firsts: dict[str, dict[str, str]] = {}
    for row in sorted(ex, key=lambda r: r.get("EXSTDTC") or "9999"):
        firsts.setdefault((row.get("EXTRT") or "").upper(), row)
    names = DoseNames.of(protocol)
    escalated = [d.name for d in protocol.escalated_drugs]
    if not all(name.upper() in firsts for name in escalated):
        return None
    for index, level in enumerate(protocol.dose_levels):
        if all(_same_dose(level.doses[name], firsts[name.upper()]) for name in escalated):
            return names.short(index)
    return None


def _same_dose(dose: Any, row: Mapping[str, str]) -> bool:
    try:
        amount = float(row.get("EXDOSE") or "nan")
    except ValueError:
        return False
    frequency = (row.get("EXDOSFRQ") or "").upper()
    return abs(amount - dose.amount) < 1e-9 and (not frequency or frequency == dose.frequency)


def _dlts(
    protocol: Protocol, stored: _Stored, first: date, as_of: date, window: int
) -> tuple[list[DltEvent], list[str]]:
    events: list[DltEvent] = []
    notes: list[str] = []
    for ae in stored.ae:
        start = _complete_day(ae.get("AESTDTC"))
        if start is None:
            if (ae.get("AEDLT") or "").upper() == "Y":
                notes.append(f"AE {ae.get('AESEQ')}: DLT without a complete start date")
            continue
        if start > as_of:
            continue
        flag = (ae.get("AEDLT") or "").upper()
        assessed_by = "investigator"
        if flag not in ("Y", "N"):
            flag = judge_dlt(protocol, ae, first.isoformat(), as_of).flag
            assessed_by = "protocol definition"
        if flag != "Y":
            continue
        day = (start - first).days + 1
        if not 1 <= day <= window:
            notes.append(f"AE {ae.get('AESEQ')}: assessed as DLT but starts on day {day}")
            continue
        events.append(
            DltEvent(
                ae.get("AESEQ"),
                ae.get("AEDECOD") or ae.get("AETERM") or "",
                ae.get("AETOXGR"),
                start.isoformat(),
                day,
                assessed_by,
            )
        )
    return events, notes


def _response(
    stored: _Stored, first: date, as_of: date, window: int, ended: date | None
) -> ResponseStatus:
    """The subject's response in the efficacy window (module docstring)."""
    followed = min((as_of - first).days, window)
    days = []
    for rs in stored.rs:
        if (rs.get("RSTESTCD") or "").upper() != "OVRLRESP":
            continue
        if (rs.get("RSEVAL") or "INVESTIGATOR").upper() != "INVESTIGATOR":
            continue
        when = _complete_day(rs.get("RSDTC"))
        result = (rs.get("RSSTRESC") or rs.get("RSORRES") or "").strip().upper()
        if when is None or when > as_of or result not in OBJECTIVE_RESPONSES:
            continue
        day = (when - first).days + 1
        if 1 <= day <= window:
            days.append(day)
    if days:
        return ResponseStatus(RESPONDER, min(days), followed)
    if followed >= window or (ended is not None and ended <= as_of):
        return ResponseStatus(NON_RESPONDER, None, followed)
    return ResponseStatus(RESPONSE_PENDING, None, followed)


def _end_of_follow_up(stored: _Stored) -> date | None:
    if stored.subject["status"] not in ENDED:
        return None
    dates = [_complete_day(stored.subject.get("death_date"))]
    dates += [
        _complete_day(r.get("DSSTDTC")) for r in stored.ds if r.get("DSSCAT") == "END OF STUDY"
    ]
    known = [d for d in dates if d is not None]
    return min(known) if known else None


def _row(protocol: Protocol, spec: DesignSpec, as_of: date, stored: _Stored) -> Phase1Row:
    names = DoseNames.of(protocol)
    level = stored.subject["dose_level"] or stored.cohort_level
    index = names.parse(level)
    window = int(spec.window_days)
    starts = [_complete_day(r.get("EXSTDTC")) for r in stored.ex]
    dosed = sorted(d for d in starts if d is not None and d <= as_of)
    from_ex = ex_level(protocol, stored.ex)
    notes: list[str] = []
    if from_ex is not None and from_ex != level:
        notes.append(f"EX doses are those of {from_ex}, the slot's level is {level}")
    base = {
        "usubjid": stored.subject["usubjid"],
        "site": stored.subject["site"],
        "cohort": stored.cohort,
        "slot": stored.slot,
        "level": level,
        "level_index": index,
        "ex_level": from_ex,
    }
    if not dosed:
        return Phase1Row(
            **base,
            first_dose=None,
            window_end=None,
            days_followed=None,
            days_remaining=None,
            status=NOT_DOSED,
            dlt=None,
            notes=tuple(notes),
        )
    first = dosed[0]
    window_end = first + timedelta(days=window - 1)
    followed = (as_of - first).days
    events, dlt_notes = _dlts(protocol, stored, first, as_of, window)
    notes += dlt_notes
    ended = _end_of_follow_up(stored)
    if events:
        status, dlt = DLT, True
    elif followed >= window:
        status, dlt = COMPLETE, False
    elif ended is not None and ended <= min(window_end, as_of):
        status, dlt = NOT_EVALUABLE, None
        notes.append(f"follow-up ended on {ended.isoformat()}, inside the DLT window")
    else:
        status, dlt = PENDING, None
    response = None
    if spec.name.lower() in EFFICACY_DESIGNS:
        response = _response(stored, first, as_of, int(spec.efficacy_window_days), ended)
    return Phase1Row(
        **base,
        first_dose=first.isoformat(),
        window_end=window_end.isoformat(),
        days_followed=min(followed, window),
        days_remaining=max(window - followed, 0),
        status=status,
        dlt=dlt,
        dlts=tuple(sorted(events, key=lambda e: e.onset_day)),
        notes=tuple(notes),
        response=response,
    )
