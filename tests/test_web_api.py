"""The JSON API end to end (sign in, screen, enrol, a refused and a saved AE, a query answered
and closed, review, signature, audit trail, exports), the ODM 1.3.2 export, and the API fuzzed
from its own OpenAPI description by schemathesis (no 5xx)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings

from conduct_fixtures import AE_VALUES, PASSWORD, PROTOCOL, eligible_answers
from oncotrial.conduct import Study
from oncotrial.conduct.odm import NS
from oncotrial.conduct.scope import scoped_engine
from oncotrial.protocol import load_protocol
from oncotrial.store import Store
from oncotrial.web import create_app
from web_helpers import bearer, client

pytest_plugins = ["store_fixtures", "conduct_fixtures"]
ODM = f"{{{NS}}}"


def _journey(study: Study) -> dict:
    web = client(study)
    crc, dm, mon, inv = (bearer(web, u) for u in ("crc01", "dm", "mon", "inv01"))
    screened = web.post(
        "/api/subjects",
        headers=crc,
        json={"values": {"site": "01", "consent_date": "2025-01-06", **eligible_answers(study)}},
    )
    assert screened.status_code == 201, screened.text
    usubjid = screened.json()["usubjid"]
    assert (
        web.post(
            f"/api/subjects/{usubjid}/forms/ENROL",
            headers=crc,
            json={"values": {"enrol_date": "2025-01-07"}},
        ).status_code
        == 201
    )
    dose = {"cycle": "1", "start": "2025-01-13", "dose": "100", "frequency": "BID"}
    assert (
        web.post(
            f"/api/subjects/{usubjid}/forms/EX-DONAFENIB", headers=crc, json={"values": dose}
        ).status_code
        == 201
    )
    refused = web.post(
        f"/api/subjects/{usubjid}/forms/AE",
        headers=crc,
        json={"values": AE_VALUES | {"start": "2024-12-01"}},
    )
    assert refused.status_code == 422
    [finding] = refused.json()["findings"]
    assert (finding["field"], finding["variable"], finding["rule"]) == (
        "start",
        "AESTDTC",
        "date_order",
    )
    saved = web.post(
        f"/api/subjects/{usubjid}/forms/AE", headers=crc, json={"values": AE_VALUES | {"dlt": "N"}}
    )
    assert saved.status_code == 201
    body = saved.json()
    assert "thrombocytopenia-g4" in body["computed"]["dlt"] and body["queries_opened"]
    entry_id = body["entry_id"]
    [query] = [
        q
        for q in web.get("/api/queries", headers=dm, params={"site": "01"}).json()
        if q["rule"] == "dlt_disagreement"
    ]
    assert (
        web.post(
            f"/api/queries/{query['id']}/answer",
            headers=crc,
            json={"text": "DLT after all: assessment corrected"},
        ).status_code
        == 200
    )
    current = web.get(f"/api/subjects/{usubjid}/forms/AE/1", headers=crc).json()
    changed = web.put(
        f"/api/subjects/{usubjid}/forms/AE/1",
        headers=crc,
        json={
            "values": current["values"] | {"dlt": "Y"},
            "reason": "DLT per protocol",
            "row_version": current["row_version"],
        },
    )
    assert changed.status_code == 200 and changed.json()["queries_closed"] == 1
    for who, action in ((crc, "complete"), (mon, "verify"), (dm, "lock")):
        response = web.post(f"/api/entries/{entry_id}/review", headers=who, json={"action": action})
        assert response.status_code == 200, response.text
    assert (
        web.post(
            f"/api/entries/{entry_id}/signature", headers=inv, json={"password": "wrong"}
        ).status_code
        == 401
    )
    signed = web.post(
        f"/api/entries/{entry_id}/signature", headers=inv, json={"password": PASSWORD}
    )
    assert signed.status_code == 200 and signed.json()["valid"]
    audit = web.get(f"/api/entries/{entry_id}/audit", headers=mon).json()
    assert any(r["field"] == "AEDLT" and r["reason"] == "DLT per protocol" for r in audit)
    return {"web": web, "dm": dm, "usubjid": usubjid, "entry_id": entry_id}


def test_the_api_journey_and_its_exports(study: Study) -> None:
    done = _journey(study)
    web, dm, usubjid = done["web"], done["dm"], done["usubjid"]
    archive = web.get("/api/exports/sdtm.zip", headers=dm)
    assert archive.status_code == 200
    with zipfile.ZipFile(io.BytesIO(archive.content)) as files:
        names = set(files.namelist())
        ae = files.read("ae.csv").decode()
    assert {"dm.csv", "ds.csv", "ex.csv", "ae.csv"} <= names or {"ds.csv", "ae.csv"} <= names
    assert usubjid in ae and "Platelet count decreased" in ae
    odm = web.get("/api/exports/odm.xml", headers=dm)
    root = ET.fromstring(odm.content)
    assert root.tag == f"{ODM}ODM" and root.get("ODMVersion") == "1.3.2"
    assert root.get("FileType") == "Transactional"
    forms = root.findall(f".//{ODM}FormData[@FormOID='F.AE']")
    assert len(forms) == 1
    [signature] = forms[0].findall(f"{ODM}Signature")
    assert signature.find(f"{ODM}UserRef").get("UserOID") == "USR.inv01"
    groups = forms[0].findall(f"{ODM}ItemGroupData")
    assert [g.get("TransactionType") for g in groups] == ["Insert", "Update"]
    update = groups[1]
    assert update.find(f"{ODM}AuditRecord/{ODM}ReasonForChange").text == "DLT per protocol"
    [item] = update.findall(f"{ODM}ItemData")
    assert (item.get("ItemOID"), item.get("Value")) == ("IT.AE.AEDLT", "Y")
    defined = {i.get("OID") for i in root.iter(f"{ODM}ItemDef")}
    used = {i.get("ItemOID") for i in root.iter(f"{ODM}ItemData")}
    assert used <= defined
    users = {u.get("OID") for u in root.iter(f"{ODM}User")}
    assert {r.get("UserOID") for r in root.iter(f"{ODM}UserRef")} <= users
    audit = web.get("/api/exports/audit.csv", headers=bearer(web, "adm"))
    assert audit.status_code == 200 and audit.text.startswith("seq,")
    kinds = Store(study.engine).audit_trail("access_events")["new_value"].str.cat()
    assert kinds.count('"kind":"export"') == 3


def test_the_casebook_of_a_subject(study: Study) -> None:
    done = _journey(study)
    web = done["web"]
    headers = bearer(web, "inv01")
    page = web.get(f"/subjects/{done['usubjid']}/casebook", headers=headers)
    assert page.status_code == 200
    text = page.text
    assert "Casebook — subject" in text and "Name of inv01" in text
    assert "Platelet count decreased" in text and "DLT per protocol" in text
    assert (
        web.get(f"/subjects/{done['usubjid']}/casebook", headers=bearer(web, "crc02")).status_code
        == 404
    )


#: the application whose OpenAPI description is fuzzed; each test run points it at a study
FUZZED_APP = create_app(Study(scoped_engine("sqlite:///never-opened.db"), load_protocol(PROTOCOL)))
schema = schemathesis.openapi.from_asgi("/api/openapi.json", FUZZED_APP)


@pytest.mark.skipif(
    not Path("/usr/bin/chromium").exists(),
    reason="Chromium is absent (apt-get install -y chromium): no PDF casebook",
)
def test_the_casebook_as_pdf(study: Study) -> None:
    done = _journey(study)
    response = done["web"].get(
        f"/subjects/{done['usubjid']}/casebook?pdf=1", headers=bearer(done["web"], "dm")
    )
    assert response.status_code == 200 and response.content.startswith(b"%PDF")


@pytest.fixture(scope="module")
def fuzz_headers(module_study: Study) -> dict[str, str]:
    FUZZED_APP.state.study = module_study
    return bearer(client(module_study), "crc01")


@schema.parametrize()
@settings(
    max_examples=10,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_the_api_has_no_5xx_under_schemathesis(
    case: schemathesis.Case, fuzz_headers: dict[str, str]
) -> None:
    """Every operation of the API's own OpenAPI description, fuzzed by schemathesis (bounded:
    10 examples per operation, no shrinking) as a signed-in coordinator: no server error."""
    if case.method == "DELETE" and case.path == "/api/session":
        return
    response = case.call(headers=fuzz_headers)
    assert response.status_code < 500, f"{case.method} {case.path}: {response.text[:300]}"
