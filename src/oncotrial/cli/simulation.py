"""Commands a trial statistician uses before the study: operating characteristics."""

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
    design_spec,
    dose_labels,
    emit_json,
    parse_floats,
    progress_bar,
    read_protocol,
    user_errors,
)
from oncotrial.designs.names import DESIGN_NAMES

if TYPE_CHECKING:
    from oncotrial.designs.registry import DesignSpec
    from oncotrial.designs.simulation import AccrualModel, DltTimeModel, OperatingCharacteristics
    from oncotrial.protocol import Protocol
    from oncotrial.sim.operating import Scenario


#: Designs the protocol's design is compared against by ``oncotrial compare``.
COMPARATORS = ("3+3", "boin", "tite-boin", "crm")


def _scenarios(proto: Protocol | None, truths: list[str] | None) -> list[Scenario]:
    from oncotrial.sim.operating import Scenario

    if truths:
        return [
            Scenario(f"truth {i + 1}", tuple(parse_floats(t, "--truth")))
            for i, t in enumerate(truths)
        ]
    if proto is not None and proto.phase1.scenarios:
        return [Scenario(s.name, tuple(s.dlt_probabilities)) for s in proto.phase1.scenarios]
    raise CliError("no scenario: give --truth 0.05,0.15,... or a protocol with scenarios")


def _models(proto: Protocol | None, accrual: float | None, late: float | None, window: float):
    from oncotrial.designs.simulation import AccrualModel, DltTimeModel

    rate = accrual or (proto.phase1.accrual_per_month if proto else None) or 2.0
    late = late or (proto.phase1.dlt_late_fraction if proto else None) or 0.5
    return AccrualModel(rate), DltTimeModel.with_late_fraction(late, window)


def _run(
    specs: list[DesignSpec],
    scenarios: list[Scenario],
    trials: int,
    seed: int,
    workers: int,
    scheduler: str | None,
    accrual: AccrualModel,
    dlt_time: DltTimeModel,
    show_progress: bool,
) -> list[list[OperatingCharacteristics]]:
    from oncotrial.designs.registry import build_design
    from oncotrial.sim.operating import operating_characteristics

    for s in scenarios:
        if any(not 0.0 <= p <= 1.0 for p in s.truth):
            raise CliError(f"scenario '{s.name}': probabilities must be within [0, 1]")
    designs = [build_design(spec) for spec in specs]
    with progress_bar(f"simulating {trials:,} trials", show_progress) as update:
        return operating_characteristics(
            designs,
            scenarios,
            trials,
            seed,
            workers=workers,
            scheduler=scheduler,
            accrual=accrual,
            dlt_time=dlt_time,
            progress=update,
        )


def _print_results(
    specs: list[DesignSpec],
    scenarios: list[Scenario],
    results: list[list[OperatingCharacteristics]],
    labels: list[str],
    title: str,
) -> None:
    for j, scen in enumerate(scenarios):
        truth = "  ".join(f"{lab} {p:.2f}" for lab, p in zip(labels, scen.truth, strict=True))
        table = Table(title=f"{title} — {scen.name}: true DLT probability {truth}")
        table.add_column("design")
        for lab in labels:
            table.add_column(f"% MTD {lab}", justify="right")
        table.add_column("% none", justify="right")
        table.add_column("mean N", justify="right")
        table.add_column("mean DLTs", justify="right")
        table.add_column("% stopped early", justify="right")
        table.add_column("months", justify="right")
        for i, spec in enumerate(specs):
            oc = results[i][j]
            months = "" if oc.mean_duration_days is None else f"{oc.mean_duration_days / 30.44:.1f}"
            table.add_row(
                spec.name,
                *[f"{p:.1f}" for p in oc.selected_pct],
                f"{oc.no_mtd_pct:.1f}",
                f"{oc.mean_n:.1f}",
                f"{sum(oc.mean_dlts):.1f}",
                f"{oc.stopped_pct:.1f}",
                months,
            )
        console.print(table)


def _json_results(specs, scenarios, results, trials: int, seed: int) -> dict:
    rows = [
        {
            "design": spec.name,
            "scenario": scen.name,
            "truth": list(scen.truth),
            **results[i][j].to_json(),
        }
        for i, spec in enumerate(specs)
        for j, scen in enumerate(scenarios)
    ]
    out: dict = {"trials": trials, "seed": seed, "results": rows}
    if len(rows) == 1:
        out.update({k: v for k, v in rows[0].items() if k not in out})
    return out


