"""Safety: adverse-event analysis dates, treatment-emergent flags, worst grades, dose-limiting
toxicities (DLT) from the protocol's DLT definition, and AE summaries by dose level.

Rules and their references:

* Analysis dates follow pharmaverse admiral's ADAE template (``inst/templates/ad_adae.R``,
  ``derive_vars_dtm``): a start date missing its day or month is imputed to the first day
  (month), but never before the first-dose date ``TRTSDT`` when the partial date allows it;
  an end date is imputed to the last day (month), but never after death (``DTHDT``) or end of
  study (``EOSDT``) when the partial date allows it. A missing year is not imputed. Imputation
  flags: ``ASTDTF``/``AENDTF`` = "D" (day) or "M" (month and day); ``ASTTMF``/``AENTMF`` = "H",
  "M" or "S" for the first time part imputed (start 00:00:00, end 23:59:59).
* Treatment-emergent (admiral ``derive_var_trtemfl``): not flagged without a first dose or when
  the AE ended before it; flagged when the start is unknown, when it starts on or after the
  first dose and no later than ``end_window_days`` after the last dose, or (with an initial
  grade) when it started before the first dose and worsened, or (with an episode group) when a
  later record of a pre-existing episode worsened on treatment.
* Worst grade: the first occurrence of the highest grade per subject (and per term / SOC),
  ordered by grade (descending), start, sequence number (admiral ``AOCCIFL``).
* DLT: :func:`evaluate_dlt` applies a :class:`~oncotrial.protocol.model.DltDefinition` to each
  AE in the DLT window (first dose + ``window_days``; day 1 is the first-dose day).

CTCAE grades must be integers 1-5 (CTCAE v5.0); anything else raises :class:`DataError`.
Character flags use ``"Y"`` and ``""`` for missing (as the pharmaverse CSVs).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

import numpy as np
import pandas as pd

from oncotrial.cdisc.dates import ImputedDatetime, impute_datetime, parse_dtc
from oncotrial.cdisc.errors import DataError, raise_all
from oncotrial.cdisc.frames import (
    analysis_datetimes,
    check_duplicates,
    check_subjects_known,
    is_missing,
    require_columns,
    text_values,
    unique_subjects,
)
from oncotrial.cdisc.terms import NOT_RELATED, RELATED, SEVERITY_GRADES, ctcae_grade
from oncotrial.protocol.model import DltCriterion, DltDefinition

#: ``AEACN`` values meaning the AE led to treatment discontinuation (CDISC CT).
DISCONTINUATION = frozenset({"DRUG WITHDRAWN"})

#: CTCAE v5.0 haematologic terms outside the "Blood and lymphatic system disorders" SOC
#: (Investigations: blood counts and coagulation).
HAEMATOLOGIC_TERMS = frozenset(
    {
        "Neutrophil count decreased",
        "Platelet count decreased",
        "White blood cell decreased",
        "Lymphocyte count decreased",
        "Lymphocyte count increased",
        "CD4 lymphocytes decreased",
        "Hemoglobin increased",
        "Haptoglobin decreased",
        "Fibrinogen decreased",
        "INR increased",
        "Activated partial thromboplastin time prolonged",
        "Anemia",
        "Febrile neutropenia",
    }
)
HAEMATOLOGIC_SOC = "Blood and lymphatic system disorders"
#: CTCAE v5.0 hepatic laboratory terms (Investigations) besides the "Hepatobiliary disorders" SOC.
HEPATIC_TERMS = frozenset(
    {
        "Aspartate aminotransferase increased",
        "Alanine aminotransferase increased",
        "Blood bilirubin increased",
        "Alkaline phosphatase increased",
        "GGT increased",
    }
)
HEPATIC_SOC = "Hepatobiliary disorders"


def normalise_term(term: str) -> str:
    """A term for matching: case-folded, British spellings mapped to CTCAE's American ones
    (``ae``/``oe`` → ``e``: Diarrhoea = Diarrhea, Anaemia = Anemia, Oedema = Edema)."""
    text = " ".join(str(term).split()).casefold()
    return text.replace("ae", "e").replace("oe", "e")


# ---------------------------------------------------------------------------------------------
# input helpers


def _adsl_dates(adsl: pd.DataFrame, column: str) -> pd.Series:
    """An ADSL date column (ISO text or typed dates; the time is ignored) by USUBJID; NaT
    where missing. Partial or impossible dates raise :class:`DataError`."""
    subjects = unique_subjects(adsl)
    if column not in adsl.columns:
        return pd.Series(pd.NaT, index=subjects.to_numpy(), dtype="datetime64[s]")
    days = analysis_datetimes(adsl, column, "ADSL", date_only=True).astype("datetime64[s]")
    return pd.Series(days, index=subjects.to_numpy())


def parse_grades(
    values: pd.Series,
    *,
    dataset: str = "AE",
    column: str = "AETOXGR",
    subjects: pd.Series | None = None,
) -> np.ndarray:
    """CTCAE grades as floats (NaN where missing). Anything other than an integer 1-5 raises
    :class:`DataError` naming every bad row (CTCAE v5.0 defines grades 1-5 only)."""
    out = np.full(len(values), np.nan)
    errors = []
    for i, raw in enumerate(values.tolist()):
        if is_missing(raw) or str(raw).strip() == "":
            continue
        text = str(raw).strip()
        grade = ctcae_grade(text)
        if grade is None:
            errors.append(
                DataError(
                    f"{column} '{text}' is not a CTCAE grade (an integer 1–5)",
                    dataset=dataset,
                    subject=None if subjects is None else str(subjects.iloc[i]),
                    row=i + 1,
                    column=column,
                )
            )
            continue
        out[i] = grade
    raise_all(errors)
    return out


def severity_grades(
    values: pd.Series,
    *,
    dataset: str = "AE",
    column: str = "AESEV",
    subjects: pd.Series | None = None,
) -> np.ndarray:
    """``AESEV`` (MILD/MODERATE/SEVERE …) as numeric intensity 1-5 (:data:`SEVERITY_GRADES`,
    admiral's ``ASEVN``); unknown values raise :class:`DataError`."""
    out = np.full(len(values), np.nan)
    errors = []
    for i, raw in enumerate(text_values(values).str.upper().tolist()):
        if raw == "":
            continue
        if raw not in SEVERITY_GRADES:
            errors.append(
                DataError(
                    f"unknown severity '{raw}' (expected one of {', '.join(SEVERITY_GRADES)})",
                    dataset=dataset,
                    subject=None if subjects is None else str(subjects.iloc[i]),
                    row=i + 1,
                    column=column,
                )
            )
            continue
        out[i] = SEVERITY_GRADES[raw]
    raise_all(errors)
    return out


def related(
    values: pd.Series,
    *,
    dataset: str = "AE",
    column: str = "AEREL",
    subjects: pd.Series | None = None,
) -> np.ndarray:
    """Boolean "at least possibly related" per AE. A missing relationship counts as related
    (the conservative convention); a value in neither :data:`RELATED` nor :data:`NOT_RELATED`
    raises :class:`DataError`."""
    out = np.ones(len(values), dtype=bool)
    errors = []
    for i, raw in enumerate(text_values(values).str.upper().tolist()):
        if raw in NOT_RELATED:
            out[i] = False
        elif raw and raw not in RELATED:
            errors.append(
                DataError(
                    f"unknown relationship '{raw}'",
                    dataset=dataset,
                    subject=None if subjects is None else str(subjects.iloc[i]),
                    row=i + 1,
                    column=column,
                )
            )
    raise_all(errors)
    return out


# ---------------------------------------------------------------------------------------------
# analysis dates


def impute_dtc(
    text: str,
    *,
    imputation: Literal["first", "last"],
    min_dates: Sequence[date | None] = (),
    max_dates: Sequence[date | None] = (),
) -> ImputedDatetime:
    """One ``--DTC`` as admiral's ``derive_vars_dtm(highest_imputation = "M")`` (see
    :func:`oncotrial.cdisc.dates.impute_datetime`); ValueError for malformed or impossible
    dates."""
    return impute_datetime(
        parse_dtc(text),
        highest="M",
        date_rule=imputation,
        time_rule=imputation,
        min_dates=min_dates,
        max_dates=max_dates,
    )


def _ts(value: object) -> date | None:
    return None if is_missing(value) else pd.Timestamp(value).date()


def ae_dates(ae: pd.DataFrame, adsl: pd.DataFrame) -> pd.DataFrame:
    """``ae`` with admiral ADAE analysis dates: TRTSDT, TRTEDT (from ADSL), ASTDTM, ASTDT,
    ASTDTF, ASTTMF, AENDTM, AENDT, AENDTF, AENTMF, ASTDY, AENDY, ADURN (days, end - start + 1).

    Partial dates are imputed as in the module docstring; malformed or impossible dates, AEs of
    subjects missing from ADSL, duplicate ``AESEQ`` within a subject and a complete end date
    before a complete start date raise :class:`DataError`.
    """
    require_columns(ae, ["USUBJID", "AESTDTC"], "AE")
    require_columns(adsl, ["USUBJID", "TRTSDT"], "ADSL")
    out = ae.reset_index(drop=True).copy()
    subjects = text_values(out["USUBJID"])
    _check_subjects(subjects, adsl)
    _check_duplicates(out, subjects)
    trtsdt = _adsl_dates(adsl, "TRTSDT")
    dates = {c: _adsl_dates(adsl, c) for c in ("TRTEDT", "DTHDT", "EOSDT")}
    out["TRTSDT"] = subjects.map(trtsdt).to_numpy()
    out["TRTEDT"] = subjects.map(dates["TRTEDT"]).to_numpy()
    errors: list[DataError] = []
    starts, ends = [], []
    end_text = text_values(out["AEENDTC"]) if "AEENDTC" in out.columns else pd.Series("", out.index)
    for i, (subject, start, end) in enumerate(
        zip(subjects, text_values(out["AESTDTC"]), end_text, strict=True)
    ):
        where = {"dataset": "AE", "subject": subject, "row": i + 1}
        try:
            s = impute_dtc(start, imputation="first", min_dates=[_ts(trtsdt.get(subject))])
        except ValueError as exc:
            errors.append(DataError(str(exc), column="AESTDTC", **where))
            s = ImputedDatetime(None, "", "")
        try:
            e = impute_dtc(
                end,
                imputation="last",
                max_dates=[_ts(dates["DTHDT"].get(subject)), _ts(dates["EOSDT"].get(subject))],
            )
        except ValueError as exc:
            errors.append(DataError(str(exc), column="AEENDTC", **where))
            e = ImputedDatetime(None, "", "")
        if (
            s.value is not None
            and e.value is not None
            and not s.date_flag
            and not e.date_flag
            and e.value.date() < s.value.date()
        ):
            errors.append(
                DataError(
                    f"the AE ends ({end}) before it starts ({start})", column="AEENDTC", **where
                )
            )
        starts.append(s)
        ends.append(e)
    raise_all(errors)
    for prefix, values in (("AST", starts), ("AEN", ends)):
        stamps = pd.to_datetime([v.value for v in values]).astype("datetime64[s]")
        out[f"{prefix}DTM"] = stamps
        out[f"{prefix}DT"] = stamps.normalize()
        out[f"{prefix}DTF"] = [v.date_flag for v in values]
        out[f"{prefix}TMF"] = [v.time_flag for v in values]
    for name, column in (("ASTDY", "ASTDT"), ("AENDY", "AENDT")):
        days = (out[column] - out["TRTSDT"]).dt.days
        out[name] = np.where(days >= 0, days + 1, days)
    out["ADURN"] = (out["AENDT"] - out["ASTDT"]).dt.days + 1
    return out


def _check_subjects(subjects: pd.Series, adsl: pd.DataFrame) -> None:
    check_subjects_known(
        pd.DataFrame({"USUBJID": subjects}), unique_subjects(adsl), dataset="AE", reference="ADSL"
    )


def _check_duplicates(ae: pd.DataFrame, subjects: pd.Series) -> None:
    if "AESEQ" in ae.columns:
        keys = pd.DataFrame({"USUBJID": subjects, "AESEQ": text_values(ae["AESEQ"])})
        check_duplicates(keys, ["USUBJID", "AESEQ"], "AE", what="duplicate AESEQ")


# ---------------------------------------------------------------------------------------------
# treatment-emergent flag and worst grades


def treatment_emergent(
    adae: pd.DataFrame,
    *,
    end_window_days: int | None = 30,
    grade: str | None = None,
    initial_grade: str | None = None,
    group: str | None = None,
) -> pd.Series:
    """TRTEMFL ("Y"/"") of admiral's ``derive_var_trtemfl`` on dates (ASTDT, AENDT, TRTSDT,
    TRTEDT as made by :func:`ae_dates`).

    ``end_window_days``: AEs starting more than this many days after the last dose are not
    emergent (None: no limit; admiral's ADAE template uses 30). Worsening: with
    ``initial_grade`` (e.g. AEITOXGR) and ``grade``, an AE that started before the first dose
    and is worse than its initial grade (or either grade is missing) is emergent; with
    ``group`` (e.g. AEGRPID, one episode in several records), an episode that started before
    the first dose becomes emergent from its first record on treatment whose grade exceeds the
    previous record's.
    """
    require_columns(adae, ["USUBJID", "ASTDT", "AENDT", "TRTSDT", "TRTEDT"], "ADAE")
    if (initial_grade is None) != (grade is None) and group is None:
        raise ValueError("give both grade and initial_grade for worsening, or neither")
    if group is not None and grade is None:
        raise ValueError("worsening within a group needs grade")
    start, end = adae["ASTDT"], adae["AENDT"]
    trt_start, trt_end = adae["TRTSDT"], adae["TRTEDT"]
    within = start >= trt_start
    if end_window_days is not None:
        within &= trt_end.isna() | (start <= trt_end + pd.Timedelta(days=end_window_days))
    if group is not None:
        started_before = (start < trt_start).fillna(False)
        key = [text_values(adae["USUBJID"]), text_values(adae[group])]
        pre_existing = started_before.groupby(key).transform("any")
        new = within & ~pre_existing
        worse = _group_worsening(adae, group, grade)  # type: ignore[arg-type]
    else:
        new = within
        worse = pd.Series(False, index=adae.index)
        if initial_grade is not None:
            g0 = parse_grades(adae[initial_grade], dataset="ADAE", column=initial_grade)
            g1 = parse_grades(adae[grade], dataset="ADAE", column=grade)  # type: ignore[index]
            worse = (start < trt_start) & pd.Series(
                np.isnan(g0) | np.isnan(g1) | (g0 < g1), index=adae.index
            )
    flag = np.where(
        trt_start.isna() | (end < trt_start).fillna(False),
        "",
        np.where(start.isna() | new.fillna(False) | worse.fillna(False), "Y", ""),
    )
    return pd.Series(flag, index=adae.index, name="TRTEMFL")


def _group_worsening(adae: pd.DataFrame, group: str, grade: str) -> pd.Series:
    """admiral: within subject and group ordered by start, flag from the first record on
    treatment whose grade exceeds the previous record's, and every later record."""
    g = pd.Series(parse_grades(adae[grade], dataset="ADAE", column=grade), index=adae.index)
    frame = pd.DataFrame(
        {
            "s": text_values(adae["USUBJID"]),
            "g": text_values(adae[group]),
            "start": adae["ASTDT"],
            "trt": adae["TRTSDT"],
            "grade": g,
        }
    )
    frame = frame.sort_values(["s", "g", "start"], kind="stable")
    previous = frame.groupby(["s", "g"])["grade"].shift()
    worsened = (frame["start"] >= frame["trt"]) & (frame["grade"] > previous)
    out = worsened.fillna(False).astype(int).groupby([frame["s"], frame["g"]]).cummax() > 0
    return out.reindex(adae.index)


def flag_worst(
    adae: pd.DataFrame,
    *,
    by: Sequence[str] = ("USUBJID",),
    grade: str = "AETOXGR",
    emergent: str | None = "TRTEMFL",
) -> pd.Series:
    """ "Y" on the first occurrence of the worst grade within ``by`` among treatment-emergent
    AEs (admiral ``derive_var_extreme_flag``: grade descending, then ASTDTM, AESEQ). Per
    subject this is ``AOCCIFL``; with ``("USUBJID", "AEBODSYS")`` ``AOCCSIFL`` and with
    ``("USUBJID", "AEDECOD")`` ``AOCCPIFL``. AEs without a grade come last."""
    require_columns(adae, [*by, grade, "ASTDTM"], "ADAE")
    g = parse_grades(adae[grade], dataset="ADAE", column=grade)
    keep = np.ones(len(adae), dtype=bool)
    if emergent is not None:
        keep = (text_values(adae[emergent]) == "Y").to_numpy()
    seq = (
        pd.to_numeric(adae["AESEQ"], errors="coerce")
        if "AESEQ" in adae.columns
        else pd.Series(np.arange(len(adae)), index=adae.index)
    )
    frame = pd.DataFrame({f"k{i}": text_values(adae[c]) for i, c in enumerate(by)})
    frame["neg"] = np.where(np.isnan(g), np.inf, -g)
    frame["start"] = adae["ASTDTM"]
    frame["seq"] = seq.to_numpy()
    frame = frame[keep].sort_values(["neg", "start", "seq"], kind="stable", na_position="last")
    first = frame.drop_duplicates([f"k{i}" for i in range(len(by))]).index
    out = pd.Series("", index=adae.index, name="AOCCIFL", dtype=object)
    out.loc[first] = "Y"
    return out


def worst_grades(
    adae: pd.DataFrame,
    *,
    by: Sequence[str] = ("USUBJID", "AEDECOD"),
    grade: str = "AETOXGR",
    emergent: str | None = "TRTEMFL",
) -> pd.DataFrame:
    """The worst grade per ``by`` group (e.g. subject and term, or subject and SOC) among
    treatment-emergent AEs; columns ``by`` + ``WORSTGR`` (NaN when no AE has a grade) and
    ``NAE`` (number of AEs)."""
    require_columns(adae, [*by, grade], "ADAE")
    frame = pd.DataFrame({c: text_values(adae[c]) for c in by})
    frame["WORSTGR"] = parse_grades(adae[grade], dataset="ADAE", column=grade)
    if emergent is not None:
        frame = frame[(text_values(adae[emergent]) == "Y").to_numpy()]
    out = frame.groupby(list(by), sort=True).agg(
        WORSTGR=("WORSTGR", "max"), NAE=("WORSTGR", "size")
    )
    return out.reset_index()


def derive_adae(
    ae: pd.DataFrame,
    adsl: pd.DataFrame,
    *,
    grade: str = "AETOXGR",
    end_window_days: int | None = 30,
    initial_grade: str | None = None,
    group: str | None = None,
) -> pd.DataFrame:
    """ADAE: :func:`ae_dates`, ``TRTEMFL`` (:func:`treatment_emergent`), the validated grade
    ``ATOXGRN`` (from ``grade``; ``"AESEV"`` maps severities as admiral's ``ASEVN``) and the
    worst-occurrence flags ``AOCCIFL`` (subject), ``AOCCSIFL`` (SOC, when ``AEBODSYS`` is
    present) and ``AOCCPIFL`` (term)."""
    require_columns(ae, ["USUBJID", "AESTDTC", grade], "AE")
    out = ae_dates(ae, adsl)
    subjects = text_values(out["USUBJID"])
    if grade == "AESEV":
        out["ATOXGRN"] = severity_grades(out[grade], subjects=subjects)
    else:
        out["ATOXGRN"] = parse_grades(out[grade], column=grade, subjects=subjects)
    out["TRTEMFL"] = treatment_emergent(
        out,
        end_window_days=end_window_days,
        grade=None if initial_grade is None and group is None else "ATOXGRN",
        initial_grade=initial_grade,
        group=group,
    )
    out["AOCCIFL"] = flag_worst(out, by=("USUBJID",), grade="ATOXGRN")
    if "AEBODSYS" in out.columns:
        out["AOCCSIFL"] = flag_worst(out, by=("USUBJID", "AEBODSYS"), grade="ATOXGRN")
    if "AEDECOD" in out.columns:
        out["AOCCPIFL"] = flag_worst(out, by=("USUBJID", "AEDECOD"), grade="ATOXGRN")
    return out


# ---------------------------------------------------------------------------------------------
# dose-limiting toxicities


def _categories(
    terms: pd.Series, socs: pd.Series, haematologic: frozenset[str], hepatic: frozenset[str]
) -> tuple[np.ndarray, np.ndarray]:
    haem_terms = {normalise_term(t) for t in haematologic}
    hep_terms = {normalise_term(t) for t in hepatic}
    t = [normalise_term(x) for x in terms]
    s = [normalise_term(x) for x in socs]
    haem = np.array(
        [
            a in haem_terms or b == normalise_term(HAEMATOLOGIC_SOC)
            for a, b in zip(t, s, strict=True)
        ],
        dtype=bool,
    )
    hep = np.array(
        [a in hep_terms or b == normalise_term(HEPATIC_SOC) for a, b in zip(t, s, strict=True)],
        dtype=bool,
    )
    return haem, hep


def _truthy(value: object) -> bool | None:
    """A condition column's value: True/"Y"/1, False/"N"/0, None when missing."""
    if is_missing(value) or (isinstance(value, str) and value.strip() == ""):
        return None
    if isinstance(value, str):
        text = value.strip().upper()
        if text in ("Y", "YES", "TRUE", "1"):
            return True
        if text in ("N", "NO", "FALSE", "0"):
            return False
        raise ValueError(value)
    return bool(value)


@dataclass
class _Outcome:
    criteria: list[str]
    reasons: list[str]
    review: list[str]
    exceptions: list[str]


def evaluate_dlt(
    adae: pd.DataFrame,
    definition: DltDefinition,
    *,
    grade: str = "ATOXGRN",
    term: str = "AEDECOD",
    soc: str | None = None,
    conditions: Mapping[str, str] | None = None,
    related_only: bool = True,
    cutoff: date | str | None = None,
    haematologic_terms: frozenset[str] = HAEMATOLOGIC_TERMS,
    hepatic_terms: frozenset[str] = HEPATIC_TERMS,
) -> pd.DataFrame:
    """Each AE judged against the protocol's DLT criteria.

    An AE is assessed when it starts in the DLT window (days 1 to ``window_days`` counted
    from the first-dose date TRTSDT, day 1 = first dose) and, with ``related_only`` (the
    protocol's attribution rule), is at least possibly related (:func:`related`; missing
    relationship = related). A criterion is met when the AE's category (haematologic: SOC
    "Blood and lymphatic system disorders" or a term in ``haematologic_terms``; hepatic:
    SOC "Hepatobiliary disorders" or ``hepatic_terms``; non-haematologic: not haematologic)
    and term match (CTCAE terms compared by :func:`normalise_term`), its grade is at least
    ``min_grade``, it lasts more than ``lasting_more_than_days`` (ADURN = end - start + 1 days;
    an ongoing AE counts up to ``cutoff``) and its ``condition`` holds, unless an exception
    applies: the term and grade are listed and the AE resolved within
    ``resolves_within_hours`` (from ASTDTM to AENDTM when both times were recorded (to the minute),
    otherwise whole days counting both the start and end day, i.e. the longest duration the dates
    allow).

    Free-text conditions are read from boolean columns of ``adae`` given in ``conditions``:
    criterion id → column, or ``"<criterion id>:exception:<i>"`` → column for an exception
    without ``resolves_within_hours``. What cannot be decided (no condition column, missing
    grade or start date, ongoing AE without cutoff) is not flagged but listed for review.

    Returns ``adae`` with DLTWINFL (in window, "Y"/""), DLTDY (day of onset from first dose),
    DLTFL ("Y"/"N" for assessed AEs, "" otherwise), DLTCRIT (criterion ids met), DLTREAS (why),
    DLTEXC (exceptions applied), DLTREVFL/DLTREV (undecided criteria, for the committee).
    """
    require_columns(adae, ["USUBJID", "ASTDT", "AENDT", "TRTSDT", grade, term], "ADAE")
    conditions = dict(conditions or {})
    soc = soc or next((c for c in ("AEBODSYS", "AESOC") if c in adae.columns), None)
    for key, column in conditions.items():
        if column not in adae.columns:
            raise DataError(
                f"condition column for '{key}' is missing", dataset="ADAE", column=column
            )
    cutoff_ts = None if cutoff is None else pd.Timestamp(cutoff)
    subjects = text_values(adae["USUBJID"])
    grades = parse_grades(adae[grade], dataset="ADAE", column=grade, subjects=subjects)
    terms = text_values(adae[term])
    haem, hep = _categories(
        terms,
        text_values(adae[soc]) if soc else pd.Series("", adae.index),
        haematologic_terms,
        hepatic_terms,
    )
    rel = (
        related(adae["AEREL"], dataset="ADAE", subjects=subjects)
        if related_only and "AEREL" in adae.columns
        else np.ones(len(adae), dtype=bool)
    )
    rel_missing = (text_values(adae["AEREL"]) == "").to_numpy() if "AEREL" in adae.columns else None
    day = (adae["ASTDT"] - adae["TRTSDT"]).dt.days
    dlt_day = np.where(day >= 0, day + 1, day)
    in_window = ((day >= 0) & (day < definition.window_days)).fillna(False).to_numpy()
    start_unknown = adae["ASTDT"].isna().to_numpy() & adae["TRTSDT"].notna().to_numpy()

    rows = adae.reset_index(drop=True)
    outcomes = []
    for i in range(len(rows)):
        out = _Outcome([], [], [], [])
        if start_unknown[i] and rel[i]:
            out.review.append("start date unknown: cannot place the AE in the DLT window")
        elif in_window[i] and rel[i]:
            if np.isnan(grades[i]):
                out.review.append("grade missing")
            else:
                ctx = _AeContext(
                    row=rows.iloc[i],
                    grade=int(grades[i]),
                    term=terms.iloc[i],
                    haem=bool(haem[i]),
                    hep=bool(hep[i]),
                    day=int(dlt_day[i]),
                    cutoff=cutoff_ts,
                    conditions=conditions,
                )
                for criterion in definition.criteria:
                    _apply(criterion, ctx, out)
                if out.criteria and rel_missing is not None and rel_missing[i]:
                    out.reasons.append("relationship missing: counted as related")
        outcomes.append(out)

    result = adae.copy()
    assessed = in_window & rel & ~start_unknown
    result["DLTWINFL"] = np.where(in_window, "Y", "")
    result["DLTDY"] = dlt_day
    result["DLTFL"] = [
        ("Y" if o.criteria else "N") if a else "" for o, a in zip(outcomes, assessed, strict=True)
    ]
    result["DLTCRIT"] = ["; ".join(o.criteria) for o in outcomes]
    result["DLTREAS"] = ["; ".join(o.reasons) for o in outcomes]
    result["DLTEXC"] = ["; ".join(o.exceptions) for o in outcomes]
    result["DLTREVFL"] = ["Y" if o.review and not o.criteria else "" for o in outcomes]
    result["DLTREV"] = ["; ".join(o.review) if not o.criteria else "" for o in outcomes]
    return result


@dataclass
class _AeContext:
    row: pd.Series
    grade: int
    term: str
    haem: bool
    hep: bool
    day: int
    cutoff: pd.Timestamp | None
    conditions: dict[str, str]

    def category(self, category: str) -> bool:
        return {
            "any": True,
            "haematologic": self.haem,
            "non-haematologic": not self.haem,
            "hepatic": self.hep,
        }[category]

    def duration_days(self) -> tuple[float | None, bool]:
        """(ADURN, ongoing): end - start + 1 days, up to the cutoff when ongoing."""
        start, end = self.row["ASTDT"], self.row["AENDT"]
        if not pd.isna(end):
            return float((end - start).days + 1), False
        if self.cutoff is None:
            return None, True
        return float((self.cutoff.normalize() - start).days + 1), True

    def resolution_hours(self) -> float | None:
        """Hours from onset to resolution; None when not resolved (no end date)."""
        if pd.isna(self.row["AENDT"]):
            return None
        timed = ("", "S")
        exact = (
            self.row.get("ASTTMF", "H") in timed
            and self.row.get("AENTMF", "H") in timed
            and not pd.isna(self.row.get("ASTDTM"))
            and not pd.isna(self.row.get("AENDTM"))
        )
        if exact:
            start, end = self.row["ASTDTM"].floor("min"), self.row["AENDTM"].floor("min")
            return (end - start).total_seconds() / 3600.0
        return ((self.row["AENDT"] - self.row["ASTDT"]).days + 1) * 24.0

    def may_still_resolve(self, hours: float) -> bool:
        """An unresolved AE could still meet "resolved within ``hours``" as
        :meth:`resolution_hours` will measure it: no cutoff, or onset to cutoff day (whole
        days, both counted) is within ``hours``."""
        if self.cutoff is None:
            return True
        elapsed = ((self.cutoff.normalize() - self.row["ASTDT"]).days + 1) * 24.0
        return elapsed <= hours

    def condition(self, key: str) -> bool | None:
        column = self.conditions.get(key)
        if column is None:
            return None
        try:
            return _truthy(self.row[column])
        except ValueError:
            raise DataError(
                f"'{self.row[column]}' is not a yes/no value",
                dataset="ADAE",
                subject=str(self.row["USUBJID"]),
                column=column,
            ) from None


def _apply(criterion: DltCriterion, ctx: _AeContext, out: _Outcome) -> None:
    if not ctx.category(criterion.category):
        return
    if criterion.terms and normalise_term(ctx.term) not in {
        normalise_term(t) for t in criterion.terms
    }:
        return
    if ctx.grade < criterion.min_grade:
        return
    label = criterion.description or criterion.id
    what = f"grade {ctx.grade} {ctx.term} on day {ctx.day}"
    if criterion.lasting_more_than_days is not None:
        days, ongoing = ctx.duration_days()
        if days is None:
            out.review.append(
                f"{criterion.id}: {what} is ongoing; duration > "
                f"{criterion.lasting_more_than_days:g} days unknown without a "
                "cutoff date"
            )
            return
        if days <= criterion.lasting_more_than_days:
            if ongoing:
                out.review.append(f"{criterion.id}: {what} ongoing for {days:g} days at the cutoff")
            return
        what += f" lasting {days:g} days" + (" (ongoing at cutoff)" if ongoing else "")
    if criterion.condition:
        holds = ctx.condition(criterion.id)
        if holds is None:
            out.review.append(
                f"{criterion.id}: {what} meets the grade; condition "
                f"'{criterion.condition}' not recorded"
            )
            return
        if not holds:
            return
        what += f" ({criterion.condition})"
    for k, exception in enumerate(criterion.exceptions):
        if ctx.grade not in exception.grades or normalise_term(ctx.term) not in {
            normalise_term(t) for t in exception.terms
        }:
            continue
        if exception.resolves_within_hours is not None:
            hours = ctx.resolution_hours()
            if hours is not None and hours <= exception.resolves_within_hours:
                out.exceptions.append(
                    f"{criterion.id}: {what} resolved within {hours:g} h "
                    f"(<= {exception.resolves_within_hours:g} h: {exception.condition})"
                )
                return
            if hours is None and ctx.may_still_resolve(exception.resolves_within_hours):
                out.review.append(
                    f"{criterion.id}: {what} not yet resolved; exception "
                    f"'{exception.condition}' may still apply"
                )
                return
        else:
            holds = ctx.condition(f"{criterion.id}:exception:{k}")
            if holds is None:
                out.review.append(
                    f"{criterion.id}: {what}; exception '{exception.condition}' not recorded"
                )
                return
            if holds:
                out.exceptions.append(f"{criterion.id}: {what} ({exception.condition})")
                return
    out.criteria.append(criterion.id)
    out.reasons.append(f"{criterion.id}: {what} — {label}")


def dlt_summary(
    dlt: pd.DataFrame,
    adsl: pd.DataFrame,
    *,
    group: str,
    population: str | None = "SAFFL",
    evaluable: str | None = None,
) -> pd.DataFrame:
    """Per dose level: subjects treated (``N``), DLT-evaluable (``evaluable`` ADSL flag
    column, else all treated), with at least one DLT (``n_dlt``) and with AEs pending review
    (``n_review``), from the output of :func:`evaluate_dlt`."""
    keep = ["USUBJID", group, "TRTSDT"] + [c for c in (population, evaluable) if c]
    require_columns(adsl, keep, "ADSL")
    subjects = pd.DataFrame({c: text_values(adsl[c]).to_numpy() for c in keep})
    subjects = subjects[subjects["TRTSDT"] != ""]
    if population:
        subjects = subjects[subjects[population] == "Y"]
    with_dlt = set(text_values(dlt.loc[text_values(dlt["DLTFL"]) == "Y", "USUBJID"]))
    with_review = set(text_values(dlt.loc[text_values(dlt["DLTREVFL"]) == "Y", "USUBJID"]))
    rows = []
    for level, sub in subjects.groupby(group, sort=True):
        ev = sub if evaluable is None else sub[sub[evaluable] == "Y"]
        rows.append(
            {
                group: level,
                "N": len(sub),
                "n_evaluable": len(ev),
                "n_dlt": int(ev["USUBJID"].isin(with_dlt).sum()),
                "n_review": int(ev["USUBJID"].isin(with_review - with_dlt).sum()),
            }
        )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# summaries by dose level


def _population(adsl: pd.DataFrame, group: str, population: str | None) -> pd.DataFrame:
    keep = ["USUBJID", group] + ([population] if population else [])
    require_columns(adsl, keep, "ADSL")
    unique_subjects(adsl)
    frame = pd.DataFrame({c: text_values(adsl[c]).to_numpy() for c in keep})
    if population:
        frame = frame[frame[population] == "Y"]
    return frame[["USUBJID", group]]


def _pct(n: int, total: int) -> float:
    return 100.0 * n / total if total else float("nan")


#: The standard categories of :func:`ae_overview`: label → predicate on the prepared frame.
OVERVIEW: dict[str, Callable[[pd.DataFrame], pd.Series]] = {
    "Any AE": lambda f: pd.Series(True, index=f.index),
    "Grade >= 3": lambda f: f["grade"] >= 3,
    "Serious": lambda f: f["serious"],
    "Leading to discontinuation": lambda f: f["discontinued"],
    "Treatment-related": lambda f: f["related"],
    "Treatment-related grade >= 3": lambda f: f["related"] & (f["grade"] >= 3),
    "Grade 5 (fatal)": lambda f: f["grade"] == 5,
}


def _prepared(
    adae: pd.DataFrame,
    adsl: pd.DataFrame,
    group: str,
    population: str | None,
    grade: str,
    emergent: str | None,
    discontinuation: frozenset[str],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    subjects = _population(adsl, group, population)
    require_columns(adae, ["USUBJID", grade], "ADAE")
    ids = text_values(adae["USUBJID"])
    frame = pd.DataFrame({"USUBJID": ids.to_numpy()})
    frame["grade"] = parse_grades(adae[grade], dataset="ADAE", column=grade, subjects=ids)
    frame["serious"] = (
        (text_values(adae["AESER"]).str.upper() == "Y").to_numpy()
        if "AESER" in adae.columns
        else False
    )
    frame["discontinued"] = (
        text_values(adae["AEACN"]).str.upper().isin(discontinuation).to_numpy()
        if "AEACN" in adae.columns
        else False
    )
    frame["related"] = (
        related(adae["AEREL"], dataset="ADAE", subjects=ids) if "AEREL" in adae.columns else True
    )
    for column in ("AEBODSYS", "AEDECOD"):
        frame[column] = text_values(adae[column]).to_numpy() if column in adae.columns else ""
    if emergent is not None:
        require_columns(adae, [emergent], "ADAE")
        frame = frame[(text_values(adae[emergent]) == "Y").to_numpy()]
    frame = frame.merge(subjects, on="USUBJID", how="inner")
    return frame, subjects


def _groups(subjects: pd.DataFrame, group: str, total: bool) -> list[tuple[str, set[str]]]:
    out = [(str(level), set(sub["USUBJID"])) for level, sub in subjects.groupby(group, sort=True)]
    if total:
        out.append(("Total", set(subjects["USUBJID"])))
    return out


def ae_overview(
    adae: pd.DataFrame,
    adsl: pd.DataFrame,
    *,
    group: str,
    population: str | None = "SAFFL",
    grade: str = "ATOXGRN",
    emergent: str | None = "TRTEMFL",
    discontinuation: frozenset[str] = DISCONTINUATION,
    total: bool = True,
) -> pd.DataFrame:
    """Subjects with at least one treatment-emergent AE of each :data:`OVERVIEW` category per
    dose level (``group``, an ADSL column) and in total: columns category, group, n, N, pct.

    Denominators ``N`` are the subjects of ``population`` (ADSL flag, e.g. SAFFL) in the
    group; serious = ``AESER == "Y"``; leading to discontinuation = ``AEACN`` in
    ``discontinuation``; related as :func:`related`.
    """
    frame, subjects = _prepared(adae, adsl, group, population, grade, emergent, discontinuation)
    rows = []
    for label, predicate in OVERVIEW.items():
        hit = set(frame.loc[predicate(frame).fillna(False).to_numpy(dtype=bool), "USUBJID"])
        for name, members in _groups(subjects, group, total):
            n = len(hit & members)
            rows.append(
                {
                    "category": label,
                    "group": name,
                    "n": n,
                    "N": len(members),
                    "pct": _pct(n, len(members)),
                }
            )
    return pd.DataFrame(rows)


def ae_grade_table(
    adae: pd.DataFrame,
    adsl: pd.DataFrame,
    *,
    group: str,
    population: str | None = "SAFFL",
    grade: str = "ATOXGRN",
    emergent: str | None = "TRTEMFL",
    total: bool = True,
) -> pd.DataFrame:
    """AE table by worst grade and dose level: for every SOC (``AEBODSYS``) and term
    (``AEDECOD``), and overall, the subjects whose worst grade is 1-5 or missing, any grade
    and grade >= 3, per dose level and in total.

    Columns: AEBODSYS (``"Any"`` overall), AEDECOD (``""`` on SOC rows, ``"Any"`` overall),
    group, grade ("1"…"5", "missing", "any", ">=3"), n, N, pct.
    """
    frame, subjects = _prepared(adae, adsl, group, population, grade, emergent, DISCONTINUATION)
    worst = pd.concat(
        [
            frame.groupby("USUBJID", as_index=False)["grade"]
            .max()
            .assign(AEBODSYS="Any", AEDECOD="Any", _order=0),
            frame.groupby(["AEBODSYS", "USUBJID"], as_index=False)["grade"]
            .max()
            .assign(AEDECOD="", _order=1),
            frame.groupby(["AEBODSYS", "AEDECOD", "USUBJID"], as_index=False)["grade"]
            .max()
            .assign(_order=2),
        ],
        ignore_index=True,
    )
    groups = _groups(subjects, group, total)
    member = pd.concat(
        [pd.DataFrame({"USUBJID": sorted(m), "group": name}) for name, m in groups],
        ignore_index=True,
    )
    worst = worst.merge(member, on="USUBJID")
    worst["label"] = [
        "missing" if np.isnan(g) else str(int(g)) for g in worst["grade"].to_numpy(dtype=float)
    ]
    keys = ["_order", "AEBODSYS", "AEDECOD", "group"]
    counts = worst.groupby([*keys, "label"]).size().unstack("label")
    counts = counts.reindex(columns=[*map(str, range(1, 6)), "missing"]).fillna(0).astype(int)
    counts["any"] = worst.groupby(keys).size()
    counts[">=3"] = worst[worst["grade"] >= 3].groupby(keys).size()
    counts = counts.fillna(0).astype(int)
    soc_terms = worst[keys[:3]].drop_duplicates()
    grid = soc_terms.merge(pd.DataFrame({"group": [name for name, _ in groups]}), how="cross")
    counts = counts.reindex(pd.MultiIndex.from_frame(grid[keys]), fill_value=0)
    long = counts.stack().rename("n").reset_index().rename(columns={"label": "grade"})
    sizes = {name: len(m) for name, m in groups}
    long["N"] = long["group"].map(sizes)
    long["pct"] = [_pct(n, total_n) for n, total_n in zip(long["n"], long["N"], strict=True)]
    long["_g"] = long["group"].map({name: i for i, (name, _) in enumerate(groups)})
    long["_any"] = (long["_order"] > 0).astype(int)
    long = long.sort_values(["_any", "AEBODSYS", "_order", "AEDECOD", "_g"], kind="stable")
    return long.drop(columns=["_order", "_g", "_any"]).reset_index(drop=True)
