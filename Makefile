# The README's two commands: `make demo` and `make test`. Each sets up what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install lock demo test lint typecheck imports docs pytest bench bench-search clean
.PHONY: labext browser jest e2e

# constraints.txt pins every package of the development environment to versions resolved
# together once (`make lock` rewrites it from a working venv). Without it pip backtracks
# through s3fs, fsspec, aiobotocore, boto3 and moto releases for over 20 minutes on a
# fresh machine (boto3's newest botocore is newer than aiobotocore allows); with it a fresh
# install takes about 2. pyproject.toml keeps the ranges users install with.
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	SKIP_JUPYTER_BUILDER=1 $(PY) -m pip install -q -c constraints.txt -e '.[test,bench,docs,dask]'  # the panel builds in `make labext`
	# PyTorch for Optuna's GPSampler (sampler="auto" picks it; tests and benchmarks run it):
	# the machine's CPU-only wheel when it ships one (190 MB instead of several GB of CUDA).
	$(PY) -m pip install -q $$(ls /opt/wheels/torch-*+cpu-*.whl 2>/dev/null | head -n 1 || true) \
		$$(ls /opt/wheels/torch-*+cpu-*.whl >/dev/null 2>&1 || echo torch)
	touch $(STAMP)

install: $(STAMP)

lock: install
	$(PY) -m pip freeze --exclude-editable | grep -v -e '^torch' -e ' @ ' > constraints.txt

demo: install
	$(PY) scripts/demo.py

lint: install
	$(VENV)/bin/ruff check tracker tests benchmarks scripts
	$(VENV)/bin/ruff format --check tracker tests benchmarks scripts

typecheck: install
	$(VENV)/bin/mypy --strict tracker

imports: install
	$(VENV)/bin/lint-imports

# The documentation site (mkdocs.yml) into site/. --strict: a broken link, a page left out
# of the nav or an API reference that does not resolve fails the build. Nothing is fetched.
# NO_MKDOCS_2_WARNING silences a banner about MkDocs 2 that mkdocs-material prints.
docs: install
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

pytest: install browser
	$(VENV)/bin/pytest $(PYTEST_ARGS)

test: lint typecheck imports docs labext jest pytest e2e

bench: install
	$(PY) benchmarks/run.py $(BENCH_ARGS)

# The full search-quality suite (11 problems x 10 seeds x 5 samplers, budgets 50 and 100):
# about 1 h 45 min on the 2-core reference machine, nearly all of it GPSampler.
# SEARCH_BENCH_PROBLEMS=name,name runs a subset. `make bench` runs a reduced form (3 seeds,
# budget 50).
bench-search: install
	SEARCH_BENCH_FULL=1 $(PY) benchmarks/run.py --only search_quality

clean:
	rm -rf $(VENV) .tracker .pytest_cache .mypy_cache .ruff_cache site
	rm -rf labext/node_modules labext/lib labext/tsconfig.tsbuildinfo tracker/labextension

# --- the side panel (labext/): npm deps, build, a browser, jest and Playwright ---------------
# Playwright never downloads a browser here: the tests launch Debian's /usr/bin/chromium.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1
LABEXT_NPM := labext/node_modules/.installed
LABEXT_BUILT := tracker/labextension/package.json
LABEXT_SRC := $(wildcard labext/src/*.ts labext/style/* labext/schema/*.json) labext/package.json
VENV_PATH = PATH="$(abspath $(VENV))/bin:$$PATH"

$(LABEXT_NPM): labext/package.json labext/package-lock.json
	cd labext && npm ci --no-audit --no-fund
	touch $@

$(LABEXT_BUILT): $(STAMP) $(LABEXT_NPM) $(LABEXT_SRC)
	cd labext && $(VENV_PATH) npm run build
	$(VENV_PATH) jupyter labextension develop --overwrite .

labext: $(LABEXT_BUILT)

# Installs Debian's chromium when it is missing and this is root with apt-get; otherwise
# the browser tests skip with the reason (and fail under CI=true). pytest needs it too: the
# XSS and card tests render in it, so it comes before them, not only before e2e.
browser:
	@if [ -x /usr/bin/chromium ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else \
		echo "chromium is missing and cannot be installed here (needs root and apt-get):" \
			"the browser tests will skip"; \
	fi

jest: $(LABEXT_NPM)
	cd labext && npx jest --ci

e2e: labext browser
	cd labext && $(VENV_PATH) npx playwright test
