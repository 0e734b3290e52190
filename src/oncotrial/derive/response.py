"""Tumour response ADaM (ADRS) from visit-level overall responses: RECIST 1.1, mRECIST and
iRECIST.

Input: RS-shaped rows (``RSTESTCD == "OVRLRESP"``, ``RSSTRESC`` in the criteria's vocabulary:
CR, PR, SD, NON-CR/NON-PD, PD, NE, NED, or iCR, iPR, iSD, NON-iCR/NON-iUPD, iUPD, iCPD, NE) —
the investigator's or those computed by the RECIST engine — and ADSL. Output: the visit-level
``OVR`` records with analysis flags and the per-subject parameters, each a list of events
handed to :func:`oncotrial.derive.events.pick_extreme_event` (see
:mod:`oncotrial.derive.response_events`):

* RECIST 1.1 and mRECIST: PD, RSP, CB, BOR, BCP, CRSP, CCB, CBOR, CBCP, DEATH, LSTA, MDIS, as
  pharmaverse's admiralonco 1.4 template ``ad_adrs.R`` builds them; checked cell by cell
  against pharmaverseadam's ``adrs_onco`` in ``tests/test_response.py``.
* iRECIST: ICPD, IUPD, IRSP, ICB, IBOR (iBOR), IBCP, ICRSP, ICCB, ICBOR (confirmed iBOR),
  ICBCP, DEATH, ILSTA, IMDIS, as admiralonco's article "Creating ADRS with iRECIST endpoints"
  builds them; checked against admiralonco itself on pharmaversesdtm ``rs_onco_irecist`` in
  ``tests/test_response_irecist.py``.

Rules (RECIST 1.1, Eisenhauer et al. 2009, Eur J Cancer 45:228, section 4.4 and 4.6; iRECIST,
Seymour et al. 2017, Lancet Oncol 18:e143):

* visit responses count on/after the reference date (randomisation), worst response per date,
  up to and including the first PD — the first iCPD under iRECIST (``ANL01FL``/``ANL02FL``);
* SD (and NON-CR/NON-PD, NED) count for best response only from reference date + 42 days
  (RECIST 1.1 §4.4: a minimum interval for SD set by the protocol), otherwise NE;
* CR/PR are confirmed by a CR (PR: CR or PR) at least 28 days later (RECIST 1.1 §4.6) with at
  most one NE in between and, for PR, no PR after a CR (admiralonco ``crsp_y_pr``);
* iRECIST: an iUPD confirmed by a later iCPD (only iUPD/NE between) is iCPD, dated at that iUPD;
  an iUPD never confirmed stays iUPD.

Summaries (ORR, DCR, time to response, best percentage change for waterfall plots) are in
:mod:`oncotrial.derive.response_summary` and importable from here. Duration of response is the
``RSD`` parameter of :mod:`oncotrial.derive.tte`.
"""

from __future__ import annotations

from typing import Literal

import pandas as pd

from oncotrial.derive.errors import DataError
from oncotrial.derive.events import (
    DerivationNote,
    Derived,
    Event,
    blank_to_na,
    check_death_dates,
    date_column,
    pick_extreme_event,
    require_columns,
    subject_keys,
)
from oncotrial.derive.recist import evaluate_recist, rs_from_timepoints
from oncotrial.derive.response_events import (
    DEFAULT_WINDOWS,
    PARAMETERS,
    ParameterSpec,
    ResponseWindows,
    confirmed_event,
    parameters,
    record_sources,
    response_events,
    response_sources,
)
from oncotrial.derive.response_summary import (
    best_percent_change,
    disease_control_rate,
    objective_response_rate,
    response_rate,
    time_to_response,
)
from oncotrial.derive.response_terms import (
    DEFAULT_LABELS,
    IRECIST_TERMS,
    MRECIST_TERMS,
    RECIST11_TERMS,
    Labels,
    ResponseTerms,
    param_values,
    terms_for,
    terms_of_rs,
)
from oncotrial.derive.response_visits import derive_ovr, flag_up_to_first_pd, flag_worst_per_date

