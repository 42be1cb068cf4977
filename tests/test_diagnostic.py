"""The shared diagnostic: the questionnaire workbook (template, import all or nothing, export), rights and
history on its tables, and the diagnostic's figures on a small territory worked out by hand."""

from __future__ import annotations

from pathlib import Path

import httpx
import psycopg
import pytest
from openpyxl import Workbook, load_workbook

from gis_patrimoine.analysis.diagnostic import diagnostic
from gis_patrimoine.catalogue import get_catalogue
from gis_patrimoine.diagnostic.load import DiagnosticRefused, load_file
from gis_patrimoine.diagnostic.load import template as write_template
from tests.servers import add_token, running_server
from tests.test_migrations import run_cli
from tests.test_roles import ALICE, MAX, as_user

SQUARE = "MULTIPOLYGON((({x} 6780000, {x2} 6780000, {x2} 6781000, {x} 6781000, {x} 6780000)))"
TABLES = ("staff", "equipment", "depot_cost", "contract", "purchase")
STAFF = [  # as the workbook shows them: labels, "INSEE — name", oui/non
    ["53130 — Laval", "Éclairage public", "Électricien habilité", "Technicien", 2, 52000, 1607, 0.1, "non", None,
     "régie"],
    ["53130 — Laval", "Espaces verts", "Espaces verts", "Adjoint technique", 1.5, 38000, 1607, 0.12, "oui", 6, None],
    ["Agglomération", "Voirie", "Encadrement", "Ingénieur", 1, 68000, 1607, 0.12, "non", None, None],
]  # fmt: skip
EQUIPMENT = [
    ["53130 — Laval", "CTM Laval", "Nacelle 1", "Nacelle élévatrice", 2012, 85000, 12, 6000, 300, "Toute l'année", None]
]
DEPOTS = [["53130 — Laval", "CTM Laval", 9000, 3, 5, None]]
CONTRACTS = [
    ["53054 — Changé", "Éclairage public", None, "Syndicat (énergie, eau…)", "Territoire d'énergie Mayenne", 4000, 1,
     2028, None]
]  # fmt: skip
PURCHASES = [
    ["53130 — Laval", "Lanternes LED", "Lanterne LED 40 W", 10, "unité", 300, "A", None],
    ["53054 — Changé", "Lanternes LED", "Lanterne LED 40 W", 20, "unité", 400, "B", None],
]


@pytest.fixture
def territory(conn: psycopg.Connection, db_url: str) -> str:
    """Laval and Changé, a depot each, a street light in Laval."""
    for insee, name, x, pop in (("53130", "Laval", 400000, 50000), ("53054", "Changé", 402000, 5000)):
        conn.execute(
            "INSERT INTO patrimoine.commune (insee, name, population, geom) VALUES (%s, %s, %s, "
            "ST_GeomFromText(%s, 2154))",
            (insee, name, pop, SQUARE.format(x=x, x2=x + 1000)),
        )
        conn.execute(
            "INSERT INTO patrimoine.depot (commune_insee, source, source_id, name, services, crews, geom) VALUES "
            "(%s, 't', %s, %s, '{lighting,roads,green_spaces,buildings}', 1, "
            "ST_SetSRID(ST_MakePoint(%s, 6780500), 2154))",
            (insee, insee, f"CTM {name}", x + 500),
        )
    conn.execute(
        "INSERT INTO patrimoine.street_light (commune_insee, source, source_id, lamp_type, geom) VALUES "
        "('53130', 't', 'l1', 'led', ST_SetSRID(ST_MakePoint(400100, 6780100), 2154))"
    )
    conn.commit()
    return db_url


@pytest.fixture
def logins(territory: str) -> str:
    """An editor of Laval (ALICE) and a manager, as database logins."""
    for name, role, communes in ((ALICE, "editor", ["53130"]), (MAX, "manager", [])):
        args = ["users", "create", name, "--role", role, *(a for c in communes for a in ("--commune", c))]
        assert run_cli(*args, url=territory).returncode == 0
    return territory


def fill(template: Path, out: Path, sheets: dict[str, list[list]]) -> Path:
    wb = load_workbook(template)
    for sheet, rows in sheets.items():
        for row in rows:
            wb[sheet].append(row)
    wb.save(out)
    return out


