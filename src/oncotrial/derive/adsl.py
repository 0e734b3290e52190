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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from oncotrial.cdisc.checks import DAY_NEEDED
from oncotrial.cdisc.dates import Imputation
from oncotrial.cdisc.errors import DataError, raise_all
from oncotrial.cdisc.frames import (
    SUBJECT,
    analysis_datetimes,
    check_duplicates,
    check_subjects_known,
    dtc_values,
    exact_dtc,
    numeric_values,
    require_columns,
    row_numbers,
    subjects_of,
)
from oncotrial.derive.io import normalize, read_dataset

OnPartial = Literal["error", "ignore"]


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


# ---------------------------------------------------------------- dates


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
    "M" or ""), imputed as admiral ``derive_vars_dt(highest_imputation = "M")``. With
    ``impute="none"`` a partial date raises (``on_partial="error"``) or gives NaT; rows outside
    ``mask`` are not read."""
    use = None if mask is None else mask.to_numpy(dtype=bool)
    if impute == "none":
        stamps, _ = exact_dtc(df, column, dataset, purpose=purpose, on_partial=on_partial, mask=use)
        days = pd.Series(stamps, index=df.index).dt.normalize()
        return days, pd.Series("", index=df.index, dtype=str)
    values = dtc_values(df, column, dataset, highest="M", date_rule=impute, mask=use)
    out = [
        np.datetime64("NaT") if v.value is None else np.datetime64(v.value.date()) for v in values
    ]
    days = pd.Series(np.array(out, dtype="datetime64[ns]"), index=df.index)
    return days, pd.Series([v.date_flag for v in values], index=df.index, dtype=str)


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
    stamps, flags = exact_dtc(
        df, column, dataset, purpose=purpose, time_rule=time_imputation, on_partial=on_partial
    )
    return pd.Series(stamps, index=df.index), pd.Series(flags, index=df.index, dtype=str)


# ---------------------------------------------------------------- checks


def _one_per_subject(df: pd.DataFrame, dataset: str, what: str) -> None:
    """At most one ``what`` record per subject (admiral ``derive_vars_merged`` stops on
    duplicates)."""
    check_duplicates(df, [SUBJECT], dataset, what=f"more than one {what} record")


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
        purpose=DAY_NEEDED["EXSTDTC"],
    )
    end, end_flag = _datetimes(
        ex,
        "EXENDTC",
        "EX",
        time_imputation="last",
        on_partial=on_partial,
        purpose=DAY_NEEDED["EXENDTC"],
    )
    backwards = (end.dt.normalize() < start.dt.normalize()).to_numpy()
    if backwards.any():
        rows, who = row_numbers(ex), subjects_of(ex)
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
        raise_all(errors)
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
        purpose="RANDDT and EOSDT are read from it",
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
        raise_all(errors)
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
        check_subjects_known(sdtm[name], known, dataset=name.upper(), reference="DM")
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
        else:
            adsl[column] = analysis_datetimes(
                adsl, column, dataset, date_only=not upper.endswith("DTM")
            )
        adsl[column] = adsl[column].astype("datetime64[ns]")
    return adsl
