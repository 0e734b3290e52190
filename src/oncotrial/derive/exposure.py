"""Exposure ADaM (ADEX): dose administered per dosing record and per subject and drug, with
duration, dose intensity and relative dose intensity.

The layout is admiral's ADEX template (``ad_adex.R``, admiral 1.0): record parameters
``DURD`` (days of the record, end − start + 1), ``DOSE`` (mg given in it), ``PLDOSE`` (mg
planned in it) and ``ADJ`` (dose adjusted, from ``EXADJ``), and per subject and drug (``PARCAT1
= "OVERALL"``) ``TDURD`` (days dosed, the sum of ``DURD``), ``TDOSE``, ``TPDOSE``, ``TADJ``,
``AVDDSE`` (mg per day dosed = TDOSE / TDURD) and ``TDOSINT`` (100 × TDOSE / TPDOSE). Checked
against admiral itself on the pharmaverse EX in ``tests/test_exposure.py``.

Beyond the template, because an oral drug is taken once or twice a day and an antibody is
infused once a cycle, and because a committee judges dose intensity over the whole treatment
period (interruptions included):

* a record's dose is ``EXDOSE`` × administrations per day (``EXDOSFRQ`` QD 1, BID 2, TID 3,
  QID 4) × ``DURD``, or ``EXDOSE`` once for a single administration (``ONCE``, or a
  less-than-daily frequency such as Q3W: one record per administration);
* the planned dose is ``EXPLDOS`` (SUPPEX, as in the template; per administration, like
  ``EXDOSE``) when given, else the dose of the subject's first record of the drug (the
  assigned dose level);
* ``TRTDURD`` is the treatment period from the first dose to the last (interruptions
  included), ``DOSINT`` the dose intensity TDOSE / TRTDURD (mg/day), ``RDI`` the relative dose
  intensity 100 × DOSINT / planned daily dose (%), and ``NADMIN`` the number of single
  administrations (infusions).

A record without an end date has no duration and counts in no sum (noted), as in the
template. Unknown frequencies and malformed doses or dates raise :class:`DataError` with the
row and column.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from oncotrial.derive.dates import parse_iso_date
from oncotrial.derive.errors import CombinedDataError, DataError
from oncotrial.derive.events import DerivationNote, Derived, blank_to_na, require_columns

#: Administrations per day by ``EXDOSFRQ`` (CDISC FREQ terms).
PER_DAY = {"QD": 1.0, "BID": 2.0, "TID": 3.0, "QID": 4.0, "Q24H": 1.0, "Q12H": 2.0}
#: Frequencies of a single administration per record.
SINGLE = frozenset({"ONCE", "Q3W", "Q2W", "Q4W", "QW", "Q6W"})

PARAMS = {
    "DURD": "Study drug duration during constant dosing interval (days)",
    "DOSE": "Dose administered during constant dosing interval (mg)",
    "PLDOSE": "Planned dose during constant dosing interval (mg)",
    "ADJ": "Dose adjusted during constant dosing interval",
    "TDURD": "Overall duration (days)",
    "TDOSE": "Total dose administered (mg)",
    "TPDOSE": "Total planned dose (mg)",
    "TADJ": "Dose adjusted during study",
    "AVDDSE": "Average daily dose administered (mg/day dosed)",
    "TDOSINT": "Overall dose intensity (%)",
    "TRTDURD": "Treatment period, first to last dose (days)",
    "DOSINT": "Dose intensity over the treatment period (mg/day)",
    "RDI": "Relative dose intensity (%)",
    "NADMIN": "Number of administrations",
}
_EX = "EX"


def _day(text: object, row: int, subject: str, column: str) -> pd.Timestamp | None:
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return None
    try:
        parsed = parse_iso_date(str(text))
    except ValueError as exc:
        raise DataError(str(exc), dataset=_EX, subject=subject, row=row, column=column) from None
    if parsed is None:
        return None
    full = parsed.impute("none")
    if full is None:
        raise DataError(
            f"partial date '{text}': a dosing record needs full dates",
            dataset=_EX,
            subject=subject,
            row=row,
            column=column,
        )
    return pd.Timestamp(full)


def exposure_records(ex: pd.DataFrame) -> Derived:
    """One row per EX record with ``ASTDT``, ``AENDT``, ``DURD``, ``DAILY`` (mg per day, or the
    single dose), ``SINGLE`` (a single administration), ``DOSE``, ``PLANNED`` (planned mg per
    day, or per administration) and ``PLDOSE``; notes for records without an end date."""
    require_columns(ex, ["USUBJID", "EXTRT", "EXDOSE", "EXDOSFRQ", "EXSTDTC", "EXENDTC"], _EX)
    data = blank_to_na(ex).reset_index(drop=True)
    notes: list[DerivationNote] = []
    errors: list[DataError] = []
    starts, ends, daily, single, factors = [], [], [], [], []
    for i, r in data.iterrows():
        row, subject = i + 1, str(r["USUBJID"])
        try:
            dose = float(r["EXDOSE"])
            if not np.isfinite(dose) or dose < 0:
                raise ValueError
        except (TypeError, ValueError):
            errors.append(
                DataError(
                    f"dose '{r['EXDOSE']}' is not a non-negative number",
                    dataset=_EX,
                    subject=subject,
                    row=row,
                    column="EXDOSE",
                )
            )
            dose = np.nan
        try:
            start = _day(r["EXSTDTC"], row, subject, "EXSTDTC")
            end = _day(r["EXENDTC"], row, subject, "EXENDTC")
        except DataError as exc:
            errors.append(exc)
            start = end = None
        frequency = str(r["EXDOSFRQ"]).upper() if isinstance(r["EXDOSFRQ"], str) else ""
        if frequency in PER_DAY:
            per_day, is_single = PER_DAY[frequency], False
        elif frequency in SINGLE:
            per_day, is_single = 1.0, True
        else:
            errors.append(
                DataError(
                    f"dosing frequency '{r['EXDOSFRQ']}' is not one of "
                    f"{', '.join([*PER_DAY, *sorted(SINGLE)])}",
                    dataset=_EX,
                    subject=subject,
                    row=row,
                    column="EXDOSFRQ",
                )
            )
            per_day, is_single = np.nan, False
        if start is not None and end is not None and end < start:
            errors.append(
                DataError(
                    f"ends ({end.date()}) before it starts ({start.date()})",
                    dataset=_EX,
                    subject=subject,
                    row=row,
                    column="EXENDTC",
                )
            )
        if end is None:
            notes.append(
                DerivationNote(
                    "no-end-date",
                    "dosing record without an end date: no duration, left out of the sums",
                    dataset=_EX,
                    subject=subject,
                    row=row,
                    column="EXENDTC",
                )
            )
        starts.append(start)
        ends.append(end)
        daily.append(dose * per_day)
        single.append(is_single)
        factors.append(per_day)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise CombinedDataError(errors)
    data["ASTDT"] = pd.to_datetime(pd.Series(starts, dtype=object))
    data["AENDT"] = pd.to_datetime(pd.Series(ends, dtype=object))
    data["DURD"] = (data["AENDT"] - data["ASTDT"]).dt.days + 1.0
    data["DAILY"] = daily
    data["SINGLE"] = single
    data["DOSE"] = np.where(data["SINGLE"], data["DAILY"], data["DAILY"] * data["DURD"])
    data.loc[data["DURD"].isna(), "DOSE"] = np.nan
    order = data.sort_values(["USUBJID", "EXTRT", "ASTDT"], kind="mergesort")
    first_daily = order.groupby(["USUBJID", "EXTRT"], sort=False)["DAILY"].transform("first")
    planned = first_daily.reindex(data.index)
    if "EXPLDOS" in data.columns:
        given = pd.to_numeric(data["EXPLDOS"], errors="coerce") * pd.Series(factors)
        planned = given.where(given.notna(), planned)
    data["PLANNED"] = planned
    data["PLDOSE"] = np.where(data["SINGLE"], data["PLANNED"], data["PLANNED"] * data["DURD"])
    data.loc[data["DURD"].isna(), "PLDOSE"] = np.nan
    return Derived(data, notes)


def derive_adex(ex: pd.DataFrame, adsl: pd.DataFrame | None = None) -> Derived:
    """ADEX: the record parameters and the overall parameters of each subject and drug (see
    the module docstring); with ``adsl``, only its subjects (others raise :class:`DataError`)
    and its ``TRTSDT``/``TRTEDT`` carried along.

    Example
    -------
    >>> ex = pd.DataFrame({"USUBJID": ["S1", "S1"], "EXTRT": "DONAFENIB", "EXDOSE": ["200", "100"],
    ...     "EXDOSFRQ": "BID", "EXSTDTC": ["2024-01-01", "2024-01-21"],
    ...     "EXENDTC": ["2024-01-10", "2024-01-30"], "EXADJ": ["", "DOSE REDUCED"]})
    >>> adex = derive_adex(ex).data.set_index("PARAMCD")
    >>> adex.loc[["TDOSE", "TRTDURD", "DOSINT", "RDI"], "AVAL"].tolist()
    [6000.0, 30.0, 200.0, 50.0]
    """
    records, notes = exposure_records(ex)
    if adsl is not None:
        known = set(adsl["USUBJID"].astype(str))
        unknown = [s for s in records["USUBJID"].astype(str) if s not in known]
        if unknown:
            raise DataError(
                "subject not in ADSL", dataset=_EX, subject=unknown[0], column="USUBJID"
            )
    keys = [c for c in ("STUDYID", "USUBJID") if c in records.columns]
    base = [*keys, "EXTRT"]
    adj = records["EXADJ"].notna() if "EXADJ" in records.columns else False
    long = []
    for code, value in (
        ("DURD", records["DURD"]),
        ("DOSE", records["DOSE"]),
        ("PLDOSE", records["PLDOSE"]),
    ):
        part = records[[*base, "ASTDT", "AENDT"]].assign(PARAMCD=code, AVAL=value, AVALC=np.nan)
        long.append(part)
    long.append(
        records[[*base, "ASTDT", "AENDT"]].assign(
            PARAMCD="ADJ", AVAL=np.nan, AVALC=np.where(adj, "Y", None)
        )
    )
    individual = pd.concat(long, ignore_index=True).assign(PARCAT1="INDIVIDUAL")
    overall = _overall(records, base, adj)
    adex = pd.concat([individual, overall], ignore_index=True)
    adex["PARAM"] = adex["PARAMCD"].map(PARAMS)
    if adsl is not None:
        dates = adsl[[c for c in ("USUBJID", "TRTSDT", "TRTEDT") if c in adsl.columns]]
        adex = adex.merge(dates, on="USUBJID", how="left")
    columns = [
        *keys,
        "EXTRT",
        "PARCAT1",
        "PARAMCD",
        "PARAM",
        "ASTDT",
        "AENDT",
        "AVAL",
        "AVALC",
        *[c for c in ("TRTSDT", "TRTEDT") if c in adex.columns],
    ]
    order = {code: i for i, code in enumerate(PARAMS)}
    adex = adex.assign(_order=adex["PARAMCD"].map(order))
    adex = adex.sort_values([*base, "PARCAT1", "_order", "ASTDT"], kind="mergesort")
    return Derived(adex[columns].reset_index(drop=True), notes)


def _overall(records: pd.DataFrame, base: list[str], adj: pd.Series | bool) -> pd.DataFrame:
    """The overall parameters of each subject and drug, from its records."""
    data = records.assign(
        _adj=adj,
        _dose=records["DOSE"].where(records["DURD"].notna()),
        _pldose=records["PLDOSE"].where(records["DURD"].notna()),
    )
    data = data.sort_values([*base, "ASTDT"], kind="mergesort")
    grouped = data.groupby(base, sort=True)
    g = grouped.agg(
        TDURD=("DURD", "sum"),
        TDOSE=("_dose", "sum"),
        TPDOSE=("_pldose", "sum"),
        first=("ASTDT", "min"),
        last=("AENDT", "max"),
        ended=("AENDT", "count"),
        records=("ASTDT", "size"),
        planned=("PLANNED", "first"),
        single=("SINGLE", "all"),
        adjusted=("_adj", "any"),
    )
    period = (g["last"] - g["first"]).dt.days + 1.0
    period = period.where(g["ended"].eq(g["records"]))
    g["TRTDURD"] = period
    g["AVDDSE"] = (g["TDOSE"] / g["TDURD"]).where(g["TDURD"] > 0)
    g["TDOSINT"] = (100.0 * g["TDOSE"] / g["TPDOSE"]).where(g["TPDOSE"] > 0)
    g["DOSINT"] = (g["TDOSE"] / period).where(~g["single"] & (period > 0))
    g["RDI"] = (100.0 * g["DOSINT"] / g["planned"]).where(g["planned"] > 0)
    g["NADMIN"] = g["records"].astype(float).where(g["single"])
    codes = ["TDURD", "TDOSE", "TPDOSE", "AVDDSE", "TDOSINT", "TRTDURD", "DOSINT", "RDI", "NADMIN"]
    numbers = g[codes].reset_index().melt(id_vars=base, var_name="PARAMCD", value_name="AVAL")
    keep = numbers["AVAL"].notna() | ~numbers["PARAMCD"].isin(["DOSINT", "RDI", "NADMIN"])
    numbers = numbers[keep.to_numpy()].assign(AVALC=np.nan)
    flags = g[["adjusted"]].reset_index()
    flags = flags.assign(
        PARAMCD="TADJ", AVAL=np.nan, AVALC=np.where(flags["adjusted"], "Y", None)
    ).drop(columns=["adjusted"])
    out = pd.concat([numbers, flags], ignore_index=True)
    dates = g[["first", "last"]].rename(columns={"first": "ASTDT", "last": "AENDT"}).reset_index()
    return out.merge(dates, on=base, how="left").assign(PARCAT1="OVERALL")
