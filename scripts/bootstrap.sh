#!/usr/bin/env bash
# Idempotent set-up of the main environment: .venv with hypodisc, tests and llama-cpp-python.
# The llama-cpp-python wheel builds from source once (5-10 min) and is cached in $HYPODISC_HOME/wheels.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${HYPODISC_HOME:=$HOME/.cache/hypodisc}"
LLAMA_CPP_VERSION=0.3.36
TORCH_VERSION=${HYPODISC_TORCH_VERSION:-2.13.0}
PY=${PYTHON:-python3}
mkdir -p "$HYPODISC_HOME/wheels"

if ! ls "$HYPODISC_HOME"/wheels/llama_cpp_python-$LLAMA_CPP_VERSION-*.whl >/dev/null 2>&1; then
  echo "[bootstrap] building llama-cpp-python $LLAMA_CPP_VERSION from source (once; cached in $HYPODISC_HOME/wheels)"
  "$PY" -m pip wheel --no-deps "llama-cpp-python==$LLAMA_CPP_VERSION" -w "$HYPODISC_HOME/wheels.partial"
  mv "$HYPODISC_HOME"/wheels.partial/llama_cpp_python-*.whl "$HYPODISC_HOME/wheels/"
  rm -rf "$HYPODISC_HOME/wheels.partial"
fi

stamp=.venv/.hypodisc-installed
want="$(cat pyproject.toml | sha256sum | cut -c1-16)-$LLAMA_CPP_VERSION"
if [ ! -x .venv/bin/python ] || [ "$(cat $stamp 2>/dev/null)" != "$want" ]; then
  echo "[bootstrap] installing hypodisc into .venv"
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  # torch first and pinned: 2.13.0 is the CPU build on disk; an unpinned torch would pull GBs of CUDA.
  .venv/bin/pip install -q --disable-pip-version-check "torch==$TORCH_VERSION"
  .venv/bin/pip install -q --disable-pip-version-check --find-links "$HYPODISC_HOME/wheels" \
    "llama-cpp-python==$LLAMA_CPP_VERSION" "torch==$TORCH_VERSION" -e ".[test,embed,features]"
  echo "$want" > $stamp
fi
echo "[bootstrap] .venv ready"
