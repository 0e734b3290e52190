"""``oncotrial derive``: SDTM files in, ADaM datasets out."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

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
from oncotrial.derive.adsl import load_adsl
from oncotrial.derive.errors import DataError
from oncotrial.derive.io import read_domains, write_dataset
from oncotrial.derive.pipeline import derive_study

EXTENSIONS = {"csv": "csv", "parquet": "parquet", "xpt": "xpt", "json": "json"}


def _mapping(pairs: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs or []:
        stem, sep, domain = pair.partition("=")
        if not sep or not stem or not domain:
            raise CliError(f"--map: '{pair}' is not STEM=DOMAIN (e.g. rs_onco_recist=rs)")
        out[stem.strip()] = domain.strip().lower()
    return out


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
    criteria: str = typer.Option(
        "recist1.1",
        "--criteria",
        help="Criteria when responses are computed from lesion "
        "measurements (no RS): recist1.1, irecist or mrecist.",
    ),
    impute: str = typer.Option(
        "none",
        "--impute-partial-dates",
        help="Tumour assessment dates given only to the "
        "month: refuse them (none, the default) or impute the first, mid or last day.",
    ),
    sd_min_days: int = typer.Option(
        42,
        "--sd-min-days",
        help="Stable disease counts for best response only from this many "
        "days after the start (the protocol's minimum; RECIST 1.1 §4.4).",
    ),
    computed: bool = typer.Option(
        False,
        "--computed-response",
        help="Derive responses from TU/TR with the RECIST engine "
        "even when the investigator's RS is present.",
    ),
    fmt: OutputFormat = FormatOption,
) -> None:
    """Derive the ADaM datasets (ADSL, ADRS, ADTTE, ADTR, ADAB, ADAE) from SDTM: best overall
    response and ORR by RECIST 1.1, OS/PFS/duration of response with censoring, anti-drug
    antibody flags, treatment-emergent AEs. Bad data stop with the dataset, subject, row and
    column at fault; nothing is written then."""
    with user_errors():
        if fmt_out not in EXTENSIONS:
            raise CliError(f"--output-format: '{fmt_out}' is not one of csv, parquet, xpt, json")
        try:
            with progress_bar("deriving", fmt is OutputFormat.text) as update:
                update(0, 3)
                domains = read_domains(sdtm, mapping=_mapping(mapping))
                if not domains:
                    raise CliError(f"{sdtm}: no SDTM files found (dm.csv, tr.csv.gz, …)")
                update(1, 3)
                given = load_adsl(adsl) if adsl is not None else None
                study = derive_study(
                    domains,
                    given,
                    criteria=criteria,
                    use_investigator_response=not computed,
                    impute_partial_dates=impute,
                    sd_min_days=sd_min_days,
                )
                update(2, 3)
                out.mkdir(parents=True, exist_ok=True)
                written = {}
                for name, frame in study.datasets.items():
                    path = out / f"{name}.{EXTENSIONS[fmt_out]}"
                    write_dataset(frame, path, fmt_out, name=name.upper())  # type: ignore[arg-type]
                    written[name] = {"path": str(path), "rows": len(frame)}
                update(3, 3)
        except DataError as exc:
            raise CliError(str(exc)) from exc
        if fmt is OutputFormat.json:
            emit_json(
                {
                    "datasets": written,
                    "response_source": study.response_source,
                    "reference_date": study.reference_date,
                    "notes": study.notes,
                }
            )
            return
        table = Table(title=f"ADaM datasets in {out}")
        table.add_column("dataset")
        table.add_column("rows", justify="right")
        table.add_column("file")
        for name, info in written.items():
            table.add_row(name.upper(), str(info["rows"]), info["path"])
        console.print(table)
        if study.response_source:
            console.print(f"responses: {study.response_source}; origin {study.reference_date}")
        counts = Counter(study.notes)
        for note, count in list(counts.items())[:20]:
            times = f" (×{count})" if count > 1 else ""
            console.print(f"note{times}: {note}", highlight=False)
        if len(counts) > 20:
            console.print(f"… {len(counts) - 20} more kinds of note (use --format json)")
