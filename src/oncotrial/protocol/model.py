"""The protocol of an early-phase oncology trial as a validated data model.

One :class:`Protocol` holds what the other rooms need to run and analyse the study: the drugs and
their dose levels, the DLT definition (CTCAE v5 terms), the phase-I escalation design with its
simulation scenarios, the phase-II design, endpoints and visit schedule, and the list of values
that are assumptions rather than facts from the registry record.

Every model refuses unknown keys (``extra="forbid"``) so that a misspelt key is an error instead of
a silently ignored setting. Rules that involve several fields raise errors located at the field
that breaks them (e.g. ``phase1.scenarios[0].dlt_probabilities[2]``), so the YAML loader can point
at the offending line.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from oncotrial.cdisc.plausibility import DEFAULT_PLAUSIBILITY
from oncotrial.cdisc.plausibility import Plausibility as CdiscPlausibility

#: The error type of every rule written in this module (as opposed to pydantic's own checks).
RULE_ERROR = "protocol_rule"

Loc = tuple[str | int, ...]


def _rule(message: str) -> PydanticCustomError:
    """A pydantic error carrying ``message`` verbatim."""
    return PydanticCustomError(RULE_ERROR, "{message}", {"message": message})


class _Issues:
    """Collects rule violations, each at its own location, and raises them together."""

    def __init__(self) -> None:
        self._items: list[InitErrorDetails] = []

    def add(self, loc: Loc, message: str, value: Any = None) -> None:
        self._items.append(InitErrorDetails(type=_rule(message), loc=loc, input=value))

    def raise_any(self, title: str) -> None:
        if self._items:
            raise ValidationError.from_exception_data(title, self._items)


def _duplicates(values: list[Any]) -> list[tuple[int, int]]:
    """(index, index of first occurrence) of every value seen before in ``values``."""
    first: dict[Any, int] = {}
    out: list[tuple[int, int]] = []
    for i, value in enumerate(values):
        if value in first:
            out.append((i, first[value]))
        first.setdefault(value, i)
    return out


def _open_unit(value: float) -> float:
    if not 0.0 < value < 1.0:
        raise _rule(f"must be strictly between 0 and 1 (got {value:g})")
    return value


def _closed_unit(value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise _rule(f"must be a probability between 0 and 1 (got {value:g})")
    return value


def _upper(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


#: A number strictly inside (0, 1): target rates, error rates, skeleton values.
OpenUnit = Annotated[float, AfterValidator(_open_unit)]
#: A probability in [0, 1].
Probability = Annotated[float, AfterValidator(_closed_unit)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Grade = Annotated[int, Field(ge=1, le=5)]

#: Dosing frequencies and the number of administrations per day each stands for.
ADMINISTRATIONS_PER_DAY: dict[str, float] = {
    "QD": 1.0,
    "BID": 2.0,
    "TID": 3.0,
    "QID": 4.0,
    "QW": 1 / 7,
    "Q2W": 1 / 14,
    "Q3W": 1 / 21,
    "Q4W": 1 / 28,
}
Frequency = Annotated[
    Literal["QD", "BID", "TID", "QID", "QW", "Q2W", "Q3W", "Q4W"], BeforeValidator(_upper)
]
Route = Literal["oral", "intravenous", "subcutaneous", "intramuscular"]
DesignName = Literal[
    "3+3",
    "boin",
    "tite-boin",
    "crm",
    "tite-crm",
    "keyboard",
    "mtpi2",
    "i3+3",
    "boin12",
    "tite-boin12",
    "bf-boin",
    "blrm",
]
DltCategory = Literal["haematologic", "non-haematologic", "hepatic", "any"]


class _Strict(BaseModel):
    """Base of every protocol model: unknown keys are refused, text is stripped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Study(_Strict):
    """Identity of the study."""

    id: Text
    title: Text
    phase: Literal["I", "Ia", "Ib", "I/II", "Ib/II", "II"]
    sponsor: str | None = None
    registry: str | None = None
    condition: str | None = None
    description: str | None = None


