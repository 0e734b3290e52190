"""ADSL subject-level variables derived from SDTM when the sponsor has no ADSL, and the loader
of a sponsor's own ADSL (``oncotrial derive --adsl``).

The rules are admiral's ADSL template (``ad_adsl.R``, the program that made pharmaverseadam's
``adsl``); ADaMIG v1.3 defines the variables. One row per DM subject, in DM order; every DM
column except DOMAIN is passed through (AGE, SEX, ARM, ACTARM, DTHDTC, DTHFL, …).

===========  ===============================================================================
TRT01P/A     DM.ARM / DM.ACTARM.
TRTSDTM      first EX start (EXSTDTC) of a valid dose — EXDOSE > 0, or EXDOSE = 0 with
             "PLACEBO" in EXTRT — ordered by start then EXSEQ; missing time parts imputed as
             00:00:00, TRTSTMF = "H", "M" or "S" for the highest part imputed (admiral
             ``derive_vars_dtm(time_imputation = "first")``, ``derive_vars_merged(mode =
             "first")``).
TRTEDTM      last EX end (EXENDTC) of a valid dose, time imputed as 23:59:59, TRTETMF
             (``time_imputation = "last"``, ``mode = "last"``). Records without EXENDTC are
             skipped.
TRTSDT/EDT   their dates (``derive_vars_dtm_to_dt``); TRTDURD = TRTEDT − TRTSDT + 1
             (``derive_var_trtdurd``).
RANDDT       DS.DSSTDTC of the record with DSDECOD "RANDOMIZED".
SCRFDT       DS.DSSTDTC of the DSCAT "DISPOSITION EVENT" record with DSDECOD "SCREEN FAILURE".
EOSDT        DS.DSSTDTC of the other "DISPOSITION EVENT" record (one whose DSSCAT is "END OF
             TREATMENT" is the treatment epoch's disposition and does not count).
EOSSTT       "COMPLETED" when that record's DSDECOD is COMPLETED, "" for a screen failure,
             "DISCONTINUED" otherwise, "ONGOING" without a record (template ``format_eosstt``).
DTHDT        DM.DTHDTC; a partial date takes the first day of the month (DTHDTF "D") or of the
             year (DTHDTF "M") (``derive_vars_dt(highest_imputation = "M", date_imputation =
             "first")``). When DTHDTC is empty, the DS record with DSDECOD "DEATH" gives it (an
             oncotrial addition; the template uses DM only).
LSTALVDT     the latest date of the :data:`ADMIRAL_ALIVE_SOURCES` (AE start and end, LB, TRTEDT),
             partial dates taking the first day of the month or year
             (``derive_vars_extreme_event(mode = "last")`` with ``convert_dtc_to_dt(
             highest_imputation = "M")``). :data:`ONCOLOGY_ALIVE_SOURCES` adds EX, DS and the
             tumour assessments (RS, TR, TU).
SAFFL        "Y" when EX holds a valid dose for the subject, else "N"
             (``derive_var_merged_exist_flag``).
===========  ===============================================================================

Dates that the rules use as exact (EXSTDTC, EXENDTC, and DSSTDTC of the randomisation and
disposition records) must be complete: a partial one raises :class:`DataError`
(``on_partial="error"``, the default, because the DLT window, RANDDT and the time-to-event
origins need the day), or is skipped as admiral does (``on_partial="ignore"``). Impossible
dates, unknown subjects, two DM rows for a subject, two randomisation or disposition-event
records for a subject, an exposure ending before it starts and a death before the first dose
always raise :class:`DataError` naming dataset, subject, row and column.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

import numpy as np
import pandas as pd

from oncotrial.derive.dates import Imputation, parse_iso_date
from oncotrial.derive.errors import CombinedDataError, DataError
from oncotrial.derive.io import (
    SUBJECT,
    check_duplicates,
    normalize,
    numeric_values,
    read_dataset,
    require_columns,
    row_numbers,
)

OnPartial = Literal["error", "ignore"]

_DTC = re.compile(
    r"^(?P<date>\d{4}(?:-\d{2}(?:-\d{2})?)?)"
    r"(?:T(?P<h>\d{2})(?::(?P<m>\d{2})(?::(?P<s>\d{2}(?:\.\d+)?))?)?)?$"
)
_ADAM_DTM = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})(?:[T ](?P<h>\d{2}):(?P<m>\d{2})(?::(?P<s>\d{2}(?:\.\d+)?))?)?$"
)

LABELS = {
    "TRT01P": "Planned Treatment for Period 01",
    "TRT01A": "Actual Treatment for Period 01",
    "TRTSDTM": "Datetime of First Exposure to Treatment",
    "TRTSTMF": "Time of First Exposure Imput. Flag",
    "TRTEDTM": "Datetime of Last Exposure to Treatment",
    "TRTETMF": "Time of Last Exposure Imput. Flag",
    "TRTSDT": "Date of First Exposure to Treatment",
    "TRTEDT": "Date of Last Exposure to Treatment",
    "TRTDURD": "Total Treatment Duration (Days)",
    "SCRFDT": "Screen Failure Date",
    "EOSDT": "End of Study Date",
    "EOSSTT": "End of Study Status",
    "RANDDT": "Date of Randomization",
    "DTHDT": "Date of Death",
    "DTHDTF": "Date of Death Imputation Flag",
    "LSTALVDT": "Date Last Known Alive",
    "SAFFL": "Safety Population Flag",
}


@dataclass(frozen=True)
class AliveSource:
    """A source of dates on which a subject was known to be alive: one ``--DTC`` column of an
    SDTM domain, or a derived ADSL date (``domain="adsl"``), optionally restricted to the rows
    where ``where(frame)`` is true (admiral ``event(dataset_name, condition, set_values_to =
    exprs(LSTALVDT = convert_dtc_to_dt(<column>, highest_imputation = "M")))``)."""

    domain: str
    column: str
    where: Callable[[pd.DataFrame], pd.Series] | None = None

    def __str__(self) -> str:
        return f"{self.domain.upper()}.{self.column}"


ADMIRAL_ALIVE_SOURCES: tuple[AliveSource, ...] = (
    AliveSource("ae", "AESTDTC"),
    AliveSource("ae", "AEENDTC"),
    AliveSource("lb", "LBDTC"),
    AliveSource("adsl", "TRTEDT"),
)
"""admiral's ADSL template: AE start and end dates, laboratory dates and the last dose."""

