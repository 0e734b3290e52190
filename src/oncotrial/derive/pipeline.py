"""All ADaM datasets of a study from its SDTM domains, in dependency order.

First the input checks — :func:`oncotrial.cdisc.study.check_study`, the very edit checks the
trial store runs at entry and on import, so ``derive`` and ``db import`` accept and refuse the
same data with the same words. Then ADSL (derived, or a sponsor's; a derived ADSL also gets the
disposition variables from DS) → tumour response per visit (the investigator's RS for the
requested criteria, or the RECIST engine's from TU/TR when there is none) → ADRS → ADTTE; ADTR
(target sums) from TU/TR; ADAB from IS; ADEX from EX; ADAE from AE. Each step is one function of
the derivation layer; this module only wires them and collects the notes (imputations, records
left out, checks' warnings) for the user.

The analysis settings (:class:`AnalysisSettings`: response criteria, the minimum duration of
stable disease, plausible ranges) come from the protocol by :func:`analysis_settings`, the one
function ``derive --protocol`` and ``report`` both use.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from oncotrial.cdisc.checks import CheckSettings, overridable
from oncotrial.cdisc.dates import Imputation
from oncotrial.cdisc.errors import Finding, errors_of, raise_all
from oncotrial.cdisc.frames import text_rows, text_values
from oncotrial.cdisc.plausibility import DEFAULT_PLAUSIBILITY, Plausibility
from oncotrial.cdisc.study import check_study
from oncotrial.derive.ada import ada_samples, ada_subject_status, adab_parameters
from oncotrial.derive.adsl import ONCOLOGY_ALIVE_SOURCES, derive_adsl
from oncotrial.derive.disposition import derive_disposition
from oncotrial.derive.exposure import derive_adex
from oncotrial.derive.io import with_numeric_columns
from oncotrial.derive.recist import evaluate_recist, rs_from_timepoints
from oncotrial.derive.response import ResponseWindows, derive_adrs, derive_adrs_from_lesions
from oncotrial.derive.response_terms import category_matches, terms_for
from oncotrial.derive.safety import derive_adae
from oncotrial.derive.tte import derive_adtte
from oncotrial.protocol.model import Protocol

#: RECIST 1.1 §4.4 leaves the minimum duration of stable disease to the protocol; 6 weeks (the
#: first scheduled reassessment of most studies) is the default without one.
DEFAULT_SD_MIN_DAYS = 42


@dataclass(frozen=True)
class AnalysisSettings:
    """How the study is analysed: response criteria (when responses are computed from lesion
    measurements), the minimum duration of stable disease for best overall response, the
    evaluator whose responses count, whether the investigator's RS is used when present, the
    imputation of partial tumour-assessment dates, and the plausible ranges of the input
    checks; ``source`` says where they come from."""

    criteria: str = "recist1.1"
    sd_min_days: int = DEFAULT_SD_MIN_DAYS
    evaluator: str = "INVESTIGATOR"
    use_investigator_response: bool = True
    impute_partial_dates: Imputation = "none"
    plausibility: Plausibility = DEFAULT_PLAUSIBILITY
    secondary_criteria: tuple[str, ...] = ()
    source: str = "defaults"

    def check_settings(self) -> CheckSettings:
        """What the input checks need of these settings."""
        imputed = frozenset({"TRDTC"}) if self.impute_partial_dates != "none" else frozenset()
        return CheckSettings(plausibility=self.plausibility, imputed_partial_dates=imputed)

    def describe(self) -> list[str]:
        """The settings as lines a reader understands (printed by ``derive``)."""
        return [
            f"response criteria: {self.criteria}",
            f"stable disease counts from day {self.sd_min_days} (RECIST 1.1 §4.4)",
            f"evaluator: {self.evaluator}; investigator's RS used when present: "
            f"{'yes' if self.use_investigator_response else 'no'}",
            f"partial tumour-assessment dates: {self.impute_partial_dates}",
            "responses also read by: "
            + (", ".join(self.secondary_criteria) if self.secondary_criteria else "none"),
            f"plausible ranges: {self.plausibility.source}",
            *(f"  {line}" for line in self.plausibility.describe()),
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "criteria": self.criteria,
            "sd_min_days": self.sd_min_days,
            "evaluator": self.evaluator,
            "use_investigator_response": self.use_investigator_response,
            "impute_partial_dates": self.impute_partial_dates,
            "secondary_criteria": list(self.secondary_criteria),
            "plausibility": {
                name: {"low": r.low, "high": r.high, "unit": r.unit, "source": r.source}
                for name, r in self.plausibility.ranges.items()
            },
        }


def analysis_settings(protocol: Protocol | None = None, **changes: Any) -> AnalysisSettings:
    """The analysis settings of ``protocol`` (``schedule.response_criteria``,
    ``schedule.sd_minimum_days``, its ``plausibility`` block), or the defaults without one;
    ``changes`` (not None) replace single settings, e.g. a command-line option.

    Example
    -------
    >>> analysis_settings().sd_min_days
    42
    """
    settings = AnalysisSettings()
    if protocol is not None:
        settings = replace(
            settings,
            criteria=protocol.schedule.response_criteria,
            sd_min_days=protocol.schedule.sd_minimum_days,
            plausibility=(
                protocol.plausibility.ranges() if protocol.plausibility else DEFAULT_PLAUSIBILITY
            ),
            secondary_criteria=secondary_criteria(protocol),
            source=f"protocol {protocol.study.id}",
        )
    given = {k: v for k, v in changes.items() if v is not None}
    if given:
        settings = replace(settings, **given)
    return settings


def secondary_criteria(protocol: Protocol) -> tuple[str, ...]:
    """Criteria the lesions are also read by, besides the primary one: mRECIST for
    hepatocellular carcinoma, whose intrahepatic lesions are measured as viable tumour
    (Lencioni & Llovet 2010, Semin Liver Dis 30:52)."""
    condition = (protocol.study.condition or "").lower()
    hcc = "hepatocellular" in condition or "hcc" in condition.split()
    primary = protocol.schedule.response_criteria
    return ("mrecist",) if hcc and primary != "mrecist" else ()


@dataclass
class DerivedStudy:
    """The ADaM datasets by lower-case name (``adsl``, ``adrs`` …) and what was noted: notes
    of the derivations, the input checks' warnings and the error findings accepted by an
    override (``findings``), the settings used."""

    datasets: dict[str, pd.DataFrame] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    response_source: str = ""
    reference_date: str = ""
    findings: list[Finding] = field(default_factory=list)
    overridden: list[Finding] = field(default_factory=list)
    settings: AnalysisSettings = field(default_factory=AnalysisSettings)


def check_input(
    domains: Mapping[str, pd.DataFrame],
    adsl: pd.DataFrame | None = None,
    *,
    settings: AnalysisSettings | None = None,
    overrides: Collection[str] = (),
) -> tuple[list[Finding], list[Finding]]:
    """The edit checks of the trial store on SDTM ``domains`` (any case of key): raises
    :class:`~oncotrial.cdisc.errors.DataError` (one) or
    :class:`~oncotrial.cdisc.errors.CombinedDataError` (several) for every error finding not
    accepted by ``overrides`` (rule names, or "all"); returns (warnings, overridden)."""
    settings = settings or AnalysisSettings()
    rows: dict[str, list] = {}
    columns: dict[str, list[str]] = {}
    for name, frame in domains.items():
        columns[name.upper()], rows[name.upper()] = text_rows(frame)
    known = None if adsl is None or "USUBJID" not in adsl else text_values(adsl["USUBJID"])
    findings = check_study(
        rows,
        columns=columns,
        settings=settings.check_settings(),
        known_subjects=None if known is None else known.tolist(),
    )
    errors = errors_of(findings)
    refused = [f for f in errors if not overridable(f.rule, overrides)]
    raise_all([f.as_error() for f in refused])
    return [f for f in findings if f.severity == "warning"], errors


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
    settings: AnalysisSettings | None = None,
    overrides: Collection[str] = (),
    checked: bool = False,
    criteria: str | None = None,
    evaluator: str | None = None,
    use_investigator_response: bool | None = None,
    impute_partial_dates: str | None = None,
    sd_min_days: int | None = None,
) -> DerivedStudy:
    """Every ADaM dataset the domains allow (see the module docstring), with ``settings``
    (default: :func:`analysis_settings` without a protocol); the keyword settings replace
    single ones. ``overrides`` accepts error findings of the input checks by rule name;
    ``checked`` skips the input checks, for data that passed them on entering the trial store.

    The reference date of response windows and time to event is RANDDT, or TRTSDT when no
    subject has a randomisation date (single-arm studies such as the seed study).
    """
    settings = replace(
        settings or AnalysisSettings(),
        **{
            k: v
            for k, v in {
                "criteria": criteria,
                "evaluator": evaluator,
                "use_investigator_response": use_investigator_response,
                "impute_partial_dates": impute_partial_dates,
                "sd_min_days": sd_min_days,
            }.items()
            if v is not None
        },
    )
    out = DerivedStudy(settings=settings)
    if not checked:
        out.findings, out.overridden = check_input(
            domains, adsl, settings=settings, overrides=overrides
        )
    sdtm = {k.lower(): with_numeric_columns(v) for k, v in domains.items()}
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
            settings.criteria,
            impute_partial_dates=settings.impute_partial_dates,
        )
        timepoints = result.timepoints
        out.notes += [f"RECIST: {f}" for f in _finding_texts(result.findings)]
        adtr = adtr_from_timepoints(timepoints, adsl)
        if not adtr.empty:
            out.datasets["adtr"] = adtr
    rs = sdtm.get("rs")
    if settings.use_investigator_response and _has_overall_response(rs, settings.criteria):
        out.response_source = "investigator (SDTM RS)"
    elif timepoints is not None:
        rs = rs_from_timepoints(timepoints)
        out.response_source = f"computed from TU/TR ({settings.criteria})"
    else:
        rs = None
    if rs is not None:
        windows = ResponseWindows(reference_date=reference, sd_min_days=settings.sd_min_days)
        adrs = derive_adrs(
            rs,
            adsl,
            sdtm.get("tu"),
            evaluator=settings.evaluator,
            windows=windows,
            criteria=settings.criteria,
        )
        out.datasets["adrs"] = adrs.data
        out.notes += [f"ADRS: {n.message}" for n in adrs.notes]
        adtte = derive_adtte(adsl, adrs.data, start_date=reference)
        out.datasets["adtte"] = adtte.data
        out.notes += [f"ADTTE: {n.message}" for n in adtte.notes]
    if "tu" in sdtm and "tr" in sdtm:
        windows = ResponseWindows(reference_date=reference, sd_min_days=settings.sd_min_days)
        for criteria in settings.secondary_criteria:
            secondary = derive_adrs_from_lesions(
                sdtm["tu"], sdtm["tr"], adsl, criteria=criteria, windows=windows
            )
            out.datasets[f"adrs_{criteria}"] = secondary.data
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
