"""ISO 8601 dates: one grammar at every door, and admiral's imputation.

References: SDTMIG v3.4 §4.4.2–4.4.4 (the ISO 8601 forms of ``--DTC`` and their examples with
unknown parts, e.g. ``2003---15``, ``--12-15``, ``2003-12-15T-:15``); the expected imputations
are those of admiral's own tests (pharmaverse/admiral ``tests/testthat/test-derive_date_vars.R``:
``impute_dtc_dtm`` Tests 1, 3, 4, 7; ``impute_dtc_dt`` Tests 13, 14, 15, 17; ``compute_dtf``
Test 26).
"""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oncotrial.cdisc.dates import (
    date_span,
    definitely_before,
    impute_date,
    impute_datetime,
    parse_dtc,
)
from oncotrial.cdisc.errors import DataError
from oncotrial.cdisc.frames import dtc_values, exact_dtc
from oncotrial.derive.dates import parse_iso_date
from oncotrial.derive.safety import impute_dtc
from oncotrial.store.checks import check_values

# admiral test-derive_date_vars.R, the ``input`` of the impute_dtc_dtm tests
ADMIRAL_DTM_INPUT = [
    "2019-07-18T15:25:40.243",
    "2019-07-18T15:25:40",
    "2019-07-18T15:25",
    "2019-07-18",
    "2019-02",
    "2019",
    "2019---07",
    "2003-12-15T-:15:18",
    "2003-12-15T13:-:19",
    "2020-07--T00:00",
]
NA = None
ADMIRAL_DTM = {
    # Test 1: default (no date imputation, time first)
    ("n", "first", "first"): [
        "2019-07-18T15:25:40.243",
        "2019-07-18T15:25:40",
        "2019-07-18T15:25:00",
        "2019-07-18T00:00:00",
        NA,
        NA,
        NA,
        "2003-12-15T00:00:00",
        "2003-12-15T13:00:00",
        NA,
    ],
    # Test 3: highest_imputation "M", date_imputation "first"
    ("M", "first", "first"): [
        "2019-07-18T15:25:40.243",
        "2019-07-18T15:25:40",
        "2019-07-18T15:25:00",
        "2019-07-18T00:00:00",
        "2019-02-01T00:00:00",
        "2019-01-01T00:00:00",
        "2019-01-01T00:00:00",
        "2003-12-15T00:00:00",
        "2003-12-15T13:00:00",
        "2020-07-01T00:00:00",
    ],
    # Test 4: highest_imputation "D", date and time imputation "last"
    ("D", "last", "last"): [
        "2019-07-18T15:25:40.243",
        "2019-07-18T15:25:40",
        "2019-07-18T15:25:59",
        "2019-07-18T23:59:59",
        "2019-02-28T23:59:59",
        NA,
        NA,
        "2003-12-15T23:59:59",
        "2003-12-15T13:59:59",
        "2020-07-31T23:59:59",
    ],
    # Test 7: highest_imputation "M", date_imputation "mid", time "first"
    ("M", "mid", "first"): [
        "2019-07-18T15:25:40.243",
        "2019-07-18T15:25:40",
        "2019-07-18T15:25:00",
        "2019-07-18T00:00:00",
        "2019-02-15T00:00:00",
        "2019-06-30T00:00:00",
        "2019-06-30T00:00:00",
        "2003-12-15T00:00:00",
        "2003-12-15T13:00:00",
        "2020-07-15T00:00:00",
    ],
}
ADMIRAL_DT_INPUT = ["2019-07-18", "2019-02", "2019", "2019---07"]
ADMIRAL_DT = {
    ("n", "first"): ["2019-07-18", NA, NA, NA],  # Test 13
    ("M", "first"): ["2019-07-18", "2019-02-01", "2019-01-01", "2019-01-01"],  # Test 14
    ("D", "last"): ["2019-07-18", "2019-02-28", NA, NA],  # Test 15
    ("M", "mid"): ["2019-07-18", "2019-02-15", "2019-06-30", "2019-06-30"],  # Test 17
}
ADMIRAL_DTF = ["", "D", "M", "M"]  # compute_dtf Test 26 (NA written as "")


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    return text + f".{value.microsecond // 1000:03d}" if value.microsecond else text


