"""The rules one SDTM record must follow by itself, and the date-order rules against its
subject's reference dates: pure functions on ``{SDTM variable: text or None}`` rows that give
:class:`~oncotrial.cdisc.errors.Finding` objects. The store runs them at entry and on import,
``derive`` before it derives (:mod:`oncotrial.cdisc.study` runs them over whole datasets).

Rules (``Finding.rule``; docs/data-checks.md lists them with their sources):

- ``required`` — USUBJID must be given;
- ``domain`` — a ``DOMAIN`` value must be the domain the row belongs to;
- ``date_format`` — ISO 8601 dates as :mod:`oncotrial.cdisc.dates` reads them;
- ``date_partial`` — a partial date is an error where the trial or the analysis needs the day
  (:func:`day_needed`) or the year is unknown, and a warning elsewhere (SDTM allows them);
- ``number_format`` / ``number_finite`` — numeric variables hold finite numbers; ``--SEQ`` a
  positive integer;
- ``controlled_term`` — coded values are terms of their codelist (:mod:`oncotrial.cdisc.terms`):
  SEX, NY flags, AESEV, AEOUT, AEREL, RECIST/iRECIST responses, TU results, TR tests, states
  and units, ADA results …;
- ``ctcae_grade`` — AETOXGR is a CTCAE grade 1–5;
- ``required_value`` — a lesion result names its lesion (TRLNKID) and has a date (TRDTC)
  unless TRSTAT is NOT DONE;
- ``diameter_nonnegative`` and ``plausible_<range>`` — lesion diameters are ≥ 0 and within
  their plausible range, as are ages, doses and titres (:mod:`oncotrial.cdisc.plausibility`);
- ``date_order`` / ``death_before_first_dose`` — informed consent ≤ first dose ≤ response
  assessments; consent ≤ dosing, adverse events and assessments; nothing after death; start ≤
  end within a record; death not before the first dose.

Partial dates are compared as the span of days they may stand for: an order is broken only when
it is broken for every day in the spans. Times are ignored (same day is in order).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from oncotrial.cdisc import terms
from oncotrial.cdisc.dates import date_span, definitely_before, parse_dtc
from oncotrial.cdisc.errors import Finding, Severity
from oncotrial.cdisc.frames import number_problem, partial_date_message
from oncotrial.cdisc.plausibility import DEFAULT_PLAUSIBILITY, Plausibility, rule_name

Row = Mapping[str, str | None]
#: How a rule reports: ``add(field, rule, message, severity="error")``.
Add = Callable[..., None]

#: Rules whose failures can never be stored (key and reference integrity).
STRUCTURAL_RULES = frozenset({"required", "unknown_subject", "duplicate"})

#: Dates the trial needs to the day, and why: consent and first dose start the clocks (DLT
#: window); the derivations need exact dosing, tumour-scan and sample dates.
DAY_NEEDED: dict[str, str] = {
    "RFICDTC": "informed consent starts the subject's clocks",
    "RFXSTDTC": "the first dose starts the DLT window",
    "EXSTDTC": "each dose start is counted in the DLT window and gives TRTSDT",
    "EXENDTC": "the last dose end gives TRTEDT",
    "TRDTC": "a tumour assessment is ordered against baseline and nadir",
    "ISDTC": "an ADA sample is placed before or after the first dose",
}

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


@dataclass(frozen=True)
class CheckSettings:
    """What the checks need besides the data: the plausible ranges, and the date variables
    whose partial values the analysis imputes (``derive --impute-partial-dates``), which are
    then a warning instead of an error."""

    plausibility: Plausibility = DEFAULT_PLAUSIBILITY
    imputed_partial_dates: frozenset[str] = field(default_factory=frozenset)


DEFAULT_SETTINGS = CheckSettings()


@dataclass(frozen=True)
class SubjectDates:
    """A subject's reference dates (ISO 8601 text or None) for the date-order rules."""

    usubjid: str
    consent: str | None = None
    first_dose: str | None = None
    death: str | None = None


