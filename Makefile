# `make run` starts the whole system on embedded defaults; `make test` runs every test; `make test-fast`
# the tests that need no PostgreSQL and no Temporal dev server (unit, workflow: under 30 s).
# Each creates .venv when it is missing and installs the project into it.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The Debian packages of config/debian-packages.txt (the PDF documents' CJK font, Pango for WeasyPrint),
# installed when any is missing; as root, or through sudo.
DEBIAN_STAMP := $(VENV)/.debian-packages
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test test-fast lint clean-var

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

$(DEBIAN_STAMP): config/debian-packages.txt
	@missing=$$(for p in $$(cat config/debian-packages.txt); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:" $$missing; \
	  $(SUDO) apt-get install -y --no-install-recommends $$missing || \
	    { $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends $$missing; }; \
	fi
	@mkdir -p $(VENV) && touch $@

run: $(STAMP) $(DEBIAN_STAMP)
	$(BIN)/referrals dev

test: $(STAMP) $(DEBIAN_STAMP)
	$(BIN)/python -m pytest -q --junitxml=var/junit.xml $(PYTEST_ARGS)

test-fast: $(STAMP) $(DEBIAN_STAMP)
	$(BIN)/python -m pytest -q -m "not live" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean-var:
	rm -rf var

# Figures for the read paths at city scale (a throwaway PostgreSQL; nothing under var/ is touched).
.PHONY: bench
bench: $(STAMP)
	$(BIN)/python -m bench.lists $(BENCH_ARGS)
