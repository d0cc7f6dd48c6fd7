# The README's two commands: `make demo` and `make test`. Each sets up what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test lint typecheck imports pytest bench bench-search clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,bench]'
	# PyTorch for Optuna's GPSampler (sampler="auto" picks it; tests and benchmarks run it):
	# the machine's CPU-only wheel when it ships one (190 MB instead of several GB of CUDA).
	$(PY) -m pip install -q $$(ls /opt/wheels/torch-*+cpu-*.whl 2>/dev/null | head -n 1 || true) \
		$$(ls /opt/wheels/torch-*+cpu-*.whl >/dev/null 2>&1 || echo torch)
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

# The full search-quality suite (5 problems x 10 seeds x 5 samplers, budgets 50 and 100):
# about an hour and a half on the reference machine because of GPSampler. `make bench`
# runs its quick form.
bench-search: install
	SEARCH_BENCH_FULL=1 $(PY) benchmarks/run.py --only search_quality

clean:
	rm -rf $(VENV) .tracker .pytest_cache .mypy_cache .ruff_cache
