"""Reading and writing CDISC datasets, and the validation helpers every derivation uses.

Formats: CSV (optionally gzipped), SAS XPORT version 5 (``.xpt``, via pyreadstat), SAS
``.sas7bdat`` (read only), CDISC Dataset-JSON v1.1 (``.json`` and its NDJSON form ``.ndjson``)
and Parquet (via pyarrow).

One cell model whatever the format, so that round trips are exact:

* character columns hold ``str``; a missing value is ``""`` (SAS and SDTM do not tell missing
  from empty);
* numeric columns are ``float64``; a missing value is ``NaN``;
* numeric dates (ADaM ``*DT``/``*DTM``, SAS date formats, Dataset-JSON ``targetDataType``
  integer) are ``datetime64[ns]``; a missing value is ``NaT``. SDTM ``--DTC`` variables stay
  ISO 8601 text.

CSV carries no types: a CSV column is numeric when its name is numeric in the CDISC models
(:func:`oncotrial.cdisc.terms.numeric_columns`) and every value is a finite number, unless
``numeric=`` names the numeric columns explicitly. Dataset metadata travels in
``DataFrame.attrs``: ``name``, ``label`` and ``labels`` (column → label); CSV keeps none of it.

A folder of SDTM files is read by :func:`scan_folder` (which files are datasets of which
domain, and which are not datasets at all) and :func:`read_domains`; ``derive`` and
``db import`` both read folders this way, so they see the same files. An empty (0-byte) file is
refused: a dataset without records still has its header row.

The checks of the values read (required columns, numbers, keys …) are in
:mod:`oncotrial.cdisc.frames`.
"""

from __future__ import annotations

import csv
import gzip
import json
import math
import os
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from oncotrial import __version__
from oncotrial.cdisc.errors import CombinedDataError, DataError
from oncotrial.cdisc.frames import SUBJECT, number_problem, subjects_of
from oncotrial.cdisc.terms import numeric_columns

Format = Literal["csv", "parquet", "xpt", "json", "ndjson"]

_EXTENSIONS: tuple[tuple[str, str], ...] = (
    (".csv.gz", "csv"),
    (".csv", "csv"),
    (".xpt", "xpt"),
    (".sas7bdat", "sas7bdat"),
    (".ndjson", "ndjson"),
    (".json", "json"),
    (".parquet", "parquet"),
)

# SAS formats whose numbers are dates (days since 1960-01-01) or datetimes (seconds).
_SAS_DATE_FORMATS = frozenset(
    {"DATE", "YYMMDD", "YYMMDDN", "YYMMDDD", "MMDDYY", "DDMMYY", "E8601DA", "B8601DA",
     "IS8601DA", "WORDDATE", "WEEKDATE", "MONYY", "YYMON", "NLDATE"}
)  # fmt: skip
_SAS_DATETIME_FORMATS = frozenset(
    {"DATETIME", "E8601DT", "B8601DT", "IS8601DT", "DATEAMPM", "NLDATM"}
)
_SAS_EPOCH = np.datetime64("1960-01-01T00:00:00", "ns")

# XPORT v5 limits (SAS technical note TS-140; FDA Study Data Technical Conformance Guide).
XPT_NAME = re.compile(r"^[A-Z][A-Z0-9_]{0,7}$")
XPT_LABEL_BYTES = 40
XPT_VALUE_BYTES = 200
_IBM_MAX = 7.2370055773322621e75  # largest IBM System/360 double: (1 - 16**-14) * 16**63
_IBM_MIN = 5.397605346934028e-79  # smallest normalised: 16**-65

Kind = Literal["text", "number", "datetime"]
_TEXT_DTYPE = pd.Series([""], dtype=str).dtype  # "str" in pandas 3, object before


# ---------------------------------------------------------------- column model


def _text(values: pd.Series) -> pd.Series:
    """A character column in the cell model: str, "" for missing."""
    if values.dtype == _TEXT_DTYPE and not values.isna().any():
        return values
    obj = values.astype(object)
    return obj.where(obj.notna(), "").astype(str)


