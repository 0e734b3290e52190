"""The checks of whole datasets: every record's own rules (:mod:`oncotrial.cdisc.checks`) plus
the rules between records — required columns, keys, subjects, reference dates, lesions known to
TU — for one or several SDTM domains at once.

:func:`check_study` is the one entry point of both doors: ``derive`` calls it on the folder it
reads, the store on what it is about to write (with what it already holds as a
:class:`StudyContext`), so the same data gets the same findings, with the same words, at both.

Rules besides those of :mod:`oncotrial.cdisc.checks`:

- ``required_column`` — a domain lacks a variable the derivations need (:data:`REQUIRED_COLUMNS`);
- ``unknown_subject`` — records point to a subject of the study (a DM subject);
- ``duplicate`` — one record per subject and ``--SEQ`` (one DM row per subject);
- ``duplicate_result`` — one result per lesion, test, evaluator and assessment in TR, and per
  ADA test and sample time in IS: two different results are an error, the same one repeated a
  warning (counted once);
- ``one_per_subject`` — at most one randomisation and one end-of-study disposition record per
  subject in DS (admiral ``derive_vars_merged`` stops on duplicates);
- ``lesion_identified`` — a TR lesion is identified in TU for the same subject.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from oncotrial.cdisc import terms
from oncotrial.cdisc.checks import (
    DEFAULT_SETTINGS,
    CheckSettings,
    Row,
    SubjectDates,
    check_date_order,
    check_subject_dates,
    check_values,
)
from oncotrial.cdisc.dates import date_span
from oncotrial.cdisc.errors import Finding
from oncotrial.cdisc.frames import missing_columns_message

#: Order in which domains are checked and stored: subjects before what refers to them.
DOMAIN_ORDER = ("DM", "DS", "EX", "AE", "TU", "TR", "IS", "RS")

#: The variables each derivation reads (tuples inside: one of them is enough).
REQUIRED_COLUMNS: dict[str, tuple[str | tuple[str, ...], ...]] = {
    "DM": ("USUBJID",),
    "EX": ("USUBJID", "EXTRT", "EXDOSE", "EXSTDTC", "EXENDTC"),
    "DS": ("USUBJID", "DSDECOD", "DSCAT", "DSSTDTC"),
    "AE": ("USUBJID", "AESTDTC", ("AETOXGR", "AESEV")),
    "TU": ("USUBJID", "TULNKID", "TUTESTCD", "TULOC", ("TUSTRESC", "TUORRES")),
    "TR": ("USUBJID", "TRLNKID", "TRTESTCD", "TRDTC", ("TRSTRESN", "TRSTRESC", "TRORRES")),
    "RS": ("USUBJID", "RSTESTCD", "RSSTRESC", "RSDTC", "RSSEQ"),
    "IS": ("USUBJID", "ISTESTCD", "ISSTRESC", "ISDTC"),
}

_SEP = "\x1f"

#: Every rule of the edit checks, with what it asks (docs/data-checks.md gives the sources).
RULES: dict[str, str] = {
    "required": "USUBJID (and a registered subject's site) is given [structural]",
    "unknown_subject": "a record's subject is a subject of the study (DM) [structural]",
    "duplicate": "one record per subject and --SEQ, one DM record per subject [structural]",
    "domain": "DOMAIN is the domain the record is stored in",
    "required_column": "a domain has the variables the derivations read",
    "required_value": "a lesion result names its lesion (TRLNKID) and has a date (TRDTC)",
    "date_format": "--DTC values are ISO 8601 dates that exist",
    "date_partial": "dates the trial or the analysis needs to the day are complete",
    "date_order": "consent ≤ first dose ≤ assessments; nothing after death; start ≤ end",
    "death_before_first_dose": "death is not before the first dose",
    "number_format": "numeric variables hold numbers; --SEQ positive integers",
    "number_finite": "numbers are finite (1e400 is not)",
    "controlled_term": "coded values are terms of their codelist",
    "ctcae_grade": "AETOXGR is a CTCAE v5.0 grade 1–5",
    "diameter_nonnegative": "lesion diameters and their sums are ≥ 0",
    "plausible_age": "AGE within its plausible range",
    "plausible_lesion_diameter": "a lesion diameter within its plausible range",
    "plausible_dose": "EXDOSE within its plausible range",
    "plausible_titre": "an ADA titre within its plausible range",
    "duplicate_result": "one result per lesion, test and assessment (TR), per ADA sample (IS)",
    "one_per_subject": "one randomisation and one end-of-study disposition per subject (DS)",
    "lesion_identified": "a TR lesion is identified in TU",
    "cohort_dose_level": "a subject is at the dose level of their cohort",
    "cohort_open": "enrolment needs an open slot of an open cohort",
}


def seq_key(value: str) -> str:
    """The canonical text of a ``--SEQ`` value (``"3.0"`` and ``"3"`` are the same record)."""
    try:
        number = float(value)
    except ValueError:
        return value.strip()
    return str(int(number)) if number.is_integer() else value.strip()


@dataclass
class StudyContext:
    """What is already stored, as the checks of new data need it.

    ``registered``: subjects with their own reference dates (the store's subject register);
    ``stored``: records already held, by domain, as ``(record id, row)`` — at least those of
    the subjects the new data concern; ``domains_present``: the domains holding any record;
    ``exclude_record``: a stored record being replaced (an update). Empty for a folder checked
    on its own (``derive``).
    """

    registered: dict[str, SubjectDates] = field(default_factory=dict)
    stored: dict[str, list[tuple[int, Row]]] = field(default_factory=dict)
    domains_present: set[str] = field(default_factory=set)
    exclude_record: tuple[str, int] | None = None

    def stored_rows(self, domain: str) -> list[tuple[int, Row]]:
        rows = self.stored.get(domain, [])
        if self.exclude_record is not None and self.exclude_record[0] == domain:
            return [(i, r) for i, r in rows if i != self.exclude_record[1]]
        return rows


def missing_columns(domain: str, columns: Iterable[str]) -> list[str]:
    """The required variables of ``domain`` absent from ``columns`` ("A or B" for a choice)."""
    present = set(columns)
    missing = []
    for need in REQUIRED_COLUMNS.get(domain, ()):
        options = (need,) if isinstance(need, str) else need
        if not present & set(options):
            missing.append(" or ".join(options))
    return missing


def subject_dates(
    domains: Mapping[str, Sequence[Row]], context: StudyContext, usubjids: Iterable[str]
) -> dict[str, SubjectDates]:
    """Reference dates per subject: the register's own, else DM's (new DM rows replace stored
    ones), else the earliest EX start (stored and new)."""
    wanted = set(usubjids)
    dm: dict[str, Row] = {}
    for _, row in context.stored_rows("DM"):
        dm.setdefault(row.get("USUBJID") or "", row)
    for row in domains.get("DM", ()):
        dm[row.get("USUBJID") or ""] = row
    starts: dict[str, list[str]] = defaultdict(list)
    for _, row in [*context.stored_rows("EX"), *((0, r) for r in domains.get("EX", ()))]:
        if row.get("EXSTDTC"):
            starts[row.get("USUBJID") or ""].append(row["EXSTDTC"] or "")

    def first_start(values: list[str]) -> str | None:
        spans = [s for s in (date_span(v) for v in values) if s is not None]
        return min(spans, key=lambda s: s.earliest).text if spans else None

    out: dict[str, SubjectDates] = {}
    for usubjid in wanted:
        own = context.registered.get(usubjid)
        demo = dm.get(usubjid, {})
        out[usubjid] = SubjectDates(
            usubjid,
            consent=(own.consent if own else None) or demo.get("RFICDTC") or None,
            first_dose=(own.first_dose if own else None)
            or demo.get("RFXSTDTC")
            or first_start(starts.get(usubjid, [])),
            death=(own.death if own else None) or demo.get("DTHDTC") or None,
        )
    return out


def check_study(
    domains: Mapping[str, Sequence[Row]],
    *,
    context: StudyContext | None = None,
    columns: Mapping[str, Sequence[str]] | None = None,
    settings: CheckSettings = DEFAULT_SETTINGS,
    known_subjects: Iterable[str] | None = None,
) -> list[Finding]:
    """Every rule on the records of ``domains`` (upper-case SDTM codes → rows of text), in
    :data:`DOMAIN_ORDER`; ``row`` of a finding is the record's position in its domain.

    ``columns`` are the variables each domain was given with (default: those of its rows).
    Subjects are checked against ``known_subjects`` (the store's register, a sponsor's ADSL)
    together with the DM subjects; without either, only when DM is given.
    """
    context = context or StudyContext()
    codes = [d for d in DOMAIN_ORDER if d in domains] + sorted(set(domains) - set(DOMAIN_ORDER))
    check_known = known_subjects is not None or "DM" in domains
    known = set(known_subjects or ()) | set(context.registered)
    known |= {row.get("USUBJID") or "" for _, row in context.stored_rows("DM")}
    known |= {row.get("USUBJID") or "" for row in domains.get("DM", ())}
    usubjids = {row.get("USUBJID") or "" for rows in domains.values() for row in rows}
    dates = subject_dates(domains, context, usubjids - {""})
    findings: list[Finding] = []
    for code in codes:
        rows = domains[code]
        given = columns[code] if columns and code in columns else _columns(rows)
        missing = missing_columns(code, given) if rows else []
        if missing:
            findings.append(
                Finding(
                    None,
                    code,
                    ", ".join(missing),
                    "required_column",
                    f"{missing_columns_message(missing)}: the derivations read it",
                )
            )
        findings.extend(
            check_records(
                code,
                rows,
                known_subjects=known if check_known else None,
                subject_dates=dates,
                stored=context.stored_rows(code),
                settings=settings,
            )
        )
        if code == "DM":
            findings.extend(_dm_subject_dates(rows, dates))
        if code == "TR" and ("TU" in domains or "TU" in context.domains_present):
            findings.extend(_lesions_identified(rows, domains.get("TU", ()), context))
    return dedupe(findings)


def _columns(rows: Sequence[Row]) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        for name in row:
            seen.setdefault(name)
    return list(seen)


def check_records(
    domain: str,
    rows: Sequence[Row],
    *,
    known_subjects: Iterable[str] | None,
    subject_dates: Mapping[str, SubjectDates],
    stored: Sequence[tuple[int, Row]] = (),
    settings: CheckSettings = DEFAULT_SETTINGS,
) -> list[Finding]:
    """The rules on a batch of records of one domain: each record's own, its subject (when
    ``known_subjects`` is given), its keys against the batch and ``stored``, its dates against
    the subject's reference dates."""
    known = None if known_subjects is None else set(known_subjects)
    seq = terms.seq_variable(domain)
    seen: dict[str, int] = {}
    existing: dict[str, int] = {}
    for record_id, row in stored:
        key = _seq_key(row, seq)
        if key is not None:
            existing.setdefault(key, record_id)
    findings: list[Finding] = []
    for index, row in enumerate(rows):
        findings.extend(check_values(domain, row, row_index=index, settings=settings))
        usubjid = row.get("USUBJID") or None
        if not usubjid or not usubjid.strip():
            continue
        if known is not None and usubjid not in known:
            findings.append(
                Finding(
                    usubjid,
                    domain,
                    "USUBJID",
                    "unknown_subject",
                    f"subject {usubjid} is not in the study (not in DM)",
                    index,
                )
            )
        key = _seq_key(row, seq)
        if key is not None:
            what = f"{seq} {row.get(seq)}" if seq else f"{domain} record"
            clash = (
                f"is given twice (rows {seen[key] + 1} and {index + 1})"
                if key in seen
                else f"is already stored (record #{existing[key]})"
                if key in existing
                else None
            )
            if clash is not None:
                findings.append(
                    Finding(
                        usubjid,
                        domain,
                        seq or "USUBJID",
                        "duplicate",
                        f"{what} of subject {usubjid} {clash}",
                        index,
                    )
                )
            seen.setdefault(key, index)
        findings.extend(check_date_order(domain, row, subject_dates.get(usubjid), row_index=index))
    findings.extend(_natural_keys(domain, rows, stored))
    return findings


