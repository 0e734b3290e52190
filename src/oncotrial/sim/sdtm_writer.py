"""Virtual patients written as SDTM-shaped records (text values, one row per record): DM and DS
(demography, disposition), AE (CTCAE grades), EX (exposure), TU/TR (lesions identified at
screening and measured at every scan: longest diameter, short axis of nodes, viable diameter of
intrahepatic HCC targets, states of non-target and new lesions), IS (anti-drug antibodies).

Conventions follow the pharmaverse SDTM (``tu_onco_recist``/``tr_onco_recist``, ``is_ada``) so
the derivations read the virtual trial exactly as they read a sponsor's data.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pandas as pd

from oncotrial.conduct.forms.tumour import VIABLE_TEST
from oncotrial.protocol.model import Protocol
from oncotrial.sim.patients import AdaSample, AdverseEvent, Dosing, VirtualPatient
from oncotrial.sim.tumour import Lesion, Scan

TUMOUR_STATE = ("TUMSTATE", "Tumor State")


def iso(start: date, day: float) -> str:
    """The calendar date of study day ``day`` (days since ``start``), ISO 8601."""
    return (start + timedelta(days=int(round(day)))).isoformat()


class SdtmRecords:
    """Accumulates SDTM rows per domain (text values) with per-subject sequence numbers."""

    def __init__(self, study_id: str, start: date) -> None:
        self.study_id = study_id
        self.start = start
        self.rows: dict[str, list[dict[str, str]]] = {}
        self.seq: dict[tuple[str, str], int] = {}

    def add(self, domain: str, usubjid: str, **values: Any) -> None:
        key = (domain, usubjid)
        self.seq[key] = self.seq.get(key, 0) + 1
        row = {"STUDYID": self.study_id, "DOMAIN": domain, "USUBJID": usubjid}
        if domain != "DM":
            row[f"{domain}SEQ"] = str(self.seq[key])
        row.update({k: "" if v is None else str(v) for k, v in values.items()})
        self.rows.setdefault(domain, []).append(row)

    def date(self, day: float) -> str:
        return iso(self.start, day)

    def frames(self) -> dict[str, pd.DataFrame]:
        """Every domain as a frame of text columns."""
        return {
            domain: pd.DataFrame(rows).fillna("").astype(str) for domain, rows in self.rows.items()
        }


def _cycle_visit(day_from_first_dose: float, cycle_days: int) -> tuple[str, str]:
    cycle = int(day_from_first_dose // cycle_days) + 1
    return str(cycle * 100 + 1), f"CYCLE {cycle} DAY 1"


def write_demography(out: SdtmRecords, protocol: Protocol, patient: VirtualPatient) -> None:
    """DM (with the HCC baseline characteristics ETIOLOGY, BCLC, CPCLASS) and DS: consent,
    enrolment, end of treatment (when it ended) and end of study."""
    labels = protocol.level_labels
    arm = f"LEVEL {labels[patient.dose_index]}"
    escalated = protocol.escalated_drugs[0].name
    dose = protocol.dose_levels[patient.dose_index].doses[escalated]
    armlabel = f"{escalated} {dose} + toripalimab 240 mg Q3W"
    code = f"L{labels[patient.dose_index]}".replace("-", "M")
    death = "" if patient.death_day is None else out.date(patient.death_day)
    out.add(
        "DM",
        patient.usubjid,
        SUBJID=patient.usubjid.split("-")[1],
        RFSTDTC=out.date(patient.first_dose_day),
        RFENDTC=out.date(patient.last_contact_day),
        RFXSTDTC=out.date(patient.first_dose_day),
        RFXENDTC=out.date(patient.end_of_treatment_day or patient.first_dose_day),
        RFICDTC=out.date(patient.consent_day),
        RFPENDTC=out.date(patient.last_contact_day),
        DTHDTC=death,
        DTHFL="Y" if death else "",
        SITEID=patient.site,
        BRTHDTC=str(out.start.year - patient.age),
        AGE=patient.age,
        AGEU="YEARS",
        SEX=patient.sex,
        RACE="ASIAN",
        ETHNIC="NOT HISPANIC OR LATINO",
        ARMCD=code,
        ARM=f"{arm}: {armlabel}",
        ACTARMCD=code,
        ACTARM=f"{arm}: {armlabel}",
        COUNTRY="CHN",
        PHASE=patient.phase,
        COHORT="" if patient.cohort is None else patient.cohort,
        ETIOLOGY=patient.etiology,
        BCLC=patient.bclc,
        CPCLASS=patient.child_pugh,
    )
    milestones = (
        ("INFORMED CONSENT OBTAINED", patient.consent_day),
        ("ENROLLED", patient.first_dose_day),
    )
    for term, day in milestones:
        out.add(
            "DS",
            patient.usubjid,
            DSTERM=term,
            DSDECOD=term,
            DSCAT="PROTOCOL MILESTONE",
            DSSTDTC=out.date(day),
        )
    if patient.end_reason and patient.end_reason != "ONGOING":
        out.add(
            "DS",
            patient.usubjid,
            DSTERM=patient.end_reason,
            DSDECOD=patient.end_reason,
            DSCAT="DISPOSITION EVENT",
            DSSCAT="END OF TREATMENT",
            EPOCH="TREATMENT",
            DSSTDTC=out.date(patient.end_of_treatment_day or 0),
        )
    end_day = patient.death_day if patient.death_day is not None else patient.last_contact_day
    out.add(
        "DS",
        patient.usubjid,
        DSTERM=patient.study_end_reason,
        DSDECOD=patient.study_end_reason,
        DSCAT="DISPOSITION EVENT",
        DSSCAT="END OF STUDY",
        EPOCH="FOLLOW-UP",
        DSSTDTC=out.date(end_day),
    )


def write_adverse_events(
    out: SdtmRecords, patient: VirtualPatient, events: list[AdverseEvent]
) -> None:
    """AE records (``AETOXGR`` CTCAE grade, ``AEDLT`` the investigator's DLT flag)."""
    for e in events:
        out.add(
            "AE",
            patient.usubjid,
            AETERM=e.term.upper(),
            AEDECOD=e.term,
            AEBODSYS=e.soc,
            AESOC=e.soc,
            AETOXGR=e.grade,
            AESEV={1: "MILD", 2: "MODERATE"}.get(e.grade, "SEVERE"),
            AESER="Y" if e.serious else "N",
            AEREL="RELATED" if e.related else "NOT RELATED",
            AEACN=e.action,
            AEOUT="NOT RECOVERED/NOT RESOLVED" if e.ongoing else "RECOVERED/RESOLVED",
            AESTDTC=out.date(e.onset_day),
            AEENDTC="" if e.ongoing else out.date(e.end_day),
            AESTDY=int(round(e.onset_day - patient.first_dose_day)) + 1,
            AEDLT="Y" if e.dlt else "N",
        )


def write_exposure(
    out: SdtmRecords, protocol: Protocol, patient: VirtualPatient, doses: list[Dosing]
) -> None:
    """EX records: one per dosing period of the oral drug, one per infusion."""
    cycle_days = protocol.schedule.cycle_days or 21
    for d in doses:
        visit = _cycle_visit(d.start - patient.first_dose_day, cycle_days)
        out.add(
            "EX",
            patient.usubjid,
            EXTRT=d.drug.name.upper(),
            EXDOSE=f"{d.dose.amount:g}",
            EXDOSU=d.dose.unit,
            EXDOSFRM=d.drug.form.upper(),
            EXDOSFRQ=d.frequency,
            EXROUTE=d.drug.route.upper(),
            VISITNUM=visit[0],
            VISIT=visit[1],
            EXSTDTC=out.date(d.start),
            EXENDTC=out.date(d.end),
            EXADJ=d.adjustment,
        )


def _diameter_test(lesion: Lesion) -> tuple[str, str]:
    """Nodes are measured by their short axis, other lesions by the longest diameter
    (RECIST 1.1 section 3.2)."""
    return ("SAXIS", "Short Axis") if lesion.nodal else ("LDIAM", "Longest Diameter")


def _identify(
    out: SdtmRecords, usubjid: str, lesion: Lesion, visit: tuple[str, str], when: str
) -> None:
    """One TU record (TUMIDENT) of ``lesion`` as its role (TARGET / NON-TARGET / NEW)."""
    out.add(
        "TU",
        usubjid,
        TULNKID=lesion.link_id,
        TUTESTCD="TUMIDENT",
        TUTEST="Tumor Identification",
        TUORRES=lesion.role,
        TUSTRESC=lesion.role,
        TULOC=lesion.location,
        TUMETHOD="CT SCAN",
        TUEVAL="INVESTIGATOR",
        VISITNUM=visit[0],
        VISIT=visit[1],
        TUDTC=when,
    )


def _result(
    out: SdtmRecords,
    usubjid: str,
    group: str,
    link: str,
    test: tuple[str, str],
    result: str,
    visit: tuple[str, str],
    when: str,
) -> None:
    """One TR record: a diameter in mm or a tumour state (TUMSTATE)."""
    measured = test[0] != TUMOUR_STATE[0]
    out.add(
        "TR",
        usubjid,
        TRGRPID=group,
        TRLNKID=link,
        TRTESTCD=test[0],
        TRTEST=test[1],
        TRORRES=result,
        TRORRESU="mm" if measured else "",
        TRSTRESC=result,
        TRSTRESN=result if measured else "",
        TRSTRESU="mm" if measured else "",
        TREVAL="INVESTIGATOR",
        VISITNUM=visit[0],
        VISIT=visit[1],
        TRDTC=when,
    )


def write_tumours(out: SdtmRecords, patient: VirtualPatient, scans: list[Scan]) -> None:
    """TU identification at screening (and at a new lesion's first scan) and TR results of the
    screening scan and of ``scans``."""
    subject = patient.usubjid
    screening = ("1", "SCREENING")
    when = out.date(max(patient.consent_day, patient.first_dose_day - 7))
    for les in patient.lesions:
        _identify(out, subject, les, screening, when)
        if les.role == "TARGET":
            size = f"{les.baseline:g}"
            _result(out, subject, "TARGET", les.link_id, _diameter_test(les), size, screening, when)
            if les.viable_baseline is not None:
                viable = f"{les.viable_baseline:g}"
                _result(out, subject, "TARGET", les.link_id, VIABLE_TEST, viable, screening, when)
        else:
            _result(
                out, subject, "NON-TARGET", les.link_id, TUMOUR_STATE, "PRESENT", screening, when
            )
    by_link = {les.link_id: les for les in patient.lesions}
    identified: set[str] = set()
    for k, scan in enumerate(scans, start=1):
        visit = (str(100 + k), f"TUMOUR ASSESSMENT {k}")
        when = out.date(scan.day)
        for link, size in scan.sizes.items():
            test = _diameter_test(by_link[link])
            _result(out, subject, "TARGET", link, test, f"{size:g}", visit, when)
            if link in scan.viable:
                viable = f"{scan.viable[link]:g}"
                _result(out, subject, "TARGET", link, VIABLE_TEST, viable, visit, when)
        for link, state in scan.nontarget.items():
            _result(out, subject, "NON-TARGET", link, TUMOUR_STATE, state, visit, when)
        for les in scan.new_lesions:
            if les.link_id not in identified:
                _identify(out, subject, les, visit, when)
                identified.add(les.link_id)
            _result(out, subject, "NEW", les.link_id, TUMOUR_STATE, "UNEQUIVOCAL", visit, when)


def write_ada(
    out: SdtmRecords, protocol: Protocol, patient: VirtualPatient, samples: list[AdaSample]
) -> None:
    """IS records of binding (ADA_BAB, titre or NEGATIVE) and, for positive samples,
    neutralising (ADA_NAB) antibodies against the fixed-dose antibody (toripalimab, JS001)."""
    agent = next((d.code or d.name for d in protocol.drugs if d.role == "fixed"), "ANTIBODY")
    for s in samples:
        positive = s.titre is not None
        result = f"{s.titre:g}" if positive else "NEGATIVE"
        common = dict(
            ISCAT="IMMUNOGENICITY",
            ISBDAGNT=agent,
            ISSPEC="SERUM",
            ISBLFL="Y" if s.cycle == 1 else "",
            VISITNUM=str(s.cycle * 100 + 1),
            VISIT=f"CYCLE {s.cycle} DAY 1",
            ISDTC=out.date(s.day),
            ISTPT="PRE-DOSE",
        )
        out.add(
            "IS",
            patient.usubjid,
            ISTESTCD="ADA_BAB",
            ISTEST="Binding Antidrug Antibody",
            ISORRES=result,
            ISORRESU="titer" if positive else "",
            ISSTRESC=result,
            ISSTRESN=result if positive else "",
            ISSTRESU="titer" if positive else "",
            **common,
        )
        if positive:
            neutral = "POSITIVE" if s.neutralising else "NEGATIVE"
            out.add(
                "IS",
                patient.usubjid,
                ISTESTCD="ADA_NAB",
                ISTEST="Neutralizing Binding Antidrug Antibody",
                ISORRES=neutral,
                ISORRESU="",
                ISSTRESC=neutral,
                ISSTRESN="",
                ISSTRESU="",
                **common,
            )
