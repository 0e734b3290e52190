"""Edit checks of trial data, run on entry (forms, API) and on import, before anything is stored.

Pure functions on plain data: rows are ``{SDTM variable: text or None}`` and a subject's
reference dates come in a :class:`SubjectDates`; the store gathers them and refuses the whole
write when any finding is an error (ICH E6(R3): data are checked at entry so that errors are
caught where they can still be corrected). Each :class:`Finding` names the subject, the form
(SDTM domain, or ``SUBJECT``/``COHORT``), the field, the rule and a message.

Rules (``Finding.rule``):

- ``required`` — USUBJID (and the subject's site) must be given;
- ``domain`` — a ``DOMAIN`` value must be the domain the row is stored in;
- ``date_format`` — ISO 8601 dates (``YYYY``, ``YYYY-MM``, ``YYYY-MM-DD``, ``YYYY---DD``, with an
  optional ``Thh:mm:ss``) that exist in the calendar;
- ``date_partial`` — partial dates are an error where the trial needs the day (informed
  consent, first dose, each dose start: the DLT window is counted from them) and a warning
  elsewhere (SDTM allows them there);
- ``number_format`` — numeric SDTM variables (``--SEQ``, ``--DY``, ``--STRESN``, ``AGE``, …) hold
  numbers; ``--SEQ`` a positive integer;
- ``controlled_term`` — values of coded variables are terms of their CDISC codelist (SEX, NY
  flags such as AESER, AESEV, AEOUT, RSSTRESC of RECIST 1.1/iRECIST responses, TUSTRESC, …);
- ``ctcae_grade`` — AETOXGR is a CTCAE grade 1–5;
- ``diameter_nonnegative`` — lesion diameters (TRTESTCD LDIAM, LPERP, SUMDIAM, … or results in
  mm/cm) are ≥ 0;
- ``duplicate`` — one record per subject and ``--SEQ`` (one DM row per subject);
- ``unknown_subject`` — records point to a subject of the study;
- ``date_order`` — informed consent ≤ first dose ≤ response assessments; consent ≤ dosing,
  adverse events and assessments; nothing after death; start ≤ end within a record;
- ``death_before_first_dose`` — death is not before the first dose;
- ``cohort_dose_level`` — a subject is at one dose level, that of their cohort;
- ``cohort_open`` — enrolment needs an open slot of an open cohort.

``required``, ``unknown_subject`` and ``duplicate`` are structural (:data:`STRUCTURAL_RULES`):
the database could not hold such data, so they refuse a write even when other checks are
overridden.

Partial dates are compared as the span of days they may stand for: an order is broken only when
it is broken for every day in the spans. Times are ignored (same day is in order).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Literal

Severity = Literal["error", "warning"]
Row = Mapping[str, str | None]


@dataclass(frozen=True)
class Finding:
    """One edit-check finding: where (subject, form, field, row) and what (rule, message)."""

    usubjid: str | None
    domain: str
    field: str
    rule: str
    message: str
    row: int | None = None
    record_id: int | None = None
    severity: Severity = "error"

    def __str__(self) -> str:
        where = []
        if self.row is not None:
            where.append(f"row {self.row + 1}")
        if self.record_id is not None:
            where.append(f"record #{self.record_id}")
        suffix = f" ({', '.join(where)})" if where else ""
        level = "" if self.severity == "error" else f"{self.severity}: "
        return (
            f"{level}{self.usubjid or '<no subject>'} {self.domain}.{self.field} "
            f"[{self.rule}] {self.message}{suffix}"
        )


# ---------------------------------------------------------------------------------------------
# ISO 8601 dates


_DTC = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2}|-)(?:-(?P<d>\d{2}))?)?"
    r"(?:T(?P<h>\d{2})(?::(?P<mi>\d{2})(?::(?P<s>\d{2})(?:\.\d+)?)?)?)?$"
)


@dataclass(frozen=True)
class DateSpan:
    """An ISO 8601 date, full or partial, as the first and last day it may stand for."""

    text: str
    earliest: date
    latest: date

    @property
    def complete(self) -> bool:
        return self.earliest == self.latest


def parse_dtc(text: str) -> DateSpan:
    """Parse an SDTM ``--DTC`` value; raises ValueError naming what is wrong."""
    parsed = _parse_cached(text)
    if isinstance(parsed, str):
        raise ValueError(parsed)
    return parsed


@lru_cache(maxsize=65536)
def _parse_cached(text: str) -> DateSpan | str:
    """The span of ``text``, or the message saying why it is not a date (dates repeat a lot)."""
    try:
        return _parse(text)
    except ValueError as exc:
        return str(exc)


def _parse(text: str) -> DateSpan:
    match = _DTC.match(text)
    if match is None:
        raise ValueError(
            f"'{text}' is not an ISO 8601 date (YYYY, YYYY-MM, YYYY-MM-DD, optionally Thh:mm:ss)"
        )
    year = int(match["y"])
    month = None if match["m"] in (None, "-") else int(match["m"])
    day = int(match["d"]) if match["d"] else None
    if match["m"] == "-" and day is None:
        raise ValueError(f"'{text}': a missing month is written YYYY---DD")
    if month is not None and not 1 <= month <= 12:
        raise ValueError(f"'{text}': month {month} does not exist")
    if match["h"] is not None:
        if month is None or day is None:
            raise ValueError(f"'{text}': a time needs a full date")
        hour, minute = int(match["h"]), int(match["mi"] or 0)
        second = int(match["s"] or 0)
        if hour > 23 or minute > 59 or second > 59:
            raise ValueError(f"'{text}': time {match['h']}:{minute:02d} does not exist")
    if day is not None:
        months = [month] if month is not None else list(range(1, 13))
        if not any(day <= calendar.monthrange(year, m)[1] for m in months):
            raise ValueError(f"'{text}': day {day} does not exist")
        if month is not None:
            return DateSpan(text, date(year, month, day), date(year, month, day))
        first = next(m for m in months if day <= calendar.monthrange(year, m)[1])
        last = next(m for m in reversed(months) if day <= calendar.monthrange(year, m)[1])
        return DateSpan(text, date(year, first, day), date(year, last, day))
    if month is not None:
        return DateSpan(
            text, date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])
        )
    return DateSpan(text, date(year, 1, 1), date(year, 12, 31))


def date_span(text: str | None) -> DateSpan | None:
    """The span of a date that is present and valid, else None (format is checked apart)."""
    if not text:
        return None
    parsed = _parse_cached(text)
    return None if isinstance(parsed, str) else parsed


def definitely_before(a: DateSpan, b: DateSpan) -> bool:
    """Whether every day ``a`` may be falls before every day ``b`` may be."""
    return a.latest < b.earliest


# ---------------------------------------------------------------------------------------------
# Variables and codelists

#: Dates the trial needs to the day: consent and first dose start the clocks (DLT window).
COMPLETE_DATE_REQUIRED = frozenset({"RFICDTC", "RFXSTDTC", "EXSTDTC"})

_NUMERIC_SUFFIXES = ("SEQ", "DY", "STDY", "ENDY", "STRESN", "TPTNUM", "LLOQ", "ULOQ")
_NUMERIC_NAMES = frozenset(
    {"AGE", "VISITNUM", "VISITDY", "TAETORD", "EXDOSE", "EXDOSTOT"}
    | {"AELLTCD", "AEPTCD", "AEHLTCD", "AEHLGTCD", "AEBDSYCD", "AESOCCD"}
)
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")

NY = frozenset({"N", "Y", "U", "NA"})
RECIST_RESPONSES = frozenset({"CR", "PR", "SD", "PD", "NE", "NON-CR/NON-PD", "NED"})
IRECIST_RESPONSES = frozenset(
    {"iCR", "iPR", "iSD", "iUPD", "iCPD", "NON-iCR/NON-iUPD", "NE", "NED"}
)
RESPONSE_TESTS = frozenset({"OVRLRESP", "TRGRESP", "NTRGRESP"})
DIAMETER_TESTS = frozenset(
    {"LDIAM", "LPERP", "DIAMETER", "SUMDIAM", "SUMLDIAM", "SUMNLNLD", "SAXIS", "LAXIS"}
)
LENGTH_UNITS = frozenset({"mm", "cm"})

#: CDISC codelists of coded variables (subsets of CDISC Controlled Terminology).
CODELISTS: dict[str, frozenset[str]] = {
    "SEX": frozenset({"F", "M", "U", "UNDIFFERENTIATED"}),
    "AGEU": frozenset({"YEARS", "MONTHS", "WEEKS", "DAYS", "HOURS"}),
    "DTHFL": frozenset({"Y"}),
    "AESEV": frozenset({"MILD", "MODERATE", "SEVERE"}),
    "AEOUT": frozenset(
        {
            "FATAL",
            "NOT RECOVERED/NOT RESOLVED",
            "RECOVERED/RESOLVED",
            "RECOVERED/RESOLVED WITH SEQUELAE",
            "RECOVERING/RESOLVING",
            "UNKNOWN",
        }
    ),
    "AEACN": frozenset(
        {
            "DOSE INCREASED",
            "DOSE NOT CHANGED",
            "DOSE RATE REDUCED",
            "DOSE REDUCED",
            "DRUG INTERRUPTED",
            "DRUG WITHDRAWN",
            "NOT APPLICABLE",
            "UNKNOWN",
        }
    ),
    "DSCAT": frozenset({"DISPOSITION EVENT", "PROTOCOL MILESTONE", "OTHER EVENT"}),
    **{
        name: NY
        for name in (
            "AESER",
            "AESCAN",
            "AESCONG",
            "AESDISAB",
            "AESDTH",
            "AESHOSP",
            "AESLIFE",
            "AESOD",
            "AESMIE",
            "AECONTRT",
            "AEPRESP",
            "EXFAST",
        )
    },
}
for _prefix in ("TU", "TR", "RS", "IS"):
    CODELISTS[f"{_prefix}BLFL"] = frozenset({"Y"})
    CODELISTS[f"{_prefix}LOBXFL"] = frozenset({"Y"})
    CODELISTS[f"{_prefix}STAT"] = frozenset({"NOT DONE"})
for _prefix in ("TU", "TR", "RS"):
    CODELISTS[f"{_prefix}ACPTFL"] = frozenset({"Y", "N"})
CODELISTS["RSDRVFL"] = frozenset({"Y"})

#: Rules whose failures can never be stored (key and reference integrity).
STRUCTURAL_RULES = frozenset({"required", "unknown_subject", "duplicate"})

CTCAE_GRADES = frozenset({"1", "2", "3", "4", "5"})

#: Date variables that must not be before informed consent, before the first dose, or after
#: death; and (start, end) pairs within one record.
AFTER_CONSENT: dict[str, tuple[str, ...]] = {
    "EX": ("EXSTDTC",),
    "AE": ("AESTDTC",),
    "TU": ("TUDTC",),
    "TR": ("TRDTC",),
    "RS": ("RSDTC",),
    "IS": ("ISDTC",),
}
AFTER_FIRST_DOSE: dict[str, tuple[str, ...]] = {"RS": ("RSDTC",), "EX": ("EXSTDTC",)}
BEFORE_DEATH: dict[str, tuple[str, ...]] = {
    "EX": ("EXSTDTC",),
    "TU": ("TUDTC",),
    "TR": ("TRDTC",),
    "RS": ("RSDTC",),
    "IS": ("ISDTC",),
    "AE": ("AESTDTC",),
}
WITHIN_RECORD: dict[str, tuple[tuple[str, str], ...]] = {
    "AE": (("AESTDTC", "AEENDTC"),),
    "EX": (("EXSTDTC", "EXENDTC"),),
    "DM": (
        ("BRTHDTC", "RFICDTC"),
        ("RFICDTC", "RFXSTDTC"),
        ("RFSTDTC", "RFENDTC"),
        ("RFXSTDTC", "RFXENDTC"),
        ("RFICDTC", "DTHDTC"),
        ("RFXSTDTC", "DTHDTC"),
    ),
}
_DATE_LABELS = {
    "RFICDTC": "informed consent",
    "RFXSTDTC": "first dose",
    "DTHDTC": "death",
    "BRTHDTC": "birth",
}


@lru_cache(maxsize=4096)
def is_numeric_variable(name: str) -> bool:
    """Whether SDTM variable ``name`` is numeric (stored as text, must parse as a number)."""
    return name in _NUMERIC_NAMES or (
        len(name) > 2 and name[2:] in _NUMERIC_SUFFIXES and name[:2].isalpha()
    )


def seq_key(value: str) -> str:
    """The canonical text of a ``--SEQ`` value (``"3.0"`` and ``"3"`` are the same record)."""
    try:
        number = float(value)
    except ValueError:
        return value.strip()
    return str(int(number)) if number.is_integer() else value.strip()


# ---------------------------------------------------------------------------------------------
# Subject reference dates


@dataclass(frozen=True)
class SubjectDates:
    """A subject's reference dates (ISO 8601 text or None) for the date-order rules."""

    usubjid: str
    consent: str | None = None
    first_dose: str | None = None
    death: str | None = None


