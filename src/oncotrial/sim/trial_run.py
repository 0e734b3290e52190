"""Run the virtual trial through the trial store, as sites and the committee would enter it.

Every subject, cohort slot, escalation decision and SDTM record goes through the store's API,
so its edit checks and audit trail are exercised exactly as for real data.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pandas as pd

from oncotrial.protocol.model import Protocol
from oncotrial.sim.virtual_trial import VirtualTrialResult, generate_virtual_trial
from oncotrial.store import Store

SITE_USER = "site-coordinator"
COMMITTEE = "Dose Escalation Committee"
SYSTEM_USER = "virtual-trial"
#: the store's subject status at the data cut, by the virtual patient's end of study
STATUS = {
    "DEATH": "died",
    "LOST TO FOLLOW-UP": "lost_to_follow_up",
    "WITHDRAWAL BY SUBJECT": "withdrawn",
    "COMPLETED": "completed",
    "ONGOING": "follow_up",
}
#: order of entry: subjects' demography and disposition before treatment and assessments
DOMAIN_ORDER = ("DM", "DS", "EX", "AE", "TU", "TR", "IS", "RS")


def _label(protocol: Protocol, index: int) -> str:
    return f"L{protocol.level_labels[index]}"


def run_virtual_trial(
    protocol: Protocol,
    seed: int,
    store: Store,
    progress: Callable[[int, int], None] | None = None,
) -> VirtualTrialResult:
    """Generate the virtual trial of ``protocol`` (same seed, same trial) and enter it into
    ``store`` in one transaction (all of it or nothing); returns what was generated."""
    trial = generate_virtual_trial(protocol, seed)
    with store.transaction(SYSTEM_USER):
        _enter(protocol, trial, store, progress)
    return trial


def _enter(
    protocol: Protocol,
    trial: VirtualTrialResult,
    store: Store,
    progress: Callable[[int, int], None] | None,
) -> None:
    steps = 3 + len(DOMAIN_ORDER)
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, steps)

    spec = protocol.virtual_trial
    assert spec is not None
    for i, name in enumerate(spec.sites, start=1):
        store.add_site(f"{i:02d}", SYSTEM_USER, name=name, country="CHN")
    tick()
    for p in trial.patients:
        store.add_subject(
            p.usubjid,
            p.site,
            SITE_USER,
            consent_date=trial.day_to_date(p.consent_day).isoformat(),
            first_dose_date=trial.day_to_date(p.first_dose_day).isoformat(),
            dose_level=_label(protocol, p.dose_index),
            status=STATUS[p.study_end_reason],
            death_date=None if p.death_day is None else trial.day_to_date(p.death_day).isoformat(),
        )
    tick()
    by_cohort: dict[int, list[str]] = {}
    for p in trial.patients:
        if p.cohort is not None:
            by_cohort.setdefault(p.cohort, []).append(p.usubjid)
    for decision in trial.decisions:
        store.add_cohort(
            decision.cohort,
            _label(protocol, decision.dose_index),
            SYSTEM_USER,
            slots=protocol.phase1.cohort_size,
            phase="I",
        )
        for usubjid in by_cohort.get(decision.cohort, []):
            store.assign_slot(decision.cohort, usubjid, SITE_USER)
        nxt = decision.output.get("next_dose")
        store.record_decision(
            decision.cohort,
            decision.design,
            decision.inputs,
            decision.output,
            None if nxt is None else _label(protocol, nxt - 1),
            SYSTEM_USER,
            confirmed_by=COMMITTEE,
            confirmed_at=datetime.combine(
                trial.day_to_date(decision.decided_day + 2), datetime.min.time(), UTC
            ),
        )
    expansion = [p for p in trial.patients if p.phase == "II"]
    if expansion and trial.recommended_dose is not None:
        number = max(by_cohort, default=0) + 1
        store.add_cohort(
            number,
            _label(protocol, trial.recommended_dose),
            SYSTEM_USER,
            slots=len(expansion),
            phase="II",
        )
        for p in expansion:
            store.assign_slot(number, p.usubjid, SITE_USER)
    tick()
    for domain in DOMAIN_ORDER:
        frame = trial.domains.get(domain)
        if frame is not None and not frame.empty:
            store.add_records(domain, frame, SITE_USER)
        tick()


def sdtm_from_store(store: Store) -> dict[str, pd.DataFrame]:
    """Every SDTM domain the store holds, as text frames (lower-case keys)."""
    out = {}
    for domain in DOMAIN_ORDER:
        frame = store.records(domain)
        if not frame.empty:
            out[domain.lower()] = frame.reset_index(drop=True)
    return out


def data_cut_of(sdtm: dict[str, pd.DataFrame]) -> datetime | None:
    """The latest complete date in the data (the data cut of a snapshot)."""
    latest = None
    for frame in sdtm.values():
        for column in (c for c in frame.columns if c.endswith("DTC")):
            values = pd.to_datetime(frame[column].str.slice(0, 10), errors="coerce").max()
            if pd.notna(values) and (latest is None or values > latest):
                latest = values
    return None if latest is None else latest.to_pydatetime() + timedelta(0)
