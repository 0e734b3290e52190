"""RECIST 1.1 time-point responses from lesion measurements (SDTM TU + TR), with iRECIST and
mRECIST as alternative :class:`Criteria` of the same engine.

Why: the investigator's visit responses (RS) are what admiral-style BOR derivations consume;
computing them from the measurements checks the investigator and gives a central, reproducible
read. The output of :func:`rs_from_timepoints` has the shape of SDTM RS so the downstream BOR
derivation can consume computed responses like the investigator's.

Rules, by section of Eisenhauer et al. 2009 (RECIST 1.1):

- §3.1, §3.3.1 baseline: measurable lesions (≥ 10 mm, nodes ≥ 15 mm short axis), at most five
  targets and two per organ; violations are reported by :func:`recist_findings`, not raised.
- §4.3.1 target response (sum of diameters, nodes by short axis; CR, PR ≥ 30 % below baseline,
  PD ≥ 20 % and ≥ 5 mm above the nadir, SD; NE unless the assessed lesions already show PD;
  too small to measure = 5 mm; split lesions summed, merged lesions counted once).
- §4.3.2 non-target response; §4.3.3 new lesions (equivocal ones become PD only when confirmed,
  then dated from the first observation); §4.4.1 Tables 1 and 2 (``TABLE1``, ``TABLE2``).
- iRECIST (Seymour et al. 2017): iUPD/iCPD with confirmation 4-8 weeks later, reset on a later
  iSD/iPR/iCR. A "further increase" of non-target or new non-target disease is read from a
  progression state (``UNEQUIVOCAL`` for non-target lesions, ``UNEQUIVOCAL PROGRESSION`` for new
  lesions) at the confirming assessment.
- mRECIST (Lencioni & Llovet 2010): intrahepatic targets by viable-tumour diameter; the
  non-target ``TUMSTATE`` of a liver lesion is read as its arterial enhancement (ABSENT = none
  left); PD ≥ 20 % over the nadir without the 5 mm minimum; porta hepatis nodes ≥ 20 mm; new
  or growing effusion/ascites counts only when cytology proves it (``cytology_confirmed``); a
  new liver nodule is HCC at ≥ 10 mm with the typical pattern, or after ≥ 10 mm growth.

Input conventions are described in :mod:`oncotrial.derive.recist_input`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from oncotrial.derive.dates import Imputation
from oncotrial.derive.errors import CombinedDataError, DataError
from oncotrial.derive.recist_engine import Row, SubjectEngine
from oncotrial.derive.recist_input import Finding, lesions_for, read_inputs
from oncotrial.derive.recist_rules import (
    IRECIST,
    MRECIST,
    RECIST11,
    TABLE1,
    TABLE1_ROWS,
    TABLE2,
    TABLE2_ROWS,
    Criteria,
    get_criteria,
    is_partial_response,
    is_progression,
    nontarget_response,
    overall_response,
    target_response,
)

__all__ = [
    "IRECIST",
    "MRECIST",
    "RECIST11",
    "TABLE1",
    "TABLE1_ROWS",
    "TABLE2",
    "TABLE2_ROWS",
    "TIMEPOINT_COLUMNS",
    "FINDING_COLUMNS",
    "Criteria",
    "RecistResult",
    "evaluate_recist",
    "get_criteria",
    "is_partial_response",
    "is_progression",
    "nontarget_response",
    "overall_response",
    "recist_findings",
    "recist_timepoints",
    "rs_from_timepoints",
    "target_response",
]

#: Columns of :func:`recist_timepoints` (sums in mm, changes in %).
TIMEPOINT_COLUMNS = (
    "STUDYID",
    "USUBJID",
    "RSEVAL",
    "RSEVALID",
    "CRITERIA",
    "VISITNUM",
    "VISIT",
    "RSDTC",
    "ADT",
    "BASESUM",
    "SUMDIAM",
    "NADIR",
    "ACNSD",
    "PCBSD",
    "PCNSD",
    "TRGRESP",
    "NTRGRESP",
    "NEWLIND",
    "NEWLPROG",
    "OVRLRESP",
    "REASON",
)

#: Columns of :func:`recist_findings`.
FINDING_COLUMNS = (
    "USUBJID",
    "RSEVAL",
    "RSEVALID",
    "LNKID",
    "CHECK",
    "SECTION",
    "MESSAGE",
    "DATASET",
    "ROW",
)

_RS_TESTS = {
    "TRGRESP": "Target Response",
    "NTRGRESP": "Non-target Response",
    "NEWLIND": "New Lesion Indicator",
    "NEWLPROG": "New Lesion Progression",
    "OVRLRESP": "Overall Response",
}


@dataclass(frozen=True)
class RecistResult:
    """Time-point responses and the findings (rule violations that did not stop the
    derivation: target selection, repeated records …)."""

    timepoints: pd.DataFrame
    findings: pd.DataFrame


def evaluate_recist(
    tu: pd.DataFrame,
    tr: pd.DataFrame,
    criteria: str | Criteria = "recist1.1",
    *,
    impute_partial_dates: Imputation = "none",
    cytology_confirmed: pd.DataFrame | None = None,
) -> RecistResult:
    """Time-point responses and findings from SDTM TU and TR.

    ``criteria``: ``"recist1.1"``, ``"irecist"``, ``"mrecist"`` or a :class:`Criteria`.
    ``impute_partial_dates``: partial ``TRDTC`` are rejected (``"none"``) unless a documented
    imputation rule is chosen (see :mod:`oncotrial.derive.dates`).
    ``cytology_confirmed``: rows ``USUBJID``, ``TULNKID`` of effusions/ascites proven
    neoplastic by cytology (mRECIST counts them as progression only then).
    Raises :class:`DataError` (or :class:`CombinedDataError`) naming dataset, row, subject and
    column for input that cannot be derived from.
    """
    crit = get_criteria(criteria)
    inputs = read_inputs(tu, tr, crit, impute_partial_dates=impute_partial_dates)
    cytology = _cytology(cytology_confirmed)
    findings: list[Finding] = []
    errors: list[DataError] = []
    records: list[dict] = []
    keys = set(inputs.measurements)
    measured_subjects = {key[0] for key in keys}
    for key in inputs.lesions:
        if key not in keys and (inputs.by_evaluator or key[0] not in measured_subjects):
            keys.add(key)  # identified but never measured: the selection checks still apply
    for key in sorted(keys):
        engine = SubjectEngine(
            key,
            lesions_for(inputs, key),
            inputs.measurements.get(key, []),
            crit,
            cytology.get(key[0], set()),
            findings,
            errors,
        )
        for row in engine.run():
            records.append(_record(inputs.studyid.get(key[0], ""), key, crit, row))
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise CombinedDataError(errors)
    timepoints = pd.DataFrame.from_records(records, columns=list(TIMEPOINT_COLUMNS))
    timepoints["ADT"] = pd.to_datetime(timepoints["ADT"])
    for column in ("VISITNUM", "BASESUM", "SUMDIAM", "NADIR", "ACNSD", "PCBSD", "PCNSD"):
        timepoints[column] = timepoints[column].astype(float)
    found = pd.DataFrame.from_records(
        [
            (
                f.usubjid,
                f.evaluator,
                f.evaluator_id,
                f.lnkid,
                f.check,
                f.section,
                f.message,
                f.dataset,
                f.row,
            )
            for f in findings
        ],
        columns=list(FINDING_COLUMNS),
    )
    timepoints.attrs["findings"] = found
    return RecistResult(timepoints, found)


def recist_timepoints(
    tu: pd.DataFrame,
    tr: pd.DataFrame,
    criteria: str | Criteria = "recist1.1",
    *,
    impute_partial_dates: Imputation = "none",
    cytology_confirmed: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per subject, evaluator and follow-up assessment (columns
    :data:`TIMEPOINT_COLUMNS`), in time order.

    ``RSEVAL``/``RSEVALID`` come from ``TREVAL``/``TREVALID``; ``VISITNUM``, ``VISIT`` and
    ``RSDTC`` (the collected date text of the assessment's earliest scan; ``ADT`` the date) place
    it. ``BASESUM`` is the baseline sum of diameters, ``SUMDIAM`` this one (missing when a target
    lesion was not assessed), ``NADIR`` the smallest earlier sum including baseline (the
    reference for PD), ``ACNSD`` the change from it in mm, ``PCBSD``/``PCNSD`` the % change
    from baseline/nadir. ``TRGRESP``, ``NTRGRESP`` (empty without such disease), ``NEWLIND``
    (Y/N), ``NEWLPROG`` (UNEQUIVOCAL/EQUIVOCAL/N) and ``OVRLRESP`` use SDTM RS terms (iCR,
    iUPD, iCPD … under iRECIST; NED when there was no disease at baseline); ``REASON`` says
    why in words. The findings are in ``.attrs["findings"]``; see :func:`evaluate_recist` for
    the arguments."""
    return evaluate_recist(
        tu,
        tr,
        criteria,
        impute_partial_dates=impute_partial_dates,
        cytology_confirmed=cytology_confirmed,
    ).timepoints


