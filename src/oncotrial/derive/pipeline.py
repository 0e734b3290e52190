"""All ADaM datasets of a study from its SDTM domains, in dependency order.

ADSL (derived, or a sponsor's) → tumour response per visit (the investigator's RS, or the
RECIST engine's from TU/TR when there is no RS) → ADRS → ADTTE; ADTR (target sums) from TU/TR;
ADAB from IS; ADEX from EX; ADAE from AE; a derived ADSL also gets the disposition variables
from DS. Each step is one function of the derivation layer; this module only
wires them and collects the notes (imputations, records left out) for the user.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from oncotrial.derive.ada import ada_samples, ada_subject_status, adab_parameters
from oncotrial.derive.adsl import ONCOLOGY_ALIVE_SOURCES, derive_adsl
from oncotrial.derive.disposition import derive_disposition
from oncotrial.derive.exposure import derive_adex
from oncotrial.derive.recist import evaluate_recist, rs_from_timepoints
from oncotrial.derive.response import ResponseWindows, derive_adrs
from oncotrial.derive.response_terms import category_matches, terms_for
from oncotrial.derive.safety import derive_adae
from oncotrial.derive.tte import derive_adtte


@dataclass
class DerivedStudy:
    """The ADaM datasets by lower-case name (``adsl``, ``adrs`` …) and what was noted."""

    datasets: dict[str, pd.DataFrame] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    response_source: str = ""
    reference_date: str = ""


def _has_overall_response(rs: pd.DataFrame | None, criteria: str) -> bool:
    """RS holds overall responses by ``criteria`` (by its ``RSCAT``; blank counts for any)."""
    if rs is None or "RSTESTCD" not in rs.columns:
        return False
    overall = rs["RSTESTCD"].eq("OVRLRESP")
    if "RSCAT" in rs.columns:
        overall &= category_matches(rs["RSCAT"], terms_for(criteria))
    return bool(overall.any())


def adtr_from_timepoints(timepoints: pd.DataFrame, adsl: pd.DataFrame) -> pd.DataFrame:
    """ADTR-shaped sum-of-diameters records (PARAMCD ``SDIAM``) from the RECIST engine's
    time points, one baseline record per subject and evaluator (admiralonco ``ad_adtr.R``
    layout: AVAL, BASE, CHG, PCHG, NADIR, ABLFL, ANL01FL)."""
    columns = ["USUBJID", "RSEVAL", "VISIT", "VISITNUM", "ADT", "SUMDIAM", "BASESUM", "NADIR"]
    data = timepoints[columns].copy()
    rows = []
    for (subject, evaluator), group in data.groupby(["USUBJID", "RSEVAL"], sort=False):
        base = group["BASESUM"].dropna()
        if base.empty:
            continue
        rows.append(
            {
                "USUBJID": subject,
                "EVAL": evaluator,
                "AVISIT": "BASELINE",
                "AVISITN": 0.0,
                "ADT": pd.NaT,
                "AVAL": float(base.iloc[0]),
                "ABLFL": "Y",
                "ANL01FL": "",
            }
        )
        for _, tp in group.iterrows():
            rows.append(
                {
                    "USUBJID": subject,
                    "EVAL": evaluator,
                    "AVISIT": tp["VISIT"],
                    "AVISITN": float(pd.to_numeric(tp["VISITNUM"], errors="coerce")),
                    "ADT": tp["ADT"],
                    "AVAL": tp["SUMDIAM"],
                    "NADIR": tp["NADIR"],
                    "ABLFL": "",
                    "ANL01FL": "Y" if pd.notna(tp["SUMDIAM"]) else "",
                }
            )
    adtr = pd.DataFrame(rows)
    if adtr.empty:
        return adtr
    adtr.insert(1, "PARAMCD", "SDIAM")
    adtr.insert(2, "PARAM", "Target Lesions Sum of Diameters by Investigator")
    base = adtr.loc[adtr["ABLFL"].eq("Y"), ["USUBJID", "EVAL", "AVAL"]]
    adtr = adtr.merge(base.rename(columns={"AVAL": "BASE"}), on=["USUBJID", "EVAL"])
    adtr["CHG"] = adtr["AVAL"] - adtr["BASE"]
    adtr["PCHG"] = 100.0 * adtr["CHG"] / adtr["BASE"]
    keep = [c for c in ("STUDYID", "USUBJID", "TRTSDT", "RANDDT") if c in adsl.columns]
    return adsl[keep].merge(adtr, on="USUBJID", how="right")


def _finding_texts(findings: pd.DataFrame) -> list[str]:
    """One line per RECIST baseline-selection finding (they never stop the derivation)."""
    if findings is None or findings.empty:
        return []
    text = "MESSAGE" if "MESSAGE" in findings.columns else findings.columns[-1]
    subject = findings["USUBJID"] if "USUBJID" in findings.columns else [""] * len(findings)
    return [f"{s}: {m}" for s, m in zip(subject, findings[text], strict=True)]


def derive_study(
    domains: Mapping[str, pd.DataFrame],
    adsl: pd.DataFrame | None = None,
    *,
    criteria: str = "recist1.1",
    evaluator: str = "INVESTIGATOR",
    use_investigator_response: bool = True,
    impute_partial_dates: str = "none",
    sd_min_days: int = 42,
) -> DerivedStudy:
    """Every ADaM dataset the domains allow (see the module docstring).

    The reference date of response windows and time to event is RANDDT, or TRTSDT when no
    subject has a randomisation date (single-arm studies such as the seed study).
    """
    out = DerivedStudy()
    sdtm = {k.lower(): v for k, v in domains.items()}
    if adsl is None:
        # last-known-alive from every dated record, tumour assessments included, as OS
        # censoring in oncology needs (admiral's template uses AE, LB and TRTEDT only)
        adsl = derive_adsl(sdtm, alive_sources=ONCOLOGY_ALIVE_SOURCES)
        if "ds" in sdtm:
            adsl = derive_disposition(adsl, sdtm["ds"])
        out.notes.append("ADSL derived from SDTM (no --adsl given)")
    out.datasets["adsl"] = adsl
    has_rand = "RANDDT" in adsl.columns and adsl["RANDDT"].notna().any()
    reference = "RANDDT" if has_rand else "TRTSDT"
    out.reference_date = reference
    if not has_rand:
        out.notes.append("no randomisation dates: response windows and times start at TRTSDT")
    timepoints = None
    if "tu" in sdtm and "tr" in sdtm:
        result = evaluate_recist(
            sdtm["tu"],
            sdtm["tr"],
            criteria,
            impute_partial_dates=impute_partial_dates,  # type: ignore[arg-type]
        )
        timepoints = result.timepoints
        out.notes += [f"RECIST: {f}" for f in _finding_texts(result.findings)]
        adtr = adtr_from_timepoints(timepoints, adsl)
        if not adtr.empty:
            out.datasets["adtr"] = adtr
    rs = sdtm.get("rs")
    if use_investigator_response and _has_overall_response(rs, criteria):
        out.response_source = "investigator (SDTM RS)"
    elif timepoints is not None:
        rs = rs_from_timepoints(timepoints)
        out.response_source = f"computed from TU/TR ({criteria})"
    else:
        rs = None
    if rs is not None:
        windows = ResponseWindows(reference_date=reference, sd_min_days=sd_min_days)
        adrs = derive_adrs(
            rs, adsl, sdtm.get("tu"), evaluator=evaluator, windows=windows, criteria=criteria
        )
        out.datasets["adrs"] = adrs.data
        out.notes += [f"ADRS: {n.message}" for n in adrs.notes]
        adtte = derive_adtte(adsl, adrs.data, start_date=reference)
        out.datasets["adtte"] = adtte.data
        out.notes += [f"ADTTE: {n.message}" for n in adtte.notes]
    if "is" in sdtm:
        samples = ada_samples(sdtm["is"], adsl)
        status = ada_subject_status(samples)
        out.datasets["adab"] = adab_parameters(samples, status)
    if "ex" in sdtm:
        adex = derive_adex(sdtm["ex"], adsl)
        out.datasets["adex"] = adex.data
        out.notes += [f"ADEX: {n.message}" for n in adex.notes]
    if "ae" in sdtm:
        ae = sdtm["ae"]
        grade = "AETOXGR" if "AETOXGR" in ae.columns else "AESEV"
        if grade == "AESEV":
            out.notes.append("AE has no AETOXGR: grades from AESEV (mild 1, moderate 2, severe 3)")
        out.datasets["adae"] = derive_adae(ae, adsl, grade=grade)
    return out
