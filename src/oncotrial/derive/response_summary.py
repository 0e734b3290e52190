"""Summaries of ADRS and ADTR: response rates with exact intervals, time to response, and the
best percentage change of the target-lesion sum (the bars of a waterfall plot).

Every function reads the criteria an ADRS was derived with from the dataset itself
(:func:`oncotrial.derive.response_terms.terms_of_adrs`): under iRECIST the objective response
is iCR or iPR by ``ICBOR``, under RECIST 1.1 and mRECIST CR or PR by ``CBOR``.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from oncotrial.derive.errors import DataError
from oncotrial.derive.events import (
    blank_to_na,
    date_column,
    require_columns,
    subject_keys,
)
from oncotrial.derive.response_events import DEFAULT_WINDOWS, ResponseWindows, response_sources
from oncotrial.derive.response_terms import ResponseTerms, terms_for, terms_of_adrs
from oncotrial.stats.binomial import Proportion, clopper_pearson


def _terms(adrs: pd.DataFrame, criteria: str | ResponseTerms | None) -> ResponseTerms:
    return terms_of_adrs(adrs) if criteria is None else terms_for(criteria)


def _best(adrs: pd.DataFrame, paramcd: str, subjects: Iterable[str] | None) -> pd.Series:
    require_columns(adrs, ["USUBJID", "PARAMCD", "AVALC"], "ADRS")
    best = adrs.loc[adrs["PARAMCD"].eq(paramcd).to_numpy(dtype=bool)]
    if best.empty:
        raise DataError(f"no {paramcd} records", dataset="ADRS", column="PARAMCD")
    values = best.set_index(best["USUBJID"].astype(str))["AVALC"]
    if subjects is None:
        return values
    wanted = [str(s) for s in subjects]
    missing = [s for s in wanted if s not in values.index]
    if missing:
        raise DataError(
            f"no {paramcd} record", dataset="ADRS", subject=missing[0], column="PARAMCD"
        )
    return values.loc[wanted]


def response_rate(
    adrs: pd.DataFrame,
    responses: Iterable[str],
    *,
    paramcd: str = "BOR",
    subjects: Iterable[str] | None = None,
    level: float = 0.95,
) -> Proportion:
    """Share of subjects whose ``paramcd`` is in ``responses``, with the Clopper–Pearson
    interval. Denominator: every subject with the parameter (MISSING counts as a
    non-responder, as ORR is defined on all treated/randomised subjects), or ``subjects``."""
    best = _best(adrs, paramcd, subjects)
    x = int(best.isin(set(responses)).sum())
    return clopper_pearson(x, len(best), level)


def objective_response_rate(
    adrs: pd.DataFrame,
    *,
    confirmed: bool = True,
    subjects: Iterable[str] | None = None,
    level: float = 0.95,
    criteria: str | ResponseTerms | None = None,
) -> Proportion:
    """ORR: best (confirmed, by default — RECIST 1.1 §4.6 for non-randomised trials) overall
    response CR or PR (iCR or iPR under iRECIST), with its exact interval (FDA 2018 endpoints
    guidance: ORR = CR + PR). ``criteria`` None: the one the ADRS was derived with."""
    terms = _terms(adrs, criteria)
    return _best_rate(adrs, terms, terms.responses, confirmed, subjects, level)


def disease_control_rate(
    adrs: pd.DataFrame,
    *,
    confirmed: bool = True,
    subjects: Iterable[str] | None = None,
    level: float = 0.95,
    criteria: str | ResponseTerms | None = None,
) -> Proportion:
    """DCR: best overall response CR, PR, SD or NON-CR/NON-PD (SD only from the SD window on,
    as BOR defines it; the iRECIST equivalents under iRECIST), with its exact interval."""
    terms = _terms(adrs, criteria)
    return _best_rate(adrs, terms, terms.disease_control, confirmed, subjects, level)


def _best_rate(
    adrs: pd.DataFrame,
    terms: ResponseTerms,
    codes: Iterable[str],
    confirmed: bool,
    subjects: Iterable[str] | None,
    level: float,
) -> Proportion:
    paramcd = terms.paramcd("CBOR" if confirmed else "BOR")
    return response_rate(adrs, codes, paramcd=paramcd, subjects=subjects, level=level)


def time_to_response(
    adrs: pd.DataFrame,
    adsl: pd.DataFrame,
    *,
    confirmed: bool = True,
    windows: ResponseWindows = DEFAULT_WINDOWS,
    criteria: str | ResponseTerms | None = None,
) -> pd.DataFrame:
    """Per responder: days from the reference date to the first (confirmed) response,
    ``ADT − STARTDT + 1`` (the ADaM duration convention); columns ``USUBJID``, ``STARTDT``,
    ``ADT``, ``AVAL``."""
    terms = _terms(adrs, criteria)
    paramcd = terms.paramcd("CRSP" if confirmed else "RSP")
    sources = response_sources(adrs, adsl, windows, terms)
    rows = adrs.loc[(adrs["PARAMCD"].eq(paramcd) & adrs["AVALC"].eq("Y")).to_numpy(dtype=bool)]
    keys = subject_keys(adsl, adrs)
    out = rows[keys].copy()
    out["ADT"] = date_column(rows, "ADT", dataset="ADRS").to_numpy()
    out = out.merge(
        sources["adsl"].rename(columns={windows.reference_date: "STARTDT"}), on=keys, how="left"
    )
    out["AVAL"] = ((out["ADT"] - out["STARTDT"]).dt.days + 1).astype("Int64")
    return out[[*keys, "STARTDT", "ADT", "AVAL"]].reset_index(drop=True)


def best_percent_change(
    adtr: pd.DataFrame,
    *,
    paramcd: str = "SDIAM",
    reference_date: str = "RANDDT",
    valid_flag: str | None = "ANL01FL",
) -> pd.DataFrame:
    """Per subject, the post-baseline record with the smallest percentage change of the target
    lesion sum from baseline, ``PCHG = 100 (AVAL − BASE) / BASE`` (ties: earliest) — the bar of
    a waterfall plot (admiralonco ``ad_adtr.R``, ``ANL02FL``). Input: ADTR-like rows
    (``USUBJID``, ``PARAMCD``, ``ADT``, ``AVAL``, and ``BASE`` or an ``ABLFL`` baseline record;
    the RECIST engine's sums fit the same shape). Post-baseline: ``ADT`` after
    ``reference_date``; only records flagged ``valid_flag`` (None: all)."""
    require_columns(adtr, ["USUBJID", "PARAMCD", "ADT", "AVAL", reference_date], "ADTR")
    data = blank_to_na(adtr)
    data = data.loc[data["PARAMCD"].eq(paramcd).to_numpy(dtype=bool)].copy()
    data["ADT"] = date_column(data, "ADT", dataset="ADTR")
    data[reference_date] = date_column(data, reference_date, dataset="ADTR")
    data["AVAL"] = pd.to_numeric(data["AVAL"], errors="raise").astype(float)
    if "BASE" in data.columns:
        data["BASE"] = pd.to_numeric(data["BASE"], errors="raise").astype(float)
    else:
        require_columns(data, ["ABLFL"], "ADTR")
        base = data.loc[data["ABLFL"].eq("Y").to_numpy(dtype=bool)]
        if base["USUBJID"].duplicated().any():
            subject = str(base.loc[base["USUBJID"].duplicated(), "USUBJID"].iloc[0])
            raise DataError("two baseline records", dataset="ADTR", subject=subject, column="ABLFL")
        data = data.merge(
            base[["USUBJID", "AVAL"]].rename(columns={"AVAL": "BASE"}), on="USUBJID", how="left"
        )
    post = data["ADT"] > data[reference_date]
    if valid_flag is not None:
        require_columns(data, [valid_flag], "ADTR")
        post &= data[valid_flag].eq("Y").fillna(False)
    post &= data["BASE"].notna() & data["BASE"].gt(0)
    data = data.loc[post.to_numpy(dtype=bool)].copy()
    data["PCHG"] = 100.0 * (data["AVAL"] - data["BASE"]) / data["BASE"]
    data = data.sort_values(["USUBJID", "PCHG", "ADT"], kind="mergesort")
    best = data.groupby("USUBJID", sort=False).head(1)
    columns = [
        c
        for c in ("STUDYID", "USUBJID", "ADT", "AVISIT", "AVAL", "BASE", "PCHG")
        if c in best.columns
    ]
    return best[columns].sort_values("USUBJID").reset_index(drop=True)
