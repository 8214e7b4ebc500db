"""Judge prompt order, side by side: text first (shared text prefix) vs property first.

    .venv/bin/python bench/judge_order.py --k 4                     # all 39 nlparam predicates
    .venv/bin/python bench/judge_order.py --k 4 --datasets agnews   # a quick subset

Accuracy: for every gold predicate of nlparam (agnews 4, dbpedia 14, bills 21), k texts that satisfy
it and k that do not are judged with the predicate as the hypothesis, in both orders, one right after
the other; AUROC against the gold per-text labels.
Cost: the same 6 hypotheses judged on the same 16 texts of the demo pair in both orders, through
``LLMJudge.score`` (which sends a text's judgments together in text-first order): prompt tokens the
backend actually decoded (exact, machine-independent) and wall seconds.
Results: bench/results/judge_order.json.
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
from hypodisc.datasets import demo_pair  # noqa: E402
from hypodisc.verifiers.llm_judge import LLMJudge  # noqa: E402

ORDERS = ("text_first", "property_first")
COST_HYPOTHESES = ["has a topic of technology.", "mentions a company.", "is about the internet or software.",
                   "mentions money or prices.", "describes a new product.", "quotes a person."]


def accuracy(backend, datasets: list[str], k: int, max_chars: int, on_row=None) -> list[dict]:
    judges = {o: LLMJudge(backend, max_text_chars=max_chars, order=o) for o in ORDERS}
    rows = []
    for ds in datasets:
        d = load_nlparam(ds)
        den = np.asarray(d["reference_phi_denotation"], int)
        for j, pred in enumerate(d["reference_phi_predicate_strings"]):
            rng = np.random.default_rng([1, j, len(ds)])
            pos, neg = np.flatnonzero(den[:, j] == 1), np.flatnonzero(den[:, j] == 0)
            n = min(k, len(pos))
            idx = np.r_[rng.choice(pos, n, replace=False), rng.choice(neg, k, replace=False)]
            texts = [d["texts"][i][:max_chars] for i in idx]
            y = np.r_[np.ones(n), np.zeros(k)]
            row = {"dataset": ds, "predicate": pred, "n_pos": int(n), "n_neg": k}
            for o, judge in judges.items():
                p = judge.score([pred], texts)[0]
                row[f"{o}_auroc"] = float(roc_auc_score(y, p))
            rows.append(row)
            if on_row:
                on_row(rows)  # partial results survive an interrupted run
            print(f"{ds:8s} {pred[:50]:50s} text-first {row['text_first_auroc']:.2f}  "
                  f"property-first {row['property_first_auroc']:.2f}", flush=True)
    return rows


def cost(backend, n_texts: int) -> dict:
    a, b = demo_pair()
    texts = (a[: n_texts // 2] + b[: n_texts // 2])
    out = {}
    for o in ORDERS:
        judge = LLMJudge(backend, max_text_chars=800, order=o)
        before = backend.usage.snapshot()
        t0 = time.perf_counter()
        scores = judge.score(COST_HYPOTHESES, texts)
        wall = time.perf_counter() - t0
        used = backend.usage - before
        out[o] = {"judgments": used.yes_no_judgments, "prompt_tokens_decoded": used.prompt_tokens,
                  "wall_s": round(wall, 1), "s_per_judgment": round(wall / used.yes_no_judgments, 3),
                  "scores": scores.round(4).tolist()}
        print(f"cost {o}: {out[o]['prompt_tokens_decoded']} tokens decoded, {wall:.1f} s", flush=True)
    out["tokens_ratio_text_first_over_property_first"] = (
        out["text_first"]["prompt_tokens_decoded"] / out["property_first"]["prompt_tokens_decoded"])
    out["wall_ratio_text_first_over_property_first"] = out["text_first"]["wall_s"] / out["property_first"]["wall_s"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", default="agnews,dbpedia,bills")
    ap.add_argument("--k", type=int, default=4, help="positives and negatives per predicate")
    ap.add_argument("--max-chars", type=int, default=400)
    ap.add_argument("--cost-texts", type=int, default=16)
    ap.add_argument("--out", type=Path, default=Path("bench/results/judge_order.json"))
    args = ap.parse_args()
    backend = load_backend(load_settings())
    t0 = time.perf_counter()
    cost_rows = cost(backend, args.cost_texts)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    partial = args.out.with_suffix(".partial.json")
    rows = accuracy(backend, args.datasets.split(","), args.k, args.max_chars,
                    on_row=lambda r: partial.write_text(json.dumps({"cost": cost_rows, "rows": r}, indent=1)))
    summary = {"model": backend.model, "k": args.k, "wall_s": round(time.perf_counter() - t0, 1),
               "n_predicates": len(rows),
               "mean_auroc": {o: float(np.mean([r[f"{o}_auroc"] for r in rows])) for o in ORDERS},
               "cost": cost_rows, "rows": rows}
    args.out.write_text(json.dumps(summary, indent=1))
    partial.unlink(missing_ok=True)
    print(json.dumps({k: v for k, v in summary.items() if k not in ("rows", "cost")}, indent=1))
    print(json.dumps({o: {k: v for k, v in cost_rows[o].items() if k != "scores"} for o in ORDERS}, indent=1))


if __name__ == "__main__":
    main()
