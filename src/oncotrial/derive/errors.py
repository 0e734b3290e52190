"""The typed data errors of the derivations: those of :mod:`oncotrial.cdisc.errors`, under the
name older code imports."""

from oncotrial.cdisc.errors import CombinedDataError, DataError, raise_all

__all__ = ["CombinedDataError", "DataError", "raise_all"]
