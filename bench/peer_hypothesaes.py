"""Peer comparison: HypotheSAEs (PyPI `hypothesaes` 2.0.1) on the gold corpus pairs, fully offline.

    bash bench/peer_env.sh                      # once: $HYPODISC_HOME/peer-venv (torch CPU, hypothesaes, llama.cpp server)
    python bench/peer_hypothesaes.py --model qwen2.5-coder-1.5b --pairs agnews/0,agnews/1 \
        --n-per-side 100 --out bench/results/peer_hypothesaes.json

The script re-executes itself under the peer venv's python when started from another one.

What runs, per pair (texts = a + b, labels 1 for a and 0 for b, stratified train/held-out split):
  1. embeddings: `hypothesaes.get_local_embeddings` with the local sentence-transformers
     all-MiniLM-L6-v2 copy ($HYPODISC_HOME/models/minilm/model), HF_HUB_OFFLINE=1;
  2. `hypothesaes.train_sae` (small top-K SAE, CPU);
  3. `hypothesaes.generate_hypotheses`: select the neurons most predictive of the label, interpret each
     with the local LLM, and score each interpretation's fidelity with LLM annotations;
  4. `hypothesaes.evaluate_hypotheses` on the held-out texts: LLM annotation of every (hypothesis, text),
     then HypotheSAEs' own statistics (separation score and t-test p-value, logistic-regression
     coefficients and p-values, AUROC/AUPRC of the regression, Bonferroni count).

How it is offline, and what had to be worked around (nothing in site-packages is edited):
  * The LLM is llama-cpp-python's OpenAI-compatible server (`python -m llama_cpp.server`) on a free
    127.0.0.1 port. hypothesaes 2.0.1 talks to LLMs only through `client.responses.create` (the OpenAI
    *Responses* API, hypothesaes/llm_api.py `get_completion`) and honours OPENAI_BASE_URL, but
    llama_cpp.server 0.3.36 serves /v1/chat/completions and /v1/completions, not /v1/responses
    (404). So this script runs a tiny in-process translation shim on another loopback port: POST
    /v1/responses -> /v1/chat/completions, answer re-shaped as a Responses object. OPENAI_BASE_URL
    points at the shim; hypothesaes' code is not patched. The shim also counts calls and tokens
    (from the server's `usage`). The direct call is probed once and its error is recorded.
  * `reasoning` / `text.verbosity` request fields (OpenAI-only) are dropped by the shim; hypothesaes
    sets none of them unless asked. Model names do not matter to llama_cpp.server (one model, with
    --model_alias = our model name).
  * OPENAI_KEY_SAE is removed from the environment (hypothesaes then uses its own local placeholder).
  * A socket guard refuses any connection that is not to loopback; every refused attempt is recorded.
  * Caches: `cache_name=None`, `checkpoint_dir=None`, so hypothesaes writes nothing to its install dir.
  * The repo root is not on sys.path (its top-level `datasets/` folder would shadow HF `datasets`).

Known fragility of hypothesaes with weak models, kept visible rather than hidden: an annotation whose
reply starts with neither "yes" nor "no" (after 3 tries) is left out by hypothesaes, and its own
scoring then fails with KeyError. With --unparsed-as-no (default on) such replies count as "no",
which is what its annotation prompt asks for when uncertain ("When uncertain, output No"); the
number of such replies is reported per pair. --no-unparsed-as-no runs hypothesaes untouched.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent
# bench/ holds modules whose names libraries probe for (flash_attn.py, backends.py): transformers would import
# ours instead of finding nothing. gold_pairs is imported from here later, with bench/ appended, not first.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
HOME = Path(os.environ.get("HYPODISC_HOME", Path.home() / ".cache" / "hypodisc"))
PEER_PY = Path(os.environ.get("PEER_VENV", HOME / "peer-venv")) / "bin" / "python"
MODELS = HOME / "models"
LLMS = ("smollm2-135m", "qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b")
EMBEDDER = MODELS / "minilm" / "model"

OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
               "TOKENIZERS_PARALLELISM": "false", "NO_PROXY": "127.0.0.1,localhost",
               "no_proxy": "127.0.0.1,localhost"}


def reexec_in_peer_venv() -> None:
    try:
        import hypothesaes  # noqa: F401
        return
    except ImportError:
        pass
    if PEER_PY.exists() and Path(sys.prefix).resolve() != PEER_PY.parent.parent.resolve():
        os.execv(str(PEER_PY), [str(PEER_PY), str(Path(__file__).resolve()), *sys.argv[1:]])
    sys.exit(f"hypothesaes is not importable and {PEER_PY} is missing: run bash bench/peer_env.sh first")


# --------------------------------------------------------------------------- offline guard
BLOCKED: list[str] = []


def install_socket_guard() -> None:
    """Refuse (and record) every connection that is not to loopback or a unix socket."""
    real_connect = socket.socket.connect

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            host = str(address[0])
            if not (host.startswith("127.") or host in ("::1", "localhost")):
                BLOCKED.append(f"{host}:{address[1]}")
                raise ConnectionRefusedError(f"peer_hypothesaes offline guard: refused {host}:{address[1]}")
        return real_connect(self, address)

    socket.socket.connect = connect


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- llama.cpp server
class LlamaServer:
    def __init__(self, gguf: Path, alias: str, n_ctx: int, threads: int, log: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", alias,
                    "--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", str(n_ctx),
                    "--n_threads", str(threads), "--n_threads_batch", str(threads), "--verbose", "False"]
        self.log = log
        self.proc = None

    def __enter__(self):
        self._fh = open(self.log, "w")
        # cwd = a temp dir so that nothing in the repo shadows an installed package
        self.proc = subprocess.Popen(self.cmd, stdout=self._fh, stderr=subprocess.STDOUT,
                                     cwd=tempfile.gettempdir(), env={**os.environ, **OFFLINE_ENV})
        t0 = time.time()
        while time.time() - t0 < 300:
            if self.proc.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited with {self.proc.returncode}; log {self.log}:\n"
                                   + self.log.read_text()[-3000:])
            try:
                with urllib.request.urlopen(self.url + "/v1/models", timeout=2) as r:
                    if r.status == 200:
                        self.startup_s = time.time() - t0
                        return self
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.5)
        raise RuntimeError(f"llama_cpp.server did not answer on {self.url} within 300 s; log {self.log}")

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._fh.close()


# --------------------------------------------------------------------------- Responses-API shim
class Counter:
    # replies_*: the first word of each reply, which is what hypothesaes parses an annotation from
    FIELDS = ("calls", "prompt_tokens", "completion_tokens", "errors", "server_s",
              "replies_yes", "replies_no", "replies_other")

    def __init__(self):
        self.lock = threading.Lock()
        self.c = dict.fromkeys(self.FIELDS, 0)
        self.c["server_s"] = 0.0
        self.dropped: dict[str, int] = {}

    def add(self, **kw):
        with self.lock:
            for k, v in kw.items():
                self.c[k] += v

    def snap(self) -> dict:
        with self.lock:
            return dict(self.c)

    @staticmethod
    def diff(after: dict, before: dict) -> dict:
        d = {k: after[k] - before[k] for k in after}
        d["server_s"] = round(d["server_s"], 2)
        d["total_tokens"] = d["prompt_tokens"] + d["completion_tokens"]
        return d


def _flatten_content(content) -> str:
    if isinstance(content, str):
        return content
    parts = []
    for p in content or []:
        if isinstance(p, dict):
            parts.append(p.get("text") or "")
        else:
            parts.append(str(p))
    return "".join(parts)


def responses_to_chat(body: dict, default_max_tokens: int, counter: Counter) -> dict:
    messages = []
    if body.get("instructions"):
        messages.append({"role": "system", "content": body["instructions"]})
    inp = body.get("input")
    if isinstance(inp, str):
        messages.append({"role": "user", "content": inp})
    else:
        for m in inp or []:
            role = m.get("role", "user")
            messages.append({"role": "system" if role == "developer" else role,
                             "content": _flatten_content(m.get("content"))})
    chat = {"model": body.get("model"), "messages": messages,
            "max_tokens": body.get("max_output_tokens") or default_max_tokens}
    for k in ("temperature", "top_p", "seed", "stop"):
        if body.get(k) is not None:
            chat[k] = body[k]
    for k in body:
        if k not in ("model", "input", "instructions", "max_output_tokens", "temperature", "top_p", "seed", "stop"):
            with counter.lock:
                counter.dropped[k] = counter.dropped.get(k, 0) + 1
    return chat


def first_word(chat: dict) -> str:
    """'yes', 'no' or 'other': how hypothesaes' parser reads this reply (it lower-cases and checks the start)."""
    text = (((chat.get("choices") or [{}])[0].get("message") or {}).get("content") or "").strip().lower()
    return "yes" if text.startswith("yes") else "no" if text.startswith("no") else "other"


