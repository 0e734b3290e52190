"""``oncotrial serve``: the trial application (pages and JSON API) for sites, monitors, data
managers and the committee."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from oncotrial.cli.common import CliError, err_console, user_errors
from oncotrial.cli.db import DbOption, database_url


def serve(
    db: str = DbOption,
    protocol: Path | None = typer.Option(
        None,
        "--protocol",
        "-p",
        help="Protocol YAML of the study (default: the shipped toripalimab + donafenib study).",
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
    workers: int = typer.Option(
        1, "--workers", min=1, help="Server processes (all serve the same database)."
    ),
    db_role: str | None = typer.Option(
        None,
        "--db-role",
        help="PostgreSQL: the role the application's connections switch to, so row-level "
        "security separates sites even for a query that bypasses the application.",
    ),
    cookie_secure: bool = typer.Option(
        False, "--cookie-secure", help="Mark cookies Secure (serve behind HTTPS)."
    ),
) -> None:
    """Run the trial application: sign-in, subjects, case report forms with edit checks,
    queries, review and e-signatures, audit trails, casebooks and exports, and the JSON API
    (OpenAPI at /api/openapi.json). Sessions live in the database, so several processes
    (--workers, or several servers behind a proxy) serve one study. Stop with Ctrl-C."""
    import uvicorn

    from oncotrial.cli.main import shipped_protocol
    from oncotrial.conduct.scope import bypasses_row_security
    from oncotrial.web.server import ServerConfig, build_app

    with user_errors():
        url = database_url(db)
        path = protocol or shipped_protocol()
        if not Path(path).exists():
            raise CliError(f"--protocol: {path} does not exist")
        config = ServerConfig(str(url), str(Path(path).resolve()), db_role, cookie_secure)
        app = build_app(config)
        study = app.state.study
        if url.startswith("postgresql") and bypasses_row_security(study.engine):
            err_console.print(
                "note: this database role bypasses row-level security (superuser, owner or "
                "BYPASSRLS): only the application's checks separate the sites; see --db-role",
                highlight=False,
            )
        err_console.print(f"oncotrial serving {url} on http://{host}:{port}/", highlight=False)
    if workers == 1:
        uvicorn.run(app, host=host, port=port, log_level="warning")
        return
    study.close()
    os.environ.update(config.environment())
    uvicorn.run(
        "oncotrial.web.server:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
    )
