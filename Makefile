# What a person types is what CI runs: `make run` and `make test` work on a fresh machine.
#
# Two installs, each with its stamp in .venv: what running needs (make run, run-api, dev-env,
# data, reset: the runtime dependencies, deploystatus itself and the npm dynalite engine) and,
# on top, the development tools (make install, make test: extra `dev`). Both come from lock
# files with a hash for every file (requirements.lock, requirements-dev.lock; `make lock`
# re-resolves them), installed by uv, which pip bootstraps from requirements-uv.lock.

# Variables: `make help` lists each `NAME ?= default` with the `#: ` line above it.
#: the interpreter (3.11 or newer) that makes .venv
PYTHON ?= $(shell command -v python3.11 || command -v python3)
#: where make run and make run-api serve the API
PORT ?= 8080
#: the address they listen on
HOST ?= 127.0.0.1
#: the local DynamoDB engine's port (dev-env, run, run-api, data, reset)
DB_PORT ?= 4566
#: where dynalite keeps its data (make clean keeps it; make delete-dev-env removes it)
DATA_DIR ?= .data
#: how many records make data generates
RECORDS ?= 2000
#: YES=1: make reset does not ask first
YES ?=
#: how long make soak runs, in seconds
SOAK_SECONDS ?= 180
#: UPGRADE=1: make lock moves every pin to the newest release allowed
UPGRADE ?=

VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
RUN_LOCK := requirements.lock
DEV_LOCK := requirements-dev.lock
UV_LOCK := requirements-uv.lock
# .installed: what running needs; .installed-dev: the development tools on top.
RUN_STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

LOCAL_DB := AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$(DB_PORT) \
	AWS_ACCESS_KEY_ID=$${AWS_ACCESS_KEY_ID:-local} AWS_SECRET_ACCESS_KEY=$${AWS_SECRET_ACCESS_KEY:-local} \
	AWS_REGION=$${AWS_REGION:-us-east-1}

# The interpreter's version ("3.11.7"), empty if $(PYTHON) does not run, and the version
# that made .venv (its pyvenv.cfg), empty if there is no .venv.
PYTHON_VERSION := $(if $(PYTHON),$(shell '$(PYTHON)' -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null))
VENV_VERSION := $(shell sed -n 's/^version\(_info\)\{0,1\} *= *\([0-9]*\.[0-9]*\.[0-9]*\).*/\2/p' $(VENV)/pyvenv.cfg 2>/dev/null)
# A .venv made by another Python is rebuilt: the runtime install runs again whatever its stamp.
ifneq ($(VENV_VERSION),)
ifneq ($(VENV_VERSION),$(PYTHON_VERSION))
REBUILD_VENV := 1
$(RUN_STAMP): FORCE
endif
endif

# One line, and a non-zero exit, where no Python 3.11+ is found.
define CHECK_PYTHON
	@if [ -z "$(PYTHON)" ]; then \
		echo "deploystatus needs Python 3.11 or newer, and found neither python3.11 nor python3 on PATH: install one, or pass it: make $(or $(firstword $(MAKECMDGOALS)),run) PYTHON=/path/to/python3.11"; exit 1; \
	elif ! '$(PYTHON)' -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then \
		echo "deploystatus needs Python 3.11 or newer, and $(PYTHON) is $(if $(PYTHON_VERSION),Python $(PYTHON_VERSION),not a Python that runs): pass another, e.g. make $(or $(firstword $(MAKECMDGOALS)),run) PYTHON=/path/to/python3.11"; exit 1; \
	fi
endef

.DEFAULT_GOAL := help
.PHONY: help install run test lint typecheck pytest lock clean dev-env run-api data reset bench bench-board bench-feed bench-quick \
	soak reliability-report \
	delete-dev-env compose dev_env data_generation run_api_local reset_dev_env \
	delete_dev_env run_all_docker_compose chromium promtool screenshots FORCE

help: ## list the targets and the variables
	@echo "Targets:"
	@grep -hE '^[a-z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-24s %s\n", $$1, $$2}'
	@echo "Variables (make <target> NAME=value): name, default, what it does"
	@awk -v found='$(or $(shell command -v python3.11 || command -v python3),none found)' \
		'/^#: /{doc=substr($$0, 4); next} \
		/^[A-Z_]+ \?=/{name=$$1; value=$$0; sub(/^[A-Z_]+ \?= ?/, "", value); \
			if (name == "PYTHON") { value="python3.11|python3"; doc=doc "; first on PATH (here: " found ")" } \
			else if (value == "") value="(unset)"; \
			printf "  %-24s %-20s %s\n", name, value, doc} {doc=""}' $(firstword $(MAKEFILE_LIST))
	@echo "  CI (environment)         (unset)              CI=true (.ci/run sets it): a missing Chromium or promtool fails make chromium, make promtool and the tests instead of skipping them"