def check_subject_dates(dates: SubjectDates, *, form: str = "SUBJECT") -> list[Finding]:
    """Consent ≤ first dose; death not before the first dose (nor before consent)."""
    findings: list[Finding] = []
    consent, first, death = (
        date_span(dates.consent),
        date_span(dates.first_dose),
        date_span(dates.death),
    )
    fields = {
        "SUBJECT": ("consent_date", "first_dose_date", "death_date"),
        "DM": ("RFICDTC", "RFXSTDTC", "DTHDTC"),
    }[form]
    if consent and first and definitely_before(first, consent):
        findings.append(
            Finding(
                dates.usubjid,
                form,
                fields[1],
                "date_order",
                f"first dose {first.text} is before informed consent {consent.text}",
            )
        )
    if death and first and definitely_before(death, first):
        findings.append(
            Finding(
                dates.usubjid,
                form,
                fields[2],
                "death_before_first_dose",
                f"death {death.text} is before the first dose {first.text}",
            )
        )
    if death and consent and definitely_before(death, consent):
        findings.append(
            Finding(
                dates.usubjid,
                form,
                fields[2],
                "date_order",
                f"death {death.text} is before informed consent {consent.text}",
            )
        )
    return findings


def check_date_order(
    domain: str,
    row: Row,
    dates: SubjectDates | None,
    *,
    row_index: int | None = None,
    record_id: int | None = None,
) -> list[Finding]:
    """The date-order rules of one record against its subject's reference dates."""
    usubjid = row.get("USUBJID") or None
    findings: list[Finding] = []

    def add(field: str, rule: str, message: str) -> None:
        findings.append(Finding(usubjid, domain, field, rule, message, row_index, record_id))

    for start, end in WITHIN_RECORD.get(domain, ()):
        a, b = date_span(row.get(start)), date_span(row.get(end))
        if a and b and definitely_before(b, a):
            if (start, end) == ("RFXSTDTC", "DTHDTC"):
                add(
                    end,
                    "death_before_first_dose",
                    f"death {b.text} is before the first dose {a.text}",
                )
            else:
                add(
                    end,
                    "date_order",
                    f"{end} {b.text} is before {_DATE_LABELS.get(start, start)} {a.text}",
                )
    if dates is None:
        return findings
    consent, first, death = (
        date_span(dates.consent),
        date_span(dates.first_dose),
        date_span(dates.death),
    )
    for field in AFTER_CONSENT.get(domain, ()):
        value = date_span(row.get(field))
        if value and consent and definitely_before(value, consent):
            add(
                field,
                "date_order",
                f"{field} {value.text} is before informed consent {consent.text}",
            )
    for field in AFTER_FIRST_DOSE.get(domain, ()):
        value = date_span(row.get(field))
        if value and first and definitely_before(value, first):
            add(field, "date_order", f"{field} {value.text} is before the first dose {first.text}")
    for field in BEFORE_DEATH.get(domain, ()):
        value = date_span(row.get(field))
        if value and death and definitely_before(death, value):
            add(field, "date_order", f"{field} {value.text} is after death {death.text}")
    return findings