@pytest.mark.parametrize(("highest", "date_rule", "time_rule"), list(ADMIRAL_DTM))
def test_datetime_imputation_matches_admiral(highest: str, date_rule: str, time_rule: str) -> None:
    expected = ADMIRAL_DTM[(highest, date_rule, time_rule)]
    got = [
        _iso(
            impute_datetime(
                parse_dtc(text),
                highest=highest,  # type: ignore[arg-type]
                date_rule=date_rule,  # type: ignore[arg-type]
                time_rule=time_rule,  # type: ignore[arg-type]
            ).value
        )
        for text in ADMIRAL_DTM_INPUT
    ]
    assert got == expected


@pytest.mark.parametrize(("highest", "rule"), list(ADMIRAL_DT))
def test_date_imputation_and_flags_match_admiral(highest: str, rule: str) -> None:
    results = [
        impute_date(parse_dtc(text), highest=highest, rule=rule)  # type: ignore[arg-type]
        for text in ADMIRAL_DT_INPUT
    ]
    got = [None if day is None else day.isoformat() for day, _ in results]
    assert got == ADMIRAL_DT[(highest, rule)]
    if (highest, rule) == ("M", "first"):
        assert [flag for _, flag in results] == ADMIRAL_DTF


def test_time_flags_follow_admiral() -> None:
    """compute_tmf: "S" when the seconds were imputed, "M" the minutes, "H" the hour (or the
    date)."""
    flags = [
        impute_datetime(parse_dtc(t), highest="M").time_flag
        for t in (
            "2019-07-18T15:25:52",
            "2019-07-18T15:25",
            "2019-07-18T15",
            "2019-07-18",
            "2019-02",
        )
    ]
    assert flags == ["", "S", "M", "H", "H"]


# SDTMIG v3.4 §4.4.4 examples, with the days each may stand for
SDTMIG_FORMS = [
    ("2003-12-15T13:15:17", date(2003, 12, 15), date(2003, 12, 15)),
    ("2003-12-15T13:15", date(2003, 12, 15), date(2003, 12, 15)),
    ("2003-12-15T13", date(2003, 12, 15), date(2003, 12, 15)),
    ("2003-12-15", date(2003, 12, 15), date(2003, 12, 15)),
    ("2003-12", date(2003, 12, 1), date(2003, 12, 31)),
    ("2003", date(2003, 1, 1), date(2003, 12, 31)),
    ("2003---15", date(2003, 1, 15), date(2003, 12, 15)),
    ("2003-12-15T-:15", date(2003, 12, 15), date(2003, 12, 15)),
    ("2003-12--T13:15", date(2003, 12, 1), date(2003, 12, 31)),
    ("--12-15", date.min, date.max),
    ("2024-02", date(2024, 2, 1), date(2024, 2, 29)),
    ("2023---31", date(2023, 1, 31), date(2023, 12, 31)),
    ("2023---29", date(2023, 1, 29), date(2023, 12, 29)),  # no 29 February in 2023
]


@pytest.mark.parametrize(("text", "earliest", "latest"), SDTMIG_FORMS)
def test_sdtmig_forms_are_dates_with_their_spans(text: str, earliest: date, latest: date) -> None:
    parsed = parse_dtc(text)
    assert parsed is not None
    assert (parsed.earliest, parsed.latest) == (earliest, latest)


