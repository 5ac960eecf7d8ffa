# `make run` starts the whole system on embedded defaults; `make test` runs every test.
# Both create .venv when it is missing and install the project into it.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint clean-var

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/referrals dev

test: $(STAMP)
	$(BIN)/python -m pytest -q --junitxml=var/junit.xml $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean-var:
	rm -rf var

# Figures for the read paths at city scale (a throwaway PostgreSQL; nothing under var/ is touched).
.PHONY: bench
bench: $(STAMP)
	$(BIN)/python -m bench.lists $(BENCH_ARGS)
