"""Build a design object by name from plain parameters or from a protocol's phase I block.

This is the only place that maps design names to classes, so the CLI, the comparison table
and (later) the trial store all agree on what "boin" or "crm" means.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from oncotrial.designs.base import Design, DesignError
from oncotrial.designs.behaviours import (
    backfill,
    dont_skip,
    extra_safe,
    innermost,
    select_boin_mtd,
    stop_at_n,
    stop_when_n_at_dose,
)
from oncotrial.designs.blrm import BLRM
from oncotrial.designs.blrm_posterior import BLRMPrior
from oncotrial.designs.boin import BOIN
from oncotrial.designs.boin12 import BOIN12
from oncotrial.designs.crm import CRM, TITECRM, crm_skeleton
from oncotrial.designs.efficacy import Arrivals, Utilities
from oncotrial.designs.interval import MTPI2, I3Plus3, Keyboard
from oncotrial.designs.names import DESIGN_NAMES
from oncotrial.designs.threeplusthree import ThreePlusThree
from oncotrial.designs.tite_boin import TITEBOIN
from oncotrial.designs.tite_boin12 import TITEBOIN12

if TYPE_CHECKING:
    from oncotrial.protocol.model import Protocol


#: Patients per 30-day month where the protocol gives no accrual rate (designs that model
#: arrivals: BF-BOIN, TITE-BOIN12, the seamless study's escalation).
DEFAULT_ACCRUAL_PER_MONTH = 3.0

#: Half-width of the indifference interval of the default CRM skeleton (Lee & Cheung 2009
#: recommend roughly 0.04-0.08 for targets 0.2-0.3).
DEFAULT_SKELETON_HALFWIDTH = 0.05


@dataclass(frozen=True)
class DesignSpec:
    """Everything needed to build any supported design (unused fields are ignored).

    ``start`` is a 0-based index into the design's dose levels.
    """

    name: str
    n_doses: int
    target: float = 0.3
    cohort_size: int = 3
    n_cohorts: int = 10
    start: int = 0
    window_days: float = 28.0
    p_saf: float | None = None
    p_tox: float | None = None
    cutoff_eli: float = 0.95
    extrasafe: bool = False
    offset: float = 0.05
    n_earlystop: int = 100
    skeleton: tuple[float, ...] | None = None
    model: str = "empiric"
    prior_var: float = 1.34
    intercept: float = 3.0
    safety_stop: float | None = None
    tite_scheme: str = "linear"
    epsilon1: float = 0.05
    epsilon2: float = 0.05
    # toxicity-and-efficacy designs (BOIN12, TITE-BOIN12; Lin et al. 2020 defaults)
    efficacy_floor: float = 0.25
    utilities: tuple[float, float, float, float] = (100.0, 40.0, 60.0, 0.0)
    n_star: int = 6
    n_explore: int = 9
    cutoff_tox: float = 0.95
    cutoff_eff: float = 0.9
    eff_window_days: float | None = None
    # BF-BOIN backfill and the arrivals of the designs that model them (BF-BOIN, TITE-BOIN12)
    backfill_cap: int = 12
    accrual: str | None = None
    accrual_per_month: float | None = None
    # BLRM with overdose control (Neuenschwander et al. 2008)
    dose_amounts: tuple[float, ...] | None = None
    reference_dose: float | None = None
    blrm_prior: BLRMPrior = field(default_factory=BLRMPrior)
    ewoc: float = 0.25
    max_step_ratio: float | None = None
    dose_names: tuple[str, ...] | None = None
    # behaviours wrapping the design (escalation's names; behaviours.py)
    dont_skip: bool = False
    dont_skip_down: bool = False
    mtd_selection: str = "design"
    stop_at_n: int | None = None
    stop_when_n_at_dose: int | None = None
    extra: dict = field(default_factory=dict)

    @property
    def max_patients(self) -> int:
        return self.n_cohorts * self.cohort_size

    @property
    def efficacy_window_days(self) -> float:
        """Days after the first dose a response is assessed: ``eff_window_days``, else the DLT
        window (BOIN12's default)."""
        return float(self.eff_window_days or self.window_days)

    def with_name(self, name: str) -> DesignSpec:
        return replace(self, name=name)


#: Designs whose own parameter is the extra-safe rule (BOIN's ``extrasafe``); the others that
#: take behaviours are wrapped in :func:`~oncotrial.designs.behaviours.extra_safe`.
NATIVE_EXTRA_SAFE = ("boin", "tite-boin", "bf-boin")


def build_design(spec: DesignSpec) -> Design:
    """The design object for ``spec.name`` (one of :data:`DESIGN_NAMES`), wrapped in the
    behaviours the spec asks for (don't skip, extra-safe, ``stop_when_n_at_dose``,
    ``stop_at_n``, then the MTD selection: ``mtd_selection`` "design" keeps the design's own,
    "boin" chooses by BOIN's)."""
    design = _build_parent(spec)
    if spec.dont_skip or spec.dont_skip_down:
        design = dont_skip(design, when_deescalating=spec.dont_skip_down)
    if spec.extrasafe and spec.name.lower() not in NATIVE_EXTRA_SAFE:
        design = extra_safe(design, spec.cutoff_eli, spec.offset, spec.target)
    if spec.stop_when_n_at_dose is not None:
        design = stop_when_n_at_dose(design, spec.stop_when_n_at_dose)
    if spec.stop_at_n is not None:
        design = stop_at_n(design, spec.stop_at_n)
    if spec.mtd_selection == "boin":
        design = select_boin_mtd(design, spec.cutoff_eli, spec.target)
    elif spec.mtd_selection != "design":
        raise DesignError(f"MTD selection '{spec.mtd_selection}' is not 'design' or 'boin'")
    return design


def _build_parent(spec: DesignSpec) -> Design:
    name = spec.name.lower()
    if name in ("boin", "tite-boin"):
        cls = BOIN if name == "boin" else TITEBOIN
        return cls(
            n_doses=spec.n_doses,
            target=spec.target,
            cohort_size=spec.cohort_size,
            n_cohorts=spec.n_cohorts,
            start=spec.start,
            p_saf=spec.p_saf,
            p_tox=spec.p_tox,
            cutoff_eli=spec.cutoff_eli,
            extrasafe=spec.extrasafe,
            offset=spec.offset,
            n_earlystop=spec.n_earlystop,
            window_days=spec.window_days,
        )
    if name == "3+3":
        return ThreePlusThree(
            n_doses=spec.n_doses,
            cohort_size=spec.cohort_size,
            start=spec.start,
            max_patients=spec.max_patients,
            window_days=spec.window_days,
        )
    if name in ("crm", "tite-crm"):
        cls = CRM if name == "crm" else TITECRM
        # TITE-CRM doses each patient on arrival: it has no cohorts
        extra = (
            {"scheme": spec.tite_scheme}
            if name == "tite-crm"
            else {"cohort_size": spec.cohort_size}
        )
        return cls(
            skeleton=tuple(spec.skeleton or default_skeleton(spec)),
            target=spec.target,
            max_patients=spec.max_patients,
            start=spec.start,
            model=spec.model,
            prior_var=spec.prior_var,
            intercept=spec.intercept,
            safety_stop=spec.safety_stop,
            window_days=spec.window_days,
            name=name,
            **extra,
        )
    if name in ("keyboard", "mtpi2", "i3+3"):
        common = {
            "n_doses": spec.n_doses,
            "target": spec.target,
            "cohort_size": spec.cohort_size,
            "n_cohorts": spec.n_cohorts,
            "start": spec.start,
            "n_earlystop": spec.n_earlystop if spec.n_earlystop < spec.max_patients else None,
            "cutoff_eli": spec.cutoff_eli,
            "window_days": spec.window_days,
        }
        if name == "keyboard":
            return Keyboard(**common, margin_left=spec.epsilon1, margin_right=spec.epsilon2)
        cls = MTPI2 if name == "mtpi2" else I3Plus3
        return cls(**common, epsilon1=spec.epsilon1, epsilon2=spec.epsilon2)
    if name in ("boin12", "tite-boin12"):
        return _build_boin12(spec, name)
    if name == "bf-boin":
        boin = _build_parent(replace(spec, name="boin"))
        return backfill(boin, spec.backfill_cap, _arrivals(spec, "uniform"))
    if name == "blrm":
        return _build_blrm(spec)
    raise DesignError(f"unknown design '{spec.name}' (known: {', '.join(DESIGN_NAMES)})")


def _build_boin12(spec: DesignSpec, name: str) -> BOIN12:
    common = {
        "n_doses": spec.n_doses,
        "target": spec.target,
        "efficacy_floor": spec.efficacy_floor,
        "cohort_size": spec.cohort_size,
        "n_cohorts": spec.n_cohorts,
        "start": spec.start,
        "utilities": Utilities(*spec.utilities),
        "n_star": spec.n_star,
        "n_explore": spec.n_explore,
        "cutoff_tox": spec.cutoff_tox,
        "cutoff_eff": spec.cutoff_eff,
        "n_earlystop": spec.n_earlystop,
        "p_saf": spec.p_saf,
        "p_tox": spec.p_tox,
        "window_days": spec.window_days,
        "eff_window_days": spec.efficacy_window_days,
    }
    if name == "boin12":
        return BOIN12(**common)
    return TITEBOIN12(**common, arrivals=_arrivals(spec, "poisson"))


def _arrivals(spec: DesignSpec, kind: str) -> Arrivals:
    """The arrivals a design's simulator draws: the spec's rate and kind, else the defaults
    (``kind``: uniform gaps for BF-BOIN as ``get.oc.bf``, Poisson for TITE-BOIN12)."""
    return Arrivals(spec.accrual_per_month or DEFAULT_ACCRUAL_PER_MONTH, spec.accrual or kind)


def _build_blrm(spec: DesignSpec) -> BLRM:
    if spec.dose_amounts is None:
        raise DesignError(
            "blrm needs the dose amounts of the levels (a protocol, or --dose-amounts 100,200,...)"
        )
    if len(spec.dose_amounts) != spec.n_doses:
        raise DesignError(
            f"blrm: {len(spec.dose_amounts)} dose amounts for {spec.n_doses} dose levels"
        )
    if spec.reference_dose is None:
        raise DesignError(
            "blrm needs a reference dose d* (--reference-dose, or the protocol's "
            "phase1.blrm.reference_dose)"
        )
    if spec.reference_dose <= 0:
        raise DesignError(f"blrm: the reference dose must be positive, got {spec.reference_dose}")
    return BLRM(
        doses=tuple(spec.dose_amounts),
        reference_dose=spec.reference_dose,
        max_patients=spec.max_patients,
        cohort_size=spec.cohort_size,
        start=spec.start,
        prior=spec.blrm_prior,
        ewoc=spec.ewoc,
        max_step_ratio=spec.max_step_ratio,
        window_days=spec.window_days,
        dose_names=spec.dose_names,
        name="blrm",
    )


def default_skeleton(spec: DesignSpec) -> tuple[float, ...]:
    """The CRM skeleton used when none is given: Lee & Cheung's (2009) indifference-interval
    skeleton with half-width :data:`DEFAULT_SKELETON_HALFWIDTH`, prior MTD at the start dose."""
    return tuple(
        float(v)
        for v in crm_skeleton(
            spec.target,
            spec.start,
            spec.n_doses,
            DEFAULT_SKELETON_HALFWIDTH,
            spec.model,
            spec.intercept,
        )
    )


def latent_patients_needed(design: Design) -> int:
    """How many latent patients per trial the design's simulator may consume."""
    design = innermost(design)
    if isinstance(design, ThreePlusThree):
        return design.max_cohorts * design.cohort_size
    if hasattr(design, "latent_width"):  # BF-BOIN: arrivals, enrolled or not
        return int(design.latent_width())
    return int(design.max_patients)  # type: ignore[attr-defined]


def spec_from_protocol(protocol: Protocol, design: str | None = None) -> DesignSpec:
    """The protocol's phase I design (or another named design with the same settings)."""
    from oncotrial.protocol.naming import DoseNames

    phase1 = protocol.phase1
    crm = phase1.crm
    b12 = phase1.boin12
    blrm = phase1.blrm
    n_cohorts = -(-phase1.max_patients // phase1.cohort_size)
    return DesignSpec(
        name=design or phase1.design,
        n_doses=protocol.n_doses,
        target=phase1.target,
        cohort_size=phase1.cohort_size,
        n_cohorts=n_cohorts,
        start=protocol.start_index,
        window_days=float(protocol.dlt.window_days),
        p_saf=phase1.boin.phi1,
        p_tox=phase1.boin.phi2,
        cutoff_eli=phase1.boin.cutoff_eli,
        extrasafe=phase1.boin.extrasafe,
        offset=phase1.boin.offset,
        n_earlystop=phase1.boin.n_earlystop,
        skeleton=tuple(crm.skeleton) if crm else None,
        model=crm.model if crm else "empiric",
        prior_var=crm.prior_var if crm else 1.34,
        intercept=crm.intercept if crm else 3.0,
        safety_stop=crm.safety_stop if crm else None,
        epsilon1=phase1.interval.epsilon1,
        epsilon2=phase1.interval.epsilon2,
        efficacy_floor=b12.efficacy_floor,
        utilities=(b12.utilities[0], b12.utilities[1], b12.utilities[2], b12.utilities[3]),
        n_star=b12.n_star,
        n_explore=b12.n_explore,
        cutoff_tox=b12.cutoff_tox,
        cutoff_eff=b12.cutoff_eff,
        eff_window_days=b12.efficacy_window_days,
        backfill_cap=phase1.backfill_cap,
        accrual=phase1.accrual,
        accrual_per_month=phase1.accrual_per_month,
        dose_amounts=protocol_dose_amounts(protocol),
        reference_dose=blrm.reference_dose if blrm else None,
        blrm_prior=BLRMPrior(**blrm.prior.model_dump()) if blrm else BLRMPrior(),
        ewoc=blrm.ewoc if blrm else 0.25,
        max_step_ratio=blrm.max_step_ratio if blrm else None,
        dont_skip=phase1.dont_skip,
        dont_skip_down=phase1.dont_skip_down,
        mtd_selection=phase1.mtd_selection,
        dose_names=tuple(DoseNames.of(protocol).all_full()),
        stop_at_n=phase1.stopping.stop_at_n,
        stop_when_n_at_dose=phase1.stopping.stop_when_n_at_dose,
    )


def protocol_dose_amounts(protocol: Protocol) -> tuple[float, ...] | None:
    """The escalated drug's average daily amount at each level (the BLRM's doses, e.g. mg/day);
    ``None`` when the protocol escalates no drug or several."""
    escalated = protocol.escalated_drugs
    if len(escalated) != 1:
        return None
    name = escalated[0].name
    return tuple(level.doses[name].daily_amount for level in protocol.dose_levels)