def state(url: str) -> dict:
    with psycopg.connect(url) as conn:
        out = {
            t: conn.execute(
                f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM patrimoine.{t} t"  # noqa: S608
            ).fetchone()[0]
            for t in TABLES
        }
        out["returns"] = conn.execute("SELECT count(*) FROM patrimoine_sys.diagnostic_return").fetchone()[0]
        out["history"] = conn.execute("SELECT count(*) FROM patrimoine_sys.history").fetchone()[0]
    return out


@pytest.fixture
def template(territory: str, tmp_path: Path) -> Path:
    path = tmp_path / "questionnaire.xlsx"
    with psycopg.connect(territory) as conn:
        write_template(conn, path)
    return path


def test_the_cli_writes_the_template(territory: str, tmp_path: Path) -> None:
    done = run_cli("diagnostic", "template", str(tmp_path / "q.xlsx"), url=territory)
    assert done.returncode == 0 and "Personnel" in load_workbook(tmp_path / "q.xlsx").sheetnames


def test_template_has_a_sheet_per_table_french_headers_help_and_drop_downs(template: Path) -> None:
    wb = load_workbook(template)
    catalogue = get_catalogue()
    assert wb.sheetnames[:2] == ["Lisez-moi", "Listes"] and wb["Listes"].sheet_state == "hidden"
    assert wb.sheetnames[2:] == [catalogue.tables[t].sheet for t in TABLES]
    staff = wb["Personnel"]
    headers = [c.value for c in staff[1]]
    assert headers[:5] == [
        "Commune (code INSEE, vide pour l'agglomération)",
        "Service",
        "Compétence",
        "Grade",
        "Postes (ETP)",
    ]
    assert "Équivalents temps plein" in staff["E1"].comment.text
    lists = {str(dv.sqref).split(":")[0]: dv for dv in staff.data_validations.dataValidation}
    assert "Listes" in lists["B2"].formula1 and lists["E2"].type == "decimal"  # service from a list, posts a number
    listed = [c.value for c in wb["Listes"]["A"] if c.value]
    assert "53130 — Laval" in listed and "Agglomération" in listed
    skills = next(col for col in wb["Listes"].iter_cols(values_only=True) if col[0] == "skill")
    assert "Électricien habilité" in skills


def test_a_filled_workbook_round_trips(template: Path, territory: str, tmp_path: Path) -> None:
    sheets = {"Personnel": STAFF, "Matériel": EQUIPMENT, "Centres techniques": DEPOTS, "Contrats": CONTRACTS,
              "Achats": PURCHASES}  # fmt: skip
    filled = fill(template, tmp_path / "filled.xlsx", sheets)
    done = run_cli("diagnostic", "import", str(filled), url=territory)
    assert done.returncode == 0, done.stdout + done.stderr
    exported = tmp_path / "exported.xlsx"
    assert run_cli("diagnostic", "export", str(exported), url=territory).returncode == 0
    wb = load_workbook(exported)
    for sheet, rows in sheets.items():
        got = [list(r) for r in wb[sheet].iter_rows(min_row=2, values_only=True)]
        assert sorted(map(repr, got)) == sorted(map(repr, rows)), sheet
    with psycopg.connect(territory) as conn:
        assert conn.execute("SELECT count(*) FROM patrimoine.staff WHERE commune_insee IS NULL").fetchone()[0] == 1
        assert conn.execute(
            "SELECT months, seasonal FROM patrimoine.staff WHERE service = 'green_spaces'"
        ).fetchone() == (
            6,
            True,
        )


