"""What every command shares: output format, error reporting, protocol and design options."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

if TYPE_CHECKING:
    from oncotrial.designs.registry import DesignSpec
    from oncotrial.protocol import Protocol

#: stdout console; when piped, a wide fixed width keeps tables on one line each
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True)


class OutputFormat(StrEnum):
    text = "text"
    json = "json"


FormatOption = typer.Option(
    OutputFormat.text, "--format", help="text for people, json for machines."
)


class CliError(Exception):
    """A user-facing error: printed without a traceback, exit status 2."""


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the library's typed errors into one clear line on stderr and exit status 2."""
    try:
        yield
    except (CliError, ValueError, KeyError, OSError, *_library_errors()) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        print_error(str(message))
        raise typer.Exit(code=2) from None


def _library_errors() -> tuple[type[Exception], ...]:
    """The design and protocol errors, imported when an error is being handled (the command's
    own imports have loaded them by then; ``--help`` never needs them)."""
    from oncotrial.designs.base import DesignError
    from oncotrial.protocol import ProtocolError

    return (DesignError, ProtocolError)


def print_error(message: str) -> None:
    """``error: message`` on stderr as plain lines: never wrapped at the terminal width and
    never read as markup (a path such as ``data/[site1]/ae.csv`` is printed as it is)."""
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()


def emit_json(data: Any) -> None:
    """Print JSON to stdout (no colour, no wrapping)."""
    sys.stdout.write(json.dumps(data, indent=2, default=_json_default) + "\n")


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def parse_floats(text: str, option: str) -> list[float]:
    """A comma-separated list of numbers from an option, with an error naming the option."""
    try:
        values = [float(x) for x in text.replace(" ", "").split(",") if x != ""]
    except ValueError:
        raise CliError(f"{option}: '{text}' is not a comma-separated list of numbers") from None
    if not values:
        raise CliError(f"{option}: no numbers given")
    return values


def read_protocol(path: Path | None) -> Protocol | None:
    if path is None:
        return None
    from oncotrial.protocol import load_protocol  # pydantic: only when a protocol is read

    return load_protocol(path)


def design_spec(
    protocol: Protocol | None,
    *,
    design: str | None = None,
    target: float | None = None,
    cohort_size: int | None = None,
    cohorts: int | None = None,
    start_level: int | None = None,
    extrasafe: bool | None = None,
    n_earlystop: int | None = None,
    skeleton: str | None = None,
    model: str | None = None,
    prior_var: float | None = None,
    n_doses: int | None = None,
    extra: dict[str, Any] | None = None,
) -> DesignSpec:
    """The design from the protocol (if any), with command-line options taking precedence.

    ``start_level`` is the 1-based index of the starting dose among the design's levels;
    ``extra`` holds further :class:`DesignSpec` fields given on the command line (``None``
    values are left to the protocol or the defaults).
    """
    from oncotrial.designs.registry import DESIGN_NAMES, DesignSpec, spec_from_protocol

    if design is not None and design.lower() not in DESIGN_NAMES:
        raise CliError(f"--design: unknown design '{design}' (known: {', '.join(DESIGN_NAMES)})")
    skel = tuple(parse_floats(skeleton, "--skeleton")) if skeleton else None
    if protocol is not None:
        spec = spec_from_protocol(protocol, design)
    else:
        doses = n_doses or (len(skel) if skel else None)
        if doses is None:
            raise CliError("how many dose levels? give --protocol, --skeleton, --truth or --doses")
        spec = DesignSpec(name=design or "boin", n_doses=doses)
    updates: dict[str, Any] = {}
    for key, value in (
        ("target", target),
        ("cohort_size", cohort_size),
        ("n_cohorts", cohorts),
        ("extrasafe", extrasafe),
        ("n_earlystop", n_earlystop),
        ("model", model),
        ("prior_var", prior_var),
        ("skeleton", skel),
        *(extra or {}).items(),
    ):
        if value is not None:
            updates[key] = value
    if start_level is not None:
        if not 1 <= start_level <= spec.n_doses:
            raise CliError(f"--start-level: {start_level} is outside 1..{spec.n_doses}")
        updates["start"] = start_level - 1
    if skel is not None and len(skel) != spec.n_doses:
        raise CliError(f"--skeleton has {len(skel)} values for {spec.n_doses} dose levels")
    return replace(spec, **updates)


def dose_labels(protocol: Protocol | None, n_doses: int) -> list[str]:
    """How doses are shown: protocol labels ('level -1') or 1-based indices."""
    if protocol is not None:
        return [f"L{label}" for label in protocol.level_labels]
    return [str(i + 1) for i in range(n_doses)]


@contextmanager
def progress_bar(description: str, enabled: bool = True) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar on stderr; yields ``update(done, total)``."""
    from rich.progress import (
        BarColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    if not enabled:
        yield lambda done, total: None
        return
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    ) as progress:
        task = progress.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield update
