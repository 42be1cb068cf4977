"""The questionnaire as a workbook a town-hall secretary fills in: one sheet per table of the diagnostic.

Written from the catalogue (layers/diagnostic/): French headers with their help as cell comments, drop-down
lists from the code lists, the communes and the depots (a hidden sheet «Listes» holds them), a first sheet
that says what to fill. The same writer exports the answers stored, so a workbook round-trips. Reading takes
.xlsx (openpyxl) or one CSV per table, and returns the cells as written, with where each came from.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from openpyxl import Workbook, load_workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.worksheet.datavalidation import DataValidation

from gis_patrimoine.catalogue import Attribute, Catalogue, DiagnosticTable
from gis_patrimoine.diagnostic.values import AGGLO, Lookups, shown
from gis_patrimoine.importer.names import normalise

ORDER = ("staff", "equipment", "depot_cost", "contract", "purchase")  # the sheets, in the order they are filled
README_SHEET = "Lisez-moi"
LISTS_SHEET = "Listes"
HEADER_FILL = PatternFill("solid", fgColor="DDE6F0")


class WorkbookError(ValueError):
    """A file that cannot be read as the questionnaire; the message names the file and what is wrong."""


@dataclass
class Cell:
    sheet: str
    row: int
    column: str  # the column's letter (a CSV's too: A, B, …)
    header: str
    value: object


@dataclass
class SheetRows:
    table: DiagnosticTable
    sheet: str
    columns: dict[str, tuple[str, str]]  # attribute -> (column letter, header as written)
    rows: list[tuple[int, dict[str, object]]]  # (row number, attribute -> cell value)


def tables(catalogue: Catalogue) -> list[DiagnosticTable]:
    return [catalogue.tables[name] for name in ORDER if name in catalogue.tables] + [
        t for name, t in sorted(catalogue.tables.items()) if name not in ORDER
    ]


def fillable(table: DiagnosticTable) -> list[Attribute]:
    return [a for a in table.attributes if a.writable]


def write(path: Path, catalogue: Catalogue, lookups: Lookups, rows: dict[str, list[dict]] | None = None) -> None:
    """Write the questionnaire (empty: a template; with `rows`, the stored answers) to `path`."""
    wb = Workbook()
    intro = wb.active
    intro.title = README_SHEET
    _write_intro(intro, catalogue)
    lists = wb.create_sheet(LISTS_SHEET)
    ranges = _write_lists(lists, catalogue, lookups)
    lists.sheet_state = "hidden"
    for table in tables(catalogue):
        ws = wb.create_sheet(table.sheet)
        attrs = fillable(table)
        for col, attr in enumerate(attrs, start=1):
            cell = ws.cell(row=1, column=col, value=attr.title.fr)
            cell.font, cell.fill = Font(bold=True), HEADER_FILL
            cell.alignment = Alignment(wrap_text=True, vertical="top")
            help_text = (attr.help.fr + "\n") if attr.help else ""
            if attr.required:
                help_text += "Obligatoire."
            if attr.default is not None:
                help_text += f" Vide : {shown(attr, attr.default, lookups)}."
            if help_text.strip():
                cell.comment = Comment(help_text.strip(), "gis-patrimoine", width=300, height=120)
            ws.column_dimensions[get_column_letter(col)].width = max(14, min(40, len(attr.title.fr) + 2))
            source = ranges.get(_list_key(attr))
            letter = get_column_letter(col)
            if source:
                dv = DataValidation(type="list", formula1=source, allow_blank=True, showErrorMessage=True)
                dv.error = "Choisissez une valeur de la liste."
                ws.add_data_validation(dv)
                dv.add(f"{letter}2:{letter}1000")
            elif attr.type in ("real", "integer") and (attr.min is not None or attr.max is not None):
                dv = DataValidation(
                    type="whole" if attr.type == "integer" else "decimal",
                    operator="between",
                    formula1=str(attr.min if attr.min is not None else -1e12),
                    formula2=str(attr.max if attr.max is not None else 1e12),
                    allow_blank=True,
                    showErrorMessage=True,
                )
                dv.error = f"Un nombre entre {attr.min:g} et {attr.max:g}." if attr.max is not None else "Un nombre."
                ws.add_data_validation(dv)
                dv.add(f"{letter}2:{letter}1000")
        ws.freeze_panes = "A2"
        ws.row_dimensions[1].height = 45
        for r, row in enumerate((rows or {}).get(table.name, []), start=2):
            for col, attr in enumerate(attrs, start=1):
                ws.cell(row=r, column=col, value=shown(attr, row.get(attr.name), lookups))
    wb.save(path)


def _list_key(attr: Attribute) -> str | None:
    if attr.type == "code":
        return attr.codelist
    if attr.type == "boolean":
        return "_yes_no"
    if attr.type == "commune":
        return "_communes"
    if attr.type == "reference" and attr.references == "depot":
        return "_depots"
    return None


def _write_lists(ws, catalogue: Catalogue, lookups: Lookups) -> dict[str, str]:
    columns: dict[str, list[str]] = {
        "_communes": [AGGLO, *(lookups.commune_label(c) for c in sorted(lookups.commune_names))],
        "_depots": sorted(set(lookups.depot_names.values())),
        "_yes_no": ["oui", "non"],
    }
    used = {_list_key(a) for t in catalogue.tables.values() for a in t.attributes} - {None}
    for name in sorted(used):
        if name in catalogue.codelists:
            columns[name] = [v.fr for v in catalogue.codelists[name].values]
    ranges = {}
    for col, (name, values) in enumerate(columns.items(), start=1):
        letter = get_column_letter(col)
        ws.cell(row=1, column=col, value=name)
        for r, value in enumerate(values or [""], start=2):
            ws.cell(row=r, column=col, value=value)
        ranges[name] = f"{quote_sheetname(LISTS_SHEET)}!${letter}$2:${letter}${len(values or ['']) + 1}"
    return ranges


def _write_intro(ws, catalogue: Catalogue) -> None:
    lines = [
        ("Diagnostic partagé des services techniques", True),
        ("Un onglet par thème. Une ligne par groupe d'agents, machine, centre technique, contrat ou achat.", False),
        (
            "Les listes déroulantes donnent les valeurs admises ; survolez les en-têtes pour l'aide de chaque colonne.",
            False,
        ),
        ("Commune : code INSEE (liste) ; « Agglomération » pour les moyens de l'agglomération.", False),
        (
            "Un nouvel envoi remplace les réponses précédentes des communes qu'il contient (l'historique les garde).",
            False,
        ),
        ("", False),
    ]
    lines += [(f"{t.sheet} — {t.title.fr} : {t.description}", False) for t in tables(catalogue)]
    for r, (text, bold) in enumerate(lines, start=1):
        cell = ws.cell(row=r, column=1, value=text)
        cell.font = Font(bold=bold, size=14 if bold else 11)
    ws.column_dimensions["A"].width = 140


def read_xlsx(path: Path, catalogue: Catalogue) -> list[SheetRows]:
    """Every questionnaire sheet of the workbook with its rows; unknown sheets or headers refused by name."""
    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile, KeyError, InvalidFileException … for a non-workbook
        raise WorkbookError(f"{path.name}: not an .xlsx workbook ({type(exc).__name__}: {exc})") from exc
    by_sheet = {normalise(t.sheet): t for t in catalogue.tables.values()}
    by_sheet.update({normalise(t.name): t for t in catalogue.tables.values()})
    out, unknown = [], []
    try:
        for ws in wb.worksheets:
            if ws.title in (README_SHEET, LISTS_SHEET):
                continue
            table = by_sheet.get(normalise(ws.title))
            if table is None:
                unknown.append(ws.title)
                continue
            cells = [list(row) for row in ws.iter_rows(values_only=True)]
            out.append(_rows(table, ws.title, cells, path.name))
    finally:
        wb.close()
    if unknown:
        names = ", ".join(repr(t.sheet) for t in tables(catalogue))
        raise WorkbookError(
            f"{path.name}: sheet {', '.join(map(repr, unknown))} is not part of the questionnaire; sheets: {names}"
        )
    return out


def read_csv(path: Path, catalogue: Catalogue, table_name: str | None = None, encoding: str | None = None) -> SheetRows:
    """One table from a CSV (UTF-8 unless `encoding` says otherwise; comma or semicolon separated)."""
    name = table_name or path.stem
    table = catalogue.tables.get(name) or next(
        (t for t in catalogue.tables.values() if normalise(t.sheet) == normalise(name)), None
    )
    if table is None:
        known = ", ".join(catalogue.tables)
        raise WorkbookError(f"{path.name}: which table? Name the file after one ({known}) or pass --table")
    data = path.read_bytes()
    try:
        text = data.decode(encoding or "utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise WorkbookError(
            f"{path.name}: line {line} is not {encoding or 'UTF-8'} (byte 0x{data[exc.start]:02X}): save the file as "
            "«CSV UTF-8», or give its encoding (--encoding latin-1 for a CSV saved by an older Excel)"
        ) from None
    except LookupError as exc:
        raise WorkbookError(f"{path.name}: unknown encoding {encoding!r}") from exc
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=";,\t")
    except csv.Error:
        dialect = csv.excel
    cells = [[c if c != "" else None for c in row] for row in csv.reader(io.StringIO(text), dialect)]
    return _rows(table, table.sheet, cells, path.name)


def _rows(table: DiagnosticTable, sheet: str, cells: list[list[object]], file: str) -> SheetRows:
    if not cells:
        return SheetRows(table, sheet, {}, [])
    headers: dict[str, tuple[str, str]] = {}
    index: dict[str, int] = {}
    names = {}
    for a in fillable(table):  # the header as written in the template, or the column's name
        for text in (a.title.fr, a.title.en, a.name):
            names.setdefault(normalise(text), a)
    short: dict[str, list[Attribute]] = {}  # "Commune" for «Commune (code INSEE, …)», when it names one column
    for a in fillable(table):
        for text in {normalise(a.title.fr.split(" (")[0]), normalise(a.title.en.split(" (")[0])}:
            short.setdefault(text, []).append(a)
    names.update({k: v[0] for k, v in short.items() if len(v) == 1 and k not in names})
    problems = []
    for col, header in enumerate(cells[0], start=1):
        if header is None or not str(header).strip():
            continue
        attr = names.get(normalise(str(header)))
        letter = get_column_letter(col)
        if attr is None:
            problems.append(f"column {letter} {str(header)!r} is not a column of this sheet")
        elif attr.name in headers:
            problems.append(f"column {letter} {str(header)!r} repeats column {headers[attr.name][0]}")
        else:
            headers[attr.name] = (letter, str(header))
            index[attr.name] = col - 1
    missing = [a.title.fr for a in fillable(table) if (a.required or a.type == "commune") and a.name not in headers]
    if missing:
        problems.append(f"no column {', '.join(map(repr, missing))}")
    if problems:
        raise WorkbookError(f"{file}, sheet {sheet!r}: " + "; ".join(problems))
    rows = []
    for number, row in enumerate(cells[1:], start=2):
        values = {name: (row[i] if i < len(row) else None) for name, i in index.items()}
        if all(v is None or (isinstance(v, str) and not v.strip()) for v in values.values()):
            continue
        rows.append((number, values))
    return SheetRows(table, sheet, headers, rows)