COMMUNE = "column A «Commune (code INSEE, vide pour l'agglomération)»"
BROKEN = [
    ({"Feuil1": [["x"]]}, "sheet 'Feuil1' is not part of the questionnaire"),
    (
        {"Personnel": [["53130", "Voirie", "Jardinier", None, 1]]},
        "row 2, column C «Compétence»: 'Jardinier' is not in the list",
    ),
    (
        {"Personnel": [["53130", "Voirie", "Voirie", None, "deux"]]},
        "row 2, column E «Postes (ETP)»: 'deux' is not a number",
    ),
    ({"Personnel": [["53130", "Voirie", "Voirie", None, -1]]}, "column E «Postes (ETP)»: -1 is out of range [0, 500]"),
    ({"Personnel": [["99999", "Voirie", "Voirie", None, 1]]}, f"{COMMUNE}: '99999' is not a commune"),
    (
        {"Personnel": [["53130", "Voirie", "Voirie", None, 1], ["53130 — Laval", "voirie", "VOIRIE", None, 2]]},
        "sheet 'Personnel', rows 2 and 3: the same",
    ),
    ({"Personnel": [["53130", "Voirie", "Voirie", None, None]]}, "row 2, column E «Postes (ETP)»: empty"),
    (
        {"Matériel": [["53130", "CTM Nulle Part", "x", "Fourgon"]]},
        "column B «Centre technique»: 'CTM Nulle Part': no depot",
    ),
    ({}, "no answer: every sheet of the questionnaire is empty"),
    (
        {"Personnel": [[None, "Voirie", "Voirie", None, 1]]},
        "column A «Commune (code INSEE, vide pour l'agglomération)»: empty",
    ),
    (
        {"Matériel": [["53054", "CTM Laval", "x", "Fourgon"]]},
        "'CTM Laval': a depot of another commune than 53054",
    ),
    (
        {"Contrats": [["53130", "Voirie", "Balayage des trottoirs", "Entreprise privée", "X", 100]]},
        "'Balayage des trottoirs' is not an activity of roads",
    ),
    (  # one line of costs per depot
        {"Centres techniques": [DEPOTS[0], ["53130", "CTM Laval", 500, 1, 1, None]]},
        "sheet 'Centres techniques', rows 2 and 3: the same",
    ),
]


@pytest.mark.parametrize(("sheets", "expected"), BROKEN)
def test_broken_workbooks_are_refused_naming_sheet_row_and_column(
    template: Path, territory: str, tmp_path: Path, sheets: dict, expected: str
) -> None:
    wb = load_workbook(template)
    for sheet, rows in sheets.items():
        ws = wb[sheet] if sheet in wb.sheetnames else wb.create_sheet(sheet)
        for row in rows:
            ws.append(row)
    path = tmp_path / "broken.xlsx"
    wb.save(path)
    before = state(territory)
    with psycopg.connect(territory) as conn, pytest.raises(DiagnosticRefused) as refused:
        load_file(conn, path)
    assert "broken.xlsx: nothing was loaded" in str(refused.value)
    assert any(expected in p for p in refused.value.problems), refused.value.problems
    assert state(territory) == before


def test_the_cli_refuses_with_every_problem(template: Path, territory: str, tmp_path: Path) -> None:
    path = fill(template, tmp_path / "broken.xlsx", {"Personnel": [["53130", "Voirie", "Jardinier", None, "deux"]]})
    done = run_cli("diagnostic", "import", str(path), url=territory)
    text = " ".join(done.stderr.split())
    assert done.returncode == 1 and "nothing was loaded, 2 problem(s)" in text
    assert "'Jardinier' is not in the list" in text and "'deux' is not a number" in text


def test_other_files_are_refused_clearly(territory: str, tmp_path: Path) -> None:
    before = state(territory)
    junk = tmp_path / "answers.xlsx"
    junk.write_bytes(b"not a workbook at all")
    done = run_cli("diagnostic", "import", str(junk), url=territory)
    assert done.returncode == 1 and "not an .xlsx workbook" in done.stderr
    # a CSV saved by an old Excel, in Windows-1252: refused with the way out, then read with its encoding
    csv_path = tmp_path / "staff.csv"
    csv_path.write_bytes(
        "Commune;Service;Compétence;Postes (ETP)\n53130;Éclairage public;Électricien habilité;2\n".encode("cp1252")
    )
    done = run_cli("diagnostic", "import", str(csv_path), url=territory)
    assert (
        done.returncode == 1 and "line 1 is not UTF-8" in " ".join(done.stderr.split()) and "--encoding" in done.stderr
    )
    assert state(territory) == before
    done = run_cli("diagnostic", "import", str(csv_path), "--encoding", "cp1252", url=territory)
    assert done.returncode == 0, done.stderr
    with psycopg.connect(territory) as conn:
        assert conn.execute("SELECT skill, fte FROM patrimoine.staff").fetchall() == [("electrician", 2.0)]


