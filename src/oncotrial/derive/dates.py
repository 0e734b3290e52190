"""ISO 8601 dates of SDTM ``--DTC`` variables: those of :mod:`oncotrial.cdisc.dates` (one
grammar for entry, import and derivation), under the names older code imports."""

from oncotrial.cdisc.dates import Imputation, PartialDate, parse_iso_date

__all__ = ["Imputation", "PartialDate", "parse_iso_date"]
