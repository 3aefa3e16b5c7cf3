# Two commands: `make demo` and `make test`. Both set everything up first (env/setup.sh is idempotent).
VENV ?= .venv
PY := $(VENV)/bin/python
S1 := $(VENV)/bin/s1
# make setup GPU=1: vLLM's GPU build and the CUDA torch it pins, on a Linux CUDA machine (env/setup.sh)
GPU ?= 0
STAMP := $(VENV)/.installed$(if $(filter 1,$(GPU)),-gpu,)

.PHONY: setup demo test test-fast lint notebooks bench lab marimo clean gpu-resolve

$(STAMP): pyproject.toml env/setup.sh
	GPU=$(GPU) bash env/setup.sh

setup: $(STAMP)

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

marimo: setup
	$(VENV)/bin/marimo edit --host 127.0.0.1 notebooks/marimo

clean:
	rm -rf $(VENV) .pytest_cache runs outputs
