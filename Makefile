# Two entry points: `make demo` and `make test`.  Both create .venv with the Python you have
# (3.11 or newer) and install keysentry into it; nothing else needs to be on the machine but git.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# Microsoft's SARIF Multitool (from npm), which validates our SARIF with GitHub's own rules in the tests.
SARIF_MULTITOOL_VERSION := 5.7.0
TOOLS  := $(VENV)/tools
MULTITOOL := $(TOOLS)/node_modules/@microsoft/sarif-multitool-linux/Sarif.Multitool

.PHONY: install demo test lint typecheck unit tools clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "keysentry needs Python 3.11 or newer; run: make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

# Without npm the SARIF Multitool test is skipped (CI installs Node.js and requires it).
tools: $(STAMP)
	@if [ -x $(MULTITOOL) ]; then :; \
	elif command -v npm >/dev/null 2>&1; then \
	  echo "installing @microsoft/sarif-multitool@$(SARIF_MULTITOOL_VERSION) into $(TOOLS)"; \
	  npm install --prefix $(TOOLS) --no-audit --no-fund --loglevel=error \
	    @microsoft/sarif-multitool@$(SARIF_MULTITOOL_VERSION) >/dev/null && chmod u+x $(MULTITOOL); \
	else echo "npm not found: the SARIF Multitool test will be skipped"; fi

demo: $(STAMP)
	$(BIN)/keysentry demo

# ruff, then the rooms' import contracts ([tool.importlinter] in pyproject.toml, docs/architecture.md).
lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/lint-imports --no-cache

typecheck: $(STAMP)
	$(BIN)/mypy

# Schemathesis over every operation with a random seed and more cases than CI's fixed-seed run; the
# seed is printed, to replay a failure: KEYSENTRY_FUZZ_SEED=<seed> make fuzz.
fuzz: $(STAMP)
	KEYSENTRY_FUZZ_SEED=$${KEYSENTRY_FUZZ_SEED:-$$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')} \
	KEYSENTRY_FUZZ_EXAMPLES=$${KEYSENTRY_FUZZ_EXAMPLES:-200} \
	$(BIN)/pytest -p no:xdist tests/test_fuzz_api.py -k schemathesis -rA

# Two processes (pytest-xdist), each test file in one of them: the suite waits on subprocesses,
# emulators and databases as much as it computes.  One process: `.venv/bin/pytest`.
unit: $(STAMP) tools
	$(BIN)/pytest -n 2 --dist loadfile --durations=15

test: lint typecheck unit

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache src/*.egg-info