def simulate(
    design: list[str] = typer.Option(
        None, "--design", help=f"Design(s) to simulate: {', '.join(DESIGN_NAMES)}. Repeatable."
    ),
    truth: list[str] = typer.Option(
        None, "--truth", help="True DLT probability per dose, e.g. 0.05,0.15,0.3. Repeatable."
    ),
    protocol: Path | None = typer.Option(None, "--protocol", "-p", help="Protocol YAML."),
    target: float | None = typer.Option(None, "--target", help="Target DLT probability."),
    cohort_size: int | None = typer.Option(None, "--cohort-size", help="Patients per cohort."),
    cohorts: int | None = typer.Option(None, "--cohorts", help="Maximum number of cohorts."),
    trials: int = typer.Option(10_000, "--trials", help="Simulated trials per scenario."),
    seed: int = typer.Option(1, "--seed", help="Random seed: same seed, same numbers."),
    start_level: int | None = typer.Option(None, "--start-level", help="Start (1-based)."),
    extrasafe: bool | None = typer.Option(
        None, "--extrasafe/--no-extrasafe", help="BOIN's stricter stop for the lowest dose."
    ),
    n_earlystop: int | None = typer.Option(None, "--n-earlystop", help="BOIN n.earlystop."),
    skeleton: str | None = typer.Option(None, "--skeleton", help="CRM skeleton."),
    model: str | None = typer.Option(None, "--model", help="CRM model: empiric or logistic."),
    accrual: float | None = typer.Option(None, "--accrual", help="Patients per month (2)."),
    late_fraction: float | None = typer.Option(
        None, "--dlt-late-fraction", help="Share of DLTs in the window's second half (0.5)."
    ),
    workers: int = typer.Option(1, "--workers", help="Local worker processes."),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="Dask scheduler address tcp://HOST:PORT (needs the dask extra)."
    ),
    plot: Path | None = typer.Option(None, "--plot", help="Write a PNG/PDF figure here."),
    fmt: OutputFormat = FormatOption,
) -> None:
    """Simulate operating characteristics: % selecting each dose as MTD (and none), mean
    patients and DLTs per dose, % stopped early, mean sample size and trial duration. Designs
    are compared on the same virtual patients (common random numbers)."""
    from oncotrial.report.oc_plot import plot_operating_characteristics

    with user_errors():
        proto = read_protocol(protocol)
        scenarios = _scenarios(proto, truth)
        n_doses = len(scenarios[0].truth)
        names = design or [proto.phase1.design if proto else "boin"]
        specs = [
            design_spec(
                proto,
                design=name,
                target=target,
                cohort_size=cohort_size,
                cohorts=cohorts,
                start_level=start_level,
                extrasafe=extrasafe,
                n_earlystop=n_earlystop,
                skeleton=skeleton,
                model=model,
                n_doses=n_doses,
            )
            for name in names
        ]
        models = _models(proto, accrual, late_fraction, specs[0].window_days)
        results = _run(
            specs,
            scenarios,
            trials,
            seed,
            workers,
            scheduler,
            *models,
            show_progress=fmt is OutputFormat.text,
        )
        labels = dose_labels(proto, n_doses)
        if plot is not None:
            plot_operating_characteristics(
                results,
                [s.name for s in specs],
                [s.name for s in scenarios],
                [s.truth for s in scenarios],
                labels,
                plot,
                specs[0].target,
            )
        if fmt is OutputFormat.json:
            emit_json(_json_results(specs, scenarios, results, trials, seed))
            return
        _print_results(specs, scenarios, results, labels, f"{trials:,} trials, seed {seed}")
        if plot is not None:
            console.print(f"figure: {plot}")


def compare_designs(
    proto: Protocol, trials: int, seed: int, workers: int, show_progress: bool
) -> tuple[list[DesignSpec], list[Scenario], list[list[OperatingCharacteristics]]]:
    """The protocol's design and the usual comparators on the protocol's scenarios."""
    names = [proto.phase1.design] + [
        d for d in COMPARATORS if d != proto.phase1.design and d in DESIGN_NAMES
    ]
    specs = [design_spec(proto, design=name) for name in names]
    scenarios = _scenarios(proto, None)
    models = _models(proto, None, None, specs[0].window_days)
    results = _run(specs, scenarios, trials, seed, workers, None, *models, show_progress)
    return specs, scenarios, results


def compare(
    protocol: Path = typer.Option(..., "--protocol", "-p", help="Protocol YAML."),
    trials: int = typer.Option(10_000, "--trials", help="Simulated trials per scenario."),
    seed: int = typer.Option(1, "--seed", help="Random seed."),
    workers: int = typer.Option(1, "--workers", help="Local worker processes."),
    plot: Path | None = typer.Option(None, "--plot", help="Write a figure here."),
    fmt: OutputFormat = FormatOption,
) -> None:
    """Simulate the protocol's design against 3+3, BOIN, TITE-BOIN and CRM on the protocol's
    scenarios and print one table per scenario."""
    from oncotrial.report.oc_plot import plot_operating_characteristics

    with user_errors():
        proto = read_protocol(protocol)
        assert proto is not None
        specs, scenarios, results = compare_designs(
            proto, trials, seed, workers, fmt is OutputFormat.text
        )
        labels = dose_labels(proto, proto.n_doses)
        if plot is not None:
            plot_operating_characteristics(
                results,
                [s.name for s in specs],
                [s.name for s in scenarios],
                [s.truth for s in scenarios],
                labels,
                plot,
                proto.phase1.target,
            )
        if fmt is OutputFormat.json:
            emit_json(_json_results(specs, scenarios, results, trials, seed))
            return
        _print_results(specs, scenarios, results, labels, proto.study.id)