def test_a_reimport_replaces_the_communes_answers_and_the_history_keeps_them(
    template: Path, territory: str, tmp_path: Path
) -> None:
    first = fill(template, tmp_path / "v1.xlsx", {"Personnel": STAFF, "Achats": PURCHASES})
    assert run_cli("diagnostic", "import", str(first), url=territory).returncode == 0
    second = fill(template, tmp_path / "v2.xlsx", {"Personnel": [["53130", "Voirie", "Voirie", None, 3]]})
    assert run_cli("diagnostic", "import", str(second), url=territory).returncode == 0
    with psycopg.connect(territory) as conn:
        staff = conn.execute(
            "SELECT coalesce(commune_insee, 'agglo'), service, fte FROM patrimoine.staff ORDER BY 1"
        ).fetchall()
        assert staff == [("53130", "roads", 3.0), ("agglo", "roads", 1.0)]  # Laval's replaced; the agglo's kept
        assert conn.execute("SELECT count(*) FROM patrimoine.purchase").fetchone()[0] == 2  # no Achats sent: kept
        deleted = conn.execute(
            "SELECT count(*) FROM patrimoine_sys.history WHERE layer = 'staff' AND operation = 'DELETE'"
        ).fetchone()[0]
        assert deleted == 2  # Laval's two former rows, kept in the history


def test_rights_and_history_on_the_answers(template: Path, logins: str, tmp_path: Path) -> None:
    territory = logins
    filled = fill(template, tmp_path / "filled.xlsx", {"Personnel": STAFF, "Contrats": CONTRACTS})
    with psycopg.connect(territory) as conn:
        load_file(conn, filled)
    with as_user(territory, ALICE) as alice:  # what QGIS does with an editor's login
        alice.execute("UPDATE patrimoine.staff SET fte = 2.5 WHERE commune_insee = '53130' AND service = 'lighting'")
        alice.commit()
        with pytest.raises(
            psycopg.errors.InsufficientPrivilege, match="may not update the diagnostic answers of commune 53054"
        ):
            alice.execute("UPDATE patrimoine.contract SET annual_cost_eur = 1")
        alice.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="of commune agglomération"):
            alice.execute("DELETE FROM patrimoine.staff WHERE commune_insee IS NULL")
        alice.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            alice.execute(
                "INSERT INTO patrimoine.staff (commune_insee, service, skill, fte) "
                "VALUES ('53054', 'roads', 'roads', 1)"
            )
        alice.rollback()
    with psycopg.connect(territory) as conn:
        change = conn.execute(
            "SELECT changed_fields, old_values ->> 'fte', new_values ->> 'fte', db_user FROM patrimoine_sys.history "
            "WHERE layer = 'staff' AND operation = 'UPDATE'"
        ).fetchone()
        assert change[:3] == (["fte"], "2", "2.5") and change[3] == ALICE
        assert conn.execute("SELECT annual_cost_eur FROM patrimoine.contract").fetchone()[0] == 4000


