"""ISO 8601 dates and times of SDTM ``--DTC`` variables: one grammar for every door, their spans
and admiral's imputation rules.

The grammar is SDTMIG v3.4 §4.4.2–4.4.4 (ISO 8601 extended format, right-truncated for reduced
precision; an unknown component followed by a known one is written ``-``)::

    YYYY[-MM[-DD]][Thh[:mm[:ss[.f]]]]     2024, 2024-03, 2024-03-15, 2024-03-15T10:30:15.5
    2024---15        year and day known, month unknown
    2024-03--T10:30  day unknown, time known
    --03-15          year unknown
    2024-03-15T-:30  hour unknown, minute known

A time needs all three date components (given or ``-``); a ``-`` must be followed by a known
component (``2024--`` is refused); months 01–12, days that exist in the month (in some month
when the month is unknown), hours 00–23, minutes and seconds 00–59. Time zones are refused:
SDTM dates of this study are local clinic times.

Imputation follows pharmaverse admiral (``impute_dtc_dt``/``impute_dtc_dtm``,
``derive_vars_dt``/``derive_vars_dtm``, v1.x): ``highest_imputation`` "M" imputes a missing
month and day, "D" only a missing day, "n" nothing; ``date_imputation`` "first" (01-01 / the
1st), "mid" (06-30 when the month is missing, else the 15th) or "last" (12-31 / the last day);
when the month is missing a known day is ignored (``preserve = FALSE``); a missing year is
never imputed. Missing time parts take 00:00:00 ("first") or 23:59:59 ("last"). Flags:
``--DTF`` "D" (day imputed), "M" (month and day), ``--TMF`` "H", "M" or "S" for the highest
time part imputed ("H" when the date was imputed).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Literal

Imputation = Literal["none", "first", "mid", "last"]
HighestImputation = Literal["M", "D", "n"]
TimeImputation = Literal["first", "last"]

_DTC = re.compile(
    r"^(?P<y>\d{4}|-)(?:-(?P<m>\d{2}|-)(?:-(?P<d>\d{2}|-))?)?"
    r"(?:T(?P<h>\d{2}|-)(?::(?P<mi>\d{2}|-)(?::(?P<s>\d{2}(?:\.\d+)?|-))?)?)?$"
)
_FORMS = "YYYY, YYYY-MM, YYYY-MM-DD, optionally Thh:mm:ss; '-' for an unknown part, e.g. 2024---15"


class DateFormatError(ValueError):
    """A ``--DTC`` value that is not an ISO 8601 date or names a day or time that does not
    exist; the message says which."""


@dataclass(frozen=True)
class Dtc:
    """A parsed ``--DTC`` value: the parts that were given (``None`` where unknown)."""

    text: str
    year: int | None
    month: int | None
    day: int | None
    hour: int | None = None
    minute: int | None = None
    second: float | None = None

    @property
    def is_complete(self) -> bool:
        """Whether year, month and day are all known (the time may be missing)."""
        return self.year is not None and self.month is not None and self.day is not None

    @property
    def has_time(self) -> bool:
        """Whether any part of the time of day is given."""
        return self.hour is not None or self.minute is not None or self.second is not None

    @property
    def earliest(self) -> date:
        """The first day the value may stand for (``date.min`` when the year is unknown)."""
        return _span(self)[0]

    @property
    def latest(self) -> date:
        """The last day the value may stand for (``date.max`` when the year is unknown)."""
        return _span(self)[1]

    @property
    def complete(self) -> bool:
        """Whether the value stands for exactly one day."""
        return self.is_complete

    def impute(self, rule: Imputation) -> date | None:
        """The date, missing month and day imputed by ``rule`` (admiral
        ``highest_imputation = "M"``); ``"none"`` gives None for a partial date, and a missing
        year always gives None."""
        if rule == "none":
            return impute_date(self, highest="n")[0]
        return impute_date(self, highest="M", rule=rule)[0]


#: Older name of :class:`Dtc` (a possibly partial date).
PartialDate = Dtc


def parse_dtc(text: str | None) -> Dtc | None:
    """An SDTM ``--DTC`` value parsed (None when empty); :class:`DateFormatError` (a
    ``ValueError``) saying what is wrong otherwise.

    Example
    -------
    >>> parse_dtc("2024---15").day, parse_dtc("2024---15").month
    (15, None)
    """
    text = (text or "").strip()
    if not text:
        return None
    parsed = _parse_cached(text)
    if isinstance(parsed, str):
        raise DateFormatError(parsed)
    return parsed


#: Older name of :func:`parse_dtc`.
parse_iso_date = parse_dtc


def dtc_problem(text: str) -> str | None:
    """Why ``text`` is not a valid ``--DTC`` value, or None when it is (empty is valid)."""
    text = text.strip()
    if not text:
        return None
    parsed = _parse_cached(text)
    return parsed if isinstance(parsed, str) else None


@lru_cache(maxsize=65536)
def _parse_cached(text: str) -> Dtc | str:
    """The parsed value, or the message saying why it is not a date (dates repeat a lot)."""
    match = _DTC.match(text)
    if match is None:
        return f"'{text}' is not an ISO 8601 date ({_FORMS})"
    parts = [match[name] for name in ("y", "m", "d", "h", "mi", "s")]
    given = [p for p in parts if p is not None]
    if given[-1] == "-":
        return f"'{text}': an unknown part is written '-' only before a known one ({_FORMS})"
    if match["h"] is not None and match["d"] is None:
        return (
            f"'{text}': a time needs all three date parts (unknown ones as '-', "
            "e.g. 2024-03--T10:30)"
        )

    def number(value: str | None) -> int | None:
        return None if value in (None, "-") else int(value)

    year, month, day = number(match["y"]), number(match["m"]), number(match["d"])
    hour, minute = number(match["h"]), number(match["mi"])
    second = None if match["s"] in (None, "-") else float(match["s"])
    if year == 0:
        return f"'{text}': year 0000 is not a calendar year (the Gregorian calendar starts at 0001)"
    if month is not None and not 1 <= month <= 12:
        return f"'{text}': month {month} does not exist"
    if day is not None:
        months = [month] if month is not None else list(range(1, 13))
        leap = 2000 if year is None else year  # an unknown year may be a leap year
        if not any(1 <= day <= calendar.monthrange(leap, m)[1] for m in months):
            where = f" in {year}-{month:02d}" if year is not None and month is not None else ""
            return f"'{text}': day {day} does not exist{where}"
    if (hour or 0) > 23 or (minute or 0) > 59 or (second or 0) >= 60:
        shown = text.partition("T")[2]
        return f"'{text}': time {shown} does not exist"
    return Dtc(text, year, month, day, hour, minute, second)


@lru_cache(maxsize=65536)
def _span(value: Dtc) -> tuple[date, date]:
    if value.year is None:
        return date.min, date.max
    year, month, day = value.year, value.month, value.day
    if month is not None and day is not None:
        return date(year, month, day), date(year, month, day)
    if month is not None:
        return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])
    if day is not None:
        months = [m for m in range(1, 13) if day <= calendar.monthrange(year, m)[1]]
        return date(year, months[0], day), date(year, months[-1], day)
    return date(year, 1, 1), date(year, 12, 31)


def date_span(text: str | None) -> Dtc | None:
    """The parsed value of a date that is present and valid, else None (for the date-order
    rules; the format is checked apart)."""
    if not text:
        return None
    parsed = _parse_cached(text.strip())
    return None if isinstance(parsed, str) else parsed


def definitely_before(a: Dtc, b: Dtc) -> bool:
    """Whether every day ``a`` may be falls before every day ``b`` may be."""
    return a.latest < b.earliest


# ---------------------------------------------------------------------------------------------
# imputation (admiral)


def impute_date(
    value: Dtc | None,
    *,
    highest: HighestImputation = "M",
    rule: Literal["first", "mid", "last"] = "first",
) -> tuple[date | None, str]:
    """The date of ``value`` imputed as admiral's ``impute_dtc_dt`` (``preserve = FALSE``) and
    its ``--DTF`` flag ("", "D" or "M"); (None, "") when it cannot be imputed at ``highest``."""
    if value is None or value.year is None:
        return None, ""
    if value.is_complete:
        return date(value.year, value.month, value.day), ""  # type: ignore[arg-type]
    if value.month is None:
        if highest != "M":
            return None, ""
        month, day = {"first": (1, 1), "mid": (6, 30), "last": (12, 31)}[rule]
        return date(value.year, month, day), "M"
    if highest == "n":
        return None, ""
    last_day = calendar.monthrange(value.year, value.month)[1]
    day = {"first": 1, "mid": 15, "last": last_day}[rule]
    return date(value.year, value.month, day), "D"


@dataclass(frozen=True)
class ImputedDatetime:
    """An imputed ``--DTC`` value and admiral's imputation flags (``""`` when not imputed)."""

    value: datetime | None
    date_flag: str
    time_flag: str