def day_needed(domain: str, name: str, row: Row) -> str | None:
    """Why the date variable ``name`` of this record must be complete (None: a partial date
    is allowed). DS dates need the day for randomisation and end-of-study disposition records
    (RANDDT, EOSDT: admiral's ADSL template)."""
    if name in DAY_NEEDED:
        return DAY_NEEDED[name]
    if domain == "DS" and name == "DSSTDTC":
        if (row.get("DSDECOD") or "") == "RANDOMIZED":
            return "the randomisation date gives RANDDT"
        if (row.get("DSCAT") or "") == "DISPOSITION EVENT" and (
            row.get("DSSCAT") or ""
        ).upper() != "END OF TREATMENT":
            return "the end-of-study disposition gives EOSDT"
    return None


def _blank(value: str | None) -> bool:
    return value is None or value.strip() == ""


def codelist(domain: str, name: str, row: Row) -> frozenset[str] | None:
    """The terms ``name`` may take in this record (some codelists depend on the test code)."""
    if name == "RSSTRESC" and row.get("RSTESTCD") in terms.RESPONSE_TESTS:
        category = (row.get("RSCAT") or "").upper()
        if category == "IRECIST":
            return terms.IRECIST_RESPONSES
        if category in ("RECIST 1.1", "RECIST", "MRECIST"):
            return terms.RECIST_RESPONSES
        return terms.RECIST_RESPONSES | terms.IRECIST_RESPONSES
    if name == "TUSTRESC" and row.get("TUTESTCD") == "TUMIDENT":
        return frozenset(terms.TU_ROLES)
    if name == "TUTESTCD":
        return frozenset(terms.TU_TESTS)
    if name == "TRTESTCD":
        return frozenset(terms.TR_TESTS) | set(terms.VIABLE_TESTS) | terms.TR_SUMMARY_TESTS
    if name == "AEREL":
        return terms.RELATED | terms.NOT_RELATED
    return terms.CODELISTS.get(name)


_ROW_DEPENDENT = frozenset({"RSSTRESC", "TUSTRESC", "TUTESTCD", "TRTESTCD", "AEREL"})


@dataclass(frozen=True)
class _Plan:
    """Which of a row's variables each rule looks at (worked out once per set of names)."""

    dates: tuple[str, ...]
    numbers: tuple[str, ...]
    coded: tuple[str, ...]


@lru_cache(maxsize=256)
def _plan(names: tuple[str, ...]) -> _Plan:
    return _Plan(
        dates=tuple(n for n in names if n[-3:] == "DTC"),
        numbers=tuple(n for n in names if n[-3:] != "DTC" and terms.is_numeric_variable(n)),
        coded=tuple(n for n in names if n in terms.CODELISTS or n in _ROW_DEPENDENT),
    )


def _upper_codes(name: str) -> bool:
    """Codelists compared case-insensitively (sponsor-defined AEREL)."""
    return name == "AEREL"


def check_values(
    domain: str,
    row: Row,
    *,
    row_index: int | None = None,
    record_id: int | None = None,
    settings: CheckSettings = DEFAULT_SETTINGS,
) -> list[Finding]:
    """The rules on one record's own values: formats, codelists, grades, lesion results,
    plausible ranges."""
    usubjid = row.get("USUBJID") or None
    findings: list[Finding] = []

    def add(name: str, rule: str, message: str, severity: Severity = "error") -> None:
        findings.append(
            Finding(usubjid, domain, name, rule, message, row_index, record_id, severity)
        )

    if _blank(usubjid):
        add("USUBJID", "required", "USUBJID is required")
    given_domain = row.get("DOMAIN")
    if not _blank(given_domain) and given_domain != domain:
        add("DOMAIN", "domain", f"DOMAIN is '{given_domain}' in a {domain} record")
    plan = _plan(tuple(row))
    for name in plan.dates:
        _check_date(domain, name, row, settings, add)
    for name in plan.numbers:
        value = row[name]
        if _blank(value):
            continue
        assert value is not None
        problem = number_problem(value)
        if problem is not None:
            add(name, "number_finite" if "finite" in problem else "number_format", problem)
        elif name.endswith("SEQ") and not (float(value).is_integer() and float(value) >= 1):
            add(name, "number_format", f"'{value}' is not a positive integer sequence number")
    for name in plan.coded:
        value = row[name]
        if _blank(value):
            continue
        assert value is not None
        codes = codelist(domain, name, row)
        shown_value = value.upper() if _upper_codes(name) else value
        if codes is not None and shown_value not in codes:
            shown = ", ".join(sorted(codes))
            add(name, "controlled_term", f"'{value}' is not a term of {name} ({shown})")
    grade = row.get("AETOXGR")
    if domain == "AE" and not _blank(grade) and terms.ctcae_grade(grade or "") is None:
        add("AETOXGR", "ctcae_grade", f"AETOXGR '{grade}' is not a CTCAE grade (an integer 1–5)")
    if domain == "TR":
        _check_lesion_result(row, settings, add)
    if domain == "DM":
        _check_age(row, settings, add)
    if domain == "EX":
        _check_range(row, "EXDOSE", "dose", settings, add, unit=row.get("EXDOSU"))
    if domain == "IS" and (row.get("ISTESTCD") or "").upper() in terms.ADA_TESTS:
        _check_ada_result(row, add)
        _check_range(row, "ISSTRESN", "titre", settings, add, unit=row.get("ISSTRESU"))
    return findings


