"""The visit-level records of ADRS (``PARAMCD = "OVR"``): the overall responses of RS with
their analysis date (partial dates imputed as admiral ``derive_vars_dt`` does, each imputation
noted), ``AVALC``/``AVAL`` in the criteria's vocabulary, and the analysis flags — worst
response per date (``ANL01FL``) and records up to the first progression (``ANL02FL``) — as
admiralonco's ADRS template and its iRECIST article set them."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from oncotrial.derive.dates import parse_iso_date
from oncotrial.derive.errors import CombinedDataError, DataError
from oncotrial.derive.events import (
    DerivationNote,
    Derived,
    blank_to_na,
    check_subjects_in_adsl,
    date_column,
    numeric_column,
    require_columns,
    subject_keys,
)
from oncotrial.derive.response_events import DEFAULT_WINDOWS, ResponseWindows
from oncotrial.derive.response_terms import (
    DEFAULT_LABELS,
    RECIST11_TERMS,
    Labels,
    ResponseTerms,
    category_matches,
    param_values,
    terms_for,
    terms_of_rs,
)

_SDTM = "RS"


def derive_ovr(
    rs: pd.DataFrame,
    adsl: pd.DataFrame,
    *,
    evaluator: str | None = "INVESTIGATOR",
    windows: ResponseWindows = DEFAULT_WINDOWS,
    labels: Labels = DEFAULT_LABELS,
    date_imputation: Literal["first", "mid", "last"] = "last",
    highest_imputation: Literal["D", "M", "none"] = "D",
    criteria: str | ResponseTerms | None = None,
) -> Derived:
    """Visit-level ``OVR`` records: the overall-response rows of ``rs`` (by ``evaluator``;
    None keeps all) with ``ADT``/``ADTF``, ``AVALC``/``AVAL`` and the reference date.

    ``criteria`` (``"recist1.1"``, ``"irecist"``, ``"mrecist"``): keep the rows whose
    ``RSCAT`` names it (blank ``RSCAT`` counts for any) and read their codes in its vocabulary;
    None reads the criteria from the data (:func:`~oncotrial.derive.response_terms.terms_of_rs`).

    Dates: a missing day (``highest_imputation="D"``; ``"M"`` also a missing month) is imputed
    to the ``date_imputation`` day and flagged in ``ADTF`` (admiral ``derive_vars_dt``; the
    template imputes the last day); rows whose date stays unknown keep ``ADT`` missing and
    never enter the analysis. Every imputation and left-out row is a note.
    Exact duplicate rows are dropped (first kept, noted); rows repeating a subject's
    ``RSSEQ`` with other content, unknown response codes, bad dates and subjects missing from
    ADSL raise :class:`DataError`.
    """
    required = ["USUBJID", "RSTESTCD", "RSSTRESC", "RSDTC", "RSSEQ"]
    if evaluator is not None:
        required.append("RSEVAL")
    require_columns(rs, required, _SDTM)
    require_columns(adsl, ["USUBJID", windows.reference_date], "ADSL")
    notes: list[DerivationNote] = []

    data = blank_to_na(rs)
    data["_row"] = np.arange(1, len(data) + 1)
    keep = data["RSTESTCD"].eq("OVRLRESP").fillna(False)
    if evaluator is not None:
        keep &= data["RSEVAL"].eq(evaluator).fillna(False)
    data = data.loc[keep.to_numpy(dtype=bool)].copy()
    terms = terms_of_rs(data) if criteria is None else terms_for(criteria)
    if criteria is not None and "RSCAT" in data.columns and len(data):
        mine = category_matches(data["RSCAT"], terms).to_numpy(dtype=bool)
        if not mine.any():
            named = ", ".join(sorted({str(c) for c in data["RSCAT"].dropna()}))
            raise DataError(
                f"no overall responses by {terms.name} (RSCAT holds {named})",
                dataset=_SDTM,
                column="RSCAT",
            )
        data = data.loc[mine].copy()

    dup = data.duplicated(subset=list(rs.columns), keep="first").to_numpy(dtype=bool)
    for _, r in data.loc[dup].iterrows():
        notes.append(
            DerivationNote(
                "exact-duplicate",
                "row identical to an earlier row; dropped",
                dataset=_SDTM,
                subject=str(r["USUBJID"]),
                row=int(r["_row"]),
            )
        )
    data = data.loc[~dup].copy()

    data["RSSEQ"] = numeric_column(data, "RSSEQ", dataset=_SDTM, rows=data["_row"])
    if "VISITNUM" in data.columns:
        data["VISITNUM"] = numeric_column(data, "VISITNUM", dataset=_SDTM, rows=data["_row"])
    clash = data.duplicated(subset=["USUBJID", "RSSEQ"], keep="first").to_numpy(dtype=bool)
    errors = [
        DataError(
            f"RSSEQ {r['RSSEQ']:g} repeats an earlier row of this subject with other content",
            dataset=_SDTM,
            subject=str(r["USUBJID"]),
            row=int(r["_row"]),
            column="RSSEQ",
        )
        for _, r in data.loc[clash].iterrows()
    ]
    codes = data["RSSTRESC"]
    unknown = (codes.notna() & ~codes.isin(terms.visit_codes)).to_numpy(dtype=bool)
    errors += [
        DataError(
            f"unknown overall response '{r['RSSTRESC']}' ({terms.name}: expected one of "
            f"{', '.join(sorted(terms.visit_codes))})",
            dataset=_SDTM,
            subject=str(r["USUBJID"]),
            row=int(r["_row"]),
            column="RSSTRESC",
        )
        for _, r in data.loc[unknown].iterrows()
    ]
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise CombinedDataError(errors)
    check_subjects_in_adsl(data, adsl, dataset=_SDTM, rows=data["_row"])

    adt, adtf = [], []
    for _, r in data.iterrows():
        day, flag, note = _analysis_date(r, date_imputation, highest_imputation)
        adt.append(day)
        adtf.append(flag)
        if note is not None:
            notes.append(note)
    data["ADT"] = pd.Series(adt, index=data.index, dtype="datetime64[ns]")
    data["ADTF"] = pd.Series(adtf, index=data.index, dtype=object)
    for _, r in data.loc[data["RSSTRESC"].isna()].iterrows():
        notes.append(
            DerivationNote(
                "no-response",
                "overall response missing (not done); not analysed",
                dataset=_SDTM,
                subject=str(r["USUBJID"]),
                row=int(r["_row"]),
                column="RSSTRESC",
            )
        )

    ref = windows.reference_date
    dates = adsl[["USUBJID"]].copy()
    dates[ref] = date_column(adsl, ref, dataset="ADSL")
    data = data.drop(columns=[ref], errors="ignore").merge(dates, on="USUBJID", how="left")
    for name, value in param_values("OVR", labels, terms).items():
        data[name] = value
    if "VISIT" in data.columns:
        data["AVISIT"] = data["VISIT"]
    data["AVALC"] = data["RSSTRESC"]
    data["AVAL"] = data["AVALC"].map(terms.aval).astype(float)
    return Derived(data.drop(columns=["_row"]), notes)


def _analysis_date(
    r: pd.Series, rule: str, highest: str
) -> tuple[pd.Timestamp | None, str | float, DerivationNote | None]:
    raw = r["RSDTC"]
    if not isinstance(raw, str):
        note = DerivationNote(
            "no-date",
            "assessment date missing; not analysed",
            dataset=_SDTM,
            subject=str(r["USUBJID"]),
            row=int(r["_row"]),
            column="RSDTC",
        )
        return None, np.nan, note
    try:
        parsed = parse_iso_date(raw)
    except ValueError as exc:
        raise DataError(
            str(exc), dataset=_SDTM, subject=str(r["USUBJID"]), row=int(r["_row"]), column="RSDTC"
        ) from None
    assert parsed is not None
    if parsed.is_complete:
        return pd.Timestamp(parsed.impute("none")), np.nan, None
    imputable = (parsed.month is not None and highest in ("D", "M")) or highest == "M"
    where = {
        "dataset": _SDTM,
        "subject": str(r["USUBJID"]),
        "row": int(r["_row"]),
        "column": "RSDTC",
    }
    if not imputable:
        return (
            None,
            np.nan,
            DerivationNote(
                "partial-date",
                f"'{raw}' too incomplete to impute (highest imputation '{highest}'); not analysed",
                **where,
            ),
        )
    day = parsed.impute(rule)  # type: ignore[arg-type]
    flag = "D" if parsed.month is not None else "M"
    parts = "day" if flag == "D" else "month and day"
    return (
        pd.Timestamp(day),
        flag,
        DerivationNote(
            "date-imputation", f"'{raw}' imputed to {day} ({rule} {parts}), ADTF={flag}", **where
        ),
    )


def flag_worst_per_date(
    ovr: pd.DataFrame,
    *,
    windows: ResponseWindows = DEFAULT_WINDOWS,
    terms: ResponseTerms = RECIST11_TERMS,
) -> pd.DataFrame:
    """``ANL01FL = "Y"`` on one record per subject and date: the worst response (ties: the
    highest ``RSSEQ`` under RECIST, the lowest under iRECIST), among records with a response
    and a date on/after the reference date (admiralonco ADRS vignette,
    ``derive_var_extreme_flag`` with ``worst_resp()``; its iRECIST article for iRECIST)."""
    out = ovr.copy()
    keys = subject_keys(out)
    ref = out[windows.reference_date]
    eligible = out["AVAL"].notna() & out["ADT"].notna() & ref.notna() & (out["ADT"] >= ref)
    cand = out.loc[eligible.to_numpy(dtype=bool)].assign(
        _rank=lambda d: d["AVALC"].map(terms.worst_rank).fillna(0)
    )
    cand = cand.sort_values(
        [*keys, "ADT", "_rank", "RSSEQ"],
        ascending=[*([True] * (len(keys) + 2)), terms.worst_tie == "last"],
        kind="mergesort",
    )
    chosen = cand.groupby([*keys, "ADT"], sort=False).tail(1).index
    flag = pd.Series(np.nan, index=out.index, dtype=object)
    flag.loc[chosen] = "Y"
    out["ANL01FL"] = flag
    return out


def flag_up_to_first_pd(
    ovr: pd.DataFrame, *, terms: ResponseTerms = RECIST11_TERMS
) -> pd.DataFrame:
    """``ANL02FL = "Y"`` on records up to and including the first PD (iCPD under iRECIST; by
    ``ADT``, ``RSSEQ``); all records of subjects without one (admiral
    ``derive_var_relative_flag``, ``mode = "first"``, ``selection = "before"``,
    ``inclusive = TRUE``)."""
    out = ovr.copy()
    keys = subject_keys(out)
    order = out.sort_values([*keys, "ADT", "RSSEQ"], kind="mergesort", na_position="last")
    flag = pd.Series(np.nan, index=out.index, dtype=object)
    for _, group in order.groupby(keys, sort=False):
        pd_rows = np.flatnonzero(group["AVALC"].eq(terms.pd).fillna(False).to_numpy(dtype=bool))
        upto = len(group) if len(pd_rows) == 0 else pd_rows[0] + 1
        flag.loc[group.index[:upto]] = "Y"
    out["ANL02FL"] = flag
    return out
