"""Explain our features with EleutherAI delphi's own explainer (PyPI `eai-delphi` 0.1.3), fully offline.

    bash bench/delphi_env.sh          # once: $HYPODISC_HOME/delphi-venv (torch CPU, eai-delphi, llama.cpp server)
    $HYPODISC_HOME/delphi-venv/bin/python bench/delphi_explain.py --features feats.jsonl \
        [--pool pools.json] --base-url http://127.0.0.1:PORT/v1 --model qwen2.5-coder-1.5b --out delphi.json

bench/delphi_side_by_side.sh starts the llama.cpp server, runs this, and stops the server.

Input (JSON Lines, one feature per line):
    {"feature_id": str, "examples": [{"tokens": [str, ...], "activations": [float, ...]}, ...],
     "level": "token" | "document", "threshold": float}
An example is *activating* when max(activations) > threshold. A document-level feature has one "token" per
example (the whole text); delphi gets it as a one-token example.

--pool: a JSON object feature_id -> list of indices into that feature's "examples": the explainer pool, shown
to delphi in that order, so that both systems see the same examples. Without --pool every feature gets its
--n-pool (10) strongest activating examples, strongest first (delphi's "top" order). With --pool, a feature
that the file does not name is an error (recorded; no silent fallback to a different pool).

What is delphi's and what is ours:
  * delphi: `delphi.latents.ActivatingExample` / `Latent` / `LatentRecord` (the example objects),
    `delphi.latents.samplers.normalize_activations` (its 0..10 quantisation against the record's max
    activation, exactly as its samplers do), `delphi.explainers.DefaultExplainer` (its default prompt: system
    prompt, its 3 few-shot examples, <<highlighted>> tokens above threshold*max of each example, and the
    `Activations: ("tok" : n)` lines; temperature 0.0; `[EXPLANATION]:` parsing), and its
    `delphi.clients.OpenRouter` client, which takes `base_url` = the full chat-completions URL, so it is
    pointed at the local OpenAI-compatible server ({base_url}/chat/completions).
  * ours, and only around delphi's HTTP call: OpenRouter.generate posts with a hard-coded `timeout=100`
    (delphi/clients/openrouter.py, `await self.client.post(url=..., json=data, headers=..., timeout=100)`),
    too short for a 1.5B model on 2 CPU cores with delphi's ~1.5k-token prompt. Its `self.client` (an
    httpx.AsyncClient) is replaced by `MeteredAsyncClient`, an httpx.AsyncClient whose `post` uses
    --timeout instead and records the server's `usage`, status, raw reply and the exact exception (delphi's
    own retry loop only logs `repr(e)` and raises "Failed to generate text after multiple attempts.").
    Nothing in delphi is patched or copied.
  * Defaults are delphi's: OpenRouter max_tokens=3000 (llama.cpp caps it to n_ctx - prompt), highlight
    threshold 0.3, temperature 0.0, max_retries 1, activations shown, no chain of thought.

Offline: HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE are set before delphi is imported, a socket guard refuses (and
records) any connection that is not to loopback, and --base-url must be a loopback URL. Importing delphi
imports vllm (delphi/clients/__init__.py -> clients/offline.py: `from vllm import LLM, SamplingParams`) and
sentence-transformers/faiss/sparsify (delphi/latents/__init__.py); if that import fails, the script exits
with the exact error and the delphi source line that triggered it.

Output (--out): {"explanations": {feature_id: text | null}, "cost": {"prompt_tokens", "completion_tokens",
"seconds", "features"}, "delphi_version", "model", ...} plus per-feature details, errors and settings.
Exit status: 0 all features explained; 2 delphi unusable (import / server); 3 some feature failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import socket
import sys
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Nothing from bench/ or the repo is imported; keep them off sys.path (the repo's top-level datasets/ would
# shadow HF `datasets`, and bench/backends.py etc. could shadow other modules).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() not in (HERE, HERE.parent)]

OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
               "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1", "TOKENIZERS_PARALLELISM": "false",
               "NO_PROXY": "127.0.0.1,localhost,::1", "no_proxy": "127.0.0.1,localhost,::1"}
BLOCKED: list[str] = []
DEFAULT_N_POOL = 10


class DelphiUnusable(Exception):
    """delphi cannot run here; the message names the exact error and the delphi line responsible."""


# --------------------------------------------------------------------------- offline guard
def _is_loopback(host: str) -> bool:
    return host.startswith("127.") or host in ("::1", "localhost")


def install_socket_guard() -> None:
    """Refuse (and record) every connection that is not to loopback or a unix socket."""
    real_connect = socket.socket.connect

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            host = str(address[0])
            if not _is_loopback(host):
                BLOCKED.append(f"{host}:{address[1]}")
                raise ConnectionRefusedError(f"delphi_explain offline guard: refused {host}:{address[1]}")
        return real_connect(self, address)

    socket.socket.connect = connect


def where_in_delphi(e: BaseException) -> str | None:
    """'file:line: source' of the innermost traceback frame inside the delphi package."""
    import importlib.util

    spec = importlib.util.find_spec("delphi")
    pkg_dirs = [os.path.realpath(d) + os.sep for d in (spec.submodule_search_locations or [])] if spec else []
    tb = traceback.extract_tb(e.__traceback__)
    for f in reversed(tb):
        if any(os.path.realpath(f.filename).startswith(d) for d in pkg_dirs):
            return f"{f.filename}:{f.lineno}: {f.line}"
    return None


def import_delphi():
    """Import the delphi pieces we drive; on failure raise DelphiUnusable with the exact cause."""
    try:
        import delphi
        from delphi.clients import OpenRouter
        from delphi.explainers import DefaultExplainer
        from delphi.latents import ActivatingExample, Latent, LatentRecord
        from delphi.latents.samplers import normalize_activations
    except Exception as e:  # noqa: BLE001 - we report whatever it is, verbatim
        where = where_in_delphi(e)
        tb = "".join(traceback.format_exception(e))
        raise DelphiUnusable(
            f"importing delphi failed: {type(e).__name__}: {e}\n"
            f"  delphi line responsible: {where or '(not inside delphi)'}\n"
            f"  (python {sys.executable}; run bash bench/delphi_env.sh)\n--- traceback ---\n{tb[-6000:]}") from e
    return delphi, OpenRouter, DefaultExplainer, ActivatingExample, Latent, LatentRecord, normalize_activations


# --------------------------------------------------------------------------- HTTP client around delphi's call
def make_metered_client(timeout_s: float):
    import httpx

    class MeteredAsyncClient(httpx.AsyncClient):
        """httpx.AsyncClient for delphi's OpenRouter: --timeout instead of its hard-coded 100 s, and a record
        of every call (usage, status, raw reply, exact exception)."""

        def __init__(self):
            super().__init__(timeout=httpx.Timeout(timeout_s), trust_env=False)
            self.calls: list[dict] = []

        async def post(self, *args, **kwargs):
            kwargs["timeout"] = timeout_s
            rec: dict = {"t0": time.time()}
            self.calls.append(rec)
            try:
                r = await super().post(*args, **kwargs)
            except BaseException as e:
                rec.update(seconds=round(time.time() - rec["t0"], 3), error=f"{type(e).__name__}: {e!r}")
                raise
            rec.update(seconds=round(time.time() - rec["t0"], 3), status=r.status_code)
            try:
                body = r.json()
            except ValueError:
                rec["error"] = f"HTTP {r.status_code}, not JSON: {r.text[:1000]}"
                return r
            usage = body.get("usage") or {}
            rec["prompt_tokens"] = int(usage.get("prompt_tokens") or 0)
            rec["completion_tokens"] = int(usage.get("completion_tokens") or 0)
            choices = body.get("choices") or []
            if choices:
                rec["raw"] = (choices[0].get("message") or {}).get("content")
                rec["finish_reason"] = choices[0].get("finish_reason")
            else:
                rec["error"] = f"HTTP {r.status_code}: {json.dumps(body)[:1000]}"
            return r

    return MeteredAsyncClient()


def check_server(base_url: str, timeout: float = 10.0) -> list[str]:
    """GET {base_url}/models; the server's model ids. Raises DelphiUnusable when it does not answer."""
    try:
        with urllib.request.urlopen(base_url.rstrip("/") + "/models", timeout=timeout) as r:
            body = json.loads(r.read())
        return [m.get("id") for m in body.get("data", [])]
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise DelphiUnusable(f"no OpenAI-compatible server at {base_url}: {type(e).__name__}: {e}") from e


