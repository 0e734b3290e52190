"""ISO 8601 dates of SDTM ``--DTC`` variables: full, partial (``2021-03``, ``2021``) and with
times; imputation of partial dates as documented rules (admiral's ``derive_vars_dt``
conventions: ``highest_imputation`` and ``date_imputation`` "first", "mid" or "last").
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

import numpy as np
import pandas as pd

from oncotrial.derive.errors import DataError, raise_all

_ISO = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2}))?)?"
    r"(?:T(?P<time>\d{2}(?::\d{2}(?::\d{2}(?:\.\d+)?)?)?))?$"
)

Imputation = Literal["none", "first", "mid", "last"]

_TIME = re.compile(r"^(\d{2})(?::(\d{2})(?::(\d{2})(?:\.\d+)?)?)?$")


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


def is_missing(value: object) -> bool:
    """None, NA, NaT or NaN."""
    return (
        value is None
        or value is pd.NA
        or value is pd.NaT
        or (isinstance(value, float) and np.isnan(value))
    )


def text_values(series: pd.Series) -> pd.Series:
    """A column as stripped text with ``""`` for missing values."""
    return pd.Series(
        ["" if is_missing(v) else str(v).strip() for v in series.tolist()],
        index=series.index,
        dtype=object,
    )


def split_iso_datetime(
    text: str,
) -> tuple[PartialDate | None, tuple[int | None, int | None, int | None]]:
    """The (possibly partial) date and the hour, minute, second of an ISO 8601 value.
    Raises ValueError for a malformed or impossible date or time."""
    date_text, sep, time_text = text.partition("T")
    parsed = parse_iso_date(date_text)
    if not sep:
        return parsed, (None, None, None)
    match = _TIME.match(time_text)
    if match is None:
        raise ValueError(f"'{text}': '{time_text}' is not an ISO 8601 time")
    h, m, s = (int(g) if g else None for g in match.groups())
    if (h or 0) > 23 or (m or 0) > 59 or (s or 0) > 59:
        raise ValueError(f"'{text}': time {time_text} does not exist")
    return parsed, (h, m, s)


def parse_iso_datetime(text: str) -> np.datetime64:
    """A complete ISO 8601 date with optional time (missing time parts = 0); ValueError for a
    partial, malformed or impossible value."""
    parsed, (h, m, s) = split_iso_datetime(text)
    if parsed is None or not parsed.is_complete:
        raise ValueError(f"'{text}' is a partial date; a full date (YYYY-MM-DD) is required")
    day = np.datetime64(parsed.impute("none"), "s")
    return day + np.timedelta64((h or 0) * 3600 + (m or 0) * 60 + (s or 0), "s")


def datetime_column(
    frame: pd.DataFrame,
    column: str,
    dataset: str,
    *,
    required: bool = False,
    rows: np.ndarray | None = None,
) -> np.ndarray:
    """A column of complete ISO 8601 dates/datetimes, or already-typed datetimes (as ADSL
    derived in memory has), as ``datetime64[s]`` (NaT where missing). Every bad value is
    reported at once, naming dataset, subject, row (``rows`` or position + 1) and column."""
    out = np.full(len(frame), np.datetime64("NaT"), dtype="datetime64[s]")
    subjects = text_values(frame["USUBJID"]).tolist() if "USUBJID" in frame else [None] * len(frame)
    errors: list[DataError] = []
    for i, raw in enumerate(frame[column].tolist()):
        row = i + 1 if rows is None else int(rows[i])
        where = {"dataset": dataset, "subject": subjects[i], "row": row, "column": column}
        if is_missing(raw) or (isinstance(raw, str) and not raw.strip()):
            if required:
                errors.append(DataError("date is missing", **where))
            continue
        if isinstance(raw, pd.Timestamp | np.datetime64 | datetime):
            out[i] = np.datetime64(pd.Timestamp(raw).to_datetime64(), "s")
            continue
        if isinstance(raw, date):
            out[i] = np.datetime64(raw, "s")
            continue
        try:
            out[i] = parse_iso_datetime(str(raw).strip().replace(" ", "T", 1))
        except ValueError as exc:
            errors.append(DataError(str(exc), **where))
    raise_all(errors)
    return out