ONCOLOGY_ALIVE_SOURCES: tuple[AliveSource, ...] = (
    *ADMIRAL_ALIVE_SOURCES,
    AliveSource("ex", "EXSTDTC"),
    AliveSource("ex", "EXENDTC"),
    AliveSource("ds", "DSSTDTC"),
    AliveSource("rs", "RSDTC"),
    AliveSource("tr", "TRDTC"),
    AliveSource("tu", "TUDTC"),
)
"""The template's sources plus every dosing, disposition and tumour-assessment date."""


# ---------------------------------------------------------------- ISO 8601 parsing


def _subjects(df: pd.DataFrame) -> list[str | None]:
    if SUBJECT not in df.columns:
        return [None] * len(df)
    return [str(s) or None for s in df[SUBJECT].tolist()]


def _dates(
    df: pd.DataFrame,
    column: str,
    dataset: str,
    *,
    impute: Imputation,
    on_partial: OnPartial = "error",
    mask: pd.Series | None = None,
    purpose: str = "",
) -> tuple[pd.Series, pd.Series]:
    """The date part of an ISO 8601 column (``datetime64[ns]``) and its imputation flag ("D",
    "M" or ""). With ``impute="none"`` a partial date raises (``on_partial="error"``) or gives
    NaT; rows outside ``mask`` are not read."""
    rows, subjects = row_numbers(df), _subjects(df)
    use = np.ones(len(df), bool) if mask is None else mask.to_numpy(dtype=bool)
    out = np.full(len(df), np.datetime64("NaT"), dtype="datetime64[ns]")
    flags = [""] * len(df)
    for i, raw in enumerate(df[column].tolist()):
        if not use[i] or raw == "":
            continue
        where = {"dataset": dataset, "subject": subjects[i], "row": int(rows[i]), "column": column}
        match = _DTC.match(raw)
        try:
            parsed = parse_iso_date(match["date"] if match else raw)
        except ValueError as exc:
            raise DataError(str(exc), **where) from None
        if match is None:
            raise DataError(f"'{raw}' is not an ISO 8601 date/time", **where)
        assert parsed is not None
        full = parsed.impute(impute)
        if full is None:
            if on_partial == "error":
                raise DataError(
                    f"partial date '{raw}' cannot give {purpose or 'an exact date'}; complete "
                    "it (admiral would drop the record: on_partial='ignore')",
                    **where,
                )
            continue
        out[i] = np.datetime64(full, "ns")
        flags[i] = "M" if parsed.month is None else ("D" if parsed.day is None else "")
    return pd.Series(out, index=df.index), pd.Series(flags, index=df.index, dtype=str)


