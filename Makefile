# gis-patrimoine: every target sets up what it needs, idempotently, on Debian/Ubuntu.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup system venv db demo test test-quick lint check serve clean-db bench-import bench-demo bench-serve bench-routing bench-rounds bench-scenarios bench-stress bench-network bench-arrangements mutants

setup: system venv db

system:
	@bash scripts/install-system.sh

# Reinstall the package only when its declared dependencies change.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $(STAMP)

# Bytecode compiled ahead (only what changed): where PYTHONDONTWRITEBYTECODE is set, as on CI machines, every
# command would otherwise compile the package again at start (0.1 s of an import's 0.9 s)
venv: $(STAMP) node_modules/.installed
	@$(BIN)/python -m compileall -q gis_patrimoine > /dev/null

# MapLibre GL JS for the map page, from the npm registry (no CDN at run time).
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@


# Start the local cluster (unless DATABASE_URL points elsewhere) and migrate it.
db: venv
	$(BIN)/gis-patrimoine db up
	$(BIN)/gis-patrimoine db init

# Loads the demo territory (generated once), then serves the API and the map until Ctrl-C.
demo: setup
	$(BIN)/gis-patrimoine demo run
	@echo "gis-patrimoine on http://127.0.0.1:8000 — map: http://127.0.0.1:8000/map (Ctrl-C to stop)"
	$(BIN)/gis-patrimoine serve --host 127.0.0.1 --port 8000

serve: venv
	$(BIN)/gis-patrimoine serve --host 127.0.0.1 --port 8000



lint: venv
	$(BIN)/ruff check gis_patrimoine tests bench
	$(BIN)/ruff format --check gis_patrimoine tests bench

test: setup lint
	$(BIN)/pytest

# while working: everything but PyQGIS, Chromium and the whole-territory runs (CI runs `make test`)
test-quick: setup lint
	$(BIN)/pytest -m "not qgis and not browser and not slow"

# each mutant breaks one promise in the code; the test written for it must fail (tests/mutants.py)
mutants: setup
	$(BIN)/python -m tests.mutants

clean-db: venv
	$(BIN)/gis-patrimoine db down

bench-import: setup
	$(BIN)/python bench/import_bench.py

bench-serve: setup
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python bench/serve_bench.py

bench-routing: setup
	$(BIN)/python bench/routing_bench.py

bench-rounds: setup
	$(BIN)/python bench/rounds_bench.py

bench-scenarios: setup
	$(BIN)/python bench/scenarios_bench.py

bench-network: setup
	$(BIN)/python bench/network_bench.py

bench-arrangements: setup
	$(BIN)/python bench/arrangements_bench.py --picture docs/arrangements-report.png

bench-stress: setup
	$(BIN)/python bench/stress.py

bench-demo: setup


	$(BIN)/python bench/demo_bench.py