BAD = [
    ("2024-13-01", "month 13 does not exist"),
    ("2024-02-30", "day 30 does not exist in 2024-02"),
    ("20/01/2024", "is not an ISO 8601 date"),
    ("2024-2-1", "is not an ISO 8601 date"),
    ("2024-01-05T25:00", "time 25:00 does not exist"),
    ("2024-01-05T10:60", "does not exist"),
    ("2024T10:00", "a time needs all three date parts"),
    ("2023---32", "day 32 does not exist"),
    ("2024-03T10:30", "a time needs all three date parts"),
    ("2024--", "an unknown part is written '-' only before a known one"),
    ("2024-01-05T10:00Z", "is not an ISO 8601 date"),
    ("0000", "year 0000 is not a calendar year"),
    ("0000-01-01", "year 0000 is not a calendar year"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_bad_dates_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_dtc(text)


def test_spans_order_partial_dates_only_when_every_day_does() -> None:
    assert not definitely_before(parse_dtc("2014-01"), parse_dtc("2014-01-02"))  # type: ignore[arg-type]
    assert definitely_before(parse_dtc("2013-12"), parse_dtc("2014-01-02"))  # type: ignore[arg-type]
    assert date_span("junk") is None and date_span("") is None


# ---------------------------------------------------------------------------------------------
# every door agrees


def _store_accepts(text: str) -> bool:
    """The store's edit check of an AE start date (web forms, db import)."""
    findings = check_values("AE", {"USUBJID": "S", "AESTDTC": text})
    return not any(f.rule == "date_format" for f in findings)


@pytest.mark.parametrize("text", ["0000", "0000-02", "0000---15", "0001-01-01"])
def test_year_zero_is_refused_alike_at_every_door(text: str) -> None:
    """Found by the property below: the store and the date readers accepted year 0000, which
    admiral-style imputation cannot turn into a date; now every door refuses it (and 0001 is
    the first year every door accepts)."""
    assert _store_accepts(text) == _derive_accepts(text) == text.startswith("0001")


def _derive_accepts(text: str) -> bool:
    """The derivations' readers: ADAE dates (admiral imputation), ADSL/ADAB columns, the RECIST
    engine's and ADRS's parser."""
    outcomes = []
    for reader in (
        lambda: impute_dtc(text, imputation="first"),
        lambda: dtc_values(pd.DataFrame({"X": [text]}), "X", "AE"),
        lambda: parse_iso_date(text),
    ):
        try:
            reader()
            outcomes.append(True)
        except (ValueError, DataError):
            outcomes.append(False)
    assert len(set(outcomes)) == 1, (text, outcomes)
    return outcomes[0]


# inputs on which the store and derive used to disagree, and the verdict of both now
WHERE_THEY_DIFFERED = [
    ("2024---15", True),  # the store accepted it, derive refused it
    ("2024-01-05T25:00", False),  # derive (ADSL disposition and alive dates) accepted it
    ("2021-03-04T24:30", False),
    ("2024-01-05T10:61", False),
    ("2024-03--T10:30", True),
    ("2003-12-15T-:15", True),
    ("2024--", False),
    ("2024T10", False),
]


@pytest.mark.parametrize(("text", "accepted"), WHERE_THEY_DIFFERED)
def test_store_and_derive_agree_where_they_used_to_differ(text: str, accepted: bool) -> None:
    assert _store_accepts(text) is accepted
    assert _derive_accepts(text) is accepted


_PART = st.sampled_from(["2024", "1999", "-", "02", "13", "29", "30", "31", "00", "7", "2"])
_DATEISH = st.builds(
    lambda parts, seps, time: "".join(p + s for p, s in zip(parts, seps, strict=False)) + time,
    st.lists(_PART, min_size=1, max_size=3),
    st.lists(st.sampled_from(["-", "", "--"]), min_size=3, max_size=3),
    st.sampled_from(["", "T10", "T23:59", "T24:00", "T-:30", "T10:30:59.5", "T10:60", " 10:00"]),
)


@settings(max_examples=400, deadline=None)
@given(st.one_of(_DATEISH, st.text(alphabet="0123456789-T:.", max_size=22)))
def test_every_door_accepts_and_refuses_the_same_dates(text: str) -> None:
    """Property: whatever the text, the store's edit check and every derivation reader give
    the same verdict on its format."""
    assert _store_accepts(text) == _derive_accepts(text)


@settings(max_examples=300, deadline=None)
@given(_DATEISH)
def test_data_that_passes_entry_never_fails_analysis_for_its_format(text: str) -> None:
    """Property: a first-dose date the store accepts (no error finding) is read by the ADSL
    derivation (which needs it to the day) without error."""
    row = {"USUBJID": "S", "EXSTDTC": text}
    errors = [f for f in check_values("EX", row) if f.severity == "error"]
    frame = pd.DataFrame({"USUBJID": ["S"], "EXSTDTC": [text]})
    if not errors:
        exact_dtc(frame, "EXSTDTC", "EX", purpose="the first dose")
