"""Commands of the trial itself: the virtual trial (``simulate-trial``) and the report
(``report``)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

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

if TYPE_CHECKING:
    from oncotrial.derive.pipeline import DerivedStudy
    from oncotrial.protocol import Protocol
    from oncotrial.protocol.naming import DoseNames
    from oncotrial.report.efficacy import Stage1Result
    from oncotrial.report.trial_report import AuditHead, EscalationStep, ReportResult
    from oncotrial.store import Store


def simulate_trial(
    protocol: Path = typer.Option(
        ..., "--protocol", "-p", help="Protocol YAML with a virtual_trial block."
    ),
    seed: int = typer.Option(2026, "--seed", help="Same seed, same trial."),
    db: str = DbOption,
    fmt: OutputFormat = FormatOption,
) -> None:
    """Play the whole study on virtual patients in the database, day by day: virtual site
    users screen and enrol patients into cohort slots (the dose is the system's) and enter
    every form as it happens; each committee decision is computed from the database when the
    DLT windows are complete and signed; then the phase II expansion at the RP2D with its
    Simon stage-1 analysis. Every record is edit-checked and audited. Same seed, same trial."""
    from oncotrial.conduct import Study
    from oncotrial.protocol import load_protocol
    from oncotrial.protocol.naming import DoseNames
    from oncotrial.sim.live_trial import play_virtual_trial
    from oncotrial.store import EditCheckError, Store

    with user_errors():
        proto = load_protocol(protocol)
        url = database_url(db)
        study = Study.open(url, proto)
        try:
            if not Store(study.engine).subjects().empty:
                raise CliError(f"{db} already holds subjects: use a new database")
            with progress_bar("virtual trial, day by day", fmt is OutputFormat.text) as update:
                trial = play_virtual_trial(study, seed, progress=update)
        except EditCheckError as exc:
            raise store_errors(exc) from exc
        finally:
            study.close()
        names = DoseNames.of(proto)
        data = {
            "db": url,
            "seed": seed,
            "subjects": len(trial.patients),
            "phase1_cohorts": len({d.cohort for d in trial.decisions}),
            "phase1_decisions": len(trial.decisions),
            "recommended_dose": None
            if trial.recommended_dose is None
            else names.short(trial.recommended_dose),
            "recommended_dose_index": None
            if trial.recommended_dose is None
            else trial.recommended_dose + 1,
            "expansion": {
                k: (v.item() if hasattr(v, "item") else v) for k, v in trial.expansion.items()
            },
            "data_cut": trial.data_cut.isoformat(),
            "records": {k: len(v) for k, v in trial.domains.items()},
        }
        if fmt is OutputFormat.json:
            emit_json(data)
            return
        rp2d = "none" if trial.recommended_dose is None else names.full(trial.recommended_dose)
        console.print(
            f"virtual trial (seed {seed}) in {url}: {data['subjects']} patients, "
            f"{data['phase1_cohorts']} phase I cohorts ({data['phase1_decisions']} committee "
            f"decisions), RP2D {rp2d}, "
            f"data cut {data['data_cut']}",
            highlight=False,
        )


def _committee_history(
    store: Store, names: DoseNames
) -> tuple[list[EscalationStep], int | None, Stage1Result | None]:
    """The phase I decisions (with every level named by the protocol), the MTD (0-based) of
    the last one, and the recorded Simon stage-1 decision, from the store."""
    from oncotrial.report.efficacy import Stage1Result
    from oncotrial.report.formatting import name_levels
    from oncotrial.report.trial_report import LIVE_PATH, EscalationStep
    from oncotrial.sim.trial_run import SIMON_DESIGN

    steps, recommended, stage1 = [], None, None
    for d in store.decisions():
        if d["status"] != "final":  # proposals not (yet) signed, superseded proposals
            continue
        inputs, output = d["inputs"] or {}, d["output"] or {}
        confirmed = str(d["confirmed_at"] or d["created_at"] or "")[:10]
        if d["design"] == SIMON_DESIGN:
            stage1 = Stage1Result(
                n1=int(inputs["n1"]),
                r1=int(inputs["r1"]),
                n=int(inputs["n"]),
                responders=int(inputs["responders"]),
                subjects=list(inputs["subjects"]),
                analysis_date=str(inputs["analysis_date"]),
                decision=str(output.get("decision", "")),
                reason=str(output.get("reason", "")),
                confirmed_by=" ".join(filter(None, [str(d["confirmed_by"] or ""), confirmed])),
                criteria=str(inputs.get("criteria", "")),
                source=(
                    f"the stored tumour assessments as of {d['as_of']} ({LIVE_PATH})"
                    if d.get("as_of")
                    else ""
                ),
            )
            continue
        if d["cohort"] is None or "current_dose" not in inputs:
            continue
        current = int(inputs["current_dose"]) - 1
        nxt = output.get("next_dose")
        decision = "stop" if nxt is None else f"treat the next cohort at {names.full(nxt - 1)}"
        if output.get("mtd") is not None:
            recommended = int(output["mtd"]) - 1
            decision = f"stop: MTD {names.full(recommended)}"
        chosen, action = d.get("chosen_dose"), d.get("action")
        if action == "pause":
            decision = "pause accrual (committee)"
        elif action == "dose" and chosen and (nxt is None or names.parse(chosen) != nxt - 1):
            decision = f"treat the next cohort at {names.full(names.parse(chosen))} (committee)"
        steps.append(
            EscalationStep(
                cohort=d["cohort"],
                dose_label=names.full(current) if current >= 0 else "",
                patients=int(inputs["n"][current]) if current >= 0 else 0,
                dlts=int(inputs["dlts"][current]) if current >= 0 else 0,
                decision=decision,
                reason=name_levels(str(output.get("reason", "")), names),
                decided=str(d.get("as_of") or confirmed),
                confirmed_by=str(d["confirmed_by"] or ""),
                source=_source(d),
            )
        )
    return steps, recommended, stage1


def _source(decision: dict) -> str:
    """Where a phase I decision came from: proposed from a snapshot of the store as of its
    date (the committee's use cases: the live path), or recorded without one."""
    from oncotrial.report.trial_report import LIVE_PATH

    if not (decision.get("as_of") and decision.get("snapshot_hash")):
        return "recorded"
    digest = str(decision["snapshot_hash"])[:12]
    return f"the trial database as of {decision['as_of']}, snapshot {digest} ({LIVE_PATH})"


def _audit_head(store: Store) -> AuditHead | None:
    """The latest audit entry (the trail's last row)."""
    from oncotrial.report.trial_report import AuditHead

    trail = store.audit_trail()
    if trail.empty:
        return None
    last = trail.iloc[-1]
    return AuditHead(int(last["seq"]), str(last["hash"]), str(last["changed_at"] or ""))


def _data_cut(settings: dict[str, str | None], override: date | None) -> tuple[date | None, str]:
    if override is not None:
        return override, "given with --data-cut"
    text = settings.get("data_cut")
    if not text:
        return None, ""
    try:
        return date.fromisoformat(text), "study setting data_cut"
    except ValueError as exc:
        raise CliError(f"study setting data_cut '{text}' is not a date (YYYY-MM-DD)") from exc


def _shown(db: str) -> str:
    """The database as the report names it: a URL without its password."""
    parts = urlsplit(db)
    if "://" not in db or parts.password is None:
        return db
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def make_report(
    db: str,
    protocol: Protocol,
    out: Path,
    *,
    pdf: bool = True,
    data_cut: date | None = None,
) -> tuple[ReportResult, DerivedStudy]:
    """Derive ADaM from the database's SDTM, write them under ``out/adam`` and the report,
    stating the trial's data cut (``data_cut`` overrides the study setting) and the audit head
    it was built from."""
    from oncotrial.derive.datacut import check_data_cut
    from oncotrial.derive.io import write_dataset
    from oncotrial.protocol.naming import DoseNames
    from oncotrial.report import panels
    from oncotrial.report.trial_report import Provenance, build_report
    from oncotrial.sim.trial_run import sdtm_from_store
    from oncotrial.store import Store

    store = Store.open(database_url(db))
    names = DoseNames.of(protocol)
    try:
        sdtm = sdtm_from_store(store)
        steps, recommended, stage1 = _committee_history(store, names)
        settings = store.study_settings()
        head = _audit_head(store)
    finally:
        store.close()
    if not sdtm:
        raise CliError(f"{db} holds no data")
    cut, cut_source = _data_cut(settings, data_cut)
    if cut is not None:
        check_data_cut(sdtm, cut)
    study = panels.derive(protocol, sdtm)
    secondary = panels.secondary_adrs(study)
    adam_dir = out / "adam"
    adam_dir.mkdir(parents=True, exist_ok=True)
    for name, frame in study.datasets.items():
        write_dataset(frame, adam_dir / f"{name}.csv", "csv", name=name.upper())
    result = build_report(
        protocol,
        study.datasets,
        out,
        sdtm=sdtm,
        escalation=steps,
        recommended_dose=recommended,
        stage1=stage1,
        secondary_adrs=secondary,
        provenance=Provenance(
            data_cut=cut, data_cut_source=cut_source, audit_head=head, source=_shown(db)
        ),
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
    data_cut: str | None = typer.Option(
        None,
        "--data-cut",
        help="The data cut to state (YYYY-MM-DD), instead of the trial's own (the study "
        "setting data_cut). Records dated after it are refused.",
    ),
    fmt: OutputFormat = FormatOption,
) -> None:
    """Write the trial report a committee signs, from the database: data cut, audit head and
    version; population (demographics, disposition, exposure and dose intensity); escalation
    history, DLTs and the RP2D; ORR and DCR by dose level and for the expansion (RECIST 1.1,
    and mRECIST for HCC), the Simon stage-1 result, waterfall/spider/swimmer plots; OS, PFS
    and duration of response (Kaplan–Meier); ADA incidence; AE tables and listings of serious
    AEs and deaths. The ADaM datasets are written alongside, in --out/adam."""
    from oncotrial.derive.errors import DataError
    from oncotrial.protocol import load_protocol

    with user_errors():
        cut = None
        if data_cut is not None:
            try:
                cut = date.fromisoformat(data_cut)
            except ValueError as exc:
                raise CliError(f"--data-cut: '{data_cut}' is not a date (YYYY-MM-DD)") from exc
        try:
            with progress_bar("report", fmt is OutputFormat.text) as update:
                update(0, 1)
                result, _ = make_report(db, load_protocol(protocol), out, pdf=pdf, data_cut=cut)
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
