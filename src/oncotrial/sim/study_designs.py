"""The candidate seamless phase I/II designs of a protocol as simulation-ready objects, the
true MTD and OBD of a scenario, and the escalation part of a simulated study.

Each escalation is simulated by its design's own vectorised simulator (``BOIN.simulate``,
``BFBOIN.simulate``, ``BOIN12.simulate``, ``BLRM.simulate_paths``) on the block's latent
patients; this module only reads the results: the MTD, the OBD and the patients per dose.

OBD of a design that does not select one itself (BF-BOIN, BLRM): BOIN12's OBD rule (Lin et al.
2020, "OBD selection": the most desirable admissible treated dose at or below the isotonic MTD)
applied to the escalation's data, with the doses above the design's own MTD treated as
eliminated for toxicity.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from oncotrial.designs.bfboin import BFBOIN
from oncotrial.designs.blrm import BLRM
from oncotrial.designs.boin import BOIN
from oncotrial.designs.boin12 import BOIN12
from oncotrial.designs.boin12_rules import eliminations_from_counts, obd_selection
from oncotrial.designs.efficacy import (
    NONE_ADMISSIBLE,
    TOO_TOXIC,
    EfficacyLatents,
    Utilities,
)
from oncotrial.designs.mtd import isotonic_mtd
from oncotrial.designs.phase2 import Bop2Design, SimonDesign, calibrate_bop2, simon_two_stage
from oncotrial.designs.registry import (
    DEFAULT_ACCRUAL_PER_MONTH,
    DesignSpec,
    build_design,
    spec_from_protocol,
)
from oncotrial.designs.rose import RoseDesign, rose_design
from oncotrial.designs.simulation import AccrualModel
from oncotrial.protocol.model import Protocol
from oncotrial.protocol.seamless import TWO_DOSE_RULES, Candidate, Seamless

#: Expansion patients per 30-day month where ``phase2.accrual_per_month`` is not set.
DEFAULT_EXPANSION_ACCRUAL = 4.0

Escalation = BOIN | BFBOIN | BOIN12 | BLRM
Expansion = SimonDesign | Bop2Design | RoseDesign


class StudyDesignError(ValueError):
    """A seamless study that cannot be simulated as given (names the protocol key)."""


@dataclass(frozen=True)
class StudyScenario:
    """A named truth: DLT and response probability per dose (0-based levels)."""

    name: str
    p_tox: tuple[float, ...]
    p_eff: tuple[float, ...]


@dataclass(frozen=True)
class TrueDoses:
    """The doses a perfect study would pick (0-based, -1: none should be selected).

    MTD: the dose whose DLT probability is closest to the target (the lower on ties; the BOIN
    papers' convention), none when even the lowest dose is above φ2 (BOIN's overdosing bound).
    OBD: among doses up to the true MTD with a response probability at least φ_E, the highest
    true utility (Lin et al. 2020, DLT and response independent); the lower dose on ties.
    """

    mtd: int
    obd: int


def true_doses(
    scenario: StudyScenario, target: float, phi2: float, efficacy_floor: float, utilities: Utilities
) -> TrueDoses:
    """The true MTD and OBD of ``scenario`` (see :class:`TrueDoses`)."""
    p_t = np.asarray(scenario.p_tox, dtype=float)
    p_e = np.asarray(scenario.p_eff, dtype=float)
    if p_t[0] > phi2:
        return TrueDoses(-1, -1)
    mtd = int(np.argmin(np.abs(p_t - target) + np.arange(p_t.size) * 1e-12))
    utility = utilities.expected(p_t, p_e)
    ok = (np.arange(p_t.size) <= mtd) & (p_e >= efficacy_floor - 1e-12)
    if not ok.any():
        return TrueDoses(mtd, -1)
    best = np.where(ok, utility, -np.inf)
    obd = int(np.flatnonzero(best >= best.max() - 1e-9)[0])
    return TrueDoses(mtd, obd)


@dataclass(frozen=True)
class StudyDesign:
    """One candidate: its escalation design, the selection rule and the expansion design.

    ``obd_rule`` is the BOIN12 whose tables give the OBD of escalations that do not select one
    (module docstring); ``accrual`` the escalation's arrivals (Poisson) for durations.
    """

    name: str
    escalation: Escalation
    selection: str
    expansion: Expansion
    obd_rule: BOIN12
    accrual: AccrualModel
    expansion_accrual: AccrualModel
    response_window_days: float

    @property
    def two_doses(self) -> bool:
        return self.selection in TWO_DOSE_RULES

    @property
    def expansion_kind(self) -> str:
        return {SimonDesign: "simon", Bop2Design: "bop2", RoseDesign: "rose"}[type(self.expansion)]

    @property
    def latent_width(self) -> int:
        """Latent patients per trial the escalation may use."""
        if isinstance(self.escalation, BFBOIN):
            return self.escalation.latent_width()
        return int(self.escalation.max_patients)

    @property
    def expansion_width(self) -> int:
        """Expansion patients per trial at most (both arms for ROSE)."""
        if isinstance(self.expansion, RoseDesign):
            return 2 * self.expansion.n_per_arm
        return int(self.expansion.n)


def _block(protocol: Protocol) -> Seamless:
    if protocol.seamless is None:
        raise StudyDesignError(
            "the protocol has no seamless block: add seamless: (efficacy_floor, scenarios, "
            "candidates) to simulate the whole phase I/II study"
        )
    return protocol.seamless


def study_scenarios(protocol: Protocol, names: list[str] | None = None) -> list[StudyScenario]:
    """The protocol's seamless scenarios (all, or those named, in the order given)."""
    block = _block(protocol)
    chosen = [block.scenario(n) for n in names] if names else block.scenarios
    return [
        StudyScenario(s.name, tuple(s.dlt_probabilities), tuple(s.response_probabilities))
        for s in chosen
    ]