def _is_date_only(values: pd.Series, name: str) -> bool:
    """Whether a datetime column holds dates (written as dates) rather than datetimes."""
    if name.upper().endswith("DTM"):
        return False
    present = values.dropna()
    return bool((present == present.dt.normalize()).all())


def _kind(values: pd.Series, *, dataset: str, column: str) -> Kind:
    dtype = values.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        if getattr(dtype, "tz", None) is not None:
            raise DataError(
                "time-zone aware datetimes are not supported", dataset=dataset, column=column
            )
        return "datetime"
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        return "number"
    if pd.api.types.is_string_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
        if isinstance(dtype, pd.CategoricalDtype):
            values = values.astype(object)
        inferred = pd.api.types.infer_dtype(values, skipna=True)
        if pd.api.types.is_object_dtype(values.dtype) and inferred not in ("string", "empty"):
            bad = next(i for i, v in enumerate(values) if not pd.isna(v) and not isinstance(v, str))
            raise DataError(
                f"character column holds a non-text value {values.iloc[bad]!r}",
                dataset=dataset,
                row=bad + 1,
                column=column,
            )
        return "text"
    raise DataError(f"unsupported column type {dtype}", dataset=dataset, column=column)


def normalize(df: pd.DataFrame, *, dataset: str = "dataset") -> pd.DataFrame:
    """``df`` in the cell model (text with "" / float64 / datetime64[ns]); the index and attrs
    are kept."""
    out = pd.DataFrame(index=df.index)
    for column in df.columns:
        values = df[column]
        kind = _kind(values, dataset=dataset, column=str(column))
        if kind == "text":
            out[column] = _text(values)
        elif kind == "number":
            out[column] = values.astype("float64")
        else:
            out[column] = values.astype("datetime64[ns]")
    out.attrs.update(df.attrs)
    return out


def _parse_numbers(values: pd.Series) -> tuple[np.ndarray, int | None]:
    """Text → floats; the position of the first value that is not a finite number, if any."""
    out = np.full(len(values), np.nan)
    for i, text in enumerate(values.tolist()):
        if text == "":
            continue
        if number_problem(text) is not None:
            return out, i
        out[i] = float(text)
    return out, None


