"""Verifier accuracy: AUROC of the judge's P(yes) against gold per-text labels (nlparam denotations).

For each gold predicate, k texts that satisfy it and k that do not are judged with the
predicate itself as the hypothesis; the same texts are also scored by the embedding ranker.

    .venv/bin/python bench/verifier_auroc.py --datasets agnews,dbpedia --k 6
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
from hypodisc.verifiers.embedding import load_embedder, similarity  # noqa: E402
from hypodisc.verifiers.llm_judge import LLMJudge  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", default="agnews,dbpedia,bills")
    ap.add_argument("--k", type=int, default=6, help="positives and negatives per predicate")
    ap.add_argument("--max-chars", type=int, default=400)
    ap.add_argument("--out", type=Path, default=Path("bench/results/verifier_auroc.json"))
    args = ap.parse_args()
    settings = load_settings()
    backend, embedder = load_backend(settings), load_embedder(settings.home)
    judge = LLMJudge(backend, max_text_chars=args.max_chars)
    rows, t0 = [], time.perf_counter()
    for ds in args.datasets.split(","):
        d = load_nlparam(ds)
        den = np.asarray(d["reference_phi_denotation"], int)
        for k, pred in enumerate(d["reference_phi_predicate_strings"]):
            rng = np.random.default_rng([1, k, len(ds)])
            pos, neg = np.flatnonzero(den[:, k] == 1), np.flatnonzero(den[:, k] == 0)
            n = min(args.k, len(pos))
            idx = np.r_[rng.choice(pos, n, replace=False), rng.choice(neg, args.k, replace=False)]
            texts = [d["texts"][i][: args.max_chars] for i in idx]
            y = np.r_[np.ones(n), np.zeros(args.k)]
            p = judge.score([pred], texts)[0]
            cos = similarity(embedder.encode([pred]), embedder.encode(texts))[0]
            rows.append({"dataset": ds, "predicate": pred, "n_pos": int(n), "n_neg": args.k,
                         "llm_auroc": float(roc_auc_score(y, p)), "emb_auroc": float(roc_auc_score(y, cos)),
                         "mean_p_pos": float(p[y == 1].mean()), "mean_p_neg": float(p[y == 0].mean())})
            print(f"{ds:8s} {pred:45s} LLM {rows[-1]['llm_auroc']:.2f}  emb {rows[-1]['emb_auroc']:.2f}", flush=True)
    summary = {"model": backend.model, "k": args.k, "wall_s": round(time.perf_counter() - t0, 1),
               "judgments": backend.usage.yes_no_judgments,
               "mean_llm_auroc": float(np.mean([r["llm_auroc"] for r in rows])),
               "mean_emb_auroc": float(np.mean([r["emb_auroc"] for r in rows])), "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=1))
    print(f"mean AUROC: LLM {summary['mean_llm_auroc']:.3f}, embedding {summary['mean_emb_auroc']:.3f} "
          f"over {len(rows)} predicates ({summary['judgments']} judgments, {summary['wall_s']}s)")
    backend.close()


if __name__ == "__main__":
    main()
