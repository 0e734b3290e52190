"""The one error type of the derivation layer: it names dataset, subject, row and column."""

from __future__ import annotations


class DataError(ValueError):
    """Input data that cannot be derived from, with where it is.

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
    ) -> None:
        self.message = message
        self.dataset = dataset
        self.subject = subject
        self.row = row
        self.column = column
        where = [
            part
            for part in (
                dataset and f"dataset {dataset}",
                row is not None and f"row {row}",
                subject and f"subject {subject}",
                column and f"column {column}",
            )
            if part
        ]
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


class CombinedDataError(DataError):
    """Several data errors found in one pass (so a user fixes them all at once)."""

    def __init__(self, errors: list[DataError]) -> None:
        self.errors = errors
        shown = "\n".join(str(e) for e in errors[:50])
        more = f"\n… and {len(errors) - 50} more" if len(errors) > 50 else ""
        ValueError.__init__(self, f"{len(errors)} data error(s):\n{shown}{more}")
        self.message = str(self)
        self.dataset = self.subject = self.column = None
        self.row = None


def raise_all(errors: list[DataError]) -> None:
    """Raise the one error, or all of them together; nothing when the list is empty."""
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise CombinedDataError(errors)
