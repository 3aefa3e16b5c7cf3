# Two commands: `make demo` and `make test`. Both set everything up first (env/setup.sh is idempotent).
VENV ?= .venv
PY := $(VENV)/bin/python
S1 := $(VENV)/bin/s1
# make setup GPU=1: vLLM's GPU build and the CUDA torch it pins, on a Linux CUDA machine (CUDA 13: NVIDIA driver 580
# or newer); make setup GPU=1 CUDA=12: vLLM's CUDA 12.9 build for an older driver (env/setup.sh, docs/gpu.md).
# The venv records its flavour (cpu, gpu or gpu-cu12) in $(VENV)/s1-flavour, and every later target keeps it: after
# `make setup GPU=1`, a plain `make demo` or `make test` keeps the GPU stack (a venv made before that file is known
# by its stamp). Another flavour takes FLAVOUR_CHANGE=1 (`make setup GPU=0 FLAVOUR_CHANGE=1`): env/setup.sh says
# what it replaces and makes the venv anew. Without it, a GPU= that contradicts the venv stops and names that command.
FLAVOUR_CHANGE ?= 0
RECORDED := $(strip $(or $(shell cat $(VENV)/s1-flavour 2>/dev/null),$(if $(wildcard $(VENV)/.installed-gpu),gpu),$(if $(wildcard $(VENV)/.installed),cpu)))
ifdef GPU
FLAVOUR := $(if $(filter 1,$(GPU)),gpu$(if $(filter 12,$(CUDA)),-cu12),cpu)
else
FLAVOUR := $(or $(RECORDED),cpu)
endif
STAMP := $(VENV)/.installed$(if $(filter-out cpu,$(FLAVOUR)),-$(FLAVOUR))
FLAVOUR_REFUSED := $(if $(and $(RECORDED),$(filter-out $(RECORDED),$(FLAVOUR)),$(filter-out 1,$(FLAVOUR_CHANGE))),1,)
REFUSAL := $(VENV) holds the $(RECORDED) stack and GPU=$(GPU)$(if $(CUDA), CUDA=$(CUDA)) asks for $(FLAVOUR): nothing \
  was changed. To replace it (the venv is made anew) run `make setup GPU=$(GPU)$(if $(CUDA), CUDA=$(CUDA)) \
  FLAVOUR_CHANGE=1`; to keep it, leave GPU= out

.PHONY: setup demo test test-fast lint notebooks bench lab marimo clean gpu-resolve

$(STAMP): pyproject.toml env/setup.sh
	VENV="$(VENV)" GPU=$(if $(filter gpu%,$(FLAVOUR)),1,0) CUDA=$(if $(filter %-cu12,$(FLAVOUR)),12) \
	  FLAVOUR_CHANGE=$(FLAVOUR_CHANGE) bash env/setup.sh

ifeq ($(FLAVOUR_REFUSED),1)
setup:
	$(error $(REFUSAL))
else
setup: $(STAMP)
endif

demo: setup
	$(S1) demo

test: setup
	$(PY) -m pytest -q

test-fast: setup
	$(PY) -m pytest -q -m "not slow and not vllm and not browser and not network"

# Whether the GPU install (`.[gpu-all]`) still resolves for a manylinux CUDA machine (pip's resolver, dry run).
gpu-resolve: setup
	$(PY) env/gpu_resolve.py

lint: setup
	$(VENV)/bin/ruff check s1lib tests notebooks
	$(VENV)/bin/ruff format --check s1lib tests notebooks

# The Jupyter notebooks' source is notebooks/0*.py (jupytext percent); this rewrites each paired .ipynb's cells
# from it (ids, metadata and any outputs kept). tests/notebooks/test_notebooks.py fails when the two differ.
notebooks: setup
	$(VENV)/bin/jupytext --update --to ipynb notebooks/0*.py

bench: setup
	$(S1) bench forcing
	$(S1) bench sweep
	$(S1) bench curate
	$(S1) bench domains
	$(S1) bench train

lab: setup
	$(VENV)/bin/jupyter lab --ip=127.0.0.1 --no-browser $$( [ "$$(id -u)" = 0 ] && echo --allow-root ) notebooks

# make marimo MODEL=runs/demo/sft/model: the widget's notebook (03) on that model (a folder, a hub id or "default");
# without MODEL, every marimo notebook to pick from.
marimo: setup
	$(VENV)/bin/marimo edit --host 127.0.0.1 \
	  $(if $(MODEL),notebooks/marimo/03_budget_forcing.py -- --model "$(if $(wildcard $(MODEL)),$(abspath $(MODEL)),$(MODEL))",notebooks/marimo)

clean:
	rm -rf $(VENV) .pytest_cache runs outputs
