"""Run the virtual trial through the trial store, as sites and the committee would enter it.

Every subject, cohort slot, escalation decision, the Simon stage-1 decision, the data cut and
every SDTM record goes through the store's API, so its edit checks and audit trail are
exercised exactly as for real data.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pandas as pd

from oncotrial.protocol.model import Protocol
from oncotrial.protocol.naming import DoseNames
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
#: the design name of the phase II stage-1 decision in the store's decisions
SIMON_DESIGN = "simon two-stage"


def _label(protocol: Protocol, index: int) -> str:
    return DoseNames.of(protocol).short(index)


def _confirmed_at(trial: VirtualTrialResult, day: float) -> datetime:
    """The committee signs two days after the analysis (UTC midnight)."""
    return datetime.combine(trial.day_to_date(day + 2), datetime.min.time(), UTC)


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
            confirmed_at=_confirmed_at(trial, decision.decided_day),
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
        _record_stage1(protocol, trial, store, number)
    store.set_study_setting("data_cut", trial.data_cut.isoformat(), SYSTEM_USER)
    tick()
    for domain in DOMAIN_ORDER:
        frame = trial.domains.get(domain)
        if frame is not None and not frame.empty:
            store.add_records(domain, frame, SITE_USER)
        tick()


def _record_stage1(
    protocol: Protocol, trial: VirtualTrialResult, store: Store, cohort: int
) -> None:
    """The Simon stage-1 analysis as a committee decision of the expansion cohort: the plan,
    the confirmed responders among the first n1 patients at the analysis, and the decision."""
    plan = trial.expansion
    if "stage1_responders" not in plan:
        return
    passed = plan["stage1_responders"] > plan["r1"]
    store.record_decision(
        cohort,
        SIMON_DESIGN,
        {
            "stage": 1,
            "n1": int(plan["n1"]),
            "r1": int(plan["r1"]),
            "n": int(plan["n"]),
            "subjects": list(plan["stage1_subjects"]),
            "responders": int(plan["stage1_responders"]),
            "analysis_date": trial.day_to_date(plan["interim_day"]).isoformat(),
            "criteria": "RECIST 1.1, confirmed CR or PR",
        },
        {
            "continue_trial": bool(passed),
            "decision": plan["decision"],
            "reason": (
                f"{plan['stage1_responders']} of {plan['n1']} patients responded; the plan "
                f"continues when more than {plan['r1']} do"
            ),
        },
        _label(protocol, trial.recommended_dose) if trial.recommended_dose is not None else None,
        SYSTEM_USER,
        confirmed_by=COMMITTEE,
        confirmed_at=_confirmed_at(trial, plan["interim_day"]),
    )


def sdtm_from_store(store: Store) -> dict[str, pd.DataFrame]:
    """Every SDTM domain the store holds, as text frames (lower-case keys)."""
    out = {}
    for domain in DOMAIN_ORDER:
        frame = store.records(domain)
        if not frame.empty:
            out[domain.lower()] = frame.reset_index(drop=True)
    return out
