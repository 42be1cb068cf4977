"""The demo's diagnostic: a plausible questionnaire for the 20 communes and the agglomération, written as the
workbook a town hall would send back (`diagnostic.xlsx`, loaded by `demo load` through the ordinary import).

Orders of magnitude (gis_patrimoine/demo/data/README.md gives them with their sources): small communes have one
or two general-purpose agents; towns a team per service; Laval specialised services and the agglomération a
road team, electricians and managers. Machines follow each depot's equipment (mixed ages and prices). Small
communes contract public-lighting upkeep to the département's energy syndicate (per light point); a few
contract verge mowing. Purchases of the same items at prices that differ by commune.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gis_patrimoine.catalogue import Catalogue, get_catalogue
from gis_patrimoine.demo.territory import CENTRAL_COMMUNE, Commune
from gis_patrimoine.diagnostic.values import Lookups
from gis_patrimoine.diagnostic.workbook import write

FILE = "diagnostic.xlsx"
# machine: (price € excl. VAT, service life in years, season)
MACHINES = {
    "van": (28_000, 8, "all_year"),
    "mower": (24_000, 8, "growing"),
    "flail_mower": (62_000, 10, "growing"),
    "aerial_platform": (85_000, 12, "all_year"),
    "sweeper": (160_000, 8, "all_year"),
    "truck": (75_000, 10, "all_year"),
}
LIGHTS_PER_INHABITANT = 1 / 7  # French average order of magnitude: one light point for 6 to 8 inhabitants
SYNDICATE_EUR_PER_LIGHT = 28  # annual upkeep of a light point by an energy syndicate: 20–35 €
# item: (category, unit, reference unit price, annual quantity per 1,000 inhabitants)
PURCHASES = {
    "Lanterne LED 40 W": ("led_lantern", "unit", 390.0, 2.5),
    "Sel de déneigement": ("road_salt", "t", 115.0, 4.0),
    "Gazole non routier": ("fuel", "l", 1.55, 900.0),
    "Plants annuels (godet 9 cm)": ("plants", "unit", 1.1, 450.0),
    "Peinture routière blanche": ("paint_signs", "l", 9.5, 25.0),
}


def staff_rows(commune: Commune, rng: np.random.Generator) -> list[dict]:
    """Posts per service: general-purpose agents in small communes, teams per service above 3,500 inhabitants."""
    pop = commune.population
    insee = commune.insee
    if pop < 3500:
        total = max(1.0, round(pop / 650 * 2) / 2)  # one or two agents, by halves
        return [
            {"commune_insee": insee, "service": s, "skill": "polyvalent", "grade": "adjoint_technique",
             "fte": round(total * share, 2), "seasonal": False}
            for s, share in (("green_spaces", 0.45), ("roads", 0.35), ("buildings", 0.2))
        ]  # fmt: skip
    per_k = 2.6 if insee == CENTRAL_COMMUNE else 2.2  # technical posts for these services per 1,000 inhabitants
    total = pop / 1000 * per_k
    rows = [
        {"commune_insee": insee, "service": "green_spaces", "skill": "green_spaces", "grade": "adjoint_technique",
         "fte": round(total * 0.42, 1), "seasonal": False},
        {"commune_insee": insee, "service": "roads", "skill": "roads", "grade": "adjoint_technique",
         "fte": round(total * 0.3, 1), "seasonal": False},
        {"commune_insee": insee, "service": "buildings", "skill": "buildings_trades", "grade": "adjoint_principal",
         "fte": round(total * 0.2, 1), "seasonal": False},
        {"commune_insee": insee, "service": "green_spaces", "skill": "manager", "grade": "agent_maitrise",
         "fte": 1.0, "seasonal": False},
        {"commune_insee": insee, "service": "green_spaces", "skill": "mower_licence", "grade": "contractuel",
         "fte": round(0.5 + pop / 20000, 1), "seasonal": True, "months": 6},
    ]  # fmt: skip
    if pop > 20000:
        rows.append(
            {"commune_insee": insee, "service": "lighting", "skill": "electrician", "grade": "technicien",
             "fte": round(total * 0.06, 1), "seasonal": False,
             "loaded_cost_eur": round(float(rng.uniform(50, 56)) * 1000)}
        )  # fmt: skip
    return rows


def agglomeration_rows() -> list[dict]:
    return [
        {"commune_insee": None, "service": "roads", "skill": "roads", "grade": "adjoint_technique", "fte": 9.0},
        {"commune_insee": None, "service": "roads", "skill": "sweeper_licence", "grade": "adjoint_principal",
         "fte": 2.0},
        {"commune_insee": None, "service": "roads", "skill": "manager", "grade": "ingenieur", "fte": 1.0},
        {"commune_insee": None, "service": "lighting", "skill": "electrician", "grade": "technicien", "fte": 3.0},
        {"commune_insee": None, "service": "lighting", "skill": "platform_licence", "grade": "adjoint_principal",
         "fte": 2.0},
        {"commune_insee": None, "service": "green_spaces", "skill": "mower_licence", "grade": "adjoint_technique",
         "fte": 4.0},
    ]  # fmt: skip


def build(communes: list[Commune], depots: list[tuple[str, str, dict[str, int], bool]], seed: int = 1) -> dict:
    """Rows of each table for the communes and their depots (name, commune, equipment, is the agglomération's)."""
    rows: dict[str, list[dict]] = {"staff": [], "equipment": [], "depot_cost": [], "contract": [], "purchase": []}
    for commune in communes:
        rng = np.random.default_rng(seed * 100_003 + int(commune.insee))
        rows["staff"] += staff_rows(commune, rng)
        pop = commune.population
        lights = pop * LIGHTS_PER_INHABITANT
        if pop < 5000:
            rows["contract"].append(
                {"commune_insee": commune.insee, "service": "lighting", "activity": None, "provider_kind": "syndicate",
                 "provider": "Territoire d'énergie Mayenne",
                 "annual_cost_eur": round(lights * SYNDICATE_EUR_PER_LIGHT, -1), "work_share": 1.0}
            )  # fmt: skip
        elif commune.insee == CENTRAL_COMMUNE:
            rows["contract"].append(
                {"commune_insee": commune.insee, "service": "lighting", "activity": None,
                 "provider_kind": "private_firm", "provider": "Entreprise d'éclairage (marché de maintenance)",
                 "annual_cost_eur": round(lights * 0.5 * 31, -2), "work_share": 0.5}
            )  # fmt: skip
        if rng.random() < 0.35:
            rows["contract"].append(
                {"commune_insee": commune.insee, "service": "roads", "activity": "verge_mowing",
                 "provider_kind": "private_firm", "provider": "Entreprise agricole (fauchage)",
                 "annual_cost_eur": round(float(rng.uniform(2, 6)) * commune.area_km2 * 100, -1), "work_share": 1.0}
            )  # fmt: skip
        if not any(c["commune_insee"] == commune.insee for c in rows["contract"]):
            rows["contract"].append({"commune_insee": commune.insee})  # the commune alone: "no contract"
        for item, (category, unit, price, per_k) in PURCHASES.items():
            quantity = round(max(1.0, per_k * pop / 1000), 0 if unit in ("unit", "l", "t") else 1)
            discount = 0.9 if pop > 20000 else 1.0  # bigger orders, better prices
            rows["purchase"].append(
                {"commune_insee": commune.insee, "category": category, "item": item, "quantity": quantity,
                 "unit": unit, "unit_price_eur": round(price * discount * float(rng.uniform(0.85, 1.25)), 2)}
            )  # fmt: skip
    for index, (_, insee, equipment, central) in enumerate(depots):
        rng = np.random.default_rng(seed * 7919 + index)
        owner = None if central else insee
        crews = sum(equipment.values())
        rows["depot_cost"].append(
            {"commune_insee": owner, "depot_id": index, "capacity_crews": max(2, crews // 2 + 1),
             "capacity_vehicles": crews + 2,
             "annual_cost_eur": round(float(rng.uniform(7, 12)) * 1000 * (1 + crews / 3), -2)}
        )  # fmt: skip
        for kind, count in equipment.items():
            price, life, season = MACHINES.get(kind, (30_000, 10, "all_year"))
            for k in range(count):
                year = int(rng.integers(2006, 2025))
                rows["equipment"].append(
                    {"commune_insee": owner, "depot_id": index, "label": f"{kind.replace('_', ' ')} {k + 1}",
                     "equipment_type": kind, "year": year,
                     "purchase_price_eur": round(price * float(rng.uniform(0.85, 1.2)), -2), "life_years": life,
                     "running_cost_eur": round(price * float(rng.uniform(0.05, 0.1)), -1),
                     "hours_used": round(float(rng.uniform(120, 700))), "season": season}
                )  # fmt: skip
    rows["staff"] += agglomeration_rows()
    rows["contract"].append({"commune_insee": None})  # the agglomération contracts nothing out
    rows["purchase"].append({"commune_insee": None})  # and its purchases go through Laval's
    return rows


def write_workbook(
    outdir: Path,
    communes: list[Commune],
    depots: list[tuple[str, str, dict[str, int], bool]],
    seed: int = 1,
    catalogue: Catalogue | None = None,
) -> Path:
    catalogue = catalogue or get_catalogue()
    lookups = Lookups.build(
        catalogue, [(c.insee, c.name) for c in communes], [(i, d[0], d[1]) for i, d in enumerate(depots)]
    )
    path = Path(outdir) / FILE
    write(path, catalogue, lookups, build(communes, depots, seed))
    return path
