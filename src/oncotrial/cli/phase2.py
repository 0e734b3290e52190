"""``oncotrial design``: phase II sample sizes for a response-rate endpoint (Simon, BOP2)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.table import Table

from oncotrial.cli.common import (
    CliError,
    FormatOption,
    OutputFormat,
    console,
    emit_json,
    err_console,
    parse_floats,
    progress_bar,
    user_errors,
)

if TYPE_CHECKING:
    from oncotrial.designs.phase2 import Bop2Design


design_app = typer.Typer(
    help="Phase II sample sizes for a yes/no endpoint such as objective response: Simon's "
    "two-stage design and the Bayesian optimal phase II (BOP2) design.",
    no_args_is_help=True,
)

P0Option = typer.Option(
    ...,
    "--p0",
    help="Response rate too low to be worth pursuing (the null hypothesis H0: p ≤ p0), "
    "e.g. 0.2 for 20 %.",
)
P1Option = typer.Option(
    ...,
    "--p1",
    help="Response rate the drug is hoped to reach; power is computed at this rate. Must be "
    "above --p0, e.g. 0.4.",
)
AlphaOption = typer.Option(
    0.05,
    "--alpha",
    help="Type I error: the largest acceptable chance of calling the drug promising when its "
    "true response rate is only p0 (between 0 and 1).",
)


def _check_inputs(p0: float, p1: float, alpha: float) -> None:
    for option, value in (("--p0", p0), ("--p1", p1), ("--alpha", alpha)):
        if not 0.0 < value < 1.0:
            raise CliError(f"{option} = {value:g} must be strictly between 0 and 1")
    if p0 >= p1:
        raise CliError(f"--p0 = {p0:g} must be below --p1 = {p1:g}")


@design_app.command()
def simon(
    p0: float = P0Option,
    p1: float = P1Option,
    alpha: float = AlphaOption,
    power: float = typer.Option(
        0.8,
        "--power",
        help="The smallest acceptable chance of calling the drug promising when its true "
        "response rate is p1 (1 − type II error), e.g. 0.8.",
    ),
    nmax: int = typer.Option(
        100, "--nmax", help="Largest total number of patients to search (at most 1000)."
    ),
    fmt: OutputFormat = FormatOption,
) -> None:
    """Simon's two-stage design (Simon 1989): treat n1 patients and stop if at most r1 respond;
    otherwise treat up to n in all and call the drug promising if more than r respond. Prints
    the optimal design (fewest patients on average if the drug is inactive), the minimax design
    (fewest patients at most) and the admissible compromises between them (Jung et al. 2004),
    as R clinfun::ph2simon."""
    from oncotrial.designs.phase2 import simon_two_stage

    with user_errors():
        _check_inputs(p0, p1, alpha)
        if not 0.0 < power < 1.0:
            raise CliError(f"--power = {power:g} must be strictly between 0 and 1")
        with progress_bar("searching two-stage designs", fmt is OutputFormat.text) as update:
            result = simon_two_stage(p0, p1, alpha, power, nmax, progress=update)
        if result.near_nmax:
            err_console.print(
                f"[yellow]warning:[/] the optimal n = {result.optimal.n} is close to --nmax "
                f"{nmax}; a larger --nmax may find a smaller expected size"
            )
        if fmt is OutputFormat.json:
            emit_json(result.to_json())
            return
        table = Table(
            title=f"Simon two-stage designs: p0 {p0:g}, p1 {p1:g}, "
            f"type I error ≤ {alpha:g}, power ≥ {power:g}"
        )
        for name in ("design", "stage 1: stop if ≤ r1/n1", "end: promising if > r/n"):
            table.add_column(name)
        for name in ("EN(p0)", "PET(p0)", "type I error", "power", "best for q in"):
            table.add_column(name, justify="right")
        for adm in result.admissible:
            d = adm.design
            table.add_row(
                adm.label,
                f"{d.r1}/{d.n1}",
                f"{d.r}/{d.n}",
                f"{d.en_p0:.2f}",
                f"{d.pet_p0:.3f}",
                f"{d.alpha:.4f}",
                f"{d.power:.4f}",
                f"[{adm.q_low:.3f}, {adm.q_high:.3f}]",
            )
        console.print(table)
        console.print(
            "EN(p0): expected number of patients and PET(p0): chance of stopping after stage 1, "
            "both if the true rate is p0. q weighs the maximum n against EN(p0): the design "
            "minimises q·n + (1 − q)·EN(p0) for q in the range shown.",
            highlight=False,
        )


def _looks(text: str | None, n: int) -> list[int]:
    if n < 1:
        raise CliError(f"--n = {n} must be a positive number of patients")
    if text is None:
        return sorted({*range(10, n, 10), n})
    values = parse_floats(text, "--looks")
    if any(v != int(v) or v < 1 for v in values):
        raise CliError(f"--looks: '{text}' must be whole numbers of patients")
    looks = [int(v) for v in values]
    if any(b <= a for a, b in zip(looks, looks[1:], strict=False)):
        raise CliError(f"--looks: '{text}' must increase")
    if looks[-1] > n:
        raise CliError(f"--looks: {looks[-1]} patients is beyond --n {n}")
    return looks if looks[-1] == n else [*looks, n]


def _print_bop2(design: Bop2Design, calibrated: bool) -> None:
    how = "calibrated" if calibrated else "given"
    table = Table(
        title=f"BOP2: p0 {design.p0:g}, p1 {design.p1:g}, N {design.n}; "
        f"λ = {design.lam:g}, γ = {design.gamma:g} ({how})"
    )
    table.add_column("look")
    table.add_column("patients", justify="right")
    table.add_column("stop if responses ≤", justify="right")
    table.add_column("P(stop) at p0", justify="right")
    table.add_column("P(stop) at p1", justify="right")
    last = len(design.looks) - 1
    for j, (n, k) in enumerate(zip(design.looks, design.boundaries, strict=True)):
        stop0 = "" if j == last else f"{design.null.stop_by_look[j]:.3f}"
        stop1 = "" if j == last else f"{design.alternative.stop_by_look[j]:.3f}"
        table.add_row(str(j + 1), str(n), "—" if k < 0 else str(k), stop0, stop1)
    console.print(table)
    k = design.boundaries[-1]
    console.print(
        f"At {design.n} patients the drug is promising (H0 rejected) with more than {k} "
        f"responses. Prior Beta({design.prior_a:g}, {design.prior_b:g}).\n"
        f"type I error {design.type_i_error:.4f}, power {design.power:.4f}; "
        f"expected patients {design.null.expected_n:.1f} at p0, "
        f"{design.alternative.expected_n:.1f} at p1; "
        f"early stop {design.null.early_stop:.3f} at p0, {design.alternative.early_stop:.3f} at p1",
        highlight=False,
    )


@design_app.command()
def bop2(
    p0: float = P0Option,
    p1: float = P1Option,
    n: int = typer.Option(40, "--n", help="Maximum number of patients in the trial."),
    looks: str | None = typer.Option(
        None,
        "--looks",
        help="Cumulative numbers of patients at which the responses are counted, e.g. "
        "10,20,30,40; --n is added as the final analysis (default: every 10 patients).",
    ),
    alpha: float = AlphaOption,
    lam: float | None = typer.Option(
        None,
        "--lambda",
        help="Use this λ (with --gamma) instead of calibrating: stop if "
        "P(rate ≤ p0 | data) > 1 − λ·(patients/N)^γ.",
    ),
    gamma: float | None = typer.Option(
        None, "--gamma", help="Use this γ (with --lambda) instead of calibrating."
    ),
    prior_a: float | None = typer.Option(
        None,
        "--prior-a",
        help="Beta prior's first parameter (default p0: a prior with mean p0 that weighs as "
        "much as one patient).",
    ),
    prior_b: float | None = typer.Option(
        None, "--prior-b", help="Beta prior's second parameter (default 1 − p0)."
    ),
    fmt: OutputFormat = FormatOption,
) -> None:
    """Bayesian optimal phase II design (Zhou, Lee & Yuan 2017): at each look, stop for futility
    if the posterior probability that the response rate is at most p0 exceeds
    1 − λ·(patients/N)^γ; λ and γ are chosen to give the most power at p1 with type I error at
    most --alpha. Prints the stopping boundaries, λ, γ, type I error, power and the expected
    number of patients, all computed exactly."""
    from oncotrial.designs.phase2 import bop2_design, calibrate_bop2

    with user_errors():
        _check_inputs(p0, p1, alpha)
        cum = _looks(looks, n)
        if (lam is None) != (gamma is None):
            raise CliError("give both --lambda and --gamma, or neither to calibrate them")
        if lam is None or gamma is None:
            with progress_bar("calibrating λ and γ", fmt is OutputFormat.text) as update:
                design = calibrate_bop2(p0, p1, cum, alpha, prior_a, prior_b, progress=update)
        else:
            design = bop2_design(p0, p1, cum, lam, gamma, prior_a, prior_b)
        if fmt is OutputFormat.json:
            emit_json({**design.to_json(), "alpha": alpha, "calibrated": lam is None})
            return
        _print_bop2(design, lam is None)
