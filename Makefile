# Every target creates .venv from scratch when it is missing, so a fresh clone needs nothing but python3.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-k8s lint unit bench crds clean

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

# The suites on a real control plane: GROVE_K8S_ASSETS=DIR (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler), inside a private loopback-only network namespace (see hack/test-k8s.sh).
test-k8s: $(STAMP)
	hack/test-k8s.sh

bench: $(STAMP)
	@for b in hack/bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

crds: $(STAMP)
	$(BIN)/grove crds --write deploy/crds

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
