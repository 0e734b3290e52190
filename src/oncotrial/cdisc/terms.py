"""Controlled terms and variable classes that entry, import and derivation must agree on.

Codelists are subsets of CDISC Controlled Terminology (SEX C66731, NY C66742, AESEV C66769,
AEOUT C66768, ACN C66767, NCOMPLT C66727 categories, oncology response C96785); CTCAE v5.0
grades are 1–5; the TU/TR vocabulary is that of the CDISC RECIST 1.1 disease-response
supplement and SDTMIG v3.4 TU/TR; the ADA results are those read by admiral's ADAB template.
Where CDISC leaves a variable sponsor-defined (``AEREL``), the values accepted are listed here
once and read the same way by the store and by ``derive``.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

# ---------------------------------------------------------------------------------------------
# numeric variables

#: Numeric variables of SDTMIG 3.x (``Num`` in the variable tables) and common ADaMIG ones.
NUMERIC_NAMES = frozenset(
    {
        "AGE", "VISITNUM", "VISITDY", "TAETORD", "AVAL", "BASE", "CHG", "PCHG", "R2BASE",
        "CNSR", "TRTDURD", "LDDTHELD", "NADIR", "CHGNAD", "PCHGNAD", "ANRLO", "ANRHI",
        "A1LO", "A1HI", "ADURN", "AFRLT", "NFRLT", "ARELTM", "SRCSEQ", "ADY",
    }
)  # fmt: skip
#: Suffixes of numeric SDTM variables (``--SEQ``, ``--DY``, ``--STRESN``, ``--DOSE``, MedDRA
#: codes ``--PTCD`` …).
NUMERIC_SUFFIXES = (
    "SEQ", "DY", "STRESN", "DOSE", "DOSTOT", "TPTNUM", "LLOQ", "ULOQ", "STNRLO", "STNRHI",
    "LLTCD", "PTCD", "HLTCD", "HLGTCD", "BDSYCD", "SOCCD",
)  # fmt: skip


@lru_cache(maxsize=4096)
def is_numeric_variable(name: str) -> bool:
    """Whether CDISC variable ``name`` is numeric (SDTM stores it as text that must parse as a
    number)."""
    upper = name.upper()
    return upper in NUMERIC_NAMES or (len(upper) > 3 and upper.endswith(NUMERIC_SUFFIXES))


def numeric_columns(columns: Iterable[str]) -> list[str]:
    """The columns that are numeric in the CDISC models, by name: :func:`is_numeric_variable`,
    and ADaM's ``xxxN`` code of a character ``xxx`` in the same dataset (e.g. ``AVISITN``)."""
    names = list(columns)
    present = set(names)
    return [
        n
        for n in names
        if is_numeric_variable(n) or (n.upper().endswith("N") and n[:-1] in present)
    ]


def seq_variable(domain: str) -> str | None:
    """The variable numbering a domain's records (``AESEQ`` …; DM has one record per subject)."""
    code = domain.upper()
    return None if code == "DM" else f"{code}SEQ"


# ---------------------------------------------------------------------------------------------
# codelists

NY = frozenset({"N", "Y", "U", "NA"})
RECIST_RESPONSES = frozenset({"CR", "PR", "SD", "PD", "NE", "NON-CR/NON-PD", "NED"})
IRECIST_RESPONSES = frozenset(
    {"iCR", "iPR", "iSD", "iUPD", "iCPD", "NON-iCR/NON-iUPD", "NE", "NED"}
)
RESPONSE_TESTS = frozenset({"OVRLRESP", "TRGRESP", "NTRGRESP"})

#: CDISC codelists of coded variables.
CODELISTS: dict[str, frozenset[str]] = {
    "SEX": frozenset({"F", "M", "U", "UNDIFFERENTIATED"}),
    "AGEU": frozenset({"YEARS", "MONTHS", "WEEKS", "DAYS", "HOURS"}),
    "DTHFL": frozenset({"Y"}),
    "AESEV": frozenset({"MILD", "MODERATE", "SEVERE"}),
    "AEOUT": frozenset(
        {
            "FATAL",
            "NOT RECOVERED/NOT RESOLVED",
            "RECOVERED/RESOLVED",
            "RECOVERED/RESOLVED WITH SEQUELAE",
            "RECOVERING/RESOLVING",
            "UNKNOWN",
        }
    ),
    "AEACN": frozenset(
        {
            "DOSE INCREASED",
            "DOSE NOT CHANGED",
            "DOSE RATE REDUCED",
            "DOSE REDUCED",
            "DRUG INTERRUPTED",
            "DRUG WITHDRAWN",
            "NOT APPLICABLE",
            "UNKNOWN",
        }
    ),
    "DSCAT": frozenset({"DISPOSITION EVENT", "PROTOCOL MILESTONE", "OTHER EVENT"}),
    **{
        name: NY
        for name in (
            "AESER",
            "AESCAN",
            "AESCONG",
            "AESDISAB",
            "AESDTH",
            "AESHOSP",
            "AESLIFE",
            "AESOD",
            "AESMIE",
            "AECONTRT",
            "AEPRESP",
            "EXFAST",
        )
    },
}
for _prefix in ("TU", "TR", "RS", "IS"):
    CODELISTS[f"{_prefix}BLFL"] = frozenset({"Y"})
    CODELISTS[f"{_prefix}LOBXFL"] = frozenset({"Y"})
    CODELISTS[f"{_prefix}STAT"] = frozenset({"NOT DONE"})
