#!/usr/bin/env bash
# Idempotent set-up of the venv for the EleutherAI delphi comparison (bench/delphi_explain.py).
# Separate from the project's .venv: $HYPODISC_HOME/delphi-venv with
#   torch 2.13.0 (CPU, from the image's local wheel; installed FIRST and pinned by a constraints file so
#     that nothing later swaps in a CUDA torch),
#   eai-delphi 0.1.3 from $DELPHI_WHEEL when that file exists, else from the registry, WITH its declared
#     dependencies. Of note: delphi requires vllm>=0.10.2 (the CUDA build; pinned here to 0.32.0, the newest
#     that accepts torch 2.13.0) because delphi/clients/__init__.py imports its vLLM `Offline` client
#     unconditionally; that pulls ~1.5 GB of CUDA wheels (nvidia-cuda-*, triton, flashinfer, cutlass-dsl)
#     that are never used here. It also pulls sentence-transformers, faiss-cpu, eai-sparsify,
#     bitsandbytes, datasets and transformers 5.19 (imported by delphi.latents).
#   llama-cpp-python[server] 0.3.36 from the wheel cache that scripts/bootstrap.sh builds (never built here).
# vllm pulls CUDA torchvision/torchaudio/torchcodec whose `import torchvision` fails on the CPU torch with
# "RuntimeError: operator torchvision::nms does not exist" (reached from delphi/clients/offline.py:9
# `from vllm import LLM, SamplingParams` -> vllm -> transformers.image_utils); we remove all three.
# Prints the venv's python path on the last line.
set -euo pipefail
: "${HYPODISC_HOME:=$HOME/.cache/hypodisc}"
VENV="${DELPHI_VENV:-$HYPODISC_HOME/delphi-venv}"
TORCH_VERSION=2.13.0
DELPHI_VERSION=0.1.3
VLLM_VERSION=0.32.0
LLAMA_CPP_VERSION=0.3.36
DELPHI_WHEEL="${DELPHI_WHEEL:-/tmp/delphi/eai_delphi-$DELPHI_VERSION-py3-none-any.whl}"
PY=${PYTHON:-python3}
want="torch=$TORCH_VERSION eai-delphi=$DELPHI_VERSION vllm=$VLLM_VERSION llama-cpp-python=$LLAMA_CPP_VERSION"
stamp="$VENV/.delphi-installed"

if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  echo "[delphi_env] $VENV ready" >&2
  echo "$VENV/bin/python"
  exit 0
fi

if ! ls "$HYPODISC_HOME"/wheels/llama_cpp_python-$LLAMA_CPP_VERSION-*.whl >/dev/null 2>&1; then
  echo "[delphi_env] no llama-cpp-python $LLAMA_CPP_VERSION wheel in $HYPODISC_HOME/wheels;" \
       "run scripts/bootstrap.sh first (it builds and caches it)" >&2
  exit 1
fi
if [ -f "$DELPHI_WHEEL" ]; then
  delphi_req="$DELPHI_WHEEL"
else
  echo "[delphi_env] $DELPHI_WHEEL not found; taking eai-delphi==$DELPHI_VERSION from the registry" >&2
  delphi_req="eai-delphi==$DELPHI_VERSION"
fi

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
constraints="$(mktemp)"
trap 'rm -f "$constraints"' EXIT
printf 'torch==%s\nvllm==%s\n' "$TORCH_VERSION" "$VLLM_VERSION" > "$constraints"
PIP=("$VENV/bin/pip" install -q --disable-pip-version-check -c "$constraints")
echo "[delphi_env] installing torch==$TORCH_VERSION (CPU build) first" >&2
"${PIP[@]}" "torch==$TORCH_VERSION"
echo "[delphi_env] installing eai-delphi $DELPHI_VERSION and its dependencies (vllm $VLLM_VERSION, CUDA wheels; a few minutes)" >&2
"${PIP[@]}" "$delphi_req"
echo "[delphi_env] installing llama-cpp-python[server]==$LLAMA_CPP_VERSION from the wheel cache" >&2
"${PIP[@]}" --find-links "$HYPODISC_HOME/wheels" "llama-cpp-python[server]==$LLAMA_CPP_VERSION"
# CUDA builds of these break `import transformers` (and so `import delphi.clients`) on a CPU-only torch.
for p in torchvision torchaudio torchcodec; do
  if "$VENV/bin/pip" show -q "$p" >/dev/null 2>&1; then
    "$VENV/bin/pip" uninstall -y -q "$p"
  fi
done
# checked from /: the repo's top-level datasets/ folder would shadow HF `datasets` from the cwd
(cd / && HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 "$VENV/bin/python" - <<EOF
import torch, llama_cpp, llama_cpp.server  # noqa: F401
import delphi, delphi.clients, delphi.explainers, delphi.latents  # noqa: F401
assert torch.__version__.startswith("$TORCH_VERSION"), torch.__version__
assert delphi.__version__ == "$DELPHI_VERSION", delphi.__version__
EOF
)
echo "$want" > "$stamp"
echo "[delphi_env] $VENV ready" >&2
echo "$VENV/bin/python"
