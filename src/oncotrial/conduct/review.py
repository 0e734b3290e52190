"""Review states of a form and the investigator's electronic signature.

States: entered → complete (site staff) → verified (the monitor's source data verification)
→ locked (data manager) → signed (investigator). A data manager may unlock a locked or signed
form (with a reason) so that it can be corrected; a correction sends a verified form back to
complete and invalidates its signature.

The e-signature follows 21 CFR Part 11:

- §11.200(a)(1): two components — the signer's user name (the signed-in session) and the
  password, asked again at the moment of signing;
- §11.50: the signature shows the printed name of the signer, the date and time (UTC) and its
  meaning ("I approve …"), and so does every display and print of the signed record;
- §11.70: it is bound to the record — the SHA-256 of the form's content at signing is kept, so
  a later change is seen (the signature is shown as invalid, with who changed what when).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from oncotrial.conduct.accounts import confirm_signer, now
from oncotrial.conduct.entry import (
    COMPLETE,
    ENTERED,
    LOCKED,
    SIGNED,
    VERIFIED,
    content_hash,
    subject_row,
)
from oncotrial.conduct.errors import (
    AuthenticationError,
    InvalidInputError,
    NotFoundError,
    StateError,
)
from oncotrial.conduct.reading import get_entry
from oncotrial.conduct.roles import Action, Actor, require
from oncotrial.conduct.study import Study
from oncotrial.store import AuditedSession, ConcurrentEditError
from oncotrial.store.models import FormEntry, Signature

#: the meaning an investigator's signature of a form carries (§11.50(a)(3))
MEANING = (
    "I, the investigator, have reviewed the data of this form and confirm that they are "
    "complete and accurate"
)

#: action → (states it starts from, state it leads to, permission)
TRANSITIONS: dict[str, tuple[frozenset[str], str, Action]] = {
    "complete": (frozenset({ENTERED}), COMPLETE, Action.mark_complete),
    "verify": (frozenset({COMPLETE}), VERIFIED, Action.verify),
    "lock": (frozenset({VERIFIED}), LOCKED, Action.lock),
    "unlock": (frozenset({LOCKED, SIGNED}), VERIFIED, Action.lock),
}


@dataclass(frozen=True)
class SignatureInfo:
    """A signature as shown beside the form (§11.50)."""

    id: int
    printed_name: str
    username: str
    meaning: str
    signed_at: datetime
    content_hash: str
    valid: bool
    invalidated_at: datetime | None
    invalidated_by: str | None
    invalidation_reason: str | None

    def text(self) -> str:
        when = self.signed_at.strftime("%Y-%m-%d %H:%M:%S UTC")
        state = "valid" if self.valid else "INVALID"
        return (
            f"Signed by {self.printed_name} ({self.username}) on {when} — {self.meaning} [{state}]"
        )


def _entry(session: AuditedSession, actor: Actor, entry_id: int) -> tuple[FormEntry, str | None]:
    entry = session.get(FormEntry, entry_id)
    if entry is None:
        raise NotFoundError(f"no form #{entry_id}")
    subject = subject_row(session, actor, entry.usubjid)
    return entry, subject.site_code


def transition(
    study: Study,
    actor: Actor,
    entry_id: int,
    action: str,
    *,
    reason: str | None = None,
    expected_version: int | None = None,
) -> str:
    """Move a form to its next review state (``complete``, ``verify``, ``lock``, ``unlock``);
    the new state. Unlocking needs a reason."""
    if action not in TRANSITIONS:
        raise InvalidInputError(f"'{action}' is not a review action ({', '.join(TRANSITIONS)})")
    starts, target, permission = TRANSITIONS[action]
    require(actor, permission)
    if action == "unlock" and not (reason and reason.strip()):
        raise InvalidInputError("a reason is required to unlock a form")
    with study.transaction(actor, reason or f"form {action}") as txn:
        entry, site = _entry(txn.session, actor, entry_id)
        require(actor, permission, site)
        if expected_version is not None and entry.row_version != expected_version:
            raise ConcurrentEditError(
                f"form #{entry_id} changed since it was read: reload it",
                table="form_entries",
                record_id=entry_id,
                expected_version=expected_version,
                actual_version=entry.row_version,
            )
        if entry.status not in starts:
            raise StateError(
                f"a form that is {entry.status} cannot be {action}ed "
                f"(it must be {' or '.join(sorted(starts))})"
            )
        if action == "lock" and _valid_signature(txn.session, entry) is not None:
            target = SIGNED
        entry.status = target
        txn.session.flush()
        return target


def _valid_signature(session: AuditedSession, entry: FormEntry) -> Signature | None:
    return session.scalar(
        select(Signature).where(
            Signature.form_entry_id == entry.id,
            Signature.invalidated_at.is_(None),
            Signature.content_hash == entry.content_hash,
        )
    )


def sign(study: Study, actor: Actor, entry_id: int, password: str) -> SignatureInfo:
    """The investigator signs a locked form: the password is asked again (§11.200(a)(1)); the
    signature records the printed name, UTC time, meaning and the content's SHA-256."""
    require(actor, Action.sign)
    current = get_entry(study, actor, entry_id)
    if not current.content_intact:
        raise StateError(
            "the form's records were changed outside the form since it was saved: "
            "re-save it before signing"
        )
    with study.transaction(actor, "form signed") as txn:
        entry, site = _entry(txn.session, actor, entry_id)
        require(actor, Action.sign, site)
        user = confirm_signer(txn.session, actor, password, form_entry=entry_id)
        if user is not None:
            if entry.status != LOCKED:
                raise StateError(f"only a locked form is signed (this one is {entry.status})")
            signature = Signature(
                form_entry_id=entry.id,
                usubjid=entry.usubjid,
                username=actor.username,
                printed_name=user.full_name or actor.username,
                meaning=MEANING,
                signed_at=now(),
                content_hash=entry.content_hash,
            )
            txn.session.add(signature)
            entry.status = SIGNED
            txn.session.flush()
            return _signature_info(signature, entry.content_hash)
    raise AuthenticationError("the password does not match: the form was not signed")


def _signature_info(signature: Signature, current_hash: str) -> SignatureInfo:
    return SignatureInfo(
        signature.id,
        signature.printed_name,
        signature.username,
        signature.meaning,
        signature.signed_at,
        signature.content_hash,
        signature.invalidated_at is None and signature.content_hash == current_hash,
        signature.invalidated_at,
        signature.invalidated_by,
        signature.invalidation_reason,
    )


def signatures(study: Study, actor: Actor, entry_id: int) -> list[SignatureInfo]:
    """Every signature of a form, newest first; ``valid`` is recomputed against the content as
    stored now, so a change made by any door (a form, an import) shows."""
    current = get_entry(study, actor, entry_id)
    live_hash = content_hash(
        current.form,
        current.instance,
        current.values,
        [[d, r] for d, r in current.records],
    )
    with study.reading(actor) as (_, session):
        rows = session.scalars(
            select(Signature)
            .where(Signature.form_entry_id == entry_id)
            .order_by(Signature.id.desc())
        ).all()
        return [_signature_info(s, live_hash) for s in rows]
