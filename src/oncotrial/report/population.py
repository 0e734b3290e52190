"""The study population tables of the report: enrolment, demographics and baseline
characteristics, disposition and exposure, each by dose level (the protocol's names) and for
all patients. Inputs are ADSL and ADEX as derived by :mod:`oncotrial.derive`."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from oncotrial.protocol.model import Protocol
from oncotrial.report.formatting import (
    DAYS_PER_MONTH,
    LevelNames,
    group_header,
    median_range,
    pct,
)

ALL = "All patients"
PHASES = {"I": "Phase I (dose escalation)", "II": "Phase II (expansion)"}


def level_groups(
    adsl: pd.DataFrame, levels: LevelNames, *, total: bool = True
) -> list[tuple[str, pd.DataFrame]]:
    """(column name, subjects) for each dose level with patients, in dose order, and for all
    patients: "L2, donafenib 200 mg bid (N = 12)"."""
    index = levels.of_subjects(adsl)
    groups = []
    for level in levels.present(index):
        members = adsl[index.eq(level).to_numpy()]
        groups.append((group_header(levels.full(level), len(members)), members))
    if total:
        groups.append((group_header(ALL, len(adsl)), adsl))
    return groups


def _summary(
    adsl: pd.DataFrame,
    levels: LevelNames,
    rows: Sequence[tuple[str, Callable[[pd.DataFrame], str]]],
) -> pd.DataFrame:
    groups = level_groups(adsl, levels)
    data = {name: [cell(members) for _, cell in rows] for name, members in groups}
    return pd.DataFrame(data, index=[label for label, _ in rows])


def _count(column: str, value: str) -> Callable[[pd.DataFrame], str]:
    def cell(members: pd.DataFrame) -> str:
        hits = members[column].astype(str).str.upper().eq(value.upper()).sum()
        return pct(int(hits), len(members))

    return cell


def _sentence(text: str) -> str:
    """ "LOST TO FOLLOW-UP" → "Lost to follow-up"."""
    text = str(text).strip()
    return text[:1].upper() + text[1:].lower() if text else text


def enrolment_table(adsl: pd.DataFrame, levels: LevelNames) -> pd.DataFrame:
    """Patients treated by dose level (rows, then all) and phase (columns, then total)."""
    index = levels.of_subjects(adsl)
    phase = adsl.get("PHASE", pd.Series("", index=adsl.index)).astype(str)
    columns = [p for p in PHASES if phase.eq(p).any()]
    rows = {}
    for level in levels.present(index):
        at = index.eq(level).to_numpy()
        rows[levels.full(level)] = [int((phase[at] == p).sum()) for p in columns] + [int(at.sum())]
    rows[ALL] = [int(phase.eq(p).sum()) for p in columns] + [len(adsl)]
    return pd.DataFrame.from_dict(
        rows, orient="index", columns=[PHASES[p] for p in columns] + ["Total"]
    )


def demographics_table(adsl: pd.DataFrame, levels: LevelNames) -> pd.DataFrame:
    """Age, sex, race and the HCC baseline characteristics the data hold (aetiology, BCLC
    stage, Child-Pugh class), by dose level."""
    age = pd.to_numeric(adsl.get("AGE"), errors="coerce")
    rows: list[tuple[str, Callable[[pd.DataFrame], str]]] = [
        ("Age, years: median (range)", lambda m: median_range(age.loc[m.index])),
        ("Age ≥ 65 years", lambda m: pct(int((age.loc[m.index] >= 65).sum()), len(m))),
    ]
    categories = (
        ("SEX", "Sex", {"M": "male", "F": "female"}),
        ("RACE", "Race", None),
        (
            "ETIOLOGY",
            "Aetiology",
            {"HBV": "hepatitis B", "HCV": "hepatitis C", "NON-VIRAL": "non-viral"},
        ),
        ("BCLC", "BCLC stage", None),
        ("CPCLASS", "Child-Pugh class", None),
    )
    for column, title, words in categories:
        if column not in adsl.columns:
            continue
        for value in sorted(v for v in adsl[column].dropna().astype(str).unique() if v):
            name = (words or {}).get(value, _sentence(value) if len(value) > 3 else value)
            rows.append((f"{title}: {name}", _count(column, value)))
    return _summary(adsl, levels, rows)


def disposition_table(adsl: pd.DataFrame, levels: LevelNames) -> pd.DataFrame:
    """Treatment ongoing/discontinued (with reasons) and study completed/discontinued (with
    reasons) at the data cut, from ADSL ``EOTSTT``, ``DCTREAS``, ``EOSSTT``, ``DCSREAS``."""
    rows: list[tuple[str, Callable[[pd.DataFrame], str]]] = []
    if "EOTSTT" in adsl.columns:
        rows.append(("Treatment ongoing at the data cut", _count("EOTSTT", "ONGOING")))
        rows.append(("Treatment completed", _count("EOTSTT", "COMPLETED")))
        rows.append(("Treatment discontinued", _count("EOTSTT", "DISCONTINUED")))
        for reason in sorted(v for v in adsl["DCTREAS"].dropna().astype(str).unique() if v):
            rows.append((f"– {_sentence(reason)}", _count("DCTREAS", reason)))
    if "EOSSTT" in adsl.columns:
        rows.append(("Study completed", _count("EOSSTT", "COMPLETED")))
        rows.append(("In follow-up at the data cut", _count("EOSSTT", "ONGOING")))
        rows.append(("Discontinued from the study", _count("EOSSTT", "DISCONTINUED")))
        if "DCSREAS" in adsl.columns:
            for reason in sorted(v for v in adsl["DCSREAS"].dropna().astype(str).unique() if v):
                rows.append((f"– {_sentence(reason)}", _count("DCSREAS", reason)))
    return _summary(adsl, levels, rows)


def exposure_table(
    adex: pd.DataFrame, adsl: pd.DataFrame, levels: LevelNames, protocol: Protocol
) -> pd.DataFrame:
    """Per drug of the protocol: treatment period (months), total dose (mg), dose intensity
    (mg/day) and relative dose intensity (%) of each oral drug, patients with a dose adjusted,
    and infusions of each infused drug, by dose level (ADEX overall parameters)."""
    overall = adex[adex["PARCAT1"].eq("OVERALL")]
    rows: list[tuple[str, Callable[[pd.DataFrame], str]]] = []
    for drug in protocol.drugs:
        mine = overall[overall["EXTRT"].astype(str).str.upper().eq(drug.name.upper())]
        if mine.empty:
            continue
        value = mine.pivot_table(index="USUBJID", columns="PARAMCD", values="AVAL", aggfunc="first")
        flags = mine[mine["PARAMCD"].eq("TADJ")].set_index("USUBJID")["AVALC"]

        def stat(code: str, scale: float = 1.0, digits: int = 1, _v=value):
            def cell(m: pd.DataFrame) -> str:
                if code not in _v.columns:
                    return "—"
                return median_range(_v[code].reindex(m["USUBJID"]) * scale, digits)

            return cell

        def adjusted(m: pd.DataFrame, _f=flags) -> str:
            return pct(int(_f.reindex(m["USUBJID"]).eq("Y").sum()), len(m))

        name = drug.name
        if "NADMIN" in value.columns and value["NADMIN"].notna().any():
            rows += [
                (f"{name}: infusions, median (range)", stat("NADMIN")),
                (f"{name}: total dose, mg, median (range)", stat("TDOSE")),
            ]
            continue
        rows += [
            (
                f"{name}: treatment period, months, median (range)",
                stat("TRTDURD", 1 / DAYS_PER_MONTH),
            ),
            (f"{name}: total dose, mg, median (range)", stat("TDOSE", digits=0)),
            (f"{name}: dose intensity, mg/day, median (range)", stat("DOSINT")),
            (f"{name}: relative dose intensity, %, median (range)", stat("RDI")),
            (f"{name}: dose reduced", adjusted),
        ]
    return _summary(adsl[adsl["USUBJID"].isin(overall["USUBJID"])], levels, rows)


def median_followup_text(adtte: pd.DataFrame) -> tuple[str, float] | None:
    """Median follow-up by the reverse Kaplan–Meier method on OS (months)."""
    from oncotrial.stats.survival import median_followup

    os_rows = adtte[adtte["PARAMCD"].eq("OS")]
    if os_rows.empty:
        return None
    fu = median_followup(
        pd.to_numeric(os_rows["AVAL"]).to_numpy() / DAYS_PER_MONTH,
        (pd.to_numeric(os_rows["CNSR"]) == 0).to_numpy(),
    )
    value = float(fu.time)
    return ("not reached" if np.isnan(value) else f"{value:.1f} months"), value
