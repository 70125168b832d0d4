# cdc-lab: `make lab` brings the lab up, `make verify` proves it works. See README.md.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
LAB_DIR := .lab
BIN := $(VENV)/bin
STAMP := $(VENV)/.cdc-lab-installed
PLAYBOOK := $(BIN)/ansible-playbook
# Extra arguments for ansible-playbook, e.g. `make lab ANSIBLE_ARGS="-e prometheus_port=19090 -v"`.
ANSIBLE_ARGS ?=
# Extra arguments for pytest in `make test`, e.g. `make test PYTEST_ARGS="-m alertmanager"`.
PYTEST_ARGS ?=
# Extra arguments for `make bench`, e.g. `make bench BENCH_ARGS="--runs 9"`.
BENCH_ARGS ?=
# How many times `make soak` runs the suite before its fault.
SOAK_RUNS ?= 5
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export ANSIBLE_FORCE_COLOR ?= $(if $(CI),0,1)

.PHONY: help venv lab verify chaos soak test down clean lint lock bench docs stream

help: ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

venv: $(STAMP) ## Create the virtualenv and install the locked dependencies.

$(STAMP): requirements.lock pyproject.toml
	@if ! $(PYTHON) -c 'import ensurepip, venv' 2>/dev/null; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    echo "cdc-lab: installing python3-venv (python3 has no venv module)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; \
	  else \
	    echo "cdc-lab: $(PYTHON) cannot create virtualenvs; install python3-venv (Debian/Ubuntu) and re-run" >&2; exit 1; \
	  fi; \
	fi
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	@echo "cdc-lab: installing locked Python dependencies into $(VENV)"
	@# uv first (its own entry of the lock, hash-checked by pip), then everything with uv: 3x faster than pip.
	@awk '/^[^ #]/ { keep = /^uv==/ } keep' requirements.lock > $(VENV)/uv-requirement.txt
	@$(BIN)/python -m pip install -q --require-hashes --no-deps -r $(VENV)/uv-requirement.txt
	@$(BIN)/uv pip install -q --python $(BIN)/python --require-hashes --no-deps -r requirements.lock
	@$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	@touch $@

lab: $(STAMP) ## Bring the lab up (idempotent): Docker engine, images, network, services.
	$(PLAYBOOK) site.yml $(ANSIBLE_ARGS)

verify: $(STAMP) ## Run the verification play: pytest against the live lab, strict mode.
	$(PLAYBOOK) playbooks/verify.yml $(ANSIBLE_ARGS)

chaos: $(STAMP) ## Faults on the live lab: the suite a second time in a row, then the fault tests, one at a time.
	$(PLAYBOOK) playbooks/verify.yml -e lab_verify_report_name=junit-rerun.xml $(ANSIBLE_ARGS)
	$(PLAYBOOK) playbooks/chaos.yml $(ANSIBLE_ARGS)

soak: $(STAMP) ## The suite SOAK_RUNS times in a row (5), a fault of make chaos, the suite again; the pass rate.
	$(BIN)/python -m cdc_lab.soak --runs $(SOAK_RUNS)

test: $(STAMP) ## The whole suite, non-strict: lab tests skip when the lab is down.
	$(BIN)/pytest -n 4 $(PYTEST_ARGS)

down: $(STAMP) ## Remove the lab's containers and network; keep data volumes and images.
	$(PLAYBOOK) playbooks/down.yml $(ANSIBLE_ARGS)

clean: $(STAMP) ## Also remove the data volumes and .lab/ (generated config, credentials, reports).
	$(PLAYBOOK) playbooks/down.yml -e lab_down_remove_volumes=true $(ANSIBLE_ARGS)
	rm -rf $(LAB_DIR)

lint: $(STAMP) ## ansible-lint (production profile), yamllint, ruff.
	$(BIN)/ansible-lint --profile production
	$(BIN)/yamllint -s .
	$(BIN)/ruff check src tests collections
	$(BIN)/ruff format --check src tests collections

bench: $(STAMP) ## Measure the live lab against the spec's targets (medians); writes .lab/reports/bench.json.
	$(BIN)/python -m cdc_lab.bench $(BENCH_ARGS)

stream: $(STAMP) ## Stream a captured table into Delta until Ctrl-C: make stream TABLE=customers [KEY=id]
	@[ -n "$(TABLE)" ] || { echo "cdc-lab: name the table: make stream TABLE=<table of the lab's database>" >&2; exit 2; }
	$(BIN)/python -m cdc_lab.services.spark.cdc_stream $(TABLE) $(if $(KEY),--key $(KEY))

docs: $(STAMP) ## Remake the README's services table and docs/pipeline.png from the roles' declarations.
	$(BIN)/python -m cdc_lab.docs

lock: ## Re-resolve the locks: requirements.lock from pyproject.toml, then each role's files/jars.lock.yml (Maven).
	$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes --universal \
	  --python-version 3.11 --no-header -o requirements.lock
	$(MAKE) venv
	$(BIN)/python -m cdc_lab.jarlock
