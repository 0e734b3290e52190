"""CDISC ODM 1.3.2 (Operational Data Model, the EDC exchange standard) of the clinical data,
with its audit trail and signatures.

The file is ``FileType="Transactional"`` (ODM 1.3.2 §2.10): each change of each SDTM record
kept by the audit trail is one ``ItemGroupData`` carrying ``TransactionType`` (Insert, Update,
Remove) with an ``AuditRecord`` (``UserRef``, ``LocationRef``, ``DateTimeStamp``,
``ReasonForChange``) on each ``ItemData``; each form's e-signatures are ``Signature`` elements
(``UserRef``, ``LocationRef``, ``SignatureRef`` to a ``SignatureDef`` in ``AdminData`` with its
meaning, ``DateTimeStamp``). Metadata: one study event, one ``FormDef`` per form of the study,
one ``ItemGroupDef`` per SDTM domain a form writes, one ``ItemDef`` per variable.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree as ET

NS = "http://www.cdisc.org/ns/odm/v1.3"
EVENT_OID = "SE.STUDY"
SIGNATURE_OID = "SD.INVESTIGATOR"
ACTIONS = {"INSERT": "Insert", "UPDATE": "Update", "DELETE": "Remove"}


@dataclass(frozen=True)
class OdmForm:
    """A saved form: its subject, form code and instance, and its records' audit rows."""

    usubjid: str
    site: str | None
    form: str
    instance: str
    records: Sequence[tuple[str, int]]
    signatures: Sequence[Mapping[str, Any]]


def _oid(*parts: str) -> str:
    return ".".join(p.replace(" ", "_") for p in parts)


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: Any) -> ET.Element:
    element = ET.SubElement(parent, f"{{{NS}}}{tag}", {k: str(v) for k, v in attrs.items()})
    if text is not None:
        element.text = text
    return element


