"""The report's phase I table and figures as functions of the ADaM datasets alone, so that the
trial report (:mod:`oncotrial.report.trial_report`) and the application's dashboards draw them
with the same code and get the same numbers and the same images.

Every function takes the datasets of :func:`oncotrial.derive.pipeline.derive_study` (``adsl``,
``adrs``, ``adtr``, ``adtte``, ``adae``) and the protocol, and returns plain frames or image
bytes (PNG, 150 dpi, as printed in the report). A figure whose data are absent is ``None``.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from oncotrial.derive.pipeline import DerivedStudy, analysis_settings, derive_study
from oncotrial.derive.response_terms import terms_for
from oncotrial.protocol.model import Protocol
from oncotrial.report import efficacy, safety
from oncotrial.report.figures import (
    plot_dose_escalation,
    plot_spider,
    plot_swimmer,
    plot_waterfall,
)
from oncotrial.report.formatting import LevelNames
from oncotrial.report.km_plot import plot_km
from oncotrial.stats.survival import KaplanMeier

ADaM = dict[str, pd.DataFrame]

#: Kaplan–Meier figures: the months at which the numbers at risk are printed, the x range.
KM_RISK_MONTHS = tuple(range(0, 19, 3))
KM_XMAX = 18.5


def derive(protocol: Protocol, sdtm: dict[str, pd.DataFrame]) -> DerivedStudy:
    """The ADaM datasets of the report from the store's SDTM (already edit-checked on entry)
    with the protocol's analysis settings (:func:`oncotrial.derive.pipeline.analysis_settings`)."""
    return derive_study(sdtm, settings=analysis_settings(protocol), checked=True)


def secondary_adrs(derived: DerivedStudy) -> dict[str, pd.DataFrame]:
    """ADRS by each secondary criteria, by its name (``{"mRECIST": …}``)."""
    return {
        terms_for(criteria).name: derived.datasets[f"adrs_{criteria}"]
        for criteria in derived.settings.secondary_criteria
        if f"adrs_{criteria}" in derived.datasets
    }


def _png(draw: Callable[[io.BytesIO], Any]) -> bytes:
    buffer = io.BytesIO()
    draw(buffer)
    return buffer.getvalue()


def reference_date(adsl: pd.DataFrame) -> str:
    """The ADSL date response times count from: ``RANDDT`` when present, else ``TRTSDT``."""
    has_rand = "RANDDT" in adsl.columns and adsl["RANDDT"].notna().any()
    return "RANDDT" if has_rand else "TRTSDT"


def phase1_subjects(adsl: pd.DataFrame) -> pd.DataFrame:
    """ADSL of the phase I patients (``PHASE`` = I); every patient when no phase is recorded."""
    phase = adsl.get("PHASE", pd.Series("", index=adsl.index)).astype(str)
    return adsl[phase.eq("I")] if phase.eq("I").any() else adsl


def primary_criteria(adrs: pd.DataFrame) -> str:
    """The response criteria of ADRS (``PARCAT3``, e.g. "RECIST 1.1"); "" when unrecorded."""
    return str(adrs["PARCAT3"].dropna().iloc[0]) if adrs["PARCAT3"].notna().any() else ""


@dataclass(frozen=True)
class DltTables:
    """Phase I DLTs: the evaluation of every AE by the protocol's definition, the table by
    dose level and the listing of DLTs (see :mod:`oncotrial.report.safety`)."""

    evaluation: pd.DataFrame
    table: pd.DataFrame
    listing: pd.DataFrame

    @property
    def subjects_with_dlt(self) -> set[str]:
        return safety.dlt_subjects(self.evaluation)


def dlt_tables(adam: ADaM, protocol: Protocol) -> DltTables | None:
    """The DLT table and listing of phase I (None without ADAE)."""
    if "adae" not in adam:
        return None
    levels = LevelNames(protocol)
    phase1 = phase1_subjects(adam["adsl"])
    evaluation = safety.dlt_evaluation(adam["adae"], protocol)
    return DltTables(
        evaluation,
        safety.dlt_table(evaluation, phase1, levels),
        safety.dlt_listing(evaluation, phase1, levels),
    )


def escalation_png(adam: ADaM, protocol: Protocol, dlt: DltTables | None) -> bytes:
    """Each phase I patient's dose level over calendar time with the DLT window, the patients
    with a DLT in ``dlt`` marked."""
    levels = LevelNames(protocol)
    phase1 = phase1_subjects(adam["adsl"])
    with_dlt = dlt.subjects_with_dlt if dlt is not None else set()
    index = levels.of_subjects(phase1)
    patients = pd.DataFrame(
        {
            "subject": phase1["USUBJID"],
            "start": pd.to_datetime(phase1["TRTSDT"]),
            "dose_index": index.fillna(0).astype(int),
            "dlt": phase1["USUBJID"].isin(with_dlt),
            "cohort": phase1.get("COHORT", ""),
        }
    )
    names = [levels.full(i) for i in range(levels.names.n_doses)]
    return _png(lambda out: plot_dose_escalation(patients, names, out, protocol.dlt.window_days))


def waterfall_png(adam: ADaM) -> bytes | None:
    """Best % change of the target sum per measured patient, coloured by confirmed BOR."""
    adtr, adrs = adam.get("adtr"), adam.get("adrs")
    if adtr is None or adtr.empty or adrs is None:
        return None
    data = efficacy.waterfall_data(adtr, adrs, reference_date(adam["adsl"]))
    return _png(lambda out: plot_waterfall(data, out, primary_criteria(adrs)))


def spider_png(adam: ADaM) -> bytes | None:
    """% change of the target sum over time per patient."""
    adtr, adrs = adam.get("adtr"), adam.get("adrs")
    if adtr is None or adtr.empty or adrs is None:
        return None
    data = efficacy.spider_data(adtr, adrs, reference_date(adam["adsl"]))
    return _png(lambda out: plot_spider(data, out))


def swimmer_png(adam: ADaM, protocol: Protocol) -> bytes | None:
    """Time on treatment and on study per patient by dose level (None without ADRS)."""
    if "adrs" not in adam:
        return None
    lanes = efficacy.swimmer_lanes(adam["adsl"], adam["adrs"], LevelNames(protocol))
    return _png(lambda out: plot_swimmer(lanes, out))


@dataclass(frozen=True)
class Survival:
    """OS, PFS and duration of response: the report's table and each endpoint's fit."""

    table: pd.DataFrame
    fits: dict[str, KaplanMeier]


def survival(adam: ADaM) -> Survival | None:
    """The Kaplan–Meier table of :func:`oncotrial.report.efficacy.survival_table` (None
    without ADTTE)."""
    if "adtte" not in adam:
        return None
    table, fits = efficacy.survival_table(adam["adtte"])
    return Survival(table, fits)


def km_png(paramcd: str, fit: KaplanMeier) -> bytes:
    """One endpoint's Kaplan–Meier curve with its 95 % band (log scale) and numbers at risk."""
    return _png(
        lambda out: plot_km(
            {fit.label: fit},
            out,
            conf_int=True,
            risk_times=list(KM_RISK_MONTHS),
            xlabel="Months since first dose" if paramcd != "RSD" else "Months since first response",
            title=f"{fit.label} (Kaplan–Meier, 95 % CI log scale)",
            xmax=KM_XMAX,
        )
    )
