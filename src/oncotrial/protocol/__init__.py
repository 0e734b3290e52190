"""The study protocol: a validated model of doses, DLT definition, designs and endpoints, and its
YAML loader whose errors name the file, key path and line.

>>> from oncotrial.protocol import load_protocol
>>> p = load_protocol("protocols/toripalimab-donafenib-hcc.yaml")  # doctest: +SKIP
>>> p.level_labels, p.start_index, p.phase1.design  # doctest: +SKIP
([-1, 1, 2, 3], 1, 'boin')
"""

from oncotrial.protocol.loader import (
    ProtocolError,
    ProtocolIssue,
    format_key_path,
    load_protocol,
    parse_protocol,
)
from oncotrial.protocol.model import (
    BoinParams,
    CrmParams,
    DltCriterion,
    DltDefinition,
    DltException,
    Dose,
    DoseLevel,
    Drug,
    Endpoint,
    Endpoints,
    Evaluability,
    IntervalParams,
    Phase1,
    Phase2,
    Protocol,
    Scenario,
    Schedule,
    Study,
)
from oncotrial.protocol.naming import DoseNameError, DoseNames

__all__ = [
    "BoinParams",
    "CrmParams",
    "DltCriterion",
    "DltDefinition",
    "DltException",
    "Dose",
    "DoseLevel",
    "DoseNameError",
    "DoseNames",
    "Drug",
    "Endpoint",
    "Endpoints",
    "Evaluability",
    "IntervalParams",
    "Phase1",
    "Phase2",
    "Protocol",
    "ProtocolError",
    "ProtocolIssue",
    "Scenario",
    "Schedule",
    "Study",
    "format_key_path",
    "load_protocol",
    "parse_protocol",
]
