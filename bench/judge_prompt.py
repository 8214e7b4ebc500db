"""Judge prompt layouts side by side on nlparam: every gold predicate judged on one shared sample of texts.

    .venv/bin/python bench/judge_prompt.py --datasets agnews,dbpedia,bills --k 2
    .venv/bin/python bench/judge_prompt.py --datasets dbpedia --k 2 \
        --variants question_first:sequential,question_first:parallel

A variant is a prompt layout, optionally with ``:sequential`` (llama.cpp decodes a text's judgments one
after another, reusing the cached prefix) or ``:parallel`` (side by side in one batch, the default).

For each dataset, k texts that satisfy each gold predicate are drawn (their union is the sample, so every
predicate has positives and many negatives); every predicate is judged on every sampled text, once per
prompt layout, through ``LLMJudge.score`` exactly as a diff job sends them (a text's judgments together).
nlparam labels every text for every predicate, so AUROC is exact against gold. Cost is the prompt tokens the
backend decoded (machine-independent) and wall seconds, both layouts on the same texts in one run.
Results: bench/results/judge_prompt.json (partial results are written after each dataset and layout).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gold_pairs import load_nlparam  # noqa: E402

from hypodisc.backends import load_backend  # noqa: E402
from hypodisc.config import load_settings  # noqa: E402
from hypodisc.verifiers.llm_judge import LLMJudge  # noqa: E402


def sample(ds: str, k: int, max_chars: int, seed: int) -> tuple[list[str], list[str], np.ndarray]:
    """(texts, predicates, gold labels of shape (predicates, texts))."""
    d = load_nlparam(ds)
    den = np.asarray(d["reference_phi_denotation"], int)
    rng = np.random.default_rng([seed, len(ds)])
    chosen: list[int] = []
    for j in range(den.shape[1]):
        pos = [i for i in np.flatnonzero(den[:, j] == 1) if i not in chosen]
        chosen += rng.choice(pos, min(k, len(pos)), replace=False).tolist()
    texts = [" ".join(d["texts"][i].split())[:max_chars] for i in chosen]
    return texts, list(d["reference_phi_predicate_strings"]), den[chosen].T


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", default="agnews,dbpedia,bills")
    ap.add_argument("--variants", default="text_first,question_first")
    ap.add_argument("--k", type=int, default=2, help="texts drawn per predicate (positives of that predicate)")
    ap.add_argument("--max-chars", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("bench/results/judge_prompt.json"))
    args = ap.parse_args()
    backend = load_backend(load_settings())
    orders = args.variants.split(",")
    parallel = getattr(backend, "_parallel", 1)
    out: dict = {"model": backend.model, "args": {k: str(v) for k, v in vars(args).items()}, "datasets": {}}
    for ds in args.datasets.split(","):
        texts, preds, gold = sample(ds, args.k, args.max_chars, args.seed)
        rec: dict = {"n_texts": len(texts), "predicates": preds}
        for order in orders:
            layout, _, mode = order.partition(":")
            if hasattr(backend, "_parallel"):
                backend._parallel = 1 if mode == "sequential" else parallel
            judge = LLMJudge(backend, max_text_chars=args.max_chars + 50, order=layout)
            before, t0 = backend.usage.snapshot(), time.perf_counter()
            scores = judge.score(preds, texts)
            wall, used = time.perf_counter() - t0, backend.usage - before
            aurocs = [float(roc_auc_score(gold[j], scores[j])) for j in range(len(preds)) if 0 < gold[j].sum() < len(texts)]
            rec[order] = {"mean_auroc": float(np.mean(aurocs)), "aurocs": aurocs, "judgments": used.yes_no_judgments,
                          "prompt_tokens": used.prompt_tokens, "wall_s": round(wall, 1),
                          "tokens_per_judgment": round(used.prompt_tokens / used.yes_no_judgments, 1)}
            print(f"{ds:8s} {order:15s} AUROC {rec[order]['mean_auroc']:.3f} over {len(aurocs)} predicates, "
                  f"{used.yes_no_judgments} judgments, {used.prompt_tokens} tokens, {wall:.0f} s", flush=True)
            out["datasets"][ds] = rec
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(out, indent=1))
    pooled = {o: [a for r in out["datasets"].values() for a in r[o]["aurocs"]] for o in orders}
    out["pooled_mean_auroc"] = {o: float(np.mean(v)) for o, v in pooled.items()}
    out["tokens_ratio"] = {o: sum(r[o]["prompt_tokens"] for r in out["datasets"].values()) /
                           sum(r[orders[0]]["prompt_tokens"] for r in out["datasets"].values()) for o in orders}
    args.out.write_text(json.dumps(out, indent=1))
    print(json.dumps({k: out[k] for k in ("pooled_mean_auroc", "tokens_ratio")}, indent=1))


if __name__ == "__main__":
    main()
