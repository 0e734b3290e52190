"""Plausible ranges of measured values: a value outside its range is refused with a named rule
(``plausible_<name>``), at entry, on import and before a derivation, unless that rule is
overridden with a reason.

The defaults and their sources are listed in ``docs/data-checks.md``; a protocol may narrow or
widen each one (its ``plausibility:`` block). A range applies to one kind of value:

===================  =================================================================  =====
name                 values                                                             unit
===================  =================================================================  =====
``age``              DM ``AGE`` when ``AGEU`` is YEARS (or blank)                       years
``lesion_diameter``  TR diameters of one lesion (LDIAM, LPERP, SAXIS, DIAMETER, …)      mm
``dose``             EX ``EXDOSE`` (one administration)                                 EXDOSU
``titre``            IS ``ISSTRESN`` of the anti-drug antibody tests (ADA_BAB, ADA_NAB)  as given
===================  =================================================================  =====
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class PlausibleRange:
    """Values from ``low`` to ``high`` (inclusive; None: unbounded) are plausible."""

    low: float | None
    high: float | None
    unit: str
    source: str

    def problem(self, value: float, unit: str | None = None) -> str | None:
        """Why ``value`` (in ``unit``, default the range's) is implausible, or None."""
        if (self.low is not None and value < self.low) or (
            self.high is not None and value > self.high
        ):
            unit = unit or self.unit
            return f"{value:g} {unit} is outside the plausible range {self.shown_in(unit)}"
        return None

    @property
    def shown(self) -> str:
        return self.shown_in(self.unit)

    def shown_in(self, unit: str) -> str:
        low = "-∞" if self.low is None else f"{self.low:g}"
        high = "∞" if self.high is None else f"{self.high:g}"
        return f"{low}–{high} {unit}".rstrip()


#: Where the defaults are explained (each range's reasoning and source).
DEFAULT_SOURCE = "default range, see docs/data-checks.md"

#: The documented defaults: wide enough for every real value, narrow enough to catch typing
#: slips and unit mix-ups (docs/data-checks.md gives the reasoning and source of each).
DEFAULT_RANGES: dict[str, PlausibleRange] = {
    "age": PlausibleRange(0, 120, "years", DEFAULT_SOURCE),
    "lesion_diameter": PlausibleRange(0, 500, "mm", DEFAULT_SOURCE),
    "dose": PlausibleRange(0, 100_000, "(EXDOSU)", DEFAULT_SOURCE),
    "titre": PlausibleRange(0, 1e9, "(ISSTRESU)", DEFAULT_SOURCE),
}


@dataclass(frozen=True)
class Plausibility:
    """The plausible range of each kind of value, and where the ranges come from."""

    ranges: Mapping[str, PlausibleRange] = field(default_factory=lambda: dict(DEFAULT_RANGES))
    source: str = "defaults (docs/data-checks.md)"

    def __post_init__(self) -> None:
        unknown = set(self.ranges) - set(DEFAULT_RANGES)
        if unknown:
            raise ValueError(
                f"unknown plausibility range(s) {sorted(unknown)} (known: {sorted(DEFAULT_RANGES)})"
            )

    def range(self, name: str) -> PlausibleRange:
        return self.ranges.get(name, DEFAULT_RANGES[name])

    def with_ranges(
        self, changes: Mapping[str, tuple[float | None, float | None, str]], source: str
    ) -> Plausibility:
        """These ranges with some replaced: ``{name: (low, high, source)}``."""
        ranges = dict(self.ranges)
        for name, (low, high, why) in changes.items():
            if name not in DEFAULT_RANGES:
                raise ValueError(f"unknown plausibility range '{name}'")
            ranges[name] = replace(DEFAULT_RANGES[name], low=low, high=high, source=why)
        return Plausibility(ranges, source)

    def describe(self) -> list[str]:
        """One line per range: name, bounds, source."""
        return [
            f"{name}: {self.range(name).shown} ({self.range(name).source})"
            for name in DEFAULT_RANGES
        ]


DEFAULT_PLAUSIBILITY = Plausibility()


def rule_name(name: str) -> str:
    """The rule that refuses a value outside range ``name`` (``plausible_age`` …)."""
    return f"plausible_{name}"
