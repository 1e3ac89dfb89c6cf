# One entry point for people and CI. Each target creates .venv on first use and installs what it needs.
#   make serve   build and serve the site on http://127.0.0.1:8000
#   make test    lint, build the site strictly, run every test (pages, snippets, library, browser)
#   make check   the quick tier: lint, the library's tests, every page block and its `#>` outputs;
#                no site build, browser, Node.js tool, other process or slow test (README)
#   make check-site  the Nu HTML checker and a link check (CSS included) on the built site
#   make bench   the speed and memory benchmark of the initializers (on demand, not in `test`)
#   make test-cuda  every test, page block and snippet on CUDA, with the interpreter in PYTHON (no
#                   venv, no pip index; DEVICE=cpu for a dry run); writes a record to docs/verified/
#   make mutation  mutation testing of the modules that decide the weights: the samplers, the rules,
#                  the counter samplers and the sharded init (on demand, not in `test` or CI)

PYTHON ?= python3
VENV   ?= .venv
# The CPU wheel where one is at hand; on a GPU runner, TORCH="torch==2.13.0" from PyPI brings CUDA.
TORCH  ?= torch==2.13.0
BIN    := $(VENV)/bin
export NO_MKDOCS_2_WARNING := 1

# The site's Node.js tools (KaTeX, which typesets the math at build time; axe-core, the Nu HTML
# checker, Lighthouse), pinned in package-lock.json.
NODE_MODULES := node_modules/.package-lock.json

.PHONY: serve build test check pytest test-pages check-site bench mutation lint format outputs clean test-cuda

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.docs-installed: $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "$(TORCH)"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[docs]"
	touch $@

$(VENV)/.test-installed: $(VENV)/.docs-installed
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[test]"
	touch $@

$(NODE_MODULES): package.json package-lock.json
	CHROMEDRIVER_SKIP_DOWNLOAD=true npm ci --no-audit --no-fund
	touch $@

# Served and built with the same packages as the tests, so what you see is what is tested (and
# README's page-only test command works afterwards).
serve: $(VENV)/.test-installed $(NODE_MODULES)
	$(BIN)/mkdocs serve --dev-addr 127.0.0.1:8000

build: $(VENV)/.test-installed $(NODE_MODULES)
	$(BIN)/mkdocs build --strict

test: $(VENV)/.test-installed $(NODE_MODULES)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(MAKE) --no-print-directory pytest

# The quick tier: what `make test` runs, less the tests marked site (they need the built site),
# browser, processes (they start other processes), node (they need node_modules) or slow;
# `make test` runs them all. Timed by scripts/time-tests.sh --check.
QUICK := not site and not browser and not processes and not node and not slow
check: $(VENV)/.test-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -m "$(QUICK)"

# The pytest run of `make test` (scripts/time-tests.sh times exactly this command).
pytest: $(VENV)/.test-installed $(NODE_MODULES)
	$(BIN)/python -m pytest --cov --cov-report=term

# Valid HTML and no broken link or anchor, CSS included, on a fresh strict build (needs Java).
check-site: $(VENV)/.test-installed $(NODE_MODULES)
	$(BIN)/python scripts/check_site.py

# Only the code blocks of the pages (the command a reader runs).
test-pages: $(VENV)/.test-installed
	$(BIN)/python -m pytest --markdown-docs docs/

# Rewrite the `#>` output lines in snippets/ after an intended change, then review the diff.
outputs: $(VENV)/.test-installed
	$(BIN)/python -m pytest tests/test_snippets.py --update-outputs -q

# On the GPU machine: `make test-cuda` (its python3 has torch with CUDA, pytest, scipy, ...); the few
# packages it lacks come from wheelhouse/, made by scripts/fetch-wheelhouse.sh where an index is.
DEVICE ?= cuda
WHEELHOUSE ?= wheelhouse
test-cuda:
	$(PYTHON) scripts/device_run.py --device $(DEVICE) --wheelhouse $(WHEELHOUSE)

bench: $(VENV)/.docs-installed
	$(BIN)/python benchmarks/bench_init.py

$(VENV)/.mutation-installed: $(VENV)/.test-installed
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[mutation]"
	touch $@

# mutmut's settings are in pyproject.toml ([tool.mutmut]); fails below a score of 95%.
mutation: $(VENV)/.mutation-installed
	rm -rf mutants
	$(BIN)/mutmut run --max-children 2
	$(BIN)/python scripts/mutation_score.py

lint: $(VENV)/.test-installed
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: $(VENV)/.test-installed
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

clean:
	rm -rf $(VENV) node_modules site .coverage .pytest_cache .hypothesis .ruff_cache test-artifacts mutants