__all__ = [
    "AVAL_RESP",
    "DEFAULT_LABELS",
    "DEFAULT_WINDOWS",
    "IRECIST_TERMS",
    "MRECIST_TERMS",
    "PARAMETERS",
    "RECIST11_TERMS",
    "VISIT_RESPONSES",
    "WORST_RANK",
    "YN",
    "Labels",
    "ParameterSpec",
    "ResponseTerms",
    "ResponseWindows",
    "best_percent_change",
    "confirmed_event",
    "derive_adrs",
    "derive_adrs_from_lesions",
    "derive_aseq",
    "derive_ovr",
    "derive_param",
    "derive_param_death",
    "derive_param_mdis",
    "disease_control_rate",
    "flag_up_to_first_pd",
    "flag_worst_per_date",
    "objective_response_rate",
    "parameters",
    "response_events",
    "response_rate",
    "time_to_response",
]

AVAL_RESP: dict[str, float] = dict(RECIST11_TERMS.aval)
"""``AVAL`` of a RECIST 1.1 response (admiralonco ``aval_resp()``: CR 1 … NE 6, MISSING 7, as
in the reference ``adrs_onco``); NED 8 is our extension (admiralonco gives it no number)."""

VISIT_RESPONSES = RECIST11_TERMS.visit_codes
"""RECIST 1.1 codes accepted in ``RSSTRESC`` of an overall response."""

WORST_RANK: dict[str, int] = dict(RECIST11_TERMS.worst_rank)
"""Severity for "worst response per date" (admiralonco ADRS vignette ``worst_resp()``: NE
lowest, then CR, PR, SD, NON-CR/NON-PD, PD; NED placed just above NE)."""

YN = {"Y": 1, "N": 0}
"""``AVAL`` of a Y/N parameter (admiral ``yn_to_numeric()``)."""

_SDTM = "RS"


def _yn_aval(rows: pd.DataFrame) -> pd.Series:
    return rows["AVALC"].map(YN).astype(float)


def _resp_aval(terms: ResponseTerms):
    return lambda rows: rows["AVALC"].map(terms.aval).astype(float)


def _derive(
    spec: ParameterSpec,
    sources: dict[str, pd.DataFrame],
    windows: ResponseWindows,
    labels: Labels,
    terms: ResponseTerms,
) -> pd.DataFrame:
    if spec.needs is not None and sources[spec.needs].empty:
        raise DataError(
            f"derive {terms.paramcd(spec.needs.upper())} before {spec.paramcd}",
            dataset="ADRS",
            column="PARAMCD",
        )
    events = response_events(windows, terms)
    values: dict[str, object] = {**param_values(spec.base, labels, terms), "ANL01FL": "Y"}
    if spec.aval is not None:
        values["AVAL"] = _yn_aval if spec.aval == "yn" else _resp_aval(terms)
    return pick_extreme_event(
        sources,
        [events[name] for name in spec.events],
        order=spec.order,
        mode=spec.mode,
        fallback=events[spec.fallback],  # type: ignore[arg-type]
        set_values=values,
    )


def derive_param(
    paramcd: str,
    adrs: pd.DataFrame,
    adsl: pd.DataFrame,
    *,
    windows: ResponseWindows = DEFAULT_WINDOWS,
    labels: Labels = DEFAULT_LABELS,
    criteria: str | ResponseTerms = RECIST11_TERMS,
) -> pd.DataFrame:
    """The records of one parameter (one per ADSL subject) from the ADRS so far (OVR with
    ANL01FL/ANL02FL; BOR for BCP, CBOR for CBCP): ``paramcd`` is one of
    :func:`~oncotrial.derive.response_events.parameters` of the ``criteria`` (``BOR`` for
    RECIST 1.1, ``IBOR`` for iRECIST …)."""
    terms = terms_for(criteria)
    specs = parameters(terms)
    if paramcd not in specs:
        raise ValueError(
            f"unknown {terms.name} parameter {paramcd!r}; expected one of {sorted(specs)}"
        )
    sources = response_sources(adrs, adsl, windows, terms)
    return _derive(specs[paramcd], sources, windows, labels, terms)