for _prefix in ("TU", "TR", "RS"):
    CODELISTS[f"{_prefix}ACPTFL"] = frozenset({"Y", "N"})
CODELISTS["RSDRVFL"] = frozenset({"Y"})

#: ``AESEV`` → numeric intensity (admiral ADAE template ``ASEVN``), for data without CTCAE grades.
SEVERITY_GRADES = {"MILD": 1, "MODERATE": 2, "SEVERE": 3}

#: ``AEREL`` values meaning at least possibly related (CDISC CT and common sponsor values).
RELATED = frozenset(
    {
        "Y",
        "RELATED",
        "POSSIBLE",
        "POSSIBLY RELATED",
        "PROBABLE",
        "PROBABLY RELATED",
        "DEFINITE",
        "DEFINITELY RELATED",
        "LIKELY",
        "LIKELY RELATED",
        "CERTAIN",
    }
)
#: ``AEREL`` values meaning not related (``REMOTE`` as in the CDISC pilot = unlikely).
NOT_RELATED = frozenset(
    {"N", "NOT RELATED", "NONE", "UNRELATED", "UNLIKELY", "UNLIKELY RELATED", "REMOTE", "DOUBTFUL"}
)


def ctcae_grade(text: str) -> int | None:
    """The CTCAE grade written in ``text`` ("3" or "3.0"), or None when it is not an integer
    grade 1–5 (CTCAE v5.0 defines grades 1–5 only)."""
    try:
        number = float(text)
    except ValueError:
        return None
    if number.is_integer() and 1 <= number <= 5:
        return int(number)
    return None


# ---------------------------------------------------------------------------------------------
# tumours: TU and TR (CDISC RECIST 1.1 supplement, SDTMIG v3.4)

TU_TESTS = {"TUMIDENT": "ident", "TUSPLIT": "split", "TUMERGE": "merge"}
TU_ROLES = {
    "TARGET": "T",
    "NON-TARGET": "NT",
    "NEW": "NEW",
    "NEW TARGET": "NEWT",
    "NEW NON-TARGET": "NEWNT",
}
TR_TESTS = {
    "LDIAM": "long",
    "DIAMETER": "diam",
    "LPERP": "short",
    "SAXIS": "short",
    "TUMSTATE": "state",
    "LNSTATE": "state",
}
#: Viable (arterially enhancing) tumour diameter, read under mRECIST.
VIABLE_TESTS = ("VLDIAM",)
#: Summary results some sponsors store in TR; derived by the RECIST engine, so ignored on input.
TR_SUMMARY_TESTS = frozenset({"SUMDIAM", "SUMNLNLD", "PCBSD", "PCNSD", "ACNSD", "SUMLDIAM"})
STATES = frozenset(
    {
        "ABSENT",
        "PRESENT",
        "EQUIVOCAL",
        "UNEQUIVOCAL",
        "UNEQUIVOCAL PROGRESSION",
        "NON-PATHOLOGICAL",
        "PATHOLOGICAL",
        "NORMAL",
    }
)
NOT_ASSESSED = frozenset({"NE", "NOT EVALUABLE", "NOT ASSESSABLE", "NOT DONE", "UNKNOWN"})
ZERO_WORDS = frozenset({"ABSENT", "DISAPPEARED", "NOT PRESENT", "0"})
TOO_SMALL = frozenset({"TOO SMALL TO MEASURE", "TSTM"})
#: Length units and their factor to millimetres.
UNITS = {"MM": 1.0, "CM": 10.0}

# ---------------------------------------------------------------------------------------------
# immunogenicity: IS (admiral ADAB template)

#: ``ISTESTCD`` of binding and neutralising anti-drug antibodies.
ADA_TESTS = frozenset({"ADA_BAB", "ADA_NAB"})
#: ``ISSTRESC`` values read as a negative sample.
NEGATIVE_RESULTS = frozenset(
    {"NEGATIVE", "NEGATIVE SCREEN", "NEGATIVE IMMUNODEPLETION", "NEGATIVE CONFIRMATION"}
)
#: ``ISSTRESC`` values read as a positive sample without a titre (a "NEGATIVE TITER" is a
#: confirmed positive whose titre is below the minimum reportable one).
POSITIVE_RESULTS = frozenset(
    {"POSITIVE", "POSITIVE CONFIRMATION", "POSITIVE IMMUNODEPLETION", "NEGATIVE TITER"}
)
