"""Data entry through the conduct use cases, on SQLite and PostgreSQL: screening, enrolment,
forms as SDTM records through the store's edit checks, soft checks as queries, reasons for
change, the subject's course, and the system's DLT and RECIST judgements beside the
investigator's."""

from __future__ import annotations

import pytest

from conduct_fixtures import AE_VALUES, actor, eligible_answers, enrolled_subject
from oncotrial.conduct import FormRejectedError, StateError, Study, entry, queries, reading
from oncotrial.store import ConcurrentEditError, EditCheckError, ReasonRequiredError, Store

pytest_plugins = ["store_fixtures", "conduct_fixtures"]


def test_screening_gives_site_prefixed_ids_and_sdtm_records(study: Study) -> None:
    crc = actor(study, "crc01")
    first = entry.screen(
        study, crc, {"site": "01", "consent_date": "2025-01-06", **eligible_answers(study)}
    )
    second = entry.screen(
        study, crc, {"site": "01", "consent_date": "2025-01-07", **eligible_answers(study)}
    )
    other = entry.screen(
        study,
        actor(study, "crc02"),
        {"site": "02", "consent_date": "2025-01-07", **eligible_answers(study)},
    )
    assert (first.usubjid, second.usubjid, other.usubjid) == ("01-001", "01-002", "02-001")
    ds = Store(study.engine).records("DS", usubjid="01-001")
    assert ds[["DSDECOD", "DSCAT", "DSSTDTC", "STUDYID"]].values.tolist() == [
        [
            "INFORMED CONSENT OBTAINED",
            "PROTOCOL MILESTONE",
            "2025-01-06",
            "TORIPALIMAB-DONAFENIB-HCC",
        ]
    ]
    assert Store(study.engine).records("IE", usubjid="01-001").empty
    assert Store(study.engine).subject("01-001").status == "screening"


def test_unmet_criteria_are_ie_records_and_block_enrolment(study: Study) -> None:
    crc = actor(study, "crc01")
    answers = eligible_answers(study) | {"crit_IN04": "N", "crit_EX02": "Y"}
    result = entry.screen(study, crc, {"site": "01", "consent_date": "2025-01-06", **answers})
    store = Store(study.engine)
    ie = store.records("IE", usubjid=result.usubjid)
    # SDTMIG IE: one record per criterion not met; IEORRES is the answer to the criterion
    assert ie[["IETESTCD", "IECAT", "IEORRES"]].values.tolist() == [
        ["IN04", "INCLUSION", "N"],
        ["EX02", "EXCLUSION", "Y"],
    ]
    assert "SCREEN FAILURE" in set(store.records("DS", usubjid=result.usubjid)["DSDECOD"])
    assert store.subject(result.usubjid).status == "screen_failure"
    with pytest.raises(FormRejectedError) as refused:
        entry.save_form(study, crc, result.usubjid, "ENROL", {"enrol_date": "2025-01-08"})
    assert [
        (f.rule, name) for f, name in zip(refused.value.findings, refused.value.fields, strict=True)
    ] == [("eligibility", "cohort")]
    screening = reading.get_form(study, crc, result.usubjid, "SCREEN", "1")
    assert screening.values["crit_IN04"] == "N" and screening.values["crit_IN01"] == "Y"


def test_enrolment_assigns_the_cohort_dose_level_and_dm_arm(study: Study) -> None:
    crc = actor(study, "crc01")
    usubjid = enrolled_subject(study, crc, first_dose=None)
    info = Store(study.engine).subject(usubjid)
    assert (info.dose_level, info.cohort, info.status) == ("L1", 1, "enrolled")
    entry.save_form(
        study,
        crc,
        usubjid,
        "DM",
        {"age": "61", "sex": "M", "etiology": "HBV", "bclc": "C", "child_pugh": "A5", "afp": "812"},
    )
    dm = Store(study.engine).records("DM", usubjid=usubjid).iloc[0]
    assert (dm["ARMCD"], dm["ARM"], dm["SITEID"], dm["RFICDTC"]) == (
        "L1",
        "L1, donafenib 100 mg bid",
        "01",
        "2025-01-06",
    )
    assert (dm["CPCLASS"], dm["BCLC"], dm["ETIOLOGY"], dm["AFP"]) == ("A5", "C", "HBV", "812")


