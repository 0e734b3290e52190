"""Time-to-event ADaM (ADTTE): overall survival, progression-free survival, duration of response.

Event and censoring sources are data (:class:`TteSource`: dataset, condition, date column,
descriptions, provenance), and one function, :func:`derive_param_tte`, picks per subject the
earliest event or, without one, the latest censoring (admiral ``derive_param_tte()``,
``event_source()``, ``censor_source()``; the sources are admiralonco's ``death_event``,
``pd_event``, ``lastalive_censor``, ``lasta_censor``, ``rand_censor``). Every record says where
its date came from (``EVNTDESC``, ``CNSDTDSC``, ``SRCDOM``, ``SRCVAR``, ``SRCSEQ``);
``AVAL = ADT − STARTDT + 1`` days. Checked cell by cell against pharmaverseadam's
``adtte_onco`` (admiralonco 1.4 ``ad_adtte.R``) in ``tests/test_tte.py``.

PFS can also apply the censoring conventions of the FDA guidance "Clinical Trial Endpoints for
the Approval of Cancer Drugs and Biologics" (2018), appendix on PFS analysis (table of
progression and censoring dates) — all off by default, as the reference uses none of them:
no baseline assessment, no post-baseline assessment, new anticancer therapy before progression,
an event after two or more missed assessments (:class:`PfsCensoring`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from oncotrial.derive.events import (
    Condition,
    DerivationNote,
    Derived,
    Event,
    blank_to_na,
    check_death_dates,
    date_column,
    numeric_column,
    pick_extreme_event,
    require_columns,
    subject_keys,
)
from oncotrial.derive.response_terms import RECIST11_TERMS, ResponseTerms, terms_of_adrs


@dataclass(frozen=True)
class TteSource:
    """Where an event (``censor == 0``) or a censoring (``censor >= 1``) date comes from:
    rows of ``dataset`` meeting ``condition`` with a non-missing ``date``; the picked record
    gets ``EVNTDESC``/``CNSDTDSC`` and ``SRCDOM``, ``SRCVAR`` (default: ``date``) and
    ``SRCSEQ`` (the value of column ``srcseq``, if given)."""

    dataset: str
    date: str
    censor: int = 0
    condition: Condition | None = None
    description: str = ""
    censor_description: str | None = None
    srcdom: str = ""
    srcvar: str | None = None
    srcseq: str | None = None

    def as_event(self) -> Event:
        """The source as an :class:`Event` of the generic picker (``ADT`` = the date)."""
        date, condition, srcseq = self.date, self.condition, self.srcseq

        def qualifies(d: pd.DataFrame) -> pd.Series:
            ok = d[date].notna()
            return ok & condition(d).fillna(False) if condition is not None else ok

        values = {
            "ADT": lambda d: d[date],
            "CNSR": self.censor,
            "EVNTDESC": self.description,
            "CNSDTDSC": self.censor_description if self.censor_description else np.nan,
            "SRCDOM": self.srcdom,
            "SRCVAR": self.srcvar or date,
            "SRCSEQ": (lambda d: d[srcseq]) if srcseq else np.nan,
        }
        return Event(self.dataset, qualifies, values, self.description, keep=())


def event_source(dataset: str, date: str, **kwargs) -> TteSource:
    """An event source (``CNSR = 0``; admiral ``event_source()``)."""
    return TteSource(dataset, date, censor=0, **kwargs)


def censor_source(dataset: str, date: str, *, censor: int = 1, **kwargs) -> TteSource:
    """A censoring source (``CNSR = censor``, 1 by default; admiral ``censor_source()``)."""
    if censor < 1:
        raise ValueError("a censoring source needs CNSR >= 1")
    return TteSource(dataset, date, censor=censor, **kwargs)


def _is(paramcd: str, *, flag: bool = True, avalc: str | None = "Y") -> Condition:
    def condition(d: pd.DataFrame) -> pd.Series:
        ok = d["PARAMCD"].eq(paramcd)
        if avalc is not None:
            ok &= d["AVALC"].eq(avalc)
        if flag:
            ok &= d["ANL01FL"].eq("Y")
        return ok

    return condition


DEATH_EVENT = event_source(
    "adrs", "ADT", condition=_is("DEATH"), description="Death", srcdom="ADRS", srcseq="ASEQ"
)
"""Death: ADRS ``DEATH`` = Y (admiralonco ``death_event``)."""

PD_EVENT = event_source(
    "adrs",
    "ADT",
    condition=_is("PD"),
    description="Disease Progression",
    srcdom="ADRS",
    srcseq="ASEQ",
)
"""First progression: ADRS ``PD`` = Y (admiralonco ``pd_event``)."""

LASTALIVE_CENSOR = censor_source(
    "adsl", "LSTALVDT", description="Alive", censor_description="Alive During Study", srcdom="ADSL"
)
"""Last date known alive (admiralonco ``lastalive_censor``)."""

LASTA_CENSOR = censor_source(
    "adrs",
    "ADT",
    condition=_is("LSTA", avalc=None),
    description="Last Tumor Assessment",
    censor_description="Last Tumor Assessment",
    srcdom="ADRS",
    srcseq="ASEQ",
)
"""Last tumour assessment: ADRS ``LSTA`` (admiralonco ``lasta_censor``)."""


def progression_event(terms: ResponseTerms = RECIST11_TERMS) -> TteSource:
    """First progression in the ADRS's vocabulary: ``PD_EVENT``, or under iRECIST ``ICPD`` = Y
    (the iUPD that a later iCPD confirmed; Seymour et al. 2017)."""
    if terms.progression_paramcd == "PD":
        return PD_EVENT
    return replace(PD_EVENT, condition=_is(terms.progression_paramcd))


def last_assessment_censor(terms: ResponseTerms = RECIST11_TERMS) -> TteSource:
    """Last tumour assessment in the ADRS's vocabulary: ``LASTA_CENSOR`` (``ILSTA`` under
    iRECIST)."""
    if terms.paramcd("LSTA") == "LSTA":
        return LASTA_CENSOR
    return replace(LASTA_CENSOR, condition=_is(terms.paramcd("LSTA"), avalc=None))


RAND_CENSOR = censor_source(
    "adsl", "RANDDT", description="Randomization", censor_description="Randomization", srcdom="ADSL"
)
"""Randomisation date (admiralonco ``rand_censor``)."""

TRTS_CENSOR = censor_source(
    "adsl",
    "TRTSDT",
    description="Treatment Start",
    censor_description="Treatment Start",
    srcdom="ADSL",
)
"""First dose date (admiralonco ``trts_censor``)."""


def start_censor(start_date: str) -> TteSource:
    """Censoring at the time origin itself: ``RAND_CENSOR`` for ``RANDDT``, ``TRTS_CENSOR`` for
    ``TRTSDT``, otherwise a source on that ADSL column."""
    known = {"RANDDT": RAND_CENSOR, "TRTSDT": TRTS_CENSOR}
    return known.get(start_date) or censor_source(
        "adsl", start_date, description="Start Date", censor_description="Start Date", srcdom="ADSL"
    )


def _prepare(
    sources: Mapping[str, pd.DataFrame], used: Sequence[TteSource]
) -> dict[str, pd.DataFrame]:
    out = {name: df.copy(deep=False) for name, df in sources.items()}
    for source in used:
        if source.dataset not in out:
            raise KeyError(f"source dataset '{source.dataset}' not given")
        df = out[source.dataset]
        label = source.dataset.upper()
        require_columns(
            df, ["USUBJID", source.date, *([source.srcseq] if source.srcseq else [])], label
        )
        if not pd.api.types.is_datetime64_any_dtype(df[source.date].dtype):
            df[source.date] = date_column(df, source.date, dataset=label)
        if source.srcseq:
            df[source.srcseq] = numeric_column(df, source.srcseq, dataset=label)
    return out


def derive_param_tte(
    adsl: pd.DataFrame,
    sources: Mapping[str, pd.DataFrame],
    *,
    events: Sequence[TteSource],
    censors: Sequence[TteSource],
    paramcd: str,
    param: str,
    start_date: str = "RANDDT",
) -> Derived:
    """One time-to-event record per ADSL subject: the earliest event over ``events`` (ties: the
    first source listed), else the latest censoring over ``censors`` (ties: the last listed),
    dated no earlier than ``STARTDT`` (admiral ``derive_param_tte``). Subjects without a start
    date or without any event or censoring date get no record (noted)."""
    require_columns(adsl, ["USUBJID", start_date], "ADSL")
    data = _prepare(sources, [*events, *censors])
    keys = subject_keys(adsl)
    picked = []
    for group, mode, flag in ((events, "first", 1), (censors, "last", 0)):
        if group:
            rows = pick_extreme_event(
                data, [s.as_event() for s in group], by=keys, order=("ADT", "event_nr"), mode=mode
            )
            picked.append(rows.assign(_event=flag))
    both = pd.concat(picked, ignore_index=True).sort_values(
        [*keys, "_event"], ascending=[True] * len(keys) + [False], kind="mergesort"
    )
    chosen = both.groupby(keys, sort=False).head(1).drop(columns="_event")

    start = adsl[keys].copy()
    start["STARTDT"] = date_column(adsl, start_date, dataset="ADSL")
    notes = [
        DerivationNote(
            "no-start-date",
            f"{start_date} missing; no {paramcd} record",
            dataset="ADSL",
            subject=str(s),
            column=start_date,
        )
        for s in start.loc[start["STARTDT"].isna(), "USUBJID"]
    ]
    out = chosen.merge(start.dropna(subset=["STARTDT"]), on=keys, how="inner")
    lost = set(start.dropna(subset=["STARTDT"])["USUBJID"]) - set(out["USUBJID"])
    notes += [
        DerivationNote(
            "no-date",
            f"no event or censoring date; no {paramcd} record",
            dataset="ADSL",
            subject=str(s),
        )
        for s in sorted(lost)
    ]
    out["ADT"] = out[["ADT", "STARTDT"]].max(axis=1)
    out["PARAMCD"] = paramcd
    out["PARAM"] = param
    return Derived(_finish(out, keys), notes)


def _finish(out: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    out = out.copy()
    out["AVAL"] = ((out["ADT"] - out["STARTDT"]).dt.days + 1).astype("Int64")
    out["CNSR"] = out["CNSR"].astype("Int64")
    out["SRCSEQ"] = pd.to_numeric(out["SRCSEQ"]).astype("Int64")
    columns = [
        *keys,
        "PARAMCD",
        "PARAM",
        "STARTDT",
        "ADT",
        "AVAL",
        "CNSR",
        "EVNTDESC",
        "CNSDTDSC",
        "SRCDOM",
        "SRCVAR",
        "SRCSEQ",
    ]
    return out[columns].sort_values(keys, kind="mergesort").reset_index(drop=True)


def derive_os(adsl: pd.DataFrame, adrs: pd.DataFrame, *, start_date: str = "RANDDT") -> Derived:
    """OS: death, else censored at the later of last known alive and the start date
    (admiralonco ``ad_adtte.R``)."""
    return derive_param_tte(
        adsl,
        {"adsl": adsl, "adrs": adrs},
        events=[DEATH_EVENT],
        censors=[LASTALIVE_CENSOR, start_censor(start_date)],
        paramcd="OS",
        param="Overall Survival",
        start_date=start_date,
    )


@dataclass(frozen=True)
class PfsCensoring:
    """PFS censoring conventions of the FDA guidance (2018) on cancer endpoints, appendix on
    PFS analysis; each is off by default (the reference derivation uses none of them).

    * ``baseline_assessment_date``: ADSL column with the date of the baseline tumour
      assessment; when it is missing the subject is censored at the start date ("no baseline
      tumour assessments: censored at randomisation").
    * ``require_post_baseline_assessment``: no adequate assessment after the start date →
      censored at the start date (even after a death).
    * ``new_therapy_date``: ADSL column with the start of new anticancer therapy; without PD or
      death before it, censored at the last adequate assessment before it ("new anticancer
      treatment started"). Assessments and events on or after that date are disregarded.
    * ``missed_assessments``: an event more than ``missed_assessments × assessment_interval_days
      + assessment_window_days`` days after the last adequate assessment (or the start date) —
      i.e. after that many missed scheduled assessments — is censored at that assessment
      ("death or progression after more than one missed visit").

    An assessment is adequate when its response is not in ``inadequate_responses``.
    """

    baseline_assessment_date: str | None = None
    require_post_baseline_assessment: bool = False
    new_therapy_date: str | None = None
    missed_assessments: int | None = None
    assessment_interval_days: int = 42
    assessment_window_days: int = 0
    inadequate_responses: tuple[str, ...] = ("NE",)

    @property
    def active(self) -> bool:
        return bool(
            self.baseline_assessment_date
            or self.require_post_baseline_assessment
            or self.new_therapy_date
            or self.missed_assessments
        )


def derive_pfs(
    adsl: pd.DataFrame,
    adrs: pd.DataFrame,
    *,
    start_date: str = "RANDDT",
    censoring: PfsCensoring = PfsCensoring(),
) -> Derived:
    """PFS: first PD or death, else censored at the last tumour assessment or, without one, at
    the start date (admiralonco ``ad_adtte.R``); then the FDA conventions chosen in
    ``censoring``, in the guidance table's order, each override noted. From an iRECIST ADRS
    the progression is the confirmed one (iPFS; ``PARAM`` says so)."""
    terms = terms_of_adrs(adrs)
    result = derive_param_tte(
        adsl,
        {"adsl": adsl, "adrs": adrs},
        events=[progression_event(terms), DEATH_EVENT],
        censors=[last_assessment_censor(terms), start_censor(start_date)],
        paramcd="PFS",
        param=_with_criteria("Progression Free Survival", terms),
        start_date=start_date,
    )
    if not censoring.active:
        return result
    return _apply_fda(result, adsl, adrs, start_date, censoring)


def _assessments(adrs: pd.DataFrame, censoring: PfsCensoring) -> pd.DataFrame:
    require_columns(adrs, ["USUBJID", "PARAMCD", "AVALC", "ADT", "ANL01FL", "ASEQ"], "ADRS")
    data = adrs
    ok = (
        data["PARAMCD"].eq("OVR")
        & data["ANL01FL"].eq("Y")
        & ~data["AVALC"].isin(censoring.inadequate_responses)
    ).fillna(False)
    rows = data.loc[ok.to_numpy(dtype=bool), ["USUBJID", "ADT", "ASEQ"]].copy()
    rows["ADT"] = date_column(rows, "ADT", dataset="ADRS")
    rows["ASEQ"] = numeric_column(rows, "ASEQ", dataset="ADRS")
    return rows.sort_values(["USUBJID", "ADT"], kind="mergesort")


def _apply_fda(
    result: Derived,
    adsl: pd.DataFrame,
    adrs: pd.DataFrame,
    start_date: str,
    censoring: PfsCensoring,
) -> Derived:
    pfs, notes = result.data.copy(), list(result.notes)
    adequate = _assessments(adrs, censoring)
    by_subject = {s: g for s, g in adequate.groupby("USUBJID", sort=False)}
    empty = adequate.iloc[:0]
    extra = {}
    for column in (censoring.baseline_assessment_date, censoring.new_therapy_date):
        if column:
            require_columns(adsl, [column], "ADSL")
            extra[column] = dict(
                zip(
                    adsl["USUBJID"].astype(str),
                    date_column(adsl, column, dataset="ADSL"),
                    strict=True,
                )
            )
    start = start_censor(start_date)
    k, gap_days = censoring.missed_assessments, None
    if k:
        gap_days = k * censoring.assessment_interval_days + censoring.assessment_window_days

    def at_start(i: int, why: str) -> None:
        pfs.loc[i, ["ADT", "CNSR", "EVNTDESC", "CNSDTDSC", "SRCDOM", "SRCVAR", "SRCSEQ"]] = [
            pfs.at[i, "STARTDT"],
            start.censor,
            why,
            start.censor_description,
            start.srcdom,
            start.srcvar or start.date,
            pd.NA,
        ]

    def at_assessment(i: int, row: pd.Series | None, why: str, where: str) -> None:
        if row is None:
            at_start(i, why)
            return
        pfs.loc[i, ["ADT", "CNSR", "EVNTDESC", "CNSDTDSC", "SRCDOM", "SRCVAR", "SRCSEQ"]] = [
            row["ADT"],
            1,
            why,
            where,
            "ADRS",
            "ADT",
            int(row["ASEQ"]),
        ]

    for i in pfs.index:
        subject = str(pfs.at[i, "USUBJID"])
        begin, before = pfs.at[i, "STARTDT"], (pfs.at[i, "ADT"], pfs.at[i, "EVNTDESC"])
        seen = by_subject.get(subject, empty)
        seen = seen.loc[(seen["ADT"] > begin).to_numpy(dtype=bool)]
        rule = None
        if censoring.baseline_assessment_date and pd.isna(
            extra[censoring.baseline_assessment_date].get(subject)
        ):
            at_start(i, "No Baseline Tumor Assessment")
            rule = "fda-pfs-no-baseline"
        elif censoring.require_post_baseline_assessment and seen.empty:
            at_start(i, "No Post-baseline Tumor Assessment")
            rule = "fda-pfs-no-post-baseline"
        else:
            therapy = censoring.new_therapy_date
            nact = extra[therapy].get(subject) if therapy else pd.NaT
            if pd.notna(nact) and not (pfs.at[i, "CNSR"] == 0 and pfs.at[i, "ADT"] < nact):
                prior = seen.loc[(seen["ADT"] < nact).to_numpy(dtype=bool)]
                at_assessment(
                    i,
                    prior.iloc[-1] if len(prior) else None,
                    "New Anticancer Therapy",
                    "Last Adequate Tumor Assessment Before New Anticancer Therapy",
                )
                rule = "fda-pfs-new-therapy"
            elif gap_days is not None and pfs.at[i, "CNSR"] == 0:
                prior = seen.loc[(seen["ADT"] < pfs.at[i, "ADT"]).to_numpy(dtype=bool)]
                last = prior["ADT"].iloc[-1] if len(prior) else begin
                if (pfs.at[i, "ADT"] - last).days > gap_days:
                    at_assessment(
                        i,
                        prior.iloc[-1] if len(prior) else None,
                        f"{pfs.at[i, 'EVNTDESC']} After {k} or More Missed Assessments",
                        "Last Adequate Tumor Assessment Before Missed Assessments",
                    )
                    rule = "fda-pfs-missed-assessments"
        if rule:
            notes.append(
                DerivationNote(
                    rule,
                    f"PFS {before[1]} at {before[0].date()} → censored at "
                    f"{pfs.at[i, 'ADT'].date()} ({pfs.at[i, 'EVNTDESC']})",
                    dataset="ADTTE",
                    subject=subject,
                    column="CNSR",
                )
            )
    return Derived(_finish(pfs, subject_keys(pfs)), notes)


def derive_rsd(adsl: pd.DataFrame, adrs: pd.DataFrame, *, confirmed: bool = False) -> Derived:
    """Duration of response, for responders only: from the first (confirmed) response to PD or
    death, else censored at the last tumour assessment (admiralonco ``ad_adtte.R``; RECIST
    1.1 §4.7)."""
    terms = terms_of_adrs(adrs)
    paramcd = terms.paramcd("CRSP" if confirmed else "RSP")
    require_columns(adrs, ["USUBJID", "PARAMCD", "AVALC", "ADT", "ANL01FL"], "ADRS")
    data = adrs
    responders = data.loc[
        (data["PARAMCD"].eq(paramcd) & data["AVALC"].eq("Y") & data["ANL01FL"].eq("Y"))
        .fillna(False)
        .to_numpy(dtype=bool)
    ]
    keys = subject_keys(adsl, data)
    dates = responders[keys].copy()
    dates["RESPDT"] = date_column(responders, "ADT", dataset="ADRS")
    cohort = adsl.merge(dates, on=keys, how="inner")
    return derive_param_tte(
        cohort,
        {"adsl": adsl, "adrs": adrs},
        events=[progression_event(terms), DEATH_EVENT],
        censors=[last_assessment_censor(terms)],
        paramcd="RSD",
        param=_with_criteria("Duration of Response", terms),
        start_date="RESPDT",
    )


def _with_criteria(param: str, terms: ResponseTerms) -> str:
    """``PARAM`` of a tumour endpoint: plain for RECIST 1.1 (as the reference), else with the
    criteria named ("Progression Free Survival (iRECIST)")."""
    return param if terms.key == RECIST11_TERMS.key else f"{param} ({terms.name})"


ADSL_VARS = ("ARMCD", "ARM", "ACTARMCD", "ACTARM", "AGE", "SEX")


def derive_adtte(
    adsl: pd.DataFrame,
    adrs: pd.DataFrame,
    *,
    start_date: str = "RANDDT",
    pfs_censoring: PfsCensoring = PfsCensoring(),
    confirmed_response: bool = False,
    adsl_vars: Sequence[str] = ADSL_VARS,
) -> Derived:
    """ADTTE with OS, PFS and RSD, ``ASEQ`` by ``PARAMCD`` and the ``adsl_vars`` (admiralonco
    1.4 ``ad_adtte.R``). A death before the first dose raises :class:`DataError`."""
    check_death_dates(adsl)
    parts = [
        derive_os(adsl, adrs, start_date=start_date),
        derive_pfs(adsl, adrs, start_date=start_date, censoring=pfs_censoring),
        derive_rsd(adsl, adrs, confirmed=confirmed_response),
    ]
    keys = subject_keys(adsl)
    data = pd.concat([p.data for p in parts], ignore_index=True)
    data = data.sort_values([*keys, "PARAMCD"], kind="mergesort")
    data["ASEQ"] = (data.groupby(keys, sort=False).cumcount() + 1).astype("Int64")
    require_columns(adsl, list(adsl_vars), "ADSL")
    data = data.merge(blank_to_na(adsl[[*keys, *adsl_vars]]), on=keys, how="left")
    notes, seen = [], set()
    for note in (n for p in parts for n in p.notes):
        if note.rule == "no-start-date":
            if note.subject in seen:
                continue
            seen.add(note.subject)
            note = replace(note, message=f"{note.column} missing; no ADTTE records")
        notes.append(note)
    columns = [
        *keys,
        "ASEQ",
        *adsl_vars,
        "PARAMCD",
        "PARAM",
        "STARTDT",
        "ADT",
        "AVAL",
        "CNSR",
        "EVNTDESC",
        "CNSDTDSC",
        "SRCDOM",
        "SRCVAR",
        "SRCSEQ",
    ]
    return Derived(data[columns].reset_index(drop=True), notes)
