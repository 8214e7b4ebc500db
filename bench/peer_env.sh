#!/usr/bin/env bash
# Idempotent set-up of the venv for the HypotheSAEs peer comparison (bench/peer_hypothesaes.py).
# Separate from the project's .venv: $HYPODISC_HOME/peer-venv with
#   torch 2.13.0 (installed FIRST, so that nothing later pulls a newer torch with GBs of CUDA),
#   hypothesaes 2.0.1, and llama-cpp-python[server] 0.3.36 from the wheel cache that
#   scripts/bootstrap.sh builds (run that first if the wheel is missing; we never build here).
# Prints the venv's python path on the last line.
set -euo pipefail
: "${HYPODISC_HOME:=$HOME/.cache/hypodisc}"
VENV="${PEER_VENV:-$HYPODISC_HOME/peer-venv}"
TORCH_VERSION=2.13.0
HYPOTHESAES_VERSION=2.0.1
LLAMA_CPP_VERSION=0.3.36
PY=${PYTHON:-python3}
want="torch=$TORCH_VERSION hypothesaes=$HYPOTHESAES_VERSION llama-cpp-python=$LLAMA_CPP_VERSION"
stamp="$VENV/.peer-installed"

if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  echo "[peer_env] $VENV ready" >&2
  echo "$VENV/bin/python"
  exit 0
fi

# the portable wheel scripts/bootstrap.sh built (scripts/llama_wheel.py keys the cache by version and flags)
WHEEL_DIR=$(dirname "$(ls "$HYPODISC_HOME"/wheels/llama_cpp_python-$LLAMA_CPP_VERSION-*/llama_cpp_python-*.whl 2>/dev/null | head -1)")
if [ "$WHEEL_DIR" = "." ]; then
  echo "[peer_env] no llama-cpp-python $LLAMA_CPP_VERSION wheel under $HYPODISC_HOME/wheels;" \
       "run scripts/bootstrap.sh first (it builds and caches it)" >&2
  exit 1
fi

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP=("$VENV/bin/pip" install -q --disable-pip-version-check)
echo "[peer_env] installing torch==$TORCH_VERSION (CPU build) first" >&2
"${PIP[@]}" "torch==$TORCH_VERSION"
echo "[peer_env] installing hypothesaes==$HYPOTHESAES_VERSION" >&2
"${PIP[@]}" "torch==$TORCH_VERSION" "hypothesaes==$HYPOTHESAES_VERSION"
echo "[peer_env] installing llama-cpp-python[server]==$LLAMA_CPP_VERSION from the wheel cache" >&2
"${PIP[@]}" --find-links "$WHEEL_DIR" "torch==$TORCH_VERSION" \
  "llama-cpp-python[server]==$LLAMA_CPP_VERSION"
# CUDA builds of these break `import transformers` on a CPU-only torch; none is needed.
for p in torchvision torchaudio torchcodec; do
  if "$VENV/bin/pip" show -q "$p" >/dev/null 2>&1; then
    "$VENV/bin/pip" uninstall -y -q "$p"
  fi
done
# checked from /: the repo's top-level datasets/ folder would shadow HF `datasets` from the cwd
(cd / && "$VENV/bin/python" - <<EOF
import torch, hypothesaes, llama_cpp, llama_cpp.server  # noqa: F401
assert torch.__version__.startswith("$TORCH_VERSION"), torch.__version__
EOF
)
echo "$want" > "$stamp"
echo "[peer_env] $VENV ready" >&2
echo "$VENV/bin/python"
