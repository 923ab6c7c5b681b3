# What a person types is what CI runs: `make run` and `make test` work on a fresh machine.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install run test lint typecheck pytest lock clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock package-lock.json
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev]'
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(STAMP) ## create .venv with the project, its dev tools and the local engines

run: $(STAMP) ## serve the API on :8080 with a local DynamoDB (dynalite, data in .data/)
	$(BIN)/deploystatus dev

lint: $(STAMP) ## ruff
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

typecheck: $(STAMP) ## mypy --strict
	$(BIN)/mypy

pytest: $(STAMP) ## the tests alone
	$(BIN)/pytest

test: lint typecheck pytest ## lint, type checks and tests

lock: ## re-resolve requirements.lock from pyproject.toml
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	.lock-venv/bin/python -m pip freeze --exclude-editable --disable-pip-version-check > requirements.lock
	rm -rf .lock-venv

clean: ## remove .venv, node_modules and caches (not .data)
	rm -rf $(VENV) node_modules .mypy_cache .ruff_cache .pytest_cache .hypothesis
