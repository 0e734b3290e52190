"""Input checks on whole datasets that every derivation shares: required columns, numbers,
dates of analysis variables, duplicate keys, subjects known to the subject-level dataset.

Each raises :class:`~oncotrial.cdisc.errors.DataError` (or, for several problems found in one
pass, :class:`~oncotrial.cdisc.errors.CombinedDataError`) naming dataset, row, subject and
column. Rows are the dataset's 1-based data rows: the frame's integer index + 1 when it is
unique (a read dataset has index 0..n-1, and a filtered frame keeps its rows' numbers), else
positions, unless the caller passes ``rows``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from oncotrial.cdisc.dates import (
    HighestImputation,
    ImputedDatetime,
    TimeImputation,
    impute_datetime,
    parse_analysis_datetime,
    parse_dtc,
)
from oncotrial.cdisc.errors import DataError, raise_all

SUBJECT = "USUBJID"

TextRow = dict[str, str | None]
Rows = Sequence[Mapping[str, Any]] | pd.DataFrame

_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")


def number_problem(text: str) -> str | None:
    """Why ``text`` is not a usable number (None when it is one; blank is not checked here):
    not a decimal number, or so large that it is not finite (``1e400``)."""
    stripped = text.strip()
    if not _NUMBER.match(stripped):
        return f"'{text}' is not a number"
    if not math.isfinite(float(stripped)):
        return f"'{text}' is not a finite number"
    return None


# ---------------------------------------------------------------------------------------------
# cells as SDTM text (what the store holds and the edit checks read)


def to_text(value: Any) -> str | None:
    """A cell as SDTM text: text unchanged, missing (None/NaN/NA) as None, numbers as written.

    Integral floats lose their ``.0`` (``10.0`` → ``"10"``, as SAS and R write them); other
    floats use Python's shortest round-trip form. Booleans are refused: SDTM flags are text.
    """
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        raise TypeError(f"{value!r}: SDTM flags are text such as 'Y'/'N', not booleans")
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        number = float(value)
        if math.isnan(number):
            return None
        return str(int(number)) if number.is_integer() else repr(number)
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _column_text(column: pd.Series) -> list[str | None]:
    """A DataFrame column as text cells; text columns without per-cell conversion."""
    if pd.api.types.infer_dtype(column, skipna=True) in ("string", "empty"):
        as_object = column.astype(object)
        return as_object.where(column.notna(), None).tolist()
    return [to_text(value) for value in column.tolist()]


def text_rows(rows: Rows) -> tuple[list[str], list[TextRow]]:
    """Columns (first-seen order) and rows as ``{name: text or None}``."""
    if isinstance(rows, pd.DataFrame):
        columns = [str(name) for name in rows.columns]
        if len(set(columns)) != len(columns):
            raise ValueError(f"duplicate column names in {columns}")
        values = [_column_text(rows.iloc[:, i]) for i in range(len(columns))]
        cells_by_row = zip(*values, strict=True)
        return columns, [dict(zip(columns, cells, strict=True)) for cells in cells_by_row]
    seen: dict[str, None] = {}
    out: list[TextRow] = []
    for row in rows:
        text = {str(name): to_text(value) for name, value in row.items()}
        for name in text:
            seen.setdefault(name)
        out.append(text)
    return list(seen), out


def is_missing(value: object) -> bool:
    """None, NA, NaT or NaN."""
    return (
        value is None
        or value is pd.NA
        or value is pd.NaT
        or (isinstance(value, float) and np.isnan(value))
    )


def text_values(series: pd.Series) -> pd.Series:
    """A column as stripped text with ``""`` for missing values."""
    return pd.Series(
        ["" if is_missing(v) else str(v).strip() for v in series.tolist()],
        index=series.index,
        dtype=object,
    )


def blank_to_na(df: pd.DataFrame) -> pd.DataFrame:
    """Empty or blank text becomes missing (admiral ``convert_blanks_to_na``): SDTM transport
    files write missing text as an empty string. Text columns come back as plain objects."""
    out = df.copy()
    for col in out.columns:
        s = out[col]
        if s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
            blank = s.astype("string").str.strip().eq("").fillna(True).to_numpy(dtype=bool)
            out[col] = s.astype(object).where(~blank, np.nan)
    return out


def row_numbers(df: pd.DataFrame) -> np.ndarray:
    """1-based data rows (see the module docstring)."""
    if pd.api.types.is_integer_dtype(df.index.dtype) and df.index.is_unique:
        return df.index.to_numpy() + 1
    return np.arange(1, len(df) + 1)


def _rows(df: pd.DataFrame, rows: Sequence[int] | pd.Series | np.ndarray | None) -> np.ndarray:
    if rows is None:
        return row_numbers(df)
    return np.asarray(rows, dtype=int)


def subjects_of(df: pd.DataFrame) -> list[str | None]:
    """USUBJID of each row as text (None when absent or blank)."""
    if SUBJECT not in df.columns:
        return [None] * len(df)
    return [s or None for s in text_values(df[SUBJECT]).tolist()]


def missing_columns_message(missing: Sequence[str]) -> str:
    """The one wording of a missing-columns problem."""
    return f"missing required column(s) {', '.join(missing)}"


def require_columns(df: pd.DataFrame, columns: Iterable[str], dataset: str) -> None:
    """:class:`DataError` naming every column ``df`` lacks of those a derivation needs (the
    SDTMIG variable tables mark which are Required or Expected)."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(
            missing_columns_message(missing), dataset=dataset, column=", ".join(missing)
        )


