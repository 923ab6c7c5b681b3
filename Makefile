# What a person types is what CI runs: `make run` and `make test` work on a fresh machine.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Where make run and make run-api serve the API.
PORT ?= 8080
HOST ?= 127.0.0.1
# The local engine that dev-env starts and run-api, data and reset use.
DB_PORT ?= 4566
DATA_DIR ?= .data
RECORDS ?= 2000
LOCAL_DB := AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$(DB_PORT) \
	AWS_ACCESS_KEY_ID=$${AWS_ACCESS_KEY_ID:-local} AWS_SECRET_ACCESS_KEY=$${AWS_SECRET_ACCESS_KEY:-local} \
	AWS_REGION=$${AWS_REGION:-us-east-1}

.DEFAULT_GOAL := help
.PHONY: help install run test lint typecheck pytest lock clean dev-env run-api data reset bench bench-quick \
	soak reliability-report \
	delete-dev-env compose dev_env data_generation run_api_local reset_dev_env \
	delete_dev_env run_all_docker_compose chromium promtool screenshots

help: ## list the targets
	@grep -hE '^[a-z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-24s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock package-lock.json
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev]'
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(STAMP) chromium promtool ## create .venv with the project, its dev tools and the local engines

# The browser tests drive Debian's Chromium (Playwright never downloads a browser here).
chromium: ## install Chromium for the browser tests (apt-get, as root) if it is missing
	@if command -v chromium >/dev/null 2>&1 || [ -n "$$DEPLOYSTATUS_CHROMIUM" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing chromium with apt-get, for the browser tests"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
			|| echo "could not install chromium: the browser tests will be skipped"; \
	else \
		echo "chromium is missing and only root can apt-get it here: the browser tests will be skipped"; \
	fi

# The alert rules and the dashboard's queries are checked by promtool, in Debian's prometheus.
promtool: ## install promtool (Debian's prometheus package, apt-get, as root) if it is missing
	@if command -v promtool >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing prometheus (for promtool) with apt-get, for the alert rule tests"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends prometheus >/dev/null; } \
			|| echo "could not install promtool: the alert rule tests will be skipped (fail with CI=true)"; \
	else \
		echo "promtool is missing and only root can apt-get it here: the alert rule tests will be skipped (fail with CI=true)"; \
	fi

run: $(STAMP) ## all in one: local DynamoDB (dynalite, data in .data/) + table + API on :8080 (PORT=, HOST= change it)
	$(BIN)/deploystatus dev --host $(HOST) --port $(PORT) --db-port $(DB_PORT) --data-dir $(DATA_DIR)

dev-env: $(STAMP) ## start the local DynamoDB in the background and create the table
	@mkdir -p $(DATA_DIR)
	@if [ -f $(DATA_DIR)/local-db.pid ] && kill -0 $$(cat $(DATA_DIR)/local-db.pid) 2>/dev/null; then \
		echo "local DynamoDB already running (pid $$(cat $(DATA_DIR)/local-db.pid))"; \
	else \
		nohup $(BIN)/deploystatus local-db --db-port $(DB_PORT) --data-dir $(DATA_DIR) \
			> $(DATA_DIR)/local-db.log 2>&1 & echo $$! > $(DATA_DIR)/local-db.pid; \
		for i in $$(seq 1 100); do grep -q "Ctrl-C stops" $(DATA_DIR)/local-db.log && break; \
			kill -0 $$(cat $(DATA_DIR)/local-db.pid) 2>/dev/null || { cat $(DATA_DIR)/local-db.log; exit 1; }; \
			sleep 0.2; done; \
	fi
	$(LOCAL_DB) $(BIN)/deploystatus init-table

run-api: $(STAMP) ## the API on :8080 against the engine dev-env started (PORT=, HOST= change it)
	$(LOCAL_DB) $(BIN)/deploystatus serve --host $(HOST) --port $(PORT)

data: $(STAMP) ## generate realistic data into the local engine (RECORDS=2000)
	$(LOCAL_DB) $(BIN)/deploystatus generate --records $(RECORDS)

reset: $(STAMP) ## delete and recreate the local table, asking first (YES=1 does not ask)
	$(LOCAL_DB) $(BIN)/deploystatus reset $(if $(YES),--yes)

delete-dev-env: ## stop the engine dev-env started and remove its data dir
	@if [ -f $(DATA_DIR)/local-db.pid ]; then kill $$(cat $(DATA_DIR)/local-db.pid) 2>/dev/null || true; \
		for i in $$(seq 1 50); do kill -0 $$(cat $(DATA_DIR)/local-db.pid) 2>/dev/null || break; sleep 0.2; done; fi
	rm -rf $(DATA_DIR)

compose: ## the API and DynamoDB Local in Docker (needs Docker)
	docker compose up --build

lint: $(STAMP) ## ruff, the import contracts between the wings, terraform fmt if installed
	$(BIN)/ruff check src tests bench soak tools
	$(BIN)/ruff format --check src tests bench soak tools
	$(BIN)/lint-imports --no-cache
	@if command -v terraform >/dev/null 2>&1; then \
		echo "terraform fmt -check -diff -recursive infra/terraform"; \
		terraform fmt -check -diff -recursive infra/terraform; \
	else \
		echo "terraform is not on PATH: skipping terraform fmt -check of infra/terraform"; \
	fi

typecheck: $(STAMP) ## mypy --strict
	$(BIN)/mypy

pytest: $(STAMP) chromium promtool ## the tests alone
	$(BIN)/pytest

test: lint typecheck pytest ## lint, type checks and tests

screenshots: $(STAMP) chromium ## the board's screenshots in docs/, from the browser tests
	DEPLOYSTATUS_SCREENSHOTS=docs $(BIN)/pytest -q -p no:cacheprovider tests/board/test_browser.py \
		-k "every_deployable or component_page"

bench: $(STAMP) ## the benchmark suite (~10 min): regenerates docs/performance.md
	$(BIN)/python -m bench

bench-quick: $(STAMP) ## a short benchmark run (< 2 min), into build/bench-quick/
	$(BIN)/python -m bench --quick

# Reliability: soak (minutes, not part of make test) and the report in docs/reliability.md.
SOAK_SECONDS ?= 180
RELIABILITY_TESTS := tests/reliability/test_faults.py tests/reliability/test_engine_restart.py \
	tests/reliability/test_concurrency.py tests/reliability/test_hostile_input.py \
	tests/reliability/test_hostile_http.py tests/api/test_openapi.py

soak: $(STAMP) ## steady writes and reads against deploystatus dev (SOAK_SECONDS=180): errors, p99, RSS
	$(BIN)/python soak/soak.py --seconds $(SOAK_SECONDS) --json .reliability/soak.json

reliability-report: $(STAMP) ## rerun the reliability tests and render their results into docs/reliability.md
	DEPLOYSTATUS_RELIABILITY_LOG=.reliability/tests.json $(BIN)/pytest -q -p no:cacheprovider $(RELIABILITY_TESTS)
	$(BIN)/python tools/reliability_report.py --tests .reliability/tests.json \
		--soak .reliability/soak.json --doc docs/reliability.md

lock: ## re-resolve requirements.lock from pyproject.toml
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	.lock-venv/bin/python -m pip freeze --exclude-editable --disable-pip-version-check > requirements.lock
	rm -rf .lock-venv

clean: ## remove .venv, node_modules and caches (not .data)
	rm -rf $(VENV) node_modules .mypy_cache .ruff_cache .pytest_cache .hypothesis

# The reference's target names, so muscle memory works.
dev_env: dev-env ## = dev-env
data_generation: data ## = data
run_api_local: run-api ## = run-api
reset_dev_env: reset ## = reset
delete_dev_env: delete-dev-env ## = delete-dev-env
run_all_docker_compose: compose ## = compose
