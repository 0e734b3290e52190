"""The ``oncotrial`` command: one thin command per job (see ``oncotrial --help``)."""

from __future__ import annotations

from pathlib import Path

import typer

from oncotrial.cli.common import FormatOption, OutputFormat, console, emit_json, user_errors
from oncotrial.cli.derive import derive
from oncotrial.cli.escalation import boundaries, decide, paths
from oncotrial.cli.phase2 import design_app
from oncotrial.cli.simulation import _json_results, _print_results, compare, compare_designs
from oncotrial.cli.survival import km
from oncotrial.protocol import load_protocol

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
    trials: int = typer.Option(10_000, "--trials", help="Simulated trials per scenario."),
    seed: int = typer.Option(2026, "--seed", help="Random seed."),
    fmt: OutputFormat = FormatOption,
) -> None:
    """The main job on the shipped protocol. For now: the phase I design comparison of the
    toripalimab + donafenib study (its design against 3+3, BOIN, TITE-BOIN and CRM)."""
    with user_errors():
        path = shipped_protocol()
        proto = load_protocol(path)
        specs, scenarios, results = compare_designs(
            proto, trials, seed, 1, fmt is OutputFormat.text
        )
        if fmt is OutputFormat.json:
            emit_json(
                {"protocol": str(path), **_json_results(specs, scenarios, results, trials, seed)}
            )
            return
        console.print(f"[bold]{proto.study.title}[/] ({path})")
        labels = [f"L{label}" for label in proto.level_labels]
        _print_results(specs, scenarios, results, labels, proto.study.id)
