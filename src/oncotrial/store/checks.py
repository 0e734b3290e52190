"""Edit checks of the trial store: the rules of :mod:`oncotrial.cdisc` (the same ones ``derive``
runs, so data that passes entry never fails analysis for its form), plus the rules of the
store's own operational records.

The clinical rules — dates, numbers, controlled terms, grades, lesion results, plausible
ranges, keys, subjects, date order — live in :mod:`oncotrial.cdisc.checks` and
:mod:`oncotrial.cdisc.study`; ``docs/data-checks.md`` lists them all. Here:

- ``required`` — a registered subject needs USUBJID and a site;
- ``controlled_term`` — a subject's status is one of :data:`SUBJECT_STATUSES`;
- ``date_format`` / ``date_partial`` / ``date_order`` / ``death_before_first_dose`` — the
  register's consent, first-dose and death dates, read as DM's RFICDTC, RFXSTDTC and DTHDTC;
- ``cohort_dose_level`` — a subject is at one dose level, that of their cohort;
- ``cohort_open`` — enrolment needs an open slot of an open cohort.

ICH E6(R3): data are checked at entry so that errors are caught where they can still be
corrected; the store refuses the whole write when any finding is an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from oncotrial.cdisc.checks import (
    STRUCTURAL_RULES,
    CheckSettings,
    SubjectDates,
    check_cohort_dose_level,
    check_date_order,
    check_subject_dates,
    check_values,
    overridable,
)
from oncotrial.cdisc.dates import date_span, definitely_before, parse_dtc
from oncotrial.cdisc.errors import Finding, errors_of

SUBJECT_STATUSES = (
    "screening",
    "screen_failure",
    "enrolled",
    "on_treatment",
    "follow_up",
    "completed",
    "withdrawn",
    "lost_to_follow_up",
    "died",
)

#: The register's dates and the DM variables whose rules they follow.
SUBJECT_DATE_VARIABLES = {
    "consent_date": "RFICDTC",
    "first_dose_date": "RFXSTDTC",
    "death_date": "DTHDTC",
}


def check_subject(values: Mapping[str, Any]) -> list[Finding]:
    """The rules of one subject of the register (``usubjid``, ``site_code``, ``status`` and
    the three reference dates)."""
    usubjid = values.get("usubjid")
    findings: list[Finding] = []
    if not usubjid:
        findings.append(Finding(None, "SUBJECT", "usubjid", "required", "USUBJID is required"))
    if not values.get("site_code"):
        findings.append(Finding(usubjid, "SUBJECT", "site", "required", "site is required"))
    if values.get("status") not in SUBJECT_STATUSES:
        findings.append(
            Finding(
                usubjid,
                "SUBJECT",
                "status",
                "controlled_term",
                f"'{values.get('status')}' is not a subject status ({', '.join(SUBJECT_STATUSES)})",
            )
        )
    as_dm = {"USUBJID": usubjid or "x"}
    as_dm.update({dm: values.get(name) for name, dm in SUBJECT_DATE_VARIABLES.items()})
    by_variable = {dm: name for name, dm in SUBJECT_DATE_VARIABLES.items()}
    for finding in check_values("DM", as_dm):
        if finding.field in by_variable:
            findings.append(
                Finding(
                    usubjid,
                    "SUBJECT",
                    by_variable[finding.field],
                    finding.rule,
                    finding.message,
                    severity=finding.severity,
                )
            )
    findings.extend(
        check_subject_dates(
            SubjectDates(
                usubjid or "",
                values.get("consent_date"),
                values.get("first_dose_date"),
                values.get("death_date"),
            )
        )
    )
    return findings


__all__ = [
    "STRUCTURAL_RULES",
    "SUBJECT_STATUSES",
    "CheckSettings",
    "Finding",
    "SubjectDates",
    "check_cohort_dose_level",
    "check_date_order",
    "check_subject",
    "check_subject_dates",
    "check_values",
    "date_span",
    "definitely_before",
    "errors_of",
    "overridable",
    "parse_dtc",
]