def test_a_hard_check_refuses_like_db_import_and_stores_nothing(study: Study) -> None:
    crc = actor(study, "crc01")
    usubjid = enrolled_subject(study, crc)
    store = Store(study.engine)
    before = len(store.records("AE")), store.verify_audit().last_seq
    bad = AE_VALUES | {"start": "2025-01-02", "grade": "7"}
    with pytest.raises(FormRejectedError) as refused:
        entry.save_form(study, crc, usubjid, "AE", bad)
    by_form = {
        (name, f.rule) for f, name in zip(refused.value.findings, refused.value.fields, strict=True)
    }
    assert by_form == {("start", "date_order"), ("grade", "ctcae_grade")}
    assert (len(store.records("AE")), store.verify_audit().last_seq) == before
    # the same values through the other door (db import) are refused by the same rules
    with pytest.raises(EditCheckError) as imported:
        store.add_records(
            "AE",
            [{"USUBJID": usubjid, "AETERM": "RASH", "AESTDTC": "2025-01-02", "AETOXGR": "7"}],
            "importer",
        )
    assert {(f.field, f.rule) for f in imported.value.findings} == {
        ("AESTDTC", "date_order"),
        ("AETOXGR", "ctcae_grade"),
    }


def test_a_soft_check_saves_and_opens_a_query_that_a_correction_closes(study: Study) -> None:
    crc = actor(study, "crc01")
    usubjid = enrolled_subject(study, crc)
    saved = entry.save_form(study, crc, usubjid, "AE", AE_VALUES | {"end": "2025-02"})
    assert saved.queries_opened
    open_ = queries.list_queries(study, actor(study, "dm"), usubjid=usubjid, status="open")
    assert [(q.field, q.rule) for q in open_ if q.rule == "date_partial"] == [
        ("end", "date_partial")
    ]
    current = reading.get_form(study, crc, usubjid, "AE", saved.instance)
    fixed = entry.save_form(
        study,
        crc,
        usubjid,
        "AE",
        current.values | {"end": "2025-02-10"},
        instance=saved.instance,
        reason="end date from the chart",
        expected_version=current.row_version,
    )
    assert fixed.queries_closed == 1
    closed = queries.list_queries(study, actor(study, "dm"), usubjid=usubjid, status="closed")
    assert [q.resolution for q in closed] == ["resolved by a change of the data"]


def test_an_edit_needs_a_reason_and_the_version_it_was_based_on(study: Study) -> None:
    crc = actor(study, "crc01")
    usubjid = enrolled_subject(study, crc)
    saved = entry.save_form(study, crc, usubjid, "AE", AE_VALUES)
    values = AE_VALUES | {"grade": "3"}
    with pytest.raises(ReasonRequiredError):
        entry.save_form(study, crc, usubjid, "AE", values, instance=saved.instance)
    with pytest.raises(ConcurrentEditError):
        entry.save_form(
            study,
            crc,
            usubjid,
            "AE",
            values,
            instance=saved.instance,
            reason="grade from source",
            expected_version=saved.row_version + 1,
        )
    entry.save_form(
        study,
        crc,
        usubjid,
        "AE",
        values,
        instance=saved.instance,
        reason="grade from source",
        expected_version=saved.row_version,
    )
    trail = Store(study.engine).audit_trail("AE")
    change = trail[trail["field"] == "AETOXGR"].iloc[-1]
    assert (change["old_value"], change["new_value"], change["reason"], change["user_name"]) == (
        "4",
        "3",
        "grade from source",
        "crc01",
    )


def test_the_first_dose_and_status_follow_the_forms(study: Study) -> None:
    crc = actor(study, "crc01")
    usubjid = enrolled_subject(study, crc, first_dose="2025-01-13")
    store = Store(study.engine)
    assert store.subject(usubjid).first_dose_date == "2025-01-13"
    entry.save_form(
        study,
        crc,
        usubjid,
        "DM",
        {"age": "50", "sex": "F", "etiology": "HCV", "bclc": "B", "child_pugh": "A6"},
    )
    entry.save_form(
        study, crc, usubjid, "EX-TORIPALIMAB", {"cycle": "1", "date": "2025-01-12", "dose": "240"}
    )
    assert store.subject(usubjid).first_dose_date == "2025-01-12"
    assert store.records("DM", usubjid=usubjid).iloc[0]["RFXSTDTC"] == "2025-01-12"
    assert store.subject(usubjid).status == "on_treatment"
    entry.save_form(
        study, crc, usubjid, "EOT", {"date": "2025-04-01", "reason": "PROGRESSIVE DISEASE"}
    )
    assert store.subject(usubjid).status == "follow_up"
    entry.save_form(
        study,
        crc,
        usubjid,
        "FU",
        {"date": "2025-06-01", "status": "DEATH", "death_date": "2025-05-28"},
    )
    info = store.subject(usubjid)
    dm = store.records("DM", usubjid=usubjid).iloc[0]
    assert (info.status, info.death_date, dm["DTHDTC"], dm["DTHFL"]) == (
        "died",
        "2025-05-28",
        "2025-05-28",
        "Y",
    )


