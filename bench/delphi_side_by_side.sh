#!/usr/bin/env bash
# Run EleutherAI delphi's explainer on our features against a local llama.cpp OpenAI-compatible server.
#
#   bash bench/delphi_side_by_side.sh --features feats.jsonl --out bench/results/delphi_explanations.json \
#       [--pool pools.json] [--model qwen2.5-coder-1.5b] [--n-ctx 4096] [--threads N] [--gguf PATH] \
#       [any other bench/delphi_explain.py option, e.g. --limit 5 --max-tokens 256]
#
# 1. bench/delphi_env.sh (idempotent) gives the delphi venv's python;
# 2. `python -m llama_cpp.server` with $HYPODISC_HOME/models/<model>/*.gguf (alias = <model>) on a free
#    127.0.0.1 port, OMP_WAIT_POLICY=PASSIVE, HF offline, log next to --out (<out>.server.log);
# 3. waits for GET /v1/models (300 s at most; fails with the server log's tail if it dies);
# 4. bench/delphi_explain.py --base-url http://127.0.0.1:PORT/v1 --model <model> ...;
# 5. stops the server (also on error or Ctrl-C). Exits with delphi_explain.py's status.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${HYPODISC_HOME:=$HOME/.cache/hypodisc}"
MODEL=qwen2.5-coder-1.5b
N_CTX=4096
THREADS=$(nproc)
GGUF=
OUT=
PASS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --model) MODEL=$2; shift 2 ;;
    --n-ctx) N_CTX=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --gguf) GGUF=$2; shift 2 ;;
    --out) OUT=$2; PASS+=("$1" "$2"); shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) PASS+=("$1"); shift ;;
  esac
done
[ -n "$OUT" ] || { echo "[delphi_sbs] --out is required" >&2; exit 2; }
if [ -z "$GGUF" ]; then
  GGUF=$(ls "$HYPODISC_HOME/models/$MODEL"/*.gguf 2>/dev/null | head -1 || true)
  [ -n "$GGUF" ] || { echo "[delphi_sbs] no .gguf under $HYPODISC_HOME/models/$MODEL:" \
                           "install it with \`hypodisc models install $MODEL\`" >&2; exit 2; }
fi

PY=$(bash bench/delphi_env.sh | tail -1)
PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$(dirname "$OUT")"
LOG="$OUT.server.log"
BASE="http://127.0.0.1:$PORT/v1"

echo "[delphi_sbs] llama_cpp.server $(basename "$GGUF") on $BASE (n_ctx $N_CTX, $THREADS threads); log $LOG" >&2
# cwd = /tmp so that the repo's datasets/ does not shadow HF `datasets` in the server either
(cd /tmp && exec env OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS="$THREADS" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
   "$PY" -m llama_cpp.server --model "$GGUF" --model_alias "$MODEL" --host 127.0.0.1 --port "$PORT" \
   --n_ctx "$N_CTX" --n_threads "$THREADS" --n_threads_batch "$THREADS" --verbose False) >"$LOG" 2>&1 &
SERVER=$!
stop_server() {
  if kill -0 "$SERVER" 2>/dev/null; then
    kill "$SERVER" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$SERVER" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$SERVER" 2>/dev/null || true
  fi
  wait "$SERVER" 2>/dev/null || true
}
trap stop_server EXIT INT TERM

t0=$(date +%s)
until "$PY" -c "import urllib.request,sys; urllib.request.urlopen('$BASE/models', timeout=2)" 2>/dev/null; do
  if ! kill -0 "$SERVER" 2>/dev/null; then
    echo "[delphi_sbs] llama_cpp.server exited before answering; last lines of $LOG:" >&2
    tail -n 30 "$LOG" >&2
    exit 2
  fi
  if [ $(( $(date +%s) - t0 )) -ge 300 ]; then
    echo "[delphi_sbs] llama_cpp.server did not answer on $BASE within 300 s; see $LOG" >&2
    exit 2
  fi
  sleep 0.5
done
echo "[delphi_sbs] server up after $(( $(date +%s) - t0 )) s" >&2

rc=0
"$PY" bench/delphi_explain.py --base-url "$BASE" --model "$MODEL" "${PASS[@]}" || rc=$?
exit $rc
