"""What a virtual site enters: the case report forms of a virtual patient's events, as the
values a site user types into them (``oncotrial.conduct.forms``), each with the study day it
is entered on.

The events are the plain data of :mod:`oncotrial.sim.patients` and :mod:`oncotrial.sim.tumour`
(demography, doses, adverse events, scans, ADA samples, end of treatment and of study); the
forms write the SDTM records, through the store's checks, exactly as for a real site. The
investigator reads each scan by RECIST 1.1 with the derive engine
(:func:`oncotrial.derive.recist.evaluate_recist`) and gives that overall response on the form.

A dosing period is entered when it starts and completed (its last dose) when it ends; an
adverse event is entered at its onset, still ongoing, and its end and outcome are added when
it resolves — so on any day the store holds what a site could know that day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from oncotrial.conduct.forms.tumour import BASELINE_VISIT, RESPONSES
from oncotrial.derive.recist import evaluate_recist
from oncotrial.protocol.model import Protocol
from oncotrial.sim.patients import AdaSample, AdverseEvent, Dosing, VirtualPatient
from oncotrial.sim.sdtm_writer import SdtmRecords, iso, write_tumours
from oncotrial.sim.tumour import Lesion, Scan

INVESTIGATOR, COORDINATOR = "investigator", "coordinator"
#: the investigator's causality for a related event (escalated drug, fixed-dose antibody)
RELATED = ("PROBABLY RELATED", "POSSIBLY RELATED")
ONGOING, RESOLVED = "NOT RECOVERED/NOT RESOLVED", "RECOVERED/RESOLVED"
#: the tumour-state words of the scans → the choices of the tumour assessment form
NON_TARGET_STATE = {"UNEQUIVOCAL PROGRESSION": "UNEQUIVOCAL"}
METHOD = "CT SCAN"


@dataclass
class Entry:
    """One form to enter on ``day`` by the site user of role ``by``: a new form, or (with
    ``changes``) a change of the form entered as ``key`` earlier, for ``reason``."""

    day: int
    by: str
    code: str
    values: dict[str, Any]
    key: str | None = None
    changes: str | None = None
    reason: str | None = None


def day_of(value: float) -> int:
    """The whole study day of a generated time (as the SDTM writer rounds it)."""
    return int(round(value))


def screening_values(
    protocol: Protocol, site: str, consent: str, failed: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The screening form: consent and the protocol's criteria (met, apart from ``failed``)."""
    values: dict[str, Any] = {"site": site, "consent_date": consent}
    criteria = protocol.eligibility
    if criteria is not None:
        for c in criteria.inclusion:
            values[f"crit_{c.id}"] = "N" if c.id in failed else "Y"
        for c in criteria.exclusion:
            values[f"crit_{c.id}"] = "Y" if c.id in failed else "N"
    return values


def demographics_values(p: VirtualPatient, start: date) -> dict[str, Any]:
    return {
        "birth_date": str(start.year - p.age),
        "age": str(p.age),
        "sex": p.sex,
        "race": "ASIAN",
        "ethnic": "NOT HISPANIC OR LATINO",
        "etiology": p.etiology,
        "bclc": p.bclc,
        "child_pugh": p.child_pugh,
    }


def investigator_reads(protocol: Protocol, p: VirtualPatient, start: date) -> dict[int, str]:
    """The overall response the investigator gives at each scan (study day → RECIST 1.1
    response), read from the measurements by the derive engine. Each read depends only on the
    scans up to it, so the reads of the whole series hold for any first part of it."""
    if not p.scans:
        return {}
    scratch = SdtmRecords("READ", start)
    write_tumours(scratch, p, p.scans)
    frames = scratch.frames()
    points = evaluate_recist(frames["TU"], frames["TR"], "recist1.1").timepoints
    allowed = {code for code, _ in RESPONSES}
    out = {}
    for _, row in points.iterrows():
        if row["OVRLRESP"] in allowed:
            out[(row["ADT"].date() - start).days] = str(row["OVRLRESP"])
    return out


def _targets(lesions: list[Lesion], scan: Scan | None) -> list[dict[str, Any]]:
    rows = []
    for les in lesions:
        if les.role != "TARGET":
            continue
        size = les.baseline if scan is None else scan.sizes[les.link_id]
        viable = les.viable_baseline if scan is None else scan.viable.get(les.link_id)
        rows.append(
            {
                "link": les.link_id,
                "location": les.location,
                "nodal": "Y" if les.nodal else "N",
                "diameter": f"{size:g}",
                "viable": None if viable is None else f"{viable:g}",
            }
        )
    return rows


def tumour_values(
    p: VirtualPatient, k: int, scan: Scan | None, when: str, response: str | None
) -> dict[str, Any]:
    """The tumour assessment form of the baseline scan (``k`` 0) or of follow-up scan ``k``."""
    where = {les.link_id: les.location for les in p.lesions}
    if scan is None:
        nontargets = [
            {"link": les.link_id, "location": les.location, "state": "PRESENT"}
            for les in p.lesions
            if les.role == "NON-TARGET"
        ]
        new: list[dict[str, Any]] = []
    else:
        nontargets = [
            {"link": link, "location": where[link], "state": NON_TARGET_STATE.get(state, state)}
            for link, state in scan.nontarget.items()
        ]
        new = [
            {"link": les.link_id, "location": les.location, "state": "UNEQUIVOCAL"}
            for les in scan.new_lesions
        ]
    return {
        "visit": BASELINE_VISIT if scan is None else str(100 + k),
        "date": when,
        "method": METHOD,
        "response": response,
        "targets": _targets(p.lesions, scan),
        "nontargets": nontargets,
        "new": new,
    }


