"""The dose-escalation committee's meeting, as use cases (issue 9 §2).

1. The statistician proposes (:func:`propose_decision`): the design's recommendation computed
   from a snapshot of the store (:func:`oncotrial.conduct.phase1.phase1_snapshot`); the decision
   record keeps the snapshot's SHA-256, its content and the design's full output. A newer
   proposal supersedes an unsigned one.
2. Members may choose another dose within the design's admissible set, pause, or stop
   (:func:`choose_dose`; a reason is required whenever the choice differs from the design's
   recommendation). The admissible set is what :func:`oncotrial.designs.admissibility.
   admissible_dose` leaves unchanged: no dose at or above an eliminated one, no skipped level
   above the current dose (Liu & Yuan 2015 §2.3; Cheung 2011 §3.2). A change of choice
   invalidates the signatures already given (they signed other content).
3. The required members e-sign (:func:`sign_decision`; protocol ``phase1.committee.signers``,
   default: statistician + committee member + principal investigator). The password is asked
   again (21 CFR Part 11 §11.200(a)(1)); each signature keeps the printed name, role, UTC time,
   meaning and the SHA-256 of the decision's content (§11.50, §11.70). With the last required
   signature the decision is final and the system acts on it: it opens the next cohort at the
   chosen dose, or suspends the open cohort (pause), or closes phase I (stop).

A DLT assessment changed after a final decision that used it (the AE form's DLT field, or a new
AE assessed as DLT with onset on or before the decision's as-of date) flags that decision for
review (:func:`oncotrial.conduct.dlt_review.flag_after_dlt_change`, called by the AE form's
save); the board (:mod:`oncotrial.conduct.board`) also lists final decisions whose snapshot the
store no longer reproduces, whatever door the change came through. Everything is written
through the audited store in the use case's one transaction.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select

from oncotrial.conduct.accounts import confirm_signer, now
from oncotrial.conduct.cohorts import open_cohort
from oncotrial.conduct.errors import (
    AuthenticationError,
    InvalidInputError,
    NotFoundError,
    StateError,
)
from oncotrial.conduct.phase1 import Phase1Snapshot, phase1_snapshot
from oncotrial.conduct.roles import Action, Actor, require
from oncotrial.conduct.study import Study, Txn
from oncotrial.designs.admissibility import admissible_dose
from oncotrial.designs.base import Decision
from oncotrial.report.formatting import name_levels
from oncotrial.store.models import (
    Cohort,
    DecisionSignature,
    EscalationDecision,
    Subject,
    User,
)

PROPOSED, FINAL, SUPERSEDED = "proposed", "final", "superseded"
ACTIONS = ("dose", "pause", "stop")
#: what each signature means, by role (§11.50(a)(3))
MEANINGS = {
    "statistician": "I, the trial statistician, confirm that this recommendation was computed "
    "by the protocol's design from the data snapshot named",
    "committee": "I, a member of the dose-escalation committee, approve this decision",
    "investigator": "I, principal investigator on the dose-escalation committee, approve this "
    "decision",
}


@dataclass(frozen=True)
class DecisionSignatureInfo:
    """One member's signature of a decision (§11.50: printed name, time, meaning)."""

    username: str
    printed_name: str
    role: str
    meaning: str
    signed_at: datetime
    content_hash: str
    valid: bool
    invalidation_reason: str | None


@dataclass(frozen=True)
class DecisionInfo:
    """A committee decision as the meeting page and the decision list show it."""

    id: int
    phase: str
    cohort: int | None
    design: str
    status: str
    as_of: str | None
    snapshot_hash: str | None
    recommended: str | None
    recommended_name: str
    recommended_action: str
    reason: str
    action: str | None
    chosen_dose: str | None
    chosen_name: str
    choice_reason: str | None
    chosen_by: str | None
    admissible: list[str]
    output: dict[str, Any]
    inputs: dict[str, Any]
    signatures: list[DecisionSignatureInfo]
    missing_signers: list[str]
    next_cohort: int | None
    review_flag: str | None
    flagged_at: datetime | None
    created_by: str
    created_at: datetime
    confirmed_at: datetime | None
    content_hash: str

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("flagged_at", "created_at", "confirmed_at"):
            data[key] = None if data[key] is None else data[key].isoformat()
        for s in data["signatures"]:
            s["signed_at"] = s["signed_at"].isoformat()
        return data


