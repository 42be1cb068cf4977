"""What every command shares: the consoles, tables as text, CSV or JSON, the way to fail, the database URL
(or a clear exit)."""

from __future__ import annotations

import csv
import json
import os
import re
import sys
from typing import Literal, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from gis_patrimoine.db import cluster
from gis_patrimoine.db.connection import database_url

# piped or logged, tables keep their words whole: 80 columns cut "green_spaces" to "gre…"
WIDTH = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS") or 200)
console = Console(width=WIDTH)
err = Console(stderr=True)
Format = Literal["table", "csv", "json"]
OUTPUT: dict[str, Format] = {"format": "table"}  # set by `gis-patrimoine --format …`


NUMBER = re.compile(r"^-?\d{1,3}(,\d{3})*(\.\d+)?$|^-?\d+(\.\d+)?$")


def _value(cell: object) -> str | float | int:
    """A cell as data: markup dropped, "1,165" as the number 1165."""
    text = cell.plain if isinstance(cell, Text) else Text.from_markup(str(cell)).plain
    if NUMBER.match(text.strip()):
        number = float(text.replace(",", ""))
        return int(number) if "." not in text else number
    return text


def _cells(table: Table) -> tuple[list[str], list[list]]:
    headers = [Text.from_markup(str(c.header)).plain for c in table.columns]
    columns = [[_value(cell) for cell in c._cells] for c in table.columns]  # rich keeps a column's cells there
    return headers, [list(row) for row in zip(*columns, strict=True)]


def show(table: Table, key: str | None = None) -> None:
    """A table as the user asked: drawn (default), CSV or JSON (one object per row) for scripts. `key` names the
    table in a command's JSON document when the title carries ids (a plan's, a run's): scripts index by it."""
    fmt = OUTPUT["format"]
    if fmt == "table":
        console.print(table)
        return
    headers, rows = _cells(table)
    if fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(headers)
        writer.writerows(rows)
    else:  # written once the command ends: one JSON document, whatever the number of tables
        title = key or (Text.from_markup(str(table.title)).plain if table.title else f"table {len(_JSON) + 1}")
        _JSON.append((title, [dict(zip(headers, row, strict=True)) for row in rows]))


def scripted() -> bool:
    """Output for scripts (CSV or JSON): a command's tables are all written, empty ones too, so that its
    shape does not depend on the data."""
    return OUTPUT["format"] != "table"


_JSON: list[tuple[str, list[dict]]] = []


def write_json() -> None:
    """The command's tables as one JSON document: a list of rows for one table, else {title: rows}."""
    if not _JSON:
        return
    data = _JSON[0][1] if len(_JSON) == 1 else dict(_JSON)
    json.dump(data, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")
    _JSON.clear()


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[bold red]Error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def database_url_or_exit() -> str:
    """DATABASE_URL or the local cluster's; without either, a message saying how to get one."""
    try:
        return database_url()
    except cluster.ClusterError as exc:
        fail(str(exc))
