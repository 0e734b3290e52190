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
    from oncotrial.designs.base import Decision
    from oncotrial.designs.efficacy import EfficacyState
    from oncotrial.designs.registry import DesignSpec
    from oncotrial.designs.result import DesignResult
    from oncotrial.designs.simulation import AccrualModel, DltTimeModel, OperatingCharacteristics
    from oncotrial.protocol import Protocol
    from oncotrial.sim.operating import Scenario

#: Designs the protocol's design is compared against by ``oncotrial compare``.
COMPARATORS = ("3+3", "boin", "tite-boin", "crm")


StopAtNOption = typer.Option(
    None, "--stop-at-n", help="Stop once this many patients are treated (escalation's stop_at_n)."
)
StopWhenNAtDoseOption = typer.Option(
    None,
    "--stop-when-n-at-dose",
    help="Stop once the recommended dose holds this many patients (stop_when_n_at_dose).",
)
DontSkipOption = typer.Option(
    None,
    "--dont-skip/--allow-skip",
    help="Never escalate more than one level at a time (dont_skip_doses; the protocol's "
    "phase1.dont_skip). BOIN-type designs never skip; this constrains the CRM and the BLRM.",
)
DontSkipDownOption = typer.Option(
    None,
    "--dont-skip-down",
    help="Never de-escalate more than one level at a time either (dont_skip_doses("
    "when_deescalating = TRUE); the protocol's phase1.dont_skip_down; CRM).",
)
MtdSelectionOption = typer.Option(
    None,
    "--mtd-selection",
    help="How the final MTD is chosen: design (the design's own rule) or boin (BOIN's "
    "isotonic selection, BOIN::select.mtd; escalation's select_boin_mtd).",
)
ExtraSafeOption = typer.Option(
    None,
    "--extrasafe/--no-extrasafe",
    help="Extra-safe: stop with no dose when >= 3 patients at the lowest dose and "
    "Pr(DLT rate > target) > 0.95 - 0.05 (BOIN's extrasafe; any design with a target).",
)


def _scenarios(
    proto: Protocol | None, truths: list[str] | None, efficacy: list[str] | None = None
) -> list[Scenario]:
    from oncotrial.sim.operating import Scenario

    if efficacy and not truths:
        raise CliError("--efficacy goes with --truth: give one --efficacy per --truth")
    if truths:
        if efficacy and len(efficacy) != len(truths):
            raise CliError(
                f"{len(efficacy)} --efficacy for {len(truths)} --truth: give one per --truth"
            )
        out = []
        for i, t in enumerate(truths):
            tox = tuple(parse_floats(t, "--truth"))
            eff = tuple(parse_floats(efficacy[i], "--efficacy")) if efficacy else None
            if eff is not None and len(eff) != len(tox):
                raise CliError(
                    f"--efficacy {i + 1} has {len(eff)} values for {len(tox)} doses in --truth"
                )
            out.append(Scenario(f"truth {i + 1}", tox, eff))
        return out
    if proto is not None and proto.phase1.scenarios:
        return [
            Scenario(
                s.name,
                tuple(s.dlt_probabilities),
                None if s.response_probabilities is None else tuple(s.response_probabilities),
            )
            for s in proto.phase1.scenarios
        ]
    raise CliError("no scenario: give --truth 0.05,0.15,... or a protocol with scenarios")


def _models(proto: Protocol | None, rate: float | None, late: float | None, window: float):
    from oncotrial.designs.simulation import AccrualModel, DltTimeModel

    rate = rate or (proto.phase1.accrual_per_month if proto else None) or 2.0
    late = late or (proto.phase1.dlt_late_fraction if proto else None) or 0.5
    return AccrualModel(rate), DltTimeModel.with_late_fraction(late, window)