def test_the_diagnostic_worked_out_by_hand(template: Path, territory: str, tmp_path: Path) -> None:
    filled = fill(
        template, tmp_path / "filled.xlsx", {"Personnel": STAFF[:1], "Contrats": CONTRACTS, "Achats": PURCHASES}
    )
    assert run_cli("diagnostic", "import", str(filled), url=territory).returncode == 0
    with psycopg.connect(territory) as conn:
        d = diagnostic(conn)
    figures = {(f["commune"], f["service"]): f for f in d["figures"]}
    laval = figures[("53130", "lighting")]
    assert laval["posts"] == 2 and laval["capacity_h"] == pytest.approx(2 * 1607 * 0.9)
    # one LED light: the hours of each lighting activity that applies to it (minutes × visits a year) × its
    # crew (layers/street_light.yaml): inspection 6 min a year by one agent, LED check 15 min every 8 years by
    # two (work at height); no stored round plan, so no travel
    per_light = 6 / 60 * 1 * 1 + 15 / 60 / 8 * 2
    assert laval["workload_h"] == pytest.approx(per_light) and laval["travel_h"] == 0
    assert laval["own_work_h"] == laval["workload_h"] and laval["balance_h"] == pytest.approx(
        2 * 1607 * 0.9 - per_light
    )
    assert laval["staff_cost_eur"] == 104000
    # Changé answered contracts only: its posts are missing, not zero; its lighting is all contracted
    changé = figures[("53054", "lighting")]
    assert changé["posts"] is None and changé["contract_cost_eur"] == 4000
    assert changé["workload_h"] == 0 and changé["contracted_share"] is None  # no light inventoried: no share
    spending = {s["commune"]: s for s in d["spending"]}
    assert spending["53054"]["staff_eur"] is None and spending["53054"]["contracts_eur"] == 4000
    # per inhabitant, over what was answered: Changé 4,000 € of contracts + 20 lanterns at 400 € for 5,000
    # inhabitants; Laval two posts (104,000 €) + 10 lanterns at 300 € for 50,000
    assert spending["53054"]["per_inhabitant_eur"] == (4000 + 20 * 400) / 5000
    assert spending["53130"]["per_inhabitant_eur"] == round((104000 + 10 * 300) / 50000, 1)
    assert spending["53130"]["machines_eur"] is None  # no equipment sheet from Laval: missing
    [lantern] = d["purchases"]
    assert (lantern["min_price_eur"], lantern["max_price_eur"], lantern["pays_most"]) == (300, 400, "Changé")
    assert lantern["saving_at_lowest_eur"] == 20 * 100


def test_machines_and_travel_in_the_diagnostic(template: Path, territory: str, tmp_path: Path) -> None:
    """Laval's aerial platform (2012, 85,000 € over 12 years + 6,000 € a year) against the machine-days its
    activities need; its lighting's travel from the latest stored inspection plan covering it."""
    from datetime import date

    from gis_patrimoine.analysis.network import ensure_network
    from gis_patrimoine.analysis.rounds import RoundRequest, plan_rounds, store

    filled = fill(template, tmp_path / "filled.xlsx", {"Personnel": STAFF[:1], "Matériel": EQUIPMENT})
    assert run_cli("diagnostic", "import", str(filled), url=territory).returncode == 0
    with psycopg.connect(territory) as conn:
        conn.execute(
            "INSERT INTO patrimoine.road (commune_insee, source, source_id, road_class, geom) VALUES ('53130', 't', "
            "'r', 'street', ST_GeomFromText('LINESTRING(400100 6780100, 400500 6780100, 400500 6780500)', 2154))"
        )
        conn.commit()
        ensure_network(conn)
        before = {f["service"]: f["travel_h"] for f in diagnostic(conn)["figures"] if f["commune"] == "53130"}
        plan = plan_rounds(conn, RoundRequest("lighting", "inspection", communes=["53130"], iterations=50))
        store(conn, plan)
        conn.execute(  # 999 more LED lights (after the plan: its travel stays that of the one light)
            "INSERT INTO patrimoine.street_light (commune_insee, source, source_id, lamp_type, geom) SELECT '53130', "
            "'t', 'm' || i, 'led', ST_SetSRID(ST_MakePoint(400100 + i * 0.3, 6780120), 2154) "
            "FROM generate_series(1, 999) i"
        )
        conn.commit()
        d = diagnostic(conn)
    travel = sum(r.travel_s for r in plan.rounds) / 3600
    laval = next(f for f in d["figures"] if (f["commune"], f["service"]) == ("53130", "lighting"))
    assert before["lighting"] == 0 and travel > 0 and laval["travel_h"] == pytest.approx(travel, abs=1e-3)
    platform = next(m for m in d["machines"] if m["type"] == "aerial_platform")
    assert platform["held_by"] == {"53130": 1} and platform["mean_age_years"] == date.today().year - 2012
    # LED check on a platform: 15 min every 8 years × 1,000 lights = 31.25 h = 4.5 machine-days of 7 h
    assert platform["machine_days_needed"] == 4.5 and platform["needed_by"] == {"53130": 4.5}
    spending = next(s for s in d["spending"] if s["commune"] == "53130")
    assert spending["machines_eur"] == round(85000 / 12 + 6000)  # in whole euros


