"""The rules of RECIST 1.1 and its variants as small pure functions and data.

References (section numbers are those of the papers):

- RECIST 1.1: Eisenhauer EA et al. Eur J Cancer 2009;45:228-47.
- iRECIST: Seymour L et al. Lancet Oncol 2017;18:e143-52.
- mRECIST for HCC: Lencioni R, Llovet JM. Semin Liver Dis 2010;30:52-60.

A :class:`Criteria` holds every number a rule uses, so iRECIST and mRECIST are the same engine
with different parameters, not copies of it.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

#: Tolerance (mm) for threshold comparisons: 100 → 70 mm is a 30 % decrease although
#: ``0.3 * 100`` is 30.000000000000004 in binary floating point.
EPS = 1e-6

TARGET_TERMS = ("CR", "PR", "SD", "PD", "NE")
NONTARGET_TERMS = ("CR", "NON-CR/NON-PD", "PD", "NE")
NEW_TERMS = ("N", "Y")


@dataclass(frozen=True)
class Criteria:
    """The parameters of one response-criteria variant (all lengths in mm)."""

    key: str
    name: str
    #: §3.3.1: at most five target lesions in total and two per organ.
    max_targets: int = 5
    max_targets_per_organ: int = 2
    #: §3.1.1: a non-nodal lesion is measurable at ≥ 10 mm longest diameter (CT/MRI/calipers),
    #: ≥ 20 mm on chest X-ray.
    measurable_min_mm: float = 10.0
    xray_measurable_min_mm: float = 20.0
    #: §3.1.1: a node is a measurable (target) lesion at ≥ 15 mm short axis; 10 to < 15 mm is
    #: pathological but non-target; < 10 mm is normal (and counts as "disappeared" for CR).
    node_target_min_mm: float = 15.0
    node_normal_below_mm: float = 10.0
    #: §4.3.1: PR is a ≥ 30 % decrease from the baseline sum; PD is a ≥ 20 % increase over the
    #: nadir that is also ≥ 5 mm in absolute terms.
    pr_decrease: float = 0.30
    pd_increase: float = 0.20
    pd_min_increase_mm: float = 5.0
    #: §4.3.1 (lesions that become too small to measure): 5 mm by default.
    too_small_default_mm: float = 5.0
    #: iRECIST: progression is unconfirmed (iUPD) until confirmed (iCPD) by the next
    #: assessment 4-8 weeks later; a further ≥ 5 mm in a sum confirms it.
    immune: bool = False
    confirm_min_days: int = 28
    confirm_max_days: int = 56
    confirm_increase_mm: float = 5.0
    #: mRECIST: intrahepatic target lesions are measured by their viable (arterially
    #: enhancing) diameter, recorded under one of ``viable_testcds``.
    viable_tumour: bool = False
    viable_testcds: tuple[str, ...] = ("VLDIAM",)
    #: mRECIST: a porta hepatis node is malignant (eligible as target) at ≥ 20 mm short axis.
    porta_hepatis_node_min_mm: float | None = None
    #: mRECIST: a new or growing pleural effusion / ascites is PD only when cytology proves it
    #: neoplastic.
    effusion_needs_cytology: bool = False
    #: mRECIST: a new liver nodule is HCC when ≥ 10 mm with the typical vascular pattern, or
    #: when an atypical nodule grows by ≥ 10 mm between scans.
    new_liver_lesion_min_mm: float | None = None
    new_liver_growth_mm: float | None = None

    def term(self, recist_term: str) -> str:
        """The name of a RECIST 1.1 response in this criteria's vocabulary (iCR, iPR … under
        iRECIST; PD becomes iUPD, confirmation is decided elsewhere)."""
        if not self.immune or recist_term in ("", "NE", "NED"):
            return recist_term
        return IRECIST_TERMS.get(recist_term, recist_term)


IRECIST_TERMS = MappingProxyType(
    {
        "CR": "iCR",
        "PR": "iPR",
        "SD": "iSD",
        "PD": "iUPD",
        "NON-CR/NON-PD": "NON-iCR/NON-iUPD",
    }
)

RECIST11 = Criteria(key="recist1.1", name="RECIST 1.1")
IRECIST = Criteria(key="irecist", name="iRECIST", immune=True)
MRECIST = Criteria(
    key="mrecist",
    name="mRECIST",
    pd_min_increase_mm=0.0,
    viable_tumour=True,
    porta_hepatis_node_min_mm=20.0,
    effusion_needs_cytology=True,
    new_liver_lesion_min_mm=10.0,
    new_liver_growth_mm=10.0,
)

_BY_KEY = {c.key: c for c in (RECIST11, IRECIST, MRECIST)}


def get_criteria(criteria: str | Criteria) -> Criteria:
    """A :class:`Criteria` from itself or its key (``recist1.1``, ``irecist``, ``mrecist``;
    case, spaces and dashes ignored)."""
    if isinstance(criteria, Criteria):
        return criteria
    key = str(criteria).lower().replace(" ", "").replace("-", "").replace("_", "")
    key = {"recist11": "recist1.1", "recist": "recist1.1"}.get(key, key)
    if key not in _BY_KEY:
        raise ValueError(
            f"unknown response criteria {criteria!r}; expected one of {sorted(_BY_KEY)}"
        )
    return _BY_KEY[key]


# --------------------------------------------------------------------------------------------
# Tables 1 and 2 of RECIST 1.1 (§4.4.1), as data. "*" is the guideline's "Any".

_ANY = "*"
_NON_PD_OR_NE = ("CR", "NON-CR/NON-PD", "NE")

#: RECIST 1.1 Table 1 — patients with target (± non-target) disease:
#: (target, non-target, new lesions) → overall response.
TABLE1_ROWS: tuple[tuple[object, object, object, str], ...] = (
    ("CR", "CR", "N", "CR"),
    ("CR", "NON-CR/NON-PD", "N", "PR"),
    ("CR", "NE", "N", "PR"),
    ("PR", _NON_PD_OR_NE, "N", "PR"),
    ("SD", _NON_PD_OR_NE, "N", "SD"),
    ("NE", _NON_PD_OR_NE, "N", "NE"),
    ("PD", _ANY, _ANY, "PD"),
    (_ANY, "PD", _ANY, "PD"),
    (_ANY, _ANY, "Y", "PD"),
)

#: RECIST 1.1 Table 2 — patients with non-target disease only:
#: (non-target, new lesions) → overall response.
TABLE2_ROWS: tuple[tuple[object, object, str], ...] = (
    ("CR", "N", "CR"),
    ("NON-CR/NON-PD", "N", "NON-CR/NON-PD"),
    ("NE", "N", "NE"),
    ("PD", _ANY, "PD"),
    (_ANY, "Y", "PD"),
)


def _expand(
    rows: Sequence[tuple[object, ...]], axes: Sequence[Sequence[str]]
) -> Mapping[tuple[str, ...], str]:
    """Every cell of a guideline table: wildcard rows expanded; overlapping rows must agree and
    every combination must be covered (checked when the module is imported)."""
    table: dict[tuple[str, ...], str] = {}
    for *keys, result in rows:
        choices = [
            axis if key == _ANY else (key if isinstance(key, tuple) else (key,))
            for key, axis in zip(keys, axes, strict=True)
        ]
        for cell in itertools.product(*choices):
            if table.setdefault(cell, str(result)) != result:
                raise AssertionError(f"table rows disagree at {cell}")
    missing = set(itertools.product(*axes)) - set(table)
    if missing:
        raise AssertionError(f"table misses {sorted(missing)}")
    return MappingProxyType(table)


TABLE1 = _expand(TABLE1_ROWS, (TARGET_TERMS, NONTARGET_TERMS, NEW_TERMS))
TABLE2 = _expand(TABLE2_ROWS, (NONTARGET_TERMS, NEW_TERMS))


def overall_response(target: str | None, nontarget: str | None, new_lesion: bool) -> str:
    """Time-point response by RECIST 1.1 Table 1 (target disease) or Table 2 (non-target disease
    only), §4.4.1. ``None`` means no such disease at baseline: without non-target disease Table 1
    is read with non-target "CR" (nothing left to disappear); without any disease the answer is
    ``NED`` unless a new lesion appears (PD)."""
    new = "Y" if new_lesion else "N"
    if target is None and nontarget is None:
        return "PD" if new_lesion else "NED"
    if target is None:
        return TABLE2[(str(nontarget), new)]
    return TABLE1[(target, nontarget or "CR", new)]


# --------------------------------------------------------------------------------------------
# Target lesions (§4.3.1)


def is_progression(total: float, nadir: float, criteria: Criteria) -> bool:
    """PD of a sum of diameters (§4.3.1): at least ``pd_increase`` (20 %) above the nadir and at
    least ``pd_min_increase_mm`` (5 mm) more in absolute terms; any increase from a nadir of 0."""
    increase = total - nadir
    return (
        increase > EPS
        and increase >= criteria.pd_increase * nadir - EPS
        and increase >= criteria.pd_min_increase_mm - EPS
    )


def is_partial_response(total: float, baseline: float, criteria: Criteria) -> bool:
    """PR of a sum (§4.3.1): at least ``pr_decrease`` (30 %) below the baseline sum."""
    return baseline > 0 and baseline - total >= criteria.pr_decrease * baseline - EPS


@dataclass(frozen=True)
class TargetResult:
    """Target response at one time point: ``total`` is the sum when every target lesion was
    assessed, ``assessed_sum`` the sum of those that were."""

    response: str
    total: float | None
    assessed_sum: float
    reason: str


def target_response(
    values: Sequence[float | None],
    nodal: Sequence[bool],
    baseline_sum: float,
    nadir_sum: float,
    criteria: Criteria,
) -> TargetResult:
    """Target response at one time point (§4.3.1, §4.4.1 notes).

    ``values`` are the per-lesion diameters (short axis for nodes), ``None`` when a lesion was
    not assessed. CR: every non-nodal lesion gone and every node < 10 mm short axis (nodes
    below 10 mm are normal, so CR is tested before PD). PD: see :func:`is_progression`, against
    the nadir (smallest earlier sum, baseline included). PR: see :func:`is_partial_response`.
    When a lesion was not assessed the response is NE unless the assessed lesions alone already
    show PD (a missing lesion can only add to the sum).
    """
    assessed = float(sum(v for v in values if v is not None))
    missing = sum(v is None for v in values)
    if missing:
        if is_progression(assessed, nadir_sum, criteria):
            return TargetResult(
                "PD",
                None,
                assessed,
                f"{missing} target lesion(s) not assessed, but the assessed ones already sum "
                f"to {assessed:g} mm, PD against nadir {nadir_sum:g} mm",
            )
        return TargetResult(
            "NE", None, assessed, f"{missing} target lesion(s) not assessed, no PD shown"
        )
    gone = all(
        v < criteria.node_normal_below_mm - EPS if is_node else v <= EPS
        for v, is_node in zip(values, nodal, strict=True)
        if v is not None
    )
    if gone:
        return TargetResult(
            "CR",
            assessed,
            assessed,
            f"all non-nodal target lesions gone and nodes < {criteria.node_normal_below_mm:g} mm",
        )
    if is_progression(assessed, nadir_sum, criteria):
        return TargetResult(
            "PD",
            assessed,
            assessed,
            f"sum {assessed:g} mm is {assessed - nadir_sum:+g} mm "
            f"({_pct(assessed, nadir_sum)}) from nadir {nadir_sum:g} mm",
        )
    if is_partial_response(assessed, baseline_sum, criteria):
        return TargetResult(
            "PR",
            assessed,
            assessed,
            f"sum {assessed:g} mm is {_pct(assessed, baseline_sum)} from baseline "
            f"{baseline_sum:g} mm",
        )
    return TargetResult(
        "SD",
        assessed,
        assessed,
        f"sum {assessed:g} mm: {_pct(assessed, baseline_sum)} from baseline {baseline_sum:g} mm, "
        f"{assessed - nadir_sum:+g} mm from nadir {nadir_sum:g} mm",
    )


def _pct(value: float, reference: float) -> str:
    if reference <= 0:
        return "n/a %"
    return f"{100.0 * (value - reference) / reference:+.1f} %"


# --------------------------------------------------------------------------------------------
# Non-target lesions (§4.3.2)

#: Per-lesion non-target states after reading TUMSTATE/LNSTATE.
NT_ABSENT, NT_PRESENT, NT_PROGRESSION, NT_NOT_ASSESSED = "ABSENT", "PRESENT", "PD", "NE"


def nontarget_response(states: Sequence[str]) -> str:
    """Non-target response (§4.3.2): PD on unequivocal progression of any non-target lesion; NE
    when one was not assessed (and none progressed); CR when all are gone (nodes < 10 mm);
    otherwise NON-CR/NON-PD."""
    if any(s == NT_PROGRESSION for s in states):
        return "PD"
    if any(s == NT_NOT_ASSESSED for s in states):
        return "NE"
    if all(s == NT_ABSENT for s in states):
        return "CR"
    return "NON-CR/NON-PD"