# ---- reading -----------------------------------------------------------------------------------


def _hash(content: Mapping[str, Any]) -> str:
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def decision_content_hash(d: EscalationDecision) -> str:
    """SHA-256 of what a member signs: the snapshot, the design's output and the choice."""
    return _hash(
        {
            "id": d.id,
            "phase": d.phase,
            "design": d.design,
            "as_of": d.as_of,
            "snapshot_hash": d.snapshot_hash,
            "output": d.output,
            "action": d.action,
            "chosen_dose": d.chosen_dose,
            "choice_reason": d.choice_reason,
        }
    )


def required_signers(study: Study) -> list[tuple[str, int, str]]:
    """(role, count, title) of the signatures that make a decision final."""
    return [(s.role, s.count, s.title or s.role) for s in study.protocol.phase1.committee.signers]


def _missing(study: Study, valid: Sequence[DecisionSignature]) -> list[str]:
    out = []
    for role, count, title in required_signers(study):
        have = sum(1 for s in valid if s.role == role)
        if have < count:
            out.append(f"{count - have} × {title}")
    return out


def _visible_inputs(session: Any, inputs: Mapping[str, Any], actor: Actor | None) -> dict[str, Any]:
    """The decision's inputs as ``actor`` may see them: site staff see only their sites'
    patients (the counts are the study's)."""
    out = dict(inputs)
    if actor is None or actor.central:
        return out
    sites = dict(session.execute(select(Subject.usubjid, Subject.site_code)).all())
    if "patients" in out:
        out["patients"] = [p for p in out["patients"] if actor.sees_site(p.get("site"))]
    if "subjects" in out:
        out["subjects"] = [u for u in out["subjects"] if actor.sees_site(sites.get(u))]
    return out


def _info(
    study: Study, session: Any, d: EscalationDecision, actor: Actor | None = None
) -> DecisionInfo:
    digest = decision_content_hash(d)
    signatures = session.scalars(
        select(DecisionSignature)
        .where(DecisionSignature.decision_id == d.id)
        .order_by(DecisionSignature.id)
    ).all()
    valid = [s for s in signatures if s.invalidated_at is None and s.content_hash == digest]
    numbers = dict(session.execute(select(Cohort.id, Cohort.number)).all())
    output = dict(d.output or {})
    recommended_action = "stop" if output.get("next_dose") is None else "dose"
    if output.get("accrual_suspended"):
        recommended_action = "pause"
    return DecisionInfo(
        id=d.id,
        phase=d.phase,
        cohort=numbers.get(d.cohort_id),
        design=d.design,
        status=d.status,
        as_of=d.as_of,
        snapshot_hash=d.snapshot_hash,
        recommended=d.recommended_dose,
        recommended_name=_name(study, d.recommended_dose),
        recommended_action=recommended_action,
        reason=name_levels(str(output.get("reason", "")), study.dose_names),
        action=d.action,
        chosen_dose=d.chosen_dose,
        chosen_name=_name(study, d.chosen_dose),
        choice_reason=d.choice_reason,
        chosen_by=d.chosen_by,
        admissible=list(output.get("admissible_levels", [])),
        output=output,
        inputs=_visible_inputs(session, d.inputs or {}, actor),
        signatures=[
            DecisionSignatureInfo(
                s.username,
                s.printed_name,
                s.role,
                s.meaning,
                s.signed_at,
                s.content_hash,
                s in valid,
                s.invalidation_reason,
            )
            for s in signatures
        ],
        missing_signers=[] if d.status == FINAL else _missing(study, valid),
        next_cohort=numbers.get(d.next_cohort_id),
        review_flag=d.review_flag,
        flagged_at=d.flagged_at,
        created_by=d.created_by,
        created_at=d.created_at,
        confirmed_at=d.confirmed_at,
        content_hash=digest,
    )


