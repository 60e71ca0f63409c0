# SpecStar workspace commands. Needs only Python 3.11+ with pip/venv: hatch is bootstrapped into
# .tools/ when it is not already on PATH.
PYTHON ?= python3
HATCH := $(shell command -v hatch 2>/dev/null || echo $(CURDIR)/.tools/bin/hatch)
# where `make run` serves the example: `make run PORT=8123`
HOST ?= 127.0.0.1
PORT ?= 8000
# pytest worker processes for `make test` (pytest-xdist); most tests wait on services, so two
# workers pay off even on a 2-core machine: `make test TEST_WORKERS=0` runs them in one process
TEST_WORKERS ?= 2
# worksteal: an idle worker takes queued tests from a busy one, so the long S3, process and
# schemathesis tests do not leave one worker running alone at the end of the run
TEST_DIST ?= --dist worksteal

.PHONY: run quickstart test test-deep mutation lint format build bench bench-quick clean services

$(HATCH):
	$(PYTHON) -m venv .tools
	.tools/bin/python -m pip install --quiet --upgrade pip
	.tools/bin/python -m pip install --quiet "hatch>=1.16"

run: $(HATCH)
	$(HATCH) run python -m examples.blog --host $(HOST) --port $(PORT)

# The plain-Python tour of the core (examples/quickstart.py), in the workspace environment.
quickstart: $(HATCH)
	$(HATCH) run python -m examples.quickstart

test: $(HATCH)
	$(HATCH) run test -n $(TEST_WORKERS) $(TEST_DIST)

# Every hypothesis property with five times its examples (the `deep` profile of specstar.testing),
# and the full process counts on adapters that lower them for `make test` (see docs/testing.md).
test-deep: $(HATCH)
	$(HATCH) run test -n $(TEST_WORKERS) $(TEST_DIST) --hypothesis-profile=deep

# Mutation testing with cosmic-ray, a fixed sample of each module, before and after the tests
# that kill its survivors (about an hour; not part of `make test`). Mutates
# files in place: run it in a checkout nobody else is testing in. See docs/testing.md.
mutation: $(HATCH)
	nice -n 19 $(HATCH) run mutation:python scripts/mutation.py --write $(MODULES)

lint: $(HATCH)
	$(HATCH) run lint

format: $(HATCH)
	$(HATCH) run ruff format .
	$(HATCH) run ruff check --fix .

build: $(HATCH)
	rm -rf dist
	for p in packages/*/; do (cd $$p && $(HATCH) build -t wheel -t sdist $(CURDIR)/dist) || exit 1; done

# Benchmarks against the `specstar` package on PyPI and the raw drivers (see benchmarks/README.md).
# bench: every size (1k, 10k, 100k), takes tens of minutes, rewrites docs/benchmarks.md;
# bench-quick: 1k resources and one repeat, a crash check for CI that judges no speed.
bench: $(HATCH)
	$(HATCH) run bench:python -m benchmarks.run

bench-quick: $(HATCH)
	$(HATCH) run bench:python -m benchmarks.run --quick

services:
	bash scripts/services.sh

# Removes what the targets above made: hatch's environments of this checkout (they live in
# hatch's data folder, outside the repository), the bootstrapped .tools/, builds and caches.
# The example's data/ is kept: delete it yourself to start the blog afresh.
clean:
	if [ -x "$(HATCH)" ]; then $(HATCH) env prune; fi
	rm -rf .hatch .tools dist .pytest_cache .mypy_cache .ruff_cache .hypothesis
