"""Forms for records that arrived by another door: SDTM loaded with ``db import`` or written
by the virtual trial has no form entries, so nobody could review, query or sign it. Adoption
gives each such record (or group of records) the form it belongs to — without changing a single
SDTM value — so that it is reviewed like data entered through the forms.

Grouping, by the conventions the forms write: DS "INFORMED CONSENT OBTAINED" with the subject's
IE records and any "SCREEN FAILURE" → screening; DS "ENROLLED" → enrolment; DM → demographics;
each EX record → the dosing form of its drug; each AE → an adverse event; IS by visit → an ADA
sample; TU, TR and RS by visit → a tumour assessment; DS survival follow-up, end of treatment,
end of study → those forms.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

from sqlalchemy import select

from oncotrial.conduct.accounts import now
from oncotrial.conduct.entry import ENTERED, content_hash
from oncotrial.conduct.roles import Action, Actor, require
from oncotrial.conduct.study import Study
from oncotrial.store import DOMAIN_MODELS
from oncotrial.store.audit import object_values
from oncotrial.store.models import FormEntry, Subject

Values = Mapping[str, str | None]
Group = tuple[str, list[tuple[str, int]]]


def _ds_form(values: Values) -> str | None:
    decod, scat = values.get("DSDECOD"), values.get("DSSCAT")
    if decod in ("INFORMED CONSENT OBTAINED", "SCREEN FAILURE"):
        return "SCREEN"
    if decod == "ENROLLED":
        return "ENROL"
    return {"END OF TREATMENT": "EOT", "END OF STUDY": "EOS", "SURVIVAL FOLLOW-UP": "FU"}.get(
        scat or ""
    )


def _groups(study: Study, records: dict[str, list[tuple[int, Values]]]) -> list[Group]:
    """The forms a subject's unheld records make, in the study's form order."""
    groups: list[Group] = []
    screening: list[tuple[str, int]] = []
    for record_id, values in records.get("DS", []):
        form = _ds_form(values)
        if form == "SCREEN":
            screening.append(("DS", record_id))
        elif form is not None:
            groups.append((form, [("DS", record_id)]))
    screening += [("IE", rid) for rid, _ in records.get("IE", [])]
    if screening:
        groups.append(("SCREEN", screening))
    groups += [("DM", [("DM", rid)]) for rid, _ in records.get("DM", [])]
    for record_id, values in records.get("EX", []):
        code = f"EX-{values.get('EXTRT') or ''}"
        if code in study.forms:
            groups.append((code, [("EX", record_id)]))
    groups += [("AE", [("AE", rid)]) for rid, _ in records.get("AE", [])]
    for form, domains in (("ADA", ("IS",)), ("TA", ("TU", "TR", "RS"))):
        by_visit: dict[str, list[tuple[str, int]]] = defaultdict(list)
        for domain in domains:
            for record_id, values in records.get(domain, []):
                by_visit[values.get("VISITNUM") or ""].append((domain, record_id))
        for visit in sorted(by_visit, key=lambda v: float(v) if v else 0.0):
            groups.append((form, by_visit[visit]))
    order = {code: i for i, code in enumerate(study.forms)}
    return sorted(groups, key=lambda g: order.get(g[0], 99))


def adopt_records(study: Study, actor: Actor) -> int:
    """Give every SDTM record that no form holds a form entry (audited); how many forms."""
    require(actor, Action.adopt_records)
    made = 0
    with study.transaction(actor, "records without a form given their form") as txn:
        session = txn.session
        held: set[tuple[str, int]] = set()
        counts: dict[tuple[str, str], int] = defaultdict(int)
        for entry in session.scalars(select(FormEntry)):
            held |= {(d, int(r)) for d, r in entry.records["refs"]}
            counts[(entry.usubjid, entry.form)] += 1
        unheld: dict[str, dict[str, list[tuple[int, Values]]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for domain, model in DOMAIN_MODELS.items():
            for record in session.scalars(select(model).order_by(model.id)):
                if (domain, record.id) not in held:
                    unheld[record.usubjid][domain].append((record.id, object_values(record)))
        subjects = set(session.scalars(select(Subject.usubjid)))
        moment = now()
        for usubjid in sorted(unheld):
            if usubjid not in subjects:
                continue
            for code, refs in _groups(study, unheld[usubjid]):
                counts[(usubjid, code)] += 1
                instance = str(counts[(usubjid, code)])
                stored: dict[str, list[Values]] = defaultdict(list)
                values_of = {(d, rid): v for d, rows in unheld[usubjid].items() for rid, v in rows}
                for ref in refs:
                    stored[ref[0]].append(values_of[ref])
                values = study.form(code).from_records(stored)
                listed = [[d, r] for d, r in refs]
                session.add(
                    FormEntry(
                        usubjid=usubjid,
                        form=code,
                        instance=instance,
                        records={"refs": listed},
                        status=ENTERED,
                        content_hash=content_hash(code, instance, values, listed),
                        created_by=actor.username,
                        created_at=moment,
                        updated_by=actor.username,
                        updated_at=moment,
                    )
                )
                made += 1
        session.flush()
    return made