def _name(study: Study, label: str | None) -> str:
    if not label:
        return ""
    try:
        return study.level_name(label)
    except ValueError:
        return label


def decision_list(study: Study, actor: Actor) -> list[DecisionInfo]:
    """Every decision, newest first, with signatures and review flags."""
    require(actor, Action.view_phase1)
    with study.reading(study.system_actor()) as (_, session):
        rows = session.scalars(
            select(EscalationDecision).order_by(EscalationDecision.id.desc())
        ).all()
        return [_info(study, session, d, actor) for d in rows]


def get_decision(study: Study, actor: Actor, decision_id: int) -> DecisionInfo:
    require(actor, Action.view_phase1)
    with study.reading(study.system_actor()) as (_, session):
        d = session.get(EscalationDecision, decision_id)
        if d is None:
            raise NotFoundError(f"no committee decision #{decision_id}")
        return _info(study, session, d, actor)


# ---- proposing ---------------------------------------------------------------------------------


def admissible_levels(snapshot: Phase1Snapshot, decision: Decision) -> list[int]:
    """0-based levels the committee may choose: those :func:`admissible_dose` leaves as they
    are, from the current dose (the start dose before anyone is treated)."""
    n = snapshot.spec.n_doses
    current = snapshot.state.current_dose
    lowest = min(decision.eliminated, default=n)
    if current is None:
        return [d for d in range(n) if d <= snapshot.spec.start and d < lowest]
    return [d for d in range(n) if int(admissible_dose(d, current, lowest)) == d]


def _recommendation(study: Study, snapshot: Phase1Snapshot) -> dict[str, Any]:
    decision = snapshot.decide()
    out = snapshot.decision_json(decision)
    levels = admissible_levels(snapshot, decision)
    out["admissible"] = [d + 1 for d in levels]
    out["admissible_levels"] = [snapshot.level_names[d] for d in levels]
    out["reason_named"] = name_levels(str(out.get("reason", "")), study.dose_names)
    out["next_level_name"] = (
        "" if decision.next_dose is None else study.dose_names.full(decision.next_dose)
    )
    return out


def propose_decision(
    study: Study, actor: Actor, *, as_of: date | None = None, design: str | None = None
) -> DecisionInfo:
    """The statistician proposes the design's recommendation from the store as of ``as_of``
    (default today); an unsigned earlier proposal is superseded."""
    require(actor, Action.propose_decision)
    as_of = as_of or date.today()
    with study.transaction(actor, "committee decision proposed") as txn:
        latest = txn.session.scalar(
            select(Cohort).where(Cohort.phase == "I").order_by(Cohort.number.desc())
        )
        if latest is None:
            raise StateError("no phase I cohort yet: open the first cohort at the starting dose")
        ended = txn.session.scalar(
            select(EscalationDecision.id).where(
                EscalationDecision.phase == "I",
                EscalationDecision.status == FINAL,
                EscalationDecision.action == "stop",
            )
        )
        if ended is not None:
            raise StateError(f"phase I ended with the final decision #{ended}")
        snapshot = phase1_snapshot(study, study.protocol, as_of, design=design, session=txn.session)
        _supersede(txn, "I")
        output = _recommendation(study, snapshot)
        decision = snapshot.decide()
        recommended = (
            None if decision.next_dose is None else snapshot.level_names[decision.next_dose]
        )
        counts = snapshot.counts()
        current = snapshot.state.current_dose
        inputs = {
            "n": counts["evaluable"],
            "dlts": counts["dlts"],
            **({"responses": counts["responses"]} if "responses" in counts else {}),
            "pending": counts["pending"],
            "treated": counts["treated"],
            "current_dose": None if current is None else current + 1,
            **snapshot.content(),
        }
        action = "dose"
        if decision.accrual_suspended:  # waiting, with or without a dose to return to
            action = "pause"
        elif recommended is None:
            action = "stop"
        decision_id = txn.store.record_decision(
            latest.number, snapshot.design, inputs, output, recommended, actor.username
        )
        row = txn.session.get(EscalationDecision, decision_id)
        assert row is not None
        row.phase, row.status = "I", PROPOSED
        row.as_of, row.snapshot_hash = as_of.isoformat(), snapshot.snapshot_hash
        row.action, row.chosen_dose = action, recommended
        row.chosen_by = actor.username
        txn.session.flush()
        return _info(study, txn.session, row)