def _seq_key(row: Row, seq: str | None) -> str | None:
    usubjid = row.get("USUBJID") or ""
    if seq is None:
        return usubjid
    value = row.get(seq)
    if value is None or not value.strip():
        return None
    return f"{usubjid}{_SEP}{seq_key(value)}"


def _dm_subject_dates(rows: Sequence[Row], dates: Mapping[str, SubjectDates]) -> list[Finding]:
    first_row: dict[str, int] = {}
    for index, row in enumerate(rows):
        first_row.setdefault(row.get("USUBJID") or "", index)
    out = []
    for usubjid, index in first_row.items():
        if usubjid in dates:
            out.extend(
                replace(finding, row=index)
                for finding in check_subject_dates(dates[usubjid], form="DM")
            )
    return out


# ---------------------------------------------------------------------------------------------
# natural keys


def _text(row: Row, name: str) -> str:
    return (row.get(name) or "").strip()


def _tr_key(row: Row) -> tuple[str, ...] | None:
    test = _text(row, "TRTESTCD").upper()
    if test in terms.TR_SUMMARY_TESTS or not _text(row, "TRLNKID"):
        return None
    when = _text(row, "VISITNUM") or _text(row, "TRDTC")
    if not when:
        return None
    return (
        _text(row, "USUBJID"),
        _text(row, "TREVAL"),
        _text(row, "TREVALID"),
        _text(row, "TRLNKID"),
        test,
        when,
    )


