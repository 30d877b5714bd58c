# Two commands on a fresh machine:  make run   |   make test
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
ARGS ?=

.PHONY: run test lint bench clean

$(VENV)/.app-installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[ml,report]'
	touch $@

$(VENV)/.test-installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[ml,report,test]'
	touch $@ $(VENV)/.app-installed

# Installs qostui (with the forecasting extra) into .venv and starts the monitor.
# Pass options with ARGS, e.g.  make run ARGS="--targets 127.0.0.1,::1 --interval 1"
run: $(VENV)/.app-installed
	$(VENV)/bin/qostui $(ARGS)

# Installs qostui with its test extra into .venv, then lints and runs the whole suite.
test: $(VENV)/.test-installed
	@# the offline Grafana/Flux checkers (Node packages); without npm those tests skip with a reason
	@if command -v npm >/dev/null && [ ! -d tests/grafana_check/node_modules ]; then \
	  (cd tests/grafana_check && npm ci --no-audit --no-fund --loglevel=error); fi
	$(PY) -m ruff check src tests bench
	$(PY) -m pytest -q -rs $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