class Dose(_Strict):
    """One drug's dose: ``amount`` ``unit`` given at ``frequency`` (e.g. 200 mg BID)."""

    amount: float = Field(gt=0)
    unit: Text
    frequency: Frequency

    @property
    def daily_amount(self) -> float:
        """Average amount per day, which orders doses given at different frequencies."""
        return self.amount * ADMINISTRATIONS_PER_DAY[self.frequency]

    def __str__(self) -> str:
        return f"{self.amount:g} {self.unit} {self.frequency}"


class Drug(_Strict):
    """A study drug; ``name`` is the key used for it in ``dose_levels``."""

    name: Text
    product: str | None = None
    code: str | None = None
    form: Text
    route: Route
    schedule: Text
    role: Literal["escalated", "fixed"]
    fixed_dose: Dose | None = None

    @model_validator(mode="after")
    def _fixed_dose_matches_role(self) -> Drug:
        issues = _Issues()
        if self.role == "fixed" and self.fixed_dose is None:
            issues.add(("fixed_dose",), "required for a drug whose role is 'fixed'")
        if self.role == "escalated" and self.fixed_dose is not None:
            issues.add(
                ("fixed_dose",),
                "only a fixed drug has a fixed_dose; an escalated drug's doses are given in "
                "dose_levels",
            )
        issues.raise_any("Drug")
        return self


class DoseLevel(_Strict):
    """One dose level: its label (e.g. -1, 1, 2, 3) and every drug's dose at it."""

    level: int
    doses: dict[str, Dose] = Field(min_length=1)
    note: str | None = None


class DltException(_Strict):
    """Toxicities a DLT criterion would catch but does not count (e.g. brief grade 3 nausea)."""

    terms: list[Text] = Field(min_length=1)
    grades: list[Grade] = Field(min_length=1)
    condition: Text
    resolves_within_hours: float | None = Field(default=None, gt=0)


class DltCriterion(_Strict):
    """One clause of the DLT definition, in CTCAE terms.

    ``terms`` lists CTCAE terms; empty means any term of ``category``. The toxicity counts when
    its grade is at least ``min_grade``, it lasts longer than ``lasting_more_than_days`` (when
    given) and ``condition`` holds (when given), unless one of ``exceptions`` applies.
    """

    id: Text
    description: str | None = None
    category: DltCategory
    terms: list[Text] = Field(default_factory=list)
    min_grade: Grade
    lasting_more_than_days: float | None = Field(default=None, gt=0)
    condition: str | None = None
    exceptions: list[DltException] = Field(default_factory=list)

    @model_validator(mode="after")
    def _exceptions_within_criterion(self) -> DltCriterion:
        issues = _Issues()
        for i, exc in enumerate(self.exceptions):
            for j, grade in enumerate(exc.grades):
                if grade < self.min_grade:
                    issues.add(
                        ("exceptions", i, "grades", j),
                        f"grade {grade} is below the criterion's min_grade {self.min_grade}, "
                        "so the exception excludes nothing",
                        grade,
                    )
        issues.raise_any("DltCriterion")
        return self


class Evaluability(_Strict):
    """Which patients count for the DLT assessment."""

    definition: Text
    min_dose_fraction: float | None = Field(default=None, gt=0, le=1)


class DltDefinition(_Strict):
    """The dose-limiting toxicity window and definition."""

    window_days: int = Field(gt=0)
    window_start: Text = "first dose"
    ctcae_version: Text = "5.0"
    attribution: str | None = None
    evaluable: Evaluability
    criteria: list[DltCriterion] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> DltDefinition:
        issues = _Issues()
        for i, first in _duplicates([c.id for c in self.criteria]):
            issues.add(
                ("criteria", i, "id"),
                f"duplicate criterion id (also criteria[{first}])",
                self.criteria[i].id,
            )
        issues.raise_any("DltDefinition")
        return self


