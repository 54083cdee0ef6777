# Two entry points: `make demo` and `make test`. Both bootstrap .venv on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: venv demo test bench schemas clean

$(BIN)/pim: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(BIN)/pim

venv: $(BIN)/pim

demo: venv
	$(BIN)/pim demo

# One pytest-xdist worker per core (at most 4): each starts its own PostgreSQL, sshd, moto and Chromium.
test: venv
	$(BIN)/python -m pytest -q -n auto --maxprocesses=4

bench: venv
	$(BIN)/python -m benchmarks all --profile small

schemas: venv
	$(BIN)/pim schemas generate

clean:
	rm -rf .pim .pytest_cache