# --------------------------------------------------------------------------- features -> delphi records
def read_features(path: Path) -> list[dict]:
    feats, seen = [], set()
    with open(path, encoding="utf-8") as fh:
        for ln, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                f = json.loads(line)
                fid = str(f["feature_id"])
                level = f.get("level", "token")
                thr = float(f["threshold"])
                exs = f["examples"]
                if level not in ("token", "document"):
                    raise ValueError(f"level must be 'token' or 'document', not {level!r}")
                if not isinstance(exs, list) or not exs:
                    raise ValueError("examples must be a non-empty list")
                for i, ex in enumerate(exs):
                    toks, acts = ex["tokens"], ex["activations"]
                    if not toks or len(toks) != len(acts):
                        raise ValueError(f"example {i}: {len(toks)} tokens but {len(acts)} activations")
                    if not all(isinstance(a, (int, float)) and math.isfinite(a) for a in acts):
                        raise ValueError(f"example {i}: non-finite or non-numeric activation")
                    if level == "document" and len(toks) != 1:
                        raise ValueError(f"example {i}: a document-level example has exactly one 'token'")
            except (KeyError, TypeError, ValueError) as e:
                sys.exit(f"{path}:{ln}: bad feature record: {type(e).__name__}: {e}")
            if fid in seen:
                sys.exit(f"{path}:{ln}: duplicate feature_id {fid!r}")
            seen.add(fid)
            feats.append({"feature_id": fid, "level": level, "threshold": thr, "examples": exs})
    return feats


