"""The typed data errors shared by every door of the system.

:class:`Finding` is one broken rule (subject, form or dataset, field, rule, message, severity):
the edit checks at entry and on import produce them, and so does ``derive`` before it derives.
:class:`DataError` is the exception a derivation raises for input it cannot use; a finding that
refuses data becomes one with :meth:`Finding.as_error`. Both print the same location text
("dataset TR, row 12, subject 01-003, column TRSTRESN"), so a user reads the same line whichever
door refused the data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]

#: SDTM domains held by the trial (their findings name a dataset; others name a form).
SDTM_DOMAINS = frozenset({"DM", "DS", "EX", "AE", "TU", "TR", "RS", "IS", "LB", "VS", "MH", "CM"})


def location(
    dataset: str | None = None,
    row: int | None = None,
    subject: str | None = None,
    column: str | None = None,
    record_id: int | None = None,
    *,
    kind: str = "dataset",
) -> str:
    """Where a problem is: ``dataset AE, row 3, subject S1, column AESTDTC`` (parts absent
    when unknown); ``row`` is the 1-based data row (a CSV file's line minus its header)."""
    parts = [
        dataset and f"{kind} {dataset}",
        row is not None and f"row {row}",
        record_id is not None and f"record #{record_id}",
        subject and f"subject {subject}",
        column and f"column {column}",
    ]
    return ", ".join(p for p in parts if p)


class DataError(ValueError):
    """Input data that cannot be used, with where it is and (when a named rule refused it)
    the rule.

    ``row`` is the 1-based data row of the input dataset (file line minus the header for CSV).
    """

    def __init__(
        self,
        message: str,
        *,
        dataset: str | None = None,
        subject: str | None = None,
        row: int | None = None,
        column: str | None = None,
        rule: str | None = None,
    ) -> None:
        self.message = message
        self.dataset = dataset
        self.subject = subject
        self.row = row
        self.column = column
        self.rule = rule
        where = location(dataset, row, subject, column)
        text = f"[{rule}] {message}" if rule else message
        super().__init__(f"{where}: {text}" if where else text)


class CombinedDataError(DataError):
    """Several data errors found in one pass (so a user fixes them all at once)."""

    def __init__(self, errors: Sequence[DataError]) -> None:
        self.errors = list(errors)
        shown = "\n".join(str(e) for e in self.errors[:50])
        more = f"\n… and {len(self.errors) - 50} more" if len(self.errors) > 50 else ""
        ValueError.__init__(self, f"{len(self.errors)} data error(s):\n{shown}{more}")
        self.message = str(self)
        self.dataset = self.subject = self.column = self.rule = None
        self.row = None


def raise_all(errors: Sequence[DataError]) -> None:
    """Raise the one error, or all of them together; nothing when the list is empty."""
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise CombinedDataError(errors)


@dataclass(frozen=True)
class Finding:
    """One broken rule: where (subject, form or SDTM domain, field, row or stored record) and
    what (rule, message); ``severity`` "error" refuses the data, "warning" lets it in.

    ``row`` is the 0-based position of the record in the batch that was checked (printed as
    the 1-based data row); ``record_id`` names a record already stored.
    """

    usubjid: str | None
    domain: str
    field: str
    rule: str
    message: str
    row: int | None = None
    record_id: int | None = None
    severity: Severity = "error"

    @property
    def where(self) -> str:
        kind = "dataset" if self.domain in SDTM_DOMAINS else "form"
        row = None if self.row is None else self.row + 1
        return location(self.domain, row, self.usubjid, self.field, self.record_id, kind=kind)

    def __str__(self) -> str:
        level = "" if self.severity == "error" else f"{self.severity}: "
        return f"{level}{self.where}: [{self.rule}] {self.message}"

    def as_error(self) -> DataError:
        """The finding as the exception a derivation raises."""
        row = None if self.row is None else self.row + 1
        return DataError(
            self.message,
            dataset=self.domain,
            subject=self.usubjid,
            row=row,
            column=self.field,
            rule=self.rule,
        )

    def to_json(self) -> dict[str, object]:
        """The finding as plain JSON (``row`` as the 1-based data row)."""
        return {
            "severity": self.severity,
            "rule": self.rule,
            "dataset": self.domain,
            "row": None if self.row is None else self.row + 1,
            "record_id": self.record_id,
            "subject": self.usubjid,
            "field": self.field,
            "message": self.message,
            "text": str(self),
        }


def errors_of(findings: Sequence[Finding]) -> list[Finding]:
    """The findings that refuse data (severity ``error``)."""
    return [finding for finding in findings if finding.severity == "error"]


def warnings_of(findings: Sequence[Finding]) -> list[Finding]:
    """The findings that let data in with a warning."""
    return [finding for finding in findings if finding.severity == "warning"]
