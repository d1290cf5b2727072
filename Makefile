# inferop developer entry points. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The simulator's compiled event loop (simcore/, Rust through PyO3 and maturin) is part of the install.
SIMCORE := simcore/pyproject.toml simcore/Cargo.toml simcore/Cargo.lock $(wildcard simcore/src/*.rs simcore/inferop_simcore/*.py)
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml $(SIMCORE) | sha1sum | cut -c1-12)
PYTEST_ARGS ?=

.DEFAULT_GOAL := help

.PHONY: help
help: ## Show this help
	@grep -hE '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml $(SIMCORE)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet ./simcore
	@rm -f $(VENV)/.installed-*; touch $@

.PHONY: install
install: $(STAMP) ## Create .venv and install inferop with its development tools and the simulator's core (needs cargo)

.PHONY: test
test: $(STAMP) control-plane chart-check ## Run every test tier: unit, api (kmock) and cluster (real control plane)
	$(BIN)/pytest tests $(PYTEST_ARGS)

.PHONY: test-unit
test-unit: $(STAMP) ## Run the unit and api tiers only (no cluster)
	$(BIN)/pytest tests/unit tests/api $(PYTEST_ARGS)

.PHONY: control-plane
control-plane: ## Build (first time) or reuse the local Kubernetes control plane binaries
	bash hack/build-control-plane.sh

.PHONY: crds
crds: $(STAMP) ## Regenerate crds/ from the API models
	$(BIN)/inferop crds --out crds

.PHONY: lint
lint: $(STAMP) ## ruff, mypy --strict and the import-layer contracts
	$(BIN)/ruff check operator tests
	$(BIN)/mypy
	$(BIN)/lint-imports

.PHONY: render
render: $(STAMP) ## Render the GPU example offline
	$(BIN)/inferop render -f examples/llm-vllm.yaml -f examples/gpuclasses.yaml

.PHONY: cluster-up
cluster-up: control-plane ## Start the local cluster with fake GPU nodes; prints export KUBECONFIG=...
	bash hack/cluster-up.sh

.PHONY: cluster-down
cluster-down: ## Delete the local cluster
	bash hack/cluster-down.sh

.PHONY: demo
demo: $(STAMP) control-plane ## Local cluster + CRDs + examples + operator, and watch it converge
	bash hack/demo.sh

.PHONY: bench
bench: $(STAMP) ## Replay every shared trace: inferop vs tuned HPA/KEDA/KPA/static and the oracle, and scale to zero on a trace with idle hours (bench/results/)
	$(BIN)/python bench/run.py
	@# The what-ifs (bench/whatif.py) on the one-hour traces, seconds each, merged into the report; on the
	@# week they cost ~10 CPU-minutes each: bench/run.py --only servegen_m-large_rate_10min-7d --whatif NAMES --no-compare
	$(BIN)/python bench/run.py --whatifs --no-compare --only azure2023_code,azure2023_code-x8,azure2023_conv,azure2023_conv-x8
	$(BIN)/python bench/phase.py
	$(BIN)/python bench/zero.py

.PHONY: bench-activator
bench-activator: $(STAMP) ## The activator under load (hold 1,000+ then forward; added latency): bench/results/activator.{json,md}
	$(BIN)/python bench/activator.py

.PHONY: bench-phase
bench-phase: $(STAMP) ## inferop's result against the phase of its decisions, on the one-hour traces (after make bench): bench/results/phase.{json,md}
	$(BIN)/python bench/phase.py

.PHONY: bench-zero
bench-zero: $(STAMP) ## Scale to zero, simulated on a sparse trace with idle hours: GPU-hours saved vs minReplicas 1, attainment cost: bench/results/zero.{json,md}
	$(BIN)/python bench/zero.py

.PHONY: chart-check
chart-check: $(STAMP) ## Lint, render and validate the Helm chart (helm built from its Go module, cached)
	bash hack/chart-check.sh

.PHONY: e2e
e2e: ## End-to-end on kind (needs Docker and kind; not runnable here, see e2e/README.md)
	bash e2e/run.sh

N ?= 300
.PHONY: bench-scale
bench-scale: $(STAMP) control-plane ## Operator at scale vs kubectl apply (N=300): bench/results/scale-N.{json,md}
	$(BIN)/python -m bench.scale.run --n $(N)