def _protocol_spec(protocol: Protocol, name: str) -> DesignSpec:
    """The protocol's phase I design called ``name``, as ``oncotrial simulate`` builds it (the
    registry), without the stopping behaviours and the MTD selection: the study runs the
    escalations' own rules and selects by its candidates' ``selection``."""
    spec = spec_from_protocol(protocol, name)
    return replace(spec, stop_at_n=None, stop_when_n_at_dose=None, mtd_selection="design")


def _escalation(protocol: Protocol, candidate: Candidate) -> Escalation:
    """The candidate's escalation design built by the registry from ``phase1`` (its
    ``backfill_cap`` overriding ``phase1.backfill_cap``). The BLRM runs without BOIN's
    extra-safe rule (its own overdose control is its safety rule) and with no rule against
    skipping down (it has none)."""
    if candidate.escalation == "blrm":
        spec = replace(_protocol_spec(protocol, "blrm"), extrasafe=False, dont_skip_down=False)
    elif candidate.escalation == "boin12":
        spec = _protocol_spec(protocol, "boin12")
    elif candidate.backfill:
        spec = _protocol_spec(protocol, "bf-boin")
        if candidate.backfill_cap is not None:
            spec = replace(spec, backfill_cap=candidate.backfill_cap)
    else:
        spec = _protocol_spec(protocol, "boin")
    built = build_design(spec)
    assert isinstance(built, (BOIN, BOIN12, BLRM))
    return built


def study_designs(protocol: Protocol, names: list[str] | None = None) -> list[StudyDesign]:
    """The protocol's candidate designs (all, or those named, in the order given)."""
    block = _block(protocol)
    chosen = [block.candidate(n) for n in names] if names else block.candidates
    obd_rule = build_design(_protocol_spec(protocol, "boin12"))
    assert isinstance(obd_rule, BOIN12)
    accrual = AccrualModel(protocol.phase1.accrual_per_month or DEFAULT_ACCRUAL_PER_MONTH)
    phase2 = protocol.phase2
    expansion_rate = (phase2.accrual_per_month if phase2 else None) or DEFAULT_EXPANSION_ACCRUAL
    out: list[StudyDesign] = []
    expansions: dict[str, Expansion] = {}
    for c in chosen:
        if c.expansion not in expansions:
            expansions[c.expansion] = _expansion(protocol, block, c.expansion)
        out.append(
            StudyDesign(
                name=c.name,
                escalation=_escalation(protocol, c),
                selection=c.selection,
                expansion=expansions[c.expansion],
                obd_rule=obd_rule,
                accrual=accrual,
                expansion_accrual=AccrualModel(expansion_rate),
                response_window_days=obd_rule.eff_window_days,
            )
        )
    return out


def _expansion(protocol: Protocol, block: Seamless, kind: str) -> Expansion:
    if kind == "rose":
        r = block.rose
        assert r is not None
        return rose_design(r.p, r.delta, r.pcs_low, r.pcs_high, r.interim_fraction, r.method)
    phase2 = protocol.phase2
    assert phase2 is not None  # the protocol model requires it
    if kind == "simon":
        result = simon_two_stage(phase2.p0, phase2.p1, phase2.alpha, phase2.power)
        return result.optimal if phase2.criterion == "optimal" else result.minimax
    assert block.bop2 is not None
    return calibrate_bop2(phase2.p0, phase2.p1, block.bop2.looks, block.bop2.alpha)


@dataclass
class EscalationResult:
    """Per-trial results of the escalation (arrays over trials; doses 0-based, -1: none)."""

    mtd: np.ndarray
    obd: np.ndarray
    n_per_dose: np.ndarray
    duration_days: np.ndarray