class BoinParams(_Strict):
    """BOIN parameters (Liu & Yuan 2015; R package BOIN names).

    ``phi1``/``phi2`` default to 0.6 and 1.4 times the target. Dose elimination: stop using a
    dose (and higher ones) when P(p > target | data) > ``cutoff_eli`` with at least 3 patients;
    with ``extrasafe`` the lowest dose also stops the trial at ``cutoff_eli - offset``, selecting
    no dose (the extra-safe behaviour; for Keyboard, mTPI-2, i3+3, CRM and BLRM too, which also
    take ``cutoff_eli``). The trial stops when ``n_earlystop`` patients are at the current dose
    and the decision is to stay.
    """

    phi1: OpenUnit | None = None
    phi2: OpenUnit | None = None
    cutoff_eli: OpenUnit = 0.95
    extrasafe: bool = False
    offset: OpenUnit = 0.05
    n_earlystop: int = Field(default=100, ge=1)


class CrmParams(_Strict):
    """CRM / TITE-CRM working model (dfcrm names): skeleton, model, prior variance of beta.

    ``safety_stop``: stop without an MTD when Pr(DLT rate at the lowest dose > target | data)
    exceeds this (Cheung 2011, section 3.5; None = no such stop).
    """

    skeleton: list[OpenUnit] = Field(min_length=1)
    model: Literal["empiric", "logistic"] = "empiric"
    prior_var: float = Field(default=1.34, gt=0)
    intercept: float = 3.0
    safety_stop: OpenUnit | None = None

    @field_validator("skeleton")
    @classmethod
    def _strictly_increasing(cls, skeleton: list[float]) -> list[float]:
        issues = _Issues()
        for i in range(1, len(skeleton)):
            if skeleton[i] <= skeleton[i - 1]:
                issues.add(
                    (i,),
                    f"the skeleton must increase strictly with dose ({skeleton[i]:g} after "
                    f"{skeleton[i - 1]:g})",
                    skeleton[i],
                )
        issues.raise_any("skeleton")
        return skeleton


class IntervalParams(_Strict):
    """Equivalence interval [target - epsilon1, target + epsilon2] of keyboard, mTPI-2 and i3+3."""

    epsilon1: float = Field(default=0.05, gt=0, lt=1)
    epsilon2: float = Field(default=0.05, gt=0, lt=1)


class Boin12Params(_Strict):
    """BOIN12 / TITE-BOIN12 (Lin et al. 2020): ``efficacy_floor`` φ_E (lowest acceptable
    response rate), utilities of (response without DLT, neither, both, DLT without response),
    N* (``n_star``), the exploration threshold ``n_explore``, the cut-offs c_T and c_E and the
    efficacy assessment window (default: the DLT window)."""

    efficacy_floor: OpenUnit = 0.25
    utilities: list[float] = Field(default=[100.0, 40.0, 60.0, 0.0], min_length=4, max_length=4)
    n_star: int = Field(default=6, ge=1)
    n_explore: int = Field(default=9, ge=1)
    cutoff_tox: OpenUnit = 0.95
    cutoff_eff: OpenUnit = 0.9
    efficacy_window_days: float | None = Field(default=None, gt=0)


class BlrmPriorParams(_Strict):
    """Bivariate normal prior on (log alpha, log beta) of the BLRM (Neuenschwander et al. 2008)."""

    mean_log_alpha: float = -0.6931471805599453
    mean_log_beta: float = 0.0
    sd_log_alpha: float = Field(default=2.0, gt=0)
    sd_log_beta: float = Field(default=1.0, gt=0)
    corr: float = Field(default=0.0, gt=-1, lt=1)


class BlrmParams(_Strict):
    """BLRM with overdose control: the reference dose d* in the escalated drug's daily amount
    (e.g. mg/day), the prior, the EWOC bound on Pr(over-dosing) and the escalation limits."""

    reference_dose: float = Field(gt=0)
    prior: BlrmPriorParams = Field(default_factory=BlrmPriorParams)
    ewoc: OpenUnit = 0.25
    max_step_ratio: float | None = Field(default=None, gt=1)

    @model_validator(mode="before")
    @classmethod
    def _skipping_is_a_behaviour(cls, data: object) -> object:
        """No-skipping is a behaviour of every design, ``phase1.dont_skip``: refused here."""
        if isinstance(data, dict) and "no_skip" in data:
            issues = _Issues()
            issues.add(
                ("no_skip",),
                "set phase1.dont_skip instead (no level skipped is a behaviour of every design)",
                data["no_skip"],
            )
            issues.raise_any("BlrmParams")
        return data