def _datetimes(
    df: pd.DataFrame,
    column: str,
    dataset: str,
    *,
    time_imputation: Literal["first", "last"],
    on_partial: OnPartial,
    purpose: str,
) -> tuple[pd.Series, pd.Series]:
    """An ISO 8601 column as datetimes with missing time parts imputed (00:00:00 or 23:59:59)
    and the time imputation flag ("H", "M", "S" or ""), as admiral ``derive_vars_dtm`` with
    ``highest_imputation = "h"`` (dates are not imputed)."""
    days, _ = _dates(df, column, dataset, impute="none", on_partial=on_partial, purpose=purpose)
    rows, subjects = row_numbers(df), _subjects(df)
    fill = (0, 0, 0) if time_imputation == "first" else (23, 59, 59)
    out = days.to_numpy().copy()
    flags = [""] * len(df)
    for i, raw in enumerate(df[column].tolist()):
        if np.isnat(out[i]):
            continue
        match = _DTC.match(raw)
        assert match is not None
        parts = (match["h"], match["m"], match["s"])
        flags[i] = next((f for f, p in zip("HMS", parts, strict=True) if p is None), "")
        hour = int(parts[0]) if parts[0] is not None else fill[0]
        minute = int(parts[1]) if parts[1] is not None else fill[1]
        second = float(parts[2]) if parts[2] is not None else float(fill[2])
        if hour > 23 or minute > 59 or second >= 60:
            raise DataError(
                f"'{raw}' is not a time of day",
                dataset=dataset,
                subject=subjects[i],
                row=int(rows[i]),
                column=column,
            )
        offset = np.timedelta64(int(round((hour * 3600 + minute * 60 + second) * 1e9)), "ns")
        out[i] = out[i] + offset
    return pd.Series(out, index=df.index), pd.Series(flags, index=df.index, dtype=str)


# ---------------------------------------------------------------- checks


def _known_subjects(df: pd.DataFrame, dataset: str, subjects: set[str]) -> None:
    """Every record belongs to a DM subject (SDTMIG: USUBJID identifies a subject in DM)."""
    unknown = ~df[SUBJECT].isin(subjects).to_numpy()
    if not unknown.any():
        return
    rows = row_numbers(df)
    errors = [
        DataError(
            "subject is not in DM",
            dataset=dataset,
            subject=str(df[SUBJECT].iloc[i]),
            row=int(rows[i]),
            column=SUBJECT,
        )
        for i in np.flatnonzero(unknown)
    ]
    raise errors[0] if len(errors) == 1 else CombinedDataError(errors)


def _one_per_subject(df: pd.DataFrame, dataset: str, what: str) -> None:
    """At most one ``what`` record per subject (admiral ``derive_vars_merged`` stops on
    duplicates)."""
    try:
        check_duplicates(df, [SUBJECT], dataset)
    except DataError as exc:
        errors = exc.errors if isinstance(exc, CombinedDataError) else [exc]
        wrapped = [
            DataError(
                f"more than one {what} record: {e.message}",
                dataset=e.dataset,
                subject=e.subject,
                row=e.row,
                column=e.column,
            )
            for e in errors
        ]
        raise wrapped[0] if len(wrapped) == 1 else CombinedDataError(wrapped) from None


