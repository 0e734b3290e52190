"""The efficacy tables and figure data of the report: ORR and DCR by dose level, for the
expansion cohort at the RP2D and overall, by each response criteria (RECIST 1.1, mRECIST);
confirmed best overall response in clinical order; the Simon stage-1 result; duration of
response and survival by Kaplan–Meier; waterfall, spider and swimmer plot data.

Every number comes from the derivation layer run on the ADaM datasets
(:func:`oncotrial.derive.response.objective_response_rate`, ``best_percent_change``,
:func:`oncotrial.stats.survival.kaplan_meier`); this module arranges them for people.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from oncotrial.derive.response import (
    best_percent_change,
    disease_control_rate,
    objective_response_rate,
)
from oncotrial.derive.response_terms import terms_of_adrs
from oncotrial.report.formatting import (
    DAYS_PER_MONTH,
    RESPONSE_NAMES,
    LevelNames,
    km_median,
    pct,
    rate,
)
from oncotrial.report.population import ALL, level_groups
from oncotrial.stats.survival import KaplanMeier, kaplan_meier

LANDMARKS = (6, 12)


@dataclass(frozen=True)
class Stage1Result:
    """The Simon two-stage stage-1 analysis as the committee recorded it."""

    n1: int
    r1: int
    n: int
    responders: int
    subjects: list[str]
    analysis_date: str
    decision: str
    reason: str
    confirmed_by: str = ""
    criteria: str = "RECIST 1.1"
    #: where the count came from (e.g. the trial database as of the analysis date)
    source: str = ""


@dataclass
class EfficacyGroups:
    """The patient groups of the response tables: each dose level, the expansion cohort at
    the RP2D (phase II patients) and all patients."""

    rows: list[tuple[str, list[str]]] = field(default_factory=list)

    @classmethod
    def of(cls, adsl: pd.DataFrame, levels: LevelNames, rp2d: int | None) -> EfficacyGroups:
        index = levels.of_subjects(adsl)
        rows = [
            (levels.full(level), adsl.loc[index.eq(level).to_numpy(), "USUBJID"].tolist())
            for level in levels.present(index)
        ]
        phase = adsl.get("PHASE", pd.Series("", index=adsl.index)).astype(str)
        expansion = adsl.loc[phase.eq("II").to_numpy(), "USUBJID"].tolist()
        if expansion:
            at = f" at the RP2D, {levels.full(rp2d)}" if rp2d is not None else ""
            rows.append((f"Expansion cohort (phase II){at}", expansion))
        rows.append((ALL, adsl["USUBJID"].tolist()))
        return cls(rows)


def response_rates_table(
    adrs_by_criteria: dict[str, pd.DataFrame], groups: EfficacyGroups
) -> pd.DataFrame:
    """Rows: the groups; columns: N, then confirmed ORR and DCR (exact 95 % CI) by each
    criteria (RECIST 1.1 §4.6: confirmation required in non-randomised trials)."""
    data: dict[str, list[str]] = {"N": [str(len(ids)) for _, ids in groups.rows]}
    for name, adrs in adrs_by_criteria.items():
        for label, measure in (("ORR", objective_response_rate), ("DCR", disease_control_rate)):
            cells = []
            for _, ids in groups.rows:
                p = measure(adrs, subjects=ids)
                cells.append(rate(p.x, p.n, p.lower, p.upper))
            data[f"{label}, {name}"] = cells
    return pd.DataFrame(data, index=[name for name, _ in groups.rows])


def best_response_table(adrs: pd.DataFrame, adsl: pd.DataFrame, levels: LevelNames) -> pd.DataFrame:
    """Confirmed best overall response (CBOR; ICBOR under iRECIST) by dose level and overall,
    rows in clinical order with clinical names; CR, PR, SD, PD and NE (RECIST 1.1 §4.4; their
    iRECIST counterparts) are always shown, other codes when they occur."""
    terms = terms_of_adrs(adrs)
    cbor = adrs[adrs["PARAMCD"].eq(terms.paramcd("CBOR"))].set_index("USUBJID")["AVALC"]
    shown = {terms.cr, terms.pr, terms.sd, terms.pd, terms.ne, terms.unconfirmed_pd}
    codes = [c for c in RESPONSE_NAMES if c in shown | set(cbor.dropna())]
    data = {}
    for name, members in level_groups(adsl, levels):
        best = cbor.reindex(members["USUBJID"])
        data[name] = [pct(int(best.eq(code).sum()), len(members)) for code in codes]
    return pd.DataFrame(data, index=[RESPONSE_NAMES[c] for c in codes])


def stage1_table(stage1: Stage1Result, adrs: pd.DataFrame) -> pd.DataFrame:
    """The stage-1 rule and its result as recorded, and the same patients' confirmed
    responses at the data cut (from ADRS)."""
    final = objective_response_rate(adrs, subjects=stage1.subjects)
    rows = {
        "Stage-1 patients (n1)": str(stage1.n1),
        "Rule: continue to stage 2 when more than r1 respond": f"r1 = {stage1.r1}",
        "Total sample size if stage 2 is enrolled (n)": str(stage1.n),
        f"Confirmed responders at the stage-1 analysis ({stage1.analysis_date})": (
            f"{stage1.responders}/{stage1.n1}"
        ),
        "Decision": stage1.decision,
        "Confirmed responders among them at the data cut": rate(
            final.x, final.n, final.lower, final.upper
        ),
    }
    if stage1.confirmed_by:
        rows["Confirmed by"] = stage1.confirmed_by
    if stage1.source:
        rows["Computed from"] = stage1.source
    return pd.DataFrame({"": list(rows.values())}, index=list(rows))


def _km(adtte: pd.DataFrame, paramcd: str, label: str) -> KaplanMeier | None:
    data = adtte[adtte["PARAMCD"].eq(paramcd)]
    if data.empty:
        return None
    return kaplan_meier(
        pd.to_numeric(data["AVAL"]).to_numpy() / DAYS_PER_MONTH,
        (pd.to_numeric(data["CNSR"]) == 0).to_numpy(),
        label=label,
    )


def _landmark(fit: KaplanMeier, months: float) -> str:
    point = fit.at([months])[0]
    if point is None or np.isnan(point.surv):
        return "—"
    return f"{100 * point.surv:.1f} % ({100 * point.lower:.1f}–{100 * point.upper:.1f})"


KM_ENDPOINTS = {
    "OS": "Overall survival",
    "PFS": "Progression-free survival",
    "RSD": "Duration of response",
}


def survival_table(adtte: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, KaplanMeier]]:
    """OS, PFS and duration of response (responders): patients, events, median with 95 % CI
    (R ``survfit`` log scale, median CI by inverting the pointwise band) and the 6- and
    12-month rates, in months."""
    rows, fits = {}, {}
    for paramcd, label in KM_ENDPOINTS.items():
        fit = _km(adtte, paramcd, label)
        if fit is None:
            continue
        median = fit.median()
        rows[label] = {
            "Patients": str(fit.n),
            "Events": str(int(fit.events)),
            "Median, months (95 % CI)": km_median(median.time, median.lower, median.upper),
            **{f"{m}-month rate (95 % CI)": _landmark(fit, m) for m in LANDMARKS},
        }
        fits[paramcd] = fit
    return pd.DataFrame.from_dict(rows, orient="index"), fits


def summary_rows(table: pd.DataFrame) -> list[dict[str, Any]]:
    """The survival table as plain dicts for the command's JSON summary."""
    return [{"endpoint": name, **row} for name, row in table.to_dict("index").items()]


