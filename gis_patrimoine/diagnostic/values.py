"""What a town-hall secretary writes in a cell, read as the catalogue's types — or a clear refusal.

Numbers may use a decimal comma and spaces ("1 607", "0,5"); yes/no as oui/non, x, 1/0; codes as the code or
its French or English label; a commune as its INSEE code, "53130 — Laval", or its name; the agglomération as
an empty cell or "Agglomération"; a depot by its name (within the row's commune when two share a name).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from gis_patrimoine.catalogue import Attribute, Catalogue
from gis_patrimoine.importer.names import normalise

AGGLO = "Agglomération"  # the workbook's word for rows of the agglomération (commune_insee empty)
TRUE = {"oui", "o", "yes", "y", "true", "vrai", "1", "x"}
FALSE = {"non", "n", "no", "false", "faux", "0"}


class Refused(ValueError):
    """A value that does not fit its column; the message says what was expected."""


@dataclass
class Lookups:
    """What codes, communes and depots the cells may name, from the catalogue and the database."""

    codes: dict[str, dict[str, str]]  # code list -> normalised code or label -> code
    labels: dict[str, dict[str, str]]  # code list -> code -> French label (what the workbook shows)
    communes: dict[str, str]  # normalised INSEE code or name -> INSEE code
    commune_names: dict[str, str]  # INSEE -> name
    depots: dict[str, list[tuple[int, str | None]]] = field(default_factory=dict)  # normalised name -> (id, commune)
    depot_names: dict[int, str] = field(default_factory=dict)

    @classmethod
    def build(
        cls, catalogue: Catalogue, communes: list[tuple[str, str]], depots: list[tuple[int, str, str]]
    ) -> Lookups:
        codes, labels = {}, {}
        for name, codelist in catalogue.codelists.items():
            table: dict[str, str] = {}
            for v in codelist.values:
                for text in (v.code, v.fr, v.en):
                    table.setdefault(normalise(text), v.code)
            codes[name] = table
            labels[name] = {v.code: v.fr for v in codelist.values}
        by_key: dict[str, str] = {}
        for insee, name in communes:
            by_key[normalise(insee)] = insee
            by_key.setdefault(normalise(name), insee)
        found: dict[str, list[tuple[int, str | None]]] = {}
        for did, name, commune in depots:
            found.setdefault(normalise(name), []).append((did, commune))
        return cls(codes, labels, by_key, dict(communes), found, {d[0]: d[1] for d in depots})

    def commune_label(self, insee: str | None) -> str:
        return AGGLO if insee is None else f"{insee} — {self.commune_names.get(insee, insee)}"


def parse(attr: Attribute, value: object, lookups: Lookups, commune: str | None = None) -> object:
    """The cell's value as the column's type; None for an empty cell (the column's default then applies)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if attr.type == "commune":  # never guessed: an empty commune would be the agglomération's row
            raise Refused(f"empty: write the commune's INSEE code, or «{AGGLO}» for the agglomération's means")
        return None
    if attr.type in ("real", "integer"):
        number = _number(value)
        if attr.type == "integer":
            if number != int(number):
                raise Refused(f"{value!r} is not a whole number")
            number = int(number)
        if (attr.min is not None and number < attr.min) or (attr.max is not None and number > attr.max):
            lo = "" if attr.min is None else f"{attr.min:g}"
            hi = "" if attr.max is None else f"{attr.max:g}"
            raise Refused(f"{value!r} is out of range [{lo}, {hi}]")
        return number
    if attr.type == "boolean":
        if isinstance(value, bool):
            return value
        key = normalise(str(value))
        if key in TRUE or key in FALSE:
            return key in TRUE
        raise Refused(f"{value!r} is not oui or non")
    if attr.type == "code":
        code = lookups.codes[attr.codelist].get(normalise(str(value)))
        if code is None:
            shown = ", ".join(list(lookups.labels[attr.codelist].values())[:8])
            raise Refused(f"{value!r} is not in the list ({shown} …): pick it from the drop-down")
        return code
    if attr.type == "commune":
        text = str(value).strip()
        if normalise(text) in (normalise(AGGLO), "agglo", "agglomeration"):
            return None
        head = text.split("—")[0].split(" - ")[0].strip()
        insee = lookups.communes.get(normalise(head)) or lookups.communes.get(normalise(text))
        if insee is None:
            raise Refused(f"{value!r} is not a commune of the territory (INSEE code, or {AGGLO})")
        return insee
    if attr.type == "reference" and attr.references == "depot":
        named = lookups.depots.get(normalise(str(value)), [])
        # a commune answers for its own depots; the agglomération's means may stand in any commune's depot
        options = named if commune is None else [o for o in named if o[1] == commune]
        if len(options) != 1:
            if named and not options:
                why = f"a depot of another commune than {commune}"
            else:
                why = "no depot has this name" if not options else "several depots have this name"
            raise Refused(f"{value!r}: {why} (see the depots layer)")
        return options[0][0]
    if attr.type == "text":
        if isinstance(value, float):
            return str(int(value)) if value.is_integer() else repr(value)
        return str(value).strip()
    raise Refused(f"columns of type {attr.type} cannot be filled from a workbook")


def _number(value: object) -> float:
    if isinstance(value, bool):
        raise Refused(f"{value!r} is not a number")
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise Refused(f"{value!r} is not a number")
        return float(value)
    text = str(value).strip().replace("\u202f", "").replace("\xa0", "").replace(" ", "").replace("€", "")
    percent = text.endswith("%")
    text = text.removesuffix("%")
    try:
        number = float(text.replace(",", "."))
    except ValueError:
        raise Refused(f"{value!r} is not a number") from None
    if percent:  # "12 %" is 0.12
        number /= 100
    if not math.isfinite(number):
        raise Refused(f"{value!r} is not a number")
    return number


def shown(attr: Attribute, value: object, lookups: Lookups) -> object:
    """A stored value as the workbook shows it (labels, oui/non, commune and depot names)."""
    if attr.type == "commune":
        return lookups.commune_label(value)  # type: ignore[arg-type]
    if value is None:
        return None
    if attr.type == "code":
        return lookups.labels[attr.codelist].get(value, value)
    if attr.type == "boolean":
        return "oui" if value else "non"
    if attr.type == "reference" and attr.references == "depot":
        return lookups.depot_names.get(value, value)
    return value