# ---------------------------------------------------------------- derivation


def _per_subject(values: pd.Series, subjects: pd.Series, index: pd.Index) -> pd.Series:
    return pd.Series(values.to_numpy(), index=subjects.to_numpy()).reindex(index)


def _exposure(ex: pd.DataFrame, subjects: pd.Index, on_partial: OnPartial) -> pd.DataFrame:
    """TRTSDTM, TRTSTMF, TRTEDTM, TRTETMF and SAFFL per subject from EX."""
    require_columns(ex, [SUBJECT, "EXTRT", "EXDOSE", "EXSTDTC", "EXENDTC"], "EX")
    dose = numeric_values(ex, "EXDOSE", "EX")
    valid = (dose > 0) | ((dose == 0) & ex["EXTRT"].str.contains("PLACEBO", regex=False))
    start, start_flag = _datetimes(
        ex,
        "EXSTDTC",
        "EX",
        time_imputation="first",
        on_partial=on_partial,
        purpose="the first dose date",
    )
    end, end_flag = _datetimes(
        ex,
        "EXENDTC",
        "EX",
        time_imputation="last",
        on_partial=on_partial,
        purpose="the last dose date",
    )
    backwards = (end.dt.normalize() < start.dt.normalize()).to_numpy()
    if backwards.any():
        rows, who = row_numbers(ex), _subjects(ex)
        errors = [
            DataError(
                f"exposure ends ({ex['EXENDTC'].iloc[i]}) before it starts "
                f"({ex['EXSTDTC'].iloc[i]})",
                dataset="EX",
                subject=who[i],
                row=int(rows[i]),
                column="EXENDTC",
            )
            for i in np.flatnonzero(backwards)
        ]
        raise errors[0] if len(errors) == 1 else CombinedDataError(errors)
    seq = (
        numeric_values(ex, "EXSEQ", "EX")
        if "EXSEQ" in ex.columns
        else pd.Series(np.arange(len(ex), dtype=float), index=ex.index)
    )
    records = pd.DataFrame(
        {
            SUBJECT: ex[SUBJECT].to_numpy(),
            "start": start.to_numpy(),
            "start_flag": start_flag.to_numpy(),
            "end": end.to_numpy(),
            "end_flag": end_flag.to_numpy(),
            "seq": seq.to_numpy(),
            "valid": valid.to_numpy(dtype=bool),
        }
    )
    dosed = records[records["valid"]]
    first = (
        dosed[dosed["start"].notna()]
        .sort_values(["start", "seq"], kind="stable")
        .drop_duplicates(SUBJECT, keep="first")
        .set_index(SUBJECT)
    )
    last = (
        dosed[dosed["end"].notna()]
        .sort_values(["end", "seq"], kind="stable")
        .drop_duplicates(SUBJECT, keep="last")
        .set_index(SUBJECT)
    )
    out = pd.DataFrame(index=subjects)
    out["TRTSDTM"] = first["start"].reindex(subjects).astype("datetime64[ns]")
    out["TRTSTMF"] = first["start_flag"].reindex(subjects).fillna("").astype(str)
    out["TRTEDTM"] = last["end"].reindex(subjects).astype("datetime64[ns]")
    out["TRTETMF"] = last["end_flag"].reindex(subjects).fillna("").astype(str)
    out["SAFFL"] = np.where(subjects.isin(set(dosed[SUBJECT])), "Y", "N")
    return out


