"""How the report writes numbers and tables for people: counts with percentages, rates with
exact intervals, medians with ranges, clinical names for responses and dose levels, and HTML
tables with an id (so a reader, or a test, can find each one) and no leftovers of the code.

Cell formats (the independent checks in ``tests/test_report_numbers.py`` recompute them):

* count: ``12 (40.0 %)`` — n and the percentage of the column's N (``0`` when N is 0);
* rate: ``9/30 (30.0 %; 95 % CI 14.7–49.4)`` — exact Clopper–Pearson interval;
* median: ``55 (38–74)`` — median and range, one decimal unless the values are integers;
* time: ``6.8 (4.2–9.1)`` — a Kaplan–Meier median in months with its 95 % CI, NR if not
  reached.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from oncotrial.protocol.model import Protocol
from oncotrial.protocol.naming import DoseNames

DAYS_PER_MONTH = 30.4375

#: Best-response codes in clinical order with their names (RECIST 1.1 / mRECIST, iRECIST).
RESPONSE_NAMES = {
    "CR": "Complete response (CR)",
    "PR": "Partial response (PR)",
    "SD": "Stable disease (SD)",
    "NON-CR/NON-PD": "Non-CR/non-PD",
    "PD": "Progressive disease (PD)",
    "NE": "Not evaluable (NE)",
    "NED": "No evidence of disease (NED)",
    "MISSING": "No post-baseline assessment",
    "iCR": "Complete response (iCR)",
    "iPR": "Partial response (iPR)",
    "iSD": "Stable disease (iSD)",
    "NON-iCR/NON-iUPD": "Non-iCR/non-iUPD",
    "iUPD": "Unconfirmed progression (iUPD)",
    "iCPD": "Confirmed progression (iCPD)",
}
RESPONSE_ORDER = tuple(RESPONSE_NAMES)


def group_header(name: str, n: int) -> str:
    """A column of patients: "L2, donafenib 200 mg bid (N = 12)", the count kept on one line."""
    return f"{name} (N\u00a0=\u00a0{n})"


def pct(n: int, total: int) -> str:
    """``12 (40.0 %)``; ``0`` for an empty column."""
    if not total:
        return "0"
    return f"{n} ({100.0 * n / total:.1f} %)"


def rate(x: int, n: int, lower: float, upper: float) -> str:
    """``9/30 (30.0 %; 95 % CI 14.7–49.4)``; ``—`` without patients."""
    if not n:
        return "—"
    return f"{x}/{n} ({100.0 * x / n:.1f} %; 95 % CI {100 * lower:.1f}–{100 * upper:.1f})"


def median_range(values: Iterable[float], digits: int = 1) -> str:
    """``55 (38–74)``: median and range (``—`` when empty)."""
    data = np.asarray([v for v in values if v is not None and not pd.isna(v)], dtype=float)
    if data.size == 0:
        return "—"
    median, low, high = float(np.median(data)), float(data.min()), float(data.max())

    def show(v: float) -> str:
        return f"{v:.0f}" if float(v).is_integer() else f"{v:.{digits}f}"

    return f"{show(median)} ({show(low)}–{show(high)})"


def months(value: float) -> str:
    """A Kaplan–Meier time in months, ``NR`` when not reached (NaN)."""
    return "NR" if value is None or np.isnan(value) else f"{value:.1f}"


def km_median(time: float, lower: float, upper: float) -> str:
    """``6.8 (4.2–9.1)`` months."""
    return f"{months(time)} ({months(lower)}–{months(upper)})"


def table(
    frame: pd.DataFrame,
    table_id: str,
    *,
    caption: str | None = None,
    first_column: str | None = None,
    text: bool = False,
) -> str:
    """An HTML table with id ``table_id``: the index (named ``first_column``) as the first
    column when given, every cell escaped, no index or column names of the code; ``text``
    aligns every column left (listings), else numbers are right-aligned."""
    data = frame.copy()
    if first_column is not None:
        data.index.name = None
        data = data.reset_index().rename(columns={"index": first_column})
    data.columns = [str(c) for c in data.columns]
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in data.columns)
    rows = []
    for values in data.itertuples(index=False):
        cells = "".join(f"<td>{html.escape('' if _blank(v) else str(v))}</td>" for v in values)
        rows.append(f"<tr>{cells}</tr>")
    title = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    kind = "data text" if text else "data"
    return (
        f'<table class="{kind}" id="{html.escape(table_id)}">{title}'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


class LevelNames:
    """The dose levels of a protocol as the report names them, and the ADSL codes that mean
    them (``ACTARMCD`` ``L2``/``LM1`` or ``ARMCD``), in dose order."""

    def __init__(self, protocol: Protocol) -> None:
        self.names = DoseNames.of(protocol)

    def index_of(self, code: object) -> int | None:
        """The 0-based level of an arm code (``L2``, ``LM1``, ``L-1``); None if none."""
        text = str(code or "").strip().upper().replace("LM", "L-")
        try:
            return self.names.parse(text)
        except ValueError:
            return None

    def full(self, index: int) -> str:
        return self.names.full(index)

    def short(self, index: int) -> str:
        return self.names.short(index)

    def of_subjects(self, adsl: pd.DataFrame) -> pd.Series:
        """Each subject's 0-based level (``ACTARMCD``, else ``ARMCD``; NaN when unknown)."""
        column = "ACTARMCD" if "ACTARMCD" in adsl.columns else "ARMCD"
        codes = adsl.get(column, pd.Series("", index=adsl.index))
        return codes.map(self.index_of).astype(float)

    def present(self, levels: Sequence[float]) -> list[int]:
        """The levels that have subjects, in dose order."""
        return sorted({int(v) for v in levels if not pd.isna(v)})


_PLAIN_LEVEL = re.compile(r"\bdose (\d+)\b")


def name_levels(text: str, names: DoseNames) -> str:
    """A design's explanation with its plain level numbers ("dose 3", 1-based within the
    design's levels) given the protocol's short names ("L2")."""

    def named(match: re.Match[str]) -> str:
        index = int(match.group(1)) - 1
        return names.short(index) if 0 <= index < names.n_doses else match.group(0)

    return _PLAIN_LEVEL.sub(named, text)
