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

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd

from oncotrial.conduct.errors import NotFoundError
from oncotrial.conduct.roles import Action, Actor, require
from oncotrial.conduct.snapshots import Snapshot, scope_name, snapshot
from oncotrial.conduct.study import Study
from oncotrial.derive.pipeline import DerivedStudy
from oncotrial.protocol.model import Protocol
from oncotrial.report import panels, population
from oncotrial.report.enrolment import EnrolmentPlan, enrolment_png, monthly_enrolment
from oncotrial.report.formatting import LevelNames
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
    whole_study: bool = True

    def to_json(self) -> dict[str, Any]:
        months = self.monthly.assign(
            month=pd.to_datetime(self.monthly["month"]).dt.strftime("%Y-%m")
        )
        return {
            "scope": self.scope,
            "audit_head": {"seq": self.head.seq, "hash": self.head.hash},
            "as_of": self.as_of,
            "whole_study": self.whole_study,
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
    enrolled = snap.subjects[snap.subjects["status"].isin(ENROLLED)]
    return monthly_enrolment(enrolled, sorted(snap.sites), plan, as_of)


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
    monthly = _monthly(snap, plan, as_of)
    whole = snap.scope == "*"
    if not whole:  # the plan is the study's, not one site's
        monthly["planned"] = np.nan
    return Enrolment(
        scope=scope_name(snap.scope),
        head=snap.head,
        sites=rows,
        total=total,
        by_level=by_level,
        monthly=monthly,
        plan=plan,
        as_of=as_of.isoformat(),
        whole_study=whole,
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
        sites = [s.site for s in view.sites]
        png = snap.figure(
            f"{name}@{view.as_of}",
            lambda: enrolment_png(view.monthly, sites, view.plan if view.whole_study else None),
        )
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
