"""The safety and immunogenicity tables of the report: DLTs of phase I (one source: the
protocol's DLT definition applied to ADAE by :func:`oncotrial.derive.safety.evaluate_dlt`),
treatment-emergent AEs by category and worst grade, listings of serious AEs and deaths, and
anti-drug antibody incidence — by dose level with the protocol's names."""

from __future__ import annotations

import pandas as pd

from oncotrial.derive.ada import ada_incidence, ada_samples, ada_subject_status
from oncotrial.derive.safety import ae_grade_table, ae_overview, dlt_summary, evaluate_dlt
from oncotrial.protocol.model import Protocol
from oncotrial.report.formatting import DAYS_PER_MONTH, LevelNames, pct, rate
from oncotrial.report.population import ALL, level_groups

LEVEL = "_LEVEL"
#: Clinical names of the AE overview categories of :func:`oncotrial.derive.safety.ae_overview`.
OVERVIEW_NAMES = {
    "Any AE": "Any treatment-emergent AE",
    "Grade >= 3": "Grade ≥ 3",
    "Serious": "Serious",
    "Leading to discontinuation": "Leading to discontinuation of treatment",
    "Treatment-related": "Treatment-related",
    "Treatment-related grade >= 3": "Treatment-related grade ≥ 3",
    "Grade 5 (fatal)": "Grade 5 (fatal)",
}
ADA_NAMES = {
    "baseline ADA positive": "ADA positive at baseline",
    "treatment-emergent ADA": "Treatment-emergent ADA",
    "treatment-induced ADA": "Treatment-induced ADA",
    "treatment-boosted ADA": "Treatment-boosted ADA",
    "persistent ADA": "Persistent ADA",
    "transient ADA": "Transient ADA",
    "neutralising ADA": "Neutralising ADA",
}


def with_levels(adsl: pd.DataFrame, levels: LevelNames) -> pd.DataFrame:
    """ADSL with ``_LEVEL``: the column name of each subject's dose level group."""
    out = adsl.copy()
    names = {}
    for name, members in level_groups(adsl, levels, total=False):
        names.update(dict.fromkeys(members["USUBJID"], name))
    out[LEVEL] = out["USUBJID"].map(names).fillna("")
    return out


def _columns(adsl: pd.DataFrame, levels: LevelNames) -> list[str]:
    return [name for name, _ in level_groups(adsl, levels)]


def dlt_evaluation(adae: pd.DataFrame, protocol: Protocol) -> pd.DataFrame:
    """Every AE judged by the protocol's DLT definition (``DLTFL`` …): the one source of DLT
    status for the table, the listing and the escalation figure."""
    return evaluate_dlt(adae, protocol.dlt)


def dlt_table(dlt: pd.DataFrame, phase1: pd.DataFrame, levels: LevelNames) -> pd.DataFrame:
    """Per dose level of phase I: patients treated, DLT-evaluable, with a DLT, pending review."""
    data = with_levels(phase1, levels)
    summary = dlt_summary(dlt, data, group=LEVEL).set_index(LEVEL)
    order = [name for name, _ in level_groups(phase1, levels, total=False)]
    summary = summary.reindex(order)
    return pd.DataFrame(
        {
            "Patients treated": summary["N"].astype(int).astype(str).to_numpy(),
            "DLT-evaluable": summary["n_evaluable"].astype(int).astype(str).to_numpy(),
            "Patients with a DLT": [
                pct(int(d), int(e))
                for d, e in zip(summary["n_dlt"], summary["n_evaluable"], strict=True)
            ],
            "Patients with AEs pending committee review": summary["n_review"]
            .astype(int)
            .astype(str)
            .to_numpy(),
        },
        index=[n.rsplit(" (N\u00a0=", 1)[0] for n in order],
    )


