"""The seamless phase I/II block of a protocol: escalation → selection of one or two doses →
expansion, with the efficacy scenarios and the candidate designs to simulate it under.

A candidate reads like the protocol: ``escalation: boin12, selection: obd, expansion: simon`` —
BOIN, BOIN12 or BLRM escalation (BOIN optionally with backfill: BF-BOIN, Zhao et al. 2024),
selection of the MTD, the OBD (utility, Lin et al. 2020) or two doses, then Simon's two-stage
design or BOP2 at the selected dose, or ROSE (Wang, Yuan & Liu 2025) randomising the two
selected doses. The escalation's target, cohort size, maximum sample size, start level,
accrual, backfill cap and BOIN, BOIN12 (efficacy floor φ_E, utilities, response window) and
BLRM parameters are those of the ``phase1`` block, the expansion's accrual that of ``phase2``,
Simon's and BOP2's p0/p1 too: one source, so a copy of any of them in this block is refused at
its key, naming where it is set.

Example (YAML)::

    seamless:
      scenarios:
        - {name: plateau, dlt_probabilities: [...], response_probabilities: [...]}
      candidates:
        - {name: boin-mtd-simon, escalation: boin, selection: mtd, expansion: simon}
        - {name: boin12-two-rose, escalation: boin12, selection: obd+mtd, expansion: rose}
      rose: {p: 0.40, delta: 0.15}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field, model_validator

from oncotrial.protocol.model import (
    OpenUnit,
    Probability,
    Text,
    _duplicates,
    _Issues,
    _Strict,
)

if TYPE_CHECKING:
    from oncotrial.protocol.model import Protocol

EscalationName = Literal["boin", "boin12", "blrm"]
#: one dose (MTD or OBD), or two doses for a randomised comparison: the MTD and the level
#: below it, or the OBD and the MTD
SelectionRule = Literal["mtd", "obd", "mtd+below", "obd+mtd"]
ExpansionName = Literal["simon", "bop2", "rose"]
TWO_DOSE_RULES = ("mtd+below", "obd+mtd")


class EfficacyScenario(_Strict):
    """A dose-toxicity and dose-response truth: DLT and response probability at each level."""

    name: Text
    rationale: str | None = None
    dlt_probabilities: list[Probability] = Field(min_length=1)
    response_probabilities: list[Probability] = Field(min_length=1)

    @model_validator(mode="after")
    def _shape(self) -> EfficacyScenario:
        issues = _Issues()
        probs = self.dlt_probabilities
        for i in range(1, len(probs)):
            if probs[i] < probs[i - 1]:
                issues.add(
                    ("dlt_probabilities", i),
                    f"DLT probabilities must not decrease with dose ({probs[i]:g} after "
                    f"{probs[i - 1]:g})",
                    probs[i],
                )
        if len(self.response_probabilities) != len(probs):
            issues.add(
                ("response_probabilities",),
                f"needs one probability per dose level, as dlt_probabilities ({len(probs)}) "
                f"(got {len(self.response_probabilities)})",
            )
        issues.raise_any("EfficacyScenario")
        return self


class Bop2Settings(_Strict):
    """BOP2 looks (cumulative patients at each analysis, the last the total) and the type I
    error its λ, γ are calibrated to (Zhou, Lee & Yuan 2017); p0/p1 from ``phase2``."""

    looks: list[int] = Field(min_length=1)
    alpha: OpenUnit = 0.05

    @model_validator(mode="after")
    def _increasing(self) -> Bop2Settings:
        issues = _Issues()
        for i, n in enumerate(self.looks):
            if n < 1 or (i and n <= self.looks[i - 1]):
                issues.add(("looks", i), "looks must be positive and strictly increasing", n)
        issues.raise_any("Bop2Settings")
        return self


class RoseSettings(_Strict):
    """ROSE between the two selected doses (Wang, Yuan & Liu 2025): the higher dose's response
    rate ``p``, the clinically meaningful margin ``delta``, the required probabilities of
    correct selection, an optional interim fraction (two stages) and the method."""

    p: OpenUnit
    delta: OpenUnit
    pcs_low: OpenUnit = 0.65
    pcs_high: OpenUnit = 0.65
    interim_fraction: OpenUnit | None = None
    method: Literal["normal", "exact"] = "exact"

    @model_validator(mode="after")
    def _margin(self) -> RoseSettings:
        issues = _Issues()
        if self.delta > self.p:
            issues.add(("delta",), f"must not exceed p ({self.p:g}) (got {self.delta:g})")
        for key in ("pcs_low", "pcs_high"):
            if getattr(self, key) <= 0.5:
                issues.add((key,), f"must be above 0.5 (got {getattr(self, key):g})")
        issues.raise_any("RoseSettings")
        return self


class Candidate(_Strict):
    """One candidate seamless design: escalation, dose selection and expansion.
    ``backfill_cap`` (BF-BOIN) is ``phase1.backfill_cap`` unless the candidate sets its own, so
    caps can be compared side by side."""

    name: Text
    escalation: EscalationName
    backfill: bool = False
    backfill_cap: int | None = Field(default=None, ge=1)
    selection: SelectionRule = "mtd"
    expansion: ExpansionName

    @model_validator(mode="after")
    def _coherent(self) -> Candidate:
        issues = _Issues()
        if self.backfill and self.escalation != "boin":
            issues.add(
                ("backfill",),
                f"backfilling is defined for BOIN (BF-BOIN, Zhao et al. 2024), not for "
                f"'{self.escalation}'",
                self.backfill,
            )
        two = self.selection in TWO_DOSE_RULES
        if two and self.expansion != "rose":
            issues.add(
                ("expansion",),
                f"selection '{self.selection}' chooses two doses: the expansion must randomise "
                f"them (rose), not '{self.expansion}'",
                self.expansion,
            )
        if not two and self.expansion == "rose":
            issues.add(
                ("selection",),
                f"ROSE randomises two doses: choose mtd+below or obd+mtd, not '{self.selection}'",
                self.selection,
            )
        if "obd" in self.selection and self.escalation == "boin" and not self.backfill:
            issues.add(
                ("selection",),
                "BOIN without backfill records no responses, so it cannot select an OBD: use "
                "boin12, blrm or backfill: true",
                self.selection,
            )
        issues.raise_any("Candidate")
        return self


#: Settings a seamless block might repeat, and the one place each is set.
SET_ELSEWHERE = {
    "boin12": "phase1.boin12",
    "blrm": "phase1.blrm",
    "efficacy_floor": "phase1.boin12.efficacy_floor",
    "utilities": "phase1.boin12.utilities",
    "response_window_days": "phase1.boin12.efficacy_window_days",
    "accrual_per_month": "phase1.accrual_per_month",
    "expansion_accrual_per_month": "phase2.accrual_per_month",
}


class Seamless(_Strict):
    """The seamless phase I/II study: the efficacy scenarios and the candidate designs, with
    the BOP2 and ROSE settings of the expansions that need them. Everything else is read from
    ``phase1`` and ``phase2`` (module docstring): φ_E (the efficacy floor: BOIN12's futility
    rule and the true OBD), the utilities, the response window (BOIN12's efficacy window and
    the expansion's analyses; the DLT window if not set) and the accrual of each phase.
    """

    scenarios: list[EfficacyScenario] = Field(min_length=1)
    candidates: list[Candidate] = Field(min_length=1)
    bop2: Bop2Settings | None = None
    rose: RoseSettings | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_source(cls, data: object) -> object:
        """Settings of the escalation and the expansion have one source (:data:`SET_ELSEWHERE`):
        a copy here is refused at its key."""
        if isinstance(data, dict):
            issues = _Issues()
            for key, home in SET_ELSEWHERE.items():
                if key in data:
                    issues.add(
                        (key,),
                        f"set in {home} (the one source of this setting), not in the seamless "
                        "block",
                    )
            issues.raise_any("Seamless")
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Seamless:
        issues = _Issues()
        for key, names in (
            ("scenarios", [s.name for s in self.scenarios]),
            ("candidates", [c.name for c in self.candidates]),
        ):
            for i, first in _duplicates(names):
                issues.add((key, i, "name"), f"duplicate name (also {key}[{first}])", names[i])
        for i, c in enumerate(self.candidates):
            for needed, block in (("bop2", self.bop2), ("rose", self.rose)):
                if c.expansion == needed and block is None:
                    issues.add(
                        ("candidates", i, "expansion"),
                        f"'{needed}' needs a seamless.{needed} block",
                        needed,
                    )
        issues.raise_any("Seamless")
        return self

    def scenario(self, name: str) -> EfficacyScenario:
        """The scenario called ``name`` (KeyError naming the known ones otherwise)."""
        for s in self.scenarios:
            if s.name == name:
                return s
        known = ", ".join(s.name for s in self.scenarios)
        raise KeyError(f"no seamless scenario '{name}' (scenarios: {known})")

    def candidate(self, name: str) -> Candidate:
        """The candidate design called ``name`` (KeyError naming the known ones otherwise)."""
        for c in self.candidates:
            if c.name == name:
                return c
        known = ", ".join(c.name for c in self.candidates)
        raise KeyError(f"no candidate design '{name}' (candidates: {known})")


def check_seamless(protocol: Protocol, issues: _Issues) -> None:
    """The rules of the block that involve the rest of the protocol (dose levels, phase II,
    drugs), each located at the offending key."""
    block = protocol.seamless
    if block is None:
        return
    n = protocol.n_doses
    shown = ", ".join(str(label) for label in protocol.level_labels)
    for i, s in enumerate(block.scenarios):
        for key in ("dlt_probabilities", "response_probabilities"):
            got = len(getattr(s, key))
            if got != n:
                issues.add(
                    ("seamless", "scenarios", i, key),
                    f"needs one probability per dose level ({n}: {shown}) (got {got})",
                )
    for i, c in enumerate(block.candidates):
        if c.expansion in ("simon", "bop2") and protocol.phase2 is None:
            issues.add(
                ("seamless", "candidates", i, "expansion"),
                f"'{c.expansion}' tests H0: p <= p0 with the phase2 block's p0 and p1: add a "
                "phase2 block",
                c.expansion,
            )
        if c.backfill and protocol.phase1.cohort_size < 3:
            issues.add(
                ("seamless", "candidates", i, "backfill"),
                "BF-BOIN needs cohorts of at least 3 patients (phase1.cohort_size)",
            )
    u = protocol.phase1.boin12.utilities  # (response, no DLT), neither, both, (DLT, no response)
    additive = u[0] + u[3] == u[1] + u[2]
    for i, c in enumerate(block.candidates):
        if c.backfill and "obd" in c.selection and not additive:
            issues.add(
                ("seamless", "candidates", i, "selection"),
                "the OBD of BF-BOIN's data needs additive utilities in phase1.boin12.utilities "
                "(response without DLT + DLT without response = both + neither): BF-BOIN "
                "reports responses and DLTs per dose, not their joint outcomes",
                c.selection,
            )
        if c.escalation == "blrm" and protocol.phase1.blrm is None:
            issues.add(
                ("seamless", "candidates", i, "escalation"),
                "'blrm' needs a phase1.blrm block with a reference_dose",
                c.escalation,
            )
    uses_blrm = any(c.escalation == "blrm" for c in block.candidates)
    if uses_blrm and len(protocol.escalated_drugs) != 1:
        issues.add(
            ("phase1", "blrm"),
            "the BLRM models one escalated drug's log dose; this protocol escalates "
            f"{len(protocol.escalated_drugs)}",
        )
