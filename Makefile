# The two README commands: `make demo` (the main job) and `make test`.
# Both install what is missing first (tools/setup_env.sh, idempotent).
SHELL := /bin/bash

.PHONY: setup demo census lint test

setup:
	@tools/setup_env.sh

demo:
	@py=$$(tools/setup_env.sh | tee /dev/stderr | tail -n 1) && \
	  $$py tools/demo.py

census:
	@py=$$(tools/setup_env.sh | tee /dev/stderr | tail -n 1) && \
	  $$py tools/analysis_tools/get_flops.py --paper

# lint: ruff (flake8's checks, isort's order) and ruff's formatter, as in
# .pre-commit-config.yaml; `make test` fails on a lint error first
lint:
	@py=$$(tools/setup_env.sh | tee /dev/stderr | tail -n 1) && \
	  $$py -m ruff check . && $$py -m ruff format --check .

test:
	@py=$$(tools/setup_env.sh | tee /dev/stderr | tail -n 1) && \
	  tools/setup_min_torch.sh >/dev/null && \
	  $$py -m ruff check . && $$py -m ruff format --check . && \
	  $$py -m pytest -q --durations=20 tests