class StoppingParams(_Strict):
    """Stopping behaviours wrapping the design (R escalation's names; the CLI's
    ``--stop-at-n`` and ``--stop-when-n-at-dose``): stop once ``stop_at_n`` patients are
    treated, or once the recommended dose holds ``stop_when_n_at_dose`` patients."""

    stop_at_n: int | None = Field(default=None, ge=1)
    stop_when_n_at_dose: int | None = Field(default=None, ge=1)


class Scenario(_Strict):
    """A dose-toxicity scenario for simulation: the true DLT probability at each dose level
    and, for the toxicity-and-efficacy designs, the true response probability."""

    name: Text
    rationale: str | None = None
    dlt_probabilities: list[Probability] = Field(min_length=1)
    response_probabilities: list[Probability] | None = None

    @field_validator("dlt_probabilities")
    @classmethod
    def _non_decreasing(cls, probs: list[float]) -> list[float]:
        issues = _Issues()
        for i in range(1, len(probs)):
            if probs[i] < probs[i - 1]:
                issues.add(
                    (i,),
                    f"DLT probabilities must not decrease with dose ({probs[i]:g} after "
                    f"{probs[i - 1]:g})",
                    probs[i],
                )
        issues.raise_any("dlt_probabilities")
        return probs


class Signer(_Strict):
    """Who must e-sign a committee decision: ``count`` users of ``role`` (the application's
    roles: statistician, committee, investigator), described by ``title``."""

    role: Literal["statistician", "committee", "investigator"]
    count: int = Field(default=1, ge=1)
    title: str | None = None


def _default_signers() -> list[Signer]:
    return [
        Signer(role="statistician", title="trial statistician"),
        Signer(role="committee", title="committee member"),
        Signer(role="investigator", title="principal investigator on the committee"),
    ]


class Committee(_Strict):
    """The dose-escalation committee: the signatures that make its decision final (default:
    the statistician and two committee members, one of them a principal investigator)."""

    signers: list[Signer] = Field(default_factory=_default_signers, min_length=1)


