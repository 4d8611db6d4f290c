# The two commands a user needs: `make run` (the whole pipeline locally) and `make test`.
# Every target provisions what it needs, idempotently, and says what it is doing.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# Node 22 comes from the `node` devDependency: node_modules/.bin goes first on PATH.
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)
VENV_PYTHON := .local/venv/bin/python
NPM_STAMP := node_modules/.installed

ARGS ?=

.PHONY: help setup browser run test lint typecheck contracts unit integration pytest services-up services-down package cost bench query redrive chaos clean-local

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(NPM_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || { echo "[setup] npm is missing: install Node.js (any version >= 18; Node 22 comes from npm)"; exit 1; }
	@echo "[setup] installing npm dependencies (npm ci, Node 22 included)..."
	@npm ci --no-audit --no-fund --loglevel=error
	@touch $@

setup: $(NPM_STAMP) ## install dependencies and provision Kafka, OpenSearch and the Python venv under .local/
	@echo "[setup] node $$(node --version) from node_modules/.bin"
	@tsx local/services-cli.ts provision --python
	@bash scripts/cfn-lint.sh --install-only
	@bash scripts/security-scan.sh --install-only

run: setup ## run the whole pipeline locally (ARGS="--duration 90s --report r.json --fresh")
	@tsx local/cli.ts run $(ARGS)

test: setup lint typecheck contracts unit integration pytest ## everything CI runs
	@echo "[test] all suites passed"

lint: $(NPM_STAMP) ## biome: lint and format check
	@echo "[test] lint and format (biome)..."
	@biome ci --reporter=summary .

typecheck: $(NPM_STAMP) ## tsc --noEmit, strict
	@echo "[test] typecheck (tsc)..."
	@tsc --noEmit

contracts: $(NPM_STAMP) ## fail if tests/fixtures/contracts/ is stale
	@echo "[test] JSON Schema export of the contracts is up to date..."
	@tsx scripts/export-contracts.ts --check

unit: $(NPM_STAMP) ## unit tests and the packaged-template contract tests
	@echo "[test] unit and contract tests (vitest)..."
	@vitest run --project unit --project contract

browser: $(NPM_STAMP) ## find the system Chromium for the browser test, or install Debian's chromium package
	@tsx local/services/chromium-cli.ts

integration: setup browser ## integration and end-to-end tests on real Kafka and OpenSearch (test profile)
	@echo "[test] integration and e2e tests on real Kafka and OpenSearch (vitest)..."
	@vitest run --project integration

pytest: setup ## PySpark tests on local Spark + Iceberg
	@if [ -d emr/tests ]; then echo "[test] PySpark tests (pytest)..."; $(VENV_PYTHON) -m pytest emr/tests -q; fi

services-up: setup ## start the run profile's Kafka and OpenSearch in the background
	@tsx local/services-cli.ts up --profile run

services-down: $(NPM_STAMP) ## stop the services of both profiles (data is kept)
	@tsx local/services-cli.ts down --profile run
	@tsx local/services-cli.ts down --profile test

# Benchmarks run in this order by bench/run.ts, which starts the test profile's services once,
# stops only what it started, and prints one table (bench/rows.ts). Add a benchmark here.
BENCHES := backfill.ts index-events.ts bundles.ts lake_refresh.py freshness.ts backfill-bars.ts scale.ts

bench: setup ## benchmarks (figures, not tests), one table at the end; services started and stopped as needed (~30 min)
	@FRESHNESS_MINUTES=$${FRESHNESS_MINUTES:-6} SCALE_MINUTES=$${SCALE_MINUTES:-3} tsx bench/run.ts $(BENCHES)

redrive: setup ## replay dead-lettered batches (or ARGS=--quarantine: quarantined records) into their functions, idempotently: local (ARGS="--dry-run --report redrive.json") or AWS (ARGS="--aws --bucket <bucket> --stage dev")
	@tsx local/redrive.ts $(ARGS)

chaos: setup ## the fault matrix on the real local pipeline, chaos profile (ARGS="--list", "--scenario kafka-kill,poison", "--no-lake"); not part of make test
	@tsx local/chaos/cli.ts $(ARGS)

query: setup ## SQL on the local Iceberg tables of make run: make query SQL="select * from crypto_db.trader_view limit 10" [QUICK=1: no Spark, tables only]
	@QUICK=$(QUICK) scripts/query.sh "$(SQL)" $${PROFILE:-run}

package: $(NPM_STAMP) ## serverless package for STAGE (default dev) into .local/package/STAGE, no AWS credentials needed
	@serverless package --stage $${STAGE:-dev} --package .local/package/$${STAGE:-dev}

cost: $(NPM_STAMP) ## monthly cost estimate per resource of STAGE (default dev), from the packaged template
	@tsx scripts/cost.ts --stage $${STAGE:-dev}

# History on demand (state-machines/backfill-bars.asl.yml): locally on the run profile against the
# Alpaca simulator (or ALPACA_DATA_URL), or the deployed state machine with STAGE=. ARGS=--help.
.PHONY: backfill lake-refresh
backfill: setup ## past bars into Kafka, index and lake: make backfill SYMBOLS=BTC/USD,ETH/USD START=2026-11-23T00:00:00Z END=2026-11-30T00:00:00Z [STAGE=dev]
	@tsx local/backfill.ts $(if $(SYMBOLS),--symbols $(SYMBOLS)) $(if $(START),--start $(START)) $(if $(END),--end $(END)) $(if $(STAGE),--stage $(STAGE)) $(ARGS)

lake-refresh: setup ## the lake-refresh state machine over a window: make lake-refresh WINDOW=2026-11-30T00:00:00Z/2026-12-01T00:00:00Z [STAGE=dev]
	@tsx local/lake/refresh-cli.ts $(if $(WINDOW),--window $(WINDOW)) $(if $(STAGE),--stage $(STAGE)) $(ARGS)

# Day-two operations (local/ops/cli.ts); what to do when an alarm fires is in RUNBOOK.md.
# Every one answers ARGS=--help with its options.
.PHONY: status doctor invoke logs deploy

status: $(NPM_STAMP) ## local services of each profile (up/down, pid, endpoint), ports in use, size of the local state
	@tsx local/ops/cli.ts status $(ARGS)

doctor: $(NPM_STAMP) ## check Node, Java, Maven, Python + venv, disk, ports, Chromium, cfn-lint: OK/WARN/FAIL with the fix
	@tsx local/ops/cli.ts doctor $(ARGS)

invoke: $(NPM_STAMP) ## one function once, locally, packaged environment: make invoke FN=pollBars [EVENT=event.json] [ARGS="--profile test"]
	@tsx local/ops/cli.ts invoke $(FN) $(if $(EVENT),--event $(EVENT)) $(ARGS)

logs: $(NPM_STAMP) ## local function logs and EMF metrics, readable: make logs [FN=pollBars] [ARGS=--follow]; STAGE=dev: the aws logs commands
	@tsx local/ops/cli.ts logs $(if $(FN),--fn $(FN)) $(if $(STAGE),--stage $(STAGE)) $(ARGS)

deploy: $(NPM_STAMP) ## deploy to AWS: make deploy STAGE=dev|prod (checks credentials, packages, cfn-lint, then serverless deploy)
	@tsx local/ops/cli.ts deploy $(if $(STAGE),--stage $(STAGE)) $(ARGS)

clean-local: services-down ## delete all local state and downloads (.local/)
	@rm -rf .local