def run_escalation(
    design: StudyDesign, scenario: StudyScenario, latent: EfficacyLatents
) -> EscalationResult:
    """The escalation of every trial of the block, by the design's own simulator."""
    esc = design.escalation
    p_t = np.asarray(scenario.p_tox, dtype=float)
    p_e = np.asarray(scenario.p_eff, dtype=float)
    if isinstance(esc, BFBOIN):
        out = esc.simulate(p_t, p_e, latent)
        mtd = out.selected
        utility = _additive_utility_sums(design.obd_rule.utilities, out)
        obd = _obd_of(
            design.obd_rule, out.n_per_dose, out.dlt_per_dose, out.response_per_dose, utility, mtd
        )
        return EscalationResult(mtd, obd, out.n_per_dose, out.duration_days)
    if isinstance(esc, BOIN12):
        out = esc.simulate(p_t, p_e, latent, design.accrual)
        # a trial stopped without a dose (too toxic, or nothing admissible) has no MTD either
        stopped = (out.stop_reason == TOO_TOXIC) | (out.stop_reason == NONE_ADMISSIBLE)
        low, _ = eliminations_from_counts(
            out.n_per_dose,
            out.dlt_per_dose,
            out.response_per_dose,
            esc.tables(int(out.n_per_dose.max(initial=0))),
        )
        mtd = isotonic_mtd(out.n_per_dose, out.dlt_per_dose, esc.target, low)
        mtd = np.where(stopped, -1, mtd)
        return EscalationResult(mtd, out.selected, out.n_per_dose, out.duration_days)
    if isinstance(esc, BLRM):
        out, doses, _ = esc.simulate_paths(p_t, latent, design.accrual)
        enrolled = doses >= 0
        width = doses.shape[1]
        safe = np.maximum(doses, 0)
        dlt = latent.tox[:, :width] < p_t[safe]
        resp = latent.eff[:, :width] < p_e[safe]
        n_doses = p_t.size
        responses = np.zeros_like(out.n_per_dose)
        utility = np.zeros(out.n_per_dose.shape)
        scores = design.obd_rule.utilities.score(dlt, resp) * enrolled
        for d in range(n_doses):
            at = doses == d
            responses[:, d] = (resp & at).sum(axis=1)
            utility[:, d] = (scores * at).sum(axis=1)
        obd = _obd_of(
            design.obd_rule, out.n_per_dose, out.dlt_per_dose, responses, utility, out.selected
        )
        return EscalationResult(out.selected, obd, out.n_per_dose, out.duration_days)
    out = esc.simulate(p_t, latent, design.accrual)
    no_obd = np.full(out.selected.shape, -1)
    return EscalationResult(out.selected, no_obd, out.n_per_dose, out.duration_days)


def _additive_utility_sums(utilities: Utilities, out: object) -> np.ndarray:
    """Σ utility per dose from the marginal counts (exact when utilities are additive)."""
    n = out.n_per_dose  # type: ignore[attr-defined]
    y = out.dlt_per_dose  # type: ignore[attr-defined]
    r = out.response_per_dose  # type: ignore[attr-defined]
    base = utilities.neither
    return (
        n * base + r * (utilities.response_no_dlt - base) + y * (utilities.dlt_no_response - base)
    ).astype(float)


def _obd_of(
    rule: BOIN12,
    n: np.ndarray,
    y: np.ndarray,
    r: np.ndarray,
    utility: np.ndarray,
    mtd: np.ndarray,
) -> np.ndarray:
    """BOIN12's OBD on an escalation's data, nothing above the design's MTD (module docstring)."""
    tables = rule.tables(int(n.max(initial=0)))
    low, futile = eliminations_from_counts(n, y, r, tables)
    low = np.minimum(low, np.where(mtd < 0, 0, mtd + 1))
    obd, _ = obd_selection(n, y, utility, low, futile, rule.target, tables)
    return np.where(mtd < 0, -1, obd)


def select_doses(design: StudyDesign, esc: EscalationResult) -> tuple[np.ndarray, np.ndarray]:
    """The expansion's doses per trial: (lower, higher); for one-dose rules both are the
    selected dose; -1 in both when nothing is selected; lower = higher when a two-dose rule
    finds only one dose (no randomisation is then possible).

    ``mtd+below``: the MTD and the level below it; ``obd+mtd``: the OBD and the MTD, or the OBD
    and the level below it when they coincide.
    """
    mtd, obd = esc.mtd, esc.obd
    rule = design.selection
    if rule == "mtd":
        return mtd, mtd
    if rule == "obd":
        return obd, obd
    if rule == "mtd+below":
        return np.where(mtd >= 1, mtd - 1, mtd), mtd
    top = np.where(obd < 0, -1, np.maximum(mtd, obd))
    low = np.where(obd < 0, -1, np.minimum(mtd, obd))
    same = (low == top) & (top >= 1)
    return np.where(same, top - 1, low), top


def study_truths(protocol: Protocol, scenarios: list[StudyScenario]) -> list[TrueDoses]:
    """The true MTD and OBD of each scenario with the protocol's target, φ2, φ_E and utilities."""
    phi2 = protocol.phase1.boin.phi2
    assert phi2 is not None  # the protocol model fills it in
    b12 = protocol.phase1.boin12
    utilities = Utilities(*b12.utilities)
    return [
        true_doses(s, protocol.phase1.target, phi2, b12.efficacy_floor, utilities)
        for s in scenarios
    ]
