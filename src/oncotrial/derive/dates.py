"""ISO 8601 dates of SDTM ``--DTC`` variables: full, partial (``2021-03``, ``2021``) and with
times; imputation of partial dates as documented rules (admiral's ``derive_vars_dt``
conventions: ``highest_imputation`` and ``date_imputation`` "first", "mid" or "last").
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

import numpy as np
import pandas as pd

from oncotrial.derive.errors import DataError

_ISO = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2}))?)?"
    r"(?:T(?P<time>\d{2}(?::\d{2}(?::\d{2}(?:\.\d+)?)?)?))?$"
)

Imputation = Literal["none", "first", "mid", "last"]


@dataclass(frozen=True)
class PartialDate:
    """The parts of an ISO 8601 date that were given (month/day may be missing)."""

    year: int
    month: int | None
    day: int | None

    @property
    def is_complete(self) -> bool:
        return self.month is not None and self.day is not None

    def impute(self, rule: Imputation) -> date | None:
        """A full date: missing parts set to the first, middle (July 1 / 15th) or last day;
        ``none`` gives None for a partial date."""
        if self.is_complete:
            return date(self.year, self.month, self.day)  # type: ignore[arg-type]
        if rule == "none":
            return None
        month = self.month
        if month is None:
            month = {"first": 1, "mid": 7, "last": 12}[rule]
        last_day = calendar.monthrange(self.year, month)[1]
        day = self.day
        if day is None:
            day = {"first": 1, "mid": min(15, last_day), "last": last_day}[rule]
            if rule == "mid" and self.month is None:
                day = 1
        return date(self.year, month, day)


def parse_iso_date(text: str) -> PartialDate | None:
    """The date part of an ISO 8601 string; None for empty. Raises ValueError when malformed
    or impossible (e.g. ``2021-02-30``)."""
    text = (text or "").strip()
    if not text:
        return None
    match = _ISO.match(text)
    if match is None:
        raise ValueError(f"'{text}' is not an ISO 8601 date (YYYY, YYYY-MM or YYYY-MM-DD)")
    year = int(match["y"])
    month = int(match["m"]) if match["m"] else None
    day = int(match["d"]) if match["d"] else None
    if month is not None and not 1 <= month <= 12:
        raise ValueError(f"'{text}': month {month} does not exist")
    if day is not None:
        assert month is not None
        if not 1 <= day <= calendar.monthrange(year, month)[1]:
            raise ValueError(f"'{text}': day {day} does not exist in {year}-{month:02d}")
    return PartialDate(year, month, day)


def to_dates(
    values: pd.Series,
    *,
    dataset: str,
    column: str,
    subjects: pd.Series | None = None,
    impute: Imputation = "none",
) -> pd.Series:
    """A column of ISO 8601 text → ``datetime64[ns]`` (NaT where missing or partial and not
    imputed). Malformed or impossible dates raise :class:`DataError` naming the row and
    subject."""
    out = np.full(len(values), np.datetime64("NaT"), dtype="datetime64[ns]")
    for i, raw in enumerate(values.tolist()):
        if raw is None or (isinstance(raw, float) and np.isnan(raw)):
            continue
        try:
            parsed = parse_iso_date(str(raw))
        except ValueError as exc:
            subject = None if subjects is None else str(subjects.iloc[i])
            raise DataError(
                str(exc), dataset=dataset, subject=subject, row=i + 1, column=column
            ) from None
        if parsed is None:
            continue
        full = parsed.impute(impute)
        if full is not None:
            out[i] = np.datetime64(full, "ns")
    return pd.Series(out, index=values.index, name=column)
