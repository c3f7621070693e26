# The README's commands. Every target is safe to run twice.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME := $(CURDIR)
# Load the local stack's generated settings (ports, passwords, DAGSTER_PG_*) into every recipe.
WITH_ENV := set -a; [ -f .stack/stack.env ] && . .stack/stack.env; set +a;

.PHONY: help setup lock audit stack-up stack-down stack-status migrate demo test test-unit bench lint ui clean

help:
	@echo "make demo    set up everything, start the local stack, migrate and load the demo data"
	@echo "make test    set up, start the stack, migrate a fresh test database and run every test"
	@echo "make setup | stack-up | stack-down | stack-status | migrate | bench | lint | ui"
	@echo "make lock    re-pin requirements.lock (with hashes) from pyproject.toml; make audit: scan + audit"

setup:
	@infra/local/setup.sh

# The lock `make setup` installs: every dependency of pyproject.toml (the dev and executors extras, build requirements
# included) pinned with its hashes. Re-run after changing a dependency range, then commit the file.
lock:
	@$(BIN)/pip-compile -q --generate-hashes --allow-unsafe --no-strip-extras --extra dev --extra executors \
	  --build-deps-for editable --no-emit-index-url --no-emit-find-links -o requirements.lock pyproject.toml

# The secret scan and the dependency audit alone (`make test` runs them with everything else).
audit: setup
	@$(BIN)/python -m pytest -q -p no:cacheprovider tests/security/test_supply_chain.py

stack-up: setup
	@$(BIN)/stockula stack up

stack-down:
	@if [ -x $(BIN)/stockula ]; then $(BIN)/stockula stack down; fi

stack-status:
	@$(BIN)/stockula stack status

migrate: stack-up
	@$(BIN)/stockula db migrate

demo: migrate
	@$(WITH_ENV) $(BIN)/stockula demo

test: stack-up
	@$(WITH_ENV) $(BIN)/python -m pytest -q -p no:cacheprovider

test-unit: setup
	@$(BIN)/python -m pytest -q tests/unit

bench: migrate
	@$(WITH_ENV) for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

lint: setup
	@$(BIN)/ruff check stockula_pipelines tests bench

# exec: make forwards SIGTERM to its child, which must be the command that stops dagster dev's processes.
ui: migrate
	@$(WITH_ENV) exec $(BIN)/stockula ui

clean: stack-down
	rm -rf .stack