def test_a_form_waits_for_enrolment_and_a_singleton_is_edited_not_duplicated(
    study: Study,
) -> None:
    crc = actor(study, "crc01")
    screened = entry.screen(
        study, crc, {"site": "01", "consent_date": "2025-01-06", **eligible_answers(study)}
    )
    with pytest.raises(StateError, match="not enrolled"):
        entry.save_form(study, crc, screened.usubjid, "AE", AE_VALUES)
    entry.save_form(study, crc, screened.usubjid, "ENROL", {"enrol_date": "2025-01-07"})
    with pytest.raises(StateError, match="exists"):
        entry.save_form(study, crc, screened.usubjid, "ENROL", {"enrol_date": "2025-01-07"})


def test_the_protocols_dlt_definition_is_judged_beside_the_investigator(study: Study) -> None:
    """Grade 4 thrombocytopenia on day 13 meets the protocol's criterion thrombocytopenia-g4;
    grade 4 neutropenia lasting 5 days does not meet neutropenia-g4-7d (> 7 days)
    (protocols/toripalimab-donafenib-hcc.yaml, dlt.criteria; CTCAE v5.0 grades)."""
    crc = actor(study, "crc01")
    usubjid = enrolled_subject(study, crc, first_dose="2025-01-13")
    disagree = entry.save_form(study, crc, usubjid, "AE", AE_VALUES | {"dlt": "N"})
    assert "thrombocytopenia-g4" in disagree.computed["dlt"]
    dm = actor(study, "dm")
    rules = {q.rule for q in queries.list_queries(study, dm, usubjid=usubjid)}
    assert "dlt_disagreement" in rules
    short = AE_VALUES | {
        "term": "Neutrophil count decreased",
        "start": "2025-01-20",
        "end": "2025-01-24",
        "dlt": "N",
    }
    agree = entry.save_form(study, crc, usubjid, "AE", short)
    assert agree.computed["dlt"].startswith("not a DLT")
    assert not agree.queries_opened
    late = entry.save_form(
        study,
        crc,
        usubjid,
        "AE",
        AE_VALUES | {"start": "2025-03-01", "end": "2025-03-05", "dlt": "N"},
    )
    assert "outside" in late.computed["dlt"] or late.computed["dlt"].startswith("not assessed")


def _lesions(diameters: tuple[float, float]) -> list[dict[str, str]]:
    return [
        {"link": "T01", "location": "LIVER", "nodal": "N", "diameter": f"{diameters[0]:g}"},
        {"link": "T02", "location": "LUNG", "nodal": "N", "diameter": f"{diameters[1]:g}"},
    ]


def test_recist_response_from_the_lesions_and_a_disagreement_query(study: Study) -> None:
    """RECIST 1.1 (Eisenhauer et al., Eur J Cancer 2009;45:228, §4.3.1): a decrease of at
    least 30 % in the sum of target diameters from baseline is a partial response — 100 mm to
    65 mm (-35 %) is PR, and 70 mm later is still PR (-30 %; +5 mm, +7.7 % from the 65 mm
    nadir is short of PD's +20 % and +5 mm)."""
    crc = actor(study, "crc01")
    usubjid = enrolled_subject(study, crc, first_dose="2025-01-13")
    entry.save_form(
        study,
        crc,
        usubjid,
        "TA",
        {"visit": "1", "date": "2025-01-08", "method": "CT SCAN", "targets": _lesions((60, 40))},
    )
    prefilled = reading.prefill(study, crc, usubjid, "TA")
    assert [t["link"] for t in prefilled["targets"]] == ["T01", "T02"]
    assert prefilled["visit"] == "101"
    first = entry.save_form(
        study,
        crc,
        usubjid,
        "TA",
        {
            "visit": "101",
            "date": "2025-02-24",
            "method": "CT SCAN",
            "response": "SD",
            "targets": _lesions((40, 25)),
        },
    )
    assert "PR" in first.computed["response"]
    dm = actor(study, "dm")
    [query] = [
        q
        for q in queries.list_queries(study, dm, usubjid=usubjid)
        if q.rule == "recist_disagreement"
    ]
    assert "SD" in query.message and "PR" in query.message and query.field == "response"
    second = entry.save_form(
        study,
        crc,
        usubjid,
        "TA",
        {
            "visit": "102",
            "date": "2025-04-07",
            "method": "CT SCAN",
            "response": "PR",
            "targets": _lesions((45, 25)),
        },
    )
    assert "PR" in second.computed["response"] and not second.queries_opened
    tr = Store(study.engine).records("TR", usubjid=usubjid)
    assert tr[tr["VISITNUM"] == "101"]["TRSTRESN"].tolist() == ["40", "25"]
    rs = Store(study.engine).records("RS", usubjid=usubjid)
    assert rs[["VISITNUM", "RSTESTCD", "RSSTRESC", "RSEVAL"]].values.tolist() == [
        ["101", "OVRLRESP", "SD", "INVESTIGATOR"],
        ["102", "OVRLRESP", "PR", "INVESTIGATOR"],
    ]
