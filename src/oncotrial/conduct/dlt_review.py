"""A DLT assessment changed after a signed decision flags that decision for review (issue 9
§2): the AE form's save calls :func:`flag_after_dlt_change` with the AE records' DLT assessment
(``AEDLT``) before and after the change."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select

from oncotrial.conduct.accounts import now
from oncotrial.conduct.committee import FINAL
from oncotrial.conduct.study import Txn
from oncotrial.store.models import EscalationDecision


def dlt_flags(txn: Txn, refs: Sequence[Sequence[Any]]) -> dict[int, str | None]:
    """The DLT assessment (AEDLT) of each AE record among ``refs`` before a change."""
    from oncotrial.conduct.records import stored_values

    out: dict[int, str | None] = {}
    for domain, record_id in refs:
        if domain == "AE":
            values, _ = stored_values(txn, "AE", int(record_id))
            out[int(record_id)] = (values.get("AEDLT") or "").upper() or None
    return out


def flag_after_dlt_change(
    txn: Txn,
    usubjid: str,
    before: Mapping[int, str | None],
    after: Sequence[tuple[int, Mapping[str, str | None]]],
) -> list[int]:
    """Flag for review every final phase I decision that used ``usubjid``'s data, when one of
    its AEs' DLT assessment changed (or a new AE assessed as DLT started on or before the
    decision's as-of date). The ids flagged."""
    changes = []
    for record_id, values in after:
        new = (values.get("AEDLT") or "").upper() or None
        old = before.get(record_id)
        if (record_id in before and new != old) or (record_id not in before and new == "Y"):
            changes.append((values.get("AESEQ"), values.get("AESTDTC") or "", old, new))
    if not changes:
        return []
    flagged = []
    for decision in txn.session.scalars(
        select(EscalationDecision).where(
            EscalationDecision.status == FINAL, EscalationDecision.phase == "I"
        )
    ).all():
        patients = (decision.inputs or {}).get("patients", [])
        if not any(p.get("usubjid") == usubjid for p in patients):
            continue
        relevant = [c for c in changes if not decision.as_of or c[1][:10] <= decision.as_of]
        if not relevant:
            continue
        lines = [
            f"{now():%Y-%m-%d %H:%M} UTC, {txn.actor.username}: DLT assessment of {usubjid} "
            f"AE {seq or '?'} changed from {old or 'not assessed'} to {new or 'not assessed'} "
            "after this decision was signed"
            for seq, _, old, new in relevant
        ]
        decision.review_flag = "\n".join(filter(None, [decision.review_flag, *lines]))
        decision.flagged_at = now()
        flagged.append(decision.id)
    txn.session.flush()
    return flagged