def derive_param_pd(adrs: pd.DataFrame, adsl: pd.DataFrame, **kwargs) -> pd.DataFrame:
    """PD: first PD among the analysed records (ANL01FL), Y/N (admiralonco template)."""
    return derive_param("PD", adrs, adsl, **kwargs)


def derive_param_rsp(adrs: pd.DataFrame, adsl: pd.DataFrame, **kwargs) -> pd.DataFrame:
    """RSP: first CR or PR, confirmation not required (admiralonco ``rsp_y``)."""
    return derive_param("RSP", adrs, adsl, **kwargs)


def derive_param_cb(adrs: pd.DataFrame, adsl: pd.DataFrame, **kwargs) -> pd.DataFrame:
    """CB: earliest CR/PR, or CR/PR/SD/NON-CR/NON-PD from reference date + ``sd_min_days``
    (admiralonco ``rsp_y``, ``cb_y``)."""
    return derive_param("CB", adrs, adsl, **kwargs)


def derive_param_bor(adrs: pd.DataFrame, adsl: pd.DataFrame, **kwargs) -> pd.DataFrame:
    """BOR: the first event in the list CR, PR, SD (from the SD window), NON-CR/NON-PD, NED,
    PD, NE, MISSING that a subject has, dated at its first occurrence (RECIST 1.1 §4.4;
    admiralonco ``bor_*`` events)."""
    return derive_param("BOR", adrs, adsl, **kwargs)


def derive_param_bcp(adrs: pd.DataFrame, adsl: pd.DataFrame, **kwargs) -> pd.DataFrame:
    """BCP: BOR is CR or PR (Y/N), dated as BOR (admiralonco template)."""
    return derive_param("BCP", adrs, adsl, **kwargs)


def derive_param_crsp(adrs: pd.DataFrame, adsl: pd.DataFrame, **kwargs) -> pd.DataFrame:
    """CRSP: earliest confirmed CR or PR (admiralonco ``crsp_y_cr``, ``crsp_y_pr``)."""
    return derive_param("CRSP", adrs, adsl, **kwargs)


def derive_param_ccb(adrs: pd.DataFrame, adsl: pd.DataFrame, **kwargs) -> pd.DataFrame:
    """CCB: earliest confirmed response, or CR/PR/SD/NON-CR/NON-PD from the SD window on."""
    return derive_param("CCB", adrs, adsl, **kwargs)


def derive_param_cbor(adrs: pd.DataFrame, adsl: pd.DataFrame, **kwargs) -> pd.DataFrame:
    """CBOR: as BOR but CR and PR only when confirmed; an unconfirmed CR/PR counts as SD from
    the SD window on (RECIST 1.1 §4.6; admiralonco ``cbor_cr``, ``cbor_pr``)."""
    return derive_param("CBOR", adrs, adsl, **kwargs)


def derive_param_cbcp(adrs: pd.DataFrame, adsl: pd.DataFrame, **kwargs) -> pd.DataFrame:
    """CBCP: CBOR is CR or PR (Y/N), dated as CBOR. (The reference data's CBCP is always N:
    a defect of the admiralonco 1.4 template, see ``tests/test_response.py``.)"""
    return derive_param("CBCP", adrs, adsl, **kwargs)


def derive_param_lsta(adrs: pd.DataFrame, adsl: pd.DataFrame, **kwargs) -> pd.DataFrame:
    """LSTA: the last analysed assessment (ANL01FL, also after PD), with its response; a
    record without values for subjects never assessed (admiralonco template)."""
    return derive_param("LSTA", adrs, adsl, **kwargs)


def derive_param_death(
    adsl: pd.DataFrame, *, windows: ResponseWindows = DEFAULT_WINDOWS
) -> pd.DataFrame:
    """DEATH: Y with ``ADT = DTHDT`` when ADSL has a death date, else N (admiralonco
    template). A death before the first dose raises :class:`DataError`."""
    require_columns(adsl, ["USUBJID", "DTHDT"], "ADSL")
    check_death_dates(adsl)
    ref = windows.reference_date
    keys = subject_keys(adsl)
    data = adsl[keys].copy()
    data["ADT"] = date_column(adsl, "DTHDT", dataset="ADSL")
    data[ref] = date_column(adsl, ref, dataset="ADSL")
    death = Event("adsl", lambda d: d["ADT"].notna(), {"AVALC": "Y"}, "death", keep=("ADT", ref))
    values = {
        "PARAMCD": "DEATH",
        "PARAM": "Death",
        "PARCAT1": "Reference Event",
        "AVAL": _yn_aval,
        "ANL01FL": "Y",
    }
    return pick_extreme_event(
        {"adsl": data},
        [death],
        order=("ADT",),
        fallback=Event("adsl", None, {"AVALC": "N"}, keep=(ref,)),
        set_values=values,
    )