def numeric_values(
    df: pd.DataFrame,
    column: str,
    dataset: str,
    rows: Sequence[int] | pd.Series | np.ndarray | None = None,
) -> pd.Series:
    """``df[column]`` as floats (NaN for missing or blank); every value that is not a finite
    number is reported at once (dataset, row, subject, column). An absent column is an error."""
    require_columns(df, [column], dataset)
    values = df[column]
    if pd.api.types.is_bool_dtype(values.dtype):
        raise DataError("holds booleans, not numbers", dataset=dataset, column=column)
    if pd.api.types.is_numeric_dtype(values.dtype):
        numbers = values.astype("float64")
        bad = np.flatnonzero(np.isinf(numbers.to_numpy()))
        texts = [repr(float(x)) for x in numbers.to_numpy()]
    else:
        texts = text_values(values).tolist()
        parsed = np.full(len(texts), np.nan)
        bad_list = []
        for i, text in enumerate(texts):
            if text == "":
                continue
            if number_problem(text) is not None:
                bad_list.append(i)
            else:
                parsed[i] = float(text)
        bad = np.asarray(bad_list, dtype=int)
        numbers = pd.Series(parsed, index=df.index, name=column)
    if len(bad):
        numbered, who = _rows(df, rows), subjects_of(df)
        raise_all(
            [
                DataError(
                    number_problem(texts[i]) or f"'{texts[i]}' is not a finite number",
                    dataset=dataset,
                    row=int(numbered[i]),
                    subject=who[i],
                    column=column,
                )
                for i in bad
            ]
        )
    return numbers


def check_duplicates(
    df: pd.DataFrame,
    keys: Sequence[str],
    dataset: str,
    *,
    what: str | None = None,
) -> None:
    """:class:`DataError` when two or more rows share ``keys`` (a dataset's natural key, e.g.
    ``USUBJID`` in DM, "one record per subject" in SDTMIG), naming the rows and the subject;
    ``what`` prefixes the message ("more than one randomization record: …")."""
    keys = list(keys)
    require_columns(df, keys, dataset)
    duplicated = df.duplicated(subset=keys, keep=False).to_numpy()
    if not duplicated.any():
        return
    numbers, who = row_numbers(df), subjects_of(df)
    groups: dict[tuple[Any, ...], list[int]] = {}
    key_values = df[keys].itertuples(index=False, name=None)
    for position, (flag, key) in enumerate(zip(duplicated, key_values, strict=True)):
        if flag:
            groups.setdefault(key, []).append(position)
    errors = []
    for key, positions in groups.items():
        rows = [int(numbers[p]) for p in positions]
        described = ", ".join(f"{k}={v!r}" for k, v in zip(keys, key, strict=True))
        message = f"{len(rows)} rows share the key {described}: rows {rows}"
        errors.append(
            DataError(
                f"{what}: {message}" if what else message,
                dataset=dataset,
                subject=who[positions[1]],
                row=rows[1],
                column=", ".join(keys),
            )
        )
    raise_all(errors)


