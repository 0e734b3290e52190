"""Stored phase I data for the tests of the live phase I (snapshot, decide --db, committee):
cohorts at given levels, subjects with a first dose (EX) and optionally a DLT (AE), written
through the store's API (its edit checks and audit trail apply)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd

from oncotrial.store import Store

STUDYID = "TORI-DONA-HCC"
START = date(2025, 1, 6)
#: donafenib's dose at each level label (protocols/toripalimab-donafenib-hcc.yaml)
DONAFENIB = {"L-1": ("100", "QD"), "L1": ("100", "BID"), "L2": ("200", "BID"), "L3": ("300", "BID")}


@dataclass(frozen=True)
class StoredPatient:
    """One subject: days from START to the first dose (None: not dosed), DLT onset day (day 1 =
    first dose; None: no DLT), whether the DLT is the investigator's AEDLT "Y" (else the AE is
    stored without AEDLT and the protocol's definition judges it), and the day of an
    investigator's overall response PR (RS OVRLRESP; None: none recorded)."""

    first_dose_day: int | None
    dlt_day: int | None = None
    investigator_flag: bool = True
    response_day: int | None = None


def store_phase1(
    store: Store, cohorts: list[tuple[str, list[StoredPatient]]], user: str = "test"
) -> list[list[str]]:
    """Write the cohorts (level, patients) as cohorts 1.. with their subjects; the USUBJIDs."""
    ids: list[list[str]] = []
    ex_rows, ae_rows, rs_rows = [], [], []
    with store.transaction(user):
        for number, (level, patients) in enumerate(cohorts, start=1):
            store.add_cohort(number, level, user, slots=max(len(patients), 1))
            members = []
            for k, p in enumerate(patients, start=1):
                usubjid = f"{STUDYID}-01-{number:02d}{k:02d}"
                first = None if p.first_dose_day is None else START + timedelta(p.first_dose_day)
                store.add_subject(
                    usubjid,
                    "01",
                    user,
                    consent_date=(START - timedelta(days=7)).isoformat(),
                    first_dose_date=None if first is None else first.isoformat(),
                    status="enrolled" if first is None else "on_treatment",
                )
                store.assign_slot(number, usubjid, user)
                members.append(usubjid)
                if first is None:
                    continue
                amount, frequency = DONAFENIB[level]
                ex_rows.append(
                    {
                        "STUDYID": STUDYID,
                        "DOMAIN": "EX",
                        "USUBJID": usubjid,
                        "EXSEQ": "1",
                        "EXTRT": "DONAFENIB",
                        "EXDOSE": amount,
                        "EXDOSU": "mg",
                        "EXDOSFRQ": frequency,
                        "EXSTDTC": first.isoformat(),
                        "EXENDTC": first.isoformat(),
                    }
                )
                if p.dlt_day is not None:
                    onset = first + timedelta(days=p.dlt_day - 1)
                    ae_rows.append(
                        {
                            "STUDYID": STUDYID,
                            "DOMAIN": "AE",
                            "USUBJID": usubjid,
                            "AESEQ": "1",
                            "AETERM": "Platelet count decreased",
                            "AEDECOD": "Platelet count decreased",
                            "AEBODSYS": "Investigations",
                            "AETOXGR": "4",
                            "AESTDTC": onset.isoformat(),
                            "AEENDTC": (onset + timedelta(days=10)).isoformat(),
                            "AEREL": "RELATED",
                            "AEDLT": "Y" if p.investigator_flag else "",
                        }
                    )
                if p.response_day is not None:
                    rs_rows.append(
                        {
                            "STUDYID": STUDYID,
                            "DOMAIN": "RS",
                            "USUBJID": usubjid,
                            "RSSEQ": "1",
                            "RSTESTCD": "OVRLRESP",
                            "RSTEST": "Overall Response",
                            "RSCAT": "RECIST 1.1",
                            "RSORRES": "PR",
                            "RSSTRESC": "PR",
                            "RSEVAL": "INVESTIGATOR",
                            "VISITNUM": "2",
                            "RSDTC": (first + timedelta(days=p.response_day - 1)).isoformat(),
                        }
                    )
            ids.append(members)
        if ex_rows:
            store.add_records("EX", pd.DataFrame(ex_rows), user)
        if ae_rows:
            store.add_records("AE", pd.DataFrame(ae_rows), user)
        if rs_rows:
            store.add_records("RS", pd.DataFrame(rs_rows), user)
    return ids


def study_without_cohorts(url: str):  # -> Study (imported lazily: conduct needs its fixtures)
    """A study with the conduct fixtures' sites and users but no cohort: the system opens
    cohort 1 (``open_first_cohort``), as a real study starts."""
    from conduct_fixtures import PASSWORD, PROTOCOL, USERS
    from oncotrial.conduct import Study, accounts

    study = Study.open(url, PROTOCOL)
    admin = study.system_actor("test-setup")
    accounts.add_site(study, admin, "01", name="Beijing", country="CHN")
    accounts.add_site(study, admin, "02", name="Shanghai", country="CHN")
    for username, (role, sites) in USERS.items():
        accounts.add_user(
            study, admin, username, role, PASSWORD, full_name=f"Name of {username}", sites=sites
        )
    return study