def build_odm(
    *,
    study_oid: str,
    study_name: str,
    description: str,
    forms_meta: Sequence[tuple[str, str, bool, Sequence[tuple[str, Sequence[str]]]]],
    users: Sequence[tuple[str, str]],
    sites: Sequence[tuple[str, str | None]],
    meaning: str,
    entries: Sequence[OdmForm],
    audit: Mapping[tuple[str, int], Sequence[Mapping[str, Any]]],
) -> bytes:
    """The ODM document.

    ``forms_meta``: (form code, title, repeating, [(domain, variables)]); ``users``: (user name,
    full name); ``sites``: (code, name); ``audit``: (domain, record id) → its audit rows in
    sequence order (as :meth:`oncotrial.store.Store.audit_trail` gives them).
    """
    ET.register_namespace("", NS)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    root = ET.Element(
        f"{{{NS}}}ODM",
        {
            "FileType": "Transactional",
            "Granularity": "All",
            "FileOID": _oid("ODM", study_oid, now.replace(":", "")),
            "CreationDateTime": now,
            "ODMVersion": "1.3.2",
            "Originator": "oncotrial",
        },
    )
    study = _sub(root, "Study", OID=study_oid)
    glob = _sub(study, "GlobalVariables")
    _sub(glob, "StudyName", study_name)
    _sub(glob, "StudyDescription", description)
    _sub(glob, "ProtocolName", study_oid)
    mdv = _sub(study, "MetaDataVersion", OID="MDV.1", Name="oncotrial forms")
    protocol = _sub(mdv, "Protocol")
    _sub(protocol, "StudyEventRef", StudyEventOID=EVENT_OID, OrderNumber=1, Mandatory="Yes")
    event = _sub(mdv, "StudyEventDef", OID=EVENT_OID, Name="Study", Repeating="No", Type="Common")
    for order, (code, _, _, _) in enumerate(forms_meta, start=1):
        _sub(event, "FormRef", FormOID=_oid("F", code), OrderNumber=order, Mandatory="No")
    groups: dict[str, set[str]] = {}
    for code, title, repeating, domains in forms_meta:
        form = _sub(
            mdv, "FormDef", OID=_oid("F", code), Name=title, Repeating="Yes" if repeating else "No"
        )
        for domain, variables in domains:
            _sub(form, "ItemGroupRef", ItemGroupOID=_oid("IG", domain), Mandatory="No")
            groups.setdefault(domain, set()).update(variables)
    for domain in sorted(groups):
        group = _sub(
            mdv,
            "ItemGroupDef",
            OID=_oid("IG", domain),
            Name=domain,
            Repeating="Yes",
            Domain=domain,
            SASDatasetName=domain,
        )
        for variable in sorted(groups[domain]):
            _sub(group, "ItemRef", ItemOID=_oid("IT", domain, variable), Mandatory="No")
    for domain in sorted(groups):
        for variable in sorted(groups[domain]):
            _sub(
                mdv,
                "ItemDef",
                OID=_oid("IT", domain, variable),
                Name=variable,
                DataType="text",
                SASFieldName=variable[:8],
                SDSVarName=variable,
            )
    admin = _sub(root, "AdminData", StudyOID=study_oid)
    for username, full_name in users:
        user = _sub(admin, "User", OID=_oid("USR", username))
        _sub(user, "LoginName", username)
        _sub(user, "FullName", full_name or username)
    for code, name in sites:
        _sub(admin, "Location", OID=_oid("LOC", code), Name=name or code, LocationType="Site")
        _sub(
            admin[-1],
            "MetaDataVersionRef",
            StudyOID=study_oid,
            MetaDataVersionOID="MDV.1",
            EffectiveDate=now[:10],
        )
    signature_def = _sub(admin, "SignatureDef", OID=SIGNATURE_OID, Methodology="Electronic")
    _sub(signature_def, "Meaning", meaning)
    _sub(signature_def, "LegalReason", "21 CFR Part 11 electronic signature of the investigator")
    clinical = _sub(root, "ClinicalData", StudyOID=study_oid, MetaDataVersionOID="MDV.1")
    for entry in entries:
        _subject_data(clinical, entry, audit)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _subject_data(
    clinical: ET.Element,
    entry: OdmForm,
    audit: Mapping[tuple[str, int], Sequence[Mapping[str, Any]]],
) -> None:
    location = _oid("LOC", entry.site or "UNKNOWN")
    subject = _sub(clinical, "SubjectData", SubjectKey=entry.usubjid, TransactionType="Upsert")
    _sub(subject, "SiteRef", LocationOID=location)
    event = _sub(subject, "StudyEventData", StudyEventOID=EVENT_OID, TransactionType="Upsert")
    form = _sub(
        event,
        "FormData",
        FormOID=_oid("F", entry.form),
        FormRepeatKey=entry.instance,
        TransactionType="Upsert",
    )
    for signature in entry.signatures:
        element = _sub(form, "Signature")
        _sub(element, "UserRef", UserOID=_oid("USR", signature["username"]))
        _sub(element, "LocationRef", LocationOID=location)
        _sub(element, "SignatureRef", SignatureOID=SIGNATURE_OID)
        _sub(element, "DateTimeStamp", signature["signed_at"])
    for domain, record_id in entry.records:
        for row in audit.get((domain, record_id), ()):
            action = ACTIONS.get(str(row["action"]), "Update")
            group = _sub(
                form,
                "ItemGroupData",
                ItemGroupOID=_oid("IG", domain),
                ItemGroupRepeatKey=str(record_id),
                TransactionType=action,
            )
            record = _sub(group, "AuditRecord")
            _sub(record, "UserRef", UserOID=_oid("USR", str(row["user_name"])))
            _sub(record, "LocationRef", LocationOID=location)
            _sub(record, "DateTimeStamp", str(row["changed_at"]))
            if row.get("reason"):
                _sub(record, "ReasonForChange", str(row["reason"]))
            if action == "Remove":
                continue
            if row["field"] is None:
                items = list(json.loads(row["new_value"] or "{}").items())
            else:
                items = [(row["field"], row["new_value"])]
            for variable, value in items:
                attrs = {"ItemOID": _oid("IT", domain, variable), "TransactionType": action}
                if value is not None:
                    attrs["Value"] = str(value)
                _sub(group, "ItemData", **attrs)
