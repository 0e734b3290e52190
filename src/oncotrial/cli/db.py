"""The trial database commands (``db init``, ``db import``, ``db export``) and the database
option every store-backed command shares."""

from __future__ import annotations

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
from oncotrial.cli.derive import EXTENSIONS, _mapping, finding_lines, overrides_of, unused_files

if TYPE_CHECKING:
    from oncotrial.store import Store

db_app = typer.Typer(help="The trial database: create it, import and export SDTM.")

DbOption = typer.Option(
    ...,
    "--db",
    help="Database: a SQLite file path (demo/trial.db) or a URL such as "
    "sqlite:///trial.db or postgresql+psycopg://user@host:5432/trial.",
)


def database_url(db: str) -> str:
    """A SQLite file path becomes ``sqlite:///path``; URLs pass unchanged. Nothing is created
    here: opening a database that does not exist is an error (:meth:`Store.open`), and only
    :func:`~oncotrial.store.init_db` (``db init`` and the commands that start a new trial)
    creates one, with its folder."""
    if "://" in db:
        return db
    return f"sqlite:///{Path(db)}"


def open_store(db: str, protocol: Path | None = None) -> Store:
    """The store of an existing, initialised database (with the protocol's plausible ranges
    when given); "not a trial database; run `oncotrial db init`" otherwise."""
    from oncotrial.cdisc.checks import CheckSettings
    from oncotrial.store import Store

    settings = CheckSettings()
    if protocol is not None:
        from oncotrial.derive.pipeline import analysis_settings
        from oncotrial.protocol import load_protocol

        settings = analysis_settings(load_protocol(protocol)).check_settings()
    return Store.open(database_url(db), settings=settings)


def store_errors(exc: Exception) -> CliError:
    """A store error as the plain lines the user reads (edit-check findings one per line, in
    the words ``derive`` uses for the same data)."""
    from oncotrial.cdisc.errors import DataError
    from oncotrial.store import EditCheckError

    if isinstance(exc, DataError):
        from oncotrial.cli.derive import refusal

        return CliError(refusal(exc, "nothing was stored"))
    if isinstance(exc, EditCheckError):
        lines = finding_lines(exc.findings)
        return CliError(
            f"the data were refused ({len(exc.findings)} finding(s)); nothing was stored:\n"
            + "\n".join(lines)
        )
    return CliError(str(exc))


@db_app.command("init")
def db_init(db: str = DbOption, fmt: OutputFormat = FormatOption) -> None:
    """Create the trial database (or bring an existing one up to the current schema)."""
    with user_errors():
        from oncotrial.store import init_db

        url = database_url(db)
        store = init_db(url)
        store.close()
        if fmt is OutputFormat.json:
            emit_json({"db": url, "initialised": True})
        else:
            console.print(f"database ready: {url}", highlight=False, markup=False)


@db_app.command("import")
def db_import(
    db: str = DbOption,
    sdtm: Path = typer.Option(
        ...,
        "--sdtm",
        help="Folder of SDTM files (dm.csv, tr.xpt, ae.json …).",
        exists=True,
        file_okay=False,
    ),
    mapping: list[str] = typer.Option(None, "--map", help="STEM=DOMAIN, e.g. tr_onco=tr."),
    protocol: Path | None = typer.Option(
        None,
        "--protocol",
        "-p",
        help="The study's protocol: its plausible ranges are checked (defaults without it).",
    ),
    user: str = typer.Option("data-manager", "--user", help="Who imports (audit trail)."),
    override: list[str] = typer.Option(
        None,
        "--override",
        help="Store data that fail this edit-check rule (e.g. plausible_age, date_partial; "
        "'all' for every rule but the structural ones such as duplicates). Repeatable; needs "
        "--reason, which the audit trail keeps with each record concerned.",
    ),
    reason: str | None = typer.Option(
        None, "--reason", help="Why (required with --override; kept in the audit trail)."
    ),
    fmt: OutputFormat = FormatOption,
) -> None:
    """Import SDTM (CSV, CSV.gz, SAS XPORT, Dataset-JSON) into the database in ONE transaction:
    every domain is edit-checked (the checks `oncotrial derive` runs, with the same messages);
    if anything is refused, nothing is stored. Warnings and files not imported are listed."""
    with user_errors():
        from oncotrial.derive.io import read_dataset, scan_folder
        from oncotrial.store import EditCheckError, StoreError
        from oncotrial.store.api import DOMAIN_MODELS

        accepted = overrides_of(override, reason)
        scan = scan_folder(sdtm, mapping=_mapping(mapping))
        held = {d: p for d, p in scan.found.items() if d.upper() in DOMAIN_MODELS}
        if not held:
            raise CliError(f"{sdtm}: no domain the store holds ({', '.join(DOMAIN_MODELS)})")
        not_held = [(p.name, d) for d, p in scan.found.items() if d.upper() not in DOMAIN_MODELS]
        store = open_store(db, protocol)
        try:
            domains = {d.upper(): read_dataset(p, numeric=()) for d, p in held.items()}
        except ValueError as exc:
            store.close()
            raise store_errors(exc) from exc
        try:
            with progress_bar("importing", fmt is OutputFormat.text) as update:
                results = store.import_domains(
                    domains, user, reason, overrides=accepted, progress=update
                )
        except (EditCheckError, StoreError, ValueError) as exc:
            raise store_errors(exc) from exc
        finally:
            store.close()
        skipped = unused_files(scan.ignored, not_held)
        report_import(db, results, skipped, reason, fmt)