def default_pool(feat: dict, n: int) -> list[int]:
    """The n strongest activating examples, strongest first (ties: lower index first)."""
    thr = feat["threshold"]
    act = [(max(ex["activations"]), i) for i, ex in enumerate(feat["examples"]) if max(ex["activations"]) > thr]
    act.sort(key=lambda t: (-t[0], t[1]))
    return [i for _, i in act[:n]]


def build_record(feat: dict, pool: list[int], n_feature: int, d):
    """delphi LatentRecord: .examples = every activating example, strongest first (what delphi's constructor
    yields); .train = the explainer pool, in the caller's order, with delphi's normalized activations."""
    import torch

    ActivatingExample, Latent, LatentRecord, normalize_activations = d
    exs = feat["examples"]
    bad = [i for i in pool if not (isinstance(i, int) and 0 <= i < len(exs))]
    if bad:
        raise ValueError(f"pool indices out of range 0..{len(exs) - 1}: {bad}")
    if not pool:
        raise ValueError("empty explainer pool (no activating example above the threshold?)")

    def mk(i: int):
        ex = exs[i]
        acts = torch.tensor([float(a) for a in ex["activations"]], dtype=torch.float32)
        # delphi's explainer reads only str_tokens and activations; token ids are placeholders
        return ActivatingExample(tokens=torch.arange(len(ex["tokens"])), activations=acts,
                                 str_tokens=[str(t) for t in ex["tokens"]])

    thr = feat["threshold"]
    activating = sorted((i for i, ex in enumerate(exs) if max(ex["activations"]) > thr),
                        key=lambda i: (-max(exs[i]["activations"]), i))
    record = LatentRecord(latent=Latent(module_name=f"hypodisc:{feat['feature_id']}", latent_index=n_feature),
                          examples=[mk(i) for i in activating] or [mk(i) for i in pool])
    # normalisation against the record's max activation (max over all the feature's activating examples,
    # and over the pool), as delphi's samplers do with record.max_activation
    max_act = max([record.max_activation] + [max(exs[i]["activations"]) for i in pool])
    record.train = normalize_activations([mk(i) for i in pool], max_act)
    return record


