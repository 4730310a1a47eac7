# The commands people and CI use. Each target creates or reuses .venv and installs what it needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: demo test test-sqlite test-postgres lint bench eval venv docs clean web-assets

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

## make web-assets: front-end libraries from npm (pinned by package-lock.json) into web/static/vendor/
VENDOR := web/static/vendor
$(VENDOR)/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts
	rm -rf $(VENDOR) && mkdir -p $(VENDOR)/leaflet
	cp node_modules/htmx.org/dist/htmx.min.js node_modules/echarts/dist/echarts.min.js $(VENDOR)/
	cp -r node_modules/leaflet/dist/leaflet.js node_modules/leaflet/dist/leaflet.css node_modules/leaflet/dist/images $(VENDOR)/leaflet/
	cp node_modules/htmx.org/LICENSE $(VENDOR)/htmx.LICENSE
	cp node_modules/leaflet/LICENSE $(VENDOR)/leaflet/LICENSE
	cp node_modules/echarts/LICENSE $(VENDOR)/echarts.LICENSE
	touch $@

web-assets: $(VENDOR)/.installed

## make demo: set up, migrate, load the demo region and serve on http://127.0.0.1:8000
## (without ISX_SECRET_KEY, the first run generates this installation's own key into var/secret_key)
demo: venv web-assets
	mkdir -p var
	$(BIN)/isx db upgrade
	$(BIN)/isx seed demo
	$(BIN)/isx serve

## make test: every test on SQLite, then the database tests again on PostgreSQL when ISX_TEST_DATABASE_URL is set
test: venv web-assets
	$(MAKE) --no-print-directory test-sqlite
	@if [ -n "$$ISX_TEST_DATABASE_URL" ]; then $(MAKE) --no-print-directory test-postgres; \
	else echo "ISX_TEST_DATABASE_URL is not set: PostgreSQL pass skipped (.ci/run sets it)"; fi

test-sqlite: venv
	env -u ISX_TEST_DATABASE_URL $(BIN)/pytest

test-postgres: venv
	ISX_TEST_DATABASE_URL=$${ISX_TEST_DATABASE_URL:-$(PG_URL)} $(BIN)/pytest -m "not nodb" tests/backend

lint: venv
	$(BIN)/ruff check backend matching web tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: venv
	$(BIN)/python -m benchmarks.run

## make eval: screening scored on published real parks (../shared/evaluation/real-parks): recall, precision, F1
eval: venv
	$(BIN)/python -m benchmarks.real_parks

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
