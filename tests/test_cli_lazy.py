"""Every command's ``--help`` answers without importing the numerical and database stacks
(issue 7 §7: help within 4x the start-up of ``import typer, rich``; the timing itself is the
benchmark ``benchmarks/cli_help.py``; this test checks the cause, which cannot drift silently)."""

from __future__ import annotations

import json
import subprocess
import sys

import click
import typer

from oncotrial.cli.main import COMMANDS, app

HEAVY = ("scipy", "pandas", "sqlalchemy", "matplotlib", "numba", "fastapi", "alembic")


def command_paths() -> list[tuple[str, ...]]:
    """Every command and subcommand of ``oncotrial``, as argument lists."""
    group = typer.main.get_command(app)
    ctx = click.Context(group)
    paths: list[tuple[str, ...]] = [()]
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        paths.append((name,))
        if isinstance(command, click.Group) or hasattr(command, "list_commands"):
            sub_ctx = click.Context(command, parent=ctx)
            paths += [(name, sub) for sub in command.list_commands(sub_ctx)]
    return paths


PROBE = """
import json, os, sys
from oncotrial.cli.main import app
found = {}
for path in json.loads(sys.argv[1]):
    read, write = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(read)
        out = os.open(os.devnull, os.O_WRONLY)
        os.dup2(out, 1)
        sys.argv = ["oncotrial", *path, "--help"]
        try:
            app()
        except SystemExit:
            pass
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)
        os.write(write, json.dumps(heavy).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as answer:
        found[" ".join(path) or "oncotrial"] = json.loads(answer.read() or '["no answer"]')
    os.waitpid(child, 0)
sys.stdout.write(json.dumps(found))
"""


def test_no_help_imports_a_heavy_library() -> None:
    """One process forks a child per command (fast); each reports what its help imported."""
    paths = command_paths()
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            f"HEAVY = {HEAVY!r}\n" + PROBE,
            json.dumps([list(p) for p in paths]),
        ],
        capture_output=True,
        text=True,
        check=True,
        env={"COLUMNS": "100", "PATH": ""},
    )
    found = json.loads(done.stdout)
    assert len(found) == len(paths) > 20
    assert {name: heavy for name, heavy in found.items() if heavy} == {}


def test_top_level_help_lists_every_command_with_its_summary() -> None:
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for name, entry in COMMANDS.items():
        assert name in result.output
        assert entry.summary in result.output
    assert "demo" in result.output


def test_lazy_commands_run_as_before() -> None:
    from typer.testing import CliRunner

    result = CliRunner().invoke(
        app,
        ["decide", "--design", "boin", "--doses", "4", "--outcomes", "1NNN", "--format", "json"],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["next_dose"] is not None
