"""The investigator's baseline selection checked against RECIST 1.1 (Eisenhauer et al. 2009,
§3.1 measurability and §3.3.1 target selection), with the mRECIST threshold for porta hepatis
nodes: findings to report beside the responses, never errors that stop them."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from oncotrial.derive.recist_input import Lesion
from oncotrial.derive.recist_rules import EPS, Criteria

FindingSink = Callable[..., None]
"""Receives one finding: (lnkid, check, section, message, dataset="", row=None)."""


def check_selection(
    criteria: Criteria,
    targets: list[Lesion],
    nontargets: list[Lesion],
    values: Mapping[str, float | None],
    finding: FindingSink,
) -> None:
    """Validate the investigator's baseline selection (§3.1, §3.3.1): each rule the
    selection breaks is passed to ``finding`` (lesion ids, check, section, message, dataset,
    row) — reported, never raised."""
    c = criteria
    tu = "TU"
    if len(targets) > c.max_targets:
        finding(
            "",
            "TOO_MANY_TARGETS",
            "RECIST 1.1 §3.3.1",
            f"{len(targets)} target lesions; at most {c.max_targets} are allowed",
        )
    organs: dict[str, list[str]] = {}
    for t in targets:
        organs.setdefault(t.organ, []).append(t.lnkid)
    for organ, ids in organs.items():
        if len(ids) > c.max_targets_per_organ:
            finding(
                ",".join(ids),
                "TOO_MANY_PER_ORGAN",
                "RECIST 1.1 §3.3.1",
                f"{len(ids)} target lesions in {organ} ({', '.join(ids)}); at most "
                f"{c.max_targets_per_organ} per organ (all lymph nodes are one organ)",
            )
    for t in targets:
        value = values.get(t.lnkid)
        if value is None:
            finding(
                t.lnkid,
                "TARGET_NOT_MEASURED",
                "RECIST 1.1 §3.3.1",
                f"target lesion {t.lnkid} has no baseline measurement",
                tu,
                t.row,
            )
            continue
        if t.nodal:
            minimum = c.node_target_min_mm
            if c.porta_hepatis_node_min_mm is not None and t.porta_hepatis:
                minimum = c.porta_hepatis_node_min_mm
            if value < minimum - EPS:
                kind = (
                    "normal"
                    if value < c.node_normal_below_mm - EPS
                    else "pathological but non-target"
                )
                finding(
                    t.lnkid,
                    "NODE_TOO_SMALL_FOR_TARGET",
                    "mRECIST (porta hepatis nodes)"
                    if minimum != c.node_target_min_mm
                    else "RECIST 1.1 §3.1.1",
                    f"target node {t.lnkid} is {value:g} mm short axis, below "
                    f"{minimum:g} mm ({kind})",
                    tu,
                    t.row,
                )
        else:
            minimum = c.xray_measurable_min_mm if t.xray else c.measurable_min_mm
            if value < minimum - EPS:
                finding(
                    t.lnkid,
                    "TARGET_NOT_MEASURABLE",
                    "RECIST 1.1 §3.1.1",
                    f"target lesion {t.lnkid} is {value:g} mm, below the {minimum:g} mm "
                    "needed to be measurable",
                    tu,
                    t.row,
                )
        if "BONE" in t.loc.upper():
            finding(
                t.lnkid,
                "BONE_TARGET",
                "RECIST 1.1 §3.1.2",
                f"bone lesion {t.lnkid} chosen as target: measurable only through a "
                "soft-tissue component ≥ 10 mm (check the images)",
                tu,
                t.row,
            )
    for nt in nontargets:
        value = values.get(nt.lnkid)
        if nt.nodal and value is not None and value < c.node_normal_below_mm - EPS:
            finding(
                nt.lnkid,
                "NORMAL_NODE_RECORDED",
                "RECIST 1.1 §3.1.1",
                f"non-target node {nt.lnkid} is {value:g} mm short axis: a normal node, "
                "not disease",
                tu,
                nt.row,
            )
    known = [values[t.lnkid] for t in targets]
    if targets and all(v is not None for v in known) and sum(known) <= EPS:
        finding(
            "",
            "BASELINE_SUM_ZERO",
            "RECIST 1.1 §3.3.1",
            "the baseline sum of diameters is 0 mm",
        )