def _tr_result(row: Row) -> tuple[str, ...]:
    return tuple(_text(row, n).upper() for n in ("TRSTRESN", "TRSTRESC", "TRORRES", "TRSTAT"))


def _is_key(row: Row) -> tuple[str, ...] | None:
    test = _text(row, "ISTESTCD").upper()
    if test not in terms.ADA_TESTS or _text(row, "ISSTAT").upper() == "NOT DONE":
        return None
    when = date_span(_text(row, "ISDTC"))
    if when is None:
        return None
    return (_text(row, "USUBJID"), test, _text(row, "ISBDAGNT").upper(), when.text)


def _is_result(row: Row) -> tuple[str, ...]:
    return tuple(_text(row, n).upper() for n in ("ISSTRESC", "ISSTRESN"))


def _ds_kind(row: Row) -> str | None:
    if _text(row, "DSDECOD") == "RANDOMIZED":
        return "randomisation (DSDECOD RANDOMIZED)"
    if _text(row, "DSCAT") == "DISPOSITION EVENT" and _text(row, "DSSCAT").upper() != (
        "END OF TREATMENT"
    ):
        return "end-of-study disposition (DSCAT DISPOSITION EVENT)"
    return None


def _natural_keys(
    domain: str, rows: Sequence[Row], stored: Sequence[tuple[int, Row]]
) -> list[Finding]:
    """``duplicate_result`` in TR and IS, ``one_per_subject`` in DS."""
    if domain == "TR":
        return _repeated_results(domain, rows, stored, _tr_key, _tr_result, "TRLNKID", _tr_text)
    if domain == "IS":
        return _repeated_results(domain, rows, stored, _is_key, _is_result, "ISDTC", _is_text)
    if domain != "DS":
        return []
    findings = []
    seen: dict[tuple[str, str], str] = {}
    for record_id, row in stored:
        kind = _ds_kind(row)
        if kind is not None:
            seen.setdefault((_text(row, "USUBJID"), kind), f"record #{record_id}")
    for index, row in enumerate(rows):
        kind = _ds_kind(row)
        if kind is None:
            continue
        key = (_text(row, "USUBJID"), kind)
        if key in seen:
            findings.append(
                Finding(
                    key[0],
                    domain,
                    "DSDECOD",
                    "one_per_subject",
                    f"more than one {kind} record for subject {key[0]} (also {seen[key]})",
                    index,
                )
            )
        else:
            seen[key] = f"row {index + 1}"
    return findings


