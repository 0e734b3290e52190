"""iRECIST's confirmation of progression (Seymour et al., Lancet Oncol 2017;18:e143): the
state carried from one time point to the next — an unconfirmed progression (iUPD) waiting for
confirmation, its triggers and reference sums, the new lesions seen — and the rules that
confirm it (iCPD), keep it open or reset it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from oncotrial.derive.recist_rules import (
    EPS,
    Criteria,
    TargetResult,
    is_progression,
    overall_response,
)

if TYPE_CHECKING:
    from oncotrial.derive.recist_engine import NewLesionView


@dataclass
class Episode:
    """An unconfirmed progression (iUPD) waiting for confirmation."""

    start: date | None
    triggers: frozenset[str]
    target_ref: float | None
    nlt_ref: float | None
    new_ids: frozenset[str]


class ImmuneState:
    """iRECIST (Seymour 2017): PD is unconfirmed (iUPD) until the next assessment, 4-8 weeks
    later, confirms it (iCPD) by further growth (≥ 5 mm in a sum, any non-target increase),
    additional new lesions, or progression in a category not yet progressing; a later
    iSD/iPR/iCR resets the bar; otherwise iUPD stands."""

    def __init__(self, criteria: Criteria) -> None:
        self.c = criteria
        self.episode: Episode | None = None
        self.confirmed = False
        self.seen_new: set[str] = set()
        self.nlt_nadir: float | None = None

    def step(
        self,
        adt: date | None,
        target: TargetResult | None,
        nontarget: str | None,
        nontarget_grew: bool,
        new: NewLesionView,
    ) -> tuple[str, str, str, str]:
        c = self.c
        additional = new.unequivocal - self.seen_new
        nlt_pd = (
            new.nlt_sum is not None
            and self.nlt_nadir is not None
            and is_progression(new.nlt_sum, self.nlt_nadir, c)
        )
        new_trigger = bool(additional) or nlt_pd or new.grew
        tgt = None if target is None else target.response
        table = overall_response(tgt, nontarget, new_trigger)
        tsum = None
        if target is not None:
            tsum = target.total if target.total is not None else target.assessed_sum
        trg = "" if tgt is None else c.term(tgt)
        ntrg = "" if nontarget is None else c.term(nontarget)
        if self.confirmed:
            if table == "PD":
                ovr, note = "iCPD", "progression after confirmed progression (iCPD)"
                trg = "iCPD" if tgt == "PD" else trg
                ntrg = "iCPD" if nontarget == "PD" else ntrg
            else:
                ovr, note = c.term(table), f"after iCPD: {c.term(table)}"
        elif self.episode is not None:
            ovr, trg, ntrg, note = self._follow_episode(
                adt, target, tsum, nontarget, nontarget_grew, new, table, trg, ntrg
            )
        elif table == "PD":
            triggers = {
                name
                for name, hit in (
                    ("target", tgt == "PD"),
                    ("non-target", nontarget == "PD"),
                    ("new lesions", new_trigger),
                )
                if hit
            }
            self.episode = Episode(
                adt, frozenset(triggers), tsum, new.nlt_sum, frozenset(new.unequivocal)
            )
            ovr = "iUPD"
            note = f"iUPD ({', '.join(sorted(triggers))}): needs confirmation in 4-8 weeks"
        else:
            ovr, note = c.term(table), f"→ {c.term(table)}"
        self.seen_new |= new.unequivocal
        if new.nlt_sum is not None:
            self.nlt_nadir = (
                new.nlt_sum if self.nlt_nadir is None else min(self.nlt_nadir, new.nlt_sum)
            )
        return trg, ntrg, ovr, note

    def _follow_episode(
        self,
        adt: date | None,
        target: TargetResult | None,
        tsum: float | None,
        nontarget: str | None,
        nontarget_grew: bool,
        new: NewLesionView,
        table: str,
        trg: str,
        ntrg: str,
    ) -> tuple[str, str, str, str]:
        c = self.c
        ep = self.episode
        assert ep is not None
        tgt = None if target is None else target.response
        days = None if adt is None or ep.start is None else (adt - ep.start).days
        reasons: list[str] = []
        by_target = by_nontarget = False
        if days is None or days >= c.confirm_min_days:
            if "target" in ep.triggers:
                if (
                    tsum is not None
                    and ep.target_ref is not None
                    and (tsum - ep.target_ref >= c.confirm_increase_mm - EPS)
                ):
                    reasons.append(f"target sum {tsum - ep.target_ref:+g} mm since iUPD")
                    by_target = True
            elif tgt == "PD":
                reasons.append("target lesions now meet PD")
                by_target = True
            if "non-target" in ep.triggers:
                if nontarget_grew:
                    reasons.append("further non-target increase")
                    by_nontarget = True
            elif nontarget == "PD":
                reasons.append("non-target unequivocal progression")
                by_nontarget = True
            extra = new.unequivocal - ep.new_ids
            if extra:
                reasons.append(f"additional new lesion(s) {', '.join(sorted(extra))}")
            if (
                new.nlt_sum is not None
                and ep.nlt_ref is not None
                and (new.nlt_sum - ep.nlt_ref >= c.confirm_increase_mm - EPS)
            ):
                reasons.append(f"new target lesions {new.nlt_sum - ep.nlt_ref:+g} mm")
            if new.grew:
                reasons.append("new non-target lesion increased")
        if reasons:
            self.episode = None
            self.confirmed = True
            late = (
                f" (confirmation {days} days after iUPD, later than {c.confirm_max_days})"
                if days is not None and days > c.confirm_max_days
                else ""
            )
            if by_target:
                trg = "iCPD"
            elif tgt == "PD":
                trg = "iUPD"
            if by_nontarget:
                ntrg = "iCPD"
            elif nontarget == "PD":
                ntrg = "iUPD"
            return "iCPD", trg, ntrg, f"iCPD: {'; '.join(reasons)}{late}"
        waiting = (
            f"only {days} days after iUPD (< {c.confirm_min_days}): cannot confirm; "
            if days is not None and days < c.confirm_min_days
            else ""
        )
        if table == "NE":
            return "NE", trg, ntrg, f"{waiting}NE, iUPD still unconfirmed"
        if table == "PD":
            return "iUPD", trg, ntrg, f"{waiting}iUPD not confirmed and not reset: remains iUPD"
        lingering = "new lesions" in ep.triggers and bool(new.unequivocal & ep.new_ids)
        if lingering and not (
            tsum is not None and ep.target_ref is not None and tsum < ep.target_ref - EPS
        ):
            return (
                "iUPD",
                trg,
                ntrg,
                (f"{waiting}new lesions persist without further shrinkage: remains iUPD"),
            )
        self.episode = None
        return c.term(table), trg, ntrg, f"{waiting}{c.term(table)}: iUPD not confirmed, bar reset"