def test_the_questionnaire_over_http(template: Path, territory: str, tmp_path: Path) -> None:
    editor = add_token(territory, "alice", "editor", ["53130"])
    manager = add_token(territory, "max", "manager")
    filled = fill(template, tmp_path / "filled.xlsx", {"Personnel": STAFF[:2]})
    other = fill(template, tmp_path / "other.xlsx", {"Contrats": CONTRACTS})
    with running_server(territory) as base, httpx.Client(base_url=base, timeout=60) as client:
        got = client.get("/diagnostic/template")
        assert got.status_code == 200 and got.content[:2] == b"PK"
        (tmp_path / "down.xlsx").write_bytes(got.content)
        assert "Personnel" in load_workbook(tmp_path / "down.xlsx").sheetnames
        assert client.post("/diagnostic/imports", content=filled.read_bytes()).status_code == 401
        refused = client.post("/diagnostic/imports", content=other.read_bytes(), headers=editor)
        assert refused.status_code == 403 and "53054" in refused.text  # Changé is not hers
        loaded = client.post("/diagnostic/imports", content=filled.read_bytes(), headers=editor)
        assert loaded.status_code == 201, loaded.text
        assert loaded.json()["written"] == {"staff": 2}
        assert client.get("/diagnostic/export").status_code == 401  # staff costs: not for anonymous readers
        exported = client.get("/diagnostic/export", headers=editor)
        assert exported.status_code == 200 and exported.content[:2] == b"PK"
        bad = Workbook()
        bad.active.title = "Personnel"
        bad.active.append(["Commune", "Service", "Compétence", "Postes (ETP)"])
        bad.active.append(["53130", "Voirie", "Voirie", "beaucoup"])
        bad.save(tmp_path / "bad.xlsx")
        answer = client.post("/diagnostic/imports", content=(tmp_path / "bad.xlsx").read_bytes(), headers=manager)
        assert answer.status_code == 422 and "'beaucoup' is not a number" in answer.json()["problems"][0]
        as_manager = client.post("/diagnostic/imports", content=other.read_bytes(), headers=manager)
        assert as_manager.status_code == 201 and as_manager.json()["written"] == {"contract": 1}  # Changé's
        d = client.get("/analysis/diagnostic").json()
        assert {s["service"] for s in d["services"]} >= {"lighting", "green_spaces"}
        assert client.get("/analysis/diagnostic", params={"commune": "99999"}).status_code == 422


def test_the_same_answers_again_change_nothing(template: Path, territory: str, tmp_path: Path) -> None:
    filled = fill(template, tmp_path / "filled.xlsx", {"Personnel": STAFF, "Achats": PURCHASES})
    with psycopg.connect(territory) as conn:
        load_file(conn, filled)
        conn.commit()
        before = state(territory)
        again = load_file(conn, filled)
        conn.commit()
    assert sorted(again.unchanged) == ["purchase", "staff"] and again.written == {}
    assert state(territory) == before


def test_a_commune_alone_on_a_line_answers_none(template: Path, territory: str, tmp_path: Path) -> None:
    filled = fill(template, tmp_path / "none.xlsx", {"Contrats": [["53130 — Laval"], *CONTRACTS]})
    with psycopg.connect(territory) as conn:
        report = load_file(conn, filled)
        conn.commit()
        d = diagnostic(conn)
        assert report.written == {"contract": 1}
        spending = {s["commune"]: s for s in d["spending"]}
        assert spending["53130"]["contracts_eur"] == 0 and spending["53054"]["contracts_eur"] == 4000
        assert spending["53130"]["staff_eur"] is None  # Personnel not sent: missing, not zero
    exported = tmp_path / "exported.xlsx"
    with psycopg.connect(territory) as conn:
        from gis_patrimoine.diagnostic.load import export

        export(conn, exported)
    rows = [list(r) for r in load_workbook(exported)["Contrats"].iter_rows(min_row=2, values_only=True)]
    assert ["53130 — Laval"] + [None] * 8 in rows and len(rows) == 2