class Phase1(_Strict):
    """The dose-escalation design and the scenarios to simulate it under.

    ``start_level`` is a dose-level label (not an index). ``accrual_per_month``, ``accrual``
    (``uniform`` or ``poisson`` inter-arrival times, for BF-BOIN and TITE-BOIN12) and
    ``dlt_late_fraction`` (share of DLTs in the second half of the window) feed the simulator of
    the time-to-event designs. ``backfill_cap`` is BF-BOIN's most patients a dose may hold.
    ``dont_skip``: escalation never skips a level (the ``--dont-skip`` behaviour; BOIN-type
    designs never do, a CRM with dfcrm's ``restrict`` neither; it constrains the BLRM);
    ``dont_skip_down`` also never de-escalates more than one level (``--dont-skip-down``; CRM).
    ``mtd_selection``: ``design`` (the design's own rule) or ``boin`` (BOIN's isotonic
    selection, ``BOIN::select.mtd``, for any toxicity design: the ``--mtd-selection`` behaviour).
    """

    design: DesignName
    target: OpenUnit
    cohort_size: int = Field(ge=1)
    max_patients: int = Field(ge=1)
    start_level: int
    boin: BoinParams = Field(default_factory=BoinParams)
    crm: CrmParams | None = None
    interval: IntervalParams = Field(default_factory=IntervalParams)
    boin12: Boin12Params = Field(default_factory=Boin12Params)
    blrm: BlrmParams | None = None
    backfill_cap: int = Field(default=12, ge=1)
    dont_skip: bool = False
    dont_skip_down: bool = False
    mtd_selection: Literal["design", "boin"] = "design"
    stopping: StoppingParams = Field(default_factory=StoppingParams)
    scenarios: list[Scenario] = Field(default_factory=list)
    accrual: Literal["uniform", "poisson"] | None = None
    accrual_per_month: float | None = Field(default=None, gt=0)
    dlt_late_fraction: OpenUnit | None = None
    committee: Committee = Field(default_factory=Committee)

    @model_validator(mode="after")
    def _consistent(self) -> Phase1:
        issues = _Issues()
        if self.max_patients < self.cohort_size:
            issues.add(
                ("max_patients",),
                f"must be at least cohort_size ({self.cohort_size}) (got {self.max_patients})",
                self.max_patients,
            )
        phi1 = self.boin.phi1 if self.boin.phi1 is not None else 0.6 * self.target
        phi2 = self.boin.phi2 if self.boin.phi2 is not None else min(1.4 * self.target, 0.99)
        self.boin = self.boin.model_copy(update={"phi1": phi1, "phi2": phi2})
        if not phi1 < self.target:
            issues.add(("boin", "phi1"), f"must be below the target {self.target:g} (got {phi1:g})")
        if not phi2 > self.target:
            issues.add(("boin", "phi2"), f"must be above the target {self.target:g} (got {phi2:g})")
        if self.design in ("crm", "tite-crm") and self.crm is None:
            issues.add(("crm",), f"a crm block with a skeleton is required by '{self.design}'")
        if self.design == "blrm" and self.blrm is None:
            issues.add(("blrm",), "a blrm block with a reference_dose is required by 'blrm'")
        for i, scen in enumerate(self.scenarios):
            resp = scen.response_probabilities
            if resp is not None and len(resp) != len(scen.dlt_probabilities):
                issues.add(
                    ("scenarios", i, "response_probabilities"),
                    f"{len(resp)} values for {len(scen.dlt_probabilities)} dose levels",
                )
        if self.target - self.interval.epsilon1 <= 0:
            issues.add(
                ("interval", "epsilon1"),
                f"target - epsilon1 must be above 0 (got {self.target - self.interval.epsilon1:g})",
            )
        if self.target + self.interval.epsilon2 >= 1:
            issues.add(
                ("interval", "epsilon2"),
                f"target + epsilon2 must be below 1 (got {self.target + self.interval.epsilon2:g})",
            )
        for i, first in _duplicates([s.name for s in self.scenarios]):
            issues.add(
                ("scenarios", i, "name"),
                f"duplicate scenario name (also scenarios[{first}])",
                self.scenarios[i].name,
            )
        issues.raise_any("Phase1")
        return self

    def scenario(self, name: str) -> Scenario:
        """The scenario called ``name`` (KeyError naming the known ones otherwise)."""
        for s in self.scenarios:
            if s.name == name:
                return s
        known = ", ".join(s.name for s in self.scenarios) or "none"
        raise KeyError(f"no scenario '{name}' (scenarios: {known})")


class Phase2(_Strict):
    """The expansion design: Simon's two-stage test of H0: p <= p0 against p >= p1.

    ``accrual_per_month`` is the planned accrual of the expansion (patients per month, all
    sites); with ``phase1.accrual_per_month`` and the two phases' sample sizes it draws the
    enrolment plan the application's dashboard compares enrolment with.
    """

    design: Literal["simon"]
    endpoint: Text = "ORR"
    p0: OpenUnit
    p1: OpenUnit
    alpha: OpenUnit
    power: OpenUnit
    criterion: Literal["optimal", "minimax"] = "optimal"
    accrual_per_month: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> Phase2:
        issues = _Issues()
        if not self.p0 < self.p1:
            issues.add(("p1",), f"must be above p0 ({self.p0:g}) (got {self.p1:g})", self.p1)
        if not self.power > self.alpha:
            issues.add(
                ("power",), f"must be above alpha ({self.alpha:g}) (got {self.power:g})", self.power
            )
        issues.raise_any("Phase2")
        return self


class Endpoint(_Strict):
    """A named endpoint and how it is defined and analysed."""

    name: Text
    definition: Text
    phase: Literal["I", "II", "I/II"] | None = None
    analysis: str | None = None


class Endpoints(_Strict):
    """Primary and secondary endpoints; names are unique across both lists."""

    primary: list[Endpoint] = Field(min_length=1)
    secondary: list[Endpoint] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> Endpoints:
        issues = _Issues()
        n_primary = len(self.primary)
        for i, first in _duplicates(self.names):
            loc = ("primary", i) if i < n_primary else ("secondary", i - n_primary)
            issues.add((*loc, "name"), f"duplicate endpoint name '{self.names[first]}'")
        issues.raise_any("Endpoints")
        return self

    @property
    def names(self) -> list[str]:
        """All endpoint names, primary first."""
        return [e.name for e in (*self.primary, *self.secondary)]