def accrual_kind(text: str | None) -> str | None:
    """``--accrual``: uniform or poisson inter-arrival times (a number is refused with a hint,
    the rate being ``--accrual-per-month``)."""
    if text is None:
        return None
    word = text.strip().lower()
    if word in ("uniform", "poisson"):
        return word
    raise CliError(
        f"--accrual: '{text}' is not uniform or poisson (the rate is --accrual-per-month)"
    )


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
    from oncotrial.designs.efficacy import EfficacyCharacteristics

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
        with_eff = any(isinstance(row[j], EfficacyCharacteristics) for row in results)
        if with_eff:
            table.add_column("mean responses", justify="right")
            table.add_column("mean backfilled", justify="right")
        for i, spec in enumerate(specs):
            oc = results[i][j]
            months = "" if oc.mean_duration_months is None else f"{oc.mean_duration_months:.1f}"
            row = [
                spec.name,
                *[f"{p:.1f}" for p in oc.selected_pct],
                f"{oc.no_mtd_pct:.1f}",
                f"{oc.mean_n:.1f}",
                f"{sum(oc.mean_dlts):.1f}",
                f"{oc.stopped_pct:.1f}",
                months,
            ]
            if with_eff:
                eff = isinstance(oc, EfficacyCharacteristics)
                row += [
                    f"{sum(oc.mean_responses):.1f}" if eff else "",
                    f"{sum(oc.mean_backfill):.1f}" if eff else "",
                ]
            table.add_row(*row)
        console.print(table)
        if scen.efficacy is not None:
            resp = "  ".join(f"{lab} {p:.2f}" for lab, p in zip(labels, scen.efficacy, strict=True))
            console.print(f"true response probability: {resp}", highlight=False)
    for i, spec in enumerate(specs):
        reasons = results[i][0].stop_reason_pct
        if reasons and len(scenarios) == 1:
            text = "; ".join(f"{why} {pct:.1f} %" for why, pct in reasons.items() if pct > 0)
            console.print(f"{spec.name}: trials ended by {text}", highlight=False)
        elif reasons:
            for j, scen in enumerate(scenarios):
                got = results[i][j].stop_reason_pct
                text = "; ".join(f"{why} {pct:.1f} %" for why, pct in got.items() if pct > 0)
                console.print(f"{spec.name}, {scen.name}: trials ended by {text}", highlight=False)
    if any(s.name.lower() in ("boin12", "tite-boin12") for s in specs):
        console.print(
            "For boin12 and tite-boin12 the selected dose is the optimal biological dose (OBD).",
            highlight=False,
        )


def _print_designs(specs: list[DesignSpec]) -> None:
    """Each design as it reads in a protocol (its settings and behaviours)."""
    from oncotrial.designs.behaviours import describe
    from oncotrial.designs.registry import build_design

    for spec in specs:
        console.print(f"design: {describe(build_design(spec))}", highlight=False)


def _json_results(specs, scenarios, results, trials: int, seed: int) -> dict:
    rows = [
        {
            "design": spec.name,
            "scenario": scen.name,
            "truth": list(scen.truth),
            **({} if scen.efficacy is None else {"efficacy": list(scen.efficacy)}),
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
    extrasafe: bool | None = ExtraSafeOption,
    n_earlystop: int | None = typer.Option(
        None,
        "--n-earlystop",
        help="Stop once the current dose holds this many patients (BOIN's n.earlystop; also "
        "the interval designs, boin12 and bf-boin).",
    ),
    skeleton: str | None = typer.Option(None, "--skeleton", help="CRM skeleton."),
    model: str | None = typer.Option(None, "--model", help="CRM model: empiric or logistic."),
    efficacy: list[str] = typer.Option(
        None,
        "--efficacy",
        help="True response probability per dose for boin12, tite-boin12 and bf-boin, "
        "e.g. 0.2,0.3,0.4; one per --truth.",
    ),
    accrual: str | None = typer.Option(
        None,
        "--accrual",
        help="Inter-arrival times of bf-boin and tite-boin12: uniform on (0, 2/rate) or "
        "poisson (exponential). The other time-to-event designs use poisson.",
    ),
    accrual_per_month: float | None = typer.Option(
        None,
        "--accrual-per-month",
        help="Eligible patients arriving per month (2; bf-boin, tite-boin12 3).",
    ),
    window_days: float | None = typer.Option(
        None, "--window-days", help="DLT window in days (the protocol's, else 28)."
    ),
    backfill_cap: int | None = typer.Option(
        None, "--backfill-cap", help="bf-boin: most patients a dose may hold by backfilling (12)."
    ),
    efficacy_floor: float | None = typer.Option(
        None, "--efficacy-floor", help="boin12: lowest acceptable response rate φE (0.25)."
    ),
    dose_amounts: str | None = typer.Option(
        None,
        "--dose-amounts",
        help="blrm: dose amount of each level, e.g. 100,200,400,600 (mg/day; default: the "
        "protocol's escalated drug).",
    ),
    reference_dose: float | None = typer.Option(
        None, "--reference-dose", help="blrm: reference dose d* in the same unit, e.g. 400."
    ),
    blrm_prior: str | None = typer.Option(
        None,
        "--blrm-prior",
        help="blrm: prior mean log α, mean log β, sd log α, sd log β, correlation "
        "(default -0.693,0,2,1,0: median DLT rate 1/3 at d*).",
    ),
    ewoc: float | None = typer.Option(
        None, "--ewoc", help="blrm: a dose is allowed while Pr(over-dosing) < EWOC (0.25)."
    ),
    stop_at_n: int | None = StopAtNOption,
    stop_when_n_at_dose: int | None = StopWhenNAtDoseOption,
    dont_skip: bool | None = DontSkipOption,
    dont_skip_down: bool | None = DontSkipDownOption,
    mtd_selection: str | None = MtdSelectionOption,
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
    """Simulate operating characteristics: % selecting each dose (the MTD; the optimal
    biological dose for boin12 and tite-boin12) and none, mean patients, DLTs and responses per
    dose, % stopped early, mean sample size and trial duration. Designs are compared on the
    same virtual patients (common random numbers).

    Example: oncotrial simulate --design bf-boin --target 0.25 --truth 0.05,0.1,0.25,0.4,0.5
    --efficacy 0.2,0.3,0.4,0.5,0.5 --cohort-size 3 --cohorts 10 --n-earlystop 9
    --backfill-cap 12 --accrual uniform --accrual-per-month 3 --window-days 30"""
    with user_errors():
        proto = read_protocol(protocol)
        scenarios = _scenarios(proto, truth, efficacy)
        n_doses = len(scenarios[0].truth)
        extra = design_extra(
            accrual=accrual_kind(accrual),
            accrual_per_month=accrual_per_month,
            window_days=window_days,
            backfill_cap=backfill_cap,
            efficacy_floor=efficacy_floor,
            dose_amounts=dose_amounts,
            reference_dose=reference_dose,
            blrm_prior=blrm_prior,
            ewoc=ewoc,
            stop_at_n=stop_at_n,
            stop_when_n_at_dose=stop_when_n_at_dose,
            dont_skip=dont_skip,
            dont_skip_down=dont_skip_down,
            mtd_selection=mtd_selection,
        )
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
                extra=extra,
            )
            for name in names
        ]
        models = _models(proto, accrual_per_month, late_fraction, specs[0].window_days)
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
            from oncotrial.report.oc_plot import plot_operating_characteristics  # matplotlib

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
        _print_designs(specs)
        if plot is not None:
            console.print(f"figure: {plot}")