def impute_datetime(
    value: Dtc | None,
    *,
    highest: HighestImputation = "n",
    date_rule: Literal["first", "mid", "last"] = "first",
    time_rule: TimeImputation = "first",
    min_dates: Sequence[date | None] = (),
    max_dates: Sequence[date | None] = (),
) -> ImputedDatetime:
    """A ``--DTC`` value as a datetime, as admiral's ``impute_dtc_dtm``: the date imputed at
    ``highest`` by ``date_rule``, missing time parts by ``time_rule`` (00:00:00 / 23:59:59);
    an unknown hour makes the whole time unknown (admiral ``propagate_na_values``). An imputed
    date is raised to a ``min_dates`` day (lowered to a ``max_dates`` day) that lies within the
    days the partial date allows (admiral ``restrict_imputed_dtc_dtm``). No date: None."""
    day, date_flag = impute_date(value, highest=highest, rule=date_rule)
    if value is None or day is None:
        return ImputedDatetime(None, "", "")
    last = time_rule == "last"
    hour, minute, second = value.hour, value.minute, value.second
    if date_flag or hour is None:
        hour = minute = second = None
    elif minute is None:
        second = None
    time_flag = (
        "H" if hour is None else ("M" if minute is None else ("S" if second is None else ""))
    )
    seconds = second if second is not None else (59.0 if last else 0.0)
    stamp = datetime(
        day.year,
        day.month,
        day.day,
        hour if hour is not None else (23 if last else 0),
        minute if minute is not None else (59 if last else 0),
    ) + timedelta(seconds=seconds)
    if date_flag:
        lo = datetime.combine(value.earliest, datetime.min.time())
        hi = datetime.combine(value.latest, datetime.max.time())
        for bound in min_dates:
            if bound is not None:
                start = datetime.combine(bound, datetime.min.time())
                if lo <= start <= hi and start > stamp:
                    stamp = start
        for bound in max_dates:
            if bound is not None:
                end = datetime.combine(bound, datetime.max.time()).replace(microsecond=0)
                if lo <= end <= hi and end < stamp:
                    stamp = end
    return ImputedDatetime(stamp, date_flag, time_flag)


def parse_analysis_datetime(text: str) -> datetime:
    """A complete ISO 8601 date with optional time (missing time parts 0), as ADaM ``*DT`` /
    ``*DTM`` text holds it (a space may separate date and time); ValueError for a partial,
    malformed or impossible value."""
    value = parse_dtc(text.strip().replace(" ", "T", 1))
    if value is None:
        raise DateFormatError("the date is empty")
    if not value.is_complete:
        raise DateFormatError(
            f"'{text}' is a partial date; an analysis date is complete (YYYY-MM-DD): impute it "
            "(with its imputation flag) where the variable is derived"
        )
    imputed = impute_datetime(value, highest="n")
    assert imputed.value is not None
    return imputed.value