@pytest.mark.qgis
def test_qgis_opens_the_answers_with_forms_and_an_editor_changes_its_communes_only(
    template: Path, logins: str, tmp_path: Path
) -> None:
    """Real PyQGIS (tests/qgis_probe.py): the diagnostic's tables open without geometry, with their default
    forms (value relations, French aliases); the editor of Laval changes Laval's posts, not Changé's."""
    from psycopg.conninfo import conninfo_to_dict

    from tests.test_qgis import probe

    url = logins
    assert run_cli("qgis", "styles", url=url).returncode == 0
    staff = [
        STAFF[0],
        ["53054 — Changé", "Voirie", "Voirie", "Adjoint technique", 2, None, None, None, None, None, None],
    ]
    with psycopg.connect(url) as conn:
        load_file(conn, fill(template, tmp_path / "filled.xlsx", {"Personnel": staff, "Achats": PURCHASES}))
        conn.commit()
        own, other = (
            conn.execute("SELECT id FROM patrimoine.staff WHERE commune_insee = %s", (c,)).fetchone()[0]
            for c in ("53130", "53054")
        )
    p = conninfo_to_dict(url)
    spec = {
        "db": {"host": p["host"], "port": p["port"], "dbname": p["dbname"], "user": p["user"]},
        "steps": ["diagnostic"],
        "tables": list(TABLES),
        "editor": {"login": ALICE, "own_row": own, "other_row": other},
    }
    seen = probe(spec)["diagnostic"]
    catalogue = get_catalogue()
    for name in TABLES:
        t = seen["tables"][name]
        assert t["valid"], name
        for a in catalogue.tables[name].attributes:
            assert t["aliases"][a.name] == a.title.fr, (name, a.name)
            if a.type in ("code", "commune") or a.type == "reference":
                assert t["widgets"][a.name] == "ValueRelation", (name, a.name)
    assert seen["tables"]["staff"]["count"] == 2 and seen["tables"]["purchase"]["count"] == 2
    assert seen["own"]["ok"], seen["own"]
    assert (
        not seen["other"]["ok"] and "may not update the diagnostic answers of commune 53054" in seen["other"]["errors"]
    )
    with psycopg.connect(url) as conn:
        assert dict(conn.execute("SELECT commune_insee, fte FROM patrimoine.staff").fetchall()) == {
            "53130": 4.5,
            "53054": 2.0,
        }
        change = conn.execute(
            "SELECT db_user, changed_fields FROM patrimoine_sys.history WHERE layer = 'staff' AND operation = 'UPDATE'"
        ).fetchall()
        assert change == [(ALICE, ["fte"])]


def test_stored_per_commune_as_a_collection_and_a_printable_report(
    template: Path, territory: str, tmp_path: Path
) -> None:
    filled = fill(template, tmp_path / "filled.xlsx", {"Personnel": STAFF, "Contrats": CONTRACTS, "Achats": PURCHASES})
    with psycopg.connect(territory) as conn:
        load_file(conn, filled)
        conn.commit()
    done = run_cli("analyse", "diagnostic", "--report", str(tmp_path / "r.html"), "--picture", str(tmp_path / "d.png"),
                   url=territory)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "stored 2 communes in the collection diagnostic_communes" in done.stdout
    assert (tmp_path / "d.png").read_bytes()[:4] == b"\x89PNG"
    report = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "<svg" in report and "Lanterne LED 40 W" in report and "Matériel" in report  # sheets not answered
    with psycopg.connect(territory) as conn:
        rows = dict(conn.execute("SELECT commune_insee, missing FROM analysis.diagnostic_commune").fetchall())
    assert rows == {"53130": ["equipment", "depot_cost", "contract"], "53054": ["staff", "equipment", "depot_cost"]}
    manager = add_token(territory, "max", "manager")
    with running_server(territory) as base, httpx.Client(base_url=base, timeout=60) as client:
        items = client.get("/collections/diagnostic_communes/items").json()
        laval = next(f for f in items["features"] if f["properties"]["commune_insee"] == "53130")
        # 2 electricians, and 1.5 seasonal posts for 6 months; Laval sent no contract: missing, not zero
        assert laval["properties"]["posts"] == 2.75 and laval["properties"]["contracts_eur"] is None
        assert client.post("/analysis/diagnostic").status_code == 401
        assert client.post("/analysis/diagnostic", headers=manager).json()["stored"] == 2
        page = client.get("/analysis/diagnostic/report")
        assert page.status_code == 200 and "Shared diagnostic" in page.text


