"""Reading SDTM TU and TR for the RECIST engine.

Every row is checked; problems are collected and raised together as :class:`DataError` (one) or
:class:`CombinedDataError` (several), each naming dataset, row (1-based), subject and column.

Conventions read here (SDTMIG TU/TR and the CDISC RECIST 1.1 disease-response supplement):

- TU ``TUTESTCD``: ``TUMIDENT`` identifies a lesion; ``TUSPLIT`` a fragment of a split lesion
  (``TULNKID`` ``<parent>.<n>``, e.g. ``T01.1``, or the parent in ``TUGRPID``); ``TUMERGE`` a
  lesion made of coalesced lesions (``TULNKID`` the constituents joined by ``/``, e.g.
  ``T02/T03``). Result (``TUSTRESC``, else ``TUORRES``): TARGET, NON-TARGET, NEW, NEW TARGET,
  NEW NON-TARGET.
- TR ``TRTESTCD``: ``LDIAM`` longest diameter; ``LPERP``/``SAXIS`` short axis (nodes);
  ``DIAMETER`` either, by location; ``TUMSTATE``/``LNSTATE`` qualitative state; the criteria's
  viable-tumour codes (mRECIST); summary tests (``SUMDIAM`` …) are ignored.
- ``TRSTAT = NOT DONE`` (or a result NE/NOT EVALUABLE) is a lesion not assessed;
  "TOO SMALL TO MEASURE" without a standardised number takes the criteria's default (5 mm);
  ABSENT as a diameter is 0 mm.
- States: non-target ABSENT, PRESENT, UNEQUIVOCAL (progression); new lesions EQUIVOCAL,
  UNEQUIVOCAL (or PRESENT, or a diameter > 0), ABSENT, UNEQUIVOCAL PROGRESSION (grown).
- One assessment = the TR results sharing a ``VISITNUM`` (the date when there is none); its
  date is its earliest scan. Baseline is the visit (else date) at which TU identified the target
  and non-target lesions. One result repeated for a lesion, test and assessment is counted once
  (and reported); two different results are an error.
- Evaluators (``TREVAL``/``TREVALID``, ``TUEVAL``/``TUEVALID``) are kept apart.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

import pandas as pd

from oncotrial.cdisc.dates import Imputation, PartialDate, parse_iso_date
from oncotrial.cdisc.errors import CombinedDataError, DataError
from oncotrial.cdisc.terms import (
    NOT_ASSESSED,
    STATES,
    TOO_SMALL,
    TR_SUMMARY_TESTS,
    TR_TESTS,
    TU_ROLES,
    TU_TESTS,
    UNITS,
    ZERO_WORDS,
)
from oncotrial.derive.recist_rules import Criteria

TU_REQUIRED = ("USUBJID", "TULNKID", "TUTESTCD", "TULOC")
TR_REQUIRED = ("USUBJID", "TRLNKID", "TRTESTCD", "TRDTC")

_NODE = re.compile(r"\bLYMPH\b|\bNODES?\b|\bNODAL\b", re.IGNORECASE)
_LIVER = re.compile(r"\bLIVER\b|\bHEPATIC\b|\bINTRAHEPATIC\b", re.IGNORECASE)
_PORTA = re.compile(r"\bPORTA\s+HEPATIS\b|\bHEPATIC\s+HILUM\b", re.IGNORECASE)
_EFFUSION = re.compile(
    r"\bEFFUSION\b|\bASCITES\b|\bPLEURAL\s+(CAVITY|FLUID)\b|\bPERITONEAL\s+(CAVITY|FLUID)\b",
    re.IGNORECASE,
)
_XRAY = re.compile(r"X-?RAY|RADIOGRAPH", re.IGNORECASE)

Key = tuple[str, str, str]  # USUBJID, evaluator, evaluator id


@dataclass
class Lesion:
    """One TU lesion of one subject and evaluator."""

    lnkid: str
    role: str  # T, NT, NEW, NEWT, NEWNT
    kind: str  # ident, split, merge
    loc: str  # TULOC and TULOCDTL, read for nodes, liver, porta hepatis, effusions
    method: str
    row: int
    site: str = ""  # TULOC alone: the organ
    parents: tuple[str, ...] = ()
    visitnum: float | None = None
    dtc: date | None = None

    @property
    def nodal(self) -> bool:
        return bool(_NODE.search(self.loc))

    @property
    def liver(self) -> bool:
        return bool(_LIVER.search(self.loc)) and not self.porta_hepatis

    @property
    def porta_hepatis(self) -> bool:
        return bool(_PORTA.search(self.loc))

    @property
    def effusion(self) -> bool:
        return bool(_EFFUSION.search(self.loc))

    @property
    def xray(self) -> bool:
        return bool(_XRAY.search(self.method))

    @property
    def organ(self) -> str:
        """The organ for the two-per-organ rule (§3.3.1): TULOC, laterality and detail ignored,
        all lymph nodes one organ (RECIST working group FAQ on paired organs)."""
        return "LYMPH NODE" if self.nodal else (self.site or self.loc).upper()

    @property
    def is_new(self) -> bool:
        return self.role in ("NEW", "NEWT", "NEWNT")


@dataclass
class Measurement:
    """One TR result: a diameter (``value``) or a state, or a lesion not assessed."""

    lnkid: str
    testcd: str
    kind: str  # long, short, diam, viable, state
    row: int
    value: float | None = None
    state: str | None = None
    assessed: bool = True
    too_small: bool = False
    visitnum: float | None = None
    visit: str = ""
    dtc: str = ""
    adt: date | None = None

    def same_result(self, other: Measurement) -> bool:
        return (self.value, self.state, self.assessed, self.too_small) == (
            other.value,
            other.state,
            other.assessed,
            other.too_small,
        )


@dataclass
class Finding:
    """A rule the data does not follow that does not stop the derivation."""

    usubjid: str
    evaluator: str
    evaluator_id: str
    lnkid: str
    check: str
    section: str
    message: str
    dataset: str = ""
    row: int | None = None


@dataclass
class Inputs:
    """TU and TR read and checked: lesions and measurements per subject and evaluator."""

    lesions: dict[Key, dict[str, Lesion]]
    measurements: dict[Key, list[Measurement]]
    studyid: dict[str, str]
    by_evaluator: bool
    findings: list[Finding] = field(default_factory=list)


class _Errors:
    def __init__(self) -> None:
        self.items: list[DataError] = []

    def add(
        self, message: str, dataset: str, row: int | None, subject: str | None, column: str
    ) -> None:
        self.items.append(
            DataError(message, dataset=dataset, subject=subject, row=row, column=column)
        )

    def raise_if_any(self) -> None:
        if len(self.items) == 1:
            raise self.items[0]
        if self.items:
            raise CombinedDataError(self.items)


def _text(frame: pd.DataFrame, column: str) -> list[str]:
    """A column as stripped text, missing values (NaN, None, NA) as ``""``."""
    if column not in frame.columns:
        return [""] * len(frame)
    values = frame[column]
    missing = values.isna().tolist()
    # element-wise: as fast as the vectorised form on the small frames of one subject's form
    return [
        "" if gone else str(v).strip() for v, gone in zip(values.tolist(), missing, strict=True)
    ]


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _visitnums(frame: pd.DataFrame, column: str, dataset: str, errors: _Errors) -> list:
    out: list[float | None] = []
    subjects = _text(frame, "USUBJID")
    for i, raw in enumerate(_text(frame, column)):
        if not raw:
            out.append(None)
            continue
        value = _number(raw)
        if value is None:
            errors.add(f"'{raw}' is not a visit number", dataset, i + 1, subjects[i], column)
        out.append(value)
    return out


def _check_columns(
    frame: pd.DataFrame, dataset: str, required: Iterable[str], any_of: tuple[str, ...]
) -> None:
    missing = [c for c in required if c not in frame.columns]
    if not any(c in frame.columns for c in any_of):
        missing.append(" or ".join(any_of))
    if missing:
        raise DataError(
            f"required column(s) missing: {', '.join(missing)}",
            dataset=dataset,
            column=missing[0],
        )


def read_inputs(
    tu: pd.DataFrame,
    tr: pd.DataFrame,
    criteria: Criteria,
    *,
    impute_partial_dates: Imputation = "none",
) -> Inputs:
    """Check TU and TR row by row and index them by subject and evaluator."""
    _check_columns(tu, "TU", TU_REQUIRED, ("TUSTRESC", "TUORRES"))
    _check_columns(tr, "TR", TR_REQUIRED, ("TRSTRESN", "TRSTRESC", "TRORRES"))
    errors = _Errors()
    tu_eval = "TUEVAL" in tu.columns
    tr_eval = "TREVAL" in tr.columns
    lesions = _read_tu(tu, errors, keep_evaluator=tu_eval and tr_eval)
    measurements, studyid = _read_tr(tr, criteria, errors, impute_partial_dates)
    errors.raise_if_any()
    inputs = Inputs(
        lesions=lesions,
        measurements=measurements,
        studyid=studyid,
        by_evaluator=tu_eval and tr_eval,
    )
    _link(inputs, errors)
    errors.raise_if_any()
    return inputs


def _read_tu(tu: pd.DataFrame, errors: _Errors, keep_evaluator: bool) -> dict:
    subjects = _text(tu, "USUBJID")
    lnkids = _text(tu, "TULNKID")
    tests = [t.upper() for t in _text(tu, "TUTESTCD")]
    stresc, orres = _text(tu, "TUSTRESC"), _text(tu, "TUORRES")
    locs = _text(tu, "TULOC")
    locdtl = _text(tu, "TULOCDTL")
    methods = _text(tu, "TUMETHOD")
    grpids = _text(tu, "TUGRPID")
    evals = _text(tu, "TUEVAL") if keep_evaluator else [""] * len(tu)
    evalids = _text(tu, "TUEVALID") if keep_evaluator else [""] * len(tu)
    visitnums = _visitnums(tu, "VISITNUM", "TU", errors)
    dtcs = _text(tu, "TUDTC")
    out: dict[Key, dict[str, Lesion]] = {}
    pending: list[tuple[Key, Lesion, str]] = []
    for i in range(len(tu)):
        row, subject = i + 1, subjects[i]
        if not subject:
            errors.add("USUBJID is missing", "TU", row, None, "USUBJID")
            continue
        if not lnkids[i]:
            errors.add("TULNKID is missing", "TU", row, subject, "TULNKID")
            continue
        kind = TU_TESTS.get(tests[i])
        if kind is None:
            errors.add(
                f"unknown TUTESTCD '{tests[i]}' (expected one of {', '.join(TU_TESTS)})",
                "TU",
                row,
                subject,
                "TUTESTCD",
            )
            continue
        result = (stresc[i] or orres[i]).upper()
        role = TU_ROLES.get(result)
        column = "TUSTRESC" if stresc[i] else "TUORRES"
        if role is None:
            errors.add(
                f"unknown tumour identification result '{result}' "
                f"(expected one of {', '.join(TU_ROLES)})",
                "TU",
                row,
                subject,
                column,
            )
            continue
        if kind != "ident" and role not in ("T", "NT"):
            errors.add(
                f"a {tests[i]} lesion must be TARGET or NON-TARGET, not '{result}'",
                "TU",
                row,
                subject,
                column,
            )
            continue
        dtc = None
        if dtcs[i]:
            try:
                parsed = parse_iso_date(dtcs[i])
            except ValueError as exc:
                errors.add(str(exc), "TU", row, subject, "TUDTC")
                continue
            dtc = parsed.impute("none") if parsed else None
        loc = " ".join(p for p in (locs[i], locdtl[i]) if p)
        lesion = Lesion(
            lnkid=lnkids[i],
            role=role,
            kind=kind,
            loc=loc,
            method=methods[i],
            row=row,
            site=locs[i],
            visitnum=visitnums[i],
            dtc=dtc,
        )
        key = (subject, evals[i], evalids[i])
        known = out.setdefault(key, {})
        previous = known.get(lesion.lnkid)
        if previous is not None:
            if (previous.role, previous.kind) != (role, kind):
                errors.add(
                    f"lesion {lesion.lnkid} is identified twice with different results "
                    f"(row {previous.row}: {previous.role}/{previous.kind})",
                    "TU",
                    row,
                    subject,
                    "TULNKID",
                )
            continue
        known[lesion.lnkid] = lesion
        pending.append((key, lesion, grpids[i]))
    for key, lesion, grpid in pending:
        known = out[key]
        if lesion.kind == "split":
            parent = lesion.lnkid.rsplit(".", 1)[0] if "." in lesion.lnkid else ""
            if parent not in known and grpid in known:
                parent = grpid
            if parent not in known or parent == lesion.lnkid:
                errors.add(
                    f"split fragment {lesion.lnkid}: its parent lesion (TULNKID prefix before "
                    "'.', or TUGRPID) was never identified",
                    "TU",
                    lesion.row,
                    key[0],
                    "TULNKID",
                )
                continue
            lesion.parents = (parent,)
        elif lesion.kind == "merge":
            parts = tuple(p.strip() for p in lesion.lnkid.split("/"))
            unknown = [p for p in parts if p not in known]
            if len(parts) < 2 or unknown:
                errors.add(
                    f"merged lesion {lesion.lnkid}: TULNKID must list at least two identified "
                    f"lesions joined by '/' (unknown: {', '.join(unknown) or 'none'})",
                    "TU",
                    lesion.row,
                    key[0],
                    "TULNKID",
                )
                continue
            lesion.parents = parts
    return out


def _read_tr(
    tr: pd.DataFrame, criteria: Criteria, errors: _Errors, impute: Imputation
) -> tuple[dict[Key, list[Measurement]], dict[str, str]]:
    subjects = _text(tr, "USUBJID")
    lnkids = _text(tr, "TRLNKID")
    tests = [t.upper() for t in _text(tr, "TRTESTCD")]
    stresn = _text(tr, "TRSTRESN")
    stresc, orres = _text(tr, "TRSTRESC"), _text(tr, "TRORRES")
    units = [u.upper() for u in _text(tr, "TRSTRESU")]
    stat = [s.upper() for s in _text(tr, "TRSTAT")]
    evals, evalids = _text(tr, "TREVAL"), _text(tr, "TREVALID")
    visits = _text(tr, "VISIT")
    visitnums = _visitnums(tr, "VISITNUM", "TR", errors)
    dtcs = _text(tr, "TRDTC")
    studyids = _text(tr, "STUDYID")
    kinds = dict(TR_TESTS)
    kinds.update({code.upper(): "viable" for code in criteria.viable_testcds})
    out: dict[Key, list[Measurement]] = {}
    studyid: dict[str, str] = {}
    for i in range(len(tr)):
        row, subject = i + 1, subjects[i]
        if not subject:
            errors.add("USUBJID is missing", "TR", row, None, "USUBJID")
            continue
        studyid.setdefault(subject, studyids[i])
        test = tests[i]
        if test in TR_SUMMARY_TESTS:
            continue
        kind = kinds.get(test)
        if kind is None:
            errors.add(
                f"unknown TRTESTCD '{test}' (expected one of {', '.join(sorted(kinds))}, or a "
                f"summary test {', '.join(sorted(TR_SUMMARY_TESTS))})",
                "TR",
                row,
                subject,
                "TRTESTCD",
            )
            continue
        if not lnkids[i]:
            errors.add("TRLNKID is missing", "TR", row, subject, "TRLNKID")
            continue
        m = Measurement(
            lnkid=lnkids[i],
            testcd=test,
            kind=kind,
            row=row,
            visitnum=visitnums[i],
            visit=visits[i],
            dtc=dtcs[i],
        )
        if not _read_date(m, subject, errors, impute):
            continue
        if stat[i] == "NOT DONE":
            m.assessed = False
        elif kind == "state":
            _read_state(m, stresc[i] or orres[i], subject, errors)
        else:
            _read_diameter(m, stresn[i], stresc[i], orres[i], units[i], criteria, subject, errors)
        if m.assessed and m.adt is None:
            errors.add(
                "a result without a date: TRDTC is required unless TRSTAT is NOT DONE",
                "TR",
                row,
                subject,
                "TRDTC",
            )
            continue
        out.setdefault((subject, evals[i], evalids[i]), []).append(m)
    return out, studyid


@lru_cache(maxsize=4096)
def _parse(text: str) -> PartialDate | str:
    try:
        parsed = parse_iso_date(text)
    except ValueError as exc:
        return str(exc)
    assert parsed is not None
    return parsed


def _read_date(m: Measurement, subject: str, errors: _Errors, impute: Imputation) -> bool:
    if not m.dtc:
        return True
    parsed = _parse(m.dtc)
    if isinstance(parsed, str):
        errors.add(parsed, "TR", m.row, subject, "TRDTC")
        return False
    m.adt = parsed.impute(impute)
    if m.adt is None:
        errors.add(
            f"partial date '{m.dtc}': a tumour assessment needs a complete date (YYYY-MM-DD) "
            "to be ordered against baseline and nadir; correct it or choose an imputation "
            "rule (impute_partial_dates='first'|'mid'|'last')",
            "TR",
            m.row,
            subject,
            "TRDTC",
        )
        return False
    return True


def _read_state(m: Measurement, raw: str, subject: str, errors: _Errors) -> None:
    text = raw.upper()
    if not text or text in NOT_ASSESSED:
        m.assessed = False
    elif text in STATES:
        m.state = text
    else:
        errors.add(
            f"unknown {m.testcd} result '{raw}' (expected one of {', '.join(sorted(STATES))})",
            "TR",
            m.row,
            subject,
            "TRSTRESC",
        )


def _read_diameter(
    m: Measurement,
    stresn: str,
    stresc: str,
    orres: str,
    unit: str,
    criteria: Criteria,
    subject: str,
    errors: _Errors,
) -> None:
    factor = 1.0
    if unit:
        if unit not in UNITS:
            errors.add(
                f"unit '{unit}' is not a length unit (mm or cm)", "TR", m.row, subject, "TRSTRESU"
            )
            return
        factor = UNITS[unit]
    number = _number(stresn) if stresn else None
    column = "TRSTRESN"
    if stresn and number is None:
        errors.add(f"TRSTRESN '{stresn}' is not a number", "TR", m.row, subject, column)
        return
    if number is None:
        text, column = (stresc, "TRSTRESC") if stresc else (orres, "TRORRES")
        word = text.upper()
        if not word or word in NOT_ASSESSED:
            m.assessed = False
            return
        if word in TOO_SMALL:
            m.too_small = True
            m.value = criteria.too_small_default_mm
            return
        if word in ZERO_WORDS:
            m.value = 0.0
            return
        number = _number(text)
        if number is None:
            errors.add(
                f"{m.testcd} result '{text}' is neither a number, TOO SMALL TO MEASURE, "
                "ABSENT nor NOT EVALUABLE",
                "TR",
                m.row,
                subject,
                column,
            )
            return
    else:
        m.too_small = orres.upper() in TOO_SMALL
    if number < 0:
        errors.add(f"negative diameter {number:g}", "TR", m.row, subject, column)
        return
    m.value = number * factor


def _link(inputs: Inputs, errors: _Errors) -> None:
    """Every TR lesion must be identified in TU for the same subject (and evaluator)."""
    for key, items in inputs.measurements.items():
        known = lesions_for(inputs, key)
        for m in items:
            if m.lnkid not in known:
                who = f" by evaluator {key[1]} {key[2]}".rstrip() if inputs.by_evaluator else ""
                errors.add(
                    f"lesion {m.lnkid} has results but was never identified in TU{who} "
                    "(not a baseline, NEW, split or merged lesion)",
                    "TR",
                    m.row,
                    key[0],
                    "TRLNKID",
                )


def lesions_for(inputs: Inputs, key: Key) -> dict[str, Lesion]:
    """The TU lesions that apply to one subject-evaluator group of TR."""
    return inputs.lesions.get(key if inputs.by_evaluator else (key[0], "", ""), {})
