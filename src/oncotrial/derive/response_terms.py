"""The response vocabulary of each criteria family, for the ADRS derivations.

RECIST 1.1 (Eisenhauer et al. 2009) and mRECIST (Lencioni & Llovet 2010) share one vocabulary
(CR, PR, SD, NON-CR/NON-PD, PD, NE); iRECIST (Seymour et al., Lancet Oncol 2017;18:e143) has
its own: iCR, iPR, iSD, NON-iCR/NON-iUPD, iUPD (unconfirmed progression), iCPD (confirmed
progression), NE. The ADRS rules are written once against a :class:`ResponseTerms`, so the
iRECIST parameters are the RECIST ones with other words, plus the rules that only iRECIST has.

The numeric codes (``AVAL``) and the "worst response per date" order are admiralonco's:
``aval_resp()`` for RECIST 1.1 and the iRECIST article's ``aval_resp_new()`` (admiralonco 1.3,
"Creating ADRS with iRECIST endpoints").

>>> terms_for("irecist").cr, terms_for("RECIST 1.1").pd, terms_for("mrecist").name
('iCR', 'PD', 'mRECIST')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Literal

import numpy as np
import pandas as pd

from oncotrial.derive.errors import DataError
from oncotrial.derive.recist_rules import get_criteria


@dataclass(frozen=True)
class ResponseTerms:
    """The words one criteria family uses for visit and best responses.

    ``pd`` is the progression that ends the analysed records (first PD; first iCPD under
    iRECIST); ``unconfirmed_pd`` is iRECIST's iUPD (None elsewhere). ``aval`` codes ``AVAL``;
    ``worst_rank`` orders responses from least to most severe for "worst per date", and
    ``worst_tie`` says which ``RSSEQ`` wins a tie. ``prefix`` starts every response
    ``PARAMCD`` (``I`` for iRECIST: ``IBOR``, ``ICBOR`` …) and ``param_prefix`` every ``PARAM``.
    """

    key: str
    name: str
    cr: str
    pr: str
    sd: str
    non_cr_pd: str
    pd: str
    unconfirmed_pd: str | None
    aval: Mapping[str, float]
    worst_rank: Mapping[str, int]
    worst_tie: Literal["first", "last"]
    prefix: str = ""
    param_prefix: str = ""
    ne: str = "NE"
    ned: str = "NED"

    @property
    def visit_codes(self) -> frozenset[str]:
        """Codes accepted as a visit's overall response."""
        return frozenset(self.aval) - {"MISSING"}

    @property
    def responses(self) -> tuple[str, str]:
        """Objective response: complete or partial."""
        return self.cr, self.pr

    @property
    def disease_control(self) -> tuple[str, ...]:
        """Disease control: response, stable disease, non-CR/non-PD, no evidence of disease."""
        return self.cr, self.pr, self.sd, self.non_cr_pd, self.ned

    @property
    def progression_paramcd(self) -> str:
        """The ADRS parameter of the first progression: ``PD``; ``ICPD`` (confirmed, dated at
        the iUPD it confirms) under iRECIST."""
        return self.paramcd("CPD") if self.unconfirmed_pd is not None else "PD"

    def paramcd(self, base: str) -> str:
        """``BOR`` → ``IBOR`` under iRECIST; ``DEATH`` is the same for every criteria."""
        return base if base == "DEATH" else f"{self.prefix}{base}"


_RECIST_AVAL = MappingProxyType(
    {"CR": 1, "PR": 2, "SD": 3, "NON-CR/NON-PD": 4, "PD": 5, "NE": 6, "MISSING": 7, "NED": 8}
)
_RECIST_WORST = MappingProxyType(
    {"NE": 1, "NED": 2, "CR": 3, "PR": 4, "SD": 5, "NON-CR/NON-PD": 6, "PD": 7}
)

