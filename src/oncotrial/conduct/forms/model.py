"""The shape of a case report form: fields, repeating groups, and the rows it writes.

A :class:`FormDef` is data (what to ask, in which words, with which choices) plus two pure
functions: ``to_records`` turns the entered values into SDTM rows (each cell remembering which
field it came from, so an edit check on ``AE.AESTDTC`` is shown on the form's "Start date"), and
``from_records`` reads the values back from the stored records — the store's SDTM records are
the only copy of the data; the form is a view of them.

Values are text, as the store holds them: ``{"field": "text"}`` and, for a repeating group,
``{"group": [{"field": "text"}, …]}``. Checks here are the form's own structure (a required
field, a value among the choices, a number where a number is asked); the clinical edit checks
are the store's (:mod:`oncotrial.store.checks`), run when the rows are saved.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from oncotrial.store import Finding

Kind = Literal["date", "text", "choice", "integer", "number", "yesno"]
Values = dict[str, Any]
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$")
_INTEGER = re.compile(r"^[+-]?\d+$")
#: the pattern of each numeric kind of field, and what it is called in a message
_NUMBERS = {"integer": (_INTEGER, "a whole number"), "number": (_NUMBER, "a number")}

YES_NO = (("Y", "Yes"), ("N", "No"))


@dataclass(frozen=True)
class Field:
    """One question of a form."""

    name: str
    label: str
    kind: Kind = "text"
    required: bool = False
    choices: tuple[tuple[str, str], ...] = ()
    unit: str = ""
    help: str = ""
    suggestions: tuple[str, ...] = ()
    readonly: bool = False
    #: the value lands in an SDTM variable whose terms the store's edit checks verify
    #: (AETOXGR, AESER, SEX …): the choices are only offered, the store refuses (one rule)
    store_checked: bool = False

    def __post_init__(self) -> None:
        if self.kind == "yesno" and not self.choices:
            object.__setattr__(self, "choices", YES_NO)

    def choice_label(self, value: str | None) -> str:
        return dict(self.choices).get(value or "", value or "")


@dataclass(frozen=True)
class Group:
    """A repeating group of fields (e.g. the target lesions of a tumour assessment)."""

    name: str
    label: str
    fields: tuple[Field, ...]
    rows: int = 5
    key: str | None = None

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)


@dataclass
class Cell:
    """Where an SDTM value came from: a field (``"start"``) or a group row's field
    (``"targets.2.diameter"``)."""

    value: str | None
    source: str | None = None


@dataclass
class SdtmRow:
    """One SDTM record a form writes: its domain, its cells, and its sources."""

    domain: str
    cells: dict[str, Cell] = field(default_factory=dict)

    def set(self, variable: str, value: Any, source: str | None = None) -> SdtmRow:
        text = None if value is None or value == "" else str(value)
        self.cells[variable] = Cell(text, source)
        return self

    def values(self) -> dict[str, str | None]:
        return {name: cell.value for name, cell in self.cells.items()}

    def source(self, variable: str) -> str | None:
        cell = self.cells.get(variable)
        return None if cell is None else cell.source


#: What a form needs to know about its subject and study to write its rows.
@dataclass(frozen=True)
class FormContext:
    studyid: str
    usubjid: str
    site: str
    instance: str
    subject: Mapping[str, Any]
    stored: Mapping[str, Sequence[Mapping[str, str | None]]] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)


#: a form's stored records by domain, each ``{SDTM variable: text}``
Stored = Mapping[str, Sequence[Mapping[str, str | None]]]
ToRecords = Callable[[FormContext, Values], list[SdtmRow]]
FromRecords = Callable[[Mapping[str, Sequence[Mapping[str, str | None]]]], Values]


@dataclass(frozen=True)
class FormDef:
    """A case report form of the study."""

    code: str
    title: str
    fields: tuple[Field, ...]
    to_records: ToRecords
    from_records: FromRecords
    groups: tuple[Group, ...] = ()
    repeating: bool = False
    description: str = ""
    needs_enrolment: bool = True
    order: int = 0

    def field(self, name: str) -> Field:
        for item in self.fields:
            if item.name == name:
                return item
        for group in self.groups:
            for item in group.fields:
                if item.name == name:
                    return item
        raise KeyError(f"form {self.code} has no field '{name}'")

    def has_field(self, path: str) -> bool:
        """Whether ``path`` names a field (``"start"``) or a group row's (``"targets.0.link"``)."""
        parts = path.split(".")
        if len(parts) == 3 and parts[1].isdigit():
            group = next((g for g in self.groups if g.name == parts[0]), None)
            return group is not None and any(f.name == parts[2] for f in group.fields)
        return len(parts) == 1 and any(f.name == path for f in self.fields)

    def label_of(self, source: str | None) -> str:
        """The words of a field path (``"targets.2.diameter"`` → "Target lesions, row 3:
        Diameter")."""
        if not source:
            return ""
        parts = source.split(".")
        if len(parts) == 3:
            group = next((g for g in self.groups if g.name == parts[0]), None)
            if group is not None:
                return f"{group.label}, row {int(parts[1]) + 1}: {group.field(parts[2]).label}"
        try:
            return self.field(parts[0]).label
        except KeyError:
            return source

    def clean(self, raw: Mapping[str, Any]) -> Values:
        """Keep only this form's fields, as stripped text (empty text is missing); drop empty
        group rows."""
        values: Values = {}
        for item in self.fields:
            if item.readonly:
                continue
            values[item.name] = _text(raw.get(item.name))
        for group in self.groups:
            rows = raw.get(group.name) or []
            cleaned = []
            for row in rows:
                if not isinstance(row, Mapping):
                    continue
                entry = {f.name: _text(row.get(f.name)) for f in group.fields}
                if any(v for k, v in entry.items() if not group.field(k).readonly):
                    cleaned.append(entry)
            values[group.name] = cleaned
        return values

    def check(self, values: Values, usubjid: str | None) -> list[Finding]:
        """The form's structural checks: required fields, choices, numbers."""
        findings: list[Finding] = []
        for item in self.fields:
            if not item.readonly:
                findings.extend(_check_field(self.code, item, values.get(item.name), usubjid))
        for group in self.groups:
            for index, row in enumerate(values.get(group.name) or []):
                for item in group.fields:
                    for finding in _check_field(self.code, item, row.get(item.name), usubjid):
                        findings.append(
                            Finding(
                                finding.usubjid,
                                finding.domain,
                                f"{group.name}.{index}.{item.name}",
                                finding.rule,
                                finding.message,
                            )
                        )
        return findings


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _check_field(form: str, item: Field, value: str | None, usubjid: str | None) -> list[Finding]:
    def refuse(rule: str, message: str) -> list[Finding]:
        return [Finding(usubjid, form, item.name, rule, message)]

    if value is None:
        return refuse("required", f"{item.label} is required") if item.required else []
    if item.choices and not item.store_checked and value not in {c for c, _ in item.choices}:
        shown = ", ".join(label for _, label in item.choices)
        return refuse("controlled_term", f"{item.label}: '{value}' is not one of {shown}")
    number = _NUMBERS.get(item.kind)
    if number is not None and not number[0].match(value):
        return refuse("number_format", f"{item.label}: '{value}' is not {number[1]}")
    return []


def first(rows: Sequence[Mapping[str, str | None]], **match: str) -> Mapping[str, str | None]:
    """The first stored row whose variables equal ``match`` (an empty mapping when none)."""
    for row in rows:
        if all(row.get(k) == v for k, v in match.items()):
            return row
    return {}


def choices_of(values: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """Choices (code, words) of controlled terms: "NOT RELATED" is shown "Not related"."""
    return tuple((v, v.capitalize() if v.isupper() else v) for v in values)


def cycle_visit(cycle: str | None) -> tuple[str | None, str | None]:
    """SDTM VISITNUM/VISIT of a treatment cycle's day 1 (cycle 2 → "201", "CYCLE 2 DAY 1")."""
    if not cycle:
        return None, None
    return str(int(cycle) * 100 + 1), f"CYCLE {int(cycle)} DAY 1"


def visit_cycle(visitnum: str | None) -> str | None:
    """The cycle of a VISITNUM written by :func:`cycle_visit`."""
    if not visitnum:
        return None
    try:
        return str(int(float(visitnum)) // 100)
    except ValueError:
        return None