def derive_param_mdis(
    tu: pd.DataFrame,
    adsl: pd.DataFrame,
    *,
    evaluator: str | None = "INVESTIGATOR",
    baseline_visit: str = "SCREENING",
    labels: Labels = DEFAULT_LABELS,
    criteria: str | ResponseTerms = RECIST11_TERMS,
) -> pd.DataFrame:
    """MDIS (IMDIS under iRECIST): Y when TU has a target lesion at the baseline visit (by
    ``evaluator``), else N (RECIST 1.1 §3.1: measurable disease; admiral
    ``derive_param_exist_flag``). The records carry no reference date, as in the reference
    data."""
    require_columns(tu, ["USUBJID", "TUSTRESC", "VISIT"], "TU")
    tu = blank_to_na(tu)
    keys = subject_keys(adsl, tu)
    tu = tu.loc[tu["USUBJID"].isin(adsl["USUBJID"]).to_numpy(dtype=bool)]

    def target(d: pd.DataFrame) -> pd.Series:
        cond = d["TUSTRESC"].eq("TARGET") & d["VISIT"].eq(baseline_visit)
        if evaluator is not None:
            cond &= d["TUEVAL"].eq(evaluator)
        return cond

    values = {**param_values("MDIS", labels, terms_for(criteria)), "AVAL": _yn_aval, "ANL01FL": "Y"}
    return pick_extreme_event(
        {"tu": tu, "adsl": adsl[keys]},
        [Event("tu", target, {"AVALC": "Y"}, "target lesion at baseline", keep=())],
        order=(),
        fallback=Event("adsl", None, {"AVALC": "N"}, keep=()),
        set_values=values,
    )


def derive_aseq(adrs: pd.DataFrame) -> pd.DataFrame:
    """``ASEQ`` per subject in the order ``PARAMCD``, ``ADT``, ``VISITNUM``, ``RSSEQ`` (missing
    last); a tie is a DataError (admiral ``derive_var_obs_number(check_type = "error")``)."""
    keys = subject_keys(adrs)
    order = [c for c in ("PARAMCD", "ADT", "VISITNUM", "RSSEQ") if c in adrs.columns]
    out = adrs.sort_values([*keys, *order], kind="mergesort", na_position="last")
    dup = out.duplicated(subset=[*keys, *order]).to_numpy(dtype=bool)
    if dup.any():
        r = out.loc[dup].iloc[0]
        raise DataError(
            f"two {r['PARAMCD']} records share {', '.join(order)}",
            dataset="ADRS",
            subject=str(r["USUBJID"]),
            column="ASEQ",
        )
    out["ASEQ"] = out.groupby(keys, sort=False).cumcount() + 1
    return out.reset_index(drop=True)


