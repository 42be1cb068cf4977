"""Pooling arrangements through the API (a background job with its progress) and the command line, on the
demo territory with its diagnostic (issue #16): four neighbouring communes south of Laval, every service and
every activity, the director's report, the per-commune collection."""

from __future__ import annotations

import html
import json
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from gis_patrimoine.analysis.workload import workload
from gis_patrimoine.arrangements.definition import load_file
from tests import writable
from tests.servers import add_token, running_server
from tests.test_migrations import run_cli

demo_db, api = writable.demo_db, writable.api  # this module writes: its own clone of the demo

pytestmark = pytest.mark.slow

SOUTH = ["53094", "53099", "53175", "53157"]  # Entrammes, Forcé, Parné-sur-Roc, Montigné-le-Brillant
TOKEN = {"Authorization": "Bearer token-director"}
ACTIVITIES = {
    "lighting/inspection", "lighting/led_check+relamping", "lighting/relamping",
    "green_spaces/mowing", "green_spaces/extensive_mowing", "green_spaces/cemetery_upkeep",
    "roads/sweeping", "roads/inspection", "roads/verge_mowing",
    "buildings/safety_check+upkeep", "buildings/upkeep",
    "green_spaces/tree_inspection", "green_spaces/pruning", "roads/gully_cleaning",
    "roads/bin_emptying_centre", "roads/bin_emptying+bin_emptying_centre",  # one pass empties both kinds of bin
}  # fmt: skip


@pytest.fixture(scope="module")
def director(demo_db: str) -> str:
    add_token(demo_db, "director", "reader")
    return demo_db


def wait(api: str, url: str, limit_s: float = 600) -> tuple[dict, list[dict]]:
    seen = []
    start = time.monotonic()
    while time.monotonic() - start < limit_s:
        job = httpx.get(url).json()
        seen.append(job["progress"])
        if job["status"] != "running":
            return job, seen
        time.sleep(0.5)
    raise AssertionError(f"the comparison job did not end within {limit_s} s")


def test_arrangements_as_a_job_with_progress(api: str, director: str) -> None:
    body = {"communes": SOUTH, "iterations": 30, "draws": 40}
    assert httpx.post(f"{api}/analysis/arrangements", json=body).status_code == 401
    bad = {**body, "arrangements": [{"name": "x", "title": "x", "groups": [{"name": "g", "members": ["53094"],
                                                                            "depots": "nearest"}]}]}  # fmt: skip
    r = httpx.post(f"{api}/analysis/arrangements", json=bad, headers=TOKEN)
    assert r.status_code == 422 and "arrangement 1: groups.0.depots" in r.text
    r = httpx.post(f"{api}/analysis/arrangements", json=body, headers=TOKEN)
    assert r.status_code == 202, r.text
    # the job is in the database: another worker (here a second server) answers for it
    with running_server(director) as other:
        running = httpx.get(r.headers["Location"].replace(api, other)).json()
        assert running["status"] in ("running", "done") and running["user"] == "director"
    job, seen = wait(api, r.headers["Location"])
    assert job["status"] == "done", job
    assert seen[-1]["total"] and seen[-1]["done"] <= seen[-1]["total"]  # round problems solved of the total
    result = httpx.get(job["href"]).json()
    names = [a["name"] for a in result["arrangements"]]
    assert names[0] == "status_quo" and {"common_service", "full_pooling"} <= set(names)
    assert result["communes"] == sorted(SOUTH)
    with psycopg.connect(director) as conn:
        needed = {(r.service, r.activity) for r in workload(conn, communes=SOUTH) if r.hours_per_year > 0}
    assert {s for s, _ in needed} == {"lighting", "green_spaces", "roads", "buildings"}
    # trees, bins and gullies are among them: the arrangements cost them like the rest
    new = {("green_spaces", "pruning"), ("green_spaces", "tree_inspection"), ("roads", "gully_cleaning"),
           ("roads", "bin_emptying"), ("roads", "bin_emptying_centre")}  # fmt: skip
    assert new <= needed
    for a in result["arrangements"]:
        # every activity with work in these communes, combined where one crew and machine do them in one pass
        done = {(x.split("/")[0], part) for x in a["activities"] for part in x.split("/")[1].split("+")}
        assert done == needed, a["name"]
        assert set(a["activities"]) <= ACTIVITIES and "buildings/safety_check+upkeep" in a["activities"]
        lo, hi = a["range_eur"]
        assert lo <= a["total_eur"] <= hi
        assert a["posts_total"] == sum(a["posts"].values())
        assert a["unreachable_assets"] == 0
    full = next(a for a in result["arrangements"] if a["name"] == "full_pooling")
    owners = result["inputs"]["depot_owner"]
    group = full["groups"][0]
    assert {owners[str(d)] for d in group["depots"]} <= set(SOUTH)  # its members' depots only
    # four communes compared: the agglomération (whose depot serves them all) is not a member, its depot stays
    assert "Agglomération" not in group["members"]
    assert not any(owners[str(d)] == "agglo" for d in full["depots_closed"])
    assert set(full["depots_kept"]).isdisjoint(full["depots_closed"])
    report = httpx.get(job["report"])
    assert report.status_code == 200 and "Pooling the technical services" in report.text
    assert all(html.escape(a["title"]) in report.text for a in result["arrangements"])
    items = httpx.get(f"{api}/collections/arrangement_communes/items",
                      params={"filter": f"run_id = {job['id']}", "limit": 500}).json()  # fmt: skip
    assert items["numberMatched"] == len(SOUTH) * len(names)
    listed = httpx.get(f"{api}/analysis/arrangements").json()["comparisons"]
    assert listed[0]["id"] == job["id"] and listed[0]["ranking"] == result["ranking"]
    assert httpx.get(f"{api}/analysis/arrangements/jobs/999999").status_code == 404
    assert httpx.get(f"{api}/analysis/arrangements/999999").status_code == 404