FORCE:

$(RUN_STAMP): pyproject.toml $(RUN_LOCK) $(UV_LOCK) package-lock.json
	$(CHECK_PYTHON)
	@command -v npm >/dev/null 2>&1 || { echo "npm is missing: the local DynamoDB engine (dynalite) is an npm package; install Node.js 20 or newer, with npm"; exit 1; }
	@if [ -n "$(REBUILD_VENV)" ]; then \
		echo "$(VENV) was made by Python $(VENV_VERSION), and $(PYTHON) is Python $(PYTHON_VERSION): rebuilding $(VENV)"; \
		rm -rf $(VENV); \
	fi
	@if [ ! -x $(BIN)/python ]; then \
		echo "creating $(VENV) with $(PYTHON) (Python $(PYTHON_VERSION))"; $(PYTHON) -m venv $(VENV); fi
	@echo "installing uv with pip ($(UV_LOCK), hash-checked)"
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r $(UV_LOCK)
	@echo "installing what running needs: the runtime dependencies ($(RUN_LOCK), hash-checked) and deploystatus"
	$(UV) pip install --python $(BIN)/python --require-hashes -r $(RUN_LOCK)
	$(UV) pip install --python $(BIN)/python --no-deps --no-build-isolation -e .
	@echo "installing the local DynamoDB engine (dynalite) and the browser tests' accessibility checker (axe-core) from package-lock.json into node_modules"
	npm ci --no-audit --no-fund
	@touch $@

$(DEV_STAMP): $(RUN_STAMP) $(DEV_LOCK)
	@echo "installing the development tools: extra dev ($(DEV_LOCK), hash-checked)"
	$(UV) pip install --python $(BIN)/python --require-hashes -r $(DEV_LOCK)
	@touch $@

install: $(DEV_STAMP) chromium promtool ## .venv with what running needs, the dev tools, Chromium and promtool (apt-get, as root)

# A tool the tests need, from Debian (apt-get, as root), if missing: $(1) the command, $(2) the
# package, $(3) what needs it, $(4) apt-get options. Missing, it is a skip, except with
# CI=true where it is an error.
define DEBIAN_TOOL
	@if command -v $(1) >/dev/null 2>&1; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then why="only root can apt-get $(2) here"; \
	elif ! command -v apt-get >/dev/null 2>&1; then why="there is no apt-get here to install $(2)"; \
	else \
		echo "installing $(2) with apt-get, for $(3)"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			$(4) $(2) >/dev/null; } || true; \
		command -v $(1) >/dev/null 2>&1 && exit 0; \
		why="apt-get install $(2) failed"; \
	fi; \
	if [ "$$CI" = true ]; then \
		echo "$(1) is missing ($$why): CI=true, where $(3) must run, so this fails"; exit 1; \
	fi; \
	echo "$(1) is missing ($$why): $(3) will be skipped (with CI=true they fail)"
endef

# The browser tests drive Debian's Chromium (Playwright never downloads a browser here).
chromium: ## install Chromium for the browser tests (apt-get, as root) if missing; with CI=true, missing fails
	$(if $(DEPLOYSTATUS_CHROMIUM),@:,$(call DEBIAN_TOOL,chromium,chromium,the browser tests))

# The alert rules and the dashboard's queries are checked by promtool, in Debian's prometheus.
promtool: ## install promtool (Debian's prometheus, apt-get, as root) if missing; with CI=true, missing fails
	$(if $(DEPLOYSTATUS_PROMTOOL),@:,$(call DEBIAN_TOOL,promtool,prometheus,the alert rule tests,--no-install-recommends))

run: $(RUN_STAMP) ## all in one: local DynamoDB (dynalite, data in DATA_DIR) + table + API on HOST:PORT, logs as text
	$(BIN)/deploystatus dev --host $(HOST) --port $(PORT) --db-port $(DB_PORT) --data-dir $(DATA_DIR)

