# make install | test | demo | bench | lint | clean
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DOVECOT := /usr/sbin/dovecot
BSDTAR := /usr/bin/bsdtar
CHROMIUM := /usr/bin/chromium
CJK_FONT := /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc
POSTGRES_INITDB := $(firstword $(wildcard /usr/lib/postgresql/*/bin/initdb))
DEBIAN_PACKAGES := dovecot-imapd libarchive-tools chromium fonts-wqy-zenhei postgresql
# pip runs again only when the project metadata changes (or after `make clean`)
STAMP := $(VENV)/.installed

.PHONY: install install-python install-dovecot test lint demo fuzz bench clean

install: install-dovecot install-python

# Debian packages: Dovecot for the e2e tests, bsdtar (libarchive-tools) to open RAR archives,
# headless Chromium and a Chinese font to render the staff digest and drive the console in tests,
# PostgreSQL for the e2e suite's second pass (a throwaway cluster; the system's own is not used).
# apt runs only when one is missing and we are root.
install-dovecot:
	@if [ -x $(DOVECOT) ] && [ -x $(BSDTAR) ] && [ -x $(CHROMIUM) ] && [ -f $(CJK_FONT) ] && [ -n "$(POSTGRES_INITDB)" ]; then \
		echo "dovecot: $$($(DOVECOT) --version); $$($(BSDTAR) --version); $$($(CHROMIUM) --version); $(POSTGRES_INITDB)"; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $(DEBIAN_PACKAGES); \
	else \
		echo "missing Debian packages; install them: sudo apt-get install -y $(DEBIAN_PACKAGES)"; \
	fi

install-python: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e '.[test]'
	touch $@

# Every test on SQLite, then the end-to-end suite again on PostgreSQL less the tests marked any_database. Both passes
# run two at a time (pytest-xdist, one worker per core): every test has its own servers, free ports and tmp_path,
# and an e2e test waits on its servers and subprocesses as much as on the CPU. --maxschedchunk 1 hands out the tests
# one by one; by default the first worker is given the first eighth of the suite at once, every e2e test.
test: install
	$(BIN)/ruff check .
	$(BIN)/pytest -q -n 2 --maxschedchunk 1
	INTAKE_TEST_DATABASE=postgresql $(BIN)/pytest -q -n 2 --maxschedchunk 1 -m "not any_database" tests/e2e

# The long fuzz run: at least 10,000 generated and mutated messages through the pure pipeline.
fuzz: install-python
	FUZZ_EXAMPLES=10000 $(BIN)/pytest -q tests/unit/test_fuzz.py

# The benchmark (needs Dovecot, like the e2e tests): N messages (default 300) through `intake poll --once`
# against the floor, one profiled round, the idle poll and the reports over 10,000 messages; rewrites
# bench/RESULTS.md.
bench: install
	$(BIN)/python -m bench $(if $(N),--messages $(N))

lint: install-python
	$(BIN)/ruff check .

demo: install-python
	$(BIN)/intake demo

# Build and cache leftovers only: keeps .venv and never touches data/.
clean:
	rm -rf build .pytest_cache .ruff_cache *.egg-info demo-output $(STAMP)
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +
