"""The container recipe and the CI entry point say what the README promises."""

from __future__ import annotations

import re

import yaml

from gis_patrimoine.settings import PROJECT_ROOT


def test_compose_has_postgis_and_api_built_from_dockerfile() -> None:
    compose = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
    db, api = compose["services"]["db"], compose["services"]["api"]
    dockerfile = (PROJECT_ROOT / db["build"]["dockerfile"]).read_text()
    assert "FROM postgis/postgis:15" in dockerfile and "postgresql-15-pgrouting" in dockerfile

    assert api["build"] == "." and (PROJECT_ROOT / "Dockerfile").exists()
    env = db["environment"]
    expected = f"postgresql://{env['POSTGRES_USER']}:{env['POSTGRES_PASSWORD']}@db:5432/{env['POSTGRES_DB']}"
    assert api["environment"]["DATABASE_URL"] == expected
    assert api["depends_on"]["db"]["condition"] == "service_healthy"


def test_dockerfile_ships_catalogue_and_migrations() -> None:
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    for folder in ("layers", "sql", "gis_patrimoine"):
        assert re.search(rf"^COPY {folder} \./{folder}$", dockerfile, re.M), folder
    assert "GIS_PATRIMOINE_CATALOGUE_DIR=/app/layers" in dockerfile
    assert "maplibre-gl/dist" in dockerfile and "gis-patrimoine serve --host 0.0.0.0" in dockerfile
    # the API container migrates its database before serving: an upgraded image never serves an old schema
    cmd = re.search(r"^CMD (.+)$", dockerfile, re.M)[1]
    assert cmd.index("gis-patrimoine db init") < cmd.index("gis-patrimoine serve") and "db init &&" in cmd


def test_ci_runs_the_readme_test_command() -> None:
    assert "make test" in (PROJECT_ROOT / ".ci" / "run").read_text()
    head = (PROJECT_ROOT / "README.md").read_text().splitlines()[:15]
    assert any("make demo" in line for line in head) and any("make test" in line for line in head)
    # what `make test` runs: ruff, then every test (no marker left out), in random order, each under a timeout,
    # the slowest listed; `make test-quick` leaves out the three markers, as the README says
    make = (PROJECT_ROOT / "Makefile").read_text()
    test = re.search(r"^test: (.*)\n((?:\t.*\n)+)", make, re.M)
    assert "lint" in test[1] and test[2].strip() == "$(BIN)/pytest"
    quick = re.search(r"^test-quick: .*\n\t(.*)\n", make, re.M)[1]
    assert quick.endswith('pytest -m "not qgis and not browser and not slow"')
    pyproject = (PROJECT_ROOT / "pyproject.toml").read_text()
    assert re.search(r"^timeout = 300\b", pyproject, re.M) and "--durations=15" in pyproject
    assert "pytest-randomly" in pyproject and "-p no:randomly" not in pyproject


def test_the_product_never_reads_the_shared_test_data() -> None:
    """`../shared` is for tests only: no file of the product (code, catalogue, migrations, scripts, Makefile,
    CI entry, container recipe) names it, and what `make demo` needs — the Laval communes — ships inside the
    package with its attribution."""
    product = [*(PROJECT_ROOT / "gis_patrimoine").rglob("*.py"), *(PROJECT_ROOT / "layers").rglob("*.yaml"),
               *(PROJECT_ROOT / "sql").glob("*.sql"), *(PROJECT_ROOT / "scripts").glob("*"),
               PROJECT_ROOT / "Makefile", PROJECT_ROOT / "Dockerfile", PROJECT_ROOT / ".ci" / "run"]  # fmt: skip
    pattern = re.compile(r"\.\./shared|shared/data|/shared/")
    assert len(product) > 50
    named = [str(p.relative_to(PROJECT_ROOT)) for p in product if p.is_file() and pattern.search(p.read_text())]
    assert named == []
    communes = PROJECT_ROOT / "gis_patrimoine" / "demo" / "data" / "laval-agglo"
    assert (communes / "COMMUNE.shp").is_file() and (communes / "COMMUNE.dbf").is_file()
    assert "Licence Ouverte" in (PROJECT_ROOT / "gis_patrimoine" / "demo" / "data" / "README.md").read_text()