def _disposition(
    ds: pd.DataFrame | None, subjects: pd.Index, on_partial: OnPartial
) -> pd.DataFrame:
    """RANDDT, SCRFDT, EOSDT and EOSSTT per subject from DS."""
    out = pd.DataFrame(index=subjects)
    if ds is None:
        out["SCRFDT"] = out["EOSDT"] = out["RANDDT"] = pd.Series(
            pd.NaT, index=subjects, dtype="datetime64[ns]"
        )
        out["EOSSTT"] = "ONGOING"
        return out[["SCRFDT", "EOSDT", "EOSSTT", "RANDDT"]]
    require_columns(ds, [SUBJECT, "DSDECOD", "DSCAT", "DSSTDTC"], "DS")
    randomised = ds["DSDECOD"] == "RANDOMIZED"
    event = ds["DSCAT"] == "DISPOSITION EVENT"
    if "DSSCAT" in ds.columns:
        # the treatment epoch's disposition is not the end of the study
        event &= ~ds["DSSCAT"].astype(str).str.upper().eq("END OF TREATMENT")
    _one_per_subject(ds[randomised], "DS", "randomization (DSDECOD RANDOMIZED)")
    _one_per_subject(ds[event], "DS", "DSCAT DISPOSITION EVENT")
    when, _ = _dates(
        ds,
        "DSSTDTC",
        "DS",
        impute="none",
        on_partial=on_partial,
        mask=randomised | event,
        purpose="a randomization or disposition date",
    )
    screen_failure = event & (ds["DSDECOD"] == "SCREEN FAILURE")
    ended = event & ~screen_failure
    ids = ds[SUBJECT]
    out["SCRFDT"] = _per_subject(when[screen_failure], ids[screen_failure], subjects)
    out["EOSDT"] = _per_subject(when[ended], ids[ended], subjects)
    decod = _per_subject(ds["DSDECOD"][event], ids[event], subjects)
    out["EOSSTT"] = np.select(
        [decod.isna(), decod == "COMPLETED", decod == "SCREEN FAILURE"],
        ["ONGOING", "COMPLETED", ""],
        "DISCONTINUED",
    )
    out["RANDDT"] = _per_subject(when[randomised], ids[randomised], subjects)
    for column in ("SCRFDT", "EOSDT", "RANDDT"):
        out[column] = out[column].astype("datetime64[ns]")
    return out


def _death(
    dm: pd.DataFrame, ds: pd.DataFrame | None, first_dose: pd.Series
) -> tuple[pd.Series, pd.Series]:
    """DTHDT and DTHDTF per subject (indexed like DM's subjects); a death before the first
    dose raises."""
    subjects = pd.Index(dm[SUBJECT])
    dthdtc = dm["DTHDTC"] if "DTHDTC" in dm.columns else pd.Series("", index=dm.index)
    frame = pd.DataFrame({SUBJECT: dm[SUBJECT], "DTHDTC": dthdtc}, index=dm.index)
    first, flag = _dates(frame, "DTHDTC", "DM", impute="first")
    latest, _ = _dates(frame, "DTHDTC", "DM", impute="last")
    death = pd.Series(first.to_numpy(), index=subjects)
    death_flag = pd.Series(flag.to_numpy(), index=subjects)
    latest_death = pd.Series(latest.to_numpy(), index=subjects)
    source = {
        s: ("DM", int(r), "DTHDTC", t)
        for s, r, t in zip(subjects, row_numbers(dm), dthdtc.tolist(), strict=True)
    }
    if ds is not None:
        require_columns(ds, [SUBJECT, "DSDECOD", "DSSTDTC"], "DS")
        died = (ds["DSDECOD"] == "DEATH") & ds[SUBJECT].isin(death.index[death.isna()])
        ds_first, ds_flag = _dates(ds, "DSSTDTC", "DS", impute="first", mask=died)
        ds_last, _ = _dates(ds, "DSSTDTC", "DS", impute="last", mask=died)
        rows = row_numbers(ds)
        for i in np.flatnonzero(died.to_numpy() & ds_first.notna().to_numpy()):
            subject = ds[SUBJECT].iloc[i]
            if pd.isna(death[subject]) or ds_first.iloc[i] < death[subject]:
                death[subject] = ds_first.iloc[i]
                death_flag[subject] = ds_flag.iloc[i]
                latest_death[subject] = ds_last.iloc[i]
                source[subject] = ("DS", int(rows[i]), "DSSTDTC", ds["DSSTDTC"].iloc[i])
    early = (latest_death < first_dose.reindex(subjects).dt.normalize()).to_numpy()
    if early.any():
        errors = []
        for i in np.flatnonzero(early):
            subject = subjects[i]
            dataset, row, column, text = source[subject]
            errors.append(
                DataError(
                    f"death ({text}) is before the first dose ({first_dose[subject]:%Y-%m-%d})",
                    dataset=dataset,
                    subject=subject,
                    row=row,
                    column=column,
                )
            )
        raise errors[0] if len(errors) == 1 else CombinedDataError(errors)
    return death.astype("datetime64[ns]"), death_flag.astype(str)