def waterfall_data(adtr: pd.DataFrame, adrs: pd.DataFrame, reference_date: str) -> pd.DataFrame:
    """Each measured patient's best % change of the target sum
    (:func:`~oncotrial.derive.response.best_percent_change`) with their confirmed BOR."""
    best = best_percent_change(adtr, reference_date=reference_date)
    terms = terms_of_adrs(adrs)
    cbor = adrs[adrs["PARAMCD"].eq(terms.paramcd("CBOR"))].set_index("USUBJID")["AVALC"]
    return pd.DataFrame(
        {
            "subject": best["USUBJID"],
            "best_pchg": best["PCHG"],
            "bor": best["USUBJID"].map(cbor),
        }
    )


def spider_data(adtr: pd.DataFrame, adrs: pd.DataFrame, reference_date: str) -> pd.DataFrame:
    """% change of the target sum at every analysed post-baseline assessment, in weeks from
    the reference date, with the confirmed BOR."""
    post = adtr[adtr["ABLFL"].ne("Y") & adtr["ANL01FL"].eq("Y")].dropna(subset=["PCHG"])
    terms = terms_of_adrs(adrs)
    cbor = adrs[adrs["PARAMCD"].eq(terms.paramcd("CBOR"))].set_index("USUBJID")["AVALC"]
    weeks = (pd.to_datetime(post["ADT"]) - pd.to_datetime(post[reference_date])).dt.days / 7
    return pd.DataFrame(
        {
            "subject": post["USUBJID"],
            "week": weeks,
            "pchg": pd.to_numeric(post["PCHG"]),
            "bor": post["USUBJID"].map(cbor),
        }
    )


def swimmer_lanes(adsl: pd.DataFrame, adrs: pd.DataFrame, levels: LevelNames) -> pd.DataFrame:
    """One lane per patient: dose level (0-based and its name), months on treatment and on
    study, first confirmed response, first progression and death (months), ongoing."""
    start = pd.to_datetime(adsl["TRTSDT"])
    end_trt = pd.to_datetime(adsl.get("TRTEDT", adsl["TRTSDT"]))
    last = pd.to_datetime(adsl.get("LSTALVDT", adsl.get("TRTEDT")))
    death = pd.to_datetime(adsl.get("DTHDT", pd.Series(pd.NaT, index=adsl.index)))
    index = levels.of_subjects(adsl)
    lanes = pd.DataFrame(
        {
            "subject": adsl["USUBJID"],
            "level": index,
            "dose": [levels.full(int(i)) if not pd.isna(i) else "" for i in index],
            "on_treatment": ((end_trt - start).dt.days / DAYS_PER_MONTH).clip(lower=0),
            "on_study": ((death.fillna(last) - start).dt.days / DAYS_PER_MONTH).clip(lower=0),
            "death": (death - start).dt.days / DAYS_PER_MONTH,
            "ongoing": death.isna()
            & adsl.get("EOTSTT", pd.Series("", index=adsl.index)).eq("ONGOING"),
        }
    )
    terms = terms_of_adrs(adrs)
    first = start.set_axis(adsl["USUBJID"])
    for base, column in (("CRSP", "response"), ("PD", "progression")):
        code = terms.paramcd(base) if base != "PD" else terms.progression_paramcd
        rows = adrs[adrs["PARAMCD"].eq(code) & adrs["AVALC"].eq("Y")]
        when = (pd.to_datetime(rows["ADT"]) - rows["USUBJID"].map(first)).dt.days
        lanes[column] = lanes["subject"].map(
            pd.Series((when / DAYS_PER_MONTH).to_numpy(), index=rows["USUBJID"])
        )
    return lanes
