# The two README commands: `make demo` (the main job) and `make test`.
# Both install what is missing first (tools/setup_env.sh, idempotent).
SHELL := /bin/bash

.PHONY: setup demo census test

setup:
	@tools/setup_env.sh

demo:
	@py=$$(tools/setup_env.sh | tee /dev/stderr | tail -n 1) && \
	  $$py tools/demo.py

census:
	@py=$$(tools/setup_env.sh | tee /dev/stderr | tail -n 1) && \
	  $$py tools/analysis_tools/get_flops.py --paper

test:
	@py=$$(tools/setup_env.sh | tee /dev/stderr | tail -n 1) && \
	  $$py -m pytest -q tests