def unique_subjects(frame: pd.DataFrame, dataset: str = "ADSL") -> pd.Series:
    """The USUBJID column as text, refusing a subject listed twice (one row per subject,
    ADaMIG ADSL structure) with :class:`DataError` naming the first repeated row."""
    require_columns(frame, [SUBJECT], dataset)
    subjects = text_values(frame[SUBJECT])
    repeated = subjects.duplicated()
    if repeated.any():
        i = int(np.flatnonzero(repeated.to_numpy())[0])
        raise DataError(
            "subject appears more than once",
            dataset=dataset,
            subject=subjects.iloc[i],
            row=int(row_numbers(frame)[i]),
            column=SUBJECT,
        )
    return subjects


def check_subjects_known(
    df: pd.DataFrame,
    known: Iterable[str],
    *,
    dataset: str,
    reference: str = "ADSL",
    rows: Sequence[int] | pd.Series | np.ndarray | None = None,
) -> None:
    """Every subject of ``df`` is in ``known`` (the subjects of DM or ADSL, the subject-level
    spine); every other one is reported at once."""
    wanted = set(known)
    numbered = _rows(df, rows)
    raise_all(
        [
            DataError(
                f"subject is not in {reference}",
                dataset=dataset,
                subject=subject,
                row=int(numbered[i]),
                column=SUBJECT,
            )
            for i, subject in enumerate(text_values(df[SUBJECT]).tolist())
            if subject not in wanted
        ]
    )


# ---------------------------------------------------------------------------------------------
# dates


def dtc_values(
    df: pd.DataFrame,
    column: str,
    dataset: str,
    *,
    highest: HighestImputation = "n",
    date_rule: str = "first",
    time_rule: TimeImputation = "first",
    min_dates: Sequence[Sequence[date | None]] | None = None,
    max_dates: Sequence[Sequence[date | None]] | None = None,
    mask: np.ndarray | pd.Series | None = None,
    rows: Sequence[int] | pd.Series | np.ndarray | None = None,
) -> list[ImputedDatetime]:
    """An SDTM ``--DTC`` column imputed row by row as admiral ``derive_vars_dtm`` (see
    :func:`oncotrial.cdisc.dates.impute_datetime`); malformed or impossible values are all
    reported at once. ``min_dates``/``max_dates`` hold each row's bounds; rows outside
    ``mask`` are not read."""
    none = ImputedDatetime(None, "", "")
    if column not in df.columns:
        return [none] * len(df)
    use = np.ones(len(df), bool) if mask is None else np.asarray(mask, dtype=bool)
    numbered, who = _rows(df, rows), subjects_of(df)
    out: list[ImputedDatetime] = []
    errors: list[DataError] = []
    for i, text in enumerate(text_values(df[column]).tolist()):
        if not use[i] or not text:
            out.append(none)
            continue
        try:
            parsed = parse_dtc(text)
        except ValueError as exc:
            errors.append(
                DataError(
                    str(exc), dataset=dataset, subject=who[i], row=int(numbered[i]), column=column
                )
            )
            out.append(none)
            continue
        out.append(
            impute_datetime(
                parsed,
                highest=highest,
                date_rule=date_rule,  # type: ignore[arg-type]
                time_rule=time_rule,
                min_dates=() if min_dates is None else min_dates[i],
                max_dates=() if max_dates is None else max_dates[i],
            )
        )
    raise_all(errors)
    return out


def partial_date_message(text: str, column: str, purpose: str) -> str:
    """The one wording of a partial date where the day is needed (rule ``date_partial``)."""
    return f"'{text}' is a partial date; {column} needs the day ({purpose})"