class Schedule(_Strict):
    """Visit schedule: treatment cycle, tumour assessments and follow-up.

    ``sd_minimum_days``: stable disease counts for best overall response only from this many
    days after the start (RECIST 1.1 section 4.4: a protocol-defined minimum, often 6 weeks
    less the visit window). ``response_criteria``: the criteria responses are read by when
    they are computed from lesion measurements (``recist1.1``, ``irecist``, ``mrecist``).
    """

    tumour_assessment_weeks: float = Field(gt=0)
    sd_minimum_days: int = Field(default=42, ge=0)
    response_criteria: Literal["recist1.1", "irecist", "mrecist"] = "recist1.1"
    followup_months: float = Field(gt=0)
    cycle_days: int | None = Field(default=None, gt=0)
    followup_until: list[Text] = Field(default_factory=list)


class AdverseEventModel(_Strict):
    """One adverse event of the virtual patients at the reference dose (donafenib 400 mg/day).

    ``any_grade`` and ``grade3plus`` are per-patient probabilities over treatment; TKI-driven
    events scale with the donafenib daily dose (``dose_exponent``), immune-mediated ones do not.
    """

    term: Text
    soc: Text
    any_grade: Probability
    grade3plus: Probability
    grade4plus: Probability = 0.0
    onset_days: float = Field(gt=0)
    dose_exponent: float = Field(default=0.7, ge=0)
    dlt_eligible: bool = True
    serious_fraction: Probability = 0.1


class VirtualTrial(_Strict):
    """Parameters of the virtual trial (synthetic patients of this protocol), with sources.

    Calibration targets are what published first-line PD-1 + TKI trials in advanced HCC show;
    the generator's parameters are tuned to meet them (see ``oncotrial.sim.patients``).
    ``orr_target`` is the confirmed ORR by RECIST 1.1 and ``mrecist_orr_target`` by mRECIST
    (viable tumour), which runs several points higher in HCC trials.
    """

    scenario: Text
    start_date: Text = "2024-03-04"
    sites: list[Text] = Field(min_length=1)
    accrual_per_month_phase1: float = Field(default=2.0, gt=0)
    accrual_per_month_phase2: float = Field(default=4.0, gt=0)
    age_median: float = Field(default=55, gt=18)
    age_sd: float = Field(default=10, gt=0)
    male_fraction: Probability = 0.85
    hbv_fraction: Probability = 0.8
    hcv_fraction: Probability = 0.05
    bclc_c_fraction: Probability = 0.7
    orr_target: Probability = 0.30
    mrecist_orr_target: Probability = 0.37
    pfs_median_months: float = Field(default=6.8, gt=0)
    os_median_months: float = Field(default=20.0, gt=0)
    os_weibull_shape: float = Field(default=0.8, gt=0)
    grade3_trae_target: Probability = 0.5
    ada_baseline_positive: Probability = 0.03
    ada_treatment_emergent: Probability = 0.10
    nab_fraction_of_ada: Probability = 0.15
    loss_to_followup_per_year: Probability = 0.04
    withdrawal_per_year: Probability = 0.03
    adverse_events: list[AdverseEventModel] = Field(min_length=1)


class PlausibleRangeSpec(_Strict):
    """A plausible range of one kind of value: ``low`` to ``high`` (inclusive; omitted:
    unbounded), and where it comes from (``source``, e.g. the eligibility criterion)."""

    low: float | None = None
    high: float | None = None
    source: Text

    @model_validator(mode="after")
    def _ordered(self) -> PlausibleRangeSpec:
        if self.low is not None and self.high is not None and self.low > self.high:
            issues = _Issues()
            issues.add(("high",), f"must not be below low ({self.low:g}) (got {self.high:g})")
            issues.raise_any("PlausibleRangeSpec")
        return self