def report_import(
    db: str, results: dict[str, Any], skipped: list[str], reason: str | None, fmt: OutputFormat
) -> None:
    """Print what was imported: rows per domain, every warning and override, files left out."""
    warnings = [f for r in results.values() for f in r.warnings]
    overridden = [f for r in results.values() for f in r.overridden]
    if fmt is OutputFormat.json:
        emit_json(
            {
                "imported": {
                    d: {
                        "rows": len(r.ids),
                        "seconds": round(r.seconds, 3),
                        "warnings": len(r.warnings),
                        "overridden": len(r.overridden),
                    }
                    for d, r in results.items()
                },
                "warnings": [f.to_json() for f in warnings],
                "overridden": [f.to_json() for f in overridden],
                "override_reason": reason if overridden else None,
                "not_imported": skipped,
            }
        )
        return
    table = Table(title=f"imported into {db}")
    for column in ("domain", "rows", "seconds", "warnings", "overridden"):
        table.add_column(column, justify="right" if column != "domain" else "left")
    for domain, r in results.items():
        table.add_row(
            domain,
            str(len(r.ids)),
            f"{r.seconds:.3f}",
            str(len(r.warnings)),
            str(len(r.overridden)),
        )
    console.print(table)
    for line in finding_lines(warnings):
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    if overridden:
        console.print(f"overridden ({reason}):", highlight=False, markup=False, soft_wrap=True)
        for line in finding_lines(overridden):
            console.print(f"  {line}", highlight=False, markup=False, soft_wrap=True)
    for line in skipped:
        console.print(f"not imported: {line}", highlight=False, markup=False, soft_wrap=True)


@db_app.command("export")
def db_export(
    db: str = DbOption,
    out: Path = typer.Option(..., "--out", help="Folder for the SDTM files."),
    output_format: str = typer.Option(
        "csv", "--output-format", help="csv, parquet, xpt or json (Dataset-JSON v1.1)."
    ),
    fmt: OutputFormat = FormatOption,
) -> None:
    """Export every SDTM domain of the database, exactly as stored (text cell by cell)."""
    with user_errors():
        from oncotrial.derive.io import write_dataset
        from oncotrial.sim.trial_run import sdtm_from_store

        if output_format not in EXTENSIONS:
            raise CliError(f"--output-format: '{output_format}' is not csv, parquet, xpt, json")
        store = open_store(db)
        try:
            sdtm = sdtm_from_store(store)
        finally:
            store.close()
        out.mkdir(parents=True, exist_ok=True)
        written = {}
        for name, frame in sdtm.items():
            path = out / f"{name}.{EXTENSIONS[output_format]}"
            write_dataset(frame, path, output_format, name=name.upper())  # type: ignore[arg-type]
            written[name] = {"path": str(path), "rows": len(frame)}
        if fmt is OutputFormat.json:
            emit_json({"exported": written})
        else:
            for name, info in written.items():
                console.print(
                    f"{name.upper():4} {info['rows']:>7} rows  {info['path']}",
                    highlight=False,
                    markup=False,
                )