def derive_adrs(
    rs: pd.DataFrame,
    adsl: pd.DataFrame,
    tu: pd.DataFrame | None = None,
    *,
    evaluator: str | None = "INVESTIGATOR",
    windows: ResponseWindows = DEFAULT_WINDOWS,
    labels: Labels = DEFAULT_LABELS,
    date_imputation: Literal["first", "mid", "last"] = "last",
    highest_imputation: Literal["D", "M", "none"] = "D",
    baseline_visit: str = "SCREENING",
    criteria: str | ResponseTerms | None = None,
) -> Derived:
    """The whole ADRS: OVR records with ANL01FL/ANL02FL, then the criteria's parameters (see
    the module docstring), DEATH, LSTA (ILSTA) and, when ``tu`` is given, MDIS (IMDIS),
    ``ASEQ``, and the ADSL variables (except the reference date, which every record but MDIS
    carries), following admiralonco 1.4 ``ad_adrs.R`` and its iRECIST article.

    ``criteria``: ``"recist1.1"``, ``"mrecist"`` or ``"irecist"`` (rows of other criteria in
    ``RSCAT`` are left out); None: the criteria of the data. Returns the data and the notes on
    the rules applied.

    Example
    -------
    >>> rs = pd.DataFrame({"USUBJID": ["S1", "S1"], "RSSEQ": [1, 2], "RSEVAL": "INVESTIGATOR",
    ...     "RSTESTCD": "OVRLRESP", "RSSTRESC": ["iUPD", "iCPD"],
    ...     "RSDTC": ["2024-03-01", "2024-04-05"]})
    >>> adsl = pd.DataFrame({"USUBJID": ["S1"], "RANDDT": ["2024-01-10"], "DTHDT": [None]})
    >>> adrs = derive_adrs(rs, adsl).data
    >>> adrs.set_index("PARAMCD").loc[["IBOR", "ICPD"], ["AVALC", "ADT"]].astype(str).values
    array([['iCPD', '2024-03-01'],
           ['Y', '2024-03-01']], dtype=object)
    """
    check_death_dates(adsl)
    require_columns(rs, ["RSTESTCD"], _SDTM)
    terms = terms_for(criteria) if criteria is not None else terms_of_rs(rs)
    ovr, notes = derive_ovr(
        rs,
        adsl,
        evaluator=evaluator,
        windows=windows,
        labels=labels,
        date_imputation=date_imputation,
        highest_imputation=highest_imputation,
        criteria=terms,
    )
    adrs = flag_up_to_first_pd(flag_worst_per_date(ovr, windows=windows, terms=terms), terms=terms)
    sources = response_sources(adrs, adsl, windows, terms)
    parts = [adrs]
    for spec in parameters(terms).values():
        if spec.needs is not None:
            sources.update(record_sources(pd.concat(parts, ignore_index=True), windows, terms))
        parts.append(_derive(spec, sources, windows, labels, terms))
    parts.append(derive_param_death(adsl, windows=windows))
    if tu is not None:
        parts.append(
            derive_param_mdis(
                tu,
                adsl,
                evaluator=evaluator,
                baseline_visit=baseline_visit,
                labels=labels,
                criteria=terms,
            )
        )
    else:
        notes.append(DerivationNote("no-tu", "TU not given; MDIS not derived", dataset="TU"))
    adrs = derive_aseq(pd.concat(parts, ignore_index=True))
    keys = subject_keys(adsl, adrs)
    extra = [c for c in adsl.columns if c not in adrs.columns and c != windows.reference_date]
    adrs = adrs.merge(blank_to_na(adsl[[*keys, *extra]]), on=keys, how="left")
    adrs["RSSEQ"] = adrs["RSSEQ"].astype("Int64")
    adrs["ASEQ"] = adrs["ASEQ"].astype("Int64")
    adsl_first = [*keys, *[c for c in adsl.columns if c in adrs.columns and c not in keys]]
    columns = [*adsl_first, *[c for c in adrs.columns if c not in adsl_first]]
    return Derived(adrs[columns].sort_values([*keys, "ASEQ"]).reset_index(drop=True), notes)


def derive_adrs_from_lesions(
    tu: pd.DataFrame,
    tr: pd.DataFrame,
    adsl: pd.DataFrame,
    *,
    criteria: str | ResponseTerms = RECIST11_TERMS,
    windows: ResponseWindows = DEFAULT_WINDOWS,
    evaluator: str | None = "INVESTIGATOR",
) -> Derived:
    """ADRS from lesion measurements: the RECIST engine's time points by ``criteria``
    (:func:`oncotrial.derive.recist.evaluate_recist`) as RS records, then
    :func:`derive_adrs` — e.g. the mRECIST reading of an HCC trial beside its RECIST 1.1 one."""
    terms = terms_for(criteria)
    timepoints = evaluate_recist(tu, tr, terms.key).timepoints
    return derive_adrs(
        rs_from_timepoints(timepoints),
        adsl,
        tu,
        evaluator=evaluator,
        windows=windows,
        criteria=terms,
    )
