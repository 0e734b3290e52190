"""The time-point engine: one subject and evaluator at a time, from lesions and measurements
(read by :mod:`recist_input`) to target, non-target, new-lesion and overall responses by the
rules of :mod:`recist_rules`; the baseline selection is checked by :mod:`recist_selection` and
iRECIST's confirmation of progression is :mod:`recist_immune`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from oncotrial.derive.errors import DataError
from oncotrial.derive.recist_immune import ImmuneState
from oncotrial.derive.recist_input import Finding, Key, Lesion, Measurement
from oncotrial.derive.recist_rules import (
    EPS,
    NT_ABSENT,
    NT_NOT_ASSESSED,
    NT_PRESENT,
    NT_PROGRESSION,
    Criteria,
    TargetResult,
    nontarget_response,
    overall_response,
    target_response,
)
from oncotrial.derive.recist_selection import check_selection

_NT_ORDER = {NT_ABSENT: 0, NT_PRESENT: 1, NT_NOT_ASSESSED: 2, NT_PROGRESSION: 3}
_NT_STATE = {
    "ABSENT": NT_ABSENT,
    "NON-PATHOLOGICAL": NT_ABSENT,
    "NORMAL": NT_ABSENT,
    "PRESENT": NT_PRESENT,
    "PATHOLOGICAL": NT_PRESENT,
    "EQUIVOCAL": NT_PRESENT,
    "UNEQUIVOCAL": NT_PROGRESSION,
    "UNEQUIVOCAL PROGRESSION": NT_PROGRESSION,
}
#: New-lesion status at one time point: unequivocal, equivocal, absent, not assessed, or not
#: counted (mRECIST effusion without cytology).
NEW_U, NEW_E, NEW_A, NEW_NE, NEW_X = "U", "E", "A", "NE", "X"


@dataclass
class TimePoint:
    """All TR results of one assessment (a visit, or a date when there is no VISITNUM)."""

    key: tuple
    records: dict[str, dict[str, Measurement]] = field(default_factory=dict)

    @property
    def measurements(self) -> list[Measurement]:
        return [m for recs in self.records.values() for m in recs.values()]

    @property
    def adt(self) -> date | None:
        dates = [m.adt for m in self.measurements if m.adt is not None]
        return min(dates) if dates else None

    @property
    def dtc(self) -> str:
        dated = [m for m in self.measurements if m.adt is not None]
        return min(dated, key=lambda m: (m.adt, m.row)).dtc if dated else ""

    @property
    def visitnum(self) -> float | None:
        return self.key[1] if self.key[0] == "V" else None

    @property
    def visit(self) -> str:
        return next((m.visit for m in self.measurements if m.visit), "")


@dataclass
class NewLesionView:
    """New lesions at one time point."""

    unequivocal: set[str] = field(default_factory=set)
    equivocal: set[str] = field(default_factory=set)
    nlt_sum: float | None = None
    grew: bool = False
    notes: list[str] = field(default_factory=list)


@dataclass
class Row:
    """One output time point."""

    visitnum: float | None
    visit: str
    dtc: str
    adt: date | None
    base: float | None
    total: float | None
    nadir: float | None
    trgresp: str
    ntrgresp: str
    newlind: str
    newlprog: str
    ovrlresp: str
    reason: str


class SubjectEngine:
    """RECIST time points for one subject and evaluator."""

    def __init__(
        self,
        key: Key,
        lesions: dict[str, Lesion],
        measurements: list[Measurement],
        criteria: Criteria,
        cytology: set[str],
        findings: list[Finding],
        errors: list[DataError],
    ) -> None:
        self.key = key
        self.lesions = lesions
        self.criteria = criteria
        self.cytology = cytology
        self.findings = findings
        self.errors = errors
        self._errors_before = len(errors)
        self.targets = [v for v in lesions.values() if v.kind == "ident" and v.role == "T"]
        self.nontargets = [v for v in lesions.values() if v.kind == "ident" and v.role == "NT"]
        self.new = [v for v in lesions.values() if v.is_new]
        self.children: dict[str, list[Lesion]] = {}
        self.merged_into: dict[str, list[Lesion]] = {}
        for lesion in lesions.values():
            if lesion.kind == "split":
                self.children.setdefault(lesion.parents[0], []).append(lesion)
            elif lesion.kind == "merge":
                for part in lesion.parents:
                    self.merged_into.setdefault(part, []).append(lesion)
        self._noted: set[tuple[str, str]] = set()
        self.timepoints = self._timepoints(measurements)

    # ---------------------------------------------------------------------------- helpers

    def _error(self, message: str, m: Measurement | None, column: str) -> None:
        self.errors.append(
            DataError(
                message,
                dataset="TR",
                subject=self.key[0],
                row=None if m is None else m.row,
                column=column,
            )
        )

    def _finding(
        self,
        lnkid: str,
        check: str,
        section: str,
        message: str,
        dataset: str = "",
        row: int | None = None,
        once: str = "",
    ) -> None:
        if (lnkid, check + once) in self._noted:
            return
        self._noted.add((lnkid, check + once))
        self.findings.append(
            Finding(
                self.key[0], self.key[1], self.key[2], lnkid, check, section, message, dataset, row
            )
        )

    def _timepoints(self, measurements: list[Measurement]) -> list[TimePoint]:
        points: dict[tuple, TimePoint] = {}
        for m in measurements:
            if m.visitnum is not None:
                key: tuple = ("V", m.visitnum)
            elif m.adt is not None:
                key = ("D", m.adt.toordinal())
            else:
                self._error("neither VISITNUM nor TRDTC places this result in time", m, "TRDTC")
                continue
            tp = points.setdefault(key, TimePoint(key))
            recs = tp.records.setdefault(m.lnkid, {})
            previous = recs.get(m.kind)
            if previous is None:
                recs[m.kind] = m
            elif previous.same_result(m):
                self._finding(
                    m.lnkid,
                    "DUPLICATE_RECORD",
                    "data",
                    f"TR rows {previous.row} and {m.row} repeat the same {m.testcd} result of "
                    f"{m.lnkid} at one assessment; counted once",
                    "TR",
                    m.row,
                    once=str(key),
                )
            else:
                self._error(
                    f"duplicate {m.testcd} results for lesion {m.lnkid} at one assessment "
                    f"(TR row {previous.row} says {_show(previous)}, this row {_show(m)})",
                    m,
                    "TRLNKID",
                )
        ordered = list(points.values())
        if all(tp.key[0] == "V" for tp in ordered):
            ordered.sort(key=lambda tp: tp.key[1])
        else:
            ordered.sort(key=lambda tp: (tp.adt or date.max, tp.key[1]))
        return ordered

    # ----------------------------------------------------------------------- measurements

    def _diameter(self, lesion: Lesion, recs: dict[str, Measurement]) -> float | None:
        """A lesion's diameter at one time point, the right test for its kind: short axis for
        nodes (§3.2), viable diameter for intrahepatic lesions under mRECIST, else longest
        diameter; ``None`` when not assessed."""
        if lesion.nodal:
            order = ("short", "diam")
        elif self.criteria.viable_tumour and lesion.liver:
            order = ("viable", "long", "diam")
        else:
            order = ("long", "diam")
        for kind in order:
            m = recs.get(kind)
            if m is None:
                continue
            if kind != "viable" and order[0] == "viable":
                self._finding(
                    lesion.lnkid,
                    "VIABLE_DIAMETER_MISSING",
                    "mRECIST target lesions",
                    f"intrahepatic lesion {lesion.lnkid} has no viable-tumour diameter "
                    f"({', '.join(self.criteria.viable_testcds)}); its {m.testcd} was used",
                    "TR",
                    m.row,
                )
            return m.value if m.assessed else None
        state = recs.get("state")
        if state is not None:
            return 0.0 if state.assessed and _NT_STATE.get(state.state or "") == NT_ABSENT else None
        other = next(iter(recs.values()))
        wanted = (
            "short axis (LPERP, SAXIS or DIAMETER)"
            if lesion.nodal
            else ("longest diameter (LDIAM or DIAMETER)")
        )
        self._error(
            f"lesion {lesion.lnkid} at {lesion.loc or 'unknown location'} needs a {wanted}; "
            f"only {other.testcd} was given (RECIST 1.1 §3.2)",
            other,
            "TRTESTCD",
        )
        return None

    def _target_value(self, lesion: Lesion, tp: TimePoint) -> tuple[float | None, str]:
        """A target lesion's contribution to the sum (§4.3.1 notes): split lesions add their
        fragments; coalesced lesions give the merged diameter to the first and 0 to the rest."""
        own = tp.records.get(lesion.lnkid)
        fragments = [f for f in self.children.get(lesion.lnkid, []) if f.lnkid in tp.records]
        merged = [g for g in self.merged_into.get(lesion.lnkid, []) if g.lnkid in tp.records]
        sources = sum(bool(x) for x in (own, fragments, merged))
        if sources > 1 or len(merged) > 1:
            m = next(iter((own or tp.records[(fragments or merged)[0].lnkid]).values()))
            self._error(
                f"lesion {lesion.lnkid} is measured more than once at one assessment (whole, "
                "as split fragments and/or inside merged lesions)",
                m,
                "TRLNKID",
            )
            return None, ""
        if fragments:
            values = [self._diameter(f, tp.records[f.lnkid]) for f in fragments]
            if any(v is None for v in values):
                return None, ""
            total = float(sum(v for v in values if v is not None))
            names = "+".join(f.lnkid for f in fragments)
            return total, f"{lesion.lnkid} split: {names} = {total:g} mm"
        if merged:
            group = merged[0]
            value = self._diameter(group, tp.records[group.lnkid])
            if value is None:
                return None, ""
            if group.parents[0] == lesion.lnkid:
                return value, f"{group.lnkid} merged: {value:g} mm counted for {lesion.lnkid}"
            return 0.0, f"{lesion.lnkid} merged into {group.lnkid}: 0 mm"
        if own is None:
            return None, ""
        return self._diameter(lesion, own), ""

    def _nt_state(self, lesion: Lesion, recs: dict[str, Measurement] | None) -> tuple[str, str]:
        if not recs:
            return NT_NOT_ASSESSED, ""
        m = recs.get("state")
        if m is not None:
            state = _NT_STATE[m.state or ""] if m.assessed else NT_NOT_ASSESSED
        else:
            value = self._diameter(lesion, recs)
            if value is None:
                state = NT_NOT_ASSESSED
            elif lesion.nodal:
                normal = value < self.criteria.node_normal_below_mm - EPS
                state = NT_ABSENT if normal else NT_PRESENT
            else:
                state = NT_ABSENT if value <= EPS else NT_PRESENT
        if (
            state == NT_PROGRESSION
            and self.criteria.effusion_needs_cytology
            and lesion.effusion
            and lesion.lnkid not in self.cytology
        ):
            return NT_PRESENT, (
                f"{lesion.lnkid} ({lesion.loc}) increased but is not cytologically proven "
                "neoplastic: not PD (mRECIST)"
            )
        return state, ""

    def _nontarget_value(self, lesion: Lesion, tp: TimePoint) -> tuple[str, str]:
        fragments = [f for f in self.children.get(lesion.lnkid, []) if f.lnkid in tp.records]
        merged = [g for g in self.merged_into.get(lesion.lnkid, []) if g.lnkid in tp.records]
        if fragments:
            states = [self._nt_state(f, tp.records[f.lnkid]) for f in fragments]
            worst = max(states, key=lambda s: _NT_ORDER[s[0]])
            return worst
        if merged:
            group = merged[0]
            state, note = self._nt_state(group, tp.records[group.lnkid])
            if group.parents[0] == lesion.lnkid or state == NT_NOT_ASSESSED:
                return state, note
            return NT_ABSENT, ""
        return self._nt_state(lesion, tp.records.get(lesion.lnkid))

    # ------------------------------------------------------------------------- new lesions

    def _new_status(
        self, lesion: Lesion, recs: dict[str, Measurement] | None
    ) -> tuple[str | None, float | None, bool, str]:
        """(status, size, grew, note) of a new lesion at one time point (§4.3.3; mRECIST
        new-lesion rules for the liver, porta hepatis nodes and effusions)."""
        if not recs:
            return None, None, False, ""
        sized = {k: m for k, m in recs.items() if k != "state"}
        size = self._diameter(lesion, sized) if sized else None
        m = recs.get("state")
        grew = False
        if m is not None:
            if not m.assessed:
                status = NEW_NE
            elif m.state == "EQUIVOCAL":
                status = NEW_E
            elif _NT_STATE.get(m.state or "") == NT_ABSENT:
                status = NEW_A
            else:
                status = NEW_U
                grew = m.state == "UNEQUIVOCAL PROGRESSION"
        elif size is None:
            status = NEW_NE
        else:
            status = NEW_U if size > EPS else NEW_A
        c = self.criteria
        note = ""
        if (
            status in (NEW_U, NEW_E)
            and c.effusion_needs_cytology
            and lesion.effusion
            and lesion.lnkid not in self.cytology
        ):
            return (
                NEW_X,
                size,
                False,
                (
                    f"new {lesion.loc} {lesion.lnkid} not cytologically proven neoplastic: "
                    "not a new lesion (mRECIST)"
                ),
            )
        if status == NEW_U and size is not None:
            if (
                c.new_liver_lesion_min_mm is not None
                and lesion.liver
                and (size < c.new_liver_lesion_min_mm - EPS)
            ):
                status = NEW_E
                note = (
                    f"new liver nodule {lesion.lnkid} {size:g} mm < "
                    f"{c.new_liver_lesion_min_mm:g} mm: equivocal (mRECIST)"
                )
            if (
                c.porta_hepatis_node_min_mm is not None
                and lesion.porta_hepatis
                and (size < c.porta_hepatis_node_min_mm - EPS)
            ):
                status = NEW_E
                note = (
                    f"new porta hepatis node {lesion.lnkid} {size:g} mm < "
                    f"{c.porta_hepatis_node_min_mm:g} mm short axis: equivocal (mRECIST)"
                )
        return status, size, grew, note

    def _new_lesions(self, follow: list[TimePoint]) -> list[NewLesionView]:
        views = [NewLesionView() for _ in follow]
        c = self.criteria
        for lesion in self.new:
            has_tr = any(lesion.lnkid in tp.records for tp in follow)
            statuses: list[str | None] = []
            sizes: list[float | None] = []
            for i, tp in enumerate(follow):
                recs = tp.records.get(lesion.lnkid)
                status, size, grew, note = self._new_status(lesion, recs)
                if status is None and not has_tr and self._identified_at(lesion, tp):
                    status = NEW_U
                statuses.append(status)
                sizes.append(size)
                if grew:
                    views[i].grew = True
                if note:
                    views[i].notes.append(note)
            first_size = next((s for s in sizes if s is not None), None)
            if c.new_liver_growth_mm is not None and lesion.liver and first_size is not None:
                for i, size in enumerate(sizes):
                    if (
                        statuses[i] == NEW_E
                        and size is not None
                        and size - first_size >= c.new_liver_growth_mm - EPS
                    ):
                        statuses[i] = NEW_U
                        views[i].notes.append(
                            f"liver nodule {lesion.lnkid} grew {size - first_size:g} mm: "
                            "HCC (mRECIST)"
                        )
            self._backdate(lesion, follow, statuses, views)
            nlt = lesion.role == "NEWT" or (
                lesion.role == "NEW"
                and first_size is not None
                and self._measurable(lesion, first_size)
            )
            for i, status in enumerate(statuses):
                if status == NEW_U:
                    views[i].unequivocal.add(lesion.lnkid)
                elif status == NEW_E:
                    views[i].equivocal.add(lesion.lnkid)
                if nlt and status in (NEW_U, NEW_E, NEW_A) and sizes[i] is not None:
                    views[i].nlt_sum = (views[i].nlt_sum or 0.0) + float(sizes[i] or 0.0)
        return views

    def _backdate(
        self,
        lesion: Lesion,
        follow: list[TimePoint],
        statuses: list[str | None],
        views: list[NewLesionView],
    ) -> None:
        """§4.3.3: an equivocal new lesion is not PD until confirmed; once a later scan confirms
        it, progression dates from the scan where it was first seen."""
        first = next((i for i, s in enumerate(statuses) if s in (NEW_U, NEW_E)), None)
        if first is None or statuses[first] != NEW_E:
            return
        confirm = next((j for j in range(first + 1, len(statuses)) if statuses[j] == NEW_U), None)
        if confirm is None:
            return
        later = follow[confirm]
        when = later.dtc or (f"visit {later.visitnum:g}" if later.visitnum is not None else "later")
        for i in range(first, confirm):
            if statuses[i] == NEW_E:
                statuses[i] = NEW_U
                views[i].notes.append(
                    f"equivocal new lesion {lesion.lnkid} confirmed on {when}: progression "
                    "dates from its first observation (§4.3.3)"
                )

    def _identified_at(self, lesion: Lesion, tp: TimePoint) -> bool:
        if lesion.visitnum is not None and tp.visitnum is not None:
            return lesion.visitnum == tp.visitnum
        return lesion.dtc is not None and lesion.dtc == tp.adt

    def _measurable(self, lesion: Lesion, size: float) -> bool:
        c = self.criteria
        if lesion.nodal:
            return size >= c.node_target_min_mm - EPS
        minimum = c.xray_measurable_min_mm if lesion.xray else c.measurable_min_mm
        return size >= minimum - EPS

    # ---------------------------------------------------------------------------- baseline

    def _split_baseline(self) -> tuple[list[TimePoint], list[TimePoint]]:
        """Baseline = the assessment at which TU identified the target and non-target lesions
        (its VISITNUM, else its TUDTC, else the first assessment); every later result must be
        dated after it."""
        baseline_lesions = self.targets + self.nontargets
        if not baseline_lesions:
            return [], self.timepoints
        visits = [v.visitnum for v in baseline_lesions if v.visitnum is not None]
        dates = [v.dtc for v in baseline_lesions if v.dtc is not None]
        late = [
            v
            for v in baseline_lesions
            if (visits and v.visitnum is not None and v.visitnum > min(visits))
            or (not visits and dates and v.dtc is not None and v.dtc > min(dates))
        ]
        for v in late:
            self.errors.append(
                DataError(
                    f"{'TARGET' if v.role == 'T' else 'NON-TARGET'} lesion {v.lnkid} is "
                    "identified after baseline; lesions found later must be NEW",
                    dataset="TU",
                    subject=self.key[0],
                    row=v.row,
                    column="VISITNUM" if visits else "TUDTC",
                )
            )
        base: list[TimePoint] = []
        if visits:
            base = [tp for tp in self.timepoints if tp.visitnum == min(visits)]
        if not base and dates:
            base = [tp for tp in self.timepoints if tp.adt == min(dates)]
        if not base and not (visits and any(tp.visitnum is not None for tp in self.timepoints)):
            base = self.timepoints[:1]
        follow = [tp for tp in self.timepoints if tp not in base]
        last = max((tp.adt for tp in base if tp.adt is not None), default=None)
        if last is not None:
            for tp in follow:
                early = [m for m in tp.measurements if m.adt is not None and m.adt <= last]
                if early:
                    m = min(early, key=lambda x: x.row)
                    self._error(
                        f"a follow-up result dated {m.adt} is on or before the baseline "
                        f"assessment ({last})",
                        m,
                        "TRDTC",
                    )
        return base, follow

    def _baseline_values(self, base: list[TimePoint]) -> dict[str, float | None]:
        merged: dict[str, dict[str, Measurement]] = {}
        for tp in base:
            for lnkid, recs in tp.records.items():
                for kind, m in recs.items():
                    merged.setdefault(lnkid, {}).setdefault(kind, m)
        values: dict[str, float | None] = {}
        for lesion in self.targets + self.nontargets:
            recs = merged.get(lesion.lnkid)
            values[lesion.lnkid] = self._diameter(lesion, recs) if recs else None
        return values

    def run(self) -> list[Row]:
        """Responses at every follow-up time point, in time order."""
        base, follow = self._split_baseline()
        values = self._baseline_values(base)
        check_selection(self.criteria, self.targets, self.nontargets, values, self._finding)
        if len(self.errors) > self._errors_before:
            return []
        c = self.criteria
        has_targets = bool(self.targets)
        base_sum: float | None = None
        if has_targets and all(values[t.lnkid] is not None for t in self.targets):
            base_sum = float(sum(values[t.lnkid] or 0.0 for t in self.targets))
        nadir = base_sum
        new_views = self._new_lesions(follow)
        immune = ImmuneState(c) if c.immune else None
        rows: list[Row] = []
        for tp, new in zip(follow, new_views, strict=True):
            notes: list[str] = []
            target: TargetResult | None = None
            if has_targets:
                target, target_notes = self._target(tp, base_sum, nadir)
                notes += target_notes
            nontarget: str | None = None
            nt_states: list[str] = []
            if self.nontargets:
                for lesion in self.nontargets:
                    state, note = self._nontarget_value(lesion, tp)
                    nt_states.append(state)
                    if note:
                        notes.append(note)
                nontarget = nontarget_response(nt_states)
                notes.append(f"non-target {nontarget}")
            else:
                notes.append("no non-target disease")
            notes += new.notes
            if new.unequivocal:
                notes.append(f"new lesion(s) {', '.join(sorted(new.unequivocal))}")
            elif new.equivocal:
                notes.append(
                    f"equivocal new lesion(s) {', '.join(sorted(new.equivocal))}: not PD "
                    "until confirmed (§4.3.3)"
                )
            reference = nadir
            if immune is not None:
                trg, ntrg, ovr, note = immune.step(
                    tp.adt, target, nontarget, NT_PROGRESSION in nt_states, new
                )
                notes.append(note)
            else:
                ovr = overall_response(
                    None if target is None else target.response, nontarget, bool(new.unequivocal)
                )
                trg = "" if target is None else target.response
                ntrg = nontarget or ""
                table = "Table 1" if has_targets else "Table 2"
                notes.append(f"{table} → {ovr}" if ovr != "NED" else "no disease at baseline")
            if target is not None and target.total is not None and nadir is not None:
                nadir = min(nadir, target.total)
            rows.append(
                Row(
                    visitnum=tp.visitnum,
                    visit=tp.visit,
                    dtc=tp.dtc,
                    adt=tp.adt,
                    base=base_sum,
                    total=None if target is None else target.total,
                    nadir=reference,
                    trgresp=trg,
                    ntrgresp=ntrg,
                    newlind="Y" if new.unequivocal or new.equivocal else "N",
                    newlprog=(
                        "UNEQUIVOCAL" if new.unequivocal else "EQUIVOCAL" if new.equivocal else "N"
                    ),
                    ovrlresp=ovr,
                    reason="; ".join(n for n in notes if n),
                )
            )
        return rows

    def _target(
        self, tp: TimePoint, base_sum: float | None, nadir: float | None
    ) -> tuple[TargetResult, list[str]]:
        values: list[float | None] = []
        notes: list[str] = []
        for lesion in self.targets:
            value, note = self._target_value(lesion, tp)
            values.append(value)
            if note:
                notes.append(note)
            if value is not None and any(
                m.too_small for m in (tp.records.get(lesion.lnkid) or {}).values()
            ):
                notes.append(f"{lesion.lnkid} too small to measure: {value:g} mm")
        if base_sum is None or nadir is None:
            assessed = float(sum(v for v in values if v is not None))
            return (
                TargetResult("NE", None, assessed, "baseline sum incomplete"),
                notes + ["target NE: a target lesion has no baseline measurement"],
            )
        result = target_response(
            values, [t.nodal for t in self.targets], base_sum, nadir, self.criteria
        )
        return result, [f"target {result.response}: {result.reason}", *notes]


def _show(m: Measurement) -> str:
    if not m.assessed:
        return "not assessed"
    return f"{m.value:g} mm" if m.value is not None else str(m.state)