def recist_findings(
    tu: pd.DataFrame,
    tr: pd.DataFrame,
    criteria: str | Criteria = "recist1.1",
    *,
    impute_partial_dates: Imputation = "none",
) -> pd.DataFrame:
    """The investigator's baseline selection checked against §3.1/§3.3.1 (too many targets,
    more than two per organ, lesions too small to be targets, nodes below 15 mm …) and other
    data notes, one row each (columns :data:`FINDING_COLUMNS`)."""
    return evaluate_recist(tu, tr, criteria, impute_partial_dates=impute_partial_dates).findings


def rs_from_timepoints(
    timepoints: pd.DataFrame,
    *,
    tests: Iterable[str] = ("TRGRESP", "NTRGRESP", "NEWLIND", "NEWLPROG", "OVRLRESP"),
    studyid: str | None = None,
) -> pd.DataFrame:
    """SDTM RS-shaped rows from :func:`recist_timepoints`, so computed responses can go where
    the investigator's go (e.g. ``RSTESTCD == "OVRLRESP"`` into a BOR derivation).

    Columns: STUDYID, DOMAIN, USUBJID, RSSEQ, RSTESTCD, RSTEST, RSCAT, RSORRES, RSSTRESC,
    RSEVAL, RSEVALID, VISITNUM, VISIT, RSDTC. Empty responses (no target or non-target disease)
    give no row; ``NEWLPROG`` is written only when a new lesion is present (``NEWLIND = Y``).
    """
    tests = list(tests)
    unknown = [t for t in tests if t not in _RS_TESTS]
    if unknown:
        raise ValueError(f"unknown RS test(s) {unknown}; expected some of {list(_RS_TESTS)}")
    missing = [
        c for c in ("USUBJID", "VISITNUM", "VISIT", "RSDTC", *tests) if c not in timepoints.columns
    ]
    if missing:
        raise DataError(
            f"required column(s) missing: {', '.join(missing)}",
            dataset="timepoints",
            column=missing[0],
        )
    rows: list[dict] = []
    for record in timepoints.to_dict("records"):
        for test in tests:
            value = record.get(test)
            if not isinstance(value, str) or not value:
                continue
            if test == "NEWLPROG" and record.get("NEWLIND") != "Y":
                continue
            rows.append(
                {
                    "STUDYID": studyid if studyid is not None else record.get("STUDYID", ""),
                    "DOMAIN": "RS",
                    "USUBJID": record["USUBJID"],
                    "RSTESTCD": test,
                    "RSTEST": _RS_TESTS[test],
                    "RSCAT": record.get("CRITERIA", ""),
                    "RSORRES": value,
                    "RSSTRESC": value,
                    "RSEVAL": record.get("RSEVAL", ""),
                    "RSEVALID": record.get("RSEVALID", ""),
                    "VISITNUM": record["VISITNUM"],
                    "VISIT": record["VISIT"],
                    "RSDTC": record["RSDTC"],
                }
            )
    columns = [
        "STUDYID",
        "DOMAIN",
        "USUBJID",
        "RSSEQ",
        "RSTESTCD",
        "RSTEST",
        "RSCAT",
        "RSORRES",
        "RSSTRESC",
        "RSEVAL",
        "RSEVALID",
        "VISITNUM",
        "VISIT",
        "RSDTC",
    ]
    rs = pd.DataFrame.from_records(rows, columns=[c for c in columns if c != "RSSEQ"])
    rs.insert(3, "RSSEQ", rs.groupby("USUBJID").cumcount() + 1 if len(rs) else [])
    return rs[columns]


