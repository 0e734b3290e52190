"""Commands a dose-escalation committee uses: the decision table, the next dose, the pathways."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table
from rich.tree import Tree

from oncotrial.cli.common import (
    CliError,
    FormatOption,
    OutputFormat,
    console,
    design_spec,
    dose_labels,
    emit_json,
    progress_bar,
    read_protocol,
    user_errors,
)
from oncotrial.cli.patients import read_patients
from oncotrial.cli.simulation import (
    DontSkipDownOption,
    DontSkipOption,
    ExtraSafeOption,
    MtdSelectionOption,
    StopAtNOption,
    StopWhenNAtDoseOption,
)

if TYPE_CHECKING:
    from oncotrial.conduct.phase1 import Phase1Snapshot
    from oncotrial.designs.exact import PathNode
    from oncotrial.designs.registry import DesignSpec
    from oncotrial.protocol.model import Protocol

TABLE_DESIGNS = ("boin", "tite-boin", "keyboard", "mtpi2", "i3+3")

ProtocolOption = typer.Option(
    None, "--protocol", "-p", help="Protocol YAML (e.g. protocols/toripalimab-donafenib-hcc.yaml)."
)
DesignOption = typer.Option(None, "--design", help="3+3, boin, tite-boin, crm, tite-crm, ...")
TargetOption = typer.Option(None, "--target", help="Target DLT probability, e.g. 0.3.")
CohortSizeOption = typer.Option(None, "--cohort-size", help="Patients per cohort.")
CohortsOption = typer.Option(None, "--cohorts", help="Maximum number of cohorts.")
StartOption = typer.Option(None, "--start-level", help="Starting dose (1-based index).")
SkeletonOption = typer.Option(None, "--skeleton", help="CRM skeleton, e.g. 0.05,0.1,0.2,0.35.")
ModelOption = typer.Option(None, "--model", help="CRM model: empiric or logistic.")
PriorVarOption = typer.Option(None, "--prior-var", help="CRM prior variance of beta (1.34).")
DosesOption = typer.Option(None, "--doses", help="Number of dose levels (without a protocol).")
EfficacyFloorOption = typer.Option(
    None, "--efficacy-floor", help="boin12: lowest acceptable response rate φE (0.25)."
)
DoseAmountsOption = typer.Option(
    None, "--dose-amounts", help="blrm: dose amount of each level, e.g. 100,200,400,600 (mg/day)."
)
ReferenceDoseOption = typer.Option(
    None, "--reference-dose", help="blrm: reference dose d* in the same unit, e.g. 400."
)


def boundaries(
    design: str = typer.Option("boin", "--design", help="boin, tite-boin, keyboard, mtpi2, i3+3."),
    target: float = typer.Option(0.3, "--target", help="Target DLT probability."),
    cohort_size: int = typer.Option(3, "--cohort-size", help="Patients per cohort."),
    cohorts: int = typer.Option(10, "--cohorts", help="Number of cohorts (table up to N)."),
    fmt: OutputFormat = FormatOption,
) -> None:
    """Print the design's decision table for n = 1..N patients at a dose: escalate if the
    number of DLTs is at most the first row, de-escalate if at least the second, eliminate the
    dose (and all above) if at least the third. Put this table in the protocol."""
    from oncotrial.designs.boin import BOIN
    from oncotrial.designs.registry import DesignSpec, build_design

    with user_errors():
        if design.lower() not in TABLE_DESIGNS:
            raise CliError(
                f"--design: no decision table for '{design}' (use {', '.join(TABLE_DESIGNS)})"
            )
        spec = DesignSpec(
            name=design, n_doses=2, target=target, cohort_size=cohort_size, n_cohorts=cohorts
        )
        built = build_design(spec)
        table = built.decision_table(cohort_size * cohorts)  # type: ignore[attr-defined]
        data = table.to_json()
        title = f"{design} decision table, target {target:g}"
        if isinstance(built, BOIN):
            bounds = built.boundaries()
            data.update(lambda_e=bounds.lambda_e, lambda_d=bounds.lambda_d)
            title += f" (λe = {bounds.lambda_e:.4f}, λd = {bounds.lambda_d:.4f})"
        if fmt is OutputFormat.json:
            emit_json(data)
            return
        out = Table(title=title)
        out.add_column("patients at dose", justify="left")
        for n in data["n"]:
            out.add_column(str(n), justify="right")
        out.add_row("escalate if DLTs ≤", *[_cell(v) for v in data["escalate"]])
        out.add_row("de-escalate if DLTs ≥", *[_cell(v) for v in data["deescalate"]])
        out.add_row("eliminate if DLTs ≥", *[_cell(v) for v in data["eliminate"]])
        console.print(out)


def _cell(value: int | None) -> str:
    return "—" if value is None or value < 0 else str(value)


def decide(
    protocol: Path | None = ProtocolOption,
    patients: Path | None = typer.Option(
        None,
        "--patients",
        help="CSV or JSON, one row per patient: dose_index or level, dlt, "
        "optional dlt_day and followup_days (blank = window complete).",
    ),
    outcomes: str | None = typer.Option(
        None, "--outcomes", help='Compact outcomes, e.g. "1NNN 2NTN" (dose, then T/N per patient).'
    ),
    design: str | None = DesignOption,
    target: float | None = TargetOption,
    cohort_size: int | None = CohortSizeOption,
    cohorts: int | None = CohortsOption,
    start_level: int | None = StartOption,
    skeleton: str | None = SkeletonOption,
    model: str | None = ModelOption,
    prior_var: float | None = PriorVarOption,
    doses: int | None = DosesOption,
    efficacy_floor: float | None = EfficacyFloorOption,
    dose_amounts: str | None = DoseAmountsOption,
    reference_dose: float | None = ReferenceDoseOption,
    stop_at_n: int | None = StopAtNOption,
    stop_when_n_at_dose: int | None = StopWhenNAtDoseOption,
    dont_skip: bool | None = DontSkipOption,
    dont_skip_down: bool | None = DontSkipDownOption,
    mtd_selection: str | None = MtdSelectionOption,
    extrasafe: bool | None = ExtraSafeOption,
    db: str | None = typer.Option(
        None,
        "--db",
        help="Read phase I from the trial database instead of a file: a SQLite file path "
        "or a URL (postgresql+psycopg://user@host/trial). Uses the shipped protocol unless "
        "--protocol is given.",
    ),
    as_of: str | None = typer.Option(
        None,
        "--as-of",
        help="With --db: the date the data are read as of (YYYY-MM-DD; default today). "
        "Patients dosed less than the DLT window before it are pending.",
    ),
    save_patients: Path | None = typer.Option(
        None,
        "--save-patients",
        help="With --db: also write the design's patients as a CSV that --patients reads.",
    ),
    fmt: OutputFormat = FormatOption,
) -> None:
    """Recommend the next dose from the patients so far, and say why (counts, boundaries
    crossed, posterior estimates). Give the patients as --patients FILE, --outcomes TEXT or
    --db DATABASE (the stored trial: cohort slots, first doses, DLT assessments).
    Without --protocol (and without --db) give the design options directly.
    boin12, tite-boin12 and bf-boin also read responses: --outcomes "1NEN 2BTN" (E response,
    T DLT, B both, N neither) or a response column in --patients."""
    from oncotrial.cli.simulation import design_extra, efficacy_decision
    from oncotrial.designs.base import TrialState
    from oncotrial.designs.names import EFFICACY_DESIGNS
    from oncotrial.designs.outcomes import parse_outcomes
    from oncotrial.designs.registry import build_design
    from oncotrial.designs.result import result_of

    with user_errors():
        if db is not None:
            if patients is not None or outcomes is not None:
                raise CliError("give one of --db, --patients FILE or --outcomes, not several")
            if protocol is None:
                from oncotrial.cli.main import shipped_protocol

                protocol = shipped_protocol()
        elif as_of is not None or save_patients is not None:
            raise CliError("--as-of and --save-patients need --db")
        proto = read_protocol(protocol)
        extra = design_extra(
            efficacy_floor=efficacy_floor,
            dose_amounts=dose_amounts,
            reference_dose=reference_dose,
            stop_at_n=stop_at_n,
            stop_when_n_at_dose=stop_when_n_at_dose,
            dont_skip=dont_skip,
            dont_skip_down=dont_skip_down,
            mtd_selection=mtd_selection,
        )
        spec = design_spec(
            proto,
            design=design,
            target=target,
            cohort_size=cohort_size,
            cohorts=cohorts,
            start_level=start_level,
            extrasafe=extrasafe,
            skeleton=skeleton,
            model=model,
            prior_var=prior_var,
            n_doses=doses,
            extra=extra,
        )
        snapshot = None
        if db is not None:
            assert proto is not None
            snapshot = _stored_snapshot(db, proto, spec, as_of)
            if save_patients is not None:
                save_patients.write_text(snapshot.patients_csv(), encoding="utf-8")
        elif (patients is None) == (outcomes is None):
            raise CliError('give exactly one of --patients FILE or --outcomes "1NNN 2NTN"')
        if spec.name.lower() in EFFICACY_DESIGNS:
            stored = None if snapshot is None else snapshot.state
            decision, result = efficacy_decision(spec, proto, patients, outcomes, stored)
        else:
            if snapshot is not None:
                people = snapshot.state.patients
            elif patients is not None:
                labels = proto.level_labels if proto else None
                people = read_patients(patients, spec.n_doses, labels)
            else:
                people = parse_outcomes(outcomes or "", spec.n_doses)
            state = TrialState(n_doses=spec.n_doses, patients=people, window_days=spec.window_days)
            built = build_design(spec)
            decision = built.decide(state)
            result = result_of(built, state, decision)
        labels = dose_labels(proto, spec.n_doses)
        data = {"design": spec.name, **decision.to_json(), "result": result.to_json()}
        if proto is not None and decision.next_dose is not None:
            data["next_level"] = proto.level_labels[decision.next_dose]
        if snapshot is not None:
            data["snapshot"] = {
                "as_of": snapshot.as_of.isoformat(),
                "snapshot_hash": snapshot.snapshot_hash,
                "counts": snapshot.counts(),
                "patients": [row.to_json() for row in snapshot.rows],
            }
        if fmt is OutputFormat.json:
            emit_json(data)
            return
        if snapshot is not None:
            counts = snapshot.counts()
            console.print(
                f"stored phase I as of {snapshot.as_of.isoformat()}: "
                f"{sum(counts['treated'])} treated, {sum(counts['pending'])} pending, "
                f"{sum(counts['dlts'])} DLT(s); snapshot {snapshot.snapshot_hash[:12]}",
                highlight=False,
            )
        if decision.next_dose is not None:
            head = f"next dose: {labels[decision.next_dose]}"
        else:
            head = "stop the trial"
        if decision.mtd is not None:
            head += f"; MTD: {labels[decision.mtd]}"
        if decision.accrual_suspended:
            head += " (accrual suspended)"
        console.print(f"[bold]{spec.name}[/]: {head}")
        reason = decision.reason
        if proto is not None:
            from oncotrial.protocol.naming import DoseNames
            from oncotrial.report.formatting import name_levels

            reason = name_levels(reason, DoseNames.of(proto))
        console.print(f"why: {reason}", highlight=False)
        if decision.eliminated:
            console.print("eliminated: " + ", ".join(labels[d] for d in decision.eliminated))
        if "ptox" in decision.details:
            ptox = ", ".join(f"{labels[i]} {p:.3f}" for i, p in enumerate(decision.details["ptox"]))
            console.print(f"estimated DLT probabilities: {ptox}")


def _stored_snapshot(
    db: str, proto: Protocol, spec: DesignSpec, as_of: str | None
) -> Phase1Snapshot:
    """Phase I as the database holds it (read-only), as of ``as_of``."""
    from oncotrial.cli.db import open_store
    from oncotrial.conduct.phase1 import phase1_snapshot

    day = None
    if as_of is not None:
        try:
            day = date.fromisoformat(as_of)
        except ValueError:
            raise CliError(f"--as-of: '{as_of}' is not a date (YYYY-MM-DD)") from None
    store = open_store(db)
    try:
        return phase1_snapshot(store, proto, day, spec=spec)
    finally:
        store.close()


def paths(
    protocol: Path | None = ProtocolOption,
    cohorts: int = typer.Option(2, "--cohorts", help="How many future cohorts to enumerate."),
    outcomes: str | None = typer.Option(
        None, "--outcomes", help='Outcomes so far, e.g. "2NNN" (default: trial start).'
    ),
    design: str | None = DesignOption,
    target: float | None = TargetOption,
    cohort_size: int | None = CohortSizeOption,
    start_level: int | None = StartOption,
    skeleton: str | None = SkeletonOption,
    doses: int | None = DosesOption,
    fmt: OutputFormat = FormatOption,
) -> None:
    """Enumerate every possible outcome of the next cohorts and the decision each leads to
    (the dose-transition pathways protocols and committees tabulate)."""
    from oncotrial.designs.base import TrialState
    from oncotrial.designs.exact import dose_paths
    from oncotrial.designs.outcomes import parse_outcomes
    from oncotrial.designs.registry import build_design

    with user_errors():
        if cohorts < 1 or cohorts > 6:
            raise CliError("--cohorts must be between 1 and 6 (the tree grows fast)")
        proto = read_protocol(protocol)
        spec = design_spec(
            proto,
            design=design,
            target=target,
            cohort_size=cohort_size,
            start_level=start_level,
            skeleton=skeleton,
            n_doses=doses,
        )
        people = parse_outcomes(outcomes, spec.n_doses) if outcomes else ()
        state = TrialState(n_doses=spec.n_doses, patients=people, window_days=spec.window_days)
        with progress_bar("enumerating outcomes", fmt is OutputFormat.text) as update:
            table = dose_paths(build_design(spec), state, cohorts, spec.cohort_size, update)
        labels = dose_labels(proto, spec.n_doses)
        if fmt is OutputFormat.json:
            emit_json({"design": spec.name, "from": outcomes or "", "paths": table.rows()})
            return
        root = table.root
        first = "stop" if root.next_dose is None else f"treat at {labels[root.next_dose]}"
        tree = Tree(f"[bold]{spec.name}[/] from '{outcomes or 'start'}': {first}")

        def add(parent: Tree, node: PathNode) -> None:
            d = node.decision
            what = f"→ {labels[d.next_dose]}" if d.next_dose is not None else "→ stop"
            if d.mtd is not None:
                what += f" (MTD {labels[d.mtd]})"
            if d.accrual_suspended:
                what += " (wait)"
            branch = parent.add(f"{node.outcome_code()} {what}")
            for child in node.children:
                add(branch, child)

        for node in table.branches:
            add(tree, node)
        console.print(tree)