def test_arrangements_from_a_file_on_the_command_line(director: str, tmp_path: Path) -> None:
    with psycopg.connect(director) as conn:
        ids = [
            r[0]
            for r in conn.execute(
                "SELECT depot_id FROM patrimoine.depot_cost WHERE commune_insee = ANY(%s) ORDER BY depot_id", (SOUTH,)
            )
        ]
    arrangements = tmp_path / "arrangements.yaml"
    arrangements.write_text(
        "arrangements:\n"
        "  - {name: status_quo, title: Each alone}\n"
        "  - name: pole_sud\n"
        "    title: Pôle sud, one depot\n"
        "    groups:\n"
        f"      - {{name: pôle sud, members: {SOUTH}, depots: [{ids[0]}], joint_purchasing: true}}\n",
        encoding="utf-8",
    )
    out, page = tmp_path / "result.json", tmp_path / "report.html"
    args = ["--file", str(arrangements), *[f"--commune={c}" for c in SOUTH], "--iterations", "30", "--draws", "30"]
    done = run_cli("analyse", "arrangements", *args, "--json", str(out), "--report", str(page), url=director)
    assert done.returncode == 0, done.stderr
    assert "pole_sud" in done.stdout and "stored as comparison" in done.stdout
    result = json.loads(out.read_text(encoding="utf-8"))
    pole = result["arrangements"][1]
    assert pole["depots_kept"][0] == ids[0] and sorted(pole["depots_closed"]) == ids[1:]
    assert pole["by_item_eur"]["purchasing_saving"] < 0  # the same items bought at different prices
    assert pole["one_off_eur"] > 0 and "Pôle sud" in page.read_text(encoding="utf-8")
    # the proposals as a file to edit and give back
    proposals = run_cli("analyse", "arrangements", "--proposals", *[f"--commune={c}" for c in SOUTH], url=director)
    assert proposals.returncode == 0, proposals.stderr
    (tmp_path / "proposed.yaml").write_text(proposals.stdout, encoding="utf-8")
    proposed = load_file(tmp_path / "proposed.yaml")
    assert proposed[0].name == "status_quo" and proposed[-1].groups[0].depots == "optimise"
    assert set(proposed[-1].groups[0].members) == set(SOUTH)
    bad = tmp_path / "bad.yaml"
    bad.write_text("- {name: Bad Name, title: x}\n", encoding="utf-8")
    refused = run_cli("analyse", "arrangements", "--file", str(bad), url=director)
    assert refused.returncode != 0 and "bad.yaml: arrangement 1: name" in refused.stderr + refused.stdout