def _record(studyid: str, key: tuple[str, str, str], crit: Criteria, row: Row) -> dict:
    total, nadir, base = row.total, row.nadir, row.base
    return {
        "STUDYID": studyid,
        "USUBJID": key[0],
        "RSEVAL": key[1],
        "RSEVALID": key[2],
        "CRITERIA": crit.name,
        "VISITNUM": np.nan if row.visitnum is None else row.visitnum,
        "VISIT": row.visit,
        "RSDTC": row.dtc,
        "ADT": pd.NaT if row.adt is None else pd.Timestamp(row.adt),
        "BASESUM": np.nan if base is None else base,
        "SUMDIAM": np.nan if total is None else total,
        "NADIR": np.nan if nadir is None else nadir,
        "ACNSD": np.nan if total is None or nadir is None else total - nadir,
        "PCBSD": np.nan if total is None or not base else 100.0 * (total - base) / base,
        "PCNSD": np.nan if total is None or not nadir else 100.0 * (total - nadir) / nadir,
        "TRGRESP": row.trgresp,
        "NTRGRESP": row.ntrgresp,
        "NEWLIND": row.newlind,
        "NEWLPROG": row.newlprog,
        "OVRLRESP": row.ovrlresp,
        "REASON": row.reason,
    }


def _cytology(frame: pd.DataFrame | None) -> dict[str, set[str]]:
    if frame is None:
        return {}
    missing = [c for c in ("USUBJID", "TULNKID") if c not in frame.columns]
    if missing:
        raise DataError(
            f"required column(s) missing: {', '.join(missing)}",
            dataset="cytology_confirmed",
            column=missing[0],
        )
    out: dict[str, set[str]] = {}
    for subject, lnkid in zip(frame["USUBJID"], frame["TULNKID"], strict=True):
        out.setdefault(str(subject), set()).add(str(lnkid))
    return out
