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

install: $(VENV)/.stamp-install
install-test: $(VENV)/.stamp-test

run: install
	scripts/init-airflow
	scripts/airflow standalone

test: install-test
	$(VENV)/bin/python -m pytest

demo: install
	scripts/demo $(IMAGES)

# Side-by-side benchmark on real photos: make bench IMAGES=/tmp/wallpapers
# (build that corpus with: PYTHON=.venv/bin/python ../shared/corpus/fetch-wallpapers /tmp/wallpapers)
bench: install
	@test -n "$(IMAGES)" || { echo "usage: make bench IMAGES=DIR"; exit 2; }
	$(VENV)/bin/python benchmarks/bench_half_gray.py $(IMAGES)

clean:
	rm -rf .airflow data
