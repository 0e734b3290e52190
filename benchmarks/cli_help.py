"""How fast every command's ``--help`` answers: ``python benchmarks/cli_help.py [--runs N]``.

The anchor is the start-up of ``python -c "import typer, rich"`` (the least any typer command
can cost), measured in the same run. For ``oncotrial --help`` and each subcommand's ``--help``
the least CPU time of N fresh processes is printed with its ratio to the anchor; the target
(issue 7 §7) is at most 4x. Commands are imported only when they run (``cli/lazy.py``);
``tests/test_cli_lazy.py`` checks that no help imports scipy, pandas, SQLAlchemy or matplotlib.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys

import click
import typer

from oncotrial.cli.main import app

TARGET_RATIO = 4.0

#: the least any typer command with one option costs for --help (typer builds every option
#: through pydantic adapters, which ``import typer, rich`` does not load): for reference
TYPER_FLOOR = (
    "import typer\n"
    "def hello(name: str = typer.Option('x', help='who')) -> None:\n"
    "    'Say hello.'\n"
    "typer.run(hello)"
)


def cpu_seconds(argv: list[str], runs: int) -> float:
    """The least CPU time (user + system) of ``runs`` fresh processes, in seconds: start-up cost
    without the noise of other work on the machine (wall time on a busy machine is not)."""
    times = []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(argv, check=True, capture_output=True, env={"COLUMNS": "100"})
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        times.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return min(times)


def command_paths() -> list[list[str]]:
    group = typer.main.get_command(app)
    ctx = click.Context(group)
    paths: list[list[str]] = [[]]
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        paths.append([name])
        if hasattr(command, "list_commands"):
            sub = click.Context(command, parent=ctx)
            paths += [[name, s] for s in command.list_commands(sub)]
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs", type=int, default=5, help="processes per command (the least counts)"
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    args = parser.parse_args()
    anchor = cpu_seconds([sys.executable, "-c", "import typer, rich"], args.runs)
    floor = cpu_seconds([sys.executable, "-c", TYPER_FLOOR, "--help"], args.runs)
    launcher = "import sys; from oncotrial.cli.main import app; sys.argv[0] = 'oncotrial'; app()"
    rows = []
    for path in command_paths():
        seconds = cpu_seconds([sys.executable, "-c", launcher, *path, "--help"], args.runs)
        rows.append(
            {
                "command": " ".join(["oncotrial", *path]),
                "seconds": seconds,
                "ratio": seconds / anchor,
            }
        )
    worst = max(row["ratio"] for row in rows)
    if args.format == "json":
        print(
            json.dumps(
                {
                    "anchor_seconds": anchor,
                    "typer_floor_seconds": floor,
                    "commands": rows,
                    "worst_ratio": worst,
                    "target_ratio": TARGET_RATIO,
                },
                indent=2,
            )
        )
        return
    print(
        f"anchor: python -c 'import typer, rich'  {anchor * 1000:.0f} ms CPU (least of {args.runs})"
    )
    print(
        f"typer floor: a one-option typer command's --help  {floor * 1000:.0f} ms "
        f"({floor / anchor:.1f}x the anchor)"
    )
    for row in rows:
        flag = "" if row["ratio"] <= TARGET_RATIO else "  ABOVE TARGET"
        print(
            f"  {row['command'] + ' --help':40} {row['seconds'] * 1000:6.0f} ms  "
            f"{row['ratio']:4.1f}x{flag}"
        )
    print(f"worst: {worst:.1f}x the anchor (target <= {TARGET_RATIO:.0f}x)")


if __name__ == "__main__":
    main()
