# borgerdialog: `make run` (the whole product locally) and `make test`.
# Each target creates the virtualenv first when it is missing or out of date.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# axe-core for the accessibility checks in the browser tests (npm, pinned; injected by Playwright).
AXE_VERSION := 4.14.1
AXE := $(VENV)/axe/node_modules/axe-core/axe.min.js

.PHONY: package run test lint typecheck pytest pytest-dynamodb-local bench clean

# The last step installs the checkout itself: the editors' command, .venv/bin/borgerdialog
# (pyproject.toml's [project.scripts]).
$(STAMP): requirements.txt requirements-dev.txt editor/requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m devtools.run_local

test: lint typecheck pytest pytest-dynamodb-local

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) $(AXE)
	$(BIN)/pytest

# Without npm (a machine with only Python) the browser tests skip with a reason; CI has npm.
$(AXE):
	@if command -v npm >/dev/null; then \
	  npm install --silent --no-audit --no-fund --prefix $(VENV)/axe axe-core@$(AXE_VERSION); \
	else echo "npm not found: browser tests will be skipped (.ci/run installs npm and chromium)"; fi

# The data-layer tests again, against DynamoDB Local (stricter than moto); needs java and npm.
pytest-dynamodb-local: $(STAMP)
	$(BIN)/python -m devtools.emulators.dynamodb_local test

# The Lambda package for a stage: chalice package, compiled .pyc, checked (wheels, bytecode,
# size). MERGE=1 makes build/$(STAGE)/sam.json the stage's one stack (infra/ + functions), the
# template every deployed stage is deployed from (docs/deploy.md).
STAGE ?= dev
package: $(STAMP)
	$(BIN)/python -m devtools.lambda_package build --stage $(STAGE) $(if $(MERGE),--merge-template)

# Every bench/*.py, one after another; their BENCH lines become the table in bench/RESULTS.md.
bench: $(STAMP)
	$(BIN)/python -m devtools.bench_report

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .local
