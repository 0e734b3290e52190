"""One name for each dose level, everywhere a person reads it.

With a protocol a level is named by its label and the escalated drugs' doses
("L2, donafenib 200 mg bid"); its short name is the label alone ("L2", "L-1"). Without a
protocol levels are "dose 1" .. "dose k". 0-based indices stay inside the library, and 1-based
indices appear only in JSON fields whose names say they are indices (``*_index``).

The one parser of a level written by a person (:meth:`DoseNames.parse`) is used by outcome
strings, patient files and every option that takes a level, so all of them accept the same text.

>>> names = DoseNames.plain(3)
>>> names.short(0), names.full(2), names.parse("dose 2"), names.parse("2")
('dose 1', 'dose 3', 1, 1)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from oncotrial.protocol.model import Dose, Protocol


class DoseNameError(ValueError):
    """A level written by a person names no level of the protocol (or of the design)."""


_LABEL = re.compile(r"^\s*L\s*(-?\d+)\s*$", re.IGNORECASE)
_PLAIN = re.compile(r"^\s*(?:dose\s*)?(\d+)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class DoseNames:
    """How the levels of one trial are named (see the module docstring).

    ``labels`` are the protocol's level labels in dose order (``None`` without a protocol);
    ``doses`` the text of the escalated drugs' doses at each level.
    """

    n_doses: int
    labels: tuple[int, ...] | None = None
    doses: tuple[str, ...] | None = None

    @classmethod
    def plain(cls, n_doses: int) -> DoseNames:
        """Names without a protocol: "dose 1" .. "dose k"."""
        return cls(n_doses=n_doses)

    @classmethod
    def of(cls, protocol: Protocol | None, n_doses: int | None = None) -> DoseNames:
        """The protocol's names (or plain names for ``n_doses`` levels without one)."""
        if protocol is None:
            if n_doses is None:
                raise ValueError("plain dose names need the number of levels")
            return cls.plain(n_doses)
        escalated = [d.name for d in protocol.escalated_drugs]
        doses = tuple(
            ", ".join(f"{name} {_dose_text(level.doses[name])}" for name in escalated)
            for level in protocol.dose_levels
        )
        return cls(n_doses=protocol.n_doses, labels=tuple(protocol.level_labels), doses=doses)

    @property
    def has_protocol(self) -> bool:
        return self.labels is not None

    def short(self, index: int) -> str:
        """ "L2" with a protocol, "dose 3" without."""
        self._check(index)
        if self.labels is None:
            return f"dose {index + 1}"
        return f"L{self.labels[index]}"

    def full(self, index: int) -> str:
        """ "L2, donafenib 200 mg bid" with a protocol, "dose 3" without."""
        short = self.short(index)
        if self.doses is None:
            return short
        return f"{short}, {self.doses[index]}"

    def all_short(self) -> list[str]:
        return [self.short(i) for i in range(self.n_doses)]

    def all_full(self) -> list[str]:
        return [self.full(i) for i in range(self.n_doses)]

    def parse(self, text: str) -> int:
        """The 0-based index of the level a person wrote.

        With a protocol the level is written by its label ("L2", "L-1"; case and spaces
        ignored). Without one it is "dose 3" or "3" (1-based). Anything else is refused with the
        list of valid names.
        """
        if self.labels is not None:
            match = _LABEL.match(text)
            if match and int(match.group(1)) in self.labels:
                return self.labels.index(int(match.group(1)))
            raise DoseNameError(
                f"'{text.strip()}' is not a dose level of the protocol "
                f"(levels: {', '.join(self.all_short())})"
            )
        match = _PLAIN.match(text)
        if match and 1 <= int(match.group(1)) <= self.n_doses:
            return int(match.group(1)) - 1
        raise DoseNameError(
            f"'{text.strip()}' is not a dose level (levels: dose 1..dose {self.n_doses})"
        )

    def _check(self, index: int) -> None:
        if not 0 <= index < self.n_doses:
            raise DoseNameError(f"dose level index {index} is outside 0..{self.n_doses - 1}")


def _dose_text(dose: Dose) -> str:
    """ "200 mg bid": amount, unit and frequency as a prescription is read aloud."""
    return f"{dose.amount:g} {dose.unit} {dose.frequency.lower()}"


def names_list(names: DoseNames, indices: Sequence[int]) -> str:
    """ "L1, L2" — several levels by their short names."""
    return ", ".join(names.short(i) for i in indices)
