"""Events as data, and one generic "pick the extreme event" function.

The shape is admiral's (pharmaverse): an endpoint is a list of :class:`Event` /
:class:`JoinedEvent` objects (which rows of which dataset qualify, and what values the picked
record gets) handed to :func:`pick_extreme_event`, which keeps, per subject, the first or last
qualifying record in a given order (admiral ``derive_extreme_event()``, ``event()``,
``event_joined()``). Best overall response, confirmed response, clinical benefit, first
progression, last assessment and the time-to-event sources are all calls of this one function.

Also here: the notes a derivation returns beside its data when it applied a documented rule,
and the input checks of ADaM inputs (subjects known to ADSL, deaths before the first dose); the
general ones (required columns, numbers, dates of analysis variables, blanks) are those of
:mod:`oncotrial.cdisc.frames`, importable from here as before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd

from oncotrial.cdisc.errors import DataError, raise_all
from oncotrial.cdisc.frames import (
    blank_to_na,
    check_subjects_known,
    date_column,
    numeric_column,
    require_columns,
    text_values,
)

Condition = Callable[[pd.DataFrame], pd.Series]
"""A row filter: the source dataset in, a boolean Series (same index) out."""

Value = Any
"""A constant, or a callable taking the selected rows and returning a Series or scalar."""

_EVENT_NR = "_event_nr"
_POS = "_pos"


@dataclass(frozen=True)
class DerivationNote:
    """A documented rule that was applied to the data (an imputation, a dropped duplicate, a
    subject left out), with where it happened — reported next to the derived data."""

    rule: str
    message: str
    dataset: str | None = None
    subject: str | None = None
    row: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        where = [
            part
            for part in (
                self.dataset and f"dataset {self.dataset}",
                self.row is not None and f"row {self.row}",
                self.subject and f"subject {self.subject}",
                self.column and f"column {self.column}",
            )
            if part
        ]
        return f"[{self.rule}] {', '.join(where)}: {self.message}"


class Derived(NamedTuple):
    """A derived dataset and the notes on the rules applied while deriving it."""

    data: pd.DataFrame
    notes: list[DerivationNote]


@dataclass(frozen=True)
class Event:
    """Rows of ``dataset`` that fulfil ``condition`` qualify (admiral ``event()``).

    ``set_values`` overwrite or add columns on the qualifying rows (constants, or callables of
    the selected rows, which see every source column); ``keep`` limits the source columns
    carried into the result besides the subject keys and ``set_values`` (None: all).
    """

    dataset: str
    condition: Condition | None = None
    set_values: Mapping[str, Value] = field(default_factory=dict)
    description: str = ""
    keep: tuple[str, ...] | None = None


@dataclass(frozen=True)
class JoinedEvent:
    """A row qualifies by looking at the rows after it (admiral ``event_joined()`` with
    ``join_type = "after"`` and ``first_cond_upper``).

    Per subject, rows are ordered by ``order``; for each row the window is the later rows up to
    and including the first one for which ``first_cond_upper(row, later)`` holds (no such row:
    the row does not qualify); the row qualifies when ``condition(row, window)`` is true.
    ``row`` and the windows hold the ``join_vars`` columns only.
    """

    dataset: str
    first_cond_upper: Callable[[Mapping[str, Any], pd.DataFrame], pd.Series]
    condition: Callable[[Mapping[str, Any], pd.DataFrame], bool]
    set_values: Mapping[str, Value] = field(default_factory=dict)
    description: str = ""
    order: tuple[str, ...] = ("ADT",)
    keep: tuple[str, ...] | None = None
    join_vars: tuple[str, ...] = ("AVALC", "ADT")


AnyEvent = Event | JoinedEvent


def subject_keys(*frames: pd.DataFrame) -> list[str]:
    """``STUDYID``/``USUBJID`` as far as every frame has them (``USUBJID`` is required)."""
    keys = ["STUDYID", "USUBJID"]
    return [k for k in keys if all(k in f.columns for f in frames)] or ["USUBJID"]


def check_subjects_in_adsl(
    df: pd.DataFrame, adsl: pd.DataFrame, *, dataset: str, rows: pd.Series | None = None
) -> None:
    """Every subject of ``df`` must be in ADSL (ADaM's subject-level spine)."""
    check_subjects_known(
        df, text_values(adsl["USUBJID"]).tolist(), dataset=dataset, reference="ADSL", rows=rows
    )


def check_death_dates(adsl: pd.DataFrame, *, first_dose: str = "TRTSDT") -> None:
    """A death dated before the first dose is impossible data, not a censoring case: raise
    :class:`DataError` (ADSL, subject, row, ``DTHDT``) for every such subject."""
    if "DTHDT" not in adsl.columns or first_dose not in adsl.columns:
        return
    death = date_column(adsl, "DTHDT", dataset="ADSL")
    dose = date_column(adsl, first_dose, dataset="ADSL")
    bad = (death < dose).fillna(False).to_numpy(dtype=bool)
    errors = [
        DataError(
            f"death date {death.iloc[i].date()} is before the first dose "
            f"({first_dose} {dose.iloc[i].date()})",
            dataset="ADSL",
            subject=str(adsl["USUBJID"].iloc[i]),
            row=i + 1,
            column="DTHDT",
        )
        for i in np.flatnonzero(bad)
    ]
    raise_all(errors)


def _apply_values(rows: pd.DataFrame, values: Mapping[str, Value]) -> pd.DataFrame:
    rows = rows.copy(deep=False)
    for name, value in values.items():
        rows[name] = value(rows) if callable(value) else value
    return rows


def _joined_mask(df: pd.DataFrame, event: JoinedEvent, by: list[str]) -> np.ndarray:
    mask = np.zeros(len(df), dtype=bool)
    columns = list(dict.fromkeys([*by, *event.order, *event.join_vars]))
    narrow = df[columns].reset_index(drop=True)
    ordered = narrow.sort_values([*by, *event.order], kind="mergesort", na_position="last")
    for _, group in ordered.groupby(by, sort=False, dropna=False):
        joined = group[list(event.join_vars)]
        records = joined.to_dict("records")
        for i, position in enumerate(group.index):
            later = joined.iloc[i + 1 :]
            if later.empty:
                break
            upper = np.asarray(event.first_cond_upper(records[i], later), dtype=bool)
            if not upper.any():
                continue
            window = later.iloc[: int(np.argmax(upper)) + 1]
            if bool(event.condition(records[i], window)):
                mask[position] = True
    return mask


def _kept(keys: list[str], event: AnyEvent) -> list[str]:
    assert event.keep is not None
    wanted = [*keys, *event.keep, *event.set_values]
    return list(dict.fromkeys(wanted))


def _sort_keys(order: Sequence[str]) -> tuple[list[str], list[bool]]:
    columns, ascending = [], []
    for item in order:
        desc = item.startswith("-")
        name = item[1:] if desc else item
        columns.append(_EVENT_NR if name == "event_nr" else name)
        ascending.append(not desc)
    return columns, ascending


def pick_extreme_event(
    sources: Mapping[str, pd.DataFrame],
    events: Sequence[AnyEvent],
    *,
    order: Sequence[str],
    mode: Literal["first", "last"] = "first",
    by: Sequence[str] | None = None,
    fallback: Event | None = None,
    set_values: Mapping[str, Value] | None = None,
) -> pd.DataFrame:
    """One record per subject: the first or last qualifying record over all ``events``.

    ``order`` lists the sort columns (``"-COL"`` descending; ``"event_nr"`` is the position of
    the event in ``events``); missing values sort last either way, as in dplyr. Subjects of
    ``fallback.dataset`` with no qualifying record get the fallback's values (admiral's
    ``no_data_n``/``no_data_missing`` events and ``derive_extreme_records(dataset_ref=)``).
    ``set_values`` is applied to every output record (e.g. ``PARAMCD``).
    """
    frames = []
    for number, event in enumerate(events):
        source = sources[event.dataset]
        keys = list(by) if by is not None else subject_keys(source)
        if isinstance(event, JoinedEvent):
            mask = _joined_mask(source, event, keys)
        elif event.condition is None:
            mask = np.ones(len(source), dtype=bool)
        else:
            mask = np.asarray(event.condition(source).fillna(False), dtype=bool)
        rows = _apply_values(source.loc[mask], event.set_values)
        if event.keep is not None:
            rows = rows[_kept(keys, event)]
        rows[_EVENT_NR] = number
        frames.append(rows)
    keys = list(by) if by is not None else subject_keys(*[sources[e.dataset] for e in events])
    frames = [f for f in frames if len(f)]
    if frames:
        picked = pd.concat(frames, ignore_index=True)
        columns, ascending = _sort_keys(order)
        narrow = picked[list(dict.fromkeys([*keys, *columns]))].assign(
            **{_POS: np.arange(len(picked))}
        )
        narrow = narrow.sort_values(
            [*keys, *columns, _POS],
            ascending=[True] * len(keys) + ascending + [True],
            kind="mergesort",
            na_position="last",
        )
        grouped = narrow.groupby(keys, sort=False, dropna=False)
        chosen = (grouped.head(1) if mode == "first" else grouped.tail(1))[_POS]
        picked = picked.iloc[chosen.to_numpy()]
    else:
        picked = pd.DataFrame(columns=[*keys, _EVENT_NR])
    if fallback is not None:
        reference = sources[fallback.dataset]
        have = set(zip(*[picked[k].astype(str) for k in keys], strict=True))
        wanted = zip(*[reference[k].astype(str) for k in keys], strict=True)
        extra = reference.loc[np.array([k not in have for k in wanted], dtype=bool)]
        if fallback.condition is not None:
            extra = extra.loc[np.asarray(fallback.condition(extra).fillna(False), dtype=bool)]
        extra = _apply_values(extra, fallback.set_values)
        if fallback.keep is not None:
            extra = extra[_kept(keys, fallback)]
        picked = pd.concat([picked, extra], ignore_index=True) if len(extra) else picked
    picked = picked.drop(columns=[_EVENT_NR], errors="ignore")
    if set_values:
        picked = _apply_values(picked, set_values)
    order_rows = np.lexsort([picked[k].astype(str).to_numpy() for k in reversed(keys)])
    return picked.iloc[order_rows].reset_index(drop=True)


__all__ = [
    "AnyEvent",
    "Condition",
    "DerivationNote",
    "Derived",
    "Event",
    "JoinedEvent",
    "blank_to_na",
    "check_death_dates",
    "check_subjects_in_adsl",
    "date_column",
    "numeric_column",
    "pick_extreme_event",
    "require_columns",
    "subject_keys",
]
