"""Build a design object by name from plain parameters or from a protocol's phase I block.

This is the only place that maps design names to classes, so the CLI, the comparison table
and (later) the trial store all agree on what "boin" or "crm" means.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from oncotrial.designs.base import Design, DesignError
from oncotrial.designs.boin import BOIN
from oncotrial.designs.crm import CRM, TITECRM, crm_skeleton
from oncotrial.designs.interval import MTPI2, I3Plus3, Keyboard
from oncotrial.designs.names import DESIGN_NAMES
from oncotrial.designs.threeplusthree import ThreePlusThree
from oncotrial.designs.tite_boin import TITEBOIN

if TYPE_CHECKING:
    from oncotrial.protocol.model import Protocol


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
    extra: dict = field(default_factory=dict)

    @property
    def max_patients(self) -> int:
        return self.n_cohorts * self.cohort_size

    def with_name(self, name: str) -> DesignSpec:
        return replace(self, name=name)


def build_design(spec: DesignSpec) -> Design:
    """The design object for ``spec.name`` (one of :data:`DESIGN_NAMES`)."""
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
    raise DesignError(f"unknown design '{spec.name}' (known: {', '.join(DESIGN_NAMES)})")


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
    if isinstance(design, ThreePlusThree):
        return design.max_cohorts * design.cohort_size
    return int(design.max_patients)  # type: ignore[attr-defined]


def spec_from_protocol(protocol: Protocol, design: str | None = None) -> DesignSpec:
    """The protocol's phase I design (or another named design with the same settings)."""
    phase1 = protocol.phase1
    crm = phase1.crm
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
    )