def _last_alive(
    sdtm: Mapping[str, pd.DataFrame],
    adsl: pd.DataFrame,
    sources: Sequence[AliveSource],
) -> tuple[pd.Series, list[str]]:
    """LSTALVDT: the latest date over ``sources``; the sources that were available (a domain
    that is absent, or lacks the source's date variable, is not used)."""
    subjects = adsl.index
    latest = pd.Series(pd.NaT, index=subjects, dtype="datetime64[ns]")
    used = []
    for source in sources:
        domain = source.domain.lower()
        if domain == "adsl":
            if source.column not in adsl.columns:
                raise DataError("not an ADSL column", dataset="ADSL", column=source.column)
            values = adsl[source.column].astype("datetime64[ns]").dt.normalize()
        elif domain in sdtm and source.column in sdtm[domain].columns:
            frame = sdtm[domain]
            require_columns(frame, [SUBJECT], domain.upper())
            mask = None if source.where is None else source.where(frame)
            dates, _ = _dates(frame, source.column, domain.upper(), impute="first", mask=mask)
            values = dates.groupby(frame[SUBJECT].to_numpy()).max().reindex(subjects)
        else:
            continue
        used.append(str(source))
        latest = pd.concat([latest, values], axis=1).max(axis=1)
    return latest.astype("datetime64[ns]"), used


def derive_adsl(
    domains: Mapping[str, pd.DataFrame],
    *,
    alive_sources: Sequence[AliveSource] = ADMIRAL_ALIVE_SOURCES,
    on_partial: OnPartial = "error",
) -> pd.DataFrame:
    """ADSL from SDTM ``domains`` keyed by domain (as :func:`oncotrial.derive.io.read_domains`
    gives them): ``dm`` and ``ex`` are required, ``ds``, ``ae``, ``lb`` … are used when
    present. The rules are in the module docstring. ``attrs["lstalvdt_sources"]`` lists the
    alive sources that were available."""
    used_domains = {"dm", "ex", "ds"} | {s.domain.lower() for s in alive_sources}
    sdtm = {
        name.lower(): normalize(frame, dataset=name.upper())
        for name, frame in domains.items()
        if name.lower() in used_domains
    }
    for required in ("dm", "ex"):
        if required not in sdtm:
            raise DataError("is required to derive ADSL", dataset=required.upper())
    dm, ex, ds = sdtm["dm"], sdtm["ex"], sdtm.get("ds")
    require_columns(dm, [SUBJECT], "DM")
    check_duplicates(dm, [SUBJECT], "DM")
    known = set(dm[SUBJECT])
    for name in sorted(sdtm.keys() - {"dm"}):
        require_columns(sdtm[name], [SUBJECT], name.upper())
        _known_subjects(sdtm[name], name.upper(), known)
    subjects = pd.Index(dm[SUBJECT], name=SUBJECT)

    adsl = pd.DataFrame(index=subjects)
    for column in dm.columns:
        if column != "DOMAIN":
            adsl[column] = dm[column].to_numpy()
    if "ARM" in dm.columns:
        adsl["TRT01P"] = dm["ARM"].to_numpy()
    if "ACTARM" in dm.columns:
        adsl["TRT01A"] = dm["ACTARM"].to_numpy()
    exposure = _exposure(ex, subjects, on_partial)
    for column in ("TRTSDTM", "TRTSTMF", "TRTEDTM", "TRTETMF"):
        adsl[column] = exposure[column]
    adsl["TRTSDT"] = adsl["TRTSDTM"].dt.normalize()
    adsl["TRTEDT"] = adsl["TRTEDTM"].dt.normalize()
    adsl["TRTDURD"] = (adsl["TRTEDT"] - adsl["TRTSDT"]).dt.days + 1.0
    disposition = _disposition(ds, subjects, on_partial)
    for column in disposition.columns:
        adsl[column] = disposition[column]
    adsl["DTHDT"], adsl["DTHDTF"] = _death(dm, ds, adsl["TRTSDT"])
    adsl["LSTALVDT"], used = _last_alive(sdtm, adsl, alive_sources)
    adsl["SAFFL"] = exposure["SAFFL"]

    out = normalize(adsl.reset_index(drop=True), dataset="ADSL")
    out.attrs = {
        "name": "ADSL",
        "label": "Subject-Level Analysis Dataset",
        "labels": {**dm.attrs.get("labels", {}), **LABELS},
        "lstalvdt_sources": used,
    }
    return out


