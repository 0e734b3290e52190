"""The dashboards of the trial application: enrolment by site and over time against the
protocol's plan, and the report's phase I table and figures (DLTs by dose level, dose
escalation, swimmer, waterfall, spider, Kaplan–Meier) computed from what the store holds now.

Everything is read as the acting user may see it: in :meth:`Study.reading` (the database's
site scope; row-level security on PostgreSQL) and through the application's own site filter
(SQLite has no row-level security), so a site user's dashboard holds only the patients of that
user's sites. The SDTM read is derived by the report's own pipeline
(:func:`oncotrial.report.panels.derive`) and drawn by the report's own functions
(:mod:`oncotrial.report.panels`): on the same data the dashboard and ``oncotrial report`` show
the same numbers and the same images. A whole trial takes seconds to derive, so each result is
kept per audit head (every write moves it) and per site scope.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from oncotrial.conduct.errors import NotFoundError
from oncotrial.conduct.roles import Action, Actor, require
from oncotrial.conduct.snapshots import Snapshot, scope_name, snapshot
from oncotrial.conduct.study import Study
from oncotrial.derive.pipeline import DerivedStudy
from oncotrial.designs.phase2 import simon_two_stage
from oncotrial.protocol.model import Protocol
from oncotrial.report import panels, population
from oncotrial.report.figures import plot_enrolment
from oncotrial.report.formatting import DAYS_PER_MONTH, LevelNames
from oncotrial.store.chain import AuditHead

#: Figures of the results dashboards (name → what it shows).
RESULT_FIGURES = {
    "escalation": "dose escalation: each phase I patient's level and DLT window",
    "swimmer": "swimmer plot by dose level",
    "waterfall": "waterfall plot of the best % change in the target sum",
    "spider": "spider plot of the % change in the target sum over time",
    "km_OS": "overall survival (Kaplan–Meier)",
    "km_PFS": "progression-free survival (Kaplan–Meier)",
    "km_RSD": "duration of response (Kaplan–Meier)",
}
FIGURES = {"enrolment": "enrolment over time against plan", **RESULT_FIGURES}
#: Subject statuses counted as enrolled (every status after enrolment).
ENROLLED = (
    "enrolled",
    "on_treatment",
    "follow_up",
    "completed",
    "died",
    "lost_to_follow_up",
    "withdrawn",
)
OFF_STUDY = ("completed", "died", "lost_to_follow_up", "withdrawn")


# ---------------------------------------------------------------------------------------------
# the enrolment plan


@lru_cache(maxsize=8)
def _simon_n(p0: float, p1: float, alpha: float, power: float, criterion: str) -> int:
    result = simon_two_stage(p0, p1, alpha, power)
    return (result.minimax if criterion == "minimax" else result.optimal).n


@dataclass(frozen=True)
class EnrolmentPlan:
    """The protocol's planned enrolment: phase I at most ``phase1.max_patients`` at
    ``phase1.accrual_per_month``, then the expansion's Simon two-stage total n (optimal or
    minimax, as the protocol chooses; Simon 1989) at ``phase2.accrual_per_month``, counted
    from the study's first enrolment without a pause between the phases. A phase without a
    planned rate has a target but no planned curve from its start."""

    phase1_patients: int
    phase1_per_month: float | None
    phase2_patients: int | None
    phase2_per_month: float | None

    @classmethod
    def of(cls, protocol: Protocol) -> EnrolmentPlan:
        phase2 = protocol.phase2
        n2 = None
        if phase2 is not None:
            n2 = _simon_n(phase2.p0, phase2.p1, phase2.alpha, phase2.power, phase2.criterion)
        return cls(
            protocol.phase1.max_patients,
            protocol.phase1.accrual_per_month,
            n2,
            None if phase2 is None else phase2.accrual_per_month,
        )

    @property
    def total(self) -> int:
        return self.phase1_patients + (self.phase2_patients or 0)

    def planned(self, months: float) -> float | None:
        """Patients planned to be enrolled ``months`` after the first enrolment (None where
        the plan has no rate)."""
        if self.phase1_per_month is None:
            return None
        first = min(self.phase1_patients, self.phase1_per_month * months)
        if first < self.phase1_patients or self.phase2_patients is None:
            return float(first)
        if self.phase2_per_month is None:
            return None
        later = months - self.phase1_patients / self.phase1_per_month
        return float(
            self.phase1_patients + min(self.phase2_patients, self.phase2_per_month * later)
        )

    def months_to_complete(self) -> float | None:
        """Months from the first enrolment to the planned last one (None without rates)."""
        if self.phase1_per_month is None:
            return None
        months = self.phase1_patients / self.phase1_per_month
        if self.phase2_patients is None:
            return months
        if self.phase2_per_month is None:
            return None
        return months + self.phase2_patients / self.phase2_per_month

    def to_json(self) -> dict[str, Any]:
        return {
            "phase1_patients": self.phase1_patients,
            "phase1_per_month": self.phase1_per_month,
            "phase2_patients": self.phase2_patients,
            "phase2_per_month": self.phase2_per_month,
            "total": self.total,
            "months_to_complete": self.months_to_complete(),
        }


# ---------------------------------------------------------------------------------------------
# enrolment


@dataclass(frozen=True)
class SiteEnrolment:
    """One site's patients: screened, screen failures, enrolled (by phase), on treatment, in
    follow-up, off study, and the first and last enrolment dates."""

    site: str
    name: str
    screened: int
    screen_failures: int
    enrolled: int
    phase1: int
    phase2: int
    on_treatment: int
    in_follow_up: int
    off_study: int
    first_enrolment: str | None
    last_enrolment: str | None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Enrolment:
    """The enrolment dashboard: by site (and all the sites shown), by dose level and phase
    (the report's enrolment table), and month by month against the plan."""

    scope: str
    head: AuditHead
    sites: list[SiteEnrolment]
    total: SiteEnrolment
    by_level: pd.DataFrame
    monthly: pd.DataFrame
    plan: EnrolmentPlan
    as_of: str

    def to_json(self) -> dict[str, Any]:
        months = self.monthly.assign(
            month=pd.to_datetime(self.monthly["month"]).dt.strftime("%Y-%m")
        )
        return {
            "scope": self.scope,
            "audit_head": {"seq": self.head.seq, "hash": self.head.hash},
            "as_of": self.as_of,
            "sites": [s.to_json() for s in self.sites],
            "total": self.total.to_json(),
            "by_level": {
                str(level): {str(k): int(v) for k, v in row.items()}
                for level, row in self.by_level.to_dict("index").items()
            },
            "plan": self.plan.to_json(),
            "monthly": [
                {k: (None if _missing(v) else v) for k, v in row.items()}
                for row in months.to_dict("records")
            ],
        }


def _missing(value: Any) -> bool:
    return isinstance(value, float) and np.isnan(value)


def _site_row(site: str, name: str, rows: pd.DataFrame) -> SiteEnrolment:
    status = rows["status"]
    enrolled = rows[status.isin(ENROLLED)]
    dates = sorted(d for d in enrolled["enrolled_on"].dropna())
    return SiteEnrolment(
        site=site,
        name=name,
        screened=len(rows),
        screen_failures=int(status.eq("screen_failure").sum()),
        enrolled=len(enrolled),
        phase1=int(enrolled["phase"].eq("I").sum()),
        phase2=int(enrolled["phase"].eq("II").sum()),
        on_treatment=int(status.eq("on_treatment").sum()),
        in_follow_up=int(status.eq("follow_up").sum()),
        off_study=int(status.isin(OFF_STUDY).sum()),
        first_enrolment=dates[0] if dates else None,
        last_enrolment=dates[-1] if dates else None,
    )


def _as_of(study: Study, actor: Actor) -> date:
    """The date the dashboard counts to: the trial's data cut when it has one, else today."""
    with study.reading(actor) as (store, _):
        text = store.study_settings().get("data_cut")
    try:
        return date.fromisoformat(text) if text else datetime.now(UTC).date()
    except ValueError:
        return datetime.now(UTC).date()


def _monthly(snap: Snapshot, plan: EnrolmentPlan, as_of: date) -> pd.DataFrame:
    """Month by month from the first enrolment: patients enrolled at each site, cumulative
    (to the as-of month) and planned (at each month's end)."""
    subjects = snap.subjects[snap.subjects["status"].isin(ENROLLED)]
    when = pd.to_datetime(subjects["enrolled_on"], errors="coerce")
    sites = sorted(snap.sites)
    if when.notna().sum() == 0:
        return pd.DataFrame(columns=["month", *sites, "cumulative", "planned"])
    start = when.min()
    first = start.to_period("M")
    last = max(when.max(), pd.Timestamp(as_of)).to_period("M")
    months_to_end = plan.months_to_complete()
    if months_to_end is not None:
        planned_end = (start + pd.Timedelta(days=months_to_end * DAYS_PER_MONTH)).to_period("M")
        last = max(last, planned_end)
    periods = pd.period_range(first, last, freq="M")
    month_of = when.dt.to_period("M")
    data: dict[str, Any] = {"month": periods.to_timestamp()}
    for site in sites:
        at = subjects["site"].eq(site).to_numpy()
        counts = month_of[at].value_counts()
        data[site] = [int(counts.get(p, 0)) for p in periods]
    total = month_of.value_counts()
    cumulative = np.cumsum([int(total.get(p, 0)) for p in periods]).astype(float)
    cumulative[periods > pd.Period(as_of, freq="M")] = np.nan
    data["cumulative"] = cumulative
    ends = (periods + 1).to_timestamp()
    planned = [plan.planned(max(0.0, (e - start).days / DAYS_PER_MONTH)) for e in ends]
    data["planned"] = [np.nan if p is None else p for p in planned]
    return pd.DataFrame(data)


def enrolment(study: Study, actor: Actor, site: str | None = None) -> Enrolment:
    """The enrolment dashboard of the sites ``actor`` sees (or of ``site``)."""
    snap = snapshot(study, actor, site)
    register = snap.subjects
    rows = [
        _site_row(code, name, register[register["site"].eq(code)])
        for code, name in sorted(snap.sites.items())
    ]
    total = _site_row("all", "All sites shown", register)
    derived, _ = snap.derived()
    levels = LevelNames(study.protocol)
    by_level = (
        population.enrolment_table(derived.datasets["adsl"], levels)
        if derived is not None
        else pd.DataFrame()
    )
    plan = EnrolmentPlan.of(study.protocol)
    as_of = _as_of(study, actor)
    return Enrolment(
        scope=scope_name(snap.scope),
        head=snap.head,
        sites=rows,
        total=total,
        by_level=by_level,
        monthly=_monthly(snap, plan, as_of),
        plan=plan,
        as_of=as_of.isoformat(),
    )


# ---------------------------------------------------------------------------------------------
# results: the report's phase I table and figures


@dataclass(frozen=True)
class Results:
    """The results dashboards: the DLT table and listing of phase I, the survival table, and
    which of the report's figures the data allow; ``problem`` says why there are none yet."""

    scope: str
    head: AuditHead
    patients: int
    dlt: panels.DltTables | None
    survival: panels.Survival | None
    figures: list[str]
    problem: str

    def to_json(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "audit_head": {"seq": self.head.seq, "hash": self.head.hash},
            "patients": self.patients,
            "problem": self.problem or None,
            "dlt_table": None if self.dlt is None else _records(self.dlt.table, "dose_level"),
            "dlt_listing": None if self.dlt is None else self.dlt.listing.to_dict("records"),
            "survival": None
            if self.survival is None
            else _records(self.survival.table, "endpoint"),
            "figures": self.figures,
        }


def _records(frame: pd.DataFrame, index_name: str) -> list[dict[str, Any]]:
    return [{index_name: str(k), **v} for k, v in frame.to_dict("index").items()]


def results(study: Study, actor: Actor, site: str | None = None) -> Results:
    """The DLT table, the survival table and the available figures (see :data:`FIGURES`)."""
    require(actor, Action.view_results, site)
    snap = snapshot(study, actor, site)
    derived, problem = snap.derived()
    if derived is None:
        return Results(scope_name(snap.scope), snap.head, 0, None, None, [], problem)
    adam = derived.datasets
    available = [name for name in RESULT_FIGURES if _figure_data(name, adam) is not None]
    return Results(
        scope_name(snap.scope),
        snap.head,
        len(adam["adsl"]),
        panels.dlt_tables(adam, study.protocol),
        panels.survival(adam),
        available,
        "",
    )


def _figure_data(name: str, adam: dict[str, pd.DataFrame]) -> object | None:
    """Whether the data allow figure ``name`` (something truthy) or not (None)."""
    if name == "escalation":
        return True if not panels.phase1_subjects(adam["adsl"]).empty else None
    if name in ("waterfall", "spider"):
        adtr = adam.get("adtr")
        return None if adtr is None or adtr.empty or "adrs" not in adam else True
    if name == "swimmer":
        return True if "adrs" in adam else None
    fitted = panels.survival(adam)
    return None if fitted is None else fitted.fits.get(name.removeprefix("km_"))


def figure(study: Study, actor: Actor, name: str, site: str | None = None) -> bytes:
    """Figure ``name`` of :data:`FIGURES` as PNG, drawn by the report's own function."""
    if name not in FIGURES:
        raise NotFoundError(f"no figure '{name}' (figures: {', '.join(FIGURES)})")
    if name == "enrolment":
        view = enrolment(study, actor, site)
        snap = snapshot(study, actor, site)
        png = snap.figure(f"{name}@{view.as_of}", lambda: _enrolment_png(view))
    else:
        require(actor, Action.view_results, site)
        snap = snapshot(study, actor, site)
        derived, problem = snap.derived()
        if derived is None:
            raise NotFoundError(f"no figure '{name}' yet: {problem}")
        png = snap.figure(name, lambda: _draw(name, derived, study.protocol))
    if png is None:
        raise NotFoundError(f"no figure '{name}': the data do not allow it yet")
    return png


def _draw(name: str, derived: DerivedStudy, protocol: Protocol) -> bytes | None:
    adam = derived.datasets
    if name == "escalation":
        return panels.escalation_png(adam, protocol, panels.dlt_tables(adam, protocol))
    if name == "swimmer":
        return panels.swimmer_png(adam, protocol)
    if name == "waterfall":
        return panels.waterfall_png(adam)
    if name == "spider":
        return panels.spider_png(adam)
    fit = _figure_data(name, adam)
    return None if fit is None else panels.km_png(name.removeprefix("km_"), fit)  # type: ignore[arg-type]


def _enrolment_png(view: Enrolment) -> bytes | None:
    if view.monthly.empty:
        return None
    plan = view.plan
    targets = [("phase I (at most)", plan.phase1_patients)]
    if plan.phase2_patients is not None:
        targets.append(("phase I + II", plan.total))
    buffer = io.BytesIO()
    plot_enrolment(view.monthly, [s.site for s in view.sites], buffer, targets)
    return buffer.getvalue()
