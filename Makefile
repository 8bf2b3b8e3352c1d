# icpi_ros: `make demo` runs the main job, `make test` the tests. Both set up first.
SHELL := /bin/bash
.DEFAULT_GOAL := help
RUN := source env.sh &&

.PHONY: help setup setup-llm demo test lint format bench lock lock-llm clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

setup:  ## create .venv (ROS 2 Kilted wheels + pinned deps) and colcon-build; idempotent
	@bash scripts/setup.sh

setup-llm: setup  ## the local LLM: .venv-llm (llama-cpp-python server + SmolLM2-135M); idempotent
	@bash scripts/setup_llm.sh

demo: setup  ## the main job: the sim bringup improving a policy
	@$(RUN) icpi demo

test: setup  ## lint, unit tests, node tests on real processes
	@$(RUN) python -m pytest

lint: setup  ## ruff lint + format check
	@$(RUN) ruff check . && ruff format --check .

format: setup  ## apply ruff's fixes and formatting
	@$(RUN) ruff check --fix . && ruff format .

bench: setup  ## measure everything (system figures, methods, ablations); regenerate docs/benchmarks.md
	@$(RUN) python scripts/bench.py --json docs/bench_results.json \
	  && icpi bench --out docs/bench_methods.json --report docs/benchmarks.md

lock:  ## re-resolve requirements.in into requirements.lock (needs the registries)
	@rm -rf .venv-lock && python3.11 -m venv .venv-lock \
	  && .venv-lock/bin/pip install --quiet -r requirements.in \
	  && .venv-lock/bin/python scripts/lock.py requirements.lock && rm -rf .venv-lock

lock-llm:  ## re-resolve requirements-llm.in into requirements-llm.lock (compiles llama.cpp if uncached)
	@rm -rf .venv-lock && python3.11 -m venv .venv-lock \
	  && CMAKE_ARGS=-DGGML_NATIVE=OFF .venv-lock/bin/pip install --quiet -r requirements-llm.in \
	  && { sed -n '/^#/p' requirements-llm.lock; .venv-lock/bin/pip freeze; } > .venv-lock/lock \
	  && mv .venv-lock/lock requirements-llm.lock && rm -rf .venv-lock

clean:  ## remove build products (keeps .venv)
	rm -rf build install log