def dlt_listing(dlt: pd.DataFrame, phase1: pd.DataFrame, levels: LevelNames) -> pd.DataFrame:
    """One row per DLT: subject, dose level, event, grade, day of onset, criterion met."""
    flagged = dlt[dlt["DLTFL"].eq("Y") & dlt["USUBJID"].isin(phase1["USUBJID"])]
    index = levels.of_subjects(phase1).set_axis(phase1["USUBJID"])
    return pd.DataFrame(
        {
            "Subject": flagged["USUBJID"].to_numpy(),
            "Dose level": [levels.full(int(index[s])) for s in flagged["USUBJID"]],
            "Adverse event": flagged["AEDECOD"].to_numpy(),
            "CTCAE grade": pd.to_numeric(flagged["ATOXGRN"]).astype(int).astype(str).to_numpy(),
            "Day of onset": flagged["DLTDY"].astype(int).astype(str).to_numpy(),
            "DLT criterion": flagged["DLTREAS"].to_numpy(),
        }
    )


def dlt_subjects(dlt: pd.DataFrame) -> set[str]:
    return set(dlt.loc[dlt["DLTFL"].eq("Y"), "USUBJID"])


def ae_overview_table(adae: pd.DataFrame, adsl: pd.DataFrame, levels: LevelNames) -> pd.DataFrame:
    """Patients with at least one treatment-emergent AE of each category, by dose level."""
    data = with_levels(adsl, levels)
    long = ae_overview(adae, data, group=LEVEL)
    long["group"] = long["group"].replace({"Total": _columns(adsl, levels)[-1]})
    long["cell"] = [pct(int(r.n), int(r.N)) for r in long.itertuples()]
    wide = long.pivot(index="category", columns="group", values="cell")
    wide = wide.reindex(index=list(OVERVIEW_NAMES), columns=_columns(adsl, levels))
    wide.index = [OVERVIEW_NAMES[c] for c in wide.index]
    wide.columns.name = None
    return wide


def ae_grade_table_by_level(
    adae: pd.DataFrame, adsl: pd.DataFrame, levels: LevelNames, top: int = 25
) -> pd.DataFrame:
    """Preferred terms (most frequent first, the ``top`` of them) × dose level: patients with
    the term at any grade and at grade ≥ 3 (worst grade per patient)."""
    data = with_levels(adsl, levels)
    long = ae_grade_table(adae, data, group=LEVEL)
    total = _columns(adsl, levels)[-1]
    long["group"] = long["group"].replace({"Total": total})
    terms = long[long["AEDECOD"].ne("") & long["grade"].isin(["any", ">=3"])]
    overall = terms[terms["AEDECOD"].eq("Any")]
    terms = terms[terms["AEDECOD"].ne("Any")]
    ranking = (
        terms[(terms["group"] == total) & (terms["grade"] == "any")]
        .sort_values(["n", "AEDECOD"], ascending=[False, True], kind="mergesort")["AEDECOD"]
        .drop_duplicates()
        .tolist()[:top]
    )
    columns = [
        (group, grade, f"{group.rsplit(' (N', 1)[0]}: {label}")
        for group in _columns(adsl, levels)
        for grade, label in (("any", "any grade"), (">=3", "grade ≥ 3"))
    ]
    rows = {}
    for label, part in (("Any adverse event", overall), *((t, terms) for t in ranking)):
        cells = []
        for group, grade, _ in columns:
            hit = part[
                (part["group"] == group)
                & (part["grade"] == grade)
                & (part["AEDECOD"] == ("Any" if label == "Any adverse event" else label))
            ]
            n = int(hit["n"].sum()) if len(hit) else 0
            size = int(hit["N"].iloc[0]) if len(hit) else 0
            cells.append(pct(n, size) if len(hit) else "0")
        rows[label] = cells
    return pd.DataFrame.from_dict(rows, orient="index", columns=[c for _, _, c in columns])


