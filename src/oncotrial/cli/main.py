"""The ``oncotrial`` command: one thin command per job (see ``oncotrial --help``)."""

from __future__ import annotations

from pathlib import Path

import typer

from oncotrial.cli.common import (
    FormatOption,
    OutputFormat,
    console,
    emit_json,
    progress_bar,
    user_errors,
)
from oncotrial.cli.lazy import LazyCommand, lazy_group

#: every command but ``demo``, imported only when it runs (see ``cli/lazy.py``)
COMMANDS = {
    "boundaries": LazyCommand(
        "oncotrial.cli.escalation:boundaries", "The design's decision table for the protocol."
    ),
    "decide": LazyCommand(
        "oncotrial.cli.escalation:decide", "Recommend the next dose from the patients so far."
    ),
    "paths": LazyCommand(
        "oncotrial.cli.escalation:paths", "Every outcome of the next cohorts and its decision."
    ),
    "simulate": LazyCommand(
        "oncotrial.cli.simulation:simulate", "Operating characteristics of a design by scenario."
    ),
    "compare": LazyCommand(
        "oncotrial.cli.simulation:compare", "The protocol's design against the standard designs."
    ),
    "km": LazyCommand(
        "oncotrial.cli.survival:km", "Kaplan-Meier estimates, landmarks and the log-rank test."
    ),
    "derive": LazyCommand("oncotrial.cli.derive:derive", "SDTM to ADaM, with the edit checks."),
    "design": LazyCommand(
        "oncotrial.cli.phase2:design_app", "Phase II sample sizes: Simon two-stage, BOP2."
    ),
    "db": LazyCommand(
        "oncotrial.cli.db:db_app", "The trial database: create it, import and export SDTM."
    ),
    "audit": LazyCommand(
        "oncotrial.cli.audit:audit_app", "The audit trail: verify, checkpoint, export."
    ),
    "simulate-trial": LazyCommand(
        "oncotrial.cli.trial:simulate_trial", "Play the whole study day by day on virtual patients."
    ),
    "simulate-study": LazyCommand(
        "oncotrial.cli.study:simulate_study",
        "The whole phase I/II study simulated, candidate designs side by side.",
    ),
    "report": LazyCommand(
        "oncotrial.cli.trial:report", "The trial report a committee signs, from the database."
    ),
    "serve": LazyCommand(
        "oncotrial.cli.serve:serve", "Run the trial application (sites, forms, review)."
    ),
    "users": LazyCommand(
        "oncotrial.cli.accounts:users_app", "Named user accounts: add, list, disable, set role."
    ),
    "sites": LazyCommand("oncotrial.cli.accounts:sites_app", "Clinical sites: add and list."),
}

app = typer.Typer(
    cls=lazy_group(COMMANDS),
    help="oncotrial: design, run and analyse early-phase oncology trials "
    "(dose escalation, simulation, endpoints, the trial application).",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def oncotrial() -> None:
    """The group itself (a callback keeps typer from collapsing a one-command app)."""


SHIPPED_PROTOCOL = Path("protocols") / "toripalimab-donafenib-hcc.yaml"


def shipped_protocol() -> Path:
    """The seed study's protocol: ./protocols/ first, then the source checkout's."""
    for base in (Path.cwd(), Path(__file__).resolve().parents[3]):
        candidate = base / SHIPPED_PROTOCOL
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"cannot find {SHIPPED_PROTOCOL}")


@app.command()
def demo(
    seed: int = typer.Option(2026, "--seed", help="Seed of the virtual trial."),
    out: Path = typer.Option(Path("demo"), "--out", help="Folder for the demo's files."),
    pdf: bool = typer.Option(True, "--pdf/--no-pdf", help="Also print a PDF (needs Chromium)."),
    fmt: OutputFormat = FormatOption,
) -> None:
    """The main job on the shipped protocol: create demo/trial.db (SQLite) and play the
    virtual toripalimab + donafenib trial in it day by day — virtual site users screen, enrol
    into cohort slots and enter every form as events happen; the committee's decisions are
    computed from the database and signed — then derive the ADaM datasets and write
    demo/report.html; prints where everything is and a five-line summary."""
    from oncotrial.cli.accounts import demo_accounts, demo_login_text
    from oncotrial.cli.db import database_url
    from oncotrial.cli.trial import make_report
    from oncotrial.conduct import Study
    from oncotrial.protocol import load_protocol
    from oncotrial.protocol.naming import DoseNames
    from oncotrial.sim.live_trial import play_virtual_trial
    from oncotrial.store import Store

    with user_errors():
        path = shipped_protocol()
        proto = load_protocol(path)
        out.mkdir(parents=True, exist_ok=True)
        db_file = out / "trial.db"
        for stale in (db_file, out / "trial.db-wal", out / "trial.db-shm"):
            stale.unlink(missing_ok=True)
        study = Study.open(database_url(str(db_file)), proto)
        try:
            with progress_bar("virtual trial, day by day", fmt is OutputFormat.text) as update:
                trial = play_virtual_trial(study, seed, progress=update)
            audit = Store(study.engine).verify_audit()
        finally:
            study.close()
        demo_users = demo_accounts(str(db_file), proto)
        with progress_bar("derivations and report", fmt is OutputFormat.text) as update:
            update(0, 1)
            result, study = make_report(str(db_file), proto, out, pdf=pdf)
            update(1, 1)
        names = DoseNames.of(proto)
        rp2d = "none" if trial.recommended_dose is None else names.full(trial.recommended_dose)
        s = result.summary
        km = {row["endpoint"]: row for row in s.get("km", [])}
        median = "Median, months (95 % CI)"
        by_criteria = s.get("orr_by_criteria", {})
        lines = [
            f"Patients: {len(trial.patients)} ({sum(p.phase == 'I' for p in trial.patients)} in "
            f"phase I, {sum(p.phase == 'II' for p in trial.patients)} in the expansion); data "
            f"cut {trial.data_cut.isoformat()}",
            f"Phase I ({proto.phase1.design}): {len(trial.decisions)} cohorts, MTD/RP2D {rp2d}; "
            f"expansion: {trial.expansion.get('decision', 'none')}",
            "Confirmed ORR: "
            + "; ".join(_rate_text(name, rate) for name, rate in by_criteria.items()),
            f"Median PFS {km.get('Progression-free survival', {}).get(median, '-')}, median OS "
            f"{km.get('Overall survival', {}).get(median, '-')} months (NR: not reached)",
            f"Audit trail: {audit}",
        ]
        files = {
            "protocol": str(path),
            "database": str(db_file),
            "adam": str(out / "adam"),
            "report": str(result.html),
            "pdf": None if result.pdf is None else str(result.pdf),
        }
        if fmt is OutputFormat.json:
            emit_json(
                {
                    "files": files,
                    "summary": lines,
                    "pdf_note": result.pdf_note,
                    "response_source": study.response_source,
                    "demo_users": [u.__dict__ for u in demo_users],
                }
            )
            return
        console.print(f"[bold]{proto.study.title}[/] — virtual trial, seed {seed}")
        for name, value in files.items():
            console.print(f"  {name:9} {value if value else result.pdf_note}")
        console.print()
        for line in lines:
            console.print(line, highlight=False)
        console.print(demo_login_text(str(db_file), demo_users), highlight=False)


def _rate_text(name: str, rate: dict) -> str:
    return (
        f"{name} {rate['x']}/{rate['n']} = {100 * rate['estimate']:.1f} % "
        f"(95 % CI {100 * rate['lower']:.1f}-{100 * rate['upper']:.1f})"
    )