def chat_to_response(chat: dict, model: str) -> dict:
    choice = (chat.get("choices") or [{}])[0]
    text = (choice.get("message") or {}).get("content") or ""
    usage = chat.get("usage") or {}
    pt, ct = usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
    finish = choice.get("finish_reason")
    return {
        "id": "resp_" + str(chat.get("id", "local")), "object": "response",
        "created_at": chat.get("created", int(time.time())), "model": model,
        "status": "incomplete" if finish == "length" else "completed",
        "incomplete_details": {"reason": "max_output_tokens"} if finish == "length" else None,
        "error": None, "instructions": None, "metadata": {}, "parallel_tool_calls": False,
        "tool_choice": "auto", "tools": [], "temperature": None, "top_p": None,
        "output": [{"type": "message", "id": "msg_" + str(chat.get("id", "local")), "status": "completed",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": text, "annotations": []}]}],
        "usage": {"input_tokens": pt, "output_tokens": ct, "total_tokens": pt + ct,
                  "input_tokens_details": {"cached_tokens": 0},
                  "output_tokens_details": {"reasoning_tokens": 0}},
    }


def start_shim(upstream: str, counter: Counter, default_max_tokens: int):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):  # quiet
            pass

        def _send(self, code: int, payload: bytes, ctype="application/json"):
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _forward(self, method: str, path: str, data: bytes | None):
            req = urllib.request.Request(upstream + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=900) as r:
                    return r.status, r.read()
            except urllib.error.HTTPError as e:
                return e.code, e.read()

        def do_GET(self):
            code, payload = self._forward("GET", self.path, None)
            self._send(code, payload)

        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            path = self.path.split("?")[0].rstrip("/")
            t0 = time.time()
            if path.endswith("/v1/responses"):
                body = json.loads(raw or b"{}")
                if body.get("stream"):
                    self._send(400, json.dumps({"error": {"message": "stream not supported by shim"}}).encode())
                    return
                chat = responses_to_chat(body, default_max_tokens, counter)
                code, payload = self._forward("POST", "/v1/chat/completions", json.dumps(chat).encode())
                if code == 200:
                    out = json.loads(payload)
                    u = out.get("usage") or {}
                    counter.add(calls=1, prompt_tokens=u.get("prompt_tokens", 0),
                                completion_tokens=u.get("completion_tokens", 0), server_s=time.time() - t0,
                                **{f"replies_{first_word(out)}": 1})
                    payload = json.dumps(chat_to_response(out, body.get("model") or "")).encode()
                else:
                    counter.add(calls=1, errors=1, server_s=time.time() - t0)
                self._send(code, payload)
                return
            code, payload = self._forward("POST", self.path, raw)
            try:
                u = json.loads(payload).get("usage") or {}
            except Exception:
                u = {}
            counter.add(calls=1, errors=int(code != 200), prompt_tokens=u.get("prompt_tokens", 0),
                        completion_tokens=u.get("completion_tokens", 0), server_s=time.time() - t0)
            self._send(code, payload)

    srv = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.server_address[1]}"