class Plausibility(_Strict):
    """The protocol's plausible ranges of measured values (each replaces the documented default
    of :data:`oncotrial.cdisc.plausibility.DEFAULT_RANGES`; docs/data-checks.md): a value
    outside is refused at entry, on import and by ``derive`` with rule ``plausible_<name>``
    unless overridden with a reason."""

    age: PlausibleRangeSpec | None = None
    lesion_diameter: PlausibleRangeSpec | None = None
    dose: PlausibleRangeSpec | None = None
    titre: PlausibleRangeSpec | None = None

    def ranges(self) -> CdiscPlausibility:
        """The ranges the checks use: these, and the defaults for the others."""
        given = {
            name: (spec.low, spec.high, spec.source)
            for name, spec in (
                ("age", self.age),
                ("lesion_diameter", self.lesion_diameter),
                ("dose", self.dose),
                ("titre", self.titre),
            )
            if spec is not None
        }
        return DEFAULT_PLAUSIBILITY.with_ranges(given, "protocol (plausibility block)")


class Criterion(_Strict):
    """One eligibility criterion as the screening form asks it ("met?" yes/no); ``id`` is the
    SDTM ``IETESTCD`` (at most 8 characters)."""

    id: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9]{0,7}$")]
    text: Text


class Eligibility(_Strict):
    """The protocol's inclusion and exclusion criteria (SDTM IE: ``IECAT`` INCLUSION /
    EXCLUSION)."""

    inclusion: list[Criterion] = Field(min_length=1)
    exclusion: list[Criterion] = Field(default_factory=list)


# the seamless phase I/II block builds on the models above
from oncotrial.protocol.seamless import Seamless, check_seamless  # noqa: E402