RECIST11_TERMS = ResponseTerms(
    key="recist1.1",
    name="RECIST 1.1",
    cr="CR",
    pr="PR",
    sd="SD",
    non_cr_pd="NON-CR/NON-PD",
    pd="PD",
    unconfirmed_pd=None,
    aval=_RECIST_AVAL,
    worst_rank=_RECIST_WORST,
    worst_tie="last",
)
"""RECIST 1.1: ``AVAL`` CR 1 … NE 6, MISSING 7 (admiralonco ``aval_resp()``), NED 8 (ours);
worst per date NE < NED < CR < PR < SD < NON-CR/NON-PD < PD, ties to the last ``RSSEQ``
(admiralonco ADRS template, ``worst_resp()``)."""

MRECIST_TERMS = replace(RECIST11_TERMS, key="mrecist", name="mRECIST")
"""mRECIST for HCC: RECIST 1.1's vocabulary (the criteria differ in what is measured)."""

IRECIST_TERMS = ResponseTerms(
    key="irecist",
    name="iRECIST",
    cr="iCR",
    pr="iPR",
    sd="iSD",
    non_cr_pd="NON-iCR/NON-iUPD",
    pd="iCPD",
    unconfirmed_pd="iUPD",
    aval=MappingProxyType(
        {
            "iCR": 6,
            "iPR": 5,
            "iSD": 4,
            "NON-iCR/NON-iUPD": 3,
            "iUPD": 2,
            "iCPD": 1,
            "NE": 8,
            "MISSING": 7,
            "NED": 9,
        }
    ),
    worst_rank=MappingProxyType(
        {
            "NE": 1,
            "NED": 2,
            "iCR": 3,
            "iPR": 4,
            "iSD": 5,
            "NON-iCR/NON-iUPD": 6,
            "iUPD": 7,
            "iCPD": 8,
        }
    ),
    worst_tie="first",
    prefix="I",
    param_prefix="iRECIST ",
)
"""iRECIST: ``AVAL`` iCR 6, iPR 5, iSD 4, NON-iCR/NON-iUPD 3, iUPD 2, iCPD 1, MISSING 7, NE 8
(admiralonco iRECIST article, ``aval_resp_new()``), NED 9 (ours); worst per date is the
lowest ``AVAL`` other than NE/MISSING, ties to the first ``RSSEQ`` (the article's
``order = exprs(AVAL, RSSEQ), mode = "first"``)."""

_BY_KEY = {t.key: t for t in (RECIST11_TERMS, MRECIST_TERMS, IRECIST_TERMS)}


def terms_for(criteria: str | ResponseTerms) -> ResponseTerms:
    """The vocabulary of a criteria (``"recist1.1"``, ``"RECIST 1.1"``, ``"irecist"``,
    ``"mRECIST"`` …; case, spaces and dashes ignored, as
    :func:`oncotrial.derive.recist_rules.get_criteria` reads them)."""
    if isinstance(criteria, ResponseTerms):
        return criteria
    return _BY_KEY[get_criteria(criteria).key]


def terms_of_rs(rs: pd.DataFrame, dataset: str = "RS") -> ResponseTerms:
    """The vocabulary of an RS dataset's overall responses: from ``RSCAT`` when it names one
    criteria, else iRECIST when iRECIST codes (iCR, iUPD …) appear and no code only RECIST 1.1
    has (CR, PR, SD, NON-CR/NON-PD, PD), else RECIST 1.1 (codes foreign to the criteria are
    then refused by the derivation, row by row). Two criteria in ``RSCAT`` raise
    :class:`DataError`: choose one."""
    rows = rs.loc[rs["RSTESTCD"].astype(str).eq("OVRLRESP").to_numpy(dtype=bool)]
    if "RSCAT" in rows.columns:
        named = sorted({str(c).strip() for c in rows["RSCAT"].dropna() if str(c).strip()})
        if len(named) > 1:
            raise DataError(
                f"overall responses by several criteria ({', '.join(named)}): choose one",
                dataset=dataset,
                column="RSCAT",
            )
        if named:
            try:
                return terms_for(named[0])
            except ValueError:
                pass
    codes = set(rows["RSSTRESC"].dropna().astype(str)) if "RSSTRESC" in rows.columns else set()
    recist_only = RECIST11_TERMS.visit_codes - IRECIST_TERMS.visit_codes
    if codes & (IRECIST_TERMS.visit_codes - RECIST11_TERMS.visit_codes) and not codes & recist_only:
        return IRECIST_TERMS
    return RECIST11_TERMS