# --------------------------------------------------------------------------- main
def write(out: Path, result: dict) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    tmp.replace(out)


async def explain_all(feats, pools, args, result, out, delphi_objs) -> int:
    (_, OpenRouter, DefaultExplainer, ActivatingExample, Latent, LatentRecord, normalize_activations) = delphi_objs
    client = OpenRouter(args.model, api_key=os.environ.get("OPENAI_API_KEY") or "sk-no-key-required",
                        base_url=args.base_url.rstrip("/") + "/chat/completions", max_tokens=args.max_tokens,
                        temperature=args.temperature)
    metered = make_metered_client(args.timeout)
    await client.client.aclose()
    client.client = metered
    explainer = DefaultExplainer(client, verbose=args.verbose, threshold=args.highlight_threshold,
                                 temperature=args.temperature, generation_kwargs={"max_retries": args.max_retries},
                                 activations=not args.no_activations, cot=args.cot)
    cost = result["cost"]
    n_failed = 0
    t_all = time.time()
    for n, feat in enumerate(feats):
        fid = feat["feature_id"]
        pf = result["per_feature"][fid] = {"level": feat["level"]}
        try:
            if pools is not None:
                if fid not in pools:
                    raise ValueError(f"feature {fid!r} is not in the --pool file")
                pool = pools[fid]
            else:
                pool = default_pool(feat, args.n_pool)
            pf["pool"] = pool
            pf["pool_non_activating"] = sum(
                1 for i in pool if isinstance(i, int) and 0 <= i < len(feat["examples"])
                and max(feat["examples"][i]["activations"]) <= feat["threshold"])
            record = build_record(feat, pool, n, (ActivatingExample, Latent, LatentRecord, normalize_activations))
        except (ValueError, TypeError) as e:
            pf["error"] = f"{type(e).__name__}: {e}"
            result["explanations"][fid] = None
            n_failed += 1
            print(f"[delphi] {fid}: skipped: {pf['error']}", file=sys.stderr)
            write(out, result)
            continue
        if args.dump_prompt:
            pf["prompt"] = explainer._build_prompt(record.train)
        first_call = len(metered.calls)
        t0 = time.time()
        try:
            res = await explainer(record)
            explanation, error = res.explanation, None
        except Exception as e:  # noqa: BLE001 - delphi raises RuntimeError after its retries
            explanation, error = None, f"{type(e).__name__}: {e}"
        secs = time.time() - t0
        calls = metered.calls[first_call:]
        pt = sum(c.get("prompt_tokens", 0) for c in calls)
        ct = sum(c.get("completion_tokens", 0) for c in calls)
        pf.update(seconds=round(secs, 3), prompt_tokens=pt, completion_tokens=ct, requests=len(calls),
                  finish_reason=(calls[-1].get("finish_reason") if calls else None),
                  raw_response=(calls[-1].get("raw") if calls else None))
        call_errors = [c["error"] for c in calls if c.get("error")]
        if call_errors:
            pf["request_errors"] = call_errors
        if error is not None:
            detail = f" (request: {call_errors[-1]})" if call_errors else ""
            pf["error"] = error + detail
            n_failed += 1
        elif explanation == "Explanation could not be parsed.":
            pf["unparsed"] = True  # delphi's own placeholder; kept as its output, flagged here
        result["explanations"][fid] = explanation
        cost["prompt_tokens"] += pt
        cost["completion_tokens"] += ct
        cost["features"] += 1
        cost["seconds"] = round(time.time() - t_all, 3)
        cost["seconds_per_feature"] = round(cost["seconds"] / cost["features"], 3)
        result["blocked_connections"] = list(BLOCKED)
        print(f"[delphi] {fid}: {secs:.1f}s prompt={pt} completion={ct} "
              f"{'ERROR ' + pf['error'] if error else repr(explanation)}", file=sys.stderr)
        write(out, result)
    await metered.aclose()
    return n_failed


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--features", required=True, type=Path, help="features, JSON Lines")
    ap.add_argument("--pool", type=Path, help="JSON: feature_id -> list of example indices (explainer pool)")
    ap.add_argument("--n-pool", type=int, default=DEFAULT_N_POOL, help="default pool: the N strongest activating")
    ap.add_argument("--base-url", required=True, help="OpenAI-compatible base URL on loopback, e.g. http://127.0.0.1:8080/v1")
    ap.add_argument("--model", required=True, help="model name sent to the server and recorded")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--max-tokens", type=int, default=3000, help="delphi OpenRouter default: 3000")
    ap.add_argument("--temperature", type=float, default=0.0, help="delphi Explainer default: 0.0")
    ap.add_argument("--highlight-threshold", type=float, default=0.3,
                    help="delphi: highlight tokens above this fraction of the example's max (default 0.3)")
    ap.add_argument("--max-retries", type=int, default=1, help="delphi OpenRouter.generate default: 1")
    ap.add_argument("--timeout", type=float, default=900.0,
                    help="HTTP timeout per request, replacing delphi's hard-coded 100 s")
    ap.add_argument("--cot", action="store_true", help="delphi DefaultExplainer cot=True (default False)")
    ap.add_argument("--no-activations", action="store_true", help="delphi DefaultExplainer activations=False")
    ap.add_argument("--limit", type=int, help="only the first N features")
    ap.add_argument("--dump-prompt", action="store_true", help="store delphi's chat messages per feature")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)

    host = urllib.parse.urlsplit(args.base_url).hostname or ""
    if not _is_loopback(host):
        sys.exit(f"--base-url must be on loopback (offline benchmark), not {args.base_url!r}")
    os.environ.update(OFFLINE_ENV)
    install_socket_guard()

    feats = read_features(args.features)
    if args.limit is not None:
        feats = feats[: args.limit]
    pools = None
    if args.pool:
        pools = json.loads(args.pool.read_text())
        if not isinstance(pools, dict):
            sys.exit(f"{args.pool}: expected a JSON object feature_id -> [example indices]")

    result: dict = {
        "explanations": {},
        "cost": {"prompt_tokens": 0, "completion_tokens": 0, "seconds": 0.0, "features": 0},
        "delphi_version": None, "model": args.model, "base_url": args.base_url,
        "settings": {"explainer": "delphi.explainers.DefaultExplainer", "client": "delphi.clients.OpenRouter",
                     "max_tokens": args.max_tokens, "temperature": args.temperature,
                     "highlight_threshold": args.highlight_threshold, "max_retries": args.max_retries,
                     "http_timeout_s": args.timeout, "cot": args.cot, "activations": not args.no_activations,
                     "pool": str(args.pool) if args.pool else f"top {args.n_pool} activating",
                     "features_file": str(args.features)},
        "environment": {"python": platform.python_version(), "executable": sys.executable},
        "per_feature": {}, "blocked_connections": BLOCKED,
    }
    try:
        t0 = time.time()
        objs = import_delphi()
        result["import_seconds"] = round(time.time() - t0, 2)
        result["delphi_version"] = objs[0].__version__
        from importlib.metadata import PackageNotFoundError, version
        for pkg in ("eai-delphi", "torch", "vllm", "transformers", "httpx"):
            try:
                result["environment"][pkg] = version(pkg)
            except PackageNotFoundError:
                result["environment"][pkg] = None
        result["server_models"] = check_server(args.base_url)
    except DelphiUnusable as e:
        result["fatal"] = str(e)
        write(args.out, result)
        print(f"[delphi] FATAL: {e}", file=sys.stderr)
        return 2

    n_failed = asyncio.run(explain_all(feats, pools, args, result, args.out, objs))
    result["blocked_connections"] = list(BLOCKED)
    write(args.out, result)
    c = result["cost"]
    print(f"[delphi] {c['features']} features, {c['seconds']}s, prompt={c['prompt_tokens']} "
          f"completion={c['completion_tokens']}, failed={n_failed} -> {args.out}", file=sys.stderr)
    if BLOCKED:
        print(f"[delphi] refused non-loopback connections: {BLOCKED}", file=sys.stderr)
    return 3 if n_failed else 0


if __name__ == "__main__":
    sys.exit(main())
