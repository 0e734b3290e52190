"""``oncotrial derive``: SDTM files in, ADaM datasets out — after the same edit checks the trial
database runs on import (``db import``), with the same messages."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from oncotrial.cli.common import (
    CliError,
    FormatOption,
    OutputFormat,
    console,
    emit_json,
    progress_bar,
    user_errors,
)

if TYPE_CHECKING:
    from oncotrial.cdisc.errors import Finding

EXTENSIONS = {"csv": "csv", "parquet": "parquet", "xpt": "xpt", "json": "json"}
#: The SDTM domains some derivation reads (LB only for the date last known alive).
DERIVED_FROM = ("dm", "ex", "ds", "ae", "lb", "tu", "tr", "rs", "is")
#: Findings printed in text output before "… and N more" (JSON lists them all).
MAX_SHOWN = 100


def _mapping(pairs: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs or []:
        stem, sep, domain = pair.partition("=")
        if not sep or not stem or not domain:
            raise CliError(f"--map: '{pair}' is not STEM=DOMAIN (e.g. rs_onco_recist=rs)")
        out[stem.strip()] = domain.strip().lower()
    return out


def overrides_of(rules: Sequence[str] | None, reason: str | None) -> set[str]:
    """The ``--override`` rule names, checked (known rules, a ``--reason`` given)."""
    from oncotrial.cdisc.study import RULES

    given = {r.strip() for r in rules or [] if r.strip()}
    unknown = sorted(given - set(RULES) - {"all"})
    if unknown:
        raise CliError(
            f"--override: unknown rule(s) {', '.join(unknown)} (rules: all, {', '.join(RULES)})"
        )
    if given and not (reason and reason.strip()):
        raise CliError("--override needs --reason: why the data are right as they are")
    return given


def finding_lines(findings: Sequence[Finding], limit: int = MAX_SHOWN) -> list[str]:
    """Findings as plain lines, at most ``limit`` and a count of the rest."""
    lines = [str(f) for f in findings[:limit]]
    if len(findings) > limit:
        lines.append(f"… and {len(findings) - limit} more (--format json lists them all)")
    return lines


def unused_files(ignored: Sequence[str], unused: Sequence[tuple[str, str]]) -> list[str]:
    """What was in the folder and not used, each with why."""
    return [
        *(
            f"{name}: not a dataset file (.csv, .csv.gz, .xpt, .json, .ndjson, .parquet)"
            for name in ignored
        ),
        *(f"{name}: domain {domain.upper()} is not used" for name, domain in unused),
    ]


def derive(
    sdtm: Path = typer.Option(
        ...,
        "--sdtm",
        help="Folder of SDTM files named by domain: dm.csv, tr.csv.gz, is.xpt, "
        "ae.json (Dataset-JSON) …",
        exists=True,
        file_okay=False,
    ),
    out: Path = typer.Option(..., "--out", help="Folder for the ADaM datasets (adsl, adrs …)."),
    protocol: Path | None = typer.Option(
        None,
        "--protocol",
        "-p",
        help="The study's protocol: its analysis settings (response criteria, minimum duration "
        "of stable disease, plausible ranges) are used, as `oncotrial report` uses them. "
        "Without it the defaults are used (and printed).",
    ),
    adsl: Path | None = typer.Option(
        None,
        "--adsl",
        help="Use this ADSL (subject-level dates such as TRTSDT, RANDDT, death, "
        "last known alive) instead of deriving one from DM/EX/DS.",
    ),
    fmt_out: str = typer.Option(
        "csv",
        "--output-format",
        help="csv, parquet, xpt (SAS XPORT v5, limits checked) or json (CDISC Dataset-JSON v1.1).",
    ),
    mapping: list[str] = typer.Option(
        None,
        "--map",
        help="Read a file as a domain: STEM=DOMAIN, e.g. rs_onco_recist=rs. Repeatable.",
    ),
    criteria: str | None = typer.Option(
        None,
        "--criteria",
        help="Criteria when responses are computed from lesion measurements (no RS): "
        "recist1.1, irecist or mrecist (default: the protocol's, else recist1.1).",
    ),
    impute: str | None = typer.Option(
        None,
        "--impute-partial-dates",
        help="Tumour assessment dates given only to the month: refuse them (none, the default) "
        "or impute the first, mid or last day (admiral's rules).",
    ),
    sd_min_days: int | None = typer.Option(
        None,
        "--sd-min-days",
        help="Stable disease counts for best response only from this many days after the start "
        "(RECIST 1.1 §4.4; default: the protocol's schedule.sd_minimum_days, else 42).",
    ),
    computed: bool = typer.Option(
        False,
        "--computed-response",
        help="Derive responses from TU/TR with the RECIST engine "
        "even when the investigator's RS is present.",
    ),
    override: list[str] = typer.Option(
        None,
        "--override",
        help="Accept data that fail this edit-check rule (e.g. plausible_age, as on db import; "
        "'all' for every rule but the structural ones). Repeatable; needs --reason.",
    ),
    reason: str | None = typer.Option(
        None, "--reason", help="Why the overridden data are right (printed with them)."
    ),
    fmt: OutputFormat = FormatOption,
) -> None:
    """Derive the ADaM datasets (ADSL, ADRS, ADTTE, ADTR, ADAB, ADAE) from SDTM: best overall
    response and ORR by RECIST 1.1, OS/PFS/duration of response with censoring, anti-drug
    antibody flags, treatment-emergent AEs. The data are first checked with the trial
    database's edit checks (the same data are refused as by `oncotrial db import`, with the same
    messages); bad data stop with the dataset, row, subject and column at fault, and nothing is
    written then. Files that are not used are listed."""
    with user_errors():
        from oncotrial.cdisc.errors import DataError
        from oncotrial.derive.adsl import load_adsl
        from oncotrial.derive.io import read_dataset, scan_folder, write_dataset
        from oncotrial.derive.pipeline import analysis_settings, derive_study
        from oncotrial.protocol import load_protocol

        if fmt_out not in EXTENSIONS:
            raise CliError(f"--output-format: '{fmt_out}' is not one of csv, parquet, xpt, json")
        if impute is not None and impute not in ("none", "first", "mid", "last"):
            raise CliError(f"--impute-partial-dates: '{impute}' is not none, first, mid or last")
        accepted = overrides_of(override, reason)
        settings = analysis_settings(
            load_protocol(protocol) if protocol is not None else None,
            criteria=criteria,
            sd_min_days=sd_min_days,
            impute_partial_dates=impute,
            use_investigator_response=False if computed else None,
        )
        try:
            with progress_bar("deriving", fmt is OutputFormat.text) as update:
                update(0, 3)
                scan = scan_folder(sdtm, mapping=_mapping(mapping))
                used = {d: p for d, p in scan.found.items() if d in DERIVED_FROM}
                if not used:
                    raise CliError(f"{sdtm}: no SDTM files found (dm.csv, tr.csv.gz, …)")
                domains = {d: read_dataset(p, numeric=()) for d, p in used.items()}
                update(1, 3)
                given = load_adsl(adsl) if adsl is not None else None
                study = derive_study(domains, given, settings=settings, overrides=accepted)
                update(2, 3)
                out.mkdir(parents=True, exist_ok=True)
                written = {}
                for name, frame in study.datasets.items():
                    path = out / f"{name}.{EXTENSIONS[fmt_out]}"
                    write_dataset(frame, path, fmt_out, name=name.upper())  # type: ignore[arg-type]
                    written[name] = {"path": str(path), "rows": len(frame)}
                update(3, 3)
        except DataError as exc:
            raise CliError(refusal(exc, "no dataset was written")) from exc
        unused = [(p.name, d) for d, p in scan.found.items() if d not in DERIVED_FROM]
        report_derived(study, written, out, unused_files(scan.ignored, unused), reason, fmt)


def refusal(exc: Exception, consequence: str) -> str:
    """The one wording of refused data at every door: a header and one line per finding."""
    from oncotrial.cdisc.errors import CombinedDataError

    errors = exc.errors if isinstance(exc, CombinedDataError) else [exc]
    lines = [str(e) for e in errors[:MAX_SHOWN]]
    if len(errors) > MAX_SHOWN:
        lines.append(f"… and {len(errors) - MAX_SHOWN} more")
    return f"the data were refused ({len(errors)} finding(s)); {consequence}:\n" + "\n".join(lines)


def report_derived(
    study: Any,
    written: dict[str, dict[str, Any]],
    out: Path,
    unused: list[str],
    reason: str | None,
    fmt: OutputFormat,
) -> None:
    """Print what ``derive`` wrote, with what settings, and every warning and override."""
    settings = study.settings
    if fmt is OutputFormat.json:
        emit_json(
            {
                "datasets": written,
                "response_source": study.response_source,
                "reference_date": study.reference_date,
                "settings": settings.to_json(),
                "warnings": [f.to_json() for f in study.findings],
                "overridden": [f.to_json() for f in study.overridden],
                "override_reason": reason if study.overridden else None,
                "not_used": unused,
                "notes": study.notes,
            }
        )
        return
    table = Table(title=f"ADaM datasets in {out}")
    table.add_column("dataset")
    table.add_column("rows", justify="right")
    table.add_column("file", overflow="fold")
    for name, info in written.items():
        table.add_row(name.upper(), str(info["rows"]), info["path"])
    console.print(table)
    if study.response_source:
        console.print(f"responses: {study.response_source}; origin {study.reference_date}")
    title = "settings" if settings.source != "defaults" else "settings (defaults: no --protocol)"
    console.print(f"{title}, from {settings.source}:", highlight=False, markup=False)
    for line in settings.describe():
        console.print(f"  {line}", highlight=False, markup=False, soft_wrap=True)
    for line in finding_lines(study.findings):
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    if study.overridden:
        console.print(f"overridden ({reason}):", highlight=False, markup=False, soft_wrap=True)
        for line in finding_lines(study.overridden):
            console.print(f"  {line}", highlight=False, markup=False, soft_wrap=True)
    for line in unused:
        console.print(f"not used: {line}", highlight=False, markup=False, soft_wrap=True)
    notes: dict[str, int] = {}
    for note in study.notes:
        notes[note] = notes.get(note, 0) + 1
    for note, count in list(notes.items())[:20]:
        times = f" (×{count})" if count > 1 else ""
        console.print(f"note{times}: {note}", highlight=False, markup=False, soft_wrap=True)
    if len(notes) > 20:
        console.print(f"… {len(notes) - 20} more kinds of note (use --format json)")