# ---------------------------------------------------------------- existing ADSL


def load_adsl(
    source: str | os.PathLike[str] | pd.DataFrame,
    *,
    required: Sequence[str] = (SUBJECT,),
) -> pd.DataFrame:
    """A sponsor's ADSL (any format :func:`~oncotrial.derive.io.read_dataset` reads, or a
    frame) with its dates as ``datetime64[ns]``: ``*DT`` columns from ISO 8601 dates,
    ``*DTM`` columns from ISO 8601 datetimes (``T`` or space separated), numbers as SAS dates
    or datetimes (ADaMIG: numeric dates). One row per USUBJID; a partial or impossible date
    raises :class:`DataError`."""
    if isinstance(source, pd.DataFrame):
        adsl = normalize(source, dataset="ADSL")
    else:
        adsl = read_dataset(source)
    dataset = str(adsl.attrs.get("name") or "ADSL")
    require_columns(adsl, [SUBJECT, *required], dataset)
    check_duplicates(adsl, [SUBJECT], dataset)
    for column in adsl.columns:
        upper = column.upper()
        values = adsl[column]
        if not upper.endswith(("DT", "DTM")) or pd.api.types.is_datetime64_any_dtype(values):
            continue
        if pd.api.types.is_float_dtype(values.dtype):
            unit = "s" if upper.endswith("DTM") else "D"
            adsl[column] = pd.to_datetime(values, unit=unit, origin=pd.Timestamp("1960-01-01"))
        elif upper.endswith("DTM"):
            adsl[column] = _adam_datetimes(adsl, column, dataset)
        else:
            adsl[column], _ = _dates(adsl, column, dataset, impute="none", purpose="an ADaM date")
        adsl[column] = adsl[column].astype("datetime64[ns]")
    return adsl


def _adam_datetimes(df: pd.DataFrame, column: str, dataset: str) -> pd.Series:
    rows, subjects = row_numbers(df), _subjects(df)
    out = []
    for i, raw in enumerate(df[column].tolist()):
        if raw == "":
            out.append(pd.NaT)
            continue
        match = _ADAM_DTM.match(raw)
        try:
            if match is None:
                raise ValueError(f"'{raw}' is not an ISO 8601 datetime")
            day = date.fromisoformat(match["date"])
            seconds = 0.0
            if match["h"] is not None:
                hour, minute, second = int(match["h"]), int(match["m"]), float(match["s"] or 0)
                if hour > 23 or minute > 59 or second >= 60:
                    raise ValueError(f"'{raw}' is not a time of day")
                seconds = hour * 3600 + minute * 60 + second
        except ValueError as exc:
            raise DataError(
                str(exc), dataset=dataset, subject=subjects[i], row=int(rows[i]), column=column
            ) from None
        out.append(pd.Timestamp(day) + pd.Timedelta(seconds=seconds))
    return pd.Series(out, index=df.index, dtype="datetime64[ns]")
