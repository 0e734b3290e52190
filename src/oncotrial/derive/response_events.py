"""The events and parameters of ADRS, as data, for every criteria vocabulary.

Each response parameter is a list of events handed to
:func:`oncotrial.derive.events.pick_extreme_event`, in admiralonco's shape: the pre-defined
RECIST 1.1 event objects of admiralonco 1.4 (``rsp_y``, ``cb_y``, ``bor_cr`` … ``crsp_y_pr``,
``cbor_pr``, ``no_data_n``, ``no_data_missing``) and, for iRECIST, the events of admiralonco's
article "Creating ADRS with iRECIST endpoints" (``icpd_y``, ``iupd_y``, ``ibor_icpd`` …). The
rules are written once against :class:`~oncotrial.derive.response_terms.ResponseTerms`: the
iRECIST events are the RECIST ones in iRECIST's words, plus confirmation of progression.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from oncotrial.derive.events import (
    AnyEvent,
    Event,
    JoinedEvent,
    date_column,
    numeric_column,
    require_columns,
    subject_keys,
)
from oncotrial.derive.response_terms import RECIST11_TERMS, ResponseTerms


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


DEFAULT_WINDOWS = ResponseWindows()

#: The records of the analysed visits from the last unconfirmed progression on (iRECIST IUPD).
FROM_LAST_UPD = "ovr_from_last_upd"


def response_events(
    windows: ResponseWindows = DEFAULT_WINDOWS, terms: ResponseTerms = RECIST11_TERMS
) -> dict[str, AnyEvent]:
    """The events the parameters are built from, by admiralonco's RECIST names (the iRECIST
    ones are the same rules in iRECIST's words), with the windows applied; datasets as in
    :func:`response_sources`."""
    t = terms
    ref = windows.reference_date
    sd_from = pd.Timedelta(days=windows.sd_min_days)

    def late(d: pd.DataFrame) -> pd.Series:
        return d["ADT"] >= d[ref] + sd_from

    def avalc(*codes: str):
        return lambda d: d["AVALC"].isin(codes)

    def late_avalc(*codes: str):
        return lambda d: d["AVALC"].isin(codes) & late(d)

    events: dict[str, AnyEvent] = {
        "rsp_y": Event(
            "ovr", avalc(t.cr, t.pr), {"AVALC": "Y"}, f"{t.cr} or {t.pr} (unconfirmed) response"
        ),
        "cb_y": Event(
            "ovr",
            late_avalc(t.cr, t.pr, t.sd, t.non_cr_pd),
            {"AVALC": "Y"},
            f"{t.cr}, {t.pr}, {t.sd} or {t.non_cr_pd} from reference date + SD window",
        ),
        "bor_cr": Event("ovr", avalc(t.cr), {"AVALC": t.cr}, t.cr),
        "bor_pr": Event("ovr", avalc(t.pr), {"AVALC": t.pr}, t.pr),
        "bor_sd": Event(
            "ovr",
            late_avalc(t.cr, t.pr, t.sd),
            {"AVALC": t.sd},
            f"{t.cr}, {t.pr} or {t.sd} from reference date + SD window",
        ),
        "bor_non_crpd": Event(
            "ovr",
            late_avalc(t.non_cr_pd),
            {"AVALC": t.non_cr_pd},
            f"{t.non_cr_pd} from reference date + SD window",
        ),
        "bor_ned": Event(
            "ovr",
            late_avalc(t.ned),
            {"AVALC": t.ned},
            "NED from reference date + SD window (admiralonco vignette)",
        ),
        "bor_pd": Event("ovr", avalc(t.pd), {"AVALC": t.pd}, t.pd),
        "bor_ne": Event(
            "ovr",
            avalc(t.cr, t.pr, t.sd, t.non_cr_pd, t.ned, t.ne),
            {"AVALC": t.ne},
            "any other assessment: NE",
        ),
        "crsp_y_cr": confirmed_event("CR", windows, {"AVALC": "Y"}, terms),
        "crsp_y_pr": confirmed_event("PR", windows, {"AVALC": "Y"}, terms),
        "cbor_cr": confirmed_event("CR", windows, {"AVALC": t.cr}, terms),
        "cbor_pr": confirmed_event("PR", windows, {"AVALC": t.pr}, terms),
        "pd_y": Event("anl01", avalc(t.pd), {"AVALC": "Y"}, "first PD of the analysed records"),
        "lasta": Event("anl01", None, {}, "an analysed assessment (ANL01FL), also after PD"),
        "bcp_y": Event("bor", avalc(t.cr, t.pr), {"AVALC": "Y"}, "BOR is a response"),
        "cbcp_y": Event("cbor", avalc(t.cr, t.pr), {"AVALC": "Y"}, "CBOR is a response"),
        "no_data_n": Event("adsl", None, {"AVALC": "N"}, "no qualifying record", keep=(ref,)),
        "no_data": Event("adsl", None, {}, "no assessment: a record without values", keep=(ref,)),
        "no_data_missing": Event("adsl", None, {"AVALC": "MISSING"}, "no assessment", keep=(ref,)),
    }
    if t.unconfirmed_pd is not None:
        events.update(_confirmation_events(t))
    return events


def _confirmation_events(t: ResponseTerms) -> dict[str, AnyEvent]:
    """iRECIST's progression events (Seymour et al. 2017; admiralonco iRECIST article):
    ``cpd_y``/``bor_cpd`` an iUPD confirmed by a later iCPD with only iUPD/NE between (dated at
    that iUPD), ``bor_upd`` an iUPD, ``upd_y`` an iUPD never confirmed nor reset (only NE after
    the last iUPD)."""
    upd = str(t.unconfirmed_pd)

    def confirmed(value: str) -> JoinedEvent:
        return JoinedEvent(
            "ovr",
            lambda row, later: later["AVALC"].eq(t.pd),
            lambda row, window: (
                row["AVALC"] == upd and bool(window["AVALC"].isin({t.pd, upd, t.ne}).all())
            ),
            {"AVALC": value},
            f"{upd} confirmed by a later {t.pd}, only {upd}/NE between (dated at the {upd})",
        )

    def never_confirmed(d: pd.DataFrame) -> pd.Series:
        waiting = d["AVALC"].isin({upd, t.ne})
        keys = subject_keys(d)
        all_waiting = waiting.groupby([d[k] for k in keys]).transform("all")
        return d["AVALC"].eq(upd) & all_waiting

    return {
        "cpd_y": confirmed("Y"),
        "bor_cpd": confirmed(t.pd),
        "bor_upd": Event("ovr", lambda d: d["AVALC"].eq(upd), {"AVALC": upd}, upd),
        "upd_y": Event(
            FROM_LAST_UPD,
            never_confirmed,
            {"AVALC": "Y"},
            f"the last {upd} followed only by NE (neither confirmed nor reset)",
        ),
    }


def confirmed_event(
    response: Literal["CR", "PR"],
    windows: ResponseWindows = DEFAULT_WINDOWS,
    set_values: Mapping[str, object] | None = None,
    terms: ResponseTerms = RECIST11_TERMS,
) -> JoinedEvent:
    """A CR (PR) confirmed by a CR (CR or PR) at least ``confirm_min_days`` later, at most
    ``max_ne_between`` NE up to the confirmation and, for PR, no PR after a CR in between
    (RECIST 1.1 §4.6; admiralonco ``crsp_y_cr``/``crsp_y_pr``; iCR/iPR alike under iRECIST)."""
    gap = np.timedelta64(windows.confirm_min_days, "D")
    code = terms.cr if response == "CR" else terms.pr
    confirmers = [terms.cr] if response == "CR" else [terms.cr, terms.pr]
    allowed = [*confirmers, terms.ne]

    def upper(row: Mapping[str, object], later: pd.DataFrame) -> np.ndarray:
        dates = later["ADT"].to_numpy(dtype="datetime64[ns]")
        start = np.datetime64(row["ADT"], "ns")
        return np.isin(later["AVALC"].to_numpy(), confirmers) & (dates >= start + gap)

    def condition(row: Mapping[str, object], window: pd.DataFrame) -> bool:
        if row["AVALC"] != code:
            return False
        values = window["AVALC"].to_numpy()
        if (
            not np.isin(values, allowed).all()
            or (values == terms.ne).sum() > windows.max_ne_between
        ):
            return False
        if response == "CR":
            return True
        dates = window["ADT"].to_numpy(dtype="datetime64[ns]")
        cr, pr = dates[values == terms.cr], dates[values == terms.pr]
        return bool(cr.size == 0 or pr.size == 0 or cr.min() > pr.max())

    return JoinedEvent(
        "ovr",
        upper,
        condition,
        dict(set_values or {"AVALC": "Y"}),
        f"{code} confirmed at least {windows.confirm_min_days} days later",
    )


def response_sources(
    adrs: pd.DataFrame,
    adsl: pd.DataFrame,
    windows: ResponseWindows,
    terms: ResponseTerms = RECIST11_TERMS,
) -> dict[str, pd.DataFrame]:
    """The datasets events refer to: ``ovr`` (OVR with ANL01FL and ANL02FL), ``anl01`` (OVR
    with ANL01FL), ``bor``/``cbor`` (those parameters, once derived), ``adsl`` (subject keys
    and the reference date) and, for iRECIST, the visits from the last iUPD on."""
    require_columns(adrs, ["USUBJID", "PARAMCD", "AVALC", "ADT", "ANL01FL"], "ADRS")
    ref = windows.reference_date
    require_columns(adsl, ["USUBJID", ref], "ADSL")
    keys = subject_keys(adsl, adrs)
    reference = adsl[keys].copy()
    reference[ref] = date_column(adsl, ref, dataset="ADSL")
    out = {"adsl": reference}
    out.update(record_sources(adrs, windows, terms))
    return out


def record_sources(
    adrs: pd.DataFrame, windows: ResponseWindows, terms: ResponseTerms = RECIST11_TERMS
) -> dict[str, pd.DataFrame]:
    """The record datasets of :func:`response_sources` (all but ``adsl``)."""
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
    out = {
        "ovr": ovr,
        "anl01": anl01,
        "bor": adrs.loc[paramcd.eq(terms.paramcd("BOR")).to_numpy(dtype=bool)],
        "cbor": adrs.loc[paramcd.eq(terms.paramcd("CBOR")).to_numpy(dtype=bool)],
    }
    if terms.unconfirmed_pd is not None:
        out[FROM_LAST_UPD] = _from_last(ovr, terms.unconfirmed_pd)
    return out


def _from_last(ovr: pd.DataFrame, code: str) -> pd.DataFrame:
    """Each subject's records dated on or after their last ``code`` (none without one)."""
    keys = subject_keys(ovr)
    group = [ovr[k] for k in keys]
    last = ovr["ADT"].where(ovr["AVALC"].eq(code)).groupby(group).transform("max")
    return ovr.loc[(ovr["ADT"] >= last).fillna(False).to_numpy(dtype=bool)]