def _tr_text(key: tuple[str, ...]) -> str:
    return f"{key[4]} results for lesion {key[3]} at assessment {key[5]}"


def _is_text(key: tuple[str, ...]) -> str:
    return f"{key[1]} samples at {key[3]}"


def _repeated_results(
    domain: str,
    rows: Sequence[Row],
    stored: Sequence[tuple[int, Row]],
    key_of: Callable[[Row], tuple[str, ...] | None],
    result_of: Callable[[Row], tuple[str, ...]],
    field_name: str,
    describe: Callable[[tuple[str, ...]], str],
) -> list[Finding]:
    first: dict[tuple[str, ...], tuple[str, tuple[str, ...]]] = {}
    for record_id, row in stored:
        key = key_of(row)
        if key is not None:
            first.setdefault(key, (f"record #{record_id}", result_of(row)))
    findings = []
    for index, row in enumerate(rows):
        key = key_of(row)
        if key is None:
            continue
        result = result_of(row)
        if key not in first:
            first[key] = (f"row {index + 1}", result)
            continue
        where, earlier = first[key]
        usubjid = key[0]
        if earlier == result:
            findings.append(
                Finding(
                    usubjid,
                    domain,
                    field_name,
                    "duplicate_result",
                    f"the same {describe(key)} as {where}; counted once",
                    index,
                    severity="warning",
                )
            )
        else:
            shown = "/".join(v for v in earlier if v) or "blank"
            findings.append(
                Finding(
                    usubjid,
                    domain,
                    field_name,
                    "duplicate_result",
                    f"two different {describe(key)} ({where} says {shown}, this row "
                    f"{'/'.join(v for v in result if v) or 'blank'}); keep one",
                    index,
                )
            )
    return findings


def _lesions_identified(
    tr: Sequence[Row], tu: Sequence[Row], context: StudyContext
) -> list[Finding]:
    """Every TR lesion is identified in TU for its subject (baseline, new, split or merged)."""
    known: dict[str, set[str]] = defaultdict(set)
    for row in [*(r for _, r in context.stored_rows("TU")), *tu]:
        known[_text(row, "USUBJID")].add(_text(row, "TULNKID"))
    findings = []
    for index, row in enumerate(tr):
        test = _text(row, "TRTESTCD").upper()
        lnkid = _text(row, "TRLNKID")
        if not lnkid or test in terms.TR_SUMMARY_TESTS:
            continue
        usubjid = _text(row, "USUBJID")
        if lnkid not in known.get(usubjid, set()):
            findings.append(
                Finding(
                    usubjid,
                    "TR",
                    "TRLNKID",
                    "lesion_identified",
                    f"lesion {lnkid} has results but was never identified in TU",
                    index,
                )
            )
    return findings


def dedupe(findings: Sequence[Finding]) -> list[Finding]:
    """The findings without repeats (one rule may be reached from two paths)."""
    seen: set[Finding] = set()
    out = []
    for finding in findings:
        if finding not in seen:
            seen.add(finding)
            out.append(finding)
    return out