def _supersede(txn: Txn, phase: str) -> None:
    for old in txn.session.scalars(
        select(EscalationDecision).where(
            EscalationDecision.phase == phase, EscalationDecision.status == PROPOSED
        )
    ).all():
        old.status = SUPERSEDED
        _invalidate(txn, old, "superseded by a newer proposal")
    txn.session.flush()


def _invalidate(txn: Txn, decision: EscalationDecision, reason: str) -> None:
    for s in txn.session.scalars(
        select(DecisionSignature).where(
            DecisionSignature.decision_id == decision.id, DecisionSignature.invalidated_at.is_(None)
        )
    ).all():
        s.invalidated_at, s.invalidated_by = now(), txn.actor.username
        s.invalidation_reason = reason


def _open_decision(txn: Txn, decision_id: int) -> EscalationDecision:
    decision = txn.session.get(EscalationDecision, decision_id, with_for_update=True)
    if decision is None:
        raise NotFoundError(f"no committee decision #{decision_id}")
    if decision.status != PROPOSED:
        raise StateError(f"decision #{decision_id} is {decision.status}: it cannot be changed")
    return decision


def choose_dose(
    study: Study,
    actor: Actor,
    decision_id: int,
    *,
    action: str,
    dose: str | None = None,
    reason: str | None = None,
) -> DecisionInfo:
    """The committee's choice on a proposed decision: ``dose`` (a level within the admissible
    set, e.g. "L1"), ``pause`` or ``stop``; a reason is required when it differs from the
    design's recommendation. Signatures already given are invalidated."""
    require(actor, Action.choose_dose)
    if action not in ACTIONS:
        raise InvalidInputError(f"'{action}' is not a choice ({', '.join(ACTIONS)})")
    reason = (reason or "").strip() or None
    with study.transaction(actor, reason or "committee choice") as txn:
        decision = _open_decision(txn, decision_id)
        output = decision.output or {}
        label: str | None = None
        if action == "dose":
            if not dose:
                raise InvalidInputError("choose a dose level (e.g. L1) or pause or stop")
            label = study.dose_names.short(study.dose_names.parse(dose))
            allowed = list(output.get("admissible_levels", []))
            if label not in allowed:
                raise InvalidInputError(
                    f"{study.level_name(label)} is outside the design's admissible set "
                    f"({', '.join(allowed) or 'none'})"
                )
        recommended = "stop" if decision.recommended_dose is None else "dose"
        if output.get("accrual_suspended"):
            recommended = "pause"
        same = action == recommended and (action != "dose" or label == decision.recommended_dose)
        if not same and reason is None:
            raise InvalidInputError(
                "a reason is required: the choice differs from the design's recommendation"
            )
        if (decision.action, decision.chosen_dose, decision.choice_reason) != (
            action,
            label,
            reason,
        ):
            _invalidate(txn, decision, "the committee's choice changed")
        decision.action, decision.chosen_dose, decision.choice_reason = action, label, reason
        decision.chosen_by = actor.username
        txn.session.flush()
        return _info(study, txn.session, decision)


def sign_decision(
    study: Study,
    actor: Actor,
    decision_id: int,
    password: str,
    meaning: str | None = None,
) -> DecisionInfo:
    """E-sign a proposed decision (password asked again). With the last required signature
    the decision is final and the system acts on it (next cohort, pause or stop)."""
    require(actor, Action.sign_decision)
    with study.transaction(actor, "committee decision signed") as txn:
        decision = _open_decision(txn, decision_id)
        user = confirm_signer(txn.session, actor, password, decision=decision_id)
        refused = user is None
        if user is not None:
            _add_signature(study, txn, decision, actor, user, meaning)
            result = _info(study, txn.session, decision)
    if refused:
        raise AuthenticationError("the password does not match: the decision was not signed")
    return result