@dataclass(frozen=True)
class ParameterSpec:
    """A parameter as data: the events (names in :func:`response_events`) handed to
    :func:`pick_extreme_event` with their ``order`` and ``mode``, the ``fallback`` event for
    subjects without one, and the ``AVAL`` coding (``"yn"``, ``"response"`` or None: kept
    from the source record). ``base`` is the RECIST code (``BOR``); ``paramcd`` the code in the
    criteria's vocabulary (``IBOR`` under iRECIST)."""

    base: str
    paramcd: str
    events: tuple[str, ...]
    order: tuple[str, ...]
    fallback: str
    aval: Literal["yn", "response"] | None = "yn"
    mode: Literal["first", "last"] = "first"
    needs: str | None = None


def parameters(terms: ResponseTerms = RECIST11_TERMS) -> dict[str, ParameterSpec]:
    """The response parameters by ``PARAMCD``, in derivation order: admiralonco 1.4's ADRS
    template for RECIST 1.1 (PD, RSP, CB, BOR, BCP, CRSP, CCB, CBOR, CBCP, LSTA), and for
    iRECIST the article's ICPD, IUPD, IRSP, ICB, IBOR, ICRSP, ICCB, ICBOR with the IBCP,
    ICBCP and ILSTA it lists as further endpoints."""
    iupd = terms.unconfirmed_pd is not None
    tail = ("bor_sd", "bor_non_crpd", "bor_ned")
    tail += ("bor_cpd", "bor_upd", "bor_ne") if iupd else ("bor_pd", "bor_ne")
    rows: list[tuple] = [
        ("CPD", ("cpd_y",), ("ADT",), "no_data_n") if iupd else None,
        ("UPD", ("upd_y",), ("ADT",), "no_data_n") if iupd else None,
        None if iupd else ("PD", ("pd_y",), ("ADT", "RSSEQ"), "no_data_n"),
        ("RSP", ("rsp_y",), ("event_nr", "ADT"), "no_data_n"),
        ("CB", ("rsp_y", "cb_y"), ("ADT", "event_nr"), "no_data_n"),
        ("BOR", ("bor_cr", "bor_pr", *tail), ("event_nr", "ADT"), "no_data_missing", "response"),
        ("BCP", ("bcp_y",), ("ADT",), "no_data_n", "yn", "first", "bor"),
        ("CRSP", ("crsp_y_cr", "crsp_y_pr"), ("ADT", "event_nr"), "no_data_n"),
        ("CCB", ("crsp_y_cr", "crsp_y_pr", "cb_y"), ("ADT", "event_nr"), "no_data_n"),
        (
            "CBOR",
            ("cbor_cr", "cbor_pr", *tail),
            ("event_nr", "ADT"),
            "no_data_missing",
            "response",
        ),
        ("CBCP", ("cbcp_y",), ("ADT",), "no_data_n", "yn", "first", "cbor"),
        ("LSTA", ("lasta",), ("ADT", "RSSEQ"), "no_data", None, "last"),
    ]
    specs = [
        ParameterSpec(row[0], terms.paramcd(row[0]), *row[1:]) for row in rows if row is not None
    ]
    return {spec.paramcd: spec for spec in specs}


PARAMETERS = parameters(RECIST11_TERMS)
"""The response parameters of the admiralonco 1.4 ADRS template, as event lists."""
