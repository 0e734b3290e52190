"""Commands of the trial itself: the virtual trial (``simulate-trial``) and the report
(``report``)."""

from __future__ import annotations

from pathlib import Path

import typer

from oncotrial.cli.common import (
    CliError,
    FormatOption,
    OutputFormat,
    console,
    emit_json,
    progress_bar,
    user_errors,
)
from oncotrial.cli.db import DbOption, database_url, store_errors
from oncotrial.derive.errors import DataError
from oncotrial.derive.io import write_dataset
from oncotrial.derive.pipeline import DerivedStudy, analysis_settings, derive_study
from oncotrial.protocol import Protocol, load_protocol
from oncotrial.report.trial_report import EscalationStep, ReportResult, build_report
from oncotrial.sim.trial_run import data_cut_of, run_virtual_trial, sdtm_from_store
from oncotrial.store import EditCheckError, Store, init_db


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
            raise store_errors(exc) from exc
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
    study = derive_study(sdtm, settings=analysis_settings(protocol), checked=True)
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
