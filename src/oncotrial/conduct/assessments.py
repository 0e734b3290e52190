"""What the system computes beside the investigator, with the derive room's engines: the DLT
judgement of an adverse event (the protocol's DLT definition, :func:`oncotrial.derive.safety.
evaluate_dlt`) and the RECIST 1.1 overall response of a tumour assessment from its lesions
(:func:`oncotrial.derive.recist.recist_timepoints`). No clinical rule is re-implemented here;
this module only shapes the stored records into the engines' inputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import pandas as pd

from oncotrial.derive.errors import DataError
from oncotrial.derive.recist import recist_timepoints
from oncotrial.derive.safety import evaluate_dlt, normalise_term
from oncotrial.protocol.model import Protocol

Row = Mapping[str, str | None]


@dataclass(frozen=True)
class DltJudgement:
    """The protocol's verdict on one AE: ``flag`` "Y", "N", or "" when the AE is not assessed
    (outside the window, not related, no first dose yet); the criteria met and why; what the
    committee must still judge (``review``)."""

    flag: str
    criteria: str
    reasons: str
    review: str
    window_day: int | None

    def text(self) -> str:
        if self.flag == "Y":
            return f"DLT by the protocol's definition ({self.reasons})"
        if self.flag == "N":
            note = f"; to review: {self.review}" if self.review else ""
            return f"not a DLT by the protocol's definition{note}"
        return self.review or "not assessed for DLT (outside the window, unrelated or no dose)"


@dataclass(frozen=True)
class ResponseJudgement:
    """The RECIST 1.1 overall response computed from the lesions at one assessment."""

    response: str | None
    reason: str


def dlt_conditions(protocol: Protocol) -> dict[str, str]:
    """Criterion id → the AE variable holding the answer to its free-text condition."""
    out = {}
    for i, criterion in enumerate(protocol.dlt.criteria, start=1):
        if criterion.condition:
            out[criterion.id] = f"AEDLTC{i}"
    return out


def soc_of(protocol: Protocol, term: str | None) -> str | None:
    """The system organ class of a term the protocol lists (its expected AEs)."""
    if not term or protocol.virtual_trial is None:
        return None
    wanted = normalise_term(term)
    for ae in protocol.virtual_trial.adverse_events:
        if normalise_term(ae.term) == wanted:
            return ae.soc
    return None


def _day(text: str | None) -> pd.Timestamp:
    """The day of a complete ISO 8601 date (NaT for a partial or missing one)."""
    if not text or len(text) < 10:
        return pd.NaT
    try:
        return pd.Timestamp(text[:10])
    except ValueError:
        return pd.NaT


def judge_dlt(
    protocol: Protocol, ae: Row, first_dose: str | None, as_of: date | None = None
) -> DltJudgement:
    """The protocol's DLT verdict on one AE record (SDTM AE variables as text)."""
    conditions = dlt_conditions(protocol)
    grade = ae.get("AETOXGR")
    frame = pd.DataFrame(
        {
            "USUBJID": [ae.get("USUBJID") or ""],
            "ASTDT": [_day(ae.get("AESTDTC"))],
            "AENDT": [_day(ae.get("AEENDTC"))],
            "TRTSDT": [_day(first_dose)],
            "ATOXGRN": [float(grade) if grade and grade.isdigit() else float("nan")],
            "AEDECOD": [ae.get("AEDECOD") or ""],
            "AEBODSYS": [ae.get("AEBODSYS") or ""],
            "AEREL": [ae.get("AEREL") or ""],
            **{column: [ae.get(column) or ""] for column in conditions.values()},
        }
    )
    for column in ("ASTDT", "AENDT", "TRTSDT"):
        frame[column] = frame[column].astype("datetime64[ns]")
    if frame["TRTSDT"].isna().all():
        return DltJudgement("", "", "", "no first dose recorded yet", None)
    result = evaluate_dlt(
        frame, protocol.dlt, conditions=conditions, cutoff=as_of or date.today()
    ).iloc[0]
    day = result["DLTDY"]
    return DltJudgement(
        str(result["DLTFL"]),
        str(result["DLTCRIT"]),
        str(result["DLTREAS"]),
        str(result["DLTREV"]),
        None if pd.isna(day) else int(day),
    )


def judge_response(tu: Sequence[Row], tr: Sequence[Row], visitnum: str) -> ResponseJudgement:
    """The RECIST 1.1 overall response at ``visitnum`` from the subject's TU and TR records
    (the investigator's records, as stored and as being saved)."""
    if not tu or not tr:
        return ResponseJudgement(None, "no lesions recorded")
    try:
        points = recist_timepoints(pd.DataFrame(list(tu)), pd.DataFrame(list(tr)))
    except DataError as exc:
        return ResponseJudgement(None, f"cannot be computed: {exc}")
    here = points[points["VISITNUM"] == float(visitnum)]
    if here.empty:
        return ResponseJudgement(None, "no follow-up measurements at this assessment")
    row = here.iloc[0]
    return ResponseJudgement(str(row["OVRLRESP"]), str(row.get("REASON", "")))
