"""The real communes of the demo (shipped with the package) and their populations."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import pyogrio
import shapely

DATA = Path(__file__).resolve().parent / "data" / "laval-agglo"
COMMUNES = DATA / "COMMUNE.shp"
POPULATIONS = DATA / "populations.csv"
POPULATION_YEAR = 2018
CENTRAL_COMMUNE = "53130"  # Laval: the agglomération's central depot is there


@dataclass(frozen=True)
class Commune:
    insee: str
    name: str
    population: int
    geom: shapely.Geometry

    @property
    def centre(self) -> shapely.Point:
        """The town centre: the centroid when it lies well inside, else a point surely inside."""
        centroid = self.geom.centroid
        return centroid if self.geom.buffer(-200).contains(centroid) else self.geom.point_on_surface()

    @property
    def area_km2(self) -> float:
        return self.geom.area / 1e6


def load_territory() -> list[Commune]:
    with POPULATIONS.open(encoding="utf-8") as f:
        rows = {r["insee"]: r for r in csv.DictReader(f)}
    meta, _, geoms, fields = pyogrio.raw.read(COMMUNES)
    codes = fields[list(meta["fields"]).index("INSEE_COM")]
    communes = []
    for code, wkb in zip(codes, geoms, strict=True):
        row = rows[str(code)]
        communes.append(Commune(str(code), row["name"], int(row["population"]), shapely.from_wkb(wkb)))
    return sorted(communes, key=lambda c: c.insee)