def test_answers_entered_otherwise_count_and_an_editor_records_only_its_communes(
    template: Path, logins: str, tmp_path: Path
) -> None:
    territory = logins
    with psycopg.connect(territory) as conn:  # staff entered in QGIS, no questionnaire returned
        conn.execute(
            "INSERT INTO patrimoine.staff (commune_insee, service, skill, fte) VALUES ('53054', 'roads', 'roads', 1)"
        )
        conn.commit()
        d = diagnostic(conn)
    assert {(f["commune"], f["posts"]) for f in d["figures"] if f["service"] == "roads"} >= {("53054", 1.0)}
    none_for_changé = fill(template, tmp_path / "none.xlsx", {"Contrats": [["53054 — Changé"]]})
    with as_user(territory, ALICE) as alice, pytest.raises(psycopg.errors.InsufficientPrivilege):
        load_file(alice, none_for_changé)
    done = run_cli("diagnostic", "import", str(none_for_changé), url=territory.replace("postgres@", f"{ALICE}@", 1))
    assert done.returncode == 1 and "nothing was loaded" in done.stderr and "row-level security" in done.stderr
    with psycopg.connect(territory) as conn:
        assert conn.execute("SELECT count(*) FROM patrimoine_sys.diagnostic_return").fetchone()[0] == 0


def test_cells_as_secretaries_write_them() -> None:
    from gis_patrimoine.diagnostic.values import Lookups, parse

    catalogue = get_catalogue()
    found = Lookups.build(catalogue, [("53130", "Laval")], [(1, "CTM Laval", "53130")])
    absence = catalogue.tables["staff"].attribute("absence_share")
    fte = catalogue.tables["staff"].attribute("fte")
    assert parse(absence, "12 %", found) == pytest.approx(0.12) and parse(fte, "0,5", found) == 0.5
    hours = catalogue.tables["staff"].attribute("hours_per_year")
    assert parse(hours, "1 607", found) == 1607 and parse(catalogue.tables["staff"].attribute("seasonal"), "Oui", found)
    assert parse(catalogue.tables["staff"].attribute("commune_insee"), "Laval", found) == "53130"
    assert parse(catalogue.tables["staff"].attribute("commune_insee"), "agglomération", found) is None
    assert parse(catalogue.tables["purchase"].attribute("item"), 1234567.5, found) == "1234567.5"


def _libreoffice_saves(path: Path, outdir: Path) -> Path:
    """Open and save the workbook with LibreOffice headless, as a town hall without Excel would."""
    import shutil
    import subprocess

    soffice = shutil.which("soffice")
    assert soffice, "LibreOffice is installed by `make setup` (libreoffice-calc-nogui)"
    profile = outdir / "lo-profile"
    done = subprocess.run(
        [soffice, f"-env:UserInstallation=file://{profile}", "--headless", "--norestore", "--convert-to",
         "xlsx:Calc MS Excel 2007 XML", "--outdir", str(outdir), str(path)],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0 and (outdir / path.name).exists(), done.stderr
    return outdir / path.name


def test_the_questionnaire_opens_and_saves_in_libreoffice(template: Path, territory: str, tmp_path: Path) -> None:
    resaved = _libreoffice_saves(template, tmp_path / "lo")
    wb = load_workbook(resaved)
    assert wb.sheetnames == load_workbook(template).sheetnames and wb["Listes"].sheet_state == "hidden"
    lists = [dv for dv in wb["Personnel"].data_validations.dataValidation if dv.type == "list"]
    assert lists and all("Listes" in dv.formula1 for dv in lists)  # the drop-downs survive
    filled = fill(template, tmp_path / "filled.xlsx", {"Personnel": STAFF, "Achats": PURCHASES})
    with psycopg.connect(territory) as conn:
        report = load_file(conn, _libreoffice_saves(filled, tmp_path / "lo2"))
    assert report.written == {"staff": 3, "purchase": 2}
