"""The audit-trail commands (``audit verify``)."""

from __future__ import annotations

import typer

from oncotrial.cli.common import FormatOption, OutputFormat, console, emit_json, user_errors
from oncotrial.cli.db import DbOption, database_url
from oncotrial.store import Store

audit_app = typer.Typer(help="The audit trail: check that nobody changed it behind our back.")


@audit_app.command("verify")
def audit_verify(db: str = DbOption, fmt: OutputFormat = FormatOption) -> None:
    """Recompute the SHA-256 chain of the audit trail; report the first broken link (a row
    altered or removed behind the application's back). Exit status 1 when broken."""
    with user_errors():
        store = Store.open(database_url(db))
        try:
            report = store.verify_audit()
        finally:
            store.close()
        ok = bool(report.ok)
        if fmt is OutputFormat.json:
            data = {"ok": ok, "message": str(report)}
            broken = getattr(report, "broken", None)
            if broken is not None:
                data["first_broken"] = {
                    k: getattr(broken, k, None)
                    for k in ("seq", "table", "record_id", "problem", "message")
                }
            emit_json(data)
        else:
            console.print(("[green]" if ok else "[bold red]") + str(report), highlight=False)
        if not ok:
            raise typer.Exit(code=1)
