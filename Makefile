# `make up` runs the service on embedded defaults; `make test` installs and runs the tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.sim2real-installed

.PHONY: up demo install test test-all lint format bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[worker,dev]"
	@touch $(STAMP)

install: $(STAMP)

up: install
	$(PY) -m services.embedded

# The offline study (about 30 min on a 2-core CPU): DEMO_ARGS passes options, e.g. DEMO_ARGS="--budget 10".
demo: install
	$(PY) -m sim2real demo study $(DEMO_ARGS)

lint: install
	$(PY) -m ruff check services sim2real tests bench

format: install
	$(PY) -m ruff format services sim2real tests bench

# The default run: everything but tests marked slow.
test: install lint
	$(PY) -m pytest -m "not slow" -q

test-all: install lint
	$(PY) -m pytest -q

bench: install
	$(PY) bench/weather.py

clean:
	rm -rf var .pytest_cache .ruff_cache