def _check_date(domain: str, name: str, row: Row, settings: CheckSettings, add: Add) -> None:
    value = row[name]
    if _blank(value):
        return
    assert value is not None
    try:
        parsed = parse_dtc(value)
    except ValueError as exc:
        add(name, "date_format", str(exc))
        return
    assert parsed is not None
    if parsed.is_complete:
        return
    if name == "BRTHDTC":
        return  # a year or month of birth is the usual, privacy-keeping, SDTM value
    if parsed.year is None:
        add(name, "date_partial", f"'{value}': the year is unknown, so the date cannot be used")
        return
    why = day_needed(domain, name, row)
    if why is not None and name not in settings.imputed_partial_dates:
        add(name, "date_partial", partial_date_message(value, name, why))
    elif why is not None:
        add(name, "date_partial", f"'{value}' is a partial date (imputed for analysis)", "warning")
    else:
        add(name, "date_partial", f"'{value}' is a partial date", "warning")


def _number(value: str | None) -> float | None:
    if _blank(value):
        return None
    assert value is not None
    return None if number_problem(value) is not None else float(value)


def _check_range(
    row: Row,
    name: str,
    range_name: str,
    settings: CheckSettings,
    add: Add,
    *,
    unit: str | None = None,
) -> None:
    value = _number(row.get(name))
    if value is None:
        return
    bounds = settings.plausibility.range(range_name)
    problem = bounds.problem(value, (unit or "").strip() or None)
    if problem is not None:
        add(name, rule_name(range_name), f"{name} {problem} ({bounds.source})")


def _check_age(row: Row, settings: CheckSettings, add: Add) -> None:
    unit = (row.get("AGEU") or "YEARS").upper()
    if unit == "YEARS":
        _check_range(row, "AGE", "age", settings, add)