# ---------------------------------------------------------------------------------------------
# Records


def _blank(value: str | None) -> bool:
    return value is None or value == ""


def _codelist(domain: str, name: str, row: Row) -> frozenset[str] | None:
    if name == "RSSTRESC" and row.get("RSTESTCD") in RESPONSE_TESTS:
        category = (row.get("RSCAT") or "").upper()
        if category == "IRECIST":
            return IRECIST_RESPONSES
        if category in ("RECIST 1.1", "RECIST", "MRECIST"):
            return RECIST_RESPONSES
        return RECIST_RESPONSES | IRECIST_RESPONSES
    if name == "TUSTRESC" and row.get("TUTESTCD") == "TUMIDENT":
        return frozenset({"TARGET", "NON-TARGET", "NEW", "NEW TARGET", "NEW NON-TARGET"})
    return CODELISTS.get(name)


@dataclass(frozen=True)
class _Plan:
    """Which of a row's variables each rule looks at (worked out once per set of names)."""

    dates: tuple[str, ...]
    numbers: tuple[str, ...]
    coded: tuple[str, ...]


_ROW_DEPENDENT_CODELISTS = frozenset({"RSSTRESC", "TUSTRESC"})


@lru_cache(maxsize=256)
def _plan(names: tuple[str, ...]) -> _Plan:
    return _Plan(
        dates=tuple(n for n in names if n[-3:] == "DTC"),
        numbers=tuple(n for n in names if n[-3:] != "DTC" and is_numeric_variable(n)),
        coded=tuple(n for n in names if n in CODELISTS or n in _ROW_DEPENDENT_CODELISTS),
    )