def with_numeric_columns(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with its CDISC numeric text columns as numbers, where every value is a finite
    number (how a CSV is typed when no ``numeric=`` is given); other columns unchanged."""
    out = df.copy()
    out.attrs.update(df.attrs)
    for column in numeric_columns(df.columns):
        values = df[column]
        if pd.api.types.is_numeric_dtype(values.dtype):
            continue
        numbers, bad = _parse_numbers(_text(values))
        if bad is None:
            out[column] = numbers
    return out


# ---------------------------------------------------------------- reading


def _split_name(path: Path) -> tuple[str, str]:
    """(stem, format) of a dataset file name; DataError for an unsupported extension."""
    lower = path.name.lower()
    for ext, kind in _EXTENSIONS:
        if lower.endswith(ext):
            return path.name[: -len(ext)], kind
    raise DataError(
        "unsupported file type (expected .csv, .csv.gz, .xpt, .sas7bdat, .json, .ndjson "
        "or .parquet)",
        dataset=path.name,
    )


def read_dataset(
    path: str | os.PathLike[str], *, numeric: Collection[str] | None = None
) -> pd.DataFrame:
    """One dataset file as a DataFrame in the cell model (see the module docstring).

    ``numeric`` (CSV only) names the numeric columns; by default they are those of
    :func:`oncotrial.cdisc.terms.numeric_columns` whose values are all numbers. A named column
    holding a non-number raises :class:`DataError` with its row; an empty (0-byte) file too.
    """
    path = Path(path)
    _, kind = _split_name(path)
    if not path.is_file():
        raise FileNotFoundError(path)
    if path.stat().st_size == 0:
        raise DataError(
            "the file is empty (0 bytes); a dataset without records still needs its header row",
            dataset=path.name,
            rule="empty_file",
        )
    if kind == "csv":
        df = _read_csv(path, numeric)
    elif kind in ("xpt", "sas7bdat"):
        df = _read_sas(path, kind)
    elif kind == "json":
        df = _read_json(path)
    elif kind == "ndjson":
        df = _read_ndjson(path)
    else:
        df = _read_parquet(path)
    df.attrs.setdefault("name", _split_name(path)[0].upper())
    df.attrs.setdefault("label", "")
    df.attrs.setdefault("labels", {})
    df.attrs["source"] = str(path)
    return df


def _read_csv(path: Path, numeric: Collection[str] | None) -> pd.DataFrame:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
            header = next(csv.reader(handle), None)
        if not header:
            return pd.DataFrame()
        seen: set[str] = set()
        for name in header:
            if name in seen:
                raise DataError(
                    "column appears twice in the header", dataset=path.name, column=name
                )
            seen.add(name)
        raw = pd.read_csv(
            path, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8-sig"
        )
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, csv.Error) as exc:
        raise DataError(f"cannot read CSV: {exc}", dataset=path.name) from None
    df = pd.DataFrame({c: _text(raw[c]) for c in raw.columns}, index=pd.RangeIndex(len(raw)))
    if numeric is None:
        return with_numeric_columns(df)
    for column in numeric:
        if column not in df.columns:
            raise DataError("numeric column named but absent", dataset=path.name, column=column)
        values, bad = _parse_numbers(df[column])
        if bad is not None:
            raise DataError(
                number_problem(df[column].iloc[bad]) or "not a number",
                dataset=path.name,
                row=bad + 1,
                subject=subjects_of(df)[bad],
                column=column,
            )
        df[column] = values
    return df


def _sas_format_kind(fmt: str | None) -> Literal["date", "datetime"] | None:
    if not fmt:
        return None
    base = re.sub(r"\d*\.?\d*$", "", fmt.upper())
    if base in _SAS_DATE_FORMATS:
        return "date"
    if base in _SAS_DATETIME_FORMATS:
        return "datetime"
    return None


def _read_sas(path: Path, kind: str) -> pd.DataFrame:
    import pyreadstat

    reader = pyreadstat.read_xport if kind == "xpt" else pyreadstat.read_sas7bdat
    try:
        raw, meta = reader(str(path), disable_datetime_conversion=True)
    except Exception as exc:  # pyreadstat raises its own ReadstatError and others
        raise DataError(f"cannot read SAS file: {exc}", dataset=path.name) from None
    df = pd.DataFrame(index=pd.RangeIndex(len(raw)))
    for column in raw.columns:
        values = raw[column].reset_index(drop=True)
        if meta.readstat_variable_types.get(column) == "string":
            df[column] = _text(values)
            continue
        numbers = values.astype("float64")
        fmt = _sas_format_kind(meta.original_variable_types.get(column))
        if fmt is None:
            df[column] = numbers
        else:
            unit = "D" if fmt == "date" else "s"
            stamps = pd.to_datetime(numbers, unit=unit, origin=pd.Timestamp("1960-01-01"))
            df[column] = stamps.astype("datetime64[ns]")
    labels = dict(zip(meta.column_names, meta.column_labels or [], strict=False))
    df.attrs["name"] = (meta.table_name or "").upper() or _split_name(path)[0].upper()
    df.attrs["label"] = meta.file_label or ""
    df.attrs["labels"] = {c: (lab or "") for c, lab in labels.items()}
    return df


def _read_json(path: Path) -> pd.DataFrame:
    try:
        with path.open(encoding="utf-8") as handle:
            doc = json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"not valid JSON: {exc}", dataset=path.name) from None
    if not isinstance(doc, dict):
        raise DataError("not a Dataset-JSON object", dataset=path.name)
    if "columns" not in doc and ("clinicalData" in doc or "referenceData" in doc):
        doc = _from_dataset_json_v10(doc, path.name)
    return _frame_from_dataset_json(doc, doc.get("rows", []), path.name)


def _read_ndjson(path: Path) -> pd.DataFrame:
    rows = []
    with path.open(encoding="utf-8") as handle:
        try:
            meta = json.loads(handle.readline())
            for line in handle:
                if line.strip():
                    rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise DataError(f"not valid NDJSON: {exc}", dataset=path.name) from None
    if not isinstance(meta, dict):
        raise DataError("first NDJSON line is not the metadata object", dataset=path.name)
    return _frame_from_dataset_json(meta, rows, path.name)


def _from_dataset_json_v10(doc: dict[str, Any], dataset: str) -> dict[str, Any]:
    """A Dataset-JSON v1.0 document in the v1.1 layout (ITEMGROUPDATASEQ dropped)."""
    data = doc.get("clinicalData") or doc.get("referenceData") or {}
    groups = data.get("itemGroupData") or {}
    if len(groups) != 1:
        raise DataError("expected exactly one item group in Dataset-JSON v1.0", dataset=dataset)
    oid, group = next(iter(groups.items()))
    items = group.get("items", [])
    seq = [i for i, item in enumerate(items) if item.get("name") == "ITEMGROUPDATASEQ"]
    keep = [i for i in range(len(items)) if i not in seq]
    columns = [
        {
            "itemOID": items[i].get("OID", ""),
            "name": items[i]["name"],
            "label": items[i].get("label") or "",
            "dataType": items[i].get("type", "string"),
        }
        for i in keep
    ]
    rows = [[row[i] for i in keep] for row in group.get("itemData", [])]
    return {
        "itemGroupOID": oid,
        "name": group.get("name", ""),
        "label": group.get("label", ""),
        "records": group.get("records", len(rows)),
        "columns": columns,
        "rows": rows,
    }


def _frame_from_dataset_json(meta: dict[str, Any], rows: list[Any], dataset: str) -> pd.DataFrame:
    columns = meta.get("columns")
    if not isinstance(columns, list) or not all(isinstance(c, dict) for c in columns):
        raise DataError("Dataset-JSON has no 'columns' array", dataset=dataset)
    names = [c.get("name") for c in columns]
    for c, name in zip(columns, names, strict=True):
        if not name or "dataType" not in c:
            raise DataError(
                "every column needs 'name' and 'dataType'", dataset=dataset, column=name
            )
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise DataError("column appears twice", dataset=dataset, column=dup)
    records = meta.get("records")
    if records is not None and rows and records != len(rows):
        raise DataError(f"'records' is {records} but there are {len(rows)} rows", dataset=dataset)
    width = len(columns)
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != width:
            raise DataError(
                f"row has {len(row) if isinstance(row, list) else 'no'} values, expected {width}",
                dataset=dataset,
                row=i + 1,
            )
    df = pd.DataFrame(index=pd.RangeIndex(len(rows)))
    by_column = list(zip(*rows, strict=True)) if rows else [()] * width
    for col, values in zip(columns, by_column, strict=True):
        df[col["name"]] = _json_column(list(values), col, dataset=dataset)
    df.attrs["name"] = meta.get("name", "")
    df.attrs["label"] = meta.get("label", "") or ""
    df.attrs["labels"] = {c["name"]: c.get("label") or "" for c in columns}
    return df


def _json_column(values: list[Any], col: dict[str, Any], *, dataset: str) -> pd.Series:
    name, data_type, target = col["name"], col["dataType"], col.get("targetDataType")

    def bad(i: int, expected: str) -> DataError:
        return DataError(
            f"{values[i]!r} is not {expected} (dataType {data_type})",
            dataset=dataset,
            row=i + 1,
            column=name,
        )

    if data_type in ("integer", "float", "double", "decimal", "boolean") or (
        data_type == "time" and target == "integer"
    ):
        if {type(v) for v in values} <= {int, float, type(None)}:
            return pd.Series(np.array(values, dtype=float))
        out = np.full(len(values), np.nan)
        for i, v in enumerate(values):
            if v is None:
                continue
            if isinstance(v, int | float) or (
                isinstance(v, str) and data_type == "decimal" and number_problem(v) is None
            ):
                out[i] = float(v)
            elif isinstance(v, str) and data_type == "time" and v:
                out[i] = _seconds_of_day(v, bad, i)
            else:
                raise bad(i, "a number")
        return pd.Series(out)
    if data_type in ("date", "datetime") and target == "integer":
        stamps = []
        for i, v in enumerate(values):
            if v is None or v == "":
                stamps.append(pd.NaT)
                continue
            try:
                stamps.append(pd.Timestamp(v))
            except (ValueError, TypeError):
                raise bad(i, "an ISO 8601 date") from None
        return pd.Series(stamps, dtype="datetime64[ns]")
    if not {type(v) for v in values} <= {str, type(None)}:
        raise bad(
            next(i for i, v in enumerate(values) if not isinstance(v, str | None)), "a string"
        )
    return pd.Series(["" if v is None else v for v in values], dtype=str)


def _seconds_of_day(text: str, bad: Any, i: int) -> float:
    match = re.match(r"^(\d{2}):(\d{2})(?::(\d{2}(?:\.\d+)?))?$", text)
    if not match:
        raise bad(i, "an ISO 8601 time")
    return int(match[1]) * 3600 + int(match[2]) * 60 + float(match[3] or 0)


def _read_parquet(path: Path) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"cannot read Parquet file: {exc}", dataset=path.name) from None
    df = pd.DataFrame(index=pd.RangeIndex(table.num_rows))
    for field, chunked in zip(table.schema, table.columns, strict=True):
        t = field.type
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            df[field.name] = _text(pd.Series(chunked.to_pylist(), dtype=object))
        elif pa.types.is_date(t) or pa.types.is_timestamp(t):
            df[field.name] = pd.Series(
                chunked.cast(pa.timestamp("ns")).to_numpy(zero_copy_only=False)
            ).astype("datetime64[ns]")
        elif (
            pa.types.is_integer(t)
            or pa.types.is_floating(t)
            or pa.types.is_boolean(t)
            or (pa.types.is_decimal(t))
        ):
            df[field.name] = pd.Series(chunked.cast(pa.float64()).to_numpy(zero_copy_only=False))
        else:
            raise DataError(f"unsupported Parquet type {t}", dataset=path.name, column=field.name)
    meta = (table.schema.metadata or {}).get(b"oncotrial")
    if meta:
        info = json.loads(meta)
        df.attrs.update({k: info[k] for k in ("name", "label", "labels") if k in info})
    return df


@dataclass(frozen=True)
class FolderScan:
    """The files of an SDTM folder: datasets by lower-case domain, and the files that are not
    datasets of a type read here (listed, never silently skipped)."""

    found: dict[str, Path]
    ignored: list[str]


def scan_folder(
    directory: str | os.PathLike[str],
    *,
    mapping: Mapping[str, str] | None = None,
    only: Collection[str] | None = None,
) -> FolderScan:
    """Which file of a folder is which domain: ``rs.csv``, ``TR.csv.gz``, ``is.xpt``,
    ``dm.json`` → ``rs``, ``tr``, ``is``, ``dm``; ``mapping`` renames file stems to domains
    (``{"rs_onco_recist": "rs"}``; stems matched case-insensitively), ``only`` limits the
    domains. Two files of one domain raise :class:`DataError` naming both."""
    folder = Path(directory)
    if not folder.is_dir():
        raise FileNotFoundError(folder)
    renames = {k.lower(): v.lower() for k, v in (mapping or {}).items()}
    wanted = None if only is None else {d.lower() for d in only}
    found: dict[str, Path] = {}
    ignored: list[str] = []
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.name.startswith("."):
            continue
        try:
            stem, _ = _split_name(path)
        except DataError:
            ignored.append(path.name)
            continue
        domain = renames.get(stem.lower(), stem.lower())
        if wanted is not None and domain not in wanted:
            continue
        if domain in found:
            raise DataError(
                f"two files for domain {domain.upper()}: {found[domain].name} and {path.name}",
                dataset=domain.upper(),
            )
        found[domain] = path
    return FolderScan(found, ignored)


def read_domains(
    directory: str | os.PathLike[str],
    *,
    mapping: Mapping[str, str] | None = None,
    only: Collection[str] | None = None,
    as_text: bool = False,
) -> dict[str, pd.DataFrame]:
    """The datasets of a folder keyed by lower-case domain (see :func:`scan_folder`; files of
    other types are left out — :func:`scan_folder` lists them).

    ``as_text`` keeps every CSV column as the text written (for a lossless import into the
    trial store, and for the edit checks); otherwise CDISC numeric variables become numbers.
    """
    scan = scan_folder(directory, mapping=mapping, only=only)
    numeric = () if as_text else None
    return {domain: read_dataset(path, numeric=numeric) for domain, path in scan.found.items()}


# ---------------------------------------------------------------- writing


def _format_of(path: Path, fmt: str | None) -> Format:
    if fmt is not None:
        if fmt not in ("csv", "parquet", "xpt", "json", "ndjson"):
            raise ValueError(f"unknown format {fmt!r}")
        return fmt  # type: ignore[return-value]
    _, kind = _split_name(path)
    if kind == "sas7bdat":
        raise ValueError("writing .sas7bdat is not supported; use .xpt")
    return kind  # type: ignore[return-value]


def _number_text(x: float) -> str:
    """The shortest text that reads back as exactly ``x`` ("" for NaN, no ".0" on integers)."""
    if math.isnan(x):
        return ""
    if x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    return repr(x)


def _datetime_texts(values: pd.Series, date_only: bool) -> list[str]:
    fmt = "%Y-%m-%d" if date_only else "%Y-%m-%dT%H:%M:%S"
    out = []
    for v in values:
        if pd.isna(v):
            out.append("")
        else:
            text = v.strftime(fmt)
            if not date_only and v.microsecond:
                text += f".{v.microsecond:06d}".rstrip("0")
            out.append(text)
    return out


def write_dataset(
    df: pd.DataFrame,
    path: str | os.PathLike[str],
    format: Format | None = None,
    *,
    name: str | None = None,
    label: str | None = None,
    labels: Mapping[str, str] | None = None,
    keys: Sequence[str] = (),
) -> Path:
    """Write ``df`` as CSV, Parquet, XPORT v5, Dataset-JSON v1.1 or its NDJSON form.

    ``format`` defaults to the file's extension. ``name``/``label``/``labels`` default to
    ``df.attrs`` (then the file stem upper-cased, "" and ""). ``keys`` become Dataset-JSON
    ``keySequence``. XPORT limits are checked first (:func:`xpt_violations`) and every
    violation is reported in one :class:`CombinedDataError`; nothing is truncated. The file is
    written to a temporary name and moved into place, so a failed write leaves any existing
    file untouched.
    """
    target = Path(path)
    kind = _format_of(target, format)
    stem = target.name.split(".")[0]
    name = name if name is not None else (df.attrs.get("name") or stem.upper())
    label = label if label is not None else df.attrs.get("label", "")
    all_labels = {**df.attrs.get("labels", {}), **(labels or {})}
    frame = normalize(df, dataset=name)
    for key in keys:
        if key not in frame.columns:
            raise DataError("key column absent", dataset=name, column=key)
    if kind == "xpt":
        problems = xpt_violations(frame, name=name, label=label, labels=all_labels)
        if problems:
            raise CombinedDataError(problems)
    tmp = target.with_name(f".tmp-{os.getpid()}-{target.name}")
    try:
        if kind == "csv":
            _write_csv(frame, tmp)
        elif kind == "parquet":
            _write_parquet(frame, tmp, name, label, all_labels)
        elif kind == "xpt":
            _write_xpt(frame, tmp, name, label, all_labels)
        else:
            _write_json(frame, tmp, name, label, all_labels, keys, ndjson=kind == "ndjson")
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    return target


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    out = pd.DataFrame(index=frame.index)
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_float_dtype(values.dtype):
            out[column] = [_number_text(x) for x in values]
        elif pd.api.types.is_datetime64_any_dtype(values.dtype):
            out[column] = _datetime_texts(values, _is_date_only(values, column))
        else:
            out[column] = values
    out.to_csv(path, index=False, quoting=csv.QUOTE_ALL, lineterminator="\n", encoding="utf-8")


def _write_parquet(
    frame: pd.DataFrame, path: Path, name: str, label: str, labels: Mapping[str, str]
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrays, fields = [], []
    for column in frame.columns:
        values = frame[column]
        meta = {b"label": labels.get(column, "").encode()}
        if pd.api.types.is_float_dtype(values.dtype):
            arr = pa.array(values.to_numpy(), type=pa.float64(), from_pandas=True)
        elif pd.api.types.is_datetime64_any_dtype(values.dtype):
            arr = pa.array(values.to_numpy(), type=pa.timestamp("ns"), from_pandas=True)
            if _is_date_only(values, column):
                arr = arr.cast(pa.date32())
        else:
            arr = pa.array([v or None for v in values.to_numpy(dtype=object)], type=pa.string())
        arrays.append(arr)
        fields.append(pa.field(column, arr.type, metadata=meta))
    info = {"name": name, "label": label, "labels": {c: labels.get(c, "") for c in frame}}
    schema = pa.schema(fields, metadata={b"oncotrial": json.dumps(info).encode()})
    pq.write_table(pa.Table.from_arrays(arrays, schema=schema), path)


def xpt_violations(
    df: pd.DataFrame,
    *,
    name: str,
    label: str = "",
    labels: Mapping[str, str] | None = None,
) -> list[DataError]:
    """Every way ``df`` breaks SAS XPORT version 5 (SAS TS-140; FDA Study Data Technical
    Conformance Guide): dataset and variable names of 1-8 upper-case letters, digits
    or underscores starting with a letter; dataset and variable labels of at most 40 bytes;
    character values of at most 200 bytes and without trailing blanks (XPORT pads with
    blanks, so they would be lost); numbers within the IBM double range."""
    labels = labels or {}
    problems: list[DataError] = []
    if not XPT_NAME.match(name):
        problems.append(
            DataError(
                f"dataset name {name!r} must be 1-8 upper-case letters, digits or underscores "
                "starting with a letter",
                dataset=name,
            )
        )
    if len(label.encode()) > XPT_LABEL_BYTES:
        problems.append(
            DataError(
                f"dataset label is {len(label.encode())} bytes, the limit is {XPT_LABEL_BYTES}: "
                f"{label!r}",
                dataset=name,
            )
        )
    frame = normalize(df, dataset=name)
    subjects = frame[SUBJECT] if SUBJECT in frame.columns else None
    for column in frame.columns:
        if not XPT_NAME.match(str(column)):
            problems.append(
                DataError(
                    "variable name must be 1-8 upper-case letters, digits or underscores starting "
                    "with a letter",
                    dataset=name,
                    column=str(column),
                )
            )
        text = labels.get(column, "")
        if len(text.encode()) > XPT_LABEL_BYTES:
            problems.append(
                DataError(
                    f"label is {len(text.encode())} bytes, the limit is "
                    f"{XPT_LABEL_BYTES}: {text!r}",
                    dataset=name,
                    column=str(column),
                )
            )
        values = frame[column]
        if pd.api.types.is_float_dtype(values.dtype):
            magnitude = values.abs()
            out_of_range = (magnitude > _IBM_MAX) | ((magnitude > 0) & (magnitude < _IBM_MIN))
            for i in np.flatnonzero(out_of_range.to_numpy()):
                problems.append(
                    DataError(
                        f"{values.iloc[i]!r} is outside the range of XPORT (IBM) numbers",
                        dataset=name,
                        row=int(i) + 1,
                        column=str(column),
                        subject=None if subjects is None else subjects.iloc[i],
                    )
                )
        elif not pd.api.types.is_datetime64_any_dtype(values.dtype):
            sizes = values.str.len()
            if sizes.max(skipna=True) > XPT_VALUE_BYTES // 4:  # UTF-8 takes up to 4 bytes
                sizes = values.str.encode("utf-8").str.len()
            for i in np.flatnonzero((sizes > XPT_VALUE_BYTES).to_numpy()):
                problems.append(
                    DataError(
                        f"value is {int(sizes.iloc[i])} bytes, the limit is {XPT_VALUE_BYTES}",
                        dataset=name,
                        row=int(i) + 1,
                        column=str(column),
                        subject=None if subjects is None else subjects.iloc[i],
                    )
                )
            trailing = values.str.len() != values.str.rstrip(" ").str.len()
            for i in np.flatnonzero(trailing.to_numpy()):
                problems.append(
                    DataError(
                        f"value {values.iloc[i]!r} ends in blanks, which XPORT cannot keep",
                        dataset=name,
                        row=int(i) + 1,
                        column=str(column),
                        subject=None if subjects is None else subjects.iloc[i],
                    )
                )
    return problems


def _write_xpt(
    frame: pd.DataFrame, path: Path, name: str, label: str, labels: Mapping[str, str]
) -> None:
    import pyreadstat

    out = pd.DataFrame(index=frame.index)
    formats = {}
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_datetime64_any_dtype(values.dtype):
            date_only = _is_date_only(values, column)
            seconds = (values - _SAS_EPOCH).dt.total_seconds()
            out[column] = seconds / 86_400 if date_only else seconds
            formats[column] = "DATE9." if date_only else "DATETIME20."
        elif pd.api.types.is_float_dtype(values.dtype):
            out[column] = values
        else:
            out[column] = pd.Series(values.to_numpy(dtype=object), index=frame.index, dtype=object)
    pyreadstat.write_xport(
        out,
        str(path),
        file_label=label,
        column_labels={c: labels[c] for c in frame.columns if labels.get(c)},
        table_name=name,
        file_format_version=5,
        variable_format=formats or None,
    )


def _json_columns(
    frame: pd.DataFrame, name: str, labels: Mapping[str, str], keys: Sequence[str]
) -> tuple[list[dict[str, Any]], list[list[Any]]]:
    """Dataset-JSON v1.1 column metadata and the columns' JSON values."""
    columns, values = [], []
    for column in frame.columns:
        series = frame[column]
        meta: dict[str, Any] = {
            "itemOID": f"IT.{name}.{column}",
            "name": column,
            "label": labels.get(column, ""),
        }
        if pd.api.types.is_float_dtype(series.dtype):
            present = series.dropna()
            if not np.isfinite(present).all():
                bad = int(np.flatnonzero(np.isinf(series.to_numpy()))[0])
                raise DataError(
                    "infinite numbers cannot be written to JSON",
                    dataset=name,
                    row=bad + 1,
                    column=column,
                )
            integral = bool((present == np.round(present)).all() and (present.abs() < 2**53).all())
            meta["dataType"] = "integer" if integral else "double"
            cast = int if integral else float
            values.append([None if math.isnan(x) else cast(x) for x in series])
        elif pd.api.types.is_datetime64_any_dtype(series.dtype):
            date_only = _is_date_only(series, column)
            meta["dataType"] = "date" if date_only else "datetime"
            meta["targetDataType"] = "integer"
            meta["displayFormat"] = "E8601DA." if date_only else "E8601DT."
            values.append([t or None for t in _datetime_texts(series, date_only)])
        else:
            if column.upper().endswith("DTC"):
                meta["dataType"] = "datetime" if series.str.contains("T").any() else "date"
            else:
                meta["dataType"] = "string"
            meta["length"] = max(1, int(series.str.len().max() or 0)) if len(series) else 1
            values.append([v or None for v in series.to_numpy(dtype=object)])
        if column in keys:
            meta["keySequence"] = list(keys).index(column) + 1
        columns.append(meta)
    return columns, values


def _write_json(
    frame: pd.DataFrame,
    path: Path,
    name: str,
    label: str,
    labels: Mapping[str, str],
    keys: Sequence[str],
    *,
    ndjson: bool,
) -> None:
    columns, values = _json_columns(frame, name, labels, keys)
    meta = {
        "datasetJSONCreationDateTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "datasetJSONVersion": "1.1.0",
        "sourceSystem": {"name": "oncotrial", "version": __version__},
        "itemGroupOID": f"IG.{name}",
        "records": len(frame),
        "name": name,
        "label": label,
        "columns": columns,
    }
    rows = [list(row) for row in zip(*values, strict=True)] if values else [[]] * len(frame)
    with path.open("w", encoding="utf-8") as handle:
        if ndjson:
            handle.write(json.dumps(meta, ensure_ascii=False) + "\n")
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            json.dump({**meta, "rows": rows}, handle, ensure_ascii=False)