def _check_lesion_result(row: Row, settings: CheckSettings, add: Add) -> None:
    """TR: a lesion test names its lesion and date; a diameter is a non-negative length in mm
    or cm within its plausible range, a word the RECIST engine reads, or not done; a state is
    a state term (CDISC RECIST 1.1 supplement)."""
    test = (row.get("TRTESTCD") or "").upper()
    if test in terms.TR_SUMMARY_TESTS:
        for name in ("TRORRES", "TRSTRESC", "TRSTRESN"):
            value = _number(row.get(name))
            if value is not None and value < 0:
                add(
                    name,
                    "diameter_nonnegative",
                    f"{test} {row.get(name)} is negative; a sum of diameters is ≥ 0 mm",
                )
        return
    known = test in terms.TR_TESTS or test in terms.VIABLE_TESTS
    if not known:
        return
    not_done = (row.get("TRSTAT") or "").upper() == "NOT DONE"
    if _blank(row.get("TRLNKID")):
        add("TRLNKID", "required_value", f"a {test} result must name its lesion (TRLNKID)")
    if _blank(row.get("TRDTC")) and not not_done:
        add(
            "TRDTC",
            "required_value",
            "a result without a date: TRDTC is required unless TRSTAT is NOT DONE",
        )
    if not_done:
        return
    if terms.TR_TESTS.get(test) == "state":
        text = (row.get("TRSTRESC") or row.get("TRORRES") or "").upper()
        column = "TRSTRESC" if not _blank(row.get("TRSTRESC")) else "TRORRES"
        if text and text not in terms.STATES and text not in terms.NOT_ASSESSED:
            shown = ", ".join(sorted(terms.STATES))
            add(column, "controlled_term", f"'{text}' is not a {test} result ({shown})")
        return
    if _blank(row.get("TRSTRESN")):
        column = "TRSTRESC" if not _blank(row.get("TRSTRESC")) else "TRORRES"
        text = (row.get(column) or "").strip()
        word = text.upper()
        words = terms.NOT_ASSESSED | terms.TOO_SMALL | terms.ZERO_WORDS
        if text and word not in words and number_problem(text) is not None:
            add(
                column,
                "controlled_term",
                f"{test} result '{text}' is neither a number, TOO SMALL TO MEASURE, "
                "ABSENT nor NOT EVALUABLE",
            )
            return
    bounds = settings.plausibility.range("lesion_diameter")
    for name, unit_name in (
        ("TRORRES", "TRORRESU"),
        ("TRSTRESC", "TRSTRESU"),
        ("TRSTRESN", "TRSTRESU"),
    ):
        number = _number(row.get(name))
        if number is None:
            continue  # blank, a word, or reported by number_format / number_finite
        unit = (row.get(unit_name) or "").strip()
        if unit and unit.upper() not in terms.UNITS:
            add(unit_name, "controlled_term", f"'{unit}' is not a length unit (mm or cm)")
            continue
        if number < 0:
            add(
                name,
                "diameter_nonnegative",
                f"{test} {row.get(name)} {unit or 'mm'} is negative; a diameter is ≥ 0 mm",
            )
            continue
        problem = bounds.problem(number * terms.UNITS.get(unit.upper(), 1.0), "mm")
        if problem is not None:
            add(name, rule_name("lesion_diameter"), f"{test} {problem} ({bounds.source})")


def _check_ada_result(row: Row, add: Add) -> None:
    """IS (ADA tests): the result is a negative or positive term, a titre, or ``<titre``
    (admiral's ADAB template)."""
    text = (row.get("ISSTRESC") or "").strip()
    upper = text.upper()
    if not text or upper in terms.NEGATIVE_RESULTS or upper in terms.POSITIVE_RESULTS:
        return
    if upper.startswith("<") and number_problem(upper[1:].strip()) is None:
        return
    if number_problem(text) is None:
        return
    add(
        "ISSTRESC",
        "controlled_term",
        f"unknown ADA result '{text}' (expected NEGATIVE, POSITIVE, a titre or '<titre')",
    )


# ---------------------------------------------------------------------------------------------
# dates against the subject's reference dates


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

    def add(name: str, rule: str, message: str) -> None:
        findings.append(Finding(usubjid, domain, name, rule, message, row_index, record_id))

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
                label = _DATE_LABELS.get(start, start)
                add(end, "date_order", f"{end} {b.text} is before {label} {a.text}")
    if dates is None:
        return findings
    consent, first, death = (
        date_span(dates.consent),
        date_span(dates.first_dose),
        date_span(dates.death),
    )
    for name in AFTER_CONSENT.get(domain, ()):
        value = date_span(row.get(name))
        if value and consent and definitely_before(value, consent):
            add(
                name, "date_order", f"{name} {value.text} is before informed consent {consent.text}"
            )
    for name in AFTER_FIRST_DOSE.get(domain, ()):
        value = date_span(row.get(name))
        if value and first and definitely_before(value, first):
            add(name, "date_order", f"{name} {value.text} is before the first dose {first.text}")
    for name in BEFORE_DEATH.get(domain, ()):
        value = date_span(row.get(name))
        if value and death and definitely_before(death, value):
            add(name, "date_order", f"{name} {value.text} is after death {death.text}")
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


def overridable(rule: str, overrides: Collection[str]) -> bool:
    """Whether a finding of ``rule`` is accepted under ``overrides`` (rule names, or "all"
    for every rule); structural rules never are."""
    return rule not in STRUCTURAL_RULES and ("all" in overrides or rule in overrides)
