"""Immunogenicity: anti-drug antibodies (ADA) against the study antibody (anti-JS001 for
toripalimab), from SDTM ``IS`` and ADSL.

The rules are those of pharmaverse admiral's ADAB template (``inst/templates/ad_adab.R``), which
implements the definitions of Shankar et al. (2014), *Assessment and reporting of the clinical
immunogenicity of therapeutic proteins and peptides*, AAPS J 16:658-673:

* a sample is ADA-positive when its result is a confirmed positive or a titre (``ISSTRESN``) is
  reported; a positive below the minimum reportable titre (``<1.40``) takes the titre ``mrt``;
* baseline is the last sample on or before the first-dose date at a nominal time <= 0 (or an
  unscheduled visit);
* per post-baseline sample (``TFLAGV``): 0 = negative and baseline negative/missing, 1 =
  treatment-induced (baseline negative or missing, sample positive), 2 = treatment-boosted
  (baseline positive, titre at least ``fold`` times the baseline titre), 3 = treatment
  unaffected (baseline positive, titre not boosted or sample negative);
* per subject (``TFLAG``) the same from the maximum post-baseline result and titre change;
  ADA status positive (``ADASTAT``) = treatment-emergent = induced or boosted;
* persistent ADA: induced ADA at two or more samples whose first and last positives are at
  least ``persistent_weeks`` (16) weeks apart, or induced ADA in the last sample; transient:
  induced ADA at one sample (not the last) or at several spanning less than 16 weeks, the last
  sample not positive;
* neutralising antibodies (``NABSTAT``): for ADA-positive subjects, positive when any
  post-baseline NAb sample is positive; negative when all are negative (none missing).

Dates: sample dates must be full ISO 8601 dates (partial dates raise :class:`DataError`); a
missing time is taken as 00:00 (admiral's ``time_imputation = "00:00:00"``). The time of first
dose is ADSL ``TRTSDTM`` (or ``TRTSDT`` at 00:00); admiral's template takes it from EX, which is
the same value in the reference data.

Where this deliberately differs from the template (none of it changes the reference data's
results): an unknown ``ISSTRESC`` text, a partial or missing sample date and two samples of one
test at the same time raise :class:`DataError` instead of being dropped silently; a sample date
without a time is kept (time 00:00) where the template's ``highest_imputation = "s"`` would drop
it; a sample without a nominal time (``VISITDY``) may be the baseline on its date alone; titre
changes are compared after rounding to 9 decimals (R compares the raw floating-point
difference, so 2.0 - 1.4 would count as a 0.6 rise but 1.9 - 1.3 would not).

Character results use ``""`` for missing (as the pharmaverse CSVs), numeric results NaN.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from oncotrial.cdisc.checks import DAY_NEEDED
from oncotrial.cdisc.errors import DataError, raise_all
from oncotrial.cdisc.frames import (
    analysis_datetimes,
    check_subjects_known,
    exact_dtc,
    is_missing,
    numeric_values,
    require_columns,
    text_values,
    unique_subjects,
)
from oncotrial.cdisc.terms import NEGATIVE_RESULTS, POSITIVE_RESULTS
from oncotrial.stats.binomial import clopper_pearson
from oncotrial.stats.survival import kaplan_meier_by

_BELOW_MRT = re.compile(r"^<\s*(\d+(?:\.\d*)?)$")
#: Nominal times (days) at or above which a visit is unscheduled (99999) or a discontinuation
#: visit (77777), both eligible as baseline in admiral's template.
_SPECIAL_NOMINAL = 60000.0
_WEEK_S = 7 * 86400.0


@dataclass(frozen=True)
class AdaRules:
    """Parameters of the ADA rules.

    ``fold``: a post-baseline titre at least this many times the baseline titre is
    treatment-boosted (Shankar 2014: 4-fold for titres by serial dilution). With log10 titres
    (``titre_scale="log10"``, as the pharmaverse data) the threshold is ``log10(fold)`` rounded
    to ``log10_decimals`` places: admiral's template uses 0.6 for a 4-fold rise.
    ``persistent_weeks``: Shankar's 16-week rule. ``mrt``: the titre given to a positive sample
    reported without one (minimum reportable titre; admiral's ``MRT``); None reads it from a
    ``<x`` result and leaves other titre-less positives without a titre.
    """

    fold: float = 4.0
    titre_scale: Literal["log10", "linear"] = "log10"
    log10_decimals: int | None = 1
    persistent_weeks: float = 16.0
    mrt: float | None = None

    def __post_init__(self) -> None:
        if not self.fold > 1:
            raise ValueError(f"fold must be above 1 (got {self.fold:g})")
        if not self.persistent_weeks > 0:
            raise ValueError(f"persistent_weeks must be positive (got {self.persistent_weeks:g})")

    @property
    def threshold(self) -> float:
        """Minimum log10 titre increase over baseline that counts as boosted."""
        value = math.log10(self.fold)
        if self.titre_scale == "log10" and self.log10_decimals is not None:
            value = round(value, self.log10_decimals)
        return value


def _numbers(
    frame: pd.DataFrame, column: str, dataset: str, rows: np.ndarray | None = None
) -> np.ndarray:
    """A numeric column (text allowed) as float, NaN for missing or absent; junk raises
    DataError at ``rows`` (1-based row numbers of the source dataset)."""
    if column not in frame.columns:
        return np.full(len(frame), np.nan)
    return numeric_values(frame, column, dataset, rows=rows).to_numpy(dtype=float)


def first_dose_times(adsl: pd.DataFrame) -> pd.Series:
    """USUBJID → first-dose datetime from ADSL ``TRTSDTM`` (else ``TRTSDT`` at 00:00);
    NaT for untreated subjects. Duplicate subjects raise :class:`DataError`."""
    require_columns(adsl, ["USUBJID"], "ADSL")
    column = "TRTSDTM" if "TRTSDTM" in adsl.columns else "TRTSDT"
    require_columns(adsl, [column], "ADSL")
    subjects = unique_subjects(adsl)
    times = analysis_datetimes(adsl, column, "ADSL")
    if column == "TRTSDTM" and "TRTSDT" in adsl.columns:
        fallback = analysis_datetimes(adsl, "TRTSDT", "ADSL")
        times = np.where(np.isnat(times), fallback, times)
    return pd.Series(times, index=subjects.to_numpy(), name="FANLDTM")


def _result(text: str, titre: float, rules: AdaRules) -> tuple[str, float, str]:
    """(RESULTC, titre, DTYPE) of one sample (RESULTC ``""`` when missing); KeyError when
    ``text`` is not a known result."""
    upper = text.upper()
    if upper in NEGATIVE_RESULTS:
        return "NEGATIVE", np.nan, ""
    if not np.isnan(titre):
        if titre > 0:
            return "POSITIVE", titre, ""
        return "", np.nan, ""
    below = _BELOW_MRT.match(upper)
    if below or upper in POSITIVE_RESULTS:
        mrt = rules.mrt
        if mrt is None and below:
            mrt = float(below.group(1))
        if mrt is None:
            return "POSITIVE", np.nan, ""
        return "POSITIVE", mrt, "MRT"
    if upper == "":
        return "", np.nan, ""
    raise KeyError(text)


def ada_samples(
    is_ada: pd.DataFrame,
    adsl: pd.DataFrame,
    *,
    drug: str | None = None,
    rules: AdaRules = AdaRules(),
    bab_code: str = "ADA_BAB",
    nab_code: str = "ADA_NAB",
) -> pd.DataFrame:
    """One row per ADA sample (binding ``ADATYPE == "ADA_BAB"`` and neutralising
    ``"ADA_NAB"``) with its interpretation and baseline/post-baseline flags.

    Columns: USUBJID, ISSEQ, ADATYPE, ISBDAGNT, VISIT, VISITNUM, ISSTRESC, ISSTRESU, ADTM, ADT,
    ADY, NFRLT, AFRLT (days from first dose), FANLDTM, RESULTC/RESULTN (POSITIVE 1 / NEGATIVE 0 /
    missing), AVAL (titre, binding only), DTYPE ("MRT" when imputed), ABLFL, VALIDPOST ("Y"
    valid post-dose result, "N" post-dose without result, "" otherwise), BASE, CHG, BASE_RESULT,
    TFLAGV (0-3), PBFLAGV, ADASTATV ("ADA+", "ADA-", "MISSING"), ROW (1-based IS row).

    Rows with ``ISSTAT`` set (not done) are left out, as in admiral's template. ``drug`` selects
    ``ISBDAGNT`` (needed when IS holds several analytes). Raises :class:`DataError` for missing
    columns, subjects missing from ADSL, partial or impossible dates, unknown result texts and
    two samples of one test at the same time.
    """
    require_columns(is_ada, ["USUBJID", "ISTESTCD", "ISSTRESC", "ISDTC"], "IS")
    frame = is_ada.reset_index(drop=True)
    frame = frame.assign(ROW=np.arange(1, len(frame) + 1))
    testcd = text_values(frame["ISTESTCD"]).str.upper()
    keep = testcd.isin([bab_code.upper(), nab_code.upper()])
    if "ISSTAT" in frame.columns:
        keep &= text_values(frame["ISSTAT"]) == ""
    agent = (
        text_values(frame["ISBDAGNT"])
        if "ISBDAGNT" in frame.columns
        else pd.Series("", frame.index)
    )
    if drug is not None:
        keep &= agent.str.upper() == drug.upper()
    elif agent[keep].nunique() > 1:
        raise DataError(
            f"several analytes ({', '.join(sorted(agent[keep].unique()))}); choose one with drug=",
            dataset="IS",
            column="ISBDAGNT",
        )
    frame = frame[keep.to_numpy()].reset_index(drop=True)
    if frame.empty:
        raise DataError(f"no {bab_code}/{nab_code} results to derive from", dataset="IS")
    rows = frame["ROW"].to_numpy()

    subjects = text_values(frame["USUBJID"])
    first = first_dose_times(adsl)
    check_subjects_known(frame, first.index, dataset="IS", reference="ADSL", rows=rows)

    adtm, _ = exact_dtc(frame, "ISDTC", "IS", purpose=DAY_NEEDED["ISDTC"], required=True, rows=rows)
    titre_in = _numbers(frame, "ISSTRESN", "IS", rows)
    stresc = text_values(frame["ISSTRESC"])
    adatype = np.where(
        text_values(frame["ISTESTCD"]).str.upper() == nab_code.upper(), "ADA_NAB", "ADA_BAB"
    )
    resultc, aval, dtype = [], [], []
    errors: list[DataError] = []
    for i, (text, titre) in enumerate(zip(stresc.tolist(), titre_in, strict=True)):
        try:
            r, t, d = _result(text, titre, rules)
        except KeyError:
            errors.append(
                DataError(
                    f"unknown ADA result '{text}' (expected NEGATIVE, POSITIVE, a titre or "
                    "'<titre')",
                    dataset="IS",
                    subject=subjects.iloc[i],
                    row=int(rows[i]),
                    column="ISSTRESC",
                )
            )
            r, t, d = "", np.nan, ""
        resultc.append(r)
        is_bab = adatype[i] == "ADA_BAB"
        aval.append(t if is_bab else np.nan)
        dtype.append(d if is_bab else "")
    raise_all(errors)

    out = pd.DataFrame(
        {
            "USUBJID": subjects,
            "ISSEQ": _numbers(frame, "ISSEQ", "IS", rows) if "ISSEQ" in frame.columns else rows,
            "ADATYPE": adatype,
            "ISBDAGNT": text_values(frame["ISBDAGNT"]) if "ISBDAGNT" in frame.columns else "",
            "VISIT": text_values(frame["VISIT"]) if "VISIT" in frame.columns else "",
            "VISITNUM": _numbers(frame, "VISITNUM", "IS", rows),
            "ISSTRESC": stresc,
            "ISSTRESU": text_values(frame["ISSTRESU"]) if "ISSTRESU" in frame.columns else "",
            "ADTM": pd.to_datetime(adtm),
            "RESULTC": resultc,
            "AVAL": aval,
            "DTYPE": dtype,
            "ROW": rows,
        }
    )
    _check_duplicate_times(out)
    out["RESULTN"] = pd.array(
        [{"POSITIVE": 1, "NEGATIVE": 0}.get(r) for r in resultc], dtype="Int64"
    )
    out["ADT"] = out["ADTM"].dt.normalize()
    out["FANLDTM"] = pd.to_datetime(out["USUBJID"].map(first))
    fanldt = out["FANLDTM"].dt.normalize()
    days = (out["ADT"] - fanldt).dt.days
    out["ADY"] = np.where(days >= 0, days + 1, days)
    out["AFRLT"] = (out["ADTM"] - out["FANLDTM"]).dt.total_seconds() / 86400.0
    out["NFRLT"] = _nominal_times(frame, rows)

    nominal = out["NFRLT"]
    eligible = (
        (nominal.isna() | (nominal <= 0) | (nominal > _SPECIAL_NOMINAL)) & (out["ADT"] <= fanldt)
    ).fillna(False)
    out["ABLFL"] = ""
    order = out.assign(_NF=nominal.fillna(-np.inf)).sort_values(
        ["USUBJID", "ADATYPE", "ADT", "_NF", "ADTM", "ISSEQ"], kind="stable"
    )
    last = order[eligible.loc[order.index]].groupby(["USUBJID", "ADATYPE"]).tail(1).index
    out.loc[last, "ABLFL"] = "Y"

    has_value = out["RESULTC"].ne("") | out["AVAL"].notna()
    post = (out["ADTM"] > out["FANLDTM"]).fillna(False) & out["ABLFL"].eq("")
    out["VALIDPOST"] = np.where(post & has_value, "Y", np.where(post, "N", ""))

    base = out[out["ABLFL"] == "Y"].set_index(["USUBJID", "ADATYPE"])
    key = pd.MultiIndex.from_arrays([out["USUBJID"], out["ADATYPE"]])
    out["BASE"] = base["AVAL"].reindex(key).to_numpy()
    out["BASE_RESULT"] = pd.array(base["RESULTN"].reindex(key).to_numpy(), dtype="Int64")
    out["CHG"] = np.where(out["ABLFL"] == "", out["AVAL"] - out["BASE"], np.nan)
    out["LOGFOLD"] = _log_fold(out["AVAL"], out["BASE"], rules)
    out.loc[out["ABLFL"] == "Y", "LOGFOLD"] = np.nan

    tflagv = _visit_flags(out, rules)
    out["TFLAGV"] = tflagv
    out["PBFLAGV"] = pd.array(
        [pd.NA if is_missing(t) else int(t in (1, 2)) for t in tflagv], dtype="Int64"
    )
    out["ADASTATV"] = [
        "MISSING" if is_missing(p) else ("ADA+" if p == 1 else "ADA-") for p in out["PBFLAGV"]
    ]
    columns = [
        "USUBJID",
        "ISSEQ",
        "ADATYPE",
        "ISBDAGNT",
        "VISIT",
        "VISITNUM",
        "ISSTRESC",
        "ISSTRESU",
        "ADTM",
        "ADT",
        "ADY",
        "NFRLT",
        "AFRLT",
        "FANLDTM",
        "RESULTC",
        "RESULTN",
        "AVAL",
        "DTYPE",
        "ABLFL",
        "VALIDPOST",
        "BASE",
        "CHG",
        "LOGFOLD",
        "BASE_RESULT",
        "TFLAGV",
        "PBFLAGV",
        "ADASTATV",
        "ROW",
    ]
    return out[columns].sort_values(["USUBJID", "ADATYPE", "ADTM", "NFRLT"], kind="stable")


def _check_duplicate_times(samples: pd.DataFrame) -> None:
    dup = samples.duplicated(["USUBJID", "ADATYPE", "ADTM"], keep="first")
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise DataError(
            "two samples of the same ADA test at the same date/time; keep one",
            dataset="IS",
            subject=samples["USUBJID"].iloc[i],
            row=int(samples["ROW"].iloc[i]),
            column="ISDTC",
        )


def _nominal_times(frame: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
    """Nominal days from first dose (admiral: ``VISITDY - 1``; 77777 for discontinuation and
    99999 for unscheduled visits)."""
    visitdy = _numbers(frame, "VISITDY", "IS", rows)
    visits = text_values(frame["VISIT"]).str.upper() if "VISIT" in frame.columns else None
    out = visitdy - 1
    if visits is not None:
        disc = visits.str.contains("EARLY DISC|TREATMENT DISC", regex=True).to_numpy()
        unsched = visits.str.contains("UNSCHEDULED").to_numpy()
        out = np.where(disc, 77777.0, np.where(unsched, 99999.0, out))
    return out


def _log_fold(aval: pd.Series, base: pd.Series, rules: AdaRules) -> np.ndarray:
    """log10 of the titre ratio to baseline: the change for log10 titres (rounded to 9 places
    against floating noise), ``log10(aval / base)`` for linear titres."""
    a = aval.to_numpy(dtype=float)
    b = base.to_numpy(dtype=float)
    if rules.titre_scale == "log10":
        return np.round(a - b, 9)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((a > 0) & (b > 0), np.log10(a / b), np.nan)


def _visit_flags(samples: pd.DataFrame, rules: AdaRules) -> pd.Series:
    """TFLAGV of valid post-baseline binding-ADA samples (admiral ADAB template)."""
    out: list[object] = []
    thr = rules.threshold
    for valid, kind, base, result, fold, aval in zip(
        samples["VALIDPOST"],
        samples["ADATYPE"],
        samples["BASE_RESULT"],
        samples["RESULTN"],
        samples["LOGFOLD"],
        samples["AVAL"],
        strict=True,
    ):
        flag: object = pd.NA
        if valid == "Y" and kind == "ADA_BAB":
            base_pos = not is_missing(base) and base == 1
            res = None if is_missing(result) else int(result)
            if base_pos and not np.isnan(fold) and fold >= thr:
                flag = 2
            elif base_pos and ((not np.isnan(fold) and not np.isnan(aval)) or res == 0):
                flag = 3
            elif not base_pos and res == 0:
                flag = 0
            elif not base_pos and res == 1:
                flag = 1
        out.append(flag)
    return pd.Series(pd.array(out, dtype="Int64"), index=samples.index)


def ada_subject_status(samples: pd.DataFrame, *, rules: AdaRules = AdaRules()) -> pd.DataFrame:
    """One row per subject with binding-ADA samples: baseline status and the subject-level ADA
    flags of admiral's ADAB template (Shankar et al. 2014).

    Columns: USUBJID; BFLAG (baseline positive 1 / negative 0 / missing), BASESTAT
    (POSITIVE/NEGATIVE/MISSING); TFLAG (0 negative, 1 induced, 2 boosted, 3 unaffected);
    PBFLAG; ADASTAT (POSITIVE = treatment-emergent, NEGATIVE, MISSING without a valid
    post-baseline result); "Y"/"N" flags INDUCED, ENHANCED (boosted), EMERPOS, EMERNEG,
    TRUNAFF, NOTRREL, PERSADA, TRANADA (persistent/transient among induced) and PERSADAE,
    TRANADAE (among induced or boosted); FPPDTM, LPPDTM (first/last post-dose positive),
    ADADUR (weeks, (last - first + 1 day) / 7), TIMADA (weeks from first dose to the first
    positive), both rounded to 4 places; NABSTAT (POSITIVE/NEGATIVE/MISSING for subjects with
    NAb samples, "" otherwise); ADABLPFL (a baseline sample exists), ADPBLPFL (a valid
    post-baseline result exists) and BLEVALFL (the baseline has a result).
    """
    arrays = {
        "kind": samples["ADATYPE"].to_numpy(),
        "ablfl": samples["ABLFL"].to_numpy(),
        "valid": samples["VALIDPOST"].to_numpy(),
        "result": _floats(samples["RESULTN"]),
        "aval": samples["AVAL"].to_numpy(dtype=float),
        "fold": samples["LOGFOLD"].to_numpy(dtype=float),
        "tflagv": _floats(samples["TFLAGV"]),
        "adtm": samples["ADTM"].to_numpy(dtype="datetime64[s]"),
        "fanl": samples["FANLDTM"].to_numpy(dtype="datetime64[s]"),
    }
    groups = samples.groupby("USUBJID", sort=False).indices
    rows = []
    for subject, where in groups.items():
        sub = {name: values[where] for name, values in arrays.items()}
        if (sub["kind"] == "ADA_BAB").any():
            rows.append([subject, *_subject(sub, rules)])
    columns = [
        "USUBJID",
        "BFLAG",
        "BASESTAT",
        "TFLAG",
        "PBFLAG",
        "ADASTAT",
        "INDUCED",
        "ENHANCED",
        "EMERPOS",
        "EMERNEG",
        "TRUNAFF",
        "NOTRREL",
        "PERSADA",
        "TRANADA",
        "PERSADAE",
        "TRANADAE",
        "FPPDTM",
        "LPPDTM",
        "ADADUR",
        "TIMADA",
        "NABSTAT",
        "ADABLPFL",
        "ADPBLPFL",
        "BLEVALFL",
    ]
    out = pd.DataFrame(rows, columns=columns)
    for column in ("BFLAG", "TFLAG", "PBFLAG"):
        out[column] = pd.array(out[column].tolist(), dtype="Int64")
    for column in ("FPPDTM", "LPPDTM"):
        out[column] = pd.to_datetime(out[column])
    return out.reset_index(drop=True)


def _yn(flag: bool) -> str:
    return "Y" if flag else "N"


def _floats(values: pd.Series) -> np.ndarray:
    return values.astype("Float64").to_numpy(dtype=float, na_value=np.nan)


def _subject(s: dict[str, np.ndarray], rules: AdaRules) -> list[object]:
    bab = s["kind"] == "ADA_BAB"
    nab = s["kind"] == "ADA_NAB"
    baseline = bab & (s["ablfl"] == "Y")
    post = bab & (s["valid"] == "Y")

    bflag: object = pd.NA
    if baseline.any() and not np.isnan(s["result"][baseline][0]):
        bflag = int(s["result"][baseline][0])
    result_p = int(np.nan_to_num(s["result"][post]).max()) if post.any() else None
    titred = post & ~np.isnan(s["aval"])
    max_fold = np.nan
    if titred.any():
        folds = s["fold"][titred]
        max_fold = np.nan if np.isnan(folds).any() else float(folds.max())

    tflag: object = pd.NA
    if bflag is pd.NA or bflag == 0:
        if result_p is not None:
            tflag = result_p
    elif not np.isnan(max_fold):
        tflag = 2 if max_fold >= rules.threshold else 3
    elif result_p == 0:
        tflag = 3
    pbflag: object = pd.NA if tflag is pd.NA else int(tflag in (1, 2))
    adastat = "MISSING" if pbflag is pd.NA else ("POSITIVE" if pbflag == 1 else "NEGATIVE")

    nabstat = ""
    if nab.any():
        nab_post = nab & (s["valid"] == "Y")
        nab_missing = bool((nab & (s["valid"] == "N")).any())
        nab_max = int(np.nan_to_num(s["result"][nab_post]).max()) if nab_post.any() else None
        nabstat = "MISSING"
        if adastat == "POSITIVE" and nab_max == 1:
            nabstat = "POSITIVE"
        elif adastat == "POSITIVE" and nab_max == 0 and not nab_missing:
            nabstat = "NEGATIVE"

    return [
        bflag,
        "MISSING" if bflag is pd.NA else ("POSITIVE" if bflag == 1 else "NEGATIVE"),
        tflag,
        pbflag,
        adastat,
        _yn(tflag is not pd.NA and tflag == 1),
        _yn(tflag is not pd.NA and tflag == 2),
        _yn(pbflag is not pd.NA and pbflag == 1),
        _yn(pbflag is not pd.NA and pbflag == 0),
        _yn(tflag is not pd.NA and tflag == 3),
        _yn(pbflag is pd.NA),
        *_persistence(s["adtm"][post], s["tflagv"][post], s["fanl"][post], rules),
        nabstat,
        _yn(bool(baseline.any())),
        _yn(bool(post.any())),
        _yn(bflag is not pd.NA),
    ]


def _persistence(
    adtm: np.ndarray, tflagv: np.ndarray, fanl: np.ndarray, rules: AdaRules
) -> list[object]:
    """PERSADA, TRANADA, PERSADAE, TRANADAE, FPPDTM, LPPDTM, ADADUR, TIMADA from the valid
    post-baseline binding-ADA samples (admiral ADAB template; Shankar 2014's 16-week rule).

    Persistent: positive at the last sample, or at two or more samples with the first and last
    positives at least ``persistent_weeks`` apart; transient: the last sample not positive and
    one positive sample only, or several spanning less than ``persistent_weeks``.
    """
    positive = (tflagv == 1) | (tflagv == 2)
    if not positive.any():
        return ["N", "N", "N", "N", pd.NaT, pd.NaT, np.nan, np.nan]
    first, last = adtm[positive].min(), adtm[positive].max()
    count = int(positive.sum())
    last_is_last_sample = last == adtm.max()
    span_s = float((last - first) / np.timedelta64(1, "s"))
    span_weeks = span_s / _WEEK_S
    transient = not last_is_last_sample and (count == 1 or span_weeks < rules.persistent_weeks)
    persistent = last_is_last_sample or (count >= 2 and span_weeks >= rules.persistent_weeks)
    induced = bool((tflagv[positive & (adtm == last)] == 1).any())
    adadur = 1 / 7 if span_s == 0 else (span_s / 86400.0 + 1) / 7
    timada = np.nan
    if not np.isnat(fanl[0]):
        timada = round(float((first - fanl[0]) / np.timedelta64(1, "s")) / _WEEK_S, 4)
    return [
        _yn(induced and persistent),
        _yn(induced and transient),
        _yn(persistent),
        _yn(transient),
        pd.Timestamp(first),
        pd.Timestamp(last),
        round(adadur, 4),
        timada,
    ]


_TITLES = {
    "RESULT_BAB": "ADA interpreted per sample result",
    "RESULT_NAB": "Nab interpreted per sample result",
    "TFLAGV": "Treatment related ADA by Visit",
    "PBFLAGV": "Post Baseline Pos/Neg by Visit",
    "ADASTTV": "ADA Status of a patient by Visit",
    "BFLAG": "Baseline Pos/Neg",
    "INDUCD": "Treatment induced ADA",
    "ENHANC": "Treatment enhanced ADA",
    "EMERPOS": "Treatment Emergent - Positive",
    "TRUNAFF": "Treatment unaffected",
    "EMERNEG": "Treatment Emergent - Negative",
    "NOTRREL": "No treatment related ADA",
    "ADASTAT": "ADA Status of a patient",
    "TIMADA": "Time to onset of ADA (Weeks)",
    "PERSADA": "Persistent ADA",
    "TRANADA": "Transient ADA",
    "NABSTAT": "Nab Status",
    "ADADUR": "ADA Duration (Weeks)",
    "FPPDTM": "First Post Dose Positive Datetime",
    "LPPDTM": "Last Post Dose Positive Datetime",
}


def adab_parameters(samples: pd.DataFrame, status: pd.DataFrame, *, index: int = 1) -> pd.DataFrame:
    """The ADAB dataset (one row per subject, parameter and visit) in the layout of admiral's
    ADAB template: titre (``BAB<agent>``/``NAB<agent>``), per-sample ``RESULT<index>`` and
    ``RESULT<index+1>`` (NAb), by-visit ``TFLAGV``, ``PBFLAGV``, ``ADASTTV`` and the subject
    parameters ``BFLAG``, ``INDUCD``, ``ENHANC``, ``EMERPOS``, ``TRUNAFF``, ``EMERNEG``,
    ``NOTRREL``, ``ADASTAT``, ``TIMADA``, ``PERSADA``, ``TRANADA``, ``NABSTAT``, ``ADADUR``,
    ``FPPDTM``, ``LPPDTM`` (each suffixed with ``index``; <agent> is the first five letters of
    ``ISBDAGNT``).

    Columns: USUBJID, PARAMCD, PARAM, ISSEQ, AVISIT, AVISITN, ADT, ADY, NFRLT, AFRLT, AVAL,
    AVALC, AVALU, BASE, CHG, DTYPE, ABLFL, ADABLPFL, ADPBLPFL.
    """
    agent = next((a for a in samples["ISBDAGNT"] if a), "")
    short = agent[:5].upper()
    bab_label = f"Anti-{agent} Antibody"
    nab_label = f"Anti-{agent} Neutralizing Antibody"
    sfx = str(index)
    blp = status.set_index("USUBJID")[["ADABLPFL", "ADPBLPFL"]]
    blp = blp.replace({"N": ""})
    bab = samples[samples["ADATYPE"] == "ADA_BAB"]
    nab = samples[samples["ADATYPE"] == "ADA_NAB"]
    parts: list[pd.DataFrame] = []

    def visit_rows(src: pd.DataFrame, code: str, param: str, **values: object) -> None:
        rows = pd.DataFrame(
            {
                "USUBJID": src["USUBJID"].to_numpy(),
                "PARAMCD": code,
                "PARAM": param,
                "ISSEQ": src["ISSEQ"].to_numpy(),
                "AVISIT": src["VISIT"].to_numpy(),
                "AVISITN": src["VISITNUM"].to_numpy(),
                "ADT": src["ADT"].to_numpy(),
                "ADY": src["ADY"].to_numpy(),
                "NFRLT": src["NFRLT"].to_numpy(),
                "AFRLT": src["AFRLT"].to_numpy(),
                "ABLFL": src["ABLFL"].to_numpy(),
            }
        )
        for name, value in values.items():
            rows[name] = value.to_numpy() if isinstance(value, pd.Series) else value
        parts.append(rows)

    def flags(src: pd.DataFrame) -> dict[str, pd.Series]:
        return {
            "ADABLPFL": src["USUBJID"].map(blp["ADABLPFL"]).fillna(""),
            "ADPBLPFL": src["USUBJID"].map(blp["ADPBLPFL"]).fillna(""),
        }

    visit_rows(
        bab,
        f"BAB{short}",
        f"{bab_label}, Titer Units ({sfx})",
        AVAL=bab["AVAL"],
        AVALC="",
        AVALU=np.where(
            bab["AVAL"].notna(), np.where(bab["DTYPE"] == "MRT", "titer", bab["ISSTRESU"]), ""
        ),
        BASE=bab["BASE"],
        CHG=bab["CHG"],
        DTYPE=bab["DTYPE"],
        **flags(bab),
    )
    visit_rows(
        nab,
        f"NAB{short}",
        f"{nab_label} ({sfx})",
        AVAL=np.nan,
        AVALC=nab["ISSTRESC"],
        AVALU=nab["ISSTRESU"],
        BASE=np.nan,
        CHG=np.nan,
        DTYPE="",
        ADABLPFL="",
        ADPBLPFL="",
    )
    for src, code, label, with_flags in (
        (bab, f"RESULT{sfx}", f"{_TITLES['RESULT_BAB']}, {bab_label} ({sfx})", True),
        (nab, f"RESULT{index + 1}", f"{_TITLES['RESULT_NAB']}, {nab_label} ({index + 1})", False),
    ):
        aval = src["RESULTN"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        base = src["BASE_RESULT"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
        chg = np.where(src["ABLFL"] == "", aval - base, np.nan)
        extra = flags(src) if with_flags else {"ADABLPFL": "", "ADPBLPFL": ""}
        visit_rows(
            src,
            code,
            label,
            AVAL=aval,
            AVALC=src["RESULTC"],
            AVALU="",
            BASE=base,
            CHG=chg,
            DTYPE="",
            **extra,
        )
    tflagv = bab["TFLAGV"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    pbflagv = bab["PBFLAGV"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    by_visit = {
        f"TFLAGV{sfx}": (tflagv, ["" if np.isnan(t) else str(int(t)) for t in tflagv]),
        f"PBFLAGV{sfx}": (
            pbflagv,
            ["MISSING" if np.isnan(p) else ("POSITIVE" if p == 1 else "NEGATIVE") for p in pbflagv],
        ),
        f"ADASTTV{sfx}": (pbflagv, bab["ADASTATV"].tolist()),
    }
    for code, (aval, avalc) in by_visit.items():
        title = _TITLES[code[: -len(sfx)]]
        visit_rows(
            bab,
            code,
            f"{title}, {bab_label} ({sfx})",
            AVAL=aval,
            AVALC=avalc,
            AVALU="",
            BASE=np.nan,
            CHG=np.nan,
            DTYPE=bab["DTYPE"],
            ADABLPFL="",
            ADPBLPFL="",
        )

    st = status.set_index("USUBJID")
    bab_subjects = st.index.to_numpy()
    nab_subjects = np.array([u for u in bab_subjects if st.loc[u, "NABSTAT"] != ""], dtype=object)

    def overall(
        code: str, label: str, who: np.ndarray, aval: object, avalc: object, avalu: object = ""
    ) -> None:
        parts.append(
            pd.DataFrame(
                {
                    "USUBJID": who,
                    "PARAMCD": f"{code}{sfx}",
                    "PARAM": f"{_TITLES[code]}, {label} ({sfx})",
                    "ISSEQ": np.nan,
                    "AVISIT": "OVERALL",
                    "AVISITN": 11111.0,
                    "ADT": pd.NaT,
                    "ADY": np.nan,
                    "NFRLT": np.nan,
                    "AFRLT": np.nan,
                    "ABLFL": "",
                    "AVAL": aval,
                    "AVALC": avalc,
                    "AVALU": avalu,
                    "BASE": np.nan,
                    "CHG": np.nan,
                    "DTYPE": "",
                    "ADABLPFL": "",
                    "ADPBLPFL": "",
                }
            )
        )

    def yn(column: str) -> tuple[np.ndarray, np.ndarray]:
        values = st[column].to_numpy()
        return (values == "Y").astype(float), values

    bflag = st["BFLAG"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    overall(
        "BFLAG",
        bab_label,
        bab_subjects,
        bflag,
        ["" if np.isnan(b) else ("Y" if b == 1 else "N") for b in bflag],
    )
    for code, column in (
        ("INDUCD", "INDUCED"),
        ("ENHANC", "ENHANCED"),
        ("EMERPOS", "EMERPOS"),
        ("TRUNAFF", "TRUNAFF"),
        ("EMERNEG", "EMERNEG"),
        ("NOTRREL", "NOTRREL"),
        ("PERSADA", "PERSADA"),
        ("TRANADA", "TRANADA"),
    ):
        overall(code, bab_label, bab_subjects, *yn(column))
    adastat = st["ADASTAT"].to_numpy()
    overall(
        "ADASTAT",
        bab_label,
        bab_subjects,
        [{"POSITIVE": 1.0, "NEGATIVE": 0.0}.get(a, np.nan) for a in adastat],
        adastat,
    )
    for code in ("TIMADA", "ADADUR"):
        values = st[code].to_numpy(dtype=float)
        overall(code, bab_label, bab_subjects, values, "", np.where(np.isnan(values), "", "WEEKS"))
    nabstat = st.loc[nab_subjects, "NABSTAT"].to_numpy() if len(nab_subjects) else np.array([])
    overall(
        "NABSTAT",
        nab_label,
        nab_subjects,
        [{"POSITIVE": 1.0, "NEGATIVE": 0.0}.get(a, np.nan) for a in nabstat],
        nabstat,
    )
    for code in ("FPPDTM", "LPPDTM"):
        times = st[code]
        overall(
            code,
            bab_label,
            bab_subjects,
            [np.nan if pd.isna(t) else float(t.timestamp()) for t in times],
            ["" if pd.isna(t) else t.strftime("%d%b%Y:%H:%M:%S").upper() for t in times],
        )
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["USUBJID", "PARAMCD", "AVISITN", "ISSEQ"], kind="stable").reset_index(
        drop=True
    )


#: Measures of :func:`ada_incidence`: name → (status column, value counted, population).
INCIDENCE_MEASURES: dict[str, tuple[str, str, str]] = {
    "baseline ADA positive": ("BASESTAT", "POSITIVE", "baseline evaluable"),
    "treatment-emergent ADA": ("ADASTAT", "POSITIVE", "post-baseline evaluable"),
    "treatment-induced ADA": ("INDUCED", "Y", "post-baseline evaluable"),
    "treatment-boosted ADA": ("ENHANCED", "Y", "post-baseline evaluable"),
    "persistent ADA": ("PERSADA", "Y", "post-baseline evaluable"),
    "transient ADA": ("TRANADA", "Y", "post-baseline evaluable"),
    "neutralising ADA": ("NABSTAT", "POSITIVE", "post-baseline evaluable"),
}


def ada_populations(status: pd.DataFrame) -> pd.DataFrame:
    """ADA-evaluable populations per subject (Shankar et al. 2014, section "Reporting"):
    ``BLEVALFL`` baseline evaluable (a baseline result), ``PBEVALFL`` post-baseline evaluable
    (at least one valid post-baseline result; the denominator of treatment-emergent ADA
    incidence, admiral's ``ADPBLPFL``) and ``EVALFL`` both."""
    out = status[["USUBJID"]].copy()
    out["BLEVALFL"] = status["BLEVALFL"].to_numpy()
    out["PBEVALFL"] = status["ADPBLPFL"].to_numpy()
    out["EVALFL"] = np.where((status["BLEVALFL"] == "Y") & (status["ADPBLPFL"] == "Y"), "Y", "N")
    return out


def ada_incidence(
    status: pd.DataFrame,
    *,
    adsl: pd.DataFrame | None = None,
    by: str | None = None,
    population: str | None = "SAFFL",
    level: float = 0.95,
) -> pd.DataFrame:
    """Incidence of each ADA measure with exact Clopper-Pearson intervals.

    Denominators (Shankar et al. 2014): baseline prevalence over subjects with a baseline
    result; treatment-emergent, induced, boosted, persistent, transient and neutralising ADA
    over subjects with a valid post-baseline result. With ``adsl``, subjects are restricted to
    ``population == "Y"`` and grouped by the ADSL column ``by`` (e.g. a dose level).

    Columns: group (when ``by``), measure, population, x, n, estimate, lower, upper.
    """
    frame = status.merge(ada_populations(status).drop(columns=["BLEVALFL"]), on="USUBJID")
    if adsl is not None:
        keep = ["USUBJID"] + [c for c in (by, population) if c is not None]
        require_columns(adsl, keep, "ADSL")
        frame = frame.merge(_text_frame(adsl[keep]), on="USUBJID", how="inner")
        if population is not None:
            frame = frame[frame[population] == "Y"]
    elif by is not None:
        require_columns(status, [by], "ADA status")
    groups = [(None, frame)] if by is None else list(frame.groupby(by, sort=True))
    rows = []
    for group, sub in groups:
        for measure, (column, value, pop) in INCIDENCE_MEASURES.items():
            denominator = (
                sub[sub["BLEVALFL"] == "Y"]
                if pop.startswith("baseline")
                else sub[sub["PBEVALFL"] == "Y"]
            )
            x = int((denominator[column] == value).sum())
            ci = clopper_pearson(x, len(denominator), level)
            row = {
                "measure": measure,
                "population": pop,
                "x": x,
                "n": ci.n,
                "estimate": ci.estimate,
                "lower": ci.lower,
                "upper": ci.upper,
            }
            if by is not None:
                row = {"group": group, **row}
            rows.append(row)
    return pd.DataFrame(rows)


def _text_frame(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({c: text_values(frame[c]).to_numpy() for c in frame.columns})


def orr_by_ada(
    response: pd.DataFrame,
    status: pd.DataFrame,
    *,
    response_col: str = "AVALC",
    responders: Sequence[str] = ("CR", "PR"),
    ada_col: str = "ADASTAT",
    level: float = 0.95,
) -> pd.DataFrame:
    """Objective response rate by ADA status, with Clopper-Pearson intervals.

    ``response``: one row per subject (e.g. ADRS ``PARAMCD == "BOR"``) with USUBJID and
    ``response_col``; a subject responds when it is in ``responders`` (RECIST 1.1: CR or PR).
    Subjects without ADA status are grouped as MISSING. Columns: ADA status, x, n, estimate,
    lower, upper.
    """
    require_columns(response, ["USUBJID", response_col], "response")
    resp = _text_frame(response[["USUBJID", response_col]])
    if resp["USUBJID"].duplicated().any():
        i = int(np.flatnonzero(resp["USUBJID"].duplicated().to_numpy())[0])
        raise DataError(
            "more than one response row for the subject",
            dataset="response",
            subject=resp["USUBJID"].iloc[i],
            row=i + 1,
            column="USUBJID",
        )
    merged = resp.merge(status[["USUBJID", ada_col]], on="USUBJID", how="left")
    merged[ada_col] = merged[ada_col].fillna("MISSING").replace("", "MISSING")
    wanted = {r.upper() for r in responders}
    merged["responder"] = merged[response_col].str.upper().isin(wanted)
    rows = []
    for group, sub in merged.groupby(ada_col, sort=True):
        ci = clopper_pearson(int(sub["responder"].sum()), len(sub), level)
        rows.append(
            {
                ada_col: group,
                "x": ci.x,
                "n": ci.n,
                "estimate": ci.estimate,
                "lower": ci.lower,
                "upper": ci.upper,
            }
        )
    return pd.DataFrame(rows)


def os_by_ada(
    survival: pd.DataFrame,
    status: pd.DataFrame,
    *,
    ada_col: str = "ADASTAT",
) -> pd.DataFrame:
    """A per-subject survival frame (ADTTE: USUBJID, AVAL, CNSR with 0 = event) joined to ADA
    status, ready for Kaplan-Meier by group; subjects without ADA status are MISSING.

    Columns: USUBJID, AVAL, CNSR, EVENT (1 = death), and ``ada_col``. Raises
    :class:`DataError` for a missing or negative time, a censoring value other than 0/1 or a
    subject given twice.
    """
    require_columns(survival, ["USUBJID", "AVAL", "CNSR"], "survival")
    frame = survival.reset_index(drop=True)
    aval = _numbers(frame, "AVAL", "survival")
    cnsr = _numbers(frame, "CNSR", "survival")
    subjects = text_values(frame["USUBJID"])
    repeated = subjects.duplicated().to_numpy()
    for i in range(len(frame)):
        where = {"dataset": "survival", "subject": subjects.iloc[i], "row": i + 1}
        if np.isnan(aval[i]) or aval[i] < 0:
            raise DataError(f"time {frame['AVAL'].iloc[i]!r} must be >= 0", column="AVAL", **where)
        if cnsr[i] not in (0.0, 1.0):
            raise DataError(
                f"censoring {frame['CNSR'].iloc[i]!r} must be 0 or 1", column="CNSR", **where
            )
        if repeated[i]:
            raise DataError("subject appears more than once", column="USUBJID", **where)
    out = pd.DataFrame({"USUBJID": subjects, "AVAL": aval, "CNSR": cnsr.astype(int)})
    out["EVENT"] = 1 - out["CNSR"]
    merged = out.merge(status[["USUBJID", ada_col]], on="USUBJID", how="left")
    merged[ada_col] = merged[ada_col].fillna("MISSING").replace("", "MISSING")
    return merged


def os_summary_by_ada(
    survival: pd.DataFrame,
    status: pd.DataFrame,
    *,
    ada_col: str = "ADASTAT",
    conf_level: float = 0.95,
) -> pd.DataFrame:
    """Kaplan-Meier median survival by ADA status (:func:`os_by_ada` then
    :func:`oncotrial.stats.survival.kaplan_meier_by`, R ``survfit`` conventions: log-scale
    pointwise band, median CI by inverting it). Columns: ``ada_col``, n, events, median,
    lower, upper (NaN = not reached), in the unit of ``AVAL``."""
    frame = os_by_ada(survival, status, ada_col=ada_col)
    curves = kaplan_meier_by(
        frame["AVAL"].to_numpy(),
        frame["EVENT"].to_numpy(),
        frame[ada_col].to_numpy(),
        conf_level=conf_level,
    )
    rows = []
    for group, curve in curves.items():
        median = curve.median()
        rows.append(
            {
                ada_col: group,
                "n": curve.n,
                "events": curve.events,
                "median": median.time,
                "lower": median.lower,
                "upper": median.upper,
            }
        )
    return pd.DataFrame(rows)
