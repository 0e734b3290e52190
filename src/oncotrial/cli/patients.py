"""Reading the patient-level DLT data a committee decides on (CSV or JSON), with errors that
name the file, the row and the field."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from oncotrial.designs.base import Patient


TRUE_WORDS = {"1", "y", "yes", "true", "t"}
FALSE_WORDS = {"0", "n", "no", "false", "f"}


class PatientDataError(ValueError):
    """A patient file that cannot be used; says which file, row (1-based) and field."""

    def __init__(self, path: Path, row: int | None, field: str | None, message: str) -> None:
        where = f"{path}"
        if row is not None:
            where += f", row {row}"
        if field is not None:
            where += f", field '{field}'"
        super().__init__(f"{where}: {message}")
        self.path, self.row, self.field = path, row, field


def _rows(path: Path) -> list[dict]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise PatientDataError(path, None, None, f"cannot read the file ({exc.strerror})") from exc
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PatientDataError(path, exc.lineno, None, f"invalid JSON: {exc.msg}") from exc
        if isinstance(data, dict) and "patients" in data:
            data = data["patients"]
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise PatientDataError(path, None, None, "expected a list of patient objects")
        return data
    return list(csv.DictReader(text.splitlines()))


def _number(path: Path, row: int, field: str, value: object) -> float | None:
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise PatientDataError(path, row, field, f"'{value}' is not a number") from None
    if math.isnan(number) or number < 0:
        raise PatientDataError(path, row, field, f"must be a number ≥ 0 (got {value})")
    return number


def read_patients(
    path: Path, n_doses: int, level_labels: Sequence[int] | None = None
) -> tuple[Patient, ...]:
    """Patients in file order. Columns: ``dose_index`` (1-based) or ``level`` (a protocol
    label such as -1, 1, 2, 3); ``dlt`` (yes/no, 1/0, true/false); optional ``dlt_day`` and
    ``followup_days`` (days since first dose; blank = the DLT window is complete)."""
    from oncotrial.designs.base import Patient

    path = Path(path)
    rows = _rows(path)
    if not rows:
        raise PatientDataError(path, None, None, "no patients in the file")
    patients: list[Patient] = []
    for i, raw in enumerate(rows, start=1):
        row = {str(k).strip().lower(): v for k, v in raw.items() if k is not None}
        if "dose_index" in row and str(row["dose_index"]).strip() != "":
            try:
                level = int(str(row["dose_index"]).strip()) - 1
            except ValueError:
                raise PatientDataError(
                    path, i, "dose_index", f"'{row['dose_index']}' is not a whole number"
                ) from None
            if not 0 <= level < n_doses:
                raise PatientDataError(
                    path, i, "dose_index", f"{level + 1} is outside 1..{n_doses}"
                )
        elif "level" in row and str(row["level"]).strip() != "":
            if level_labels is None:
                raise PatientDataError(
                    path, i, "level", "dose-level labels need --protocol (or use dose_index)"
                )
            try:
                label = int(str(row["level"]).strip())
            except ValueError:
                raise PatientDataError(
                    path, i, "level", f"'{row['level']}' is not a level"
                ) from None
            if label not in level_labels:
                raise PatientDataError(
                    path,
                    i,
                    "level",
                    f"{label} is not a dose level of the protocol "
                    f"({', '.join(map(str, level_labels))})",
                )
            level = list(level_labels).index(label)
        else:
            raise PatientDataError(path, i, "dose_index", "missing (give dose_index or level)")
        dlt_raw = row.get("dlt")
        word = str(dlt_raw).strip().lower() if dlt_raw is not None else ""
        if isinstance(dlt_raw, bool):
            dlt = dlt_raw
        elif word in TRUE_WORDS:
            dlt = True
        elif word in FALSE_WORDS:
            dlt = False
        else:
            raise PatientDataError(
                path, i, "dlt", f"'{dlt_raw}' is not yes/no (use 1/0, yes/no or true/false)"
            )
        dlt_day = _number(path, i, "dlt_day", row.get("dlt_day"))
        followup = _number(path, i, "followup_days", row.get("followup_days"))
        if not dlt and dlt_day is not None:
            raise PatientDataError(path, i, "dlt_day", "a DLT day is given but dlt is 'no'")
        if dlt and followup is not None and dlt_day is not None and dlt_day > followup:
            raise PatientDataError(
                path, i, "dlt_day", f"DLT on day {dlt_day:g} after follow-up {followup:g}"
            )
        patients.append(Patient(level, dlt, dlt_day, None if dlt else followup))
    return tuple(patients)
