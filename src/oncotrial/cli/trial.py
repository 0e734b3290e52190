"""Commands of the trial itself: the database (``db``, ``audit``), the virtual trial
(``simulate-trial``) and the report (``report``)."""

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
from oncotrial.derive.errors import DataError
from oncotrial.derive.io import read_domains, write_dataset
from oncotrial.derive.pipeline import DerivedStudy, derive_study
from oncotrial.protocol import Protocol, load_protocol
from oncotrial.report.trial_report import EscalationStep, ReportResult, build_report
from oncotrial.sim.trial_run import DOMAIN_ORDER, data_cut_of, run_virtual_trial, sdtm_from_store
from oncotrial.store import EditCheckError, Store, init_db

db_app = typer.Typer(help="The trial database: create it, import and export SDTM.")
audit_app = typer.Typer(help="The audit trail: check that nobody changed it behind our back.")

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


def _store_errors(exc: Exception) -> CliError:
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
            raise _store_errors(exc) from exc
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


@audit_app.command("verify")
def audit_verify(db: str = DbOption, fmt: OutputFormat = FormatOption) -> None:
    """Recompute the SHA-256 chain of the audit trail; report the first broken link (a row
    altered or removed behind the application's back). Exit status 1 when broken."""
    with user_errors():
        store = Store.open(database_url(db))
        try:
            report = store.verify_audit()
        finally:
            store.close()
        ok = bool(report.ok)
        if fmt is OutputFormat.json:
            data = {"ok": ok, "message": str(report)}
            broken = getattr(report, "broken", None)
            if broken is not None:
                data["first_broken"] = {
                    k: getattr(broken, k, None)
                    for k in ("seq", "table", "record_id", "problem", "message")
                }
            emit_json(data)
        else:
            console.print(("[green]" if ok else "[bold red]") + str(report), highlight=False)
        if not ok:
            raise typer.Exit(code=1)


def simulate_trial(
    protocol: Path = typer.Option(
        ..., "--protocol", "-p", help="Protocol YAML with a virtual_trial block."
    ),
    seed: int = typer.Option(2026, "--seed", help="Same seed, same trial."),
    db: str = DbOption,
    fmt: OutputFormat = FormatOption,
) -> None:
    """Run the whole study on virtual patients through the database: accrual over sites,
    phase I cohorts dosed by the protocol's design with the committee's decisions recorded,
    phase II expansion, and every record edit-checked and audited."""
    with user_errors():
        proto = load_protocol(protocol)
        url = database_url(db)
        store = init_db(url)
        try:
            if not store.subjects().empty:
                raise CliError(f"{db} already holds subjects: use a new database")
            with progress_bar("virtual trial", fmt is OutputFormat.text) as update:
                trial = run_virtual_trial(proto, seed, store, progress=update)
        except EditCheckError as exc:
            raise _store_errors(exc) from exc
        finally:
            store.close()
        labels = [f"L{label}" for label in proto.level_labels]
        data = {
            "db": url,
            "seed": seed,
            "subjects": len(trial.patients),
            "phase1_cohorts": len(trial.decisions),
            "recommended_dose": None
            if trial.recommended_dose is None
            else labels[trial.recommended_dose],
            "expansion": {
                k: (v.item() if hasattr(v, "item") else v) for k, v in trial.expansion.items()
            },
            "data_cut": trial.data_cut.isoformat(),
            "records": {k: len(v) for k, v in trial.domains.items()},
        }
        if fmt is OutputFormat.json:
            emit_json(data)
            return
        console.print(
            f"virtual trial (seed {seed}) in {url}: {data['subjects']} patients, "
            f"{data['phase1_cohorts']} phase I cohorts, RP2D {data['recommended_dose']}, "
            f"data cut {data['data_cut']}"
        )


def _escalation_steps(store: Store, protocol: Protocol) -> tuple[list[EscalationStep], str | None]:
    steps, recommended = [], None
    for d in store.decisions():
        inputs, output = d["inputs"] or {}, d["output"] or {}
        if d["cohort"] is None:
            continue
        current = int(inputs.get("current_dose", 0)) - 1
        label = f"L{protocol.level_labels[current]}" if current >= 0 else ""
        nxt = output.get("next_dose")
        decision = "stop" if nxt is None else f"treat next cohort at {d['recommended_dose']}"
        if output.get("mtd") is not None:
            recommended = f"L{protocol.level_labels[output['mtd'] - 1]}"
            decision = f"stop: MTD {recommended}"
        steps.append(
            EscalationStep(
                cohort=d["cohort"],
                dose_label=label,
                patients=int(inputs["n"][current]) if current >= 0 else 0,
                dlts=int(inputs["dlts"][current]) if current >= 0 else 0,
                decision=decision,
                reason=str(output.get("reason", "")),
                decided=str(d["confirmed_at"] or d["created_at"] or "")[:10],
                confirmed_by=str(d["confirmed_by"] or ""),
            )
        )
    return steps, recommended


def make_report(
    db: str, protocol: Protocol, out: Path, *, pdf: bool = True
) -> tuple[ReportResult, DerivedStudy]:
    """Derive ADaM from the database's SDTM, write them under ``out/adam`` and the report."""
    store = Store.open(database_url(db))
    try:
        sdtm = sdtm_from_store(store)
        steps, recommended = _escalation_steps(store, protocol)
    finally:
        store.close()
    if not sdtm:
        raise CliError(f"{db} holds no data")
    study = derive_study(sdtm, sd_min_days=protocol.schedule.sd_minimum_days)
    adam_dir = out / "adam"
    adam_dir.mkdir(parents=True, exist_ok=True)
    for name, frame in study.datasets.items():
        write_dataset(frame, adam_dir / f"{name}.csv", "csv", name=name.upper())
    cut = data_cut_of(sdtm)
    result = build_report(
        protocol,
        study.datasets,
        out,
        sdtm=sdtm,
        escalation=steps,
        recommended_dose=recommended,
        data_cut=cut.date() if cut else None,
        source=str(db),
        make_pdf=pdf,
    )
    return result, study


def report(
    db: str = DbOption,
    out: Path = typer.Option(..., "--out", help="Folder for report.html (and report.pdf)."),
    protocol: Path = typer.Option(
        Path("protocols/toripalimab-donafenib-hcc.yaml"),
        "--protocol",
        "-p",
        help="The study's protocol (dose levels, DLT definition, designs).",
    ),
    pdf: bool = typer.Option(True, "--pdf/--no-pdf", help="Also print a PDF (needs Chromium)."),
    fmt: OutputFormat = FormatOption,
) -> None:
    """Write the trial report from the database: escalation history and DLTs, MTD/RP2D, ORR
    and DCR with exact CIs, waterfall/spider/swimmer plots, OS/PFS Kaplan–Meier with numbers
    at risk, ADA incidence and AE tables (ADaM datasets are written alongside)."""
    with user_errors():
        try:
            with progress_bar("report", fmt is OutputFormat.text) as update:
                update(0, 1)
                result, _ = make_report(db, load_protocol(protocol), out, pdf=pdf)
                update(1, 1)
        except DataError as exc:
            raise CliError(str(exc)) from exc
        if fmt is OutputFormat.json:
            emit_json(
                {
                    "html": str(result.html),
                    "pdf": None if result.pdf is None else str(result.pdf),
                    "pdf_note": result.pdf_note,
                    "summary": result.summary,
                }
            )
            return
        console.print(f"report: {result.html}")
        console.print(f"pdf: {result.pdf}" if result.pdf else result.pdf_note)
