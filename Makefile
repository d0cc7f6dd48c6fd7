# The README's two commands: `make demo` and `make test`. Each sets up what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test lint typecheck imports pytest bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,bench]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(PY) scripts/demo.py

lint: install
	$(VENV)/bin/ruff check tracker tests benchmarks scripts
	$(VENV)/bin/ruff format --check tracker tests benchmarks scripts

typecheck: install
	$(VENV)/bin/mypy --strict tracker

imports: install
	$(VENV)/bin/lint-imports

pytest: install
	$(VENV)/bin/pytest $(PYTEST_ARGS)

test: lint typecheck imports pytest

bench: install
	$(PY) benchmarks/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .tracker .pytest_cache .mypy_cache .ruff_cache
