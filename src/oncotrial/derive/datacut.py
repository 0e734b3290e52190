"""The data cut of an analysis: the date up to which the data were collected, and the check
that no record is dated after it.

A report states the trial's data cut (the study setting ``data_cut``), not the latest date
found in the data; a record dated after the cut means the data are not the snapshot the cut
names, so the analysis is refused (rather than silently analysing later data). Every ``--DTC``
variable is read (birth dates excepted); a partial date is after the cut only when its
earliest possible day is (ISO 8601 partial dates, as :mod:`oncotrial.derive.dates` reads
them).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import pandas as pd

from oncotrial.derive.dates import parse_iso_date
from oncotrial.derive.errors import CombinedDataError, DataError

#: Date variables that are not events of the trial.
NOT_EVENTS = frozenset({"BRTHDTC"})


def records_after(domains: Mapping[str, pd.DataFrame], cut: date) -> list[DataError]:
    """One :class:`DataError` per domain and date variable with records after ``cut`` (its
    first such row, and how many)."""
    found = []
    for name, frame in domains.items():
        for column in (c for c in frame.columns if c.endswith("DTC") and c not in NOT_EVENTS):
            later = []
            for i, text in enumerate(frame[column].tolist()):
                if not isinstance(text, str) or not text.strip():
                    continue
                try:
                    parsed = parse_iso_date(text)
                except ValueError:
                    continue  # malformed dates are the derivations' to refuse, with their row
                earliest = parsed.impute("first") if parsed is not None else None
                if earliest is not None and earliest > cut:
                    later.append(i)
            if later:
                i = later[0]
                subject = frame["USUBJID"].iloc[i] if "USUBJID" in frame.columns else None
                found.append(
                    DataError(
                        f"'{frame[column].iloc[i]}' is after the data cut {cut.isoformat()} "
                        f"({len(later)} record(s) of {name.upper()} are)",
                        dataset=name.upper(),
                        subject=None if subject is None else str(subject),
                        row=i + 1,
                        column=column,
                    )
                )
    return found


def check_data_cut(domains: Mapping[str, pd.DataFrame], cut: date) -> None:
    """Raise :class:`DataError` (or :class:`CombinedDataError`) naming the records dated after
    ``cut``: the data must be the snapshot the cut names."""
    found = records_after(domains, cut)
    if len(found) == 1:
        raise found[0]
    if found:
        raise CombinedDataError(found)
