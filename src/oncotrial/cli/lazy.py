"""Commands imported only when they run, so ``oncotrial --help`` answers at once.

Each command's module (and through it numpy, scipy, pandas, SQLAlchemy, matplotlib) is imported
when that command is invoked or its own ``--help`` is asked for; the top-level help lists every
command from its registered one-line summary without importing any of them.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import click
import typer
from typer.core import TyperGroup


@dataclass(frozen=True)
class LazyCommand:
    """Where a command lives (``module:attribute``, a function or a ``typer.Typer``) and the
    one-line summary the top-level help shows for it."""

    target: str
    summary: str

    def load(self, name: str) -> click.Command:
        module_name, _, attribute = self.target.partition(":")
        obj = getattr(importlib.import_module(module_name), attribute)
        if isinstance(obj, typer.Typer):
            command = typer.main.get_command(obj)
        else:
            holder = typer.Typer(add_completion=False)
            holder.command(name=name)(obj)
            command = typer.main.get_command(holder)
        command.name = name
        return command


class LazyGroup(TyperGroup):
    """A typer group whose commands are :class:`LazyCommand` entries (``lazy_commands``)."""

    lazy_commands: dict[str, LazyCommand] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._loaded: dict[str, click.Command] = {}
        self._listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*super().list_commands(ctx), *self.lazy_commands]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        eager = super().get_command(ctx, cmd_name)
        if eager is not None or cmd_name not in self.lazy_commands:
            return eager
        entry = self.lazy_commands[cmd_name]
        if self._listing:
            return click.Command(cmd_name, help=entry.summary, short_help=entry.summary)
        if cmd_name not in self._loaded:
            self._loaded[cmd_name] = entry.load(cmd_name)
        return self._loaded[cmd_name]

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


def lazy_group(commands: dict[str, LazyCommand]) -> type[LazyGroup]:
    """A :class:`LazyGroup` class holding ``commands`` (typer takes the class, not an instance)."""
    return type("OncotrialGroup", (LazyGroup,), {"lazy_commands": dict(commands)})