def exact_dtc(
    df: pd.DataFrame,
    column: str,
    dataset: str,
    *,
    purpose: str,
    time_rule: TimeImputation = "first",
    required: bool = False,
    on_partial: str = "error",
    mask: np.ndarray | pd.Series | None = None,
    rows: Sequence[int] | pd.Series | np.ndarray | None = None,
) -> tuple[np.ndarray, list[str]]:
    """An SDTM ``--DTC`` column whose dates the rule needs to the day, as ``datetime64[ns]``
    with missing time parts imputed by ``time_rule`` (admiral ``derive_vars_dtm`` with
    ``highest_imputation = "h"``), and the time imputation flags. A partial date is refused
    (rule ``date_partial``, saying ``purpose``) or, with ``on_partial="ignore"``, left out as
    admiral does; a missing one is refused when ``required``. Every problem is reported at
    once."""
    values = dtc_values(df, column, dataset, highest="n", time_rule=time_rule, mask=mask, rows=rows)
    use = np.ones(len(df), bool) if mask is None else np.asarray(mask, dtype=bool)
    texts = text_values(df[column]).tolist() if column in df.columns else [""] * len(df)
    numbered, who = _rows(df, rows), subjects_of(df)
    errors = []
    for i, value in enumerate(values):
        if not use[i] or value.value is not None:
            continue
        where = {"dataset": dataset, "subject": who[i], "row": int(numbered[i]), "column": column}
        if texts[i] and on_partial == "error":
            errors.append(
                DataError(
                    partial_date_message(texts[i], column, purpose), rule="date_partial", **where
                )
            )
        elif not texts[i] and required:
            errors.append(DataError("date is missing", **where))
    raise_all(errors)
    stamps = np.array(
        [np.datetime64("NaT") if v.value is None else np.datetime64(v.value) for v in values],
        dtype="datetime64[ns]",
    )
    return stamps, [v.time_flag for v in values]


def analysis_datetimes(
    df: pd.DataFrame,
    column: str,
    dataset: str,
    *,
    date_only: bool = False,
    required: bool = False,
    rows: Sequence[int] | pd.Series | np.ndarray | None = None,
) -> np.ndarray:
    """An ADaM date or datetime variable (typed, or complete ISO 8601 text) as
    ``datetime64[ns]`` (NaT where missing; ``date_only`` drops the time). ADaM dates are
    complete by definition (partial dates are imputed in the ADaM that owns them, with a
    ``--DTF`` flag), so partial, malformed or impossible values — and, when ``required``,
    missing ones — are all reported at once."""
    values = df[column]
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        stamps = values.dt.tz_localize(None) if values.dt.tz is not None else values
        stamps = stamps.astype("datetime64[ns]")
        out = (stamps.dt.normalize() if date_only else stamps).to_numpy()
        if required and np.isnat(out).any():
            _missing_dates(df, column, dataset, np.isnat(out), rows)
        return out
    out = np.full(len(values), np.datetime64("NaT"), dtype="datetime64[ns]")
    numbered, who = _rows(df, rows), subjects_of(df)
    errors: list[DataError] = []
    for i, raw in enumerate(values.tolist()):
        where = {"dataset": dataset, "subject": who[i], "row": int(numbered[i]), "column": column}
        if is_missing(raw) or (isinstance(raw, str) and not raw.strip()):
            if required:
                errors.append(DataError("date is missing", **where))
            continue
        if isinstance(raw, pd.Timestamp | np.datetime64 | datetime | date):
            stamp = pd.Timestamp(raw)
        else:
            try:
                stamp = pd.Timestamp(parse_analysis_datetime(str(raw)))
            except ValueError as exc:
                errors.append(DataError(str(exc), **where))
                continue
        out[i] = (stamp.normalize() if date_only else stamp).to_datetime64()
    raise_all(errors)
    return out


def _missing_dates(
    df: pd.DataFrame,
    column: str,
    dataset: str,
    missing: np.ndarray,
    rows: Sequence[int] | pd.Series | np.ndarray | None,
) -> None:
    numbered, who = _rows(df, rows), subjects_of(df)
    raise_all(
        [
            DataError(
                "date is missing",
                dataset=dataset,
                subject=who[i],
                row=int(numbered[i]),
                column=column,
            )
            for i in np.flatnonzero(missing)
        ]
    )


def date_column(
    df: pd.DataFrame, column: str, *, dataset: str, rows: pd.Series | None = None
) -> pd.Series:
    """An ADaM date variable as a ``datetime64[ns]`` Series of dates (see
    :func:`analysis_datetimes`)."""
    days = analysis_datetimes(df, column, dataset, date_only=True, rows=rows)
    return pd.Series(days, index=df.index, name=column)


def numeric_column(
    df: pd.DataFrame, column: str, *, dataset: str, rows: pd.Series | None = None
) -> pd.Series:
    """A numeric variable (``--SEQ``, ``VISITNUM``, ``ASEQ``) as float (see
    :func:`numeric_values`)."""
    return numeric_values(df, column, dataset, rows=rows).rename(column)