def design_extra(
    *,
    dose_amounts: str | None = None,
    blrm_prior: str | None = None,
    **values: object,
) -> dict[str, object]:
    """The :class:`DesignSpec` fields given on the command line, parsed and checked
    (``None`` = not given)."""
    from oncotrial.designs.blrm_posterior import BLRMPrior

    out: dict[str, object] = dict(values)
    if dose_amounts is not None:
        amounts = tuple(parse_floats(dose_amounts, "--dose-amounts"))
        rising = all(b > a for a, b in zip(amounts, amounts[1:], strict=False))
        if amounts[0] <= 0 or not rising:
            raise CliError("--dose-amounts must be positive and increase strictly with dose")
        out["dose_amounts"] = amounts
    if blrm_prior is not None:
        numbers = parse_floats(blrm_prior, "--blrm-prior")
        if len(numbers) != 5:
            raise CliError(
                "--blrm-prior needs 5 numbers: mean log α, mean log β, sd log α, sd log β, "
                f"correlation (got {len(numbers)})"
            )
        out["blrm_prior"] = BLRMPrior(*numbers)
    floor = out.get("efficacy_floor")
    if floor is not None and not 0.0 < float(floor) < 1.0:  # type: ignore[arg-type]
        raise CliError(f"--efficacy-floor must be in (0, 1), got {floor}")
    window = out.get("window_days")
    if window is not None and float(window) <= 0:  # type: ignore[arg-type]
        raise CliError(f"--window-days must be positive, got {window}")
    return out


def efficacy_decision(
    spec: DesignSpec,
    proto: Protocol | None,
    patients: Path | None,
    outcomes: str | None,
    stored: EfficacyState | None = None,
) -> tuple[Decision, DesignResult]:
    """``decide`` for a toxicity-and-efficacy design: responses from the stored trial
    (``stored``, the snapshot's state), ``--patients`` (a ``response`` column) or
    ``--outcomes`` letters E/T/B/N; levels named by the protocol."""
    from oncotrial.cli.patients import read_efficacy_patients
    from oncotrial.designs.efficacy import EfficacyState, parse_efficacy_outcomes
    from oncotrial.designs.registry import build_design
    from oncotrial.designs.result import result_of
    from oncotrial.protocol.naming import DoseNames

    if stored is not None:
        state = stored
    else:
        labels = proto.level_labels if proto else None
        people = (
            read_efficacy_patients(patients, spec.n_doses, labels)
            if patients is not None
            else parse_efficacy_outcomes(outcomes or "", spec.n_doses)
        )
        state = EfficacyState(
            spec.n_doses, people, None, spec.window_days, spec.efficacy_window_days
        )
    names = DoseNames.of(proto, spec.n_doses)
    design = build_design(spec)
    decision = design.decide(state, names)  # type: ignore[call-arg, arg-type]
    return decision, result_of(design, state, decision)


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
    with user_errors():
        proto = read_protocol(protocol)
        assert proto is not None
        specs, scenarios, results = compare_designs(
            proto, trials, seed, workers, fmt is OutputFormat.text
        )
        labels = dose_labels(proto, proto.n_doses)
        if plot is not None:
            from oncotrial.report.oc_plot import plot_operating_characteristics  # matplotlib

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
