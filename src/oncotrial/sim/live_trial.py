"""The virtual trial played day by day through the trial's use cases (issue 9 §3).

Virtual site users — a coordinator and an investigator at each of the protocol's sites — act on
the calendar (:mod:`oncotrial.sim.calendar`) exactly as people do in the application
(:mod:`oncotrial.conduct`): a patient arriving at a site is screened (``entry.screen``), on the
day of the first dose is enrolled into an open cohort slot (the dose level is the cohort's,
assigned by the system), and from then on each event is entered on the day it happens — doses,
adverse events (the investigator's DLT assessment), tumour assessments with the investigator's
RECIST 1.1 response, ADA samples, end of treatment and of study — a day's forms of a subject in
one transaction (``entry.save_forms``), through the store's edit checks and audit trail.

What happens to a patient is drawn when the patient is dosed, from the dose the system
assigned (:mod:`oncotrial.sim.patients`, :mod:`oncotrial.sim.tumour`; the phase I DLTs from the
protocol's dose-toxicity scenario), and is entered only as it happens. The dose-escalation
committee meets when the last patient of a cohort completes the DLT window: the statistician's
recommendation is computed from what the store holds on that day, the committee members sign
it, and the system opens the next cohort at the signed dose. At the MTD the expansion opens at
the RP2D; Simon's stage-1 analysis counts the confirmed responses in the stored tumour
assessments 24 weeks after the last stage-1 patient's first dose, and is signed the same way.
The data cut is the last first dose plus the protocol's follow-up.

Same seed, same trial: one random stream, consumed in the calendar's fixed order.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from oncotrial.conduct import Study, accounts, entry
from oncotrial.conduct.cohorts import open_cohort, open_first_cohort, reserve_slot
from oncotrial.conduct.committee import (
    FINAL,
    DecisionInfo,
    propose_decision,
    required_signers,
    rp2d_index,
    sign_decision,
)
from oncotrial.conduct.interim import propose_stage1, simon_plan
from oncotrial.conduct.passwords import hashing_cost
from oncotrial.conduct.roles import Actor, Role
from oncotrial.protocol.naming import DoseNames
from oncotrial.sim.calendar import COMMITTEE, SCREENING, VISIT, Calendar
from oncotrial.sim.patients import VirtualPatient, calibration_for, new_patient
from oncotrial.sim.site_forms import (
    COORDINATOR,
    Entry,
    ada_entries,
    adverse_event_entries,
    day_of,
    demographics_values,
    disposition_entries,
    dosing_entries,
    first_progression_day,
    investigator_reads,
    screening_values,
    tumour_entries,
)
from oncotrial.sim.tumour import DAYS_PER_MONTH
from oncotrial.sim.virtual_trial import (
    STAGE1_ANALYSIS_WEEKS,
    EscalationRecord,
    VirtualTrialResult,
    draw_course,
    outcomes,
)
from oncotrial.store import Store
from oncotrial.store.models import UserSite

SYSTEM = "virtual-trial"
COMMITTEE_SIZE = 3


@dataclass(frozen=True)
class VirtualStaff:
    """The virtual users: site staff by site code, the statistician, the committee members and
    the signers of a decision (the protocol's required roles), with their one secret."""

    coordinators: dict[str, Actor]
    investigators: dict[str, Actor]
    statistician: Actor
    committee: tuple[Actor, ...]
    signers: tuple[Actor, ...]
    system: Actor
    secret: str

    def at(self, site: str, role: str) -> Actor:
        return (self.coordinators if role == COORDINATOR else self.investigators)[site]


def engage_staff(study: Study, site_names: list[str]) -> VirtualStaff:
    """Register the sites and the virtual users: a coordinator and an investigator at each
    site, the statistician and the committee members. The signers (the protocol's required
    roles; the first site's investigator is the principal investigator on the committee) get
    an account with a random secret, known only to this run, to e-sign with; the others have
    no password. :meth:`LiveTrial.run` disables the accounts when the trial is played."""
    admin = study.system_actor(SYSTEM)
    codes = []
    for i, name in enumerate(site_names, start=1):
        codes.append(f"{i:02d}")
        accounts.add_site(study, admin, codes[-1], name=name, country="CHN")
    needed = {role: count for role, count, _ in required_signers(study)}
    members = max(COMMITTEE_SIZE, needed.get("committee", 0))
    plan: list[tuple[str, Role, str, str | None]] = []
    for code, name in zip(codes, site_names, strict=True):
        plan.append((f"virtual-crc{code}", Role.coordinator, f"Virtual coordinator, {name}", code))
        plan.append(
            (f"virtual-inv{code}", Role.investigator, f"Virtual investigator, {name}", code)
        )
    plan.append(("virtual-stat", Role.statistician, "Virtual trial statistician", None))
    for k in range(1, members + 1):
        plan.append((f"virtual-dec{k}", Role.committee, f"Virtual committee member {k}", None))
    signing = {"virtual-stat"} if needed.get("statistician") else set()
    signing |= {f"virtual-dec{k}" for k in range(1, needed.get("committee", 0) + 1)}
    signing |= {f"virtual-inv{c}" for c in codes[: needed.get("investigator", 0)]}
    secret = secrets.token_urlsafe(32)
    made: dict[str, Actor] = {}
    with study.transaction(admin, "virtual users of the virtual trial") as txn:
        for username, role, full_name, site in plan:
            if username in signing:
                continue
            user_id = txn.store.add_user(username, role.value, SYSTEM, full_name=full_name)
            if site is not None:
                txn.session.add(UserSite(user_id=user_id, site_code=site))
            sites = frozenset({site}) if site else frozenset()
            made[username] = Actor(username, role, full_name, sites, user_id)
        txn.session.flush()
    with hashing_cost(time_cost=1, memory_kib=8192):
        for username, role, full_name, site in plan:
            if username in signing:
                sites = [site] if site else []
                info = accounts.add_user(
                    study, admin, username, role, secret, full_name=full_name, sites=sites
                )
                made[username] = Actor(username, role, full_name, frozenset(info.sites))
    order = [u for u, _, _, _ in plan if u in signing]
    return VirtualStaff(
        coordinators={c: made[f"virtual-crc{c}"] for c in codes},
        investigators={c: made[f"virtual-inv{c}"] for c in codes},
        statistician=made["virtual-stat"],
        committee=tuple(made[f"virtual-dec{k}"] for k in range(1, members + 1)),
        signers=tuple(made[u] for u in sorted(order, key=_signing_order)),
        system=admin,
        secret=secret,
    )


def _signing_order(username: str) -> tuple[int, str]:
    """The statistician signs first, then the committee members, then the investigator."""
    rank = 0 if username == "virtual-stat" else 1 if username.startswith("virtual-dec") else 2
    return rank, username


def retire_staff(study: Study, staff: VirtualStaff) -> None:
    """Disable the virtual signers' accounts: nobody can sign in or sign as them afterwards."""
    for actor in staff.signers:
        accounts.set_active(
            study, staff.system, actor.username, False, "the virtual trial has been played"
        )


def _arrivals(rng: np.random.Generator, rate_per_month: float, after: int, n: int) -> list[int]:
    """Days of ``n`` Poisson arrivals after day ``after`` (whole days)."""
    gaps = rng.exponential(DAYS_PER_MONTH / rate_per_month, size=n)
    return [int(after + t) for t in np.cumsum(gaps)]


class LiveTrial:
    """One virtual trial of ``study``'s protocol, played on the calendar (see the module)."""

    def __init__(self, study: Study, seed: int) -> None:
        protocol = study.protocol
        spec = protocol.virtual_trial
        if spec is None:
            raise ValueError("the protocol has no virtual_trial block")
        self.study, self.protocol, self.spec = study, protocol, spec
        self.rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed)))
        self.start = date.fromisoformat(spec.start_date)
        self.calendar = Calendar(self.start)
        self.calibration = calibration_for(spec)
        scenario = protocol.phase1.scenario(spec.scenario)
        self.truth = np.asarray(scenario.dlt_probabilities, dtype=float)
        self.names = DoseNames.of(protocol)
        self.window = int(protocol.dlt.window_days)
        self.patients: list[VirtualPatient] = []
        self.decisions: list[EscalationRecord] = []
        self.recommended: int | None = None
        self.expansion: dict[str, Any] = {}
        self._levels: dict[int, int] = {}
        self._dosed: dict[int, list[VirtualPatient]] = {}
        self._pending: dict[tuple[int, str, str], list[Entry]] = {}
        self._instances: dict[tuple[str, str], str] = {}
        self.staff: VirtualStaff | None = None

    # -------------------------------------------------------------------------- the run

    def run(self, progress: Callable[[int, int], None] | None = None) -> VirtualTrialResult:
        """Play the whole trial; what it was (the records are the store's)."""
        self.staff = engage_staff(self.study, list(self.spec.sites))
        first = open_first_cohort(self.study, self.staff.statistician)
        self._enrol_cohort(0, first.number, first.level, "I", len(first.slots))
        self.calendar.run(progress)
        retire_staff(self.study, self.staff)
        last_first_dose = max((p.first_dose_day for p in self.patients), default=0.0)
        cut = self.calendar.date(
            last_first_dose + self.protocol.schedule.followup_months * DAYS_PER_MONTH
        )
        with self.study.transaction(self.staff.system, "data cut of the virtual trial") as txn:
            txn.store.set_study_setting("data_cut", cut.isoformat(), SYSTEM)
        if self.expansion:
            self.expansion["enrolled"] = sum(p.phase == "II" for p in self.patients)
        store = Store(self.study.engine)
        domains = {}
        for domain in ("DM", "DS", "EX", "AE", "TU", "TR", "IS", "RS", "IE"):
            frame = store.records(domain)
            if not frame.empty:
                domains[domain] = frame
        return VirtualTrialResult(
            study_id=self.study.studyid,
            start_date=self.start,
            data_cut=cut,
            domains=domains,
            patients=self.patients,
            decisions=self.decisions,
            recommended_dose=self.recommended,
            expansion=self.expansion,
        )

    # ------------------------------------------------------------------------ cohorts

    def _enrol_cohort(self, day: int, number: int, level: str, phase: str, slots: int) -> None:
        """Patients arrive from ``day`` for the ``slots`` of the cohort the system opened."""
        self._levels[number] = self.names.parse(level)
        self._dosed[number] = []
        rate = (
            self.spec.accrual_per_month_phase1
            if phase == "I"
            else self.spec.accrual_per_month_phase2
        )
        for arrival in _arrivals(self.rng, rate, day, slots):
            self.calendar.schedule(
                arrival, SCREENING, lambda d, n=number, ph=phase: self._arrive(d, n, ph)
            )

    def _arrive(self, day: int, cohort: int, phase: str) -> None:
        """A patient consents at a site and is screened by its coordinator."""
        assert self.staff is not None
        p = new_patient(
            self.rng,
            self.spec,
            len(self.patients) + 1,
            phase,
            self._levels[cohort],
            cohort if phase == "I" else None,
            float(day),
        )
        values = screening_values(self.protocol, p.site, self.calendar.iso(day))
        result = entry.screen(self.study, self.staff.at(p.site, COORDINATOR), values)
        p.usubjid = result.usubjid
        self.patients.append(p)
        self.calendar.schedule(
            day_of(p.first_dose_day), VISIT, lambda d, pt=p, n=cohort: self._enrol(d, pt, n)
        )

    def _enrol(self, day: int, p: VirtualPatient, cohort: int) -> None:
        """Enrolment into the cohort's slot on the day of the first dose; the dose level is
        the one the system assigned. The patient's course is drawn at that dose, and its
        events are put on the calendar."""
        assert self.staff is not None
        crc = self.staff.at(p.site, COORDINATOR)
        slot = reserve_slot(self.study, crc, p.usubjid, cohort=cohort, on=self.calendar.date(day))
        p.dose_index = self.names.parse(slot.level)
        if p.phase == "I":
            p.dlt = bool(self.rng.random() < self.truth[p.dose_index])
            p.dlt_day = float(self.rng.integers(1, self.window + 1)) if p.dlt else None
        draw_course(self.rng, self.protocol, p, self.calibration)
        reads = investigator_reads(self.protocol, p, self.start)
        progression = first_progression_day(reads)
        course = outcomes(self.rng, self.protocol, p, self.calibration, progression)
        entries = [Entry(day, COORDINATOR, "DM", demographics_values(p, self.start))]
        entries += tumour_entries(p, reads, self.start, day)
        entries += dosing_entries(self.protocol, p, course.doses, self.start, day)
        entries += adverse_event_entries(self.protocol, p, course.events, self.start, day)
        entries += ada_entries(course.samples, self.start, day)
        entries += disposition_entries(p, self.start)
        for item in entries:
            self._queue(item, p)
        dosed = self._dosed[cohort]
        dosed.append(p)
        if p.phase == "I" and len(dosed) == self.protocol.phase1.cohort_size:
            self.calendar.schedule(
                day + self.window, COMMITTEE, lambda d, n=cohort: self._escalation(d, n)
            )
        stage1 = p.phase == "II" and self.expansion.get("stage1_cohort") == cohort
        if stage1 and len(dosed) == self.expansion["n1"]:
            interim = day + STAGE1_ANALYSIS_WEEKS * 7
            self.calendar.schedule(interim, COMMITTEE, lambda d: self._stage1(d))

    # ------------------------------------------------------------------------ site visits

    def _queue(self, item: Entry, p: VirtualPatient) -> None:
        key = (item.day, p.usubjid, item.by)
        if key not in self._pending:
            self._pending[key] = []
            self.calendar.schedule(item.day, VISIT, lambda d, k=key, pt=p: self._visit(k, pt))
        self._pending[key].append(item)

    def _visit(self, key: tuple[int, str, str], p: VirtualPatient) -> None:
        """The subject's forms of the day entered by one site user, in one transaction."""
        assert self.staff is not None
        items = sorted(self._pending.pop(key), key=lambda e: self.study.form(e.code).order)
        fresh = {e.key: e for e in items if e.key is not None}
        saves: list[entry.FormSave] = []
        kept: list[Entry] = []
        for item in items:
            if item.changes is not None and item.changes in fresh:
                fresh[item.changes].values = item.values  # begun and completed the same day
                continue
            kept.append(item)
        for item in kept:
            if item.changes is None:
                saves.append(entry.FormSave(item.code, item.values))
            else:
                instance = self._instances[(p.usubjid, item.changes)]
                saves.append(entry.FormSave(item.code, item.values, instance, item.reason))
        results = entry.save_forms(self.study, self.staff.at(p.site, key[2]), p.usubjid, saves)
        for item, result in zip(kept, results, strict=True):
            if item.key is not None:
                self._instances[(p.usubjid, item.key)] = result.instance

    # ------------------------------------------------------------------------ committee

    def _sign(self, proposal: DecisionInfo) -> DecisionInfo:
        """The committee accepts the proposal and each required member e-signs it; with the
        last signature the system acts on it."""
        assert self.staff is not None
        info = proposal
        for actor in self.staff.signers:
            info = sign_decision(self.study, actor, proposal.id, self.staff.secret)
        if info.status != FINAL:
            raise RuntimeError(f"decision #{info.id} is not final: {info.missing_signers}")
        return info

    def _escalation(self, day: int, cohort: int) -> None:
        """The committee's meeting once the cohort's windows are complete: the statistician
        proposes the design's recommendation from the store as of today, the members sign."""
        assert self.staff is not None
        proposal = propose_decision(
            self.study, self.staff.statistician, as_of=self.calendar.date(day)
        )
        final = self._sign(proposal)
        self.decisions.append(
            EscalationRecord(
                cohort, self._levels[cohort], float(day), final.inputs, final.output, final.design
            )
        )
        if final.action == "dose" and final.next_cohort is not None:
            slots = self.protocol.phase1.cohort_size
            level = final.chosen_dose or ""
            self._enrol_cohort(day, final.next_cohort, level, "I", slots)
            return
        if final.action == "pause":  # accrual suspended: the committee meets again in a week
            self.calendar.schedule(day + 7, COMMITTEE, lambda d, n=cohort: self._escalation(d, n))
            return
        self.recommended = rp2d_index(final.output)
        if self.recommended is not None:
            n1, r1, n_total = simon_plan(self.study)
            self.expansion = {"dose_index": self.recommended, "n1": n1, "r1": r1, "n": n_total}
            label = self.names.short(self.recommended)
            number = final.next_cohort  # the final stop opened the expansion at the RP2D
            if number is None:
                why = f"expansion at the RP2D of committee decision #{final.id}"
                with self.study.transaction(self.staff.statistician, why) as txn:
                    number = open_cohort(txn, label, "II", n1, why).number
            self.expansion["stage1_cohort"] = number
            self._enrol_cohort(day, number, label, "II", n1)

    def _stage1(self, day: int) -> None:
        """Simon's stage-1 analysis from the stored tumour assessments as of ``day``, proposed
        by the statistician and signed by the committee."""
        assert self.staff is not None
        proposal = propose_stage1(
            self.study, self.staff.statistician, as_of=self.calendar.date(day)
        )
        final = self._sign(proposal)
        inputs = final.inputs
        passed = final.action == "dose"
        self.expansion.update(
            interim_day=float(day),
            stage1_subjects=list(inputs["subjects"]),
            stage1_responders=int(inputs["responders"]),
            decision=(
                "stage 1 passed: stage 2 enrolled"
                if passed
                else "stopped for futility after stage 1"
            ),
        )
        if passed and final.next_cohort is not None:
            slots = self.expansion["n"] - self.expansion["n1"]
            self._enrol_cohort(day, final.next_cohort, final.chosen_dose or "", "II", slots)


def play_virtual_trial(
    study: Study,
    seed: int,
    progress: Callable[[int, int], None] | None = None,
) -> VirtualTrialResult:
    """Play the virtual trial of ``study``'s protocol into its (empty) database, day by day
    through the conduct use cases (see the module docstring). Same seed, same trial.

    Example
    -------
    >>> study = Study.open("sqlite:///trial.db", "protocols/toripalimab-donafenib-hcc.yaml")
    >>> trial = play_virtual_trial(study, 2026)  # doctest: +SKIP
    """
    return LiveTrial(study, seed).run(progress)