def _cycle(day: float, p: VirtualPatient, cycle_days: int) -> str:
    return str(int((day - p.first_dose_day) // cycle_days) + 1)


def dosing_entries(
    protocol: Protocol, p: VirtualPatient, doses: list[Dosing], start: date, enrolled: int
) -> list[Entry]:
    """Each infusion on its day; each oral dosing period at its start and, with its last dose,
    at its end."""
    cycle_days = protocol.schedule.cycle_days or 21
    out: list[Entry] = []
    for i, d in enumerate(doses):
        code = f"EX-{d.drug.name.upper()}"
        cycle = _cycle(d.start, p, cycle_days)
        first = max(day_of(d.start), enrolled)
        if d.frequency == "ONCE":
            values = {"cycle": cycle, "date": iso(start, d.start), "dose": f"{d.dose.amount:g}"}
            out.append(Entry(first, COORDINATOR, code, values))
            continue
        values = {
            "cycle": cycle,
            "start": iso(start, d.start),
            "end": None,
            "dose": f"{d.dose.amount:g}",
            "frequency": d.frequency,
            "adjustment": d.adjustment or None,
        }
        key = f"{code}#{i}"
        out.append(Entry(first, COORDINATOR, code, values, key=key))
        ended = dict(values, end=iso(start, d.end))
        out.append(
            Entry(
                max(day_of(d.end), first),
                COORDINATOR,
                code,
                ended,
                changes=key,
                reason="last dose of the period",
            )
        )
    return out


def adverse_event_entries(
    protocol: Protocol, p: VirtualPatient, events: list[AdverseEvent], start: date, enrolled: int
) -> list[Entry]:
    """Each adverse event entered by the investigator at its onset (ongoing) and, when it
    resolves, changed to give its end and outcome."""
    drugs = protocol.drugs
    out: list[Entry] = []
    for i, e in enumerate(events):
        related = dict(zip([d.name for d in drugs], RELATED, strict=False))
        values: dict[str, Any] = {
            "term": e.term,
            "grade": str(e.grade),
            "start": iso(start, e.onset_day),
            "end": None,
            "serious": "Y" if e.serious else "N",
            "action": e.action,
            "outcome": ONGOING,
            "dlt": "Y" if e.dlt else "N",
        }
        for drug in drugs:
            values[f"rel_{drug.name}"] = related.get(drug.name) if e.related else "NOT RELATED"
        key = f"AE#{i}"
        onset = max(day_of(e.onset_day), enrolled)
        out.append(Entry(onset, INVESTIGATOR, "AE", values, key=key))
        if not e.ongoing:
            resolved = dict(values, end=iso(start, e.end_day), outcome=RESOLVED)
            out.append(
                Entry(
                    max(day_of(e.end_day), onset),
                    INVESTIGATOR,
                    "AE",
                    resolved,
                    changes=key,
                    reason="event resolved",
                )
            )
    return out


def tumour_entries(
    p: VirtualPatient, reads: dict[int, str], start: date, enrolled: int
) -> list[Entry]:
    """The baseline assessment (entered at enrolment) and every follow-up scan on its day,
    with the investigator's overall response."""
    baseline = iso(start, max(p.consent_day, p.first_dose_day - 7))
    out = [Entry(enrolled, INVESTIGATOR, "TA", tumour_values(p, 0, None, baseline, None))]
    for k, scan in enumerate(p.scans, start=1):
        day = day_of(scan.day)
        values = tumour_values(p, k, scan, iso(start, scan.day), reads.get(day))
        out.append(Entry(max(day, enrolled), INVESTIGATOR, "TA", values))
    return out


def ada_entries(samples: list[AdaSample], start: date, enrolled: int) -> list[Entry]:
    out = []
    for s in samples:
        positive = s.titre is not None
        values = {
            "cycle": str(s.cycle),
            "date": iso(start, s.day),
            "binding": "POSITIVE" if positive else "NEGATIVE",
            "titre": f"{s.titre:g}" if positive else None,
            "neutralising": (
                None if not positive else ("POSITIVE" if s.neutralising else "NEGATIVE")
            ),
        }
        out.append(Entry(max(day_of(s.day), enrolled), COORDINATOR, "ADA", values))
    return out


def disposition_entries(p: VirtualPatient, start: date) -> list[Entry]:
    """End of treatment (when it ended before the follow-up did) and end of study."""
    out = []
    if p.end_reason and p.end_reason != "ONGOING" and p.end_of_treatment_day is not None:
        day = day_of(p.end_of_treatment_day)
        values = {"date": iso(start, day), "reason": p.end_reason}
        out.append(Entry(day, INVESTIGATOR, "EOT", values))
    end = p.death_day if p.death_day is not None else p.last_contact_day
    values = {"date": iso(start, end), "reason": p.study_end_reason}
    out.append(Entry(day_of(end), INVESTIGATOR, "EOS", values))
    return out


def first_progression_day(reads: dict[int, str]) -> float | None:
    """The day of the first scan read as progressive disease (None without one)."""
    days = [day for day, response in reads.items() if response == "PD"]
    return float(min(days)) if days else None
