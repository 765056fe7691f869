# The two commands of the README. Each runs scripts/setup.sh first (idempotent: seconds once done).
PY := .venv/bin/python
SELFLEARN := .venv/bin/selflearn
WORKSPACE ?= workspace
CYCLES ?= 1

.PHONY: setup demo test test-fast bench

setup:
	bash scripts/setup.sh

# The main job on the embedded default model (SmolLM2-135M-Instruct), offline.
demo: setup
	bash scripts/demo.sh

# The whole test suite (unit, integration on tiny random models, a few end-to-end runs on the default model).
test: setup
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q

# Seconds: unit and integration tests only.
test-fast: setup
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -m "not e2e"

bench: setup
	HF_HUB_OFFLINE=1 $(PY) benchmarks/pipeline.py
