"""The compact outcome grammar of dose-finding trials (Brock 2019, J Stat Softw / the R
package *escalation*): cohorts separated by spaces, each a 1-based dose index followed by one
letter per patient, ``T`` for a DLT and ``N`` for none — ``"1NNN 2NTN"``.
"""

from __future__ import annotations

import re

from oncotrial.designs.base import DesignError, Patient

_COHORT = re.compile(r"^(\d+)([NTnt]+)$")


class OutcomeSyntaxError(DesignError):
    """An outcome string that does not follow the grammar; names the offending cohort."""


def parse_outcomes(text: str, n_doses: int) -> tuple[Patient, ...]:
    """Patients (fully evaluated, in order) from an outcome string such as ``"1NNN 2NTN"``."""
    patients: list[Patient] = []
    for position, token in enumerate(text.split(), start=1):
        match = _COHORT.match(token)
        if match is None:
            raise OutcomeSyntaxError(
                f"outcome cohort {position} '{token}': expected a dose number followed by "
                "T (DLT) / N (no DLT) letters, e.g. 2NTN"
            )
        dose = int(match.group(1))
        if not 1 <= dose <= n_doses:
            raise OutcomeSyntaxError(
                f"outcome cohort {position} '{token}': dose {dose} is outside 1..{n_doses}"
            )
        patients += [Patient(dose - 1, letter in "Tt") for letter in match.group(2)]
    return tuple(patients)


def format_outcomes(patients: tuple[Patient, ...], cohort_size: int) -> str:
    """The inverse of :func:`parse_outcomes` for consecutive cohorts of equal size."""
    parts: list[str] = []
    for start in range(0, len(patients), cohort_size):
        cohort = patients[start : start + cohort_size]
        letters = "".join("T" if p.dlt else "N" for p in cohort)
        parts.append(f"{cohort[0].level + 1}{letters}")
    return " ".join(parts)
