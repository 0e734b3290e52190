"""The audit-trail commands: ``audit verify``, ``checkpoint``, ``keygen``, ``head``, ``export``."""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
from oncotrial.cli.db import DbOption, open_store

audit_app = typer.Typer(
    help="The audit trail: check that nothing changed behind the application's back, anchor "
    "its head outside the database, export it for inspectors.",
    no_args_is_help=True,
)


def command(name: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register an ``audit`` command whose help is its docstring with each paragraph on one
    line, so that the help re-flows to the terminal's width instead of keeping the source's
    line breaks."""

    def register(function: Callable[..., None]) -> Callable[..., None]:
        paragraphs = inspect.cleandoc(function.__doc__ or "").split("\n\n")
        flowed = "\n\n".join(" ".join(paragraph.split()) for paragraph in paragraphs)
        return audit_app.command(name, help=flowed)(function)

    return register


LimitOption = typer.Option(
    50, "--limit", min=1, help="How many problems of each kind to list (all are counted)."
)


def _echo_list(title: str, items: list[Any], count: int) -> None:
    typer.echo(title)
    for item in items:
        typer.echo(f"  {item}")
    if count > len(items):
        typer.echo(f"  … and {count - len(items)} more (raise --limit, or use --format json)")


def _print_check(result: Any) -> None:
    typer.echo(f"{result.head}; checked in {result.seconds:.1f} s")
    chain = result.chain
    if chain.ok:
        typer.echo(f"hash chain: {chain}")
    else:
        _echo_list(
            f"hash chain: {chain.problem_count} problem(s) in {chain.rows_checked} rows",
            list(chain.problems),
            chain.problem_count,
        )
    tables = result.reconciliation
    if tables.ok:
        typer.echo(f"tables: {tables}")
    else:
        _echo_list(f"tables: {tables}", list(tables.discrepancies), tables.discrepancy_count)
    for checkpoint in result.checkpoints:
        typer.echo(f"checkpoint {checkpoint}")


def _status(ok: bool, good: str, bad: str) -> None:
    style = "green" if ok else "bold red"
    console.print(good if ok else bad, style=style, highlight=False, markup=False)


@command("verify")
def audit_verify(
    db: str = DbOption,
    checkpoint: list[Path] = typer.Option(
        None,
        "--checkpoint",
        help="A checkpoint file from `oncotrial audit checkpoint` (repeat for several): the "
        "trail must still hold the head it anchored.",
        dir_okay=False,
    ),
    key: Path | None = typer.Option(
        None,
        "--key",
        help="The public key (KEY.pub from `oncotrial audit keygen`) that signed the checkpoints.",
        dir_okay=False,
    ),
    limit: int = LimitOption,
    fmt: OutputFormat = FormatOption,
) -> None:
    """Check that nothing changed behind the application's back (exit status 1 if anything did).

    Three checks, in one snapshot of the database: (1) the SHA-256 hash chain is recomputed
    (audit rows altered, removed or added); (2) the trail is replayed against every audited
    table (rows inserted, changed or deleted by raw SQL, named by table, record, subject and
    field); (3) with --checkpoint and --key, the trail must still hold each signed head (a
    trail rewritten or cut short since the checkpoint, even with the triggers dropped).
    """
    with user_errors():
        from oncotrial.store.audit_check import check_audit

        store = open_store(db)
        try:
            with progress_bar("verifying the audit trail", fmt is OutputFormat.text) as update:
                result = check_audit(
                    store.engine,
                    checkpoints=checkpoint or [],
                    key=key,
                    limit=limit,
                    progress=update,
                )
        finally:
            store.close()
        if fmt is OutputFormat.json:
            data = result.as_dict()
            data["message"] = "audit trail verified" if result.ok else "audit trail NOT verified"
            emit_json(data)
        else:
            _print_check(result)
            _status(
                result.ok,
                "audit trail verified: chain intact, tables reconcile"
                + (", checkpoints hold" if result.checkpoints else ""),
                "audit trail NOT verified: see the problems above",
            )
        if not result.ok:
            raise typer.Exit(code=1)


@command("checkpoint")
def audit_checkpoint(
    db: str = DbOption,
    key: Path = typer.Option(
        ...,
        "--key",
        help="The private key from `oncotrial audit keygen` (kept away from the database).",
        dir_okay=False,
    ),
    out: Path = typer.Option(
        ...,
        "--out",
        help="The checkpoint file to write (a new file; keep it off the server).",
        dir_okay=False,
    ),
    limit: int = LimitOption,
    fmt: OutputFormat = FormatOption,
) -> None:
    """Sign the head of a verified trail into a file kept outside the database.

    The file holds the head (sequence number, hash), the UTC time, which database it is, and a
    short digest of every row, signed with the Ed25519 key from `audit keygen`. A later
    `audit verify --checkpoint FILE --key KEY.pub` then finds the trail rewritten or truncated,
    even by someone who dropped the append-only triggers, and names the first row concerned.
    A trail that fails the check gets no checkpoint (exit status 1).
    """
    with user_errors():
        from oncotrial.store.audit_check import take_checkpoint

        store = open_store(db)
        try:
            with progress_bar("checking, then signing", fmt is OutputFormat.text) as update:
                update(0, 1)
                result, written = take_checkpoint(store.engine, key, out, limit=limit)
                update(1, 1)
        finally:
            store.close()
        if fmt is OutputFormat.json:
            data: dict[str, Any] = {"ok": written is not None, "check": result.as_dict()}
            if written is not None:
                data["checkpoint"] = {
                    "file": str(out),
                    "seq": written.seq,
                    "hash": written.hash,
                    "created_at": written.created_at,
                    "key_id": written.key_id,
                    "database": written.database,
                }
            emit_json(data)
        else:
            if written is None:
                _print_check(result)
            else:
                typer.echo(str(written))
            _status(
                written is not None,
                f"checkpoint written: {out}",
                "no checkpoint: the audit trail does not verify (see the problems above)",
            )
        if written is None:
            raise typer.Exit(code=1)


def _inside_git_work_tree(path: Path) -> bool:
    return any((parent / ".git").exists() for parent in path.resolve().parents)


@command("keygen")
def audit_keygen(
    out: Path = typer.Option(
        ...,
        "--out",
        help="Where to write the private key; the public key goes beside it as OUT.pub.",
        dir_okay=False,
    ),
    fmt: OutputFormat = FormatOption,
) -> None:
    """Make the Ed25519 key pair that signs and verifies checkpoints.

    The private key (OUT, mode 0600) signs: keep it away from the database server and out of
    any repository. The public key (OUT.pub) verifies: give it to monitors and inspectors; it
    cannot make a checkpoint. Existing files are never overwritten.
    """
    with user_errors():
        from oncotrial.store.checkpoint import generate_key

        keys = generate_key(out)
        if _inside_git_work_tree(keys.private):
            sys.stderr.write(
                f"warning: {keys.private} is inside a git work tree; never commit it\n"
            )
        if fmt is OutputFormat.json:
            emit_json(
                {
                    "private_key": str(keys.private),
                    "public_key": str(keys.public),
                    "key_id": keys.key_id,
                }
            )
            return
        typer.echo(f"private key (signs checkpoints; keep it secret): {keys.private}")
        typer.echo(f"public key (verifies checkpoints; share it):    {keys.public}")
        typer.echo(f"key id: {keys.key_id}")


@command("head")
def audit_head_command(db: str = DbOption, fmt: OutputFormat = FormatOption) -> None:
    """Print the head of the audit chain: its last sequence number and SHA-256 hash.

    Two equal heads mean the same trail; a report or an export names the head it was made from.
    """
    with user_errors():
        from oncotrial.store.chain import audit_head

        store = open_store(db)
        try:
            head = audit_head(store.engine)
        finally:
            store.close()
        if fmt is OutputFormat.json:
            emit_json({"seq": head.seq, "hash": head.hash})
        else:
            typer.echo(f"audit head {head.seq}, sha256 {head.hash}")


@command("export")
def audit_export(
    db: str = DbOption,
    out: Path = typer.Option(
        ..., "--out", help="The file to write (audit.csv, audit.json).", dir_okay=False
    ),
    output_format: str | None = typer.Option(
        None,
        "--output-format",
        help="csv or json (default: from the file's suffix, else csv).",
    ),
    table: str | None = typer.Option(
        None, "--table", help="Only this table: a name (subjects) or an SDTM domain (TR)."
    ),
    record: str | None = typer.Option(None, "--record", help="Only this record id."),
    fmt: OutputFormat = FormatOption,
) -> None:
    """Export the audit trail as CSV or JSON for inspectors (21 CFR 11.10(b), (e)).

    Every column of every row: who, when (UTC), what, old and new value, why, and the hashes,
    so the chain can be recomputed without oncotrial. CSV quotes every text, so an unquoted
    empty cell is null.
    """
    with user_errors():
        from oncotrial.store.audit_export import export_audit

        chosen = output_format or ("json" if out.suffix.lower() == ".json" else "csv")
        if chosen not in ("csv", "json"):
            raise CliError(f"--output-format: '{chosen}' is not csv or json")
        store = open_store(db)
        try:
            with progress_bar("exporting the audit trail", fmt is OutputFormat.text) as update:
                result = export_audit(
                    store.engine,
                    out,
                    chosen,  # type: ignore[arg-type]
                    table=table,
                    record_id=record,
                    progress=update,
                )
        finally:
            store.close()
        if fmt is OutputFormat.json:
            emit_json(
                {
                    "file": str(result.path),
                    "rows": result.rows,
                    "output_format": result.output_format,
                    "head": {"seq": result.head.seq, "hash": result.head.hash},
                }
            )
        else:
            typer.echo(f"{result.rows} audit rows written to {result.path} ({result.head})")