def _add_signature(
    study: Study,
    txn: Txn,
    decision: EscalationDecision,
    actor: Actor,
    user: User,
    meaning: str | None,
) -> None:
    digest = decision_content_hash(decision)
    valid = [
        s
        for s in txn.session.scalars(
            select(DecisionSignature).where(
                DecisionSignature.decision_id == decision.id,
                DecisionSignature.invalidated_at.is_(None),
                DecisionSignature.content_hash == digest,
            )
        ).all()
    ]
    if any(s.username == actor.username for s in valid):
        raise StateError(f"{actor.username} has signed this decision already")
    role = actor.role.value
    needed = {r: c for r, c, _ in required_signers(study)}
    if sum(1 for s in valid if s.role == role) >= needed.get(role, 0):
        raise StateError(
            f"the decision needs no further signature of a {role} "
            f"(still missing: {', '.join(_missing(study, valid)) or 'none'})"
        )
    signature = DecisionSignature(
        decision_id=decision.id,
        username=actor.username,
        printed_name=user.full_name or actor.username,
        role=role,
        meaning=(meaning or "").strip() or MEANINGS.get(role, "I approve this decision"),
        signed_at=now(),
        content_hash=digest,
    )
    txn.session.add(signature)
    txn.session.flush()
    valid.append(signature)
    if not _missing(study, valid):
        _finalise(study, txn, decision, valid)


def _finalise(
    study: Study, txn: Txn, decision: EscalationDecision, signed: Sequence[DecisionSignature]
) -> None:
    """Make the decision final and act on it."""
    decision.status = FINAL
    decision.confirmed_by = "; ".join(f"{s.printed_name} ({s.role})" for s in signed)
    decision.confirmed_at = now()
    why = f"committee decision #{decision.id}"
    open_cohorts = txn.session.scalars(
        select(Cohort).where(
            Cohort.phase == decision.phase, Cohort.status.in_(("open", "full", "suspended"))
        )
    ).all()
    if decision.action == "dose" and decision.chosen_dose:
        slots = study.protocol.phase1.cohort_size
        if decision.phase == "II":
            slots = int((decision.inputs or {}).get("n", slots)) - int(
                (decision.inputs or {}).get("n1", 0)
            )
        cohort = open_cohort(txn, decision.chosen_dose, decision.phase, max(slots, 1), why)
        decision.next_cohort_id = cohort.id
    elif decision.action == "pause":
        for cohort in open_cohorts:
            if cohort.status != "suspended":
                txn.store.set_cohort_status(cohort.number, "suspended", txn.actor.username, why)
    else:
        for cohort in open_cohorts:
            txn.store.set_cohort_status(cohort.number, "closed", txn.actor.username, why)
        rp2d = _rp2d(study, decision)
        if rp2d is not None:
            from oncotrial.conduct.interim import simon_plan

            n1, _, _ = simon_plan(study)
            cohort = open_cohort(txn, rp2d, "II", n1, f"{why}: expansion at the RP2D")
            decision.next_cohort_id = cohort.id
    txn.session.flush()


def rp2d_index(output: dict[str, Any]) -> int | None:
    """The 0-based dose a final phase I stop selects for phase II: the optimal biological dose
    of a toxicity-and-efficacy design (its ``obd``; Lin et al. 2020), otherwise the MTD."""
    chosen = output["obd"] if "obd" in output else output.get("mtd")
    return None if chosen is None else int(chosen) - 1


def _rp2d(study: Study, decision: EscalationDecision) -> str | None:
    """The expansion's dose when a final phase I stop selected one (the RP2D: :func:`rp2d_index`),
    if the protocol has an expansion and it has no cohort yet."""
    index = rp2d_index(decision.output or {})
    if decision.phase != "I" or index is None or study.protocol.phase2 is None:
        return None
    return study.dose_names.short(index)


def __getattr__(name: str) -> Any:
    """``dlt_board`` lives in :mod:`oncotrial.conduct.board` (imported lazily: it reads the
    decisions of this module)."""
    if name == "dlt_board":
        from oncotrial.conduct.board import dlt_board

        return dlt_board
    raise AttributeError(name)
