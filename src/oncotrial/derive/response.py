"""Tumour response ADaM (ADRS) from visit-level overall responses, RECIST 1.1.

Input: RS-shaped rows (``RSTESTCD == "OVRLRESP"``, ``RSSTRESC`` in CR, PR, SD, NON-CR/NON-PD,
PD, NE, NED) — the investigator's or those computed by the RECIST engine — and ADSL. Output:
the visit-level ``OVR`` records with analysis flags and the per-subject parameters PD, RSP, CB,
BOR, BCP, CRSP, CCB, CBOR, CBCP, DEATH, LSTA, MDIS, built the way pharmaverse's admiralonco 1.4
template ``ad_adrs.R`` builds them (each parameter is a list of events handed to
:func:`oncotrial.derive.events.pick_extreme_event`). Checked cell by cell against
pharmaverseadam's ``adrs_onco`` in ``tests/test_response.py``.

Rules (RECIST 1.1, Eisenhauer et al. 2009, Eur J Cancer 45:228, section 4.4 and 4.6):

* visit responses count on/after the reference date (randomisation), worst response per date,
  up to and including the first PD (``ANL01FL``/``ANL02FL``);
* SD (and NON-CR/NON-PD, NED) count for best response only from reference date + 42 days
  (RECIST 1.1 §4.4: a minimum interval for SD set by the protocol), otherwise NE;
* CR/PR are confirmed by a CR (PR: CR or PR) at least 28 days later (RECIST 1.1 §4.6) with at
  most one NE in between and, for PR, no PR after a CR (admiralonco ``crsp_y_pr``).

Also: ORR and DCR with Clopper–Pearson intervals, time to response, and the best percentage
change of the target-lesion sum (waterfall plots). Duration of response is the ``RSD``
parameter of :mod:`oncotrial.derive.tte`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from oncotrial.derive.dates import parse_iso_date
from oncotrial.derive.errors import CombinedDataError, DataError
from oncotrial.derive.events import (
    AnyEvent,
    DerivationNote,
    Derived,
    Event,
    JoinedEvent,
    blank_to_na,
    check_death_dates,
    check_subjects_in_adsl,
    date_column,
    numeric_column,
    pick_extreme_event,
    require_columns,
    subject_keys,
)
from oncotrial.stats.binomial import Proportion, clopper_pearson

AVAL_RESP: dict[str, float] = {
    "CR": 1,
    "PR": 2,
    "SD": 3,
    "NON-CR/NON-PD": 4,
    "PD": 5,
    "NE": 6,
    "MISSING": 7,
    "NED": 8,
}
"""``AVAL`` of a response (admiralonco ``aval_resp()``: CR 1 … NE 6, MISSING 7, as in the
reference ``adrs_onco``); NED 8 is our extension (admiralonco gives it no number)."""

VISIT_RESPONSES = frozenset(AVAL_RESP) - {"MISSING"}
"""Codes accepted in ``RSSTRESC`` of an overall response (anything else is a DataError)."""

WORST_RANK: dict[str, int] = {
    "NE": 1,
    "NED": 2,
    "CR": 3,
    "PR": 4,
    "SD": 5,
    "NON-CR/NON-PD": 6,
    "PD": 7,
}
"""Severity for "worst response per date" (admiralonco ADRS vignette ``worst_resp()``: NE
lowest, then CR, PR, SD, NON-CR/NON-PD, PD; NED placed just above NE)."""

YN = {"Y": 1, "N": 0}
"""``AVAL`` of a Y/N parameter (admiral ``yn_to_numeric()``)."""

_SDTM = "RS"


@dataclass(frozen=True)
class ResponseWindows:
    """Time windows of the response rules (defaults: RECIST 1.1 as in admiralonco).

    ``reference_date``: ADSL date the windows count from (``RANDDT``; ``TRTSDT`` for a
    single-arm study dated from first dose). ``sd_min_days``: SD/NON-CR/NON-PD count for best
    response from reference date + this many days. ``confirm_min_days``: minimum days between a
    response and its confirmation. ``max_ne_between``: NE assessments allowed between them.
    """

    reference_date: str = "RANDDT"
    sd_min_days: int = 42
    confirm_min_days: int = 28
    max_ne_between: int = 1


@dataclass(frozen=True)
class Labels:
    """Who assessed and by which criteria: fills ``PARAM``, ``PARCAT2`` and ``PARCAT3``."""

    assessor: str = "Investigator"
    criteria: str = "RECIST 1.1"


DEFAULT_WINDOWS = ResponseWindows()
DEFAULT_LABELS = Labels()

_PARAMS: dict[str, str] = {
    "OVR": "Overall Response by {a}",
    "PD": "Disease Progression by {a}",
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


def _param(paramcd: str, labels: Labels) -> dict[str, object]:
    values: dict[str, object] = {
        "PARAMCD": paramcd,
        "PARAM": _PARAMS[paramcd].format(a=labels.assessor),
        "PARCAT1": "Tumor Response",
        "PARCAT2": labels.assessor,
        "PARCAT3": labels.criteria,
    }
    if paramcd == "MDIS":
        values["PARCAT1"] = np.nan
    return values


def _yn_aval(rows: pd.DataFrame) -> pd.Series:
    return rows["AVALC"].map(YN).astype(float)


def _resp_aval(rows: pd.DataFrame) -> pd.Series:
    return rows["AVALC"].map(AVAL_RESP).astype(float)


# ---------------------------------------------------------------------------------------------
# Visit-level records


def derive_ovr(
    rs: pd.DataFrame,
    adsl: pd.DataFrame,
    *,
    evaluator: str | None = "INVESTIGATOR",
    windows: ResponseWindows = DEFAULT_WINDOWS,
    labels: Labels = DEFAULT_LABELS,
    date_imputation: Literal["first", "mid", "last"] = "last",
    highest_imputation: Literal["D", "M", "none"] = "D",
) -> Derived:
    """Visit-level ``OVR`` records: the overall-response rows of ``rs`` (by ``evaluator``;
    None keeps all) with ``ADT``/``ADTF``, ``AVALC``/``AVAL`` and the reference date.

    Dates: a missing day (``highest_imputation="D"``; ``"M"`` also a missing month) is imputed
    to the ``date_imputation`` day and flagged in ``ADTF`` (admiral ``derive_vars_dt``; the
    template imputes the last day); rows whose date stays unknown keep ``ADT`` missing and
    never enter the analysis. Every imputation and left-out row is a note.
    Exact duplicate rows are dropped (first kept, noted); rows repeating a subject's
    ``RSSEQ`` with other content, unknown response codes, bad dates and subjects missing from
    ADSL raise :class:`DataError`.
    """
    required = ["USUBJID", "RSTESTCD", "RSSTRESC", "RSDTC", "RSSEQ"]
    if evaluator is not None:
        required.append("RSEVAL")
    require_columns(rs, required, _SDTM)
    require_columns(adsl, ["USUBJID", windows.reference_date], "ADSL")
    notes: list[DerivationNote] = []

    data = blank_to_na(rs)
    data["_row"] = np.arange(1, len(data) + 1)
    keep = data["RSTESTCD"].eq("OVRLRESP").fillna(False)
    if evaluator is not None:
        keep &= data["RSEVAL"].eq(evaluator).fillna(False)
    data = data.loc[keep.to_numpy(dtype=bool)].copy()

    dup = data.duplicated(subset=list(rs.columns), keep="first").to_numpy(dtype=bool)
    for _, r in data.loc[dup].iterrows():
        notes.append(
            DerivationNote(
                "exact-duplicate",
                "row identical to an earlier row; dropped",
                dataset=_SDTM,
                subject=str(r["USUBJID"]),
                row=int(r["_row"]),
            )
        )
    data = data.loc[~dup].copy()

    data["RSSEQ"] = numeric_column(data, "RSSEQ", dataset=_SDTM, rows=data["_row"])
    if "VISITNUM" in data.columns:
        data["VISITNUM"] = numeric_column(data, "VISITNUM", dataset=_SDTM, rows=data["_row"])
    clash = data.duplicated(subset=["USUBJID", "RSSEQ"], keep="first").to_numpy(dtype=bool)
    errors = [
        DataError(
            f"RSSEQ {r['RSSEQ']:g} repeats an earlier row of this subject with other content",
            dataset=_SDTM,
            subject=str(r["USUBJID"]),
            row=int(r["_row"]),
            column="RSSEQ",
        )
        for _, r in data.loc[clash].iterrows()
    ]
    codes = data["RSSTRESC"]
    unknown = (codes.notna() & ~codes.isin(VISIT_RESPONSES)).to_numpy(dtype=bool)
    errors += [
        DataError(
            f"unknown overall response '{r['RSSTRESC']}' (expected one of "
            f"{', '.join(sorted(VISIT_RESPONSES))})",
            dataset=_SDTM,
            subject=str(r["USUBJID"]),
            row=int(r["_row"]),
            column="RSSTRESC",
        )
        for _, r in data.loc[unknown].iterrows()
    ]
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise CombinedDataError(errors)
    check_subjects_in_adsl(data, adsl, dataset=_SDTM, rows=data["_row"])

    adt, adtf = [], []
    for _, r in data.iterrows():
        day, flag, note = _analysis_date(r, date_imputation, highest_imputation)
        adt.append(day)
        adtf.append(flag)
        if note is not None:
            notes.append(note)
    data["ADT"] = pd.Series(adt, index=data.index, dtype="datetime64[ns]")
    data["ADTF"] = pd.Series(adtf, index=data.index, dtype=object)
    for _, r in data.loc[data["RSSTRESC"].isna()].iterrows():
        notes.append(
            DerivationNote(
                "no-response",
                "overall response missing (not done); not analysed",
                dataset=_SDTM,
                subject=str(r["USUBJID"]),
                row=int(r["_row"]),
                column="RSSTRESC",
            )
        )

    ref = windows.reference_date
    dates = adsl[["USUBJID"]].copy()
    dates[ref] = date_column(adsl, ref, dataset="ADSL")
    data = data.drop(columns=[ref], errors="ignore").merge(dates, on="USUBJID", how="left")
    for name, value in _param("OVR", labels).items():
        data[name] = value
    if "VISIT" in data.columns:
        data["AVISIT"] = data["VISIT"]
    data["AVALC"] = data["RSSTRESC"]
    data["AVAL"] = data["AVALC"].map(AVAL_RESP).astype(float)
    return Derived(data.drop(columns=["_row"]), notes)


def _analysis_date(
    r: pd.Series, rule: str, highest: str
) -> tuple[pd.Timestamp | None, str | float, DerivationNote | None]:
    raw = r["RSDTC"]
    if not isinstance(raw, str):
        note = DerivationNote(
            "no-date",
            "assessment date missing; not analysed",
            dataset=_SDTM,
            subject=str(r["USUBJID"]),
            row=int(r["_row"]),
            column="RSDTC",
        )
        return None, np.nan, note
    try:
        parsed = parse_iso_date(raw)
    except ValueError as exc:
        raise DataError(
            str(exc), dataset=_SDTM, subject=str(r["USUBJID"]), row=int(r["_row"]), column="RSDTC"
        ) from None
    assert parsed is not None
    if parsed.is_complete:
        return pd.Timestamp(parsed.impute("none")), np.nan, None
    imputable = (parsed.month is not None and highest in ("D", "M")) or highest == "M"
    where = {
        "dataset": _SDTM,
        "subject": str(r["USUBJID"]),
        "row": int(r["_row"]),
        "column": "RSDTC",
    }
    if not imputable:
        return (
            None,
            np.nan,
            DerivationNote(
                "partial-date",
                f"'{raw}' too incomplete to impute (highest imputation '{highest}'); not analysed",
                **where,
            ),
        )
    day = parsed.impute(rule)  # type: ignore[arg-type]
    flag = "D" if parsed.month is not None else "M"
    parts = "day" if flag == "D" else "month and day"
    return (
        pd.Timestamp(day),
        flag,
        DerivationNote(
            "date-imputation", f"'{raw}' imputed to {day} ({rule} {parts}), ADTF={flag}", **where
        ),
    )


def flag_worst_per_date(
    ovr: pd.DataFrame, *, windows: ResponseWindows = DEFAULT_WINDOWS
) -> pd.DataFrame:
    """``ANL01FL = "Y"`` on one record per subject and date: the worst response (ties: the
    highest ``RSSEQ``), among records with a response and a date on/after the reference date
    (admiralonco ADRS vignette, ``derive_var_extreme_flag`` with ``worst_resp()``)."""
    out = ovr.copy()
    keys = subject_keys(out)
    ref = out[windows.reference_date]
    eligible = out["AVAL"].notna() & out["ADT"].notna() & ref.notna() & (out["ADT"] >= ref)
    cand = out.loc[eligible.to_numpy(dtype=bool)].assign(
        _rank=lambda d: d["AVALC"].map(WORST_RANK).fillna(0)
    )
    cand = cand.sort_values([*keys, "ADT", "_rank", "RSSEQ"], kind="mergesort")
    chosen = cand.groupby([*keys, "ADT"], sort=False).tail(1).index
    flag = pd.Series(np.nan, index=out.index, dtype=object)
    flag.loc[chosen] = "Y"
    out["ANL01FL"] = flag
    return out


def flag_up_to_first_pd(ovr: pd.DataFrame) -> pd.DataFrame:
    """``ANL02FL = "Y"`` on records up to and including the first PD (by ``ADT``, ``RSSEQ``);
    all records of subjects without PD (admiral ``derive_var_relative_flag``, ``mode =
    "first"``, ``selection = "before"``, ``inclusive = TRUE``)."""
    out = ovr.copy()
    keys = subject_keys(out)
    order = out.sort_values([*keys, "ADT", "RSSEQ"], kind="mergesort", na_position="last")
    flag = pd.Series(np.nan, index=out.index, dtype=object)
    for _, group in order.groupby(keys, sort=False):
        pd_rows = np.flatnonzero(group["AVALC"].eq("PD").fillna(False).to_numpy(dtype=bool))
        upto = len(group) if len(pd_rows) == 0 else pd_rows[0] + 1
        flag.loc[group.index[:upto]] = "Y"
    out["ANL02FL"] = flag
    return out


# ---------------------------------------------------------------------------------------------
# Events (admiralonco's pre-defined event objects, as data)


def response_events(windows: ResponseWindows = DEFAULT_WINDOWS) -> dict[str, AnyEvent]:
    """The events the parameters are built from, by admiralonco name where it has one
    (``rsp_y``, ``cb_y``, ``bor_cr`` … ``crsp_y_pr``, ``cbor_pr``, ``no_data_n``,
    ``no_data_missing``), with the windows applied; datasets as in :func:`_sources`."""
    ref = windows.reference_date
    sd_from = pd.Timedelta(days=windows.sd_min_days)

    def late(d: pd.DataFrame) -> pd.Series:
        return d["ADT"] >= d[ref] + sd_from

    def avalc(*codes: str):
        return lambda d: d["AVALC"].isin(codes)

    def late_avalc(*codes: str):
        return lambda d: d["AVALC"].isin(codes) & late(d)

    return {
        "rsp_y": Event(
            "ovr", avalc("CR", "PR"), {"AVALC": "Y"}, "CR or PR as (unconfirmed) response"
        ),
        "cb_y": Event(
            "ovr",
            late_avalc("CR", "PR", "SD", "NON-CR/NON-PD"),
            {"AVALC": "Y"},
            "CR, PR, SD or NON-CR/NON-PD from reference date + SD window",
        ),
        "bor_cr": Event("ovr", avalc("CR"), {"AVALC": "CR"}, "CR"),
        "bor_pr": Event("ovr", avalc("PR"), {"AVALC": "PR"}, "PR"),
        "bor_sd": Event(
            "ovr",
            late_avalc("CR", "PR", "SD"),
            {"AVALC": "SD"},
            "CR, PR or SD from reference date + SD window",
        ),
        "bor_non_crpd": Event(
            "ovr",
            late_avalc("NON-CR/NON-PD"),
            {"AVALC": "NON-CR/NON-PD"},
            "NON-CR/NON-PD from reference date + SD window",
        ),
        "bor_ned": Event(
            "ovr",
            late_avalc("NED"),
            {"AVALC": "NED"},
            "NED from reference date + SD window (admiralonco vignette)",
        ),
        "bor_pd": Event("ovr", avalc("PD"), {"AVALC": "PD"}, "PD"),
        "bor_ne": Event(
            "ovr",
            avalc("CR", "PR", "SD", "NON-CR/NON-PD", "NED", "NE"),
            {"AVALC": "NE"},
            "any other assessment: NE",
        ),
        "crsp_y_cr": confirmed_event("CR", windows, {"AVALC": "Y"}),
        "crsp_y_pr": confirmed_event("PR", windows, {"AVALC": "Y"}),
        "cbor_cr": confirmed_event("CR", windows, {"AVALC": "CR"}),
        "cbor_pr": confirmed_event("PR", windows, {"AVALC": "PR"}),
        "pd_y": Event("anl01", avalc("PD"), {"AVALC": "Y"}, "first PD of the analysed records"),
        "lasta": Event("anl01", None, {}, "an analysed assessment (ANL01FL), also after PD"),
        "bcp_y": Event("bor", avalc("CR", "PR"), {"AVALC": "Y"}, "BOR is CR or PR"),
        "cbcp_y": Event("cbor", avalc("CR", "PR"), {"AVALC": "Y"}, "CBOR is CR or PR"),
        "no_data_n": Event("adsl", None, {"AVALC": "N"}, "no qualifying record", keep=(ref,)),
        "no_data": Event("adsl", None, {}, "no assessment: a record without values", keep=(ref,)),
        "no_data_missing": Event("adsl", None, {"AVALC": "MISSING"}, "no assessment", keep=(ref,)),
    }


def confirmed_event(
    response: Literal["CR", "PR"],
    windows: ResponseWindows = DEFAULT_WINDOWS,
    set_values: Mapping[str, object] | None = None,
) -> JoinedEvent:
    """A CR (PR) confirmed by a CR (CR or PR) at least ``confirm_min_days`` later, at most
    ``max_ne_between`` NE up to the confirmation and, for PR, no PR after a CR in between
    (RECIST 1.1 §4.6; admiralonco ``crsp_y_cr``/``crsp_y_pr``)."""
    gap = pd.Timedelta(days=windows.confirm_min_days)
    confirmers = ("CR",) if response == "CR" else ("CR", "PR")
    allowed = {*confirmers, "NE"}

    def upper(row: Mapping[str, object], later: pd.DataFrame) -> pd.Series:
        return later["AVALC"].isin(confirmers) & (later["ADT"] >= row["ADT"] + gap)

    def condition(row: Mapping[str, object], window: pd.DataFrame) -> bool:
        values = window["AVALC"]
        ok = (
            row["AVALC"] == response
            and bool(values.isin(allowed).all())
            and int(values.eq("NE").sum()) <= windows.max_ne_between
        )
        if ok and response == "PR":
            cr, pr = window.loc[values.eq("CR"), "ADT"], window.loc[values.eq("PR"), "ADT"]
            ok = cr.empty or pr.empty or cr.min() > pr.max()
        return ok

    return JoinedEvent(
        "ovr",
        upper,
        condition,
        dict(set_values or {"AVALC": "Y"}),
        f"{response} confirmed at least {windows.confirm_min_days} days later",
    )


def _sources(
    adrs: pd.DataFrame, adsl: pd.DataFrame, windows: ResponseWindows
) -> dict[str, pd.DataFrame]:
    """The datasets events refer to: ``ovr`` (OVR with ANL01FL and ANL02FL), ``anl01`` (OVR
    with ANL01FL), ``bor``/``cbor`` (those parameters, once derived) and ``adsl`` (subject keys
    and the reference date)."""
    require_columns(adrs, ["USUBJID", "PARAMCD", "AVALC", "ADT", "ANL01FL"], "ADRS")
    ref = windows.reference_date
    require_columns(adsl, ["USUBJID", ref], "ADSL")
    keys = subject_keys(adsl, adrs)
    reference = adsl[keys].copy()
    reference[ref] = date_column(adsl, ref, dataset="ADSL")
    out = {"adsl": reference}
    out.update(_record_sources(adrs, windows))
    return out


def _record_sources(adrs: pd.DataFrame, windows: ResponseWindows) -> dict[str, pd.DataFrame]:
    adrs = adrs.copy(deep=False)
    adrs["ADT"] = date_column(adrs, "ADT", dataset="ADRS")
    if windows.reference_date in adrs.columns:
        ref = windows.reference_date
        adrs[ref] = date_column(adrs, ref, dataset="ADRS")
    for column in ("RSSEQ", "ASEQ"):
        if column in adrs.columns:
            adrs[column] = numeric_column(adrs, column, dataset="ADRS")
    paramcd = adrs["PARAMCD"]
    anl01 = adrs.loc[(paramcd.eq("OVR") & adrs["ANL01FL"].eq("Y")).to_numpy(dtype=bool)]
    ovr = anl01
    if "ANL02FL" in anl01.columns:
        ovr = anl01.loc[anl01["ANL02FL"].eq("Y").to_numpy(dtype=bool)]
    return {
        "ovr": ovr,
        "anl01": anl01,
        "bor": adrs.loc[paramcd.eq("BOR").to_numpy(dtype=bool)],
        "cbor": adrs.loc[paramcd.eq("CBOR").to_numpy(dtype=bool)],
    }


@dataclass(frozen=True)
class ParameterSpec:
    """A parameter as data: the events (names in :func:`response_events`) handed to
    :func:`pick_extreme_event` with their ``order`` and ``mode``, the ``fallback`` event for
    subjects without one, and the ``AVAL`` coding (``"yn"``, ``"response"`` or None: kept
    from the source record)."""

    paramcd: str
    events: tuple[str, ...]
    order: tuple[str, ...]
    fallback: str
    aval: Literal["yn", "response"] | None = "yn"
    mode: Literal["first", "last"] = "first"
    needs: str | None = None


_BOR_TAIL = ("bor_sd", "bor_non_crpd", "bor_ned", "bor_pd", "bor_ne")

PARAMETERS: dict[str, ParameterSpec] = {
    spec.paramcd: spec
    for spec in (
        ParameterSpec("PD", ("pd_y",), ("ADT", "RSSEQ"), "no_data_n"),
        ParameterSpec("RSP", ("rsp_y",), ("event_nr", "ADT"), "no_data_n"),
        ParameterSpec("CB", ("rsp_y", "cb_y"), ("ADT", "event_nr"), "no_data_n"),
        ParameterSpec(
            "BOR",
            ("bor_cr", "bor_pr", *_BOR_TAIL),
            ("event_nr", "ADT"),
            "no_data_missing",
            aval="response",
        ),
        ParameterSpec("BCP", ("bcp_y",), ("ADT",), "no_data_n", needs="bor"),
        ParameterSpec("CRSP", ("crsp_y_cr", "crsp_y_pr"), ("ADT", "event_nr"), "no_data_n"),
        ParameterSpec("CCB", ("crsp_y_cr", "crsp_y_pr", "cb_y"), ("ADT", "event_nr"), "no_data_n"),
        ParameterSpec(
            "CBOR",
            ("cbor_cr", "cbor_pr", *_BOR_TAIL),
            ("event_nr", "ADT"),
            "no_data_missing",
            aval="response",
        ),
        ParameterSpec("CBCP", ("cbcp_y",), ("ADT",), "no_data_n", needs="cbor"),
        ParameterSpec("LSTA", ("lasta",), ("ADT", "RSSEQ"), "no_data", aval=None, mode="last"),
    )
}
"""The response parameters of the admiralonco 1.4 ADRS template, as event lists."""


def _derive(
    spec: ParameterSpec,
    sources: dict[str, pd.DataFrame],
    windows: ResponseWindows,
    labels: Labels,
) -> pd.DataFrame:
    if spec.needs is not None and sources[spec.needs].empty:
        raise DataError(
            f"derive {spec.needs.upper()} before {spec.paramcd}", dataset="ADRS", column="PARAMCD"
        )
    events = response_events(windows)
    values: dict[str, object] = {**_param(spec.paramcd, labels), "ANL01FL": "Y"}
    if spec.aval is not None:
        values["AVAL"] = _yn_aval if spec.aval == "yn" else _resp_aval
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
) -> pd.DataFrame:
    """The records of one parameter of :data:`PARAMETERS` (one per ADSL subject) from the
    ADRS so far (OVR with ANL01FL/ANL02FL; BOR for BCP, CBOR for CBCP)."""
    return _derive(PARAMETERS[paramcd], _sources(adrs, adsl, windows), windows, labels)


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
) -> pd.DataFrame:
    """MDIS: Y when TU has a target lesion at the baseline visit (by ``evaluator``), else N
    (RECIST 1.1 §3.1: measurable disease; admiral ``derive_param_exist_flag``). The records
    carry no reference date, as in the reference data."""
    require_columns(tu, ["USUBJID", "TUSTRESC", "VISIT"], "TU")
    tu = blank_to_na(tu)
    keys = subject_keys(adsl, tu)
    tu = tu.loc[tu["USUBJID"].isin(adsl["USUBJID"]).to_numpy(dtype=bool)]

    def target(d: pd.DataFrame) -> pd.Series:
        cond = d["TUSTRESC"].eq("TARGET") & d["VISIT"].eq(baseline_visit)
        if evaluator is not None:
            cond &= d["TUEVAL"].eq(evaluator)
        return cond

    values = {**_param("MDIS", labels), "AVAL": _yn_aval, "ANL01FL": "Y"}
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
) -> Derived:
    """The whole ADRS: OVR records with ANL01FL/ANL02FL, then PD, RSP, CB, BOR, BCP, CRSP,
    CCB, CBOR, CBCP, DEATH, LSTA and (when ``tu`` is given) MDIS, ``ASEQ``, and the ADSL
    variables (except the reference date, which every record but MDIS carries), following
    admiralonco 1.4 ``ad_adrs.R``. Returns the data and the notes on rules applied."""
    check_death_dates(adsl)
    ovr, notes = derive_ovr(
        rs,
        adsl,
        evaluator=evaluator,
        windows=windows,
        labels=labels,
        date_imputation=date_imputation,
        highest_imputation=highest_imputation,
    )
    adrs = flag_up_to_first_pd(flag_worst_per_date(ovr, windows=windows))
    sources = _sources(adrs, adsl, windows)
    parts = [adrs]
    for spec in PARAMETERS.values():
        if spec.needs is not None:
            sources.update(_record_sources(pd.concat(parts, ignore_index=True), windows))
        parts.append(_derive(spec, sources, windows, labels))
    parts.append(derive_param_death(adsl, windows=windows))
    if tu is not None:
        parts.append(
            derive_param_mdis(
                tu, adsl, evaluator=evaluator, baseline_visit=baseline_visit, labels=labels
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


# ---------------------------------------------------------------------------------------------
# Summaries


def _best(adrs: pd.DataFrame, paramcd: str, subjects: Iterable[str] | None) -> pd.Series:
    require_columns(adrs, ["USUBJID", "PARAMCD", "AVALC"], "ADRS")
    best = adrs.loc[adrs["PARAMCD"].eq(paramcd).to_numpy(dtype=bool)]
    if best.empty:
        raise DataError(f"no {paramcd} records", dataset="ADRS", column="PARAMCD")
    values = best.set_index(best["USUBJID"].astype(str))["AVALC"]
    if subjects is None:
        return values
    wanted = [str(s) for s in subjects]
    missing = [s for s in wanted if s not in values.index]
    if missing:
        raise DataError(
            f"no {paramcd} record", dataset="ADRS", subject=missing[0], column="PARAMCD"
        )
    return values.loc[wanted]


def response_rate(
    adrs: pd.DataFrame,
    responses: Iterable[str],
    *,
    paramcd: str = "BOR",
    subjects: Iterable[str] | None = None,
    level: float = 0.95,
) -> Proportion:
    """Share of subjects whose ``paramcd`` is in ``responses``, with the Clopper–Pearson
    interval. Denominator: every subject with the parameter (MISSING counts as a
    non-responder, as ORR is defined on all treated/randomised subjects), or ``subjects``."""
    best = _best(adrs, paramcd, subjects)
    x = int(best.isin(set(responses)).sum())
    return clopper_pearson(x, len(best), level)


def objective_response_rate(
    adrs: pd.DataFrame,
    *,
    confirmed: bool = True,
    subjects: Iterable[str] | None = None,
    level: float = 0.95,
) -> Proportion:
    """ORR: best (confirmed, by default — RECIST 1.1 §4.6 for non-randomised trials) overall
    response CR or PR, with its exact interval (FDA 2018 endpoints guidance: ORR = CR + PR)."""
    return response_rate(
        adrs, ("CR", "PR"), paramcd="CBOR" if confirmed else "BOR", subjects=subjects, level=level
    )


def disease_control_rate(
    adrs: pd.DataFrame,
    *,
    confirmed: bool = True,
    subjects: Iterable[str] | None = None,
    level: float = 0.95,
) -> Proportion:
    """DCR: best overall response CR, PR, SD or NON-CR/NON-PD (SD only from the SD window on,
    as BOR defines it), with its exact interval."""
    return response_rate(
        adrs,
        ("CR", "PR", "SD", "NON-CR/NON-PD", "NED"),
        paramcd="CBOR" if confirmed else "BOR",
        subjects=subjects,
        level=level,
    )


def time_to_response(
    adrs: pd.DataFrame,
    adsl: pd.DataFrame,
    *,
    confirmed: bool = True,
    windows: ResponseWindows = DEFAULT_WINDOWS,
) -> pd.DataFrame:
    """Per responder: days from the reference date to the first (confirmed) response,
    ``ADT − STARTDT + 1`` (the ADaM duration convention); columns ``USUBJID``, ``STARTDT``,
    ``ADT``, ``AVAL``."""
    paramcd = "CRSP" if confirmed else "RSP"
    sources = _sources(adrs, adsl, windows)
    rows = adrs.loc[(adrs["PARAMCD"].eq(paramcd) & adrs["AVALC"].eq("Y")).to_numpy(dtype=bool)]
    keys = subject_keys(adsl, adrs)
    out = rows[keys].copy()
    out["ADT"] = date_column(rows, "ADT", dataset="ADRS").to_numpy()
    out = out.merge(
        sources["adsl"].rename(columns={windows.reference_date: "STARTDT"}), on=keys, how="left"
    )
    out["AVAL"] = ((out["ADT"] - out["STARTDT"]).dt.days + 1).astype("Int64")
    return out[[*keys, "STARTDT", "ADT", "AVAL"]].reset_index(drop=True)


def best_percent_change(
    adtr: pd.DataFrame,
    *,
    paramcd: str = "SDIAM",
    reference_date: str = "RANDDT",
    valid_flag: str | None = "ANL01FL",
) -> pd.DataFrame:
    """Per subject, the post-baseline record with the smallest percentage change of the target
    lesion sum from baseline, ``PCHG = 100 (AVAL − BASE) / BASE`` (ties: earliest) — the bar of
    a waterfall plot (admiralonco ``ad_adtr.R``, ``ANL02FL``). Input: ADTR-like rows
    (``USUBJID``, ``PARAMCD``, ``ADT``, ``AVAL``, and ``BASE`` or an ``ABLFL`` baseline record;
    the RECIST engine's sums fit the same shape). Post-baseline: ``ADT`` after
    ``reference_date``; only records flagged ``valid_flag`` (None: all)."""
    require_columns(adtr, ["USUBJID", "PARAMCD", "ADT", "AVAL", reference_date], "ADTR")
    data = blank_to_na(adtr)
    data = data.loc[data["PARAMCD"].eq(paramcd).to_numpy(dtype=bool)].copy()
    data["ADT"] = date_column(data, "ADT", dataset="ADTR")
    data[reference_date] = date_column(data, reference_date, dataset="ADTR")
    data["AVAL"] = pd.to_numeric(data["AVAL"], errors="raise").astype(float)
    if "BASE" in data.columns:
        data["BASE"] = pd.to_numeric(data["BASE"], errors="raise").astype(float)
    else:
        require_columns(data, ["ABLFL"], "ADTR")
        base = data.loc[data["ABLFL"].eq("Y").to_numpy(dtype=bool)]
        if base["USUBJID"].duplicated().any():
            subject = str(base.loc[base["USUBJID"].duplicated(), "USUBJID"].iloc[0])
            raise DataError("two baseline records", dataset="ADTR", subject=subject, column="ABLFL")
        data = data.merge(
            base[["USUBJID", "AVAL"]].rename(columns={"AVAL": "BASE"}), on="USUBJID", how="left"
        )
    post = data["ADT"] > data[reference_date]
    if valid_flag is not None:
        require_columns(data, [valid_flag], "ADTR")
        post &= data[valid_flag].eq("Y").fillna(False)
    post &= data["BASE"].notna() & data["BASE"].gt(0)
    data = data.loc[post.to_numpy(dtype=bool)].copy()
    data["PCHG"] = 100.0 * (data["AVAL"] - data["BASE"]) / data["BASE"]
    data = data.sort_values(["USUBJID", "PCHG", "ADT"], kind="mergesort")
    best = data.groupby("USUBJID", sort=False).head(1)
    columns = [
        c
        for c in ("STUDYID", "USUBJID", "ADT", "AVISIT", "AVAL", "BASE", "PCHG")
        if c in best.columns
    ]
    return best[columns].sort_values("USUBJID").reset_index(drop=True)
