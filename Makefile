# Two commands on a fresh machine with Python 3.11 and pip:
#   make run    set up .venv and .airflow/, start `airflow standalone` (UI on http://localhost:8080)
#   make test   the same set-up plus test dependencies, then the whole test suite (CI runs this)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PIP := $(VENV)/bin/pip
PIP_FLAGS := --disable-pip-version-check --quiet
IMAGES ?=

.PHONY: run test demo bench install install-test browser clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# Everything is pinned: constraints.txt holds the exact version of every package.
$(VENV)/.stamp-install: pyproject.toml constraints.txt | $(VENV)/bin/python
	$(PIP) install $(PIP_FLAGS) -c constraints.txt -e .
	touch $@

$(VENV)/.stamp-test: $(VENV)/.stamp-install
	$(PIP) install $(PIP_FLAGS) -c constraints.txt -e '.[test]'
	touch $@

# The browser tests open pages in headless Chromium (driven by playwright, never `playwright install`):
# Debian's package when it is missing and apt-get exists (as root, or through sudo). CHROMIUM=/path
# points the tests at another Chromium or Chrome instead.
browser:
	@command -v chromium >/dev/null || test -n "$$CHROMIUM" || { \
	  command -v apt-get >/dev/null || { echo "no chromium and no apt-get: install Chromium, or set CHROMIUM=/path"; exit 1; }; \
	  SUDO=$$(test "$$(id -u)" = 0 || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium; }

install: $(VENV)/.stamp-install
install-test: $(VENV)/.stamp-test browser

run: install
	scripts/init-airflow
	scripts/airflow standalone

test: install-test
	$(VENV)/bin/python -m pytest

demo: install
	scripts/demo $(IMAGES)

# Benchmarks: the daily analytics over RECORDS generated catalog records (seconds, peak memory), and
# half_gray side by side on real photos: make bench IMAGES=/tmp/wallpapers
# (build that corpus with: PYTHON=.venv/bin/python ../shared/corpus/fetch-wallpapers /tmp/wallpapers)
RECORDS ?= 1000000
bench: install
	$(VENV)/bin/python benchmarks/bench_analytics.py --records $(RECORDS)
	@if test -n "$(IMAGES)"; then $(VENV)/bin/python benchmarks/bench_half_gray.py $(IMAGES); \
	else echo "half_gray: make bench IMAGES=DIR runs it on a folder of photos"; fi

clean:
	rm -rf .airflow data
