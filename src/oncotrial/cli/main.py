"""The ``oncotrial`` command: one thin command per job (see ``oncotrial --help``)."""

from __future__ import annotations

from pathlib import Path

import typer

from oncotrial.cli.accounts import demo_accounts, demo_login_text, sites_app, users_app
from oncotrial.cli.audit import audit_app
from oncotrial.cli.common import (
    FormatOption,
    OutputFormat,
    console,
    emit_json,
    progress_bar,
    user_errors,
)
from oncotrial.cli.db import database_url, db_app
from oncotrial.cli.derive import derive
from oncotrial.cli.escalation import boundaries, decide, paths
from oncotrial.cli.phase2 import design_app
from oncotrial.cli.serve import serve
from oncotrial.cli.simulation import compare
from oncotrial.cli.survival import km
from oncotrial.cli.trial import make_report, report, simulate_trial
from oncotrial.conduct import Study
from oncotrial.protocol import load_protocol
from oncotrial.protocol.naming import DoseNames
from oncotrial.sim.live_trial import play_virtual_trial
from oncotrial.store import Store

app = typer.Typer(
    help="oncotrial: design, run and analyse early-phase oncology trials "
    "(dose escalation, simulation, endpoints).",
    no_args_is_help=True,
    add_completion=False,
)
app.command()(boundaries)
app.command()(decide)
app.command()(paths)
app.command(name="simulate")(__import__("oncotrial.cli.simulation", fromlist=["simulate"]).simulate)
app.command()(compare)
app.command()(km)
app.command()(derive)
app.add_typer(design_app, name="design")
app.add_typer(db_app, name="db")
app.add_typer(audit_app, name="audit")
app.command(name="simulate-trial")(simulate_trial)
app.command()(report)
app.command()(serve)
app.add_typer(users_app, name="users")
app.add_typer(sites_app, name="sites")

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