def terms_of_adrs(adrs: pd.DataFrame) -> ResponseTerms:
    """The vocabulary an ADRS was derived with: iRECIST when it holds ``ICBOR`` or ``IBOR``
    and no ``CBOR``/``BOR``; otherwise RECIST 1.1 (or mRECIST when ``PARCAT3`` says so)."""
    codes = set(adrs["PARAMCD"].dropna().astype(str)) if "PARAMCD" in adrs.columns else set()
    if codes & {"ICBOR", "IBOR"} and not codes & {"CBOR", "BOR"}:
        return IRECIST_TERMS
    if "PARCAT3" in adrs.columns:
        named = {str(c) for c in adrs["PARCAT3"].dropna()}
        if named == {"mRECIST"}:
            return MRECIST_TERMS
    return RECIST11_TERMS


def category_matches(rscat: pd.Series, terms: ResponseTerms) -> pd.Series:
    """Rows whose ``RSCAT`` names this criteria (a blank category matches any)."""

    def matches(value: object) -> bool:
        text = "" if value is None or pd.isna(value) else str(value).strip()
        if not text:
            return True
        try:
            return terms_for(text).key == terms.key
        except ValueError:
            return False

    return rscat.map(matches).astype(bool)


@dataclass(frozen=True)
class Labels:
    """Who assessed and by which criteria: fills ``PARAM``, ``PARCAT2`` and ``PARCAT3``
    (``criteria`` None: the criteria's own name, e.g. "RECIST 1.1", "iRECIST")."""

    assessor: str = "Investigator"
    criteria: str | None = None


DEFAULT_LABELS = Labels()

PARAM_TEXTS: dict[str, str] = {
    "OVR": "Overall Response by {a}",
    "PD": "Disease Progression by {a}",
    "CPD": "Confirmation of Disease Progression by {a}",
    "UPD": "Unconfirmed Disease Progression by {a}",
    "RSP": "Response by {a} (confirmation not required)",
    "CB": "Clinical Benefit by {a} (confirmation for response not required)",
    "BOR": "Best Overall Response by {a} (confirmation not required)",
    "BCP": "Best Overall Response of CR/PR by {a} (confirmation not required)",
    "CRSP": "Confirmed Response by {a}",
    "CCB": "Confirmed Clinical Benefit by {a}",
    "CBOR": "Best Confirmed Overall Response by {a}",
    "CBCP": "Best Confirmed Overall Response of CR/PR by {a}",
    "LSTA": "Last Disease Assessment by {a}",
    "MDIS": "Measurable Disease at Baseline by {a}",
}


def param_values(base: str, labels: Labels, terms: ResponseTerms) -> dict[str, object]:
    """PARAMCD (in the criteria's vocabulary), PARAM and PARCAT1-3 of a parameter."""
    paramcd = "OVR" if base == "OVR" else terms.paramcd(base)
    values: dict[str, object] = {
        "PARAMCD": paramcd,
        "PARAM": terms.param_prefix + PARAM_TEXTS[base].format(a=labels.assessor),
        "PARCAT1": "Tumor Response",
        "PARCAT2": labels.assessor,
        "PARCAT3": labels.criteria or terms.name,
    }
    if base == "MDIS":
        values["PARCAT1"] = np.nan
    return values