dev-env: $(RUN_STAMP) ## start the local DynamoDB (dynalite) in the background on DB_PORT and create the table
	@mkdir -p $(DATA_DIR)
	@if [ -f $(DATA_DIR)/local-db.pid ] && kill -0 $$(cat $(DATA_DIR)/local-db.pid) 2>/dev/null; then \
		echo "dev-env: the local DynamoDB was already running"; \
	else \
		nohup $(BIN)/deploystatus local-db --db-port $(DB_PORT) --data-dir $(DATA_DIR) \
			> $(DATA_DIR)/local-db.log 2>&1 & echo $$! > $(DATA_DIR)/local-db.pid; \
		for i in $$(seq 1 100); do grep -q "Ctrl-C stops" $(DATA_DIR)/local-db.log && break; \
			kill -0 $$(cat $(DATA_DIR)/local-db.pid) 2>/dev/null || { cat $(DATA_DIR)/local-db.log; exit 1; }; \
			sleep 0.2; done; \
		echo "dev-env: started the local DynamoDB"; \
	fi; \
	engine=$$(sed -n 's/^deploystatus: DynamoDB is \(.*\)  (Ctrl-C stops)$$/\1/p' $(DATA_DIR)/local-db.log | tail -1); \
	echo "  engine: $${engine:-dynalite at http://127.0.0.1:$(DB_PORT) (data in $(DATA_DIR))}"; \
	echo "  pid $$(cat $(DATA_DIR)/local-db.pid), log $(DATA_DIR)/local-db.log"; \
	echo "  stop it (and remove $(DATA_DIR)): make delete-dev-env$(if $(filter-out .data,$(DATA_DIR)), DATA_DIR=$(DATA_DIR))"
	$(LOCAL_DB) $(BIN)/deploystatus init-table

run-api: $(RUN_STAMP) ## the API on HOST:PORT against the engine dev-env started (DB_PORT), logs as text like run
	DEPLOYSTATUS_LOG_FORMAT=$${DEPLOYSTATUS_LOG_FORMAT:-text} $(LOCAL_DB) $(BIN)/deploystatus serve --host $(HOST) --port $(PORT)

data: $(RUN_STAMP) ## generate realistic data into the local engine (RECORDS=2000)
	$(LOCAL_DB) $(BIN)/deploystatus generate --records $(RECORDS)

reset: $(RUN_STAMP) ## delete and recreate the local table, asking first (YES=1 does not ask)
	$(LOCAL_DB) $(BIN)/deploystatus reset $(if $(YES),--yes)

delete-dev-env: ## stop the engine dev-env started and remove its data dir
	@if [ -f $(DATA_DIR)/local-db.pid ]; then kill $$(cat $(DATA_DIR)/local-db.pid) 2>/dev/null || true; \
		for i in $$(seq 1 50); do kill -0 $$(cat $(DATA_DIR)/local-db.pid) 2>/dev/null || break; sleep 0.2; done; fi
	rm -rf $(DATA_DIR)

compose: ## the API and DynamoDB Local in Docker (needs Docker with the compose plugin)
	@if ! docker compose version >/dev/null 2>&1; then \
		if command -v docker-compose >/dev/null 2>&1; then \
			echo "make compose needs the Docker Compose plugin (docker compose version failed; docker-compose v1 is installed but not used): install docker-compose-plugin"; \
		else \
			echo "make compose needs Docker with the Compose plugin (docker compose version failed): install Docker Engine and docker-compose-plugin"; \
		fi; exit 1; \
	fi
	@docker info >/dev/null 2>&1 || { echo "make compose needs a running Docker engine (docker info failed): start dockerd"; exit 1; }
	docker compose up --build

lint: $(DEV_STAMP) ## ruff, the import contracts between the wings, terraform fmt if installed
	$(BIN)/ruff check src tests bench soak tools
	$(BIN)/ruff format --check src tests bench soak tools
	$(BIN)/lint-imports --no-cache
	@if command -v terraform >/dev/null 2>&1; then \
		echo "terraform fmt -check -diff -recursive infra/terraform"; \
		terraform fmt -check -diff -recursive infra/terraform; \
	else \
		echo "terraform is not on PATH: skipping terraform fmt -check of infra/terraform"; \
	fi

typecheck: $(DEV_STAMP) ## mypy --strict
	$(BIN)/mypy

pytest: $(DEV_STAMP) chromium promtool ## the tests alone
	$(BIN)/pytest

test: lint typecheck pytest ## lint, type checks and tests (installs the dev tools first)

