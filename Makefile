# `make run` starts the whole system on embedded defaults; `make test` runs every test; `make test-fast`
# the tests that need no PostgreSQL and no Temporal dev server (unit, workflow: under 30 s).
# Each creates .venv when it is missing and installs the project into it.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

DEBIAN_PACKAGES := config/debian-packages.txt
DEBIAN_STAMP := $(VENV)/.debian-packages

.PHONY: run test test-fast lint clean-var

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# The Debian packages the pages' browser test and the documents need (headless Chromium, a CJK font), one a
# line in $(DEBIAN_PACKAGES): installed (as root, with apt-get update first when a package is unknown) when
# any is missing.
$(DEBIAN_STAMP): $(DEBIAN_PACKAGES)
	@missing=$$(for p in $$(grep -v '^#' $(DEBIAN_PACKAGES)); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages: $$missing"; \
		sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$sudo apt-get install -y --no-install-recommends $$missing \
		|| { $$sudo apt-get update && $$sudo apt-get install -y --no-install-recommends $$missing; }; \
	fi
	@mkdir -p $(VENV) && touch $(DEBIAN_STAMP)

run: $(STAMP) $(DEBIAN_STAMP)
	$(BIN)/referrals dev

# One pytest process drives the web app, the worker and the test code on one event loop, so it keeps one
# core busy: a process per core (pytest-xdist, each with its own servers) halves the wall time on two.
TEST_PROCESSES ?= auto

test: $(STAMP) $(DEBIAN_STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_PROCESSES) --dist worksteal --junitxml=var/junit.xml $(PYTEST_ARGS)

test-fast: $(STAMP) $(DEBIAN_STAMP)
	$(BIN)/python -m pytest -q -m "not live" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean-var:
	rm -rf var

# Figures against the bare engine (starts, actions; 1, 2 and 4 workers), for the read paths at city scale, a
# worker's memory with 10,000 open cases and the history of long cases (throwaway PostgreSQL and Temporal;
# nothing under var/ is touched), then one line a goal of issue 13 (bench/all.py). ENGINE_ARGS / BENCH_ARGS /
# READS_ARGS / RSS_ARGS / HISTORY_ARGS pass options to each; BENCH_ONLY=engine,reads runs only those.
BENCH_ONLY ?= engine,lists,reads,rss,history
.PHONY: bench
bench: $(STAMP)
	$(BIN)/python -m bench.all --only "$(BENCH_ONLY)" --engine "$(ENGINE_ARGS)" --lists "$(BENCH_ARGS)" \
		--reads "$(READS_ARGS)" --rss "$(RSS_ARGS)" --history "$(HISTORY_ARGS)"