class Protocol(_Strict):
    """An early-phase (I/II) oncology protocol.

    Dose levels are listed from lowest to highest dose; their labels (``level_labels``) are what
    the protocol calls them, and ``start_index`` is the 0-based position the designs use.
    """

    study: Study
    drugs: list[Drug] = Field(min_length=1)
    dose_levels: list[DoseLevel] = Field(min_length=1)
    dlt: DltDefinition
    phase1: Phase1
    phase2: Phase2 | None = None
    seamless: Seamless | None = None
    endpoints: Endpoints
    schedule: Schedule
    virtual_trial: VirtualTrial | None = None
    plausibility: Plausibility | None = None
    eligibility: Eligibility | None = None
    assumptions: list[Text] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Protocol:
        issues = _Issues()
        self._check_drugs(issues)
        self._check_levels(issues)
        self._check_phase1(issues)
        check_seamless(self, issues)
        if self.phase2 is not None and self.phase2.endpoint not in self.endpoints.names:
            issues.add(
                ("phase2", "endpoint"),
                f"'{self.phase2.endpoint}' is not one of the endpoints "
                f"({', '.join(self.endpoints.names)})",
                self.phase2.endpoint,
            )
        issues.raise_any("Protocol")
        return self

    def _check_drugs(self, issues: _Issues) -> None:
        for i, first in _duplicates([d.name for d in self.drugs]):
            issues.add(
                ("drugs", i, "name"),
                f"duplicate drug name (also drugs[{first}])",
                self.drugs[i].name,
            )
        if not self.escalated_drugs:
            issues.add(("drugs",), "no drug has role 'escalated', so there is nothing to escalate")

    def _check_levels(self, issues: _Issues) -> None:
        drugs = {d.name: d for d in self.drugs}
        seen: dict[int, int] = {}
        complete = True
        for i, level in enumerate(self.dose_levels):
            if level.level in seen:
                issues.add(
                    ("dose_levels", i, "level"),
                    f"duplicate level label {level.level} (also dose_levels[{seen[level.level]}])",
                    level.level,
                )
            elif i > 0 and level.level < self.dose_levels[i - 1].level:
                issues.add(
                    ("dose_levels", i, "level"),
                    "labels must increase along the list, lowest dose first "
                    f"({level.level} after {self.dose_levels[i - 1].level})",
                    level.level,
                )
            seen.setdefault(level.level, i)
            for name in drugs.keys() - level.doses.keys():
                complete = False
                issues.add(("dose_levels", i, "doses"), f"no dose for drug '{name}'")
            for name, dose in level.doses.items():
                drug = drugs.get(name)
                if drug is None:
                    complete = False
                    issues.add(
                        ("dose_levels", i, "doses", name),
                        f"unknown drug '{name}' (drugs: {', '.join(drugs)})",
                    )
                elif drug.fixed_dose is not None and dose != drug.fixed_dose:
                    issues.add(
                        ("dose_levels", i, "doses", name),
                        f"{name} is fixed at {drug.fixed_dose} (got {dose})",
                    )
        for drug in self.escalated_drugs:
            unit = self.dose_levels[0].doses.get(drug.name)
            for i, level in enumerate(self.dose_levels):
                dose = level.doses.get(drug.name)
                if dose is not None and unit is not None and dose.unit != unit.unit:
                    complete = False
                    issues.add(
                        ("dose_levels", i, "doses", drug.name, "unit"),
                        f"{drug.name} must use one unit at every level ('{unit.unit}' at the "
                        f"lowest level; got '{dose.unit}')",
                        dose.unit,
                    )
        if complete:
            self._check_dose_order(issues)

    def _check_dose_order(self, issues: _Issues) -> None:
        escalated = [d.name for d in self.escalated_drugs]
        for i in range(1, len(self.dose_levels)):
            before, here = self.dose_levels[i - 1], self.dose_levels[i]
            change = {
                n: here.doses[n].daily_amount - before.doses[n].daily_amount for n in escalated
            }
            fell = [n for n, delta in change.items() if delta < 0]
            rose = any(delta > 0 for delta in change.values())
            for name in fell:
                a, b = before.doses[name], here.doses[name]
                issues.add(
                    ("dose_levels", i, "doses", name),
                    "dose levels must be listed in increasing dose: "
                    f"{name} {b} ({b.daily_amount:g} {b.unit}/day) is below {a} "
                    f"({a.daily_amount:g} {a.unit}/day) of level {before.level}",
                )
            if not fell and not rose:
                issues.add(
                    ("dose_levels", i, "doses"),
                    "dose levels must be listed in strictly increasing dose: no escalated drug's "
                    f"daily dose rises over level {before.level}",
                )

    def _check_phase1(self, issues: _Issues) -> None:
        labels = self.level_labels
        shown = ", ".join(str(label) for label in labels)
        if self.phase1.start_level not in labels:
            issues.add(
                ("phase1", "start_level"),
                f"level {self.phase1.start_level} is not a defined dose level (levels: {shown})",
                self.phase1.start_level,
            )
        for i, scenario in enumerate(self.phase1.scenarios):
            got = len(scenario.dlt_probabilities)
            if got != self.n_doses:
                issues.add(
                    ("phase1", "scenarios", i, "dlt_probabilities"),
                    f"needs one probability per dose level ({self.n_doses}: {shown}) (got {got})",
                )
        if self.phase1.crm is not None and len(self.phase1.crm.skeleton) != self.n_doses:
            issues.add(
                ("phase1", "crm", "skeleton"),
                f"needs one value per dose level ({self.n_doses}: {shown}) "
                f"(got {len(self.phase1.crm.skeleton)})",
            )

    @property
    def level_labels(self) -> list[int]:
        """Dose-level labels in dose order, e.g. ``[-1, 1, 2, 3]``."""
        return [level.level for level in self.dose_levels]

    @property
    def n_doses(self) -> int:
        """Number of dose levels."""
        return len(self.dose_levels)

    @property
    def start_index(self) -> int:
        """0-based index of the starting dose level."""
        return self.level_index(self.phase1.start_level)

    @property
    def escalated_drugs(self) -> list[Drug]:
        """The drugs whose dose changes between levels."""
        return [d for d in self.drugs if d.role == "escalated"]

    def level_index(self, label: int) -> int:
        """0-based index of the dose level labelled ``label``."""
        try:
            return self.level_labels.index(label)
        except ValueError:
            raise KeyError(f"no dose level {label} (levels: {self.level_labels})") from None

    def drug(self, name: str) -> Drug:
        """The drug called ``name``."""
        for d in self.drugs:
            if d.name == name:
                return d
        raise KeyError(f"no drug '{name}' (drugs: {', '.join(d.name for d in self.drugs)})")