screenshots: $(DEV_STAMP) chromium ## the board's screenshots in docs/, from the browser tests
	DEPLOYSTATUS_SCREENSHOTS=docs $(BIN)/pytest -q -p no:cacheprovider tests/board/test_browser.py tests/board/test_browser_component.py \
		-k "every_deployable or component_page or narrow"

bench-board: $(DEV_STAMP) chromium ## the board in Chromium at 1,000 x 10, against the previous release (about 5 min): docs/performance/board.json
	$(BIN)/python -m bench.board

bench-feed: $(DEV_STAMP) ## the change feed: writes with it on and off, 1,000 stream clients, webhook deliveries (188 s measured, about 3 min): docs/performance/feed.json
	$(BIN)/python -m bench.feed

bench: $(DEV_STAMP) ## the benchmark suite (the last recorded run took 428 s, about 7 min): regenerates docs/performance.md
	$(BIN)/python -m bench

bench-quick: $(DEV_STAMP) ## a short benchmark run (156 s measured, about 2.5 min), into build/bench-quick/; informational, NOT MET does not fail it
	$(BIN)/python -m bench --quick

# Reliability: soak (minutes, not part of make test) and the report in docs/reliability.md.
RELIABILITY_TESTS := tests/reliability/test_faults.py tests/reliability/test_engine_restart.py \
	tests/reliability/test_concurrency.py tests/reliability/test_hostile_input.py \
	tests/reliability/test_hostile_http.py tests/api/test_openapi.py \
	tests/feed/test_events.py tests/reliability/test_webhook_replicas.py

soak: $(RUN_STAMP) ## steady writes and reads against deploystatus dev (SOAK_SECONDS=180), progress every 10 s: errors, p99, RSS
	$(BIN)/python soak/soak.py --seconds $(SOAK_SECONDS) --json .reliability/soak.json

reliability-report: $(DEV_STAMP) ## rerun the reliability tests and render their results into docs/reliability.md
	DEPLOYSTATUS_RELIABILITY_LOG=.reliability/tests.json $(BIN)/pytest -q -p no:cacheprovider $(RELIABILITY_TESTS)
	$(BIN)/python tools/reliability_report.py --tests .reliability/tests.json \
		--soak .reliability/soak.json --doc docs/reliability.md

# The lock files, resolved by uv (in a throwaway .lock-venv) from pyproject.toml and its build
# requirement (setuptools, which the installs build deploystatus with), for Python 3.11 and up
# on every platform (markers: uvloop not on Windows). The runtime lock is resolved within the
# dev lock, so that a package in both has one version.
LOCK_PYTHON := .lock-venv/bin/python
LOCK_UV := .lock-venv/bin/uv
LOCK_COMPILE = $(LOCK_UV) pip compile --quiet --generate-hashes --universal --python-version 3.11 \
	--custom-compile-command "make lock" $(if $(UPGRADE),--upgrade)
BUILD_REQUIRES = $(LOCK_PYTHON) -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"], sep="\n")'

lock: ## re-resolve requirements.lock (runtime) and requirements-dev.lock (+ dev) with hashes; UPGRADE=1 moves pins
	$(CHECK_PYTHON)
	@rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	@$(LOCK_PYTHON) -m pip install --quiet --disable-pip-version-check --require-hashes -r $(UV_LOCK)
	echo uv | $(LOCK_COMPILE) - -o $(UV_LOCK)
	$(BUILD_REQUIRES) | $(LOCK_COMPILE) pyproject.toml - --extra dev -o $(DEV_LOCK)
	$(BUILD_REQUIRES) | $(LOCK_COMPILE) pyproject.toml - -c $(DEV_LOCK) -o $(RUN_LOCK)
	@rm -rf .lock-venv

clean: ## remove .venv, node_modules, build/, .reliability/, *.egg-info, .lock-venv and caches; keeps .data (delete-dev-env removes it)
	rm -rf $(VENV) node_modules build .reliability .lock-venv .mypy_cache .ruff_cache .pytest_cache .hypothesis
	find . -path ./.git -prune -o -path './$(DATA_DIR)' -prune -o \( -name __pycache__ -o -name '*.egg-info' \) -type d -prune -exec rm -rf {} +

# The reference's target names, so muscle memory works.
dev_env: dev-env ## = dev-env
data_generation: data ## = data
run_api_local: run-api ## = run-api
reset_dev_env: reset ## = reset
delete_dev_env: delete-dev-env ## = delete-dev-env
run_all_docker_compose: compose ## = compose
