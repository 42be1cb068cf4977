"""The schema refuses bad writes, and `translate` turns each refusal into a clear message."""

from __future__ import annotations

import psycopg
import pytest

from gis_patrimoine.db.errors import DataError, translate

SQUARE = "MULTIPOLYGON(((400000 6780000, 401000 6780000, 401000 6781000, 400000 6781000, 400000 6780000)))"
BOWTIE = "MULTIPOLYGON(((400000 6780000, 401000 6781000, 401000 6780000, 400000 6781000, 400000 6780000)))"
ROAD = "LINESTRING(400100 6780100, 400900 6780900)"


@pytest.fixture
def commune(conn: psycopg.Connection) -> str:
    conn.execute(
        "INSERT INTO patrimoine.commune (insee, name, geom) VALUES ('53130', 'Laval', ST_GeomFromText(%s, 2154))",
        (SQUARE,),
    )
    conn.commit()
    return "53130"


def refused(conn: psycopg.Connection, query: str, params: tuple = ()) -> DataError:
    notices: list[str] = []
    conn.add_notice_handler(lambda d: notices.append(d.message_primary))
    with pytest.raises(psycopg.Error) as info:
        conn.execute(query, params)
    conn.rollback()
    return translate(info.value, notices=notices)


def insert_road(
    conn: psycopg.Connection,
    commune: str = "53130",
    road_class: str = "street",
    geom: str = ROAD,
    srid: int = 2154,
    **extra,
) -> str:
    cols = ", ".join(["commune_insee", "source", "source_id", "road_class", "geom", *extra])
    marks = ", ".join(["%s", "'test'", "%s", "%s", "ST_GeomFromText(%s, %s)", *["%s"] * len(extra)])
    return f"INSERT INTO patrimoine.road ({cols}) VALUES ({marks})", (  # noqa: S608 (test-built columns)
        commune,
        "r1",
        road_class,
        geom,
        srid,
        *extra.values(),
    )


def test_valid_road_is_accepted_with_audit_and_length(conn, commune) -> None:
    query, params = insert_road(conn)
    conn.execute(query, params)
    row = conn.execute("SELECT round(length_m), updated_by, uuid IS NOT NULL, extra FROM patrimoine.road").fetchone()
    assert row == (1131, "postgres", True, {})


def test_invalid_geometry_is_refused_with_reason(conn, commune) -> None:
    error = refused(
        conn,
        "INSERT INTO patrimoine.green_space (commune_insee, source, source_id, kind, geom) "
        "VALUES ('53130', 't', '1', 'park', ST_GeomFromText(%s, 2154))",
        (BOWTIE,),
    )
    assert error.code == "invalid_geometry" and error.field == "geom" and error.layer == "green_space"
    assert "Self-intersection" in str(error) and "repair" in str(error)


def test_wrong_geometry_type_is_refused(conn, commune) -> None:
    query, params = insert_road(conn, geom="POINT(400100 6780100)")
    error = refused(conn, query, params)
    assert error.code == "wrong_geometry_type"
    assert str(error) == "field geom: wrong geometry type Point: this layer holds LineString"


def test_single_polygon_into_multipolygon_layer_is_refused(conn, commune) -> None:
    error = refused(
        conn,
        "INSERT INTO patrimoine.building (commune_insee, source, source_id, use, geom) "
        "VALUES ('53130', 't', '1', 'school', ST_GeomFromText(%s, 2154))",
        ("POLYGON((400000 6780000, 400010 6780000, 400010 6780010, 400000 6780000))",),
    )
    assert error.code == "wrong_geometry_type" and "MultiPolygon" in error.message


def test_wrong_srid_is_refused(conn, commune) -> None:
    query, params = insert_road(conn, geom="LINESTRING(-0.77 48.07, -0.76 48.08)", srid=4326)
    error = refused(conn, query, params)
    assert error.code == "wrong_srid" and "reproject" in error.message


def test_unknown_code_value_is_refused_with_allowed_values(conn, commune) -> None:
    query, params = insert_road(conn, road_class="motorway")
    error = refused(conn, query, params)
    assert (error.code, error.layer, error.field, error.value) == (
        "unknown_code",
        "road",
        "road_class",
        "motorway",
    )
    assert "allowed: main, secondary, street" in error.message


def test_unknown_code_in_array_is_refused(conn, commune) -> None:
    error = refused(
        conn,
        "INSERT INTO patrimoine.depot (commune_insee, source, source_id, name, services, geom) "
        "VALUES ('53130', 't', '1', 'CTM', ARRAY['lighting', 'snow'], "
        "ST_GeomFromText('POINT(400500 6780500)', 2154))",
    )
    assert (error.code, error.field) == ("unknown_code", "services")


def test_unknown_commune_is_refused(conn, commune) -> None:
    query, params = insert_road(conn, commune="99999")
    error = refused(conn, query, params)
    assert (error.code, error.field, error.value) == ("unknown_commune", "commune_insee", "99999")
    assert "import communes" in error.message


def test_out_of_range_and_missing_values_are_refused(conn, commune) -> None:
    query, params = insert_road(conn, width_m=250.0)
    error = refused(conn, query, params)
    assert (error.code, error.field) == ("out_of_range", "width_m")
    assert "[0.5, 100]" in error.message
    error = refused(
        conn,
        "INSERT INTO patrimoine.road (commune_insee, source, source_id, geom) VALUES "
        "('53130', 't', '1', ST_GeomFromText(%s, 2154))",
        (ROAD,),
    )
    assert (error.code, error.field) == ("required", "road_class")


def test_duplicate_natural_key_is_refused(conn, commune) -> None:
    query, params = insert_road(conn)
    conn.execute(query, params)
    error = refused(conn, query, params)
    assert error.code == "duplicate" and "source, source_id" in error.message


def test_empty_geometry_is_refused(conn, commune) -> None:
    query, params = insert_road(conn, geom="LINESTRING EMPTY")
    assert refused(conn, query, params).code == "empty_geometry"


def test_commune_in_use_cannot_be_deleted(conn, commune) -> None:
    query, params = insert_road(conn)
    conn.execute(query, params)
    conn.commit()
    error = refused(conn, "DELETE FROM patrimoine.commune WHERE insee = '53130'")
    assert error.code == "in_use"
    assert (
        str(error) == "layer commune field insee: commune 53130 is still used by features of layer road: "
        "move or delete them first"
    )
