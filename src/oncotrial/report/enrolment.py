"""Enrolment over time against the protocol's plan: the plan, the month-by-month counts by site
and their figure — one code for the report and the application's enrolment dashboard.

The plan (:class:`EnrolmentPlan`) is the protocol's: phase I at most ``phase1.max_patients`` at
``phase1.accrual_per_month``, then the expansion's Simon two-stage total n at
``phase2.accrual_per_month``. A patient's enrolment date is the DS ``ENROLLED`` record's
``DSSTDTC``.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from oncotrial.designs.phase2 import simon_two_stage
from oncotrial.protocol.model import Protocol
from oncotrial.report.figures import plot_enrolment
from oncotrial.report.formatting import DAYS_PER_MONTH


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
    planned rate has a target but no planned curve from its start.

    Example
    -------
    >>> plan = EnrolmentPlan(18, 2.0, 43, 4.0)
    >>> plan.planned(9), plan.planned(14), plan.total
    (18.0, 38.0, 61)
    """

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

    def targets(self) -> list[tuple[str, int]]:
        """The planned sample sizes as the figure labels them."""
        out = [("phase I (at most)", self.phase1_patients)]
        if self.phase2_patients is not None:
            out.append(("phase I + II", self.total))
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "phase1_patients": self.phase1_patients,
            "phase1_per_month": self.phase1_per_month,
            "phase2_patients": self.phase2_patients,
            "phase2_per_month": self.phase2_per_month,
            "total": self.total,
            "months_to_complete": self.months_to_complete(),
        }


def enrolment_dates(ds: pd.DataFrame | None) -> dict[str, str]:
    """Each subject's date of enrolment: DS ``ENROLLED`` (its ``DSSTDTC``, day precision)."""
    if ds is None or ds.empty:
        return {}
    rows = ds[ds["DSDECOD"].eq("ENROLLED") & ds["DSSTDTC"].notna()]
    return {r.USUBJID: str(r.DSSTDTC)[:10] for r in rows.itertuples() if len(r.DSSTDTC) >= 10}


def enrolled_of_adsl(adsl: pd.DataFrame, ds: pd.DataFrame | None) -> pd.DataFrame:
    """The report's patients (ADSL) with their site (``SITEID``) and enrolment date."""
    dates = enrolment_dates(ds)
    return pd.DataFrame(
        {
            "site": adsl.get("SITEID", pd.Series("", index=adsl.index)).astype(str).to_numpy(),
            "enrolled_on": adsl["USUBJID"].map(dates).to_numpy(),
        }
    )


def monthly_enrolment(
    enrolled: pd.DataFrame, sites: Sequence[str], plan: EnrolmentPlan, as_of: date
) -> pd.DataFrame:
    """Month by month from the first enrolment to the later of ``as_of`` and the plan's end:
    patients enrolled at each of ``sites`` (``enrolled`` columns ``site``, ``enrolled_on``),
    the cumulative total (NaN after the as-of month) and the planned total at each month's end.
    """
    when = pd.to_datetime(enrolled["enrolled_on"], errors="coerce")
    if when.notna().sum() == 0:
        return pd.DataFrame(columns=["month", *sites, "cumulative", "planned"])
    start = when.min()
    last = max(when.max(), pd.Timestamp(as_of)).to_period("M")
    months_to_end = plan.months_to_complete()
    if months_to_end is not None:
        planned_end = (start + pd.Timedelta(days=months_to_end * DAYS_PER_MONTH)).to_period("M")
        last = max(last, planned_end)
    periods = pd.period_range(start.to_period("M"), last, freq="M")
    month_of = when.dt.to_period("M")
    data: dict[str, Any] = {"month": periods.to_timestamp()}
    for site in sites:
        counts = month_of[enrolled["site"].eq(site).to_numpy()].value_counts()
        data[site] = [int(counts.get(p, 0)) for p in periods]
    total = month_of.value_counts()
    cumulative = np.cumsum([int(total.get(p, 0)) for p in periods]).astype(float)
    cumulative[periods > pd.Period(as_of, freq="M")] = np.nan
    data["cumulative"] = cumulative
    ends = (periods + 1).to_timestamp()
    planned = [plan.planned(max(0.0, (e - start).days / DAYS_PER_MONTH)) for e in ends]
    data["planned"] = [np.nan if p is None else p for p in planned]
    return pd.DataFrame(data)


def enrolment_png(
    monthly: pd.DataFrame, sites: Sequence[str], plan: EnrolmentPlan | None
) -> bytes | None:
    """The figure of :func:`monthly_enrolment` (PNG, as the report prints it) with the plan's
    sample sizes (none without ``plan``: a part of the study); None when no one is enrolled."""
    if monthly.empty:
        return None
    buffer = io.BytesIO()
    plot_enrolment(monthly, list(sites), buffer, plan.targets() if plan is not None else [])
    return buffer.getvalue()
