"""``oncotrial km``: Kaplan–Meier estimates (median, survival at landmark times, log-rank test
between groups) from a file with one row per patient and analysis — an ADaM ADTTE holds one
row per subject and parameter, so one parameter (``--param OS``) is analysed at a time, and a
subject appearing twice in one analysis is refused."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

import typer
from rich.table import Table

from oncotrial.cli.common import (
    CliError,
    FormatOption,
    OutputFormat,
    console,
    emit_json,
    parse_floats,
    user_errors,
)

if TYPE_CHECKING:
    from oncotrial.stats.survival import KaplanMeier

#: Data errors listed before "… and N more".
MAX_ERRORS_SHOWN = 20
#: Name of the single curve when there is no --by.
ALL = "all"
#: ADaM's parameter code and subject identifier (ADaMIG BDS).
PARAM = "PARAMCD"
SUBJECT = "USUBJID"


class ConfTypeChoice(StrEnum):
    log = "log"
    log_log = "log-log"
    plain = "plain"


@dataclass(frozen=True)
class SurvivalData:
    """Times, 0/1 events and (optionally) group labels read and checked from a file."""

    time: np.ndarray
    event: np.ndarray
    group: np.ndarray | None


def read_table(path: Path) -> pd.DataFrame:
    """A CSV (optionally gzip-compressed) or Parquet file as a data frame; CSV cells are kept
    as text so that bad values can be reported as written."""
    import pandas as pd

    if not path.is_file():
        raise CliError(f"{path}: no such file")
    name = path.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            return pd.read_parquet(path)
        return pd.read_csv(path, dtype=str, keep_default_na=False, compression="infer")
    except (ValueError, OSError, ImportError) as exc:
        raise CliError(f"{path}: cannot read the file as CSV or Parquet ({exc})") from None


def _where(path: Path, row: int, column: str, csv: bool) -> str:
    line = f" (line {row + 1})" if csv else ""
    return f"{path}, row {row}{line}, column '{column}'"


def _number(value: Any) -> float | None:
    """A cell as a float; None when empty; NaN when it is not a number."""
    import numpy as np

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str):
        value = value.strip()
        if value == "" or value.upper() in {"NA", "NAN", "."}:
            return None
    if isinstance(value, bool | np.bool_):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def survival_data(
    frame: pd.DataFrame,
    path: Path,
    time: str,
    event: str,
    by: str | None,
    cnsr: bool = False,
) -> SurvivalData:
    """Check and convert the time, event and group columns; every bad cell is reported with
    file, row (1-based data row) and column, all at once.

    Events are 1/0 (event/censored); like R's ``Surv``, a column coded 1/2 is read as
    1 = censored, 2 = event. With ``cnsr`` the column is ADaM's CNSR (1 = censored, 0 = event).
    """
    import numpy as np

    columns = [c for c in (time, event, by) if c is not None]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        known = ", ".join(str(c) for c in frame.columns)
        raise CliError(f"{path}: no column {', '.join(map(repr, missing))} (columns: {known})")
    if frame.empty:
        raise CliError(f"{path}: no rows")
    csv = not path.name.lower().endswith((".parquet", ".pq"))
    codes = {_number(v) for v in frame[event]} - {None}
    one_two = not cnsr and codes <= {1.0, 2.0} and 2.0 in codes
    errors: list[str] = []
    times = np.empty(len(frame))
    events = np.empty(len(frame))
    for i, (t_raw, e_raw) in enumerate(zip(frame[time], frame[event], strict=True), start=1):
        t = _number(t_raw)
        if t is None:
            errors.append(f"{_where(path, i, time, csv)}: the time is missing")
        elif math.isnan(t) or math.isinf(t):
            errors.append(f"{_where(path, i, time, csv)}: '{t_raw}' is not a number")
        elif t < 0:
            errors.append(f"{_where(path, i, time, csv)}: the time {t_raw} is negative")
        else:
            times[i - 1] = t
        e = _number(e_raw)
        if e is not None and one_two:
            e = e - 1.0
        elif e is not None and cnsr and e in (0.0, 1.0):
            e = 1.0 - e
        if e is None or e not in (0.0, 1.0):
            shown = "empty" if e is None else f"'{e_raw}'"
            errors.append(
                f"{_where(path, i, event, csv)}: the event must be 1 (event) or 0 (censored), "
                f"not {shown}"
            )
        else:
            events[i - 1] = e
    group = None
    if by is not None:
        values = frame[by].tolist()
        for i, value in enumerate(values, start=1):
            if _number(value) is None:
                errors.append(f"{_where(path, i, by, csv)}: the group is missing")
        group = _group_values(values)
    if errors:
        shown = "\n".join(errors[:MAX_ERRORS_SHOWN])
        more = len(errors) - MAX_ERRORS_SHOWN
        tail = f"\n… and {more} more" if more > 0 else ""
        raise CliError(f"{len(errors)} data error(s):\n{shown}{tail}")
    return SurvivalData(times, events, group)


def one_parameter(frame: pd.DataFrame, path: Path, param: str | None) -> pd.DataFrame:
    """The rows of one analysis: those of ``param`` when the file has ADaM's PARAMCD (which
    then must be named when the file holds several parameters)."""
    if param is None:
        if PARAM in frame.columns:
            codes = sorted({str(c).strip() for c in frame[PARAM]} - {""})
            if len(codes) > 1:
                raise CliError(
                    f"{path} holds several parameters ({', '.join(codes)}): choose one with "
                    f"--param, e.g. --param {codes[0]}"
                )
        return frame
    if PARAM not in frame.columns:
        raise CliError(f"{path}: --param {param} needs a {PARAM} column (ADaM ADTTE)")
    rows = frame[frame[PARAM].astype(str).str.strip() == param]
    if rows.empty:
        codes = sorted({str(c).strip() for c in frame[PARAM]} - {""})
        raise CliError(f"{path}: no rows of {PARAM} {param} (parameters: {', '.join(codes)})")
    return rows


def once_per_subject(frame: pd.DataFrame, path: Path, csv: bool) -> None:
    """One row per subject in one analysis (Kaplan–Meier counts each row as a patient): every
    repeated subject is reported with its rows."""
    if SUBJECT not in frame.columns:
        return
    subjects = frame[SUBJECT].astype(str).str.strip()
    repeated = subjects[subjects.duplicated(keep=False) & subjects.ne("")]
    if repeated.empty:
        return
    positions = {s: [] for s in dict.fromkeys(repeated)}
    for position, subject in zip(frame.index, subjects, strict=True):
        if subject in positions:
            positions[subject].append(int(position) + 1)
    lines = [
        f"{path}: subject {s} appears {len(rows)} times (rows {', '.join(map(str, rows))}"
        + (f"; lines {', '.join(str(r + 1) for r in rows)})" if csv else ")")
        + " in one analysis; one row per subject (choose one parameter with --param)"
        for s, rows in positions.items()
    ]
    shown = "\n".join(lines[:MAX_ERRORS_SHOWN])
    more = len(lines) - MAX_ERRORS_SHOWN
    raise CliError(
        f"{len(lines)} data error(s):\n{shown}" + (f"\n… and {more} more" if more > 0 else "")
    )


def _group_values(values: list[Any]) -> np.ndarray:
    """Group labels; numbers when every label is one, so that dose levels sort 1, 2, …, 10."""
    import numpy as np

    numbers = [_number(v) for v in values]
    if all(n is not None and math.isfinite(n) for n in numbers):
        return np.array(numbers, dtype=float)
    return np.array([str(v).strip() for v in values], dtype=object)


def _num(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _group_json(label: str, fit: KaplanMeier, at: list[float]) -> dict:
    med = fit.median()
    follow = fit.reverse().median()
    return {
        "group": label,
        "n": fit.n,
        "events": fit.events,
        "censored": fit.n - fit.events,
        "median": _num(med.time),
        "median_ci": [_num(med.lower), _num(med.upper)],
        "median_followup": _num(follow.time),
        "survival_at": [
            {
                "time": row.time,
                "surv": _num(row.surv),
                "lower": _num(row.lower),
                "upper": _num(row.upper),
                "n_risk": row.n_risk,
            }
            for row in (fit.at(at) if at else [])
        ],
    }


def _fmt_time(value: float | None) -> str:
    return "NR" if value is None else f"{value:g}"


def _fmt_p(p: float) -> str:
    return f"{p:.4f}" if p >= 0.0001 else f"{p:.1e}"


def _print_text(result: dict, level: float, time_col: str) -> None:
    pct = f"{level * 100:g}%"
    param = f", {result['param']}" if result.get("param") else ""
    table = Table(title=f"Kaplan–Meier: {result['file']}{param} (time: {time_col})")
    for name in ("group", "n", "events", "censored"):
        table.add_column(name, justify="left" if name == "group" else "right")
    table.add_column(f"median ({pct} CI)", justify="right")
    table.add_column("median follow-up", justify="right")
    for g in result["groups"]:
        lo, hi = g["median_ci"]
        table.add_row(
            str(g["group"]),
            str(g["n"]),
            str(g["events"]),
            str(g["censored"]),
            f"{_fmt_time(g['median'])} ({_fmt_time(lo)}–{_fmt_time(hi)})",
            _fmt_time(g["median_followup"]),
        )
    console.print(table)
    if any(g["survival_at"] for g in result["groups"]):
        land = Table(title=f"Survival at landmark times ({result['conf_type']} scale CI)")
        land.add_column("group")
        land.add_column("time", justify="right")
        land.add_column(f"survival ({pct} CI)", justify="right")
        land.add_column("at risk", justify="right")
        for g in result["groups"]:
            for row in g["survival_at"]:
                if row["surv"] is None:
                    text = "beyond follow-up"
                else:
                    lo = "NA" if row["lower"] is None else f"{row['lower']:.3f}"
                    hi = "NA" if row["upper"] is None else f"{row['upper']:.3f}"
                    text = f"{row['surv']:.3f} ({lo}–{hi})"
                land.add_row(str(g["group"]), f"{row['time']:g}", text, str(row["n_risk"]))
        console.print(land)
    if "logrank" in result and result["logrank"]["p"] is None:
        console.print("Log-rank test: not possible, there is only one group.")
    elif "logrank" in result:
        lr = result["logrank"]
        console.print(
            f"Log-rank test: chi-square {lr['chisq']:.2f} on {lr['df']} df, p = {_fmt_p(lr['p'])}"
        )
    console.print("NR: not reached (the curve or its confidence band stays above 0.5).")


def km(
    file: Path = typer.Argument(
        ...,
        help="Data file with one row per patient: CSV, gzip-compressed CSV (.csv.gz) or Parquet.",
        show_default=False,
    ),
    time: str = typer.Option(
        ...,
        "--time",
        help="Column holding each patient's time to the event or to censoring "
        "(a number ≥ 0, e.g. days from first dose).",
        show_default=False,
    ),
    event: str = typer.Option(
        ...,
        "--event",
        help="Column holding 1 if the event (e.g. death or progression) happened at that time, "
        "0 if the patient was censored (still event-free when last seen). A 1/2 column is read "
        "as R's Surv does (2 = event).",
        show_default=False,
    ),
    cnsr: bool = typer.Option(
        False,
        "--cnsr",
        help="The --event column is ADaM's CNSR (1 = censored, 0 = event), as in ADTTE.",
    ),
    param: str | None = typer.Option(
        None,
        "--param",
        help="Analyse one parameter of an ADaM ADTTE (its PARAMCD, e.g. OS or PFS); needed "
        "when the file holds several.",
    ),
    by: str | None = typer.Option(
        None,
        "--by",
        help="Column to split patients into groups (e.g. dose level or arm): one curve per "
        "group and a log-rank test of equal survival.",
    ),
    conf_type: ConfTypeChoice = typer.Option(
        ConfTypeChoice.log,
        "--conf-type",
        help="Scale of the confidence intervals: log (R's default), log-log or plain.",
    ),
    conf_level: float = typer.Option(
        0.95, "--conf-level", help="Confidence level of all intervals, e.g. 0.95 for 95%."
    ),
    at: str | None = typer.Option(
        None,
        "--at",
        help="Landmark times, comma-separated, in the units of --time (e.g. 180,365): survival "
        "probability with its confidence interval and the number still at risk.",
    ),
    plot: Path | None = typer.Option(
        None,
        "--plot",
        help="Also draw the Kaplan–Meier curves with numbers at risk to this PNG or PDF file.",
    ),
    fmt: OutputFormat = FormatOption,
) -> None:
    """Kaplan–Meier survival (e.g. OS or PFS): median with its confidence interval, median
    follow-up (reverse Kaplan–Meier), survival at landmark times, and a log-rank test between
    groups. Estimates and intervals follow R's survival package (survfit, survdiff)."""
    with user_errors():
        from oncotrial.stats.survival import kaplan_meier, kaplan_meier_by, logrank_test

        if not 0.0 < conf_level < 1.0:
            raise CliError(f"--conf-level: {conf_level} is not between 0 and 1")
        landmarks = parse_floats(at, "--at") if at else []
        if any(t < 0 for t in landmarks):
            raise CliError(f"--at: landmark times must be ≥ 0 (got {at})")
        table = read_table(file)
        rows = one_parameter(table, file, param)
        once_per_subject(rows, file, not file.name.lower().endswith((".parquet", ".pq")))
        data = survival_data(rows.reset_index(drop=True), file, time, event, by, cnsr)
        ct: Any = conf_type.value
        if data.group is None:
            fits = {ALL: kaplan_meier(data.time, data.event, conf_type=ct, conf_level=conf_level)}
        else:
            fits = kaplan_meier_by(
                data.time, data.event, data.group, conf_type=ct, conf_level=conf_level
            )
        result: dict[str, Any] = {
            "file": str(file),
            "param": param,
            "time": time,
            "event": event,
            "by": by,
            "conf_type": ct,
            "conf_level": conf_level,
            "groups": [_group_json(label, fit, landmarks) for label, fit in fits.items()],
        }
        if data.group is not None:
            test = logrank_test(data.time, data.event, data.group)
            result["logrank"] = {"chisq": test.chisq, "df": test.df, "p": _num(test.p)}
        if plot is not None:
            from oncotrial.report.km_plot import plot_km

            title = f"Kaplan–Meier: {file.name}" + (f" ({param})" if param else "")
            plot_km(fits, plot, xlabel=time, title=title)
        if fmt is OutputFormat.json:
            emit_json(result)
            return
        _print_text(result, conf_level, time)
        if plot is not None:
            console.print(f"figure: {plot}")
