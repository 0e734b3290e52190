"""The tumour assessment form as the virtual investigators (and real ones) use it: the viable
diameter of an intrahepatic HCC target is stored as TR VLDIAM for mRECIST (Lencioni & Llovet
2010) and read back on the form, and a new lesion at a follow-up is identified (TU) before its
result (TR) is checked against the identification."""

from __future__ import annotations

from conduct_fixtures import actor, enrolled_subject
from oncotrial.conduct import Study, entry, reading
from oncotrial.store import Store

pytest_plugins = ["store_fixtures", "conduct_fixtures"]

BASELINE = {
    "visit": "1",
    "date": "2025-01-08",
    "method": "CT SCAN",
    "targets": [
        {"link": "T01", "location": "LIVER", "nodal": "N", "diameter": "42", "viable": "38"},
        {"link": "T02", "location": "LUNG", "nodal": "N", "diameter": "18"},
    ],
    "nontargets": [{"link": "NT01", "location": "BONE", "state": "PRESENT"}],
}
FOLLOW_UP = {
    "visit": "101",
    "date": "2025-02-24",
    "method": "CT SCAN",
    "response": "PD",
    "targets": [
        {"link": "T01", "location": "LIVER", "nodal": "N", "diameter": "40", "viable": "20"},
        {"link": "T02", "location": "LUNG", "nodal": "N", "diameter": "17"},
    ],
    "nontargets": [{"link": "NT01", "location": "BONE", "state": "PRESENT"}],
    "new": [{"link": "NEW01", "location": "LUNG", "state": "UNEQUIVOCAL"}],
}


def test_viable_diameters_and_a_new_lesion_at_follow_up(study: Study) -> None:
    inv = actor(study, "inv01")
    usubjid = enrolled_subject(study, actor(study, "crc01"))
    entry.save_form(study, inv, usubjid, "TA", BASELINE)
    saved = entry.save_form(study, inv, usubjid, "TA", FOLLOW_UP)
    assert saved.computed["response"].startswith("RECIST 1.1 from the lesions: PD")
    assert saved.queries_opened == []  # the investigator's PD is the system's
    store = Store(study.engine)
    tr = store.records("TR", usubjid=usubjid)
    viable = tr[tr.TRTESTCD.eq("VLDIAM")]
    assert viable[["VISITNUM", "TRLNKID", "TRORRES"]].values.tolist() == [
        ["1", "T01", "38"],
        ["101", "T01", "20"],
    ]
    tu = store.records("TU", usubjid=usubjid)
    assert tu.loc[tu.TULNKID.eq("NEW01"), ["TUORRES", "VISITNUM"]].values.tolist() == [
        ["NEW", "101"]
    ]
    form = reading.get_form(study, inv, usubjid, "TA", saved.instance)
    assert [t["viable"] for t in form.values["targets"]] == ["20", None]
    assert len(form.values["targets"]) == 2  # the viable diameters are no extra lesions
    assert form.values["new"] == [{"link": "NEW01", "location": "LUNG", "state": "UNEQUIVOCAL"}]
