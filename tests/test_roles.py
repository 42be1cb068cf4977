"""Rights for direct database clients: an editor writes only its communes' assets (refused with a message,
nothing written, otherwise), readers read, managers write everywhere; every write is in the history."""

from __future__ import annotations

import psycopg
import pytest

from tests.conftest import login
from tests.test_migrations import run_cli

ALICE, RITA, MAX = login("gp_t_alice"), login("gp_t_rita"), login("gp_t_max")

SQUARE = "MULTIPOLYGON((({x} 6780000, {x2} 6780000, {x2} 6781000, {x} 6781000, {x} 6780000)))"


@pytest.fixture
def two_communes(conn: psycopg.Connection, db_url: str) -> dict[str, int]:
    roads = {}
    for insee, name, x in (("53130", "Laval", 400000), ("53054", "Changé", 402000)):
        conn.execute(
            "INSERT INTO patrimoine.commune (insee, name, geom) VALUES (%s, %s, ST_GeomFromText(%s, 2154))",
            (insee, name, SQUARE.format(x=x, x2=x + 1000)),
        )
        roads[insee] = conn.execute(
            "INSERT INTO patrimoine.road (commune_insee, source, source_id, road_class, geom) VALUES (%s, 't', %s, "
            "'street', ST_GeomFromText(%s, 2154)) RETURNING id",
            (insee, insee, f"LINESTRING({x + 100} 6780100, {x + 900} 6780900)"),
        ).fetchone()[0]
    conn.commit()
    for name, role, communes in (
        (ALICE, "editor", ["53130"]),
        (RITA, "reader", []),
        (MAX, "manager", []),
    ):
        args = ["users", "create", name, "--role", role]
        for c in communes:
            args += ["--commune", c]
        result = run_cli(*args, url=db_url)
        assert result.returncode == 0, result.stderr
    return roads


def as_user(db_url: str, login: str) -> psycopg.Connection:
    return psycopg.connect(db_url.replace("postgres@", f"{login}@", 1))


def test_editor_writes_only_its_communes(db_url: str, two_communes: dict[str, int], conn: psycopg.Connection) -> None:
    with as_user(db_url, ALICE) as alice:
        alice.execute("UPDATE patrimoine.road SET name = 'Rue A' WHERE id = %s", (two_communes["53130"],))
        alice.commit()
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match=f"{ALICE} may not update assets of commune"):
            alice.execute("UPDATE patrimoine.road SET name = 'Rue B' WHERE id = %s", (two_communes["53054"],))
        alice.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="may not delete assets of commune 53054"):
            alice.execute("DELETE FROM patrimoine.road WHERE id = %s", (two_communes["53054"],))
        alice.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            alice.execute(
                "INSERT INTO patrimoine.street_light (commune_insee, source, source_id, lamp_type, geom) VALUES "
                "('53054', 't', 'x', 'led', ST_SetSRID(ST_MakePoint(402500, 6780500), 2154))"
            )
        alice.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="may not update assets of commune 53054"):
            alice.execute("UPDATE patrimoine.road SET commune_insee = '53054' WHERE id = %s", (two_communes["53130"],))
        alice.rollback()
        alice.execute(
            "INSERT INTO patrimoine.street_light (commune_insee, source, source_id, lamp_type, geom) VALUES "
            "('53130', 't', 'y', 'led', ST_SetSRID(ST_MakePoint(400500, 6780500), 2154))"
        )
        alice.commit()
    names = dict(conn.execute("SELECT commune_insee, name FROM patrimoine.road").fetchall())
    assert names == {"53130": "Rue A", "53054": None}  # nothing written in Changé
    rows = conn.execute(
        "SELECT layer, operation, db_user FROM patrimoine_sys.history WHERE db_user = %s ORDER BY id", (ALICE,)
    ).fetchall()
    assert rows == [("road", "UPDATE", ALICE), ("street_light", "INSERT", ALICE)]


def test_readers_read_and_managers_write_everywhere(db_url: str, two_communes: dict[str, int]) -> None:
    with as_user(db_url, RITA) as rita:
        assert rita.execute("SELECT count(*) FROM patrimoine.road").fetchone()[0] == 2
        assert rita.execute("SELECT count(*) FROM patrimoine_sys.history").fetchone()[0] > 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            rita.execute("UPDATE patrimoine.road SET name = 'x'")
    with as_user(db_url, MAX) as mx:
        assert mx.execute("UPDATE patrimoine.road SET name = 'Grand-Rue'").rowcount == 2
    listing = run_cli("users", "logins", url=db_url)
    assert ALICE in listing.stdout and "53130" in listing.stdout


def test_admins_also_change_code_lists_and_logins(db_url: str, two_communes: dict[str, int]) -> None:
    """gp_admin: a manager who also edits the code lists and who may edit which commune; a manager may not."""
    admin = login("gp_t_admin")
    assert run_cli("users", "create", admin, "--role", "admin", url=db_url).returncode == 0
    with as_user(db_url, MAX) as mx, pytest.raises(psycopg.errors.InsufficientPrivilege):
        mx.execute("UPDATE patrimoine_vl.lamp_type SET label_fr = 'DEL' WHERE code = 'led'")
    with as_user(db_url, admin) as adm:
        assert adm.execute("UPDATE patrimoine.road SET name = 'Grand-Rue'").rowcount == 2  # a manager's rights
        assert adm.execute("UPDATE patrimoine_vl.lamp_type SET label_fr = 'DEL' WHERE code = 'led'").rowcount == 1
        adm.execute("INSERT INTO patrimoine_sys.user_commune VALUES (%s, '53054')", (ALICE,))
        adm.commit()
    with as_user(db_url, ALICE) as alice:  # Changé is hers now
        assert alice.execute("UPDATE patrimoine.road SET name = 'Rue B' WHERE commune_insee = '53054'").rowcount == 1