# --------------------------------------------------------------------------- helpers
def err_record(stage: str, e: BaseException) -> dict:
    tb = traceback.extract_tb(e.__traceback__)
    frame = next((f for f in reversed(tb) if "hypothesaes" in f.filename), tb[-1] if tb else None)
    return {"stage": stage, "error": f"{type(e).__name__}: {e}"[:2000],
            "where": f"{frame.filename}:{frame.lineno} ({frame.line})" if frame else None,
            "traceback": "".join(traceback.format_exception(e))[-4000:]}


def to_py(x):
    """numpy/pandas scalars -> JSON-able python."""
    import numpy as np
    if isinstance(x, dict):
        return {str(k): to_py(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [to_py(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and (x != x or x in (float("inf"), float("-inf"))):
        return None
    return x


def split(n_a: int, n_b: int, holdout_frac: float, seed: int):
    """Stratified split of indices of texts = a + b."""
    rng = random.Random(seed)
    ia, ib = list(range(n_a)), list(range(n_a, n_a + n_b))
    rng.shuffle(ia)
    rng.shuffle(ib)
    ha, hb = round(n_a * holdout_frac), round(n_b * holdout_frac)
    held = sorted(ia[:ha] + ib[:hb])
    train = sorted(ia[ha:] + ib[hb:])
    return train, held


def find_gguf(model: str) -> Path:
    files = sorted(glob.glob(str(MODELS / model / "*.gguf")))
    if not files:
        sys.exit(f"no .gguf under {MODELS / model}: install it with `hypodisc models install {model}`")
    return Path(files[0])


# --------------------------------------------------------------------------- one pair
def run_pair(pair, args, alias: str, counter: Counter, unparsed: dict) -> dict:
    import numpy as np
    import torch
    import hypothesaes as H

    rec = {"pair": pair.name, "predicate": pair.predicate, "n_a": len(pair.a), "n_b": len(pair.b),
           "errors": [], "stages": {}}
    t_pair = time.time()
    c0 = counter.snap()
    texts = list(pair.a) + list(pair.b)
    labels = np.array([1] * len(pair.a) + [0] * len(pair.b))
    tr, ho = split(len(pair.a), len(pair.b), args.holdout_frac, args.seed)
    if not ho:
        ho = tr  # --holdout-frac 0: evaluate on the training texts (flagged in the record)
    rec["n_train"], rec["n_heldout"], rec["heldout_is_train"] = len(tr), len(ho), ho is tr

    def stage(name):
        class S:
            def __enter__(s):
                s.t, s.c = time.time(), counter.snap()

            def __exit__(s, et, e, tb):
                rec["stages"][name] = {"wall_s": round(time.time() - s.t, 2),
                                       "llm": Counter.diff(counter.snap(), s.c)}
                if e is not None and isinstance(e, Exception):
                    rec["errors"].append(err_record(name, e))
                    return True
        return S()

    emb = sae = hyp_df = None
    with stage("embed"):
        t2e = H.get_local_embeddings(texts, model=str(args.embedder), batch_size=32, show_progress=False,
                                     device=torch.device("cpu"))
        emb = np.stack([np.asarray(t2e[t], dtype=np.float32) for t in texts])
        rec["embedding_dim"] = int(emb.shape[1])
    if emb is not None:
        with stage("train_sae"):
            torch.manual_seed(args.seed)
            np.random.seed(args.seed)
            sae = H.train_sae(emb[tr], M=args.sae_m, K=args.sae_k, checkpoint_dir=None,
                              batch_size=args.sae_batch, n_epochs=args.sae_epochs, show_progress=False)
    if sae is not None:
        with stage("generate_hypotheses"):
            np.random.seed(args.seed)
            before = unparsed["n"]
            hyp_df = H.generate_hypotheses(
                [texts[i] for i in tr], labels[tr], emb[tr], sae, cache_name=None, classification=True,
                selection_method=args.selection, n_selected_neurons=min(args.n_hypotheses, args.sae_m),
                interpreter_model=alias, annotator_model=alias,
                n_examples_for_interpretation=args.n_examples_interp, max_words_per_example=args.max_words,
                interpret_temperature=args.interp_temperature, max_interpretation_tokens=args.interp_max_tokens,
                annotation_llm_kwargs={"max_output_tokens": args.annot_max_tokens, "temperature": 0.0},
                n_scoring_examples=args.n_scoring_examples, scoring_metric="f1",
                n_workers_interpretation=args.workers, n_workers_annotation=args.workers)
            rec["unparsed_annotations_generate"] = unparsed["n"] - before
            sel = f"target_{args.selection}"
            rec["generated"] = [to_py({"rank": r + 1, "neuron_idx": row["neuron_idx"],
                                       "hypothesis": row["interpretation"],
                                       "selection_score": row.get(sel),
                                       "fidelity_f1": row.get("f1_fidelity_score")})
                                for r, (_, row) in enumerate(hyp_df.iterrows())]
    if hyp_df is not None and args.evaluate:
        with stage("evaluate_hypotheses"):
            ok = hyp_df[hyp_df["interpretation"].notna() & (hyp_df["interpretation"].astype(str).str.len() > 0)]
            ok = ok.drop_duplicates("interpretation")
            rec["n_evaluated_hypotheses"] = int(len(ok))
            if len(ok) == 0:
                raise RuntimeError("no usable interpretation to evaluate (all None/empty)")
            before = unparsed["n"]
            metrics, eval_df = H.evaluate_hypotheses(
                ok, [texts[i] for i in ho], labels[ho], cache_name=None, annotator_model=alias,
                max_words_per_example=args.max_words, classification=True, n_workers_annotation=args.workers,
                annotation_llm_kwargs={"max_output_tokens": args.annot_max_tokens, "temperature": 0.0})
            rec["unparsed_annotations_evaluate"] = unparsed["n"] - before
            rec["eval_metrics"] = to_py(dict(metrics))
            rec["evaluated"] = [to_py({"rank": r + 1, **{k: row[k] for k in eval_df.columns}})
                                for r, (_, row) in enumerate(eval_df.iterrows())]
    # the ranking HypotheSAEs itself ends with: evaluation table (sorted by separation score), else selection order
    if rec.get("evaluated"):
        rec["ranked_hypotheses"] = [r["hypothesis"] for r in rec["evaluated"]]
        rec["ranked_by"] = "evaluate_hypotheses separation_score on held-out texts (desc; >0 = more in A)"
    elif rec.get("generated"):
        rec["ranked_hypotheses"] = [r["hypothesis"] for r in rec["generated"]]
        rec["ranked_by"] = f"generate_hypotheses neuron selection (|{args.selection}| desc)"
    else:
        rec["ranked_hypotheses"] = []
        rec["ranked_by"] = None
    rec["llm"] = Counter.diff(counter.snap(), c0)
    rec["wall_s"] = round(time.time() - t_pair, 2)
    return rec


# --------------------------------------------------------------------------- main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=LLMS, default="qwen2.5-coder-1.5b")
    ap.add_argument("--pairs", default="agnews/0,agnews/1", help="comma-separated gold pair names")
    ap.add_argument("--n-per-side", type=int, default=100)
    ap.add_argument("--max-chars", type=int, default=400,
                    help="texts clipped as bench/diff_gold.py clips them, so both tools see the same texts")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(HERE / "results" / "peer_hypothesaes.json"))
    ap.add_argument("--threads", type=int, default=2, help="llama.cpp and torch threads")
    ap.add_argument("--n-ctx", type=int, default=4096)
    ap.add_argument("--embedder", default=str(EMBEDDER))
    ap.add_argument("--holdout-frac", type=float, default=0.3, help="held-out share for evaluate_hypotheses")
    ap.add_argument("--sae-m", type=int, default=32, help="SAE neurons (HypotheSAEs suggests M=64,K=4 for ~1k texts)")
    ap.add_argument("--sae-k", type=int, default=4)
    ap.add_argument("--sae-batch", type=int, default=32)
    ap.add_argument("--sae-epochs", type=int, default=100)
    ap.add_argument("--selection", default="correlation", choices=("correlation", "separation_score", "lasso"),
                    help="neuron selection (HypotheSAEs' README default: correlation)")
    ap.add_argument("--n-hypotheses", type=int, default=8, help="neurons selected and interpreted per pair")
    ap.add_argument("--n-examples-interp", type=int, default=20, help="examples in each interpretation prompt")
    ap.add_argument("--n-scoring-examples", type=int, default=20,
                    help="fidelity-scoring annotations per hypothesis (0 skips fidelity scoring)")
    ap.add_argument("--max-words", type=int, default=128, help="words per example in prompts")
    ap.add_argument("--interp-temperature", type=float, default=0.7)
    ap.add_argument("--interp-max-tokens", type=int, default=64)
    ap.add_argument("--annot-max-tokens", type=int, default=16)
    ap.add_argument("--default-max-tokens", type=int, default=256, help="shim cap when a request sets none")
    ap.add_argument("--workers", type=int, default=1, help="hypothesaes request threads (server is serial)")
    ap.add_argument("--no-evaluate", dest="evaluate", action="store_false")
    ap.add_argument("--unparsed-as-no", action=argparse.BooleanOptionalAction, default=True)
    args = ap.parse_args(argv)

    os.environ.update(OFFLINE_ENV)
    os.environ.pop("OPENAI_KEY_SAE", None)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    install_socket_guard()
    t_all = time.time()

    import hypothesaes
    import hypothesaes.annotate as A
    import hypothesaes.llm_api as L
    import torch
    torch.set_num_threads(args.threads)
    from importlib.metadata import version

    sys.path.append(str(HERE))
    from gold_pairs import gold_pairs

    wanted = [p.strip() for p in args.pairs.split(",") if p.strip()]
    datasets = sorted({w.split("/")[0] for w in wanted})
    pairs = {p.name: p for p in gold_pairs(n_per_side=args.n_per_side, seed=0, datasets=datasets,
                                              max_chars=args.max_chars or None)}
    missing = [w for w in wanted if w not in pairs]
    if missing:
        sys.exit(f"unknown pairs {missing}")

    unparsed = {"n": 0}
    if args.unparsed_as_no:
        orig = A.annotate_single_text

        def annotate_single_text(*a, **kw):
            ann, t = orig(*a, **kw)
            if ann is None:
                unparsed["n"] += 1
                ann = 0
            return ann, t

        A.annotate_single_text = annotate_single_text  # module global used by A._parallel_annotate

    gguf = find_gguf(args.model)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    counter = Counter()
    result = {
        "peer": "hypothesaes", "versions": {p: version(p) for p in
                                            ("hypothesaes", "llama_cpp_python", "openai", "torch",
                                             "sentence-transformers")},
        "model": args.model, "gguf": str(gguf), "embedder": args.embedder,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores", "python": platform.python_version(),
        "config": {k: v for k, v in vars(args).items() if k not in ("out",)},
        "offline": {"env": OFFLINE_ENV, "openai_base_url": None, "direct_responses_probe": None,
                    "shim": "in-process /v1/responses -> llama_cpp.server /v1/chat/completions translator",
                    "unparsed_as_no": args.unparsed_as_no, "blocked_connections": BLOCKED},
        "pairs": [], "errors": [],
    }

    def write():
        result["wall_s"] = round(time.time() - t_all, 2)
        result["llm_totals"] = Counter.diff(counter.snap(), dict.fromkeys(Counter.FIELDS, 0))
        result["offline"]["shim_dropped_fields"] = dict(counter.dropped)
        out.write_text(json.dumps(result, indent=2, default=str) + "\n")

    log = Path(tempfile.gettempdir()) / f"peer_hypothesaes_llama_{os.getpid()}.log"
    shim = None
    try:
        with LlamaServer(gguf, args.model, args.n_ctx, args.threads, log) as server:
            result["server"] = {"cmd": " ".join(server.cmd), "startup_s": round(server.startup_s, 2),
                                "log": str(log)}
            # 1. hypothesaes straight at llama_cpp.server: record what happens
            os.environ["OPENAI_BASE_URL"] = server.url + "/v1"
            try:
                txt = L.get_completion(prompt="Say yes.", model=args.model, max_output_tokens=4)
                result["offline"]["direct_responses_probe"] = {"ok": True, "text": txt}
            except Exception as e:  # expected: 404 on /v1/responses
                result["offline"]["direct_responses_probe"] = {"ok": False, **err_record("direct_probe", e)}
                result["offline"]["direct_responses_probe"].pop("traceback")
            # 2. through the shim
            shim, shim_url = start_shim(server.url, counter, args.default_max_tokens)
            os.environ["OPENAI_BASE_URL"] = shim_url + "/v1"
            result["offline"]["openai_base_url"] = os.environ["OPENAI_BASE_URL"]
            c = counter.snap()
            probe = L.get_completion(prompt="Answer with one word: is water wet?", model=args.model,
                                     max_output_tokens=8, temperature=0.0)
            result["offline"]["shim_probe"] = {"text": probe, "llm": Counter.diff(counter.snap(), c)}
            write()
            for name in wanted:
                print(f"[peer_hypothesaes] {name}: {pairs[name].predicate}", file=sys.stderr, flush=True)
                try:
                    rec = run_pair(pairs[name], args, args.model, counter, unparsed)
                except Exception as e:
                    rec = {"pair": name, "errors": [err_record("pair", e)]}
                result["pairs"].append(rec)
                write()
                print(f"[peer_hypothesaes] {name}: {rec.get('wall_s')} s, llm {rec.get('llm')}, "
                      f"errors {[x['error'][:200] for x in rec['errors']]}", file=sys.stderr, flush=True)
    except Exception as e:
        result["errors"].append(err_record("run", e))
    finally:
        if shim is not None:
            shim.shutdown()
        write()
    print(json.dumps({"out": str(out), "wall_s": result["wall_s"], "llm_totals": result["llm_totals"],
                      "pairs": [{"pair": p["pair"], "top": (p.get("ranked_hypotheses") or [None])[:3],
                                 "errors": len(p["errors"])} for p in result["pairs"]],
                      "errors": [e["error"] for e in result["errors"]]}, indent=1))
    return 1 if result["errors"] or any(p["errors"] for p in result["pairs"]) else 0


if __name__ == "__main__":
    reexec_in_peer_venv()
    sys.exit(main())
