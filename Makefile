# Every target creates .venv from scratch when it is missing, so a fresh clone needs nothing but python3.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint unit bench crds clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/grove demo

lint: $(STAMP)
	$(BIN)/ruff check src tests hack
	$(BIN)/ruff format --check src tests hack
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

bench: $(STAMP)
	@for b in hack/bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

crds: $(STAMP)
	$(BIN)/grove crds --write deploy/crds

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
