"""``oncotrial simulate-study``: the whole seamless phase I/II study simulated, candidate
designs side by side."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from oncotrial.cli.common import (
    CliError,
    FormatOption,
    OutputFormat,
    console,
    emit_json,
    progress_bar,
    read_protocol,
    user_errors,
)

if TYPE_CHECKING:
    from oncotrial.protocol import Protocol
    from oncotrial.protocol.naming import DoseNames
    from oncotrial.sim.study import StudyCharacteristics
    from oncotrial.sim.study_designs import StudyDesign, StudyScenario, TrueDoses


def _names(text: str | None, option: str) -> list[str] | None:
    if text is None:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise CliError(f"{option}: no name given")
    return names


def _level(names: DoseNames, index: int) -> str:
    return "none" if index < 0 else names.short(index)


def _with_levels(oc: StudyCharacteristics, names: DoseNames) -> dict:
    """The JSON row with the true MTD and OBD also named by their levels."""
    return {
        **oc.to_json(),
        "true_mtd_level": None if oc.true_mtd < 0 else names.full(oc.true_mtd),
        "true_obd_level": None if oc.true_obd < 0 else names.full(oc.true_obd),
    }


def _describe(design: StudyDesign) -> str:
    esc = design.escalation.name
    return f"{esc} → {design.selection} → {design.expansion_kind}"


def _print_table(
    proto: Protocol,
    designs: list[StudyDesign],
    scenarios: list[StudyScenario],
    truths: list[TrueDoses],
    results: list[list[StudyCharacteristics]],
    title: str,
) -> None:
    from oncotrial.protocol.naming import DoseNames

    names = DoseNames.of(proto)
    levels = names.all_short()
    table = Table(
        title=title,
        caption="right MTD / OBD, positive, final dose: % of simulated studies (Monte-Carlo "
        f"standard error at most {50.0 / results[0][0].n_trials ** 0.5:.1f} points); N: mean "
        "patients (escalation + expansion); N>MTD: mean patients treated above the true MTD; "
        "DLTs: expected patients with a DLT (escalation + expansion)",
    )
    table.add_column("design", no_wrap=True)
    for header in ("right MTD", "right OBD", "positive", "N", "months", "N>MTD", "DLTs"):
        table.add_column(header, justify="right")
    for lab in [*levels, "none"]:
        table.add_column(f"final {lab}", justify="right")
    for j, (scen, truth) in enumerate(zip(scenarios, truths, strict=True)):
        table.add_row(
            f"[bold]{scen.name}[/]: true MTD {_level(names, truth.mtd)}, "
            f"OBD {_level(names, truth.obd)}"
        )
        for i in range(len(designs)):
            oc = results[i][j]
            table.add_row(
                f"  {oc.design}",
                f"{oc.right_mtd_pct:.1f}",
                f"{oc.right_obd_pct:.1f}",
                "-" if oc.positive_pct is None else f"{oc.positive_pct:.1f}",
                f"{oc.mean_n:.1f}",
                f"{oc.mean_duration_months:.1f}",
                f"{oc.mean_above_mtd:.1f}",
                f"{oc.mean_dlts_escalation + oc.mean_dlts_expansion:.1f}",
                *[f"{p:.1f}" for p in oc.final_selected_pct],
                f"{oc.final_none_pct:.1f}",
                end_section=i == len(designs) - 1,
            )
    console.print(table)
    for d in designs:
        console.print(f"  {d.name}: {_describe(d)}", highlight=False)


def simulate_study(
    protocol: Path = typer.Option(
        ..., "--protocol", "-p", help="Protocol YAML with a seamless block (scenarios, candidates)."
    ),
    scenarios: str | None = typer.Option(
        None,
        "--scenarios",
        help="Comma-separated names of the protocol's seamless scenarios (default: all).",
    ),
    designs: str | None = typer.Option(
        None,
        "--designs",
        help="Comma-separated names of the protocol's candidate designs (default: all).",
    ),
    trials: int = typer.Option(10_000, "--trials", help="Simulated studies per scenario."),
    seed: int = typer.Option(1, "--seed", help="Random seed: same seed, same numbers."),
    workers: int = typer.Option(1, "--workers", help="Local worker processes."),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="Dask scheduler address tcp://HOST:PORT (needs the dask extra)."
    ),
    figure: Path | None = typer.Option(None, "--figure", help="Write a PNG/PDF figure here."),
    fmt: OutputFormat = FormatOption,
) -> None:
    """Simulate the whole phase I/II study — escalation, selection of one or two doses and the
    expansion — for the protocol's candidate designs side by side, on the same virtual
    patients. Per scenario: % selecting the true MTD (escalation) and the true OBD (the study's
    final dose), % positive phase II (Simon/BOP2 rejecting H0), mean sample size, duration in
    months and patients treated above the true MTD, and where the final dose falls."""
    from oncotrial.protocol.naming import DoseNames
    from oncotrial.report.study_plot import plot_study
    from oncotrial.sim.study import study_characteristics
    from oncotrial.sim.study_designs import study_designs, study_scenarios, study_truths

    with user_errors():
        if trials < 1:
            raise CliError(f"--trials: {trials} must be at least 1")
        if workers < 1:
            raise CliError(f"--workers: {workers} must be at least 1")
        if scheduler is not None and workers > 1:
            raise CliError("give --workers or --scheduler, not both")
        proto = read_protocol(protocol)
        assert proto is not None
        scens = study_scenarios(proto, _names(scenarios, "--scenarios"))
        cands = study_designs(proto, _names(designs, "--designs"))
        truths = study_truths(proto, scens)
        with progress_bar(
            f"simulating {trials:,} studies × {len(cands)} designs", fmt is OutputFormat.text
        ) as update:
            results = study_characteristics(
                cands,
                scens,
                truths,
                trials,
                seed,
                workers=workers,
                scheduler=scheduler,
                progress=update,
            )
        names = DoseNames.of(proto)
        if figure is not None:
            plot_study(results, names.all_short(), figure)
        if fmt is OutputFormat.json:
            emit_json(
                {
                    "trials": trials,
                    "seed": seed,
                    "dose_levels": names.all_full(),
                    "designs": [
                        {
                            "name": d.name,
                            "escalation": d.escalation.name,
                            "selection": d.selection,
                            "expansion": d.expansion_kind,
                            "expansion_design": d.expansion.to_json(),
                        }
                        for d in cands
                    ],
                    "results": [_with_levels(oc, names) for row in results for oc in row],
                    "max_mc_se_pct": 50.0 / trials**0.5,
                    "figure": None if figure is None else str(figure),
                }
            )
            return
        _print_table(
            proto,
            cands,
            scens,
            truths,
            results,
            f"{proto.study.id}: {trials:,} simulated studies per scenario, seed {seed}",
        )
        if figure is not None:
            console.print(f"figure: {figure}")
