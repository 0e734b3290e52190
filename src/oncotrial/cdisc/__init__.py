"""The ground floor: what the store and the derivations must agree on.

- :mod:`~oncotrial.cdisc.dates` — ISO 8601 dates and partial dates of SDTM ``--DTC`` variables,
  their spans and admiral's imputation rules;
- :mod:`~oncotrial.cdisc.terms` — controlled terms and which variables are numeric;
- :mod:`~oncotrial.cdisc.errors` — the typed data errors (:class:`DataError`,
  :class:`Finding`);
- :mod:`~oncotrial.cdisc.frames` — input checks on datasets (required columns, numbers, dates
  of analysis variables, duplicate keys, known subjects);
- :mod:`~oncotrial.cdisc.checks`, :mod:`~oncotrial.cdisc.study` — the edit checks of records
  and of whole SDTM folders, run at entry, on import and before a derivation;
- :mod:`~oncotrial.cdisc.plausibility` — plausible ranges of measured values.

It knows nothing of statistics or storage.
"""

from importlib import import_module
from typing import Any

#: Public names and the submodule each lives in (imported on first use: ``oncotrial.cdisc``
#: itself stays light, as the protocol model imports its plausibility defaults).
_EXPORTS = {
    "DEFAULT_PLAUSIBILITY": "plausibility",
    "Plausibility": "plausibility",
    "PlausibleRange": "plausibility",
    "DOMAIN_ORDER": "study",
    "REQUIRED_COLUMNS": "study",
    "StudyContext": "study",
    "check_study": "study",
    "STRUCTURAL_RULES": "checks",
    "CheckSettings": "checks",
    "SubjectDates": "checks",
    "check_values": "checks",
    "overridable": "checks",
    "DateFormatError": "dates",
    "Dtc": "dates",
    "parse_dtc": "dates",
    "CombinedDataError": "errors",
    "DataError": "errors",
    "Finding": "errors",
    "raise_all": "errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(f"oncotrial.cdisc.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'oncotrial.cdisc' has no attribute {name!r}")