def serious_ae_listing(adae: pd.DataFrame, adsl: pd.DataFrame, levels: LevelNames) -> pd.DataFrame:
    """Every serious AE: subject, dose level, event, grade, study day of onset, relationship,
    action taken, outcome."""
    serious = adae[adae["AESER"].astype(str).str.upper().eq("Y")].sort_values(["USUBJID", "ASTDT"])
    index = levels.of_subjects(adsl).set_axis(adsl["USUBJID"])
    return pd.DataFrame(
        {
            "Subject": serious["USUBJID"].to_numpy(),
            "Dose level": [levels.full(int(index[s])) for s in serious["USUBJID"]],
            "Adverse event": serious["AEDECOD"].to_numpy(),
            "CTCAE grade": pd.to_numeric(serious["ATOXGRN"]).astype(int).astype(str).to_numpy(),
            "Study day of onset": serious["ASTDY"].astype(int).astype(str).to_numpy(),
            "Related to treatment": serious["AEREL"].str.capitalize().to_numpy(),
            "Action taken": serious["AEACN"].str.capitalize().to_numpy(),
            "Outcome": serious["AEOUT"].str.capitalize().to_numpy(),
        }
    )


def death_listing(adsl: pd.DataFrame, adtte: pd.DataFrame, levels: LevelNames) -> pd.DataFrame:
    """Every death: subject, dose level, date, study day and months from the first dose, days
    after the last dose, and whether progression (PFS event by progression) came first."""
    dead = adsl[adsl["DTHDT"].notna()].sort_values("DTHDT")
    pfs = adtte[adtte["PARAMCD"].eq("PFS")].set_index("USUBJID")
    progressed = pfs["EVNTDESC"].astype(str).str.contains("Progression")
    death = pd.to_datetime(dead["DTHDT"])
    first, last = pd.to_datetime(dead["TRTSDT"]), pd.to_datetime(dead["TRTEDT"])
    index = levels.of_subjects(dead)
    return pd.DataFrame(
        {
            "Subject": dead["USUBJID"].to_numpy(),
            "Dose level": [levels.full(int(i)) for i in index],
            "Date of death": death.dt.strftime("%Y-%m-%d").to_numpy(),
            "Study day": ((death - first).dt.days + 1).astype(str).to_numpy(),
            "Months from first dose": ((death - first).dt.days / DAYS_PER_MONTH)
            .map("{:.1f}".format)
            .to_numpy(),
            "Days after the last dose": (death - last).dt.days.astype(str).to_numpy(),
            "Progression before death": [
                "Yes" if progressed.get(s, False) else "No" for s in dead["USUBJID"]
            ],
        }
    )


def ada_table(
    sdtm_is: pd.DataFrame, adsl: pd.DataFrame, levels: LevelNames
) -> tuple[pd.DataFrame, list[dict]]:
    """Incidence of each ADA measure with exact 95 % CIs by dose level and overall (Shankar et
    al. 2014 denominators), from one evaluation of the samples; and the overall rows."""
    data = with_levels(adsl, levels)
    status = ada_subject_status(ada_samples(sdtm_is, adsl))
    status = status.merge(data[["USUBJID", LEVEL]], on="USUBJID", how="left")
    by_level = ada_incidence(status, by=LEVEL)
    overall = ada_incidence(status).assign(group=_columns(adsl, levels)[-1])
    both = pd.concat([by_level, overall], ignore_index=True)
    both["cell"] = [rate(int(r.x), int(r.n), r.lower, r.upper) for r in both.itertuples()]
    wide = both.pivot(index="measure", columns="group", values="cell")
    wide = wide.reindex(index=list(ADA_NAMES), columns=_columns(adsl, levels)).fillna("—")
    wide.index = [ADA_NAMES[m] for m in wide.index]
    wide.columns.name = None
    return wide, overall.drop(columns=["cell"], errors="ignore").to_dict(orient="records")


__all__ = [
    "ALL",
    "ada_table",
    "ae_grade_table_by_level",
    "ae_overview_table",
    "death_listing",
    "dlt_evaluation",
    "dlt_listing",
    "dlt_subjects",
    "dlt_table",
    "serious_ae_listing",
]
