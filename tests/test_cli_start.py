"""The command line builds only the group a command names: an import starts without the analyses, yoyo or
FastAPI, and the whole command line is still there for `--help`."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import typer

from gis_patrimoine.cli import COMMANDS, build_app, command_named

GP = Path(sys.executable).parent / "gis-patrimoine"


def test_the_group_a_command_line_names() -> None:
    assert command_named(["import", "street_lights", "f.gpkg"]) == "import"
    assert command_named(["--format", "json", "analyse", "workload"]) == "analyse"
    assert command_named(["--format=csv", "db", "status"]) == "db"
    assert command_named(["--format", "import"]) is None  # "import" is --format's value here
    assert command_named(["--help"]) is None and command_named([]) is None
    assert command_named(["imprt", "street_lights"]) is None  # a typo: the whole line, so click suggests


def test_the_whole_command_line_has_every_group() -> None:
    names = set(typer.main.get_command(build_app()).commands)
    assert names == set(COMMANDS)
    assert set(typer.main.get_command(build_app("import")).commands) == {"import"}


def test_an_import_loads_only_what_an_import_needs() -> None:
    code = (
        "import sys\n"
        "from gis_patrimoine.cli import build_app\n"
        "from gis_patrimoine.cli.transfer import lean_import_process\n"
        "build_app('import')\n"
        "lean_import_process()\n"
        "import gis_patrimoine.importer\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules} | set(sys.modules))))\n"
    )
    probe = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(probe.stdout.split())
    assert "gis_patrimoine.importer.direct" in loaded  # the probe did load the importer
    for unwanted in ("gis_patrimoine.cli.analyse", "gis_patrimoine.cli.db", "yoyo", "fastapi", "uvicorn", "pandas"):
        assert unwanted not in loaded, unwanted


def test_the_entry_point_runs_a_group_with_the_root_options() -> None:
    out = subprocess.run([GP, "--format", "csv", "analyse", "--help"], capture_output=True, text=True, check=True)
    assert "arrangements" in out.stdout and "workload" in out.stdout  # `analyse` with its arrangements command
    whole = subprocess.run([GP, "--help"], capture_output=True, text=True, check=True).stdout
    assert all(name in whole for name in COMMANDS)
    typo = subprocess.run([GP, "imprt"], capture_output=True, text=True)
    assert typo.returncode == 2 and "import" in typo.stderr


def test_main_builds_only_the_group_named() -> None:
    code = (
        "import sys\n"
        "import gis_patrimoine.cli as cli\n"
        "sys.argv = ['gis-patrimoine', '--format', 'json', 'users', '--help']\n"
        "try:\n"
        "    cli.main()\n"
        "except SystemExit as exc:\n"
        "    print('exit', exc.code, 'gis_patrimoine.cli.analyse' in sys.modules, 'gis_patrimoine.cli.users' in "
        "sys.modules, file=sys.stderr)\n"
    )
    probe = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert probe.stderr.strip().endswith("exit 0 False True"), probe.stderr


def test_an_import_ends_at_once_with_its_exit_code_and_its_output(laval_url: str, tmp_path: Path) -> None:
    """`import` and `export` end their process as soon as they are done (os._exit, no teardown): the exit code
    and everything written must still come out whole, the plain `--format csv` lines to a pipe included."""
    env = {**os.environ, "DATABASE_URL": laval_url, "COLUMNS": "200"}
    env.pop("PYTHONUNBUFFERED", None)  # a pipe's output buffered, as on most machines: the exit must flush it
    points = [
        {"type": "Feature", "properties": {"power_w": 70 + i, "lamp_type": "led"},
         "geometry": {"type": "Point", "coordinates": [-0.7705 + i / 1000, 48.0706]}}
        for i in range(3)
    ]  # fmt: skip
    path = tmp_path / "lights.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": points}))
    done = subprocess.run([GP, "--format", "csv", "import", "street_lights", str(path)], capture_output=True,
                          text=True, env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = dict(row for row in csv.reader(done.stdout.splitlines()) if len(row) == 2)
    assert report.get("inserted") == "3", done.stdout  # the last lines a pipe gets, flushed before the exit
    missing = subprocess.run([GP, "import", "street_lights", str(tmp_path / "none.gpkg")], capture_output=True,
                             text=True, env=env)  # fmt: skip
    assert missing.returncode == 1 and "file not found" in " ".join(missing.stderr.split())
    usage = subprocess.run([GP, "import", "street_lights"], capture_output=True, text=True, env=env)
    assert usage.returncode == 2 and "Missing argument" in usage.stderr
    exported = tmp_path / "out.csv"
    out = subprocess.run([GP, "export", "street_lights", str(exported)], capture_output=True, text=True, env=env)
    assert out.returncode == 0 and len(exported.read_text().splitlines()) == 4  # a header and the 3 lights


def test_a_missing_catalogue_is_said_in_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "GIS_PATRIMOINE_CATALOGUE_DIR": str(tmp_path), "COLUMNS": "200"}
    # the import commands are built from the catalogue; `history show` meets it while it runs (cli/__init__.run)
    for command in (["export", "--help"], ["import", "--help"], ["history", "show", "roads", "1"]):
        out = subprocess.run([GP, *command], capture_output=True, text=True, env=env)
        assert out.returncode == 1 and "Traceback" not in out.stderr, (command, out.stderr)
        assert "no layer catalogue here (_common.yaml is missing)" in " ".join(out.stderr.split()), command