def check_values(
    domain: str, row: Row, *, row_index: int | None = None, record_id: int | None = None
) -> list[Finding]:
    """Rules on one record's own values: formats, codelists, grades, diameters."""
    usubjid = row.get("USUBJID") or None
    findings: list[Finding] = []

    def add(field: str, rule: str, message: str, severity: Severity = "error") -> None:
        findings.append(
            Finding(usubjid, domain, field, rule, message, row_index, record_id, severity)
        )

    if _blank(usubjid):
        add("USUBJID", "required", "USUBJID is required")
    given_domain = row.get("DOMAIN")
    if not _blank(given_domain) and given_domain != domain:
        add("DOMAIN", "domain", f"DOMAIN is '{given_domain}' in a {domain} record")
    plan = _plan(tuple(row))
    for name in plan.dates:
        value = row[name]
        if not value:
            continue
        parsed = _parse_cached(value)
        if isinstance(parsed, str):
            add(name, "date_format", parsed)
        elif not parsed.complete:
            if name in COMPLETE_DATE_REQUIRED:
                add(name, "date_partial", f"'{value}' is a partial date; {name} needs the day")
            else:
                add(name, "date_partial", f"'{value}' is a partial date", "warning")
    for name in plan.numbers:
        value = row[name]
        if not value:
            continue
        if not _NUMBER.match(value.strip()):
            add(name, "number_format", f"'{value}' is not a number")
        elif name.endswith("SEQ") and not (float(value).is_integer() and float(value) >= 1):
            add(name, "number_format", f"'{value}' is not a positive integer sequence number")
    for name in plan.coded:
        value = row[name]
        if not value:
            continue
        codes = _codelist(domain, name, row)
        if codes is not None and value not in codes:
            shown = ", ".join(sorted(codes))
            add(name, "controlled_term", f"'{value}' is not a term of {name} ({shown})")
    grade = row.get("AETOXGR")
    if domain == "AE" and not _blank(grade) and grade not in CTCAE_GRADES:
        add("AETOXGR", "ctcae_grade", f"AETOXGR '{grade}' is not a CTCAE grade 1–5")
    if domain == "TR":
        units = {row.get("TRORRESU"), row.get("TRSTRESU")}
        if row.get("TRTESTCD") in DIAMETER_TESTS or units & LENGTH_UNITS:
            for name in ("TRORRES", "TRSTRESC", "TRSTRESN"):
                value = row.get(name)
                if not _blank(value) and _NUMBER.match(value.strip()) and float(value) < 0:
                    add(
                        name,
                        "diameter_nonnegative",
                        f"{row.get('TRTESTCD')} {value} {row.get('TRSTRESU') or ''}".rstrip()
                        + " is negative; a diameter is ≥ 0 mm",
                    )
    return findings


