"""The workload model: on-site hours from the catalogue's activities, computed by the database."""

from __future__ import annotations

import psycopg
import pytest

from gis_patrimoine.analysis.workload import totals, workload

SQUARE = "MULTIPOLYGON(((400000 6780000, 401000 6780000, 401000 6781000, 400000 6781000, 400000 6780000)))"


@pytest.fixture
def small(conn: psycopg.Connection) -> psycopg.Connection:
    conn.execute(
        "INSERT INTO patrimoine.commune (insee, name, geom) VALUES ('53130', 'Laval', ST_GeomFromText(%s, 2154))",
        (SQUARE,),
    )
    conn.execute(
        "INSERT INTO patrimoine.street_light (commune_insee, source, source_id, lamp_type, geom) VALUES "
        "('53130', 't', '1', 'led', ST_GeomFromText('POINT(400100 6780100)', 2154)), "
        "('53130', 't', '2', 'hps', ST_GeomFromText('POINT(400200 6780100)', 2154))"
    )
    conn.execute(
        "INSERT INTO patrimoine.road (commune_insee, source, source_id, road_class, geom) VALUES "
        "('53130', 't', '1', 'street', ST_GeomFromText('LINESTRING(400100 6780100, 400350 6780100)', 2154))"
    )
    conn.execute(
        "INSERT INTO patrimoine.green_space (commune_insee, source, source_id, kind, geom) VALUES "
        "('53130', 't', '1', 'park', ST_GeomFromText('MULTIPOLYGON(((400500 6780500, 400550 6780500, "
        "400550 6780520, 400500 6780520, 400500 6780500)))', 2154))"
    )
    conn.commit()
    return conn


def test_hours_follow_the_catalogue(small: psycopg.Connection) -> None:
    rows = workload(small)
    by_activity = {(r.layer, r.activity): r for r in rows}
    # lights: inspection 6 min × 2 lights; relamping 25 min every 4 years (the sodium lamp); LED check 15 min / 8 y
    assert by_activity[("street_lights", "inspection")].hours_per_year == pytest.approx(12 / 60)
    assert by_activity[("street_lights", "relamping")].assets == 1
    assert by_activity[("street_lights", "relamping")].hours_per_year == pytest.approx(25 / 4 / 60)
    assert by_activity[("street_lights", "led_check")].hours_per_year == pytest.approx(15 / 8 / 60)
    # a 250 m street: swept 12 times (4 min per 100 m), inspected once (1.5 min per 100 m), verges not mown
    assert by_activity[("roads", "sweeping")].hours_per_year == pytest.approx(2.5 * 4 * 12 / 60)
    assert by_activity[("roads", "inspection")].hours_per_year == pytest.approx(2.5 * 1.5 / 60)
    assert ("roads", "verge_mowing") not in by_activity
    # a 1,000 m² park mown 15 times at 1.2 min per 100 m²
    assert by_activity[("green_spaces", "mowing")].hours_per_year == pytest.approx(10 * 1.2 * 15 / 60)
    by_service = totals(rows)
    assert by_service[("53130", "lighting")] == pytest.approx((12 + 25 / 4 + 15 / 8) / 60)
    assert set(by_service) == {("53130", "lighting"), ("53130", "roads"), ("53130", "green_spaces")}


def test_filters_by_service_and_commune(small: psycopg.Connection) -> None:
    assert {r.service for r in workload(small, service="lighting")} == {"lighting"}
    assert workload(small, communes=["99999"]) == []


def test_building_upkeep_counts_the_floor_area_not_the_footprint(small: psycopg.Connection) -> None:
    small.execute(
        "INSERT INTO patrimoine.building (commune_insee, source, source_id, use, floor_area_m2, geom) VALUES "
        "('53130', 't', 'b1', 'school', 1000, ST_GeomFromText('MULTIPOLYGON(((400600 6780600, 400620 6780600, "
        "400620 6780620, 400600 6780620, 400600 6780600)))', 2154)), "  # 400 m² on the ground, 1,000 m² of floors
        "('53130', 't', 'b2', 'church', NULL, ST_GeomFromText('MULTIPOLYGON(((400700 6780700, 400710 6780700, "
        "400710 6780710, 400700 6780710, 400700 6780700)))', 2154))"  # no floor area known: its footprint, 100 m²
    )
    small.commit()
    upkeep = next(r for r in workload(small) if r.activity == "upkeep")
    # 20 min per 100 m², 4 times a year: (1,000 + 100) m² / 100 × 20 / 60 × 4
    assert upkeep.hours_per_year == pytest.approx(1100 / 100 * 20 / 60 * 4)
