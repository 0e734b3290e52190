"""Disposition variables of ADSL from DS: why and when treatment ended, why the study ended.

ADaMIG 1.3 ADSL variables: ``EOTSTT`` (end of treatment status: COMPLETED, DISCONTINUED, or
ONGOING without an end-of-treatment record), ``DCTREAS`` (reason for discontinuation of
treatment), ``DCTDT`` (its date) and ``DCSREAS`` (reason for discontinuation from the study;
empty when the study was completed), read from the DS disposition events whose ``DSSCAT`` is
``END OF TREATMENT`` or ``END OF STUDY`` (the admiral ADSL template reads ``DCSREAS`` from the
study disposition event the same way). A subject with two end-of-treatment or two end-of-study
records raises :class:`DataError` with both rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from oncotrial.derive.dates import parse_iso_date
from oncotrial.derive.errors import DataError
from oncotrial.derive.events import blank_to_na, require_columns

DISPOSITION_VARIABLES = ("EOTSTT", "DCTREAS", "DCTDT", "DCSREAS")
_COMPLETED = "COMPLETED"


def _event(ds: pd.DataFrame, subcategory: str) -> pd.DataFrame:
    """Each subject's one DS disposition event of ``subcategory`` (row numbers kept)."""
    rows = ds[
        ds["DSCAT"].astype(str).str.upper().eq("DISPOSITION EVENT")
        & ds["DSSCAT"].astype(str).str.upper().eq(subcategory)
    ]
    twice = rows[rows["USUBJID"].duplicated(keep=False)]
    if len(twice):
        first = twice.iloc[0]
        lines = ", ".join(str(r) for r in twice.loc[twice.USUBJID.eq(first.USUBJID), "_row"])
        raise DataError(
            f"two {subcategory.lower()} records (rows {lines})",
            dataset="DS",
            subject=str(first.USUBJID),
            row=int(twice["_row"].iloc[1]),
            column="DSSCAT",
        )
    return rows.set_index("USUBJID")


def derive_disposition(adsl: pd.DataFrame, ds: pd.DataFrame) -> pd.DataFrame:
    """``adsl`` with :data:`DISPOSITION_VARIABLES` (see the module docstring).

    Example
    -------
    >>> adsl = pd.DataFrame({"USUBJID": ["A", "B"]})
    >>> ds = pd.DataFrame({"USUBJID": ["A", "A"], "DSCAT": "DISPOSITION EVENT",
    ...     "DSSCAT": ["END OF TREATMENT", "END OF STUDY"],
    ...     "DSDECOD": ["PROGRESSIVE DISEASE", "DEATH"], "DSSTDTC": ["2024-05-02", "2024-09-30"]})
    >>> derive_disposition(adsl, ds)[["EOTSTT", "DCTREAS", "DCSREAS"]].values.tolist()
    [['DISCONTINUED', 'PROGRESSIVE DISEASE', 'DEATH'], ['ONGOING', '', '']]
    """
    require_columns(ds, ["USUBJID", "DSCAT", "DSDECOD", "DSSTDTC"], "DS")
    data = blank_to_na(ds).assign(_row=np.arange(1, len(ds) + 1))
    if "DSSCAT" not in data.columns:
        data["DSSCAT"] = ""
    treatment = _event(data, "END OF TREATMENT")
    study = _event(data, "END OF STUDY")
    out = adsl.copy()
    subjects = out["USUBJID"].astype(str)
    reason = subjects.map(treatment["DSDECOD"]).astype(object).fillna("").astype(str)
    out["EOTSTT"] = np.select(
        [reason.eq(""), reason.str.upper().eq(_COMPLETED)], ["ONGOING", _COMPLETED], "DISCONTINUED"
    )
    out["DCTREAS"] = reason.where(~reason.str.upper().eq(_COMPLETED), "")
    dates = []
    for subject, text in zip(subjects, subjects.map(treatment["DSSTDTC"]), strict=True):
        parsed = None
        if isinstance(text, str):
            try:
                parsed = parse_iso_date(text)
            except ValueError as exc:
                row = int(treatment.loc[subject, "_row"])
                raise DataError(
                    str(exc), dataset="DS", subject=subject, row=row, column="DSSTDTC"
                ) from None
        full = parsed.impute("none") if parsed is not None else None
        dates.append(pd.Timestamp(full) if full is not None else pd.NaT)
    out["DCTDT"] = pd.to_datetime(pd.Series(dates, index=out.index))
    ended = subjects.map(study["DSDECOD"]).astype(object).fillna("").astype(str)
    out["DCSREAS"] = ended.where(~ended.str.upper().eq(_COMPLETED), "")
    return out
