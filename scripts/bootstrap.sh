#!/usr/bin/env bash
# Idempotent set-up of the main environment: .venv with hypodisc, tests and llama-cpp-python.
# The llama-cpp-python wheel builds from source once (5-10 min) and is cached in $HYPODISC_HOME/wheels.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${HYPODISC_HOME:=$HOME/.cache/hypodisc}"
TORCH_VERSION=${HYPODISC_TORCH_VERSION:-2.13.0}
PY=${PYTHON:-python3}
mkdir -p "$HYPODISC_HOME/wheels"

# Portable by default: scripts/llama_wheel.py builds with CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON ..."
# (an explicit AVX2 baseline, AVX-512 and AMX off: a native build dies with SIGILL on sandboxed AMX hosts).
# HYPODISC_LLAMA_NATIVE=1 builds for this CPU. The cache key is version + flags (+ CPU for native).
LLAMA_WHEEL=$("$PY" scripts/llama_wheel.py --cache-dir "$HYPODISC_HOME/wheels" --python "$PY")
LLAMA_KEY=$("$PY" scripts/llama_wheel.py --cache-dir "$HYPODISC_HOME/wheels" --print-key)

stamp=.venv/.hypodisc-installed
want="$(cat pyproject.toml | sha256sum | cut -c1-16)-$LLAMA_KEY"
if [ ! -x .venv/bin/python ] || [ "$(cat $stamp 2>/dev/null)" != "$want" ]; then
  echo "[bootstrap] installing hypodisc into .venv"
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  # torch first and pinned: 2.13.0 is the CPU build on disk; an unpinned torch would pull GBs of CUDA.
  .venv/bin/pip install -q --disable-pip-version-check "torch==$TORCH_VERSION"
  # --force-reinstall of the one wheel: a venv holding a wheel built with other flags must not keep it.
  .venv/bin/pip install -q --disable-pip-version-check --no-deps --force-reinstall "$LLAMA_WHEEL"
  .venv/bin/pip install -q --disable-pip-version-check "$LLAMA_WHEEL" "torch==$TORCH_VERSION" -e ".[test,embed,features,images]"
  # rapidocr depends on the GUI opencv-python; both write site-packages/cv2, so the last install wins.
  # Headless last: the GUI build needs libGL, absent on CI hosts.
  .venv/bin/pip install -q --disable-pip-version-check --no-deps --force-reinstall "$(.venv/bin/python - <<'PY'
from importlib.metadata import version
print(f"opencv-python-headless=={version('opencv-python-headless')}")
PY
)"
  echo "$want" > $stamp
fi
echo "[bootstrap] .venv ready"
