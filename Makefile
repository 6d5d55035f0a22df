# make install | test | demo | lint | clean
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DOVECOT := /usr/sbin/dovecot
# pip runs again only when the project metadata changes (or after `make clean`)
STAMP := $(VENV)/.installed

.PHONY: install install-python install-dovecot test lint demo clean

install: install-dovecot install-python

# Dovecot is needed by the e2e tests only; apt runs only when it is missing and we are root.
install-dovecot:
	@if [ -x $(DOVECOT) ]; then \
		echo "dovecot: $$($(DOVECOT) --version)"; \
	elif [ "$$(id -u)" = 0 ]; then \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y dovecot-imapd; \
	else \
		echo "dovecot is missing; the e2e tests need it: sudo apt-get install -y dovecot-imapd"; \
	fi

install-python: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e '.[test]'
	touch $@

test: install
	$(BIN)/ruff check .
	$(BIN)/pytest -q

lint: install-python
	$(BIN)/ruff check .

demo: install-python
	$(BIN)/intake demo

# Build and cache leftovers only: keeps .venv and never touches data/.
clean:
	rm -rf build .pytest_cache .ruff_cache *.egg-info demo-output $(STAMP)
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +
