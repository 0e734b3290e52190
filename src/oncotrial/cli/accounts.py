"""Setting a study up from the console: ``oncotrial users …`` and ``oncotrial sites …``.

These run as the console's administrator (``--by``, default the operating-system user), whose
name goes into the audit trail with every change.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
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
    user_errors,
)
from oncotrial.cli.db import DbOption, database_url
from oncotrial.conduct.roles import Role

if TYPE_CHECKING:
    from oncotrial.conduct import accounts
    from oncotrial.conduct.demo import DemoUser
    from oncotrial.conduct.roles import Actor
    from oncotrial.conduct.study import Study
    from oncotrial.protocol import Protocol


users_app = typer.Typer(help="Named user accounts: add, list, disable, change a role.")
sites_app = typer.Typer(help="Clinical sites of the study: add and list.")

ROLE_HELP = "Role: " + ", ".join(role.value for role in Role) + "."
ByOption = typer.Option(
    None, "--by", help="Who makes the change, for the audit trail (default: your login name)."
)
ProtocolOption = typer.Option(
    None, "--protocol", "-p", help="Protocol YAML (default: the shipped study's)."
)
PasswordStdinOption = typer.Option(
    False, "--password-stdin", help="Read the password from standard input (no prompt)."
)


@contextmanager
def conduct_errors() -> Iterator[None]:
    """The use cases' refusals as plain error lines (exit status 2)."""
    from oncotrial.conduct.errors import ConductError
    from oncotrial.store import StoreError

    with user_errors():
        try:
            yield
        except (ConductError, StoreError) as exc:
            raise CliError(str(exc)) from exc


@contextmanager
def console_study(db: str, protocol: Path | None) -> Iterator[Study]:
    """The study of ``db`` for one console command; refusals become plain error lines."""
    from oncotrial.cli.main import shipped_protocol
    from oncotrial.conduct.study import Study

    with conduct_errors():
        study = Study.open(database_url(db), protocol or shipped_protocol())
        try:
            yield study
        finally:
            study.close()


def console_actor(by: str | None) -> Actor:
    """The console administrator making a change."""
    from oncotrial.conduct.roles import Actor

    name = by or f"console:{getpass.getuser()}"
    return Actor(username=name, role=Role.admin, full_name=name)


def _password(given_on_stdin: bool) -> str:
    if given_on_stdin:
        return sys.stdin.readline().rstrip("\n")
    return typer.prompt("Password (12+ characters)", hide_input=True, confirmation_prompt=True)


def _show_users(users: list[accounts.UserInfo], fmt: OutputFormat) -> None:
    if fmt is OutputFormat.json:
        emit_json({"users": [asdict(u) for u in users]})
        return
    table = Table()
    for column in ("user", "name", "role", "sites", "active"):
        table.add_column(column)
    for u in users:
        table.add_row(u.username, u.full_name, u.role_title, ", ".join(u.sites), str(u.active))
    console.print(table)


@users_app.command("add")
def users_add(
    username: str = typer.Argument(..., help="Login name (lower case, e.g. li.wei)."),
    role: str = typer.Option(..., "--role", help=ROLE_HELP),
    name: str = typer.Option(..., "--name", help="Full printed name (shown on signatures)."),
    site: list[str] = typer.Option(
        [], "--site", help="A site of a site investigator or coordinator (repeat for several)."
    ),
    password_stdin: bool = PasswordStdinOption,
    db: str = DbOption,
    protocol: Path | None = ProtocolOption,
    by: str | None = ByOption,
    fmt: OutputFormat = FormatOption,
) -> None:
    """Add a named user account (passwords are stored as argon2id hashes only)."""
    from oncotrial.conduct import accounts

    with console_study(db, protocol) as study:
        info = accounts.add_user(
            study,
            console_actor(by),
            username,
            role,
            _password(password_stdin),
            full_name=name,
            sites=site,
        )
        if fmt is OutputFormat.json:
            emit_json({"added": asdict(info)})
        else:
            where = f" at site {', '.join(info.sites)}" if info.sites else ""
            console.print(f"added {info.username} ({info.role_title}){where}", highlight=False)


@users_app.command("list")
def users_list(
    db: str = DbOption,
    protocol: Path | None = ProtocolOption,
    by: str | None = ByOption,
    fmt: OutputFormat = FormatOption,
) -> None:
    """List every account with its role, sites and whether it is active."""
    from oncotrial.conduct import accounts

    with console_study(db, protocol) as study:
        users = accounts.list_users(study, console_actor(by))
        _show_users(users, fmt)


@users_app.command("disable")
def users_disable(
    username: str = typer.Argument(..., help="The account to disable."),
    reason: str = typer.Option(..., "--reason", help="Why (audit trail)."),
    enable: bool = typer.Option(False, "--enable", help="Enable it again instead."),
    db: str = DbOption,
    protocol: Path | None = ProtocolOption,
    by: str | None = ByOption,
    fmt: OutputFormat = FormatOption,
) -> None:
    """Disable an account (it is kept, never deleted; its sessions end at once)."""
    from oncotrial.conduct import accounts

    with console_study(db, protocol) as study:
        info = accounts.set_active(study, console_actor(by), username, enable, reason)
        if fmt is OutputFormat.json:
            emit_json({"user": asdict(info)})
        else:
            console.print(f"{username}: {'enabled' if info.active else 'disabled'}")


@users_app.command("set-role")
def users_set_role(
    username: str = typer.Argument(..., help="The account."),
    role: str = typer.Argument(..., help=ROLE_HELP),
    reason: str = typer.Option(..., "--reason", help="Why (audit trail)."),
    site: list[str] = typer.Option([], "--site", help="Sites for a site role (repeat)."),
    db: str = DbOption,
    protocol: Path | None = ProtocolOption,
    by: str | None = ByOption,
    fmt: OutputFormat = FormatOption,
) -> None:
    """Change a user's role (and sites); audited, and the user's sessions end."""
    from oncotrial.conduct import accounts

    with console_study(db, protocol) as study:
        info = accounts.set_role(
            study, console_actor(by), username, role, reason, sites=site or None
        )
        if fmt is OutputFormat.json:
            emit_json({"user": asdict(info)})
        else:
            console.print(f"{username}: now {info.role_title}", highlight=False)


@users_app.command("set-password")
def users_set_password(
    username: str = typer.Argument(..., help="The account."),
    password_stdin: bool = PasswordStdinOption,
    db: str = DbOption,
    protocol: Path | None = ProtocolOption,
    by: str | None = ByOption,
    fmt: OutputFormat = FormatOption,
) -> None:
    """Set a new password (and end the user's sessions and lockout)."""
    from oncotrial.conduct import accounts

    with console_study(db, protocol) as study:
        accounts.set_password(study, console_actor(by), username, _password(password_stdin))
        if fmt is OutputFormat.json:
            emit_json({"user": username, "password_set": True})
        else:
            console.print(f"{username}: password set")


@sites_app.command("add")
def sites_add(
    code: str = typer.Argument(..., help="Site code (SDTM SITEID, prefixes subject ids): 01."),
    name: str | None = typer.Option(None, "--name", help="Name of the site."),
    country: str | None = typer.Option(None, "--country", help="ISO 3166 code, e.g. CHN."),
    db: str = DbOption,
    protocol: Path | None = ProtocolOption,
    by: str | None = ByOption,
    fmt: OutputFormat = FormatOption,
) -> None:
    """Register a clinical site."""
    from oncotrial.conduct import accounts

    with console_study(db, protocol) as study:
        info = accounts.add_site(study, console_actor(by), code, name=name, country=country)
        if fmt is OutputFormat.json:
            emit_json({"added": asdict(info)})
        else:
            console.print(f"added site {info.code} {info.name or ''}".rstrip(), highlight=False)


@sites_app.command("list")
def sites_list(
    db: str = DbOption,
    protocol: Path | None = ProtocolOption,
    by: str | None = ByOption,
    fmt: OutputFormat = FormatOption,
) -> None:
    """List the sites of the study."""
    from oncotrial.conduct import accounts

    with console_study(db, protocol) as study:
        sites = accounts.list_sites(study, console_actor(by))
        if fmt is OutputFormat.json:
            emit_json({"sites": [asdict(s) for s in sites]})
            return
        table = Table()
        for column in ("code", "name", "country", "status"):
            table.add_column(column)
        for s in sites:
            table.add_row(s.code, s.name or "", s.country or "", s.status)
        console.print(table)


def demo_accounts(db_file: str, protocol: Protocol) -> list[DemoUser]:
    """The demo users of the trial application (see :mod:`oncotrial.conduct.demo`)."""
    from oncotrial.conduct.demo import adopt_demo_records, create_demo_users
    from oncotrial.conduct.study import Study

    study = Study.open(database_url(db_file), protocol, migrate=False)
    try:
        adopt_demo_records(study)
        return create_demo_users(study)
    finally:
        study.close()


def demo_login_text(db_file: str, users: list[DemoUser]) -> str:
    """How to start the application on the demo database and who can sign in."""
    names = ", ".join(f"{u.username} ({u.role.lower()})" for u in users)
    return (
        f"\nTrial application: oncotrial serve --db {db_file}  then open http://127.0.0.1:8000/\n"
        f"  demo users: {names}\n  password (demo only): {users[0].password if users else ''}"
    )


__all__ = ["demo_accounts", "demo_login_text", "sites_app", "users_app"]
