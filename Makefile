# Two entry points: `make demo` and `make test`. Each creates .venv when missing and installs only when
# pyproject.toml or constraints.txt changed (stamp files), so running them again does not reinstall anything.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt

.PHONY: demo test lint clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.demo-installed: pyproject.toml constraints.txt | $(PY)
	$(PIP) torch==2.13.0 -e ".[render]"
	touch $@

$(VENV)/.test-installed: pyproject.toml constraints.txt | $(PY)
	$(PIP) torch==2.13.0 -e ".[render,dev]"
	touch $@

demo: $(VENV)/.demo-installed
	$(VENV)/bin/motionmill demo --out outputs

test: $(VENV)/.test-installed
	$(PY) -m pytest -q

lint: $(VENV)/.test-installed
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

clean:
	rm -rf $(VENV) outputs .pytest_cache