def check_records(
    domain: str,
    rows: Sequence[Row],
    *,
    seq_variable: str | None,
    known_subjects: Container[str],
    subject_dates: Mapping[str, SubjectDates],
    existing_keys: Mapping[str, int] | None = None,
) -> list[Finding]:
    """Every rule on a batch of records of ``domain`` (``row`` of a finding: batch position).

    ``existing_keys`` maps the duplicate key of records already stored (USUBJID, or
    ``USUBJID\\x1f<seq>``) to their record id.
    """
    existing = existing_keys or {}
    seen: dict[str, int] = {}
    findings: list[Finding] = []
    for index, row in enumerate(rows):
        findings.extend(check_values(domain, row, row_index=index))
        usubjid = row.get("USUBJID") or None
        if _blank(usubjid):
            continue
        assert usubjid is not None
        if usubjid not in known_subjects:
            findings.append(
                Finding(
                    usubjid,
                    domain,
                    "USUBJID",
                    "unknown_subject",
                    f"subject {usubjid} is not in the study",
                    index,
                )
            )
        key_field = seq_variable or "USUBJID"
        seq = row.get(seq_variable) if seq_variable else None
        if seq_variable is None or not _blank(seq):
            key = usubjid if seq_variable is None else f"{usubjid}\x1f{seq_key(seq or '')}"
            what = f"{seq_variable} {seq}" if seq_variable else f"{domain} record"
            if key in seen:
                findings.append(
                    Finding(
                        usubjid,
                        domain,
                        key_field,
                        "duplicate",
                        f"{what} of subject {usubjid} is given twice (rows {seen[key] + 1} "
                        f"and {index + 1})",
                        index,
                    )
                )
            elif key in existing:
                findings.append(
                    Finding(
                        usubjid,
                        domain,
                        key_field,
                        "duplicate",
                        f"{what} of subject {usubjid} is already stored (record #{existing[key]})",
                        index,
                    )
                )
            seen.setdefault(key, index)
        findings.extend(check_date_order(domain, row, subject_dates.get(usubjid), row_index=index))
    return findings


def check_cohort_dose_level(
    usubjid: str, subject_level: str | None, cohort_number: int, cohort_level: str
) -> list[Finding]:
    """A subject in a cohort is at the cohort's dose level (one dose level per cohort)."""
    if subject_level is None or subject_level == cohort_level:
        return []
    return [
        Finding(
            usubjid,
            "COHORT",
            "dose_level",
            "cohort_dose_level",
            f"subject is at dose level {subject_level} but cohort {cohort_number} is at dose "
            f"level {cohort_level}",
        )
    ]


def errors(findings: Sequence[Finding]) -> list[Finding]:
    """The findings that refuse a write (severity ``error``)."""
    return [finding for finding in findings if finding.severity == "error"]
