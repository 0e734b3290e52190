"""Reading and writing a form's SDTM records inside a use case's transaction.

A form's rows are written through the store's API (``add_records``, ``update_record``,
``delete_record``), so its edit checks and audit trail apply exactly as to ``db import``; a
refusal is turned into a :class:`~oncotrial.conduct.errors.FormRejectedError` that names the form
field each finding came from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select

from oncotrial.cdisc.checks import check_values
from oncotrial.conduct.errors import FormRejectedError, NotFoundError
from oncotrial.conduct.forms.model import FormDef, SdtmRow
from oncotrial.conduct.study import Txn
from oncotrial.store import DOMAIN_MODELS, EditCheckError, Finding
from oncotrial.store.audit import object_values

RecordRef = tuple[str, int]


def stored_rows(txn: Txn, domain: str, usubjid: str) -> list[tuple[int, dict[str, str | None]]]:
    """Every record of ``domain`` of a subject as this transaction sees it: (id, values)."""
    model = DOMAIN_MODELS[domain]
    records = txn.session.scalars(
        select(model).where(model.usubjid == usubjid).order_by(model.id)  # type: ignore[attr-defined]
    ).all()
    return [(record.id, object_values(record)) for record in records]


def stored_values(txn: Txn, domain: str, record_id: int) -> tuple[dict[str, str | None], int]:
    """One record's values and ``row_version``, as this transaction sees it."""
    record = txn.session.get(DOMAIN_MODELS[domain], record_id)
    if record is None:
        raise NotFoundError(f"{domain} record #{record_id} is gone (deleted by someone else)")
    return object_values(record), record.row_version


@dataclass
class Applied:
    """What writing a form's rows did: the record references (in form order), the final values
    of each row, and the soft findings (warnings) with the field each came from."""

    refs: list[RecordRef] = field(default_factory=list)
    rows: list[tuple[SdtmRow, dict[str, str | None]]] = field(default_factory=list)
    warnings: list[tuple[Finding, str | None]] = field(default_factory=list)


def _full(ctx_studyid: str, usubjid: str, row: SdtmRow) -> dict[str, str | None]:
    return {"STUDYID": ctx_studyid, "DOMAIN": row.domain, "USUBJID": usubjid, **row.values()}


def apply_rows(
    txn: Txn,
    form: FormDef,
    studyid: str,
    usubjid: str,
    rows: Sequence[SdtmRow],
    previous: Sequence[RecordRef],
    reason: str | None,
) -> Applied:
    """Write ``rows`` as the form's records: the k-th row of a domain updates the k-th record
    the form wrote before, extra rows are added, records no longer needed are deleted. Every
    finding of every domain is gathered before refusing, so the user sees them all at once."""
    user = txn.actor.username
    domains: list[str] = []
    for name in [r.domain for r in rows] + [d for d, _ in previous]:
        if name not in domains:
            domains.append(name)
    applied = Applied()
    refused: list[tuple[Finding, str | None]] = []
    for domain in domains:
        new = [r for r in rows if r.domain == domain]
        old = [rid for d, rid in previous if d == domain]
        for row, record_id in zip(new, old, strict=False):
            values, version = stored_values(txn, domain, record_id)
            wanted = _full(studyid, usubjid, row)
            changes = {k: v for k, v in wanted.items() if values.get(k) != v}
            if changes:
                try:
                    txn.store.update_record(domain, record_id, changes, user, reason or "", version)
                except EditCheckError as exc:
                    refused.extend((f, row.source(f.field)) for f in exc.findings)
                    continue
            applied.refs.append((domain, record_id))
            applied.rows.append((row, {**values, **changes}))
        added = new[len(old) :]
        if added:
            full = [_full(studyid, usubjid, row) for row in added]
            try:
                result = txn.store.add_records(domain, full, user, reason)
            except EditCheckError as exc:
                for finding in exc.findings:
                    source = None
                    if finding.row is not None and finding.row < len(added):
                        source = added[finding.row].source(finding.field)
                    refused.append((finding, source))
            else:
                applied.refs.extend((domain, rid) for rid in result.ids)
                applied.rows.extend(zip(added, full, strict=True))
        for record_id in old[len(new) :]:
            _, version = stored_values(txn, domain, record_id)
            txn.store.delete_record(
                domain, record_id, user, reason or "no longer on the form", version
            )
    if refused:
        raise rejection(form, refused)
    for row, values in applied.rows:
        for finding in check_values(row.domain, values, settings=txn.store.settings):
            if finding.severity == "warning":
                applied.warnings.append((finding, row.source(finding.field)))
    return applied


def rejection(form: FormDef, refused: Sequence[tuple[Finding, str | None]]) -> FormRejectedError:
    """A :class:`FormRejectedError` of findings with their form fields (and those fields' words)."""
    return FormRejectedError(
        [f for f, _ in refused],
        [source for _, source in refused],
        [form.label_of(source) for _, source in refused],
    )


def rows_by_domain(
    pairs: Sequence[tuple[SdtmRow, dict[str, str | None]]],
) -> dict[str, list[dict[str, str | None]]]:
    out: dict[str, list[dict[str, str | None]]] = {}
    for row, values in pairs:
        out.setdefault(row.domain, []).append(values)
    return out
