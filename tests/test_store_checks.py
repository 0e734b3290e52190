"""Edit checks: each rule refuses its bad case with its message, and a refused write stores
nothing. Codelists are subsets of CDISC Controlled Terminology (SEX C66731, NY C66742, AESEV
C66769, oncology response C96785); grades are CTCAE v5.0 (1–5); dates ISO 8601.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from oncotrial.store import EditCheckError, Store

pytest_plugins = ["store_fixtures"]


@pytest.fixture(scope="module")
def trial(module_store: Store) -> Store:
    """Cohort 1 at level 1; S-001 (consent 2024-01-02, first dose 2024-01-10) with AESEQ 1;
    S-DEAD (died 2024-03-01)."""
    store = module_store
    store.add_cohort(1, "1", "statistician")
    store.add_subject(
        "S-001", "01", "crc", consent_date="2024-01-02", first_dose_date="2024-01-10", cohort=1
    )
    store.add_subject(
        "S-DEAD",
        "01",
        "crc",
        consent_date="2024-01-02",
        first_dose_date="2024-01-10",
        death_date="2024-03-01",
    )
    store.add_records("AE", [ae(AESEQ="1")], "investigator")
    store.add_records("DM", [{"USUBJID": "S-001", "SEX": "F", "RFICDTC": "2024-01-02"}], "dm")
    return store


def ae(usubjid: str = "S-001", **values: str | None) -> dict[str, str | None]:
    row: dict[str, str | None] = {
        "DOMAIN": "AE",
        "USUBJID": usubjid,
        "AETERM": "Rash",
        "AETOXGR": "1",
        "AESTDTC": "2024-01-20",
    }
    row.update(values)
    return row


def one(domain: str, usubjid: str = "S-001", **values: str | None) -> Callable[[Store], Any]:
    def write(store: Store) -> Any:
        return store.add_records(domain, [{"USUBJID": usubjid, **values}], "site-user")

    return write


def many(domain: str, *rows: dict[str, str | None]) -> Callable[[Store], Any]:
    return lambda store: store.add_records(domain, list(rows), "site-user")


# (case, write, expected usubjid, form, field, rule, message fragment)
CASES: list[tuple[str, Callable[[Store], Any], str | None, str, str, str, str]] = [
    (
        "malformed month",
        many("AE", ae(AESTDTC="2024-13-01")),
        "S-001",
        "AE",
        "AESTDTC",
        "date_format",
        "month 13 does not exist",
    ),
    (
        "impossible day",
        many("AE", ae(AESTDTC="2024-02-30")),
        "S-001",
        "AE",
        "AESTDTC",
        "date_format",
        "day 30 does not exist",
    ),
    (
        "not ISO 8601",
        many("AE", ae(AESTDTC="20/01/2024")),
        "S-001",
        "AE",
        "AESTDTC",
        "date_format",
        "is not an ISO 8601 date",
    ),
    (
        "partial dose date",
        one("EX", EXTRT="DONAFENIB", EXSTDTC="2024-01"),
        "S-001",
        "EX",
        "EXSTDTC",
        "date_partial",
        "EXSTDTC needs the day",
    ),
    (
        "partial consent",
        one("DM", "S-NEW", RFICDTC="2024"),
        "S-NEW",
        "DM",
        "RFICDTC",
        "date_partial",
        "RFICDTC needs the day",
    ),
    (
        "AE before consent",
        many("AE", ae(AESTDTC="2024-01-01")),
        "S-001",
        "AE",
        "AESTDTC",
        "date_order",
        "before informed consent 2024-01-02",
    ),
    (
        "response before first dose",
        one("RS", RSTESTCD="OVRLRESP", RSCAT="RECIST 1.1", RSSTRESC="PR", RSDTC="2024-01-05"),
        "S-001",
        "RS",
        "RSDTC",
        "date_order",
        "before the first dose 2024-01-10",
    ),
    (
        "dose before first dose",
        one("EX", EXTRT="DONAFENIB", EXSTDTC="2024-01-05"),
        "S-001",
        "EX",
        "EXSTDTC",
        "date_order",
        "before the first dose",
    ),
    (
        "assessment after death",
        one("TR", "S-DEAD", TRTESTCD="LDIAM", TRORRES="10", TRDTC="2024-04-01"),
        "S-DEAD",
        "TR",
        "TRDTC",
        "date_order",
        "after death 2024-03-01",
    ),
    (
        "AE ends before it starts",
        many("AE", ae(AEENDTC="2024-01-19")),
        "S-001",
        "AE",
        "AEENDTC",
        "date_order",
        "AEENDTC 2024-01-19 is before AESTDTC",
    ),
    (
        "death before first dose (DM)",
        one("DM", "S-NEW", RFXSTDTC="2024-02-01", DTHDTC="2024-01-15"),
        "S-NEW",
        "DM",
        "DTHDTC",
        "death_before_first_dose",
        "death 2024-01-15 is before the first",
    ),
    (
        "death before first dose (subject)",
        lambda s: s.add_subject(
            "S-NEW", "01", "crc", first_dose_date="2024-02-01", death_date="2024-01-15"
        ),
        "S-NEW",
        "SUBJECT",
        "death_date",
        "death_before_first_dose",
        "is before the first dose",
    ),
    (
        "consent after first dose",
        lambda s: s.add_subject(
            "S-NEW", "01", "crc", consent_date="2024-02-02", first_dose_date="2024-02-01"
        ),
        "S-NEW",
        "SUBJECT",
        "first_dose_date",
        "date_order",
        "is before informed consent",
    ),
    (
        "grade 6",
        many("AE", ae(AETOXGR="6")),
        "S-001",
        "AE",
        "AETOXGR",
        "ctcae_grade",
        "AETOXGR '6' is not a CTCAE grade (an integer 1–5)",
    ),
    (
        "grade 0",
        many("AE", ae(AETOXGR="0")),
        "S-001",
        "AE",
        "AETOXGR",
        "ctcae_grade",
        "not a CTCAE grade",
    ),
    (
        "negative diameter",
        one("TR", TRTESTCD="LDIAM", TRORRES="-3", TRORRESU="mm", TRDTC="2024-02-01"),
        "S-001",
        "TR",
        "TRORRES",
        "diameter_nonnegative",
        "a diameter is ≥ 0 mm",
    ),
    (
        "negative standard result",
        one("TR", TRTESTCD="SUMDIAM", TRSTRESN="-0.5", TRDTC="2024-02-01"),
        "S-001",
        "TR",
        "TRSTRESN",
        "diameter_nonnegative",
        "SUMDIAM -0.5",
    ),
    (
        "AESER not Y/N",
        many("AE", ae(AESER="YES")),
        "S-001",
        "AE",
        "AESER",
        "controlled_term",
        "'YES' is not a term of AESER",
    ),
    (
        "SEX not coded",
        one("DM", "S-NEW", SEX="MALE"),
        "S-NEW",
        "DM",
        "SEX",
        "controlled_term",
        "'MALE' is not a term of SEX",
    ),
    (
        "RECIST response not coded",
        one("RS", RSTESTCD="OVRLRESP", RSCAT="RECIST 1.1", RSSTRESC="CHECK", RSDTC="2024-03-01"),
        "S-001",
        "RS",
        "RSSTRESC",
        "controlled_term",
        "'CHECK' is not a term of RSSTRESC",
    ),
    (
        "iRECIST response given as RECIST",
        one("RS", RSTESTCD="TRGRESP", RSCAT="iRECIST", RSSTRESC="PR", RSDTC="2024-03-01"),
        "S-001",
        "RS",
        "RSSTRESC",
        "controlled_term",
        "iCR",
    ),
    (
        "duplicate of a stored record",
        many("AE", ae(AESEQ="1")),
        "S-001",
        "AE",
        "AESEQ",
        "duplicate",
        "AESEQ 1 of subject S-001 is already stored",
    ),
    (
        "duplicate within the batch",
        many("AE", ae(AESEQ="7"), ae(AESEQ="7.0")),
        "S-001",
        "AE",
        "AESEQ",
        "duplicate",
        "given twice (rows 1 and 2)",
    ),
    (
        "second DM row",
        one("DM", SEX="F"),
        "S-001",
        "DM",
        "USUBJID",
        "duplicate",
        "DM record of subject S-001 is already stored",
    ),
    (
        "unknown subject",
        many("AE", ae("S-404")),
        "S-404",
        "AE",
        "USUBJID",
        "unknown_subject",
        "subject S-404 is not in the study",
    ),
    (
        "sequence not a number",
        many("AE", ae(AESEQ="x")),
        "S-001",
        "AE",
        "AESEQ",
        "number_format",
        "'x' is not a number",
    ),
    (
        "sequence zero",
        many("AE", ae(AESEQ="0")),
        "S-001",
        "AE",
        "AESEQ",
        "number_format",
        "not a positive integer sequence number",
    ),
    (
        "result not a number",
        one("TR", TRTESTCD="LDIAM", TRSTRESN="ten", TRDTC="2024-02-01"),
        "S-001",
        "TR",
        "TRSTRESN",
        "number_format",
        "'ten' is not a number",
    ),
    (
        "wrong DOMAIN",
        many("AE", ae(DOMAIN="CM")),
        "S-001",
        "AE",
        "DOMAIN",
        "domain",
        "DOMAIN is 'CM' in a AE record",
    ),
    (
        "missing USUBJID",
        many("AE", ae(USUBJID="")),
        None,
        "AE",
        "USUBJID",
        "required",
        "USUBJID is required",
    ),
    (
        "dose level of another cohort",
        lambda s: s.add_subject("S-NEW", "01", "crc", dose_level="2", cohort=1),
        "S-NEW",
        "COHORT",
        "dose_level",
        "cohort_dose_level",
        "at dose level 2 but cohort 1 is at dose level 1",
    ),
    (
        "consent moved after stored assessments",
        lambda s: s.update_subject("S-001", {"consent_date": "2024-01-25"}, "crc", "typo", 1),
        "S-001",
        "AE",
        "AESTDTC",
        "date_order",
        "before informed consent 2024-01-25",
    ),
]


def _state(store: Store) -> tuple[Any, ...]:
    return (
        store.verify_audit().last_seq,
        len(store.subjects()),
        *(len(store.records(d)) for d in ("DM", "EX", "AE", "TR", "RS")),
    )


@pytest.mark.parametrize(
    ("write", "usubjid", "form", "field", "rule", "message"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_edit_check_refuses_its_bad_case(
    trial: Store,
    write: Callable[[Store], Any],
    usubjid: str | None,
    form: str,
    field: str,
    rule: str,
    message: str,
) -> None:
    before = _state(trial)
    with pytest.raises(EditCheckError) as caught:
        write(trial)
    matching = [
        f
        for f in caught.value.findings
        if (f.usubjid, f.domain, f.field, f.rule) == (usubjid, form, field, rule)
    ]
    assert matching, "\n".join(str(f) for f in caught.value.findings)
    assert any(message in f.message for f in matching), [f.message for f in matching]
    assert message in str(caught.value)
    assert _state(trial) == before


def test_partial_dates_elsewhere_are_accepted_with_a_warning(trial: Store) -> None:
    result = trial.add_records("AE", [ae(AESTDTC="2024-02", AETERM="Cough")], "site-user")
    [warning] = result.warnings
    assert (warning.field, warning.rule, warning.severity) == ("AESTDTC", "date_partial", "warning")


def test_override_needs_a_reason_and_never_covers_structural_rules(trial: Store) -> None:
    from oncotrial.store import ReasonRequiredError

    bad = [ae(AETOXGR="7", AETERM="Legacy")]
    with pytest.raises(ReasonRequiredError):
        trial.add_records("AE", bad, "importer", enforce=False)
    result = trial.add_records("AE", bad, "importer", "legacy data loaded as-is", enforce=False)
    assert [f.rule for f in result.overridden] == ["ctcae_grade"]
    with pytest.raises(EditCheckError, match="unknown_subject"):
        trial.add_records("AE", [ae("S-404")], "importer", "legacy", enforce=False)


def test_a_form_can_be_checked_without_storing_it(trial: Store) -> None:
    """``check_records`` gives exactly the findings ``add_records`` would raise (or warn)."""
    before = _state(trial)
    findings = trial.check_records({"AE": [ae(AETOXGR="9"), ae(AESTDTC="2024-02")]})
    assert [(f.row, f.rule, f.severity) for f in findings] == [
        (0, "ctcae_grade", "error"),
        (1, "date_partial", "warning"),
    ]
    with pytest.raises(EditCheckError) as caught:
        trial.add_records("AE", [ae(AETOXGR="9"), ae(AESTDTC="2024-02")], "site-user")
    assert [str(f) for f in caught.value.findings] == [str(findings[0])]
    assert _state(trial) == before
