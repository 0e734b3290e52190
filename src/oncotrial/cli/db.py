"""The trial database commands (``db init``, ``db import``, ``db export``) and the database
option every store-backed command shares."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
from oncotrial.cli.derive import EXTENSIONS, _mapping
from oncotrial.derive.io import read_domains, write_dataset
from oncotrial.sim.trial_run import DOMAIN_ORDER, sdtm_from_store
from oncotrial.store import EditCheckError, Store, init_db

db_app = typer.Typer(help="The trial database: create it, import and export SDTM.")

DbOption = typer.Option(
    ...,
    "--db",
    help="Database: a SQLite file path (demo/trial.db) or a URL such as "
    "sqlite:///trial.db or postgresql+psycopg://user@host:5432/trial.",
)


def database_url(db: str) -> str:
    """A SQLite file path becomes ``sqlite:///path``; URLs pass unchanged."""
    if "://" in db:
        return db
    path = Path(db)
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def store_errors(exc: Exception) -> CliError:
    if isinstance(exc, EditCheckError):
        lines = [str(f) for f in exc.findings[:30]]
        more = f"\n… and {len(exc.findings) - 30} more" if len(exc.findings) > 30 else ""
        return CliError(
            "edit checks refused the data; nothing was stored:\n" + "\n".join(lines) + more
        )
    return CliError(str(exc))


@db_app.command("init")
def db_init(db: str = DbOption, fmt: OutputFormat = FormatOption) -> None:
    """Create the trial database (or bring an existing one up to the current schema)."""
    with user_errors():
        url = database_url(db)
        store = init_db(url)
        store.close()
        if fmt is OutputFormat.json:
            emit_json({"db": url, "initialised": True})
        else:
            console.print(f"database ready: {url}")


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
    user: str = typer.Option("data-manager", "--user", help="Who imports (audit trail)."),
    reason: str | None = typer.Option(None, "--reason", help="Why (needed with --override)."),
    override: bool = typer.Option(
        False,
        "--override-checks",
        help="Store data that fails edit checks (legacy data as-is; "
        "needs --reason; structural errors such as duplicates are still refused).",
    ),
    fmt: OutputFormat = FormatOption,
) -> None:
    """Import SDTM (CSV, CSV.gz, SAS XPORT, Dataset-JSON) into the database in ONE transaction:
    every domain is edit-checked; if anything is refused, nothing is stored."""
    with user_errors():
        domains = read_domains(sdtm, mapping=_mapping(mapping), as_text=True)
        known = [d for d in DOMAIN_ORDER if d.lower() in domains]
        if not known:
            raise CliError(f"{sdtm}: no domain the store holds ({', '.join(DOMAIN_ORDER)})")
        skipped = sorted(set(domains) - {d.lower() for d in known})
        store = Store.open(database_url(db))
        counts: dict[str, Any] = {}
        try:
            with (
                progress_bar("importing", fmt is OutputFormat.text) as update,
                store.transaction(user, reason),
            ):
                for i, domain in enumerate(known):
                    frame = domains[domain.lower()].astype(str).replace("nan", "")
                    result = store.add_records(domain, frame, user, reason, enforce=not override)
                    counts[domain] = {
                        "rows": len(result.ids),
                        "seconds": round(result.seconds, 3),
                        "warnings": len(result.warnings),
                        "overridden": len(result.overridden),
                    }
                    update(i + 1, len(known))
        except (EditCheckError, ValueError) as exc:
            raise store_errors(exc) from exc
        finally:
            store.close()
        if fmt is OutputFormat.json:
            emit_json({"imported": counts, "skipped": skipped})
            return
        table = Table(title=f"imported into {db}")
        for column in ("domain", "rows", "seconds", "warnings", "overridden"):
            table.add_column(column, justify="right" if column != "domain" else "left")
        for domain, info in counts.items():
            table.add_row(
                domain, *(str(info[k]) for k in ("rows", "seconds", "warnings", "overridden"))
            )
        console.print(table)
        if skipped:
            console.print(f"not imported (not store domains): {', '.join(skipped)}")


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
        if output_format not in EXTENSIONS:
            raise CliError(f"--output-format: '{output_format}' is not csv, parquet, xpt, json")
        store = Store.open(database_url(db))
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
                console.print(f"{name.upper():4} {info['rows']:>7} rows  {info['path']}")
