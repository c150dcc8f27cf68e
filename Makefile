# Two commands on a fresh machine with Python 3.11 and pip:
#   make run    set up .venv and .airflow/, start `airflow standalone` (UI on http://localhost:8080)
#   make test   the same set-up plus test dependencies, then the whole test suite (CI runs this)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PIP := $(VENV)/bin/pip
PIP_FLAGS := --disable-pip-version-check --quiet
IMAGES ?=

.PHONY: run test demo bench install install-test clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# Everything is pinned: constraints.txt holds the exact version of every package.
$(VENV)/.stamp-install: pyproject.toml constraints.txt | $(VENV)/bin/python
	$(PIP) install $(PIP_FLAGS) -c constraints.txt -e .
	touch $@

$(VENV)/.stamp-test: $(VENV)/.stamp-install
	$(PIP) install $(PIP_FLAGS) -c constraints.txt -e '.[test,labels]'
	touch $@

$(VENV)/.stamp-bench: $(VENV)/.stamp-install
	$(PIP) install $(PIP_FLAGS) -c constraints.txt -e '.[bench]'
	touch $@

# Real photographs and artworks (about 70, 0.5-40 Mpx) from Debian packages, for benchmarks and tests.
CORPUS ?= .cache/wallpapers
$(CORPUS)/MANIFEST.tsv: | $(VENV)/.stamp-install
	PYTHON=$(VENV)/bin/python ../shared/corpus/fetch-wallpapers $(CORPUS)

install: $(VENV)/.stamp-install
install-test: $(VENV)/.stamp-test

run: install
	scripts/init-airflow
	scripts/airflow standalone

test: install-test
	$(VENV)/bin/python -m pytest

demo: install
	scripts/demo $(IMAGES)

# Side-by-side benchmarks on real photos (the corpus above, or IMAGES=DIR); results in benchmarks/results/
bench: $(VENV)/.stamp-bench $(CORPUS)/MANIFEST.tsv
	$(VENV)/bin/python benchmarks/bench_process.py $(or $(IMAGES),$(CORPUS))

clean:
	rm -rf .airflow data
