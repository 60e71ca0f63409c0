# SpecStar workspace commands. Needs only Python 3.11+ with pip/venv: hatch is bootstrapped into
# .tools/ when it is not already on PATH.
PYTHON ?= python3
HATCH := $(shell command -v hatch 2>/dev/null || echo $(CURDIR)/.tools/bin/hatch)

.PHONY: run test lint format build bench clean services

$(HATCH):
	$(PYTHON) -m venv .tools
	.tools/bin/python -m pip install --quiet --upgrade pip
	.tools/bin/python -m pip install --quiet "hatch>=1.16"

run: $(HATCH)
	$(HATCH) run python -m examples.quickstart

test: $(HATCH)
	$(HATCH) run test

lint: $(HATCH)
	$(HATCH) run lint

format: $(HATCH)
	$(HATCH) run ruff format .
	$(HATCH) run ruff check --fix .

build: $(HATCH)
	rm -rf dist
	for p in packages/*/; do (cd $$p && $(HATCH) build -t wheel -t sdist $(CURDIR)/dist) || exit 1; done

services:
	bash scripts/services.sh

clean:
	rm -rf .hatch .tools dist .pytest_cache .mypy_cache .ruff_cache
