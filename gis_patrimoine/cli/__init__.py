"""The `gis-patrimoine` command line: one module per command group, registered here.

`main` builds only the group a command line names (`gis-patrimoine import …` imports the import commands, not
the analyses, yoyo or uvicorn), so that a command starts in the time its own imports take; `--help`, a typo or
no command build them all. The commands import the heavy parts (importer, FastAPI, the analyses) only when they
run.
"""

from __future__ import annotations

import atexit
import importlib
import os
import sys
from typing import Annotated

import typer

from gis_patrimoine.catalogue import CatalogueError
from gis_patrimoine.cli.common import OUTPUT, console, err, fail, write_json

# the command groups in `--help`'s order: name → (module, attribute, a group or a single command)
COMMANDS: dict[str, tuple[str, str, bool]] = {
    "db": ("gis_patrimoine.cli.db", "db_app", True),
    "import": ("gis_patrimoine.cli.transfer", "import_app", True),
    "export": ("gis_patrimoine.cli.transfer", "export_cmd", False),
    "demo": ("gis_patrimoine.cli.demo", "demo_app", True),
    "serve": ("gis_patrimoine.cli.serve", "serve_cmd", False),
    "users": ("gis_patrimoine.cli.users", "users_app", True),
    "analyse": ("gis_patrimoine.cli.arrangements", "analyse_app", True),  # cli.analyse, with `arrangements`
    "qgis": ("gis_patrimoine.cli.qgis", "qgis_app", True),
    "history": ("gis_patrimoine.cli.history", "history_app", True),
    "diagnostic": ("gis_patrimoine.cli.diagnostic", "diagnostic_app", True),
}


def _root(
    ctx: typer.Context,
    output: Annotated[
        str, typer.Option("--format", help="Tables as: table (drawn), csv or json (for scripts)")
    ] = "table",
) -> None:
    """gis-patrimoine: public-space assets of the communes, pooled."""
    if output not in ("table", "csv", "json"):
        fail(f"--format {output!r}: use table, csv or json")
    OUTPUT["format"] = output  # type: ignore[typeddict-item]
    if output != "table":  # the data alone on stdout; what a person reads goes to stderr
        console.file = sys.stderr
    if output == "json":
        ctx.call_on_close(write_json)


def build_app(only: str | None = None) -> typer.Typer:
    """The command line with every group, or with `only` that one."""
    root = typer.Typer(help="gis-patrimoine: public-space assets of the communes, pooled.", no_args_is_help=True)
    root.callback()(_root)
    for name, (module, attribute, group) in COMMANDS.items():
        if only is not None and name != only:
            continue
        found = getattr(importlib.import_module(module), attribute)
        if group:
            root.add_typer(found, name=name)
        else:
            root.command(name)(found)
    return root


def command_named(args: list[str]) -> str | None:
    """The group a command line names, past the root's options (`--format json import …`); None if none is."""
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg == "--format":
            skip = True
        elif not arg.startswith("-"):
            return arg if arg in COMMANDS else None
        elif arg in ("--help", "--install-completion", "--show-completion"):
            return None
    return None


# commands whose process ends as soon as they are done: everything they write is committed and closed by then,
# their exit hooks are run and their output flushed, and tearing down GDAL, Arrow and 700 modules would take
# 0.2 s more (a one-feature import: 0.95 → 0.74 s)
QUICK_EXIT = {"import", "export"}


def run(only: str | None) -> int:
    """Build the command line (`build_app`) and run it to its exit code. A wrong catalogue file, whichever
    command meets it first, is said in one line naming the file, not as a traceback."""
    try:
        build_app(only)()
    except SystemExit as exc:  # how typer ends every command, failed or not
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        print(exc.code, file=sys.stderr)
        return 1
    except CatalogueError as exc:
        err.print(f"[bold red]Error:[/] {exc}", highlight=False)
        return 1
    return 0


def main() -> None:
    """The `gis-patrimoine` entry point."""
    only = command_named(sys.argv[1:])
    code = run(only)
    if only in QUICK_EXIT:
        atexit._run_exitfuncs()  # the exit hooks still run (temporary copies, log handlers): only teardown is skipped
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (BrokenPipeError, ValueError):  # a reader that went away (`| head`), or a closed stream
                pass
        os._exit(code)
    sys.exit(code)


def __getattr__(name: str) -> typer.Typer:
    if name == "app":  # the whole command line, for tests and `typer.testing.CliRunner`
        return build_app()
    raise AttributeError(name)
