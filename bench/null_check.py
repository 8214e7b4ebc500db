"""A/A control: random halves of one corpus, many seeds; count runs reporting any q < 0.05.

    .venv/bin/python bench/null_check.py --verifier embedding --seeds 200
    .venv/bin/python bench/null_check.py --verifier cascade --model smollm2-135m --seeds 20

The corpus is 80 (or --n) random AG News texts of all four topics, so every
half mixes topics the same way and no hypothesis is truly more often true of one half.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gold_pairs import load_nlparam  # noqa: E402

from hypodisc.backends import load_backend  # noqa: E402
from hypodisc.config import load_settings  # noqa: E402
from hypodisc.verifiers.embedding import load_embedder  # noqa: E402
from hypodisc.workflows import DiffConfig, run_null_check  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--verifier", default="cascade")
    ap.add_argument("--model", default=None)
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--n", type=int, default=80)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    settings = load_settings(model=args.model)
    embedder = load_embedder(settings.home)
    backend = load_backend(settings)  # the proposer always needs it
    texts = load_nlparam("agnews")["texts"]
    rng = np.random.default_rng(0)
    corpus = [texts[i][:400] for i in rng.choice(len(texts), args.n, replace=False)]
    runs, t0 = [], time.perf_counter()
    for seed in range(args.seeds):
        cfg = DiffConfig(verifier=args.verifier, seed=seed, n_candidates=15, top_k=5, ranker_keep=6, screen_batch=7)
        res = run_null_check(corpus, cfg, backend=backend, embedder=embedder)
        min_q = min((h.q_value for h in res.hypotheses), default=1.0)
        runs.append({"seed": seed, "min_q": min_q, "min_p": min((h.p_value for h in res.hypotheses), default=1.0),
                     "candidates": len(res.candidates), "judgments": res.cost.total.judgments})
        print(f"seed {seed}: min q {min_q:.3f} ({len(res.candidates)} candidates)", flush=True)
    hits = sum(r["min_q"] < 0.05 for r in runs)
    summary = {"verifier": args.verifier, "model": backend.model, "seeds": args.seeds, "n_texts": args.n,
               "runs_with_q_below_0.05": hits, "fraction_clean": 1 - hits / args.seeds,
               "wall_s": round(time.perf_counter() - t0, 1), "runs": runs}
    out = args.out or Path(f"bench/results/null_check_{args.verifier}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=1))
    print(f"{hits}/{args.seeds} A/A runs reported a hypothesis with q < 0.05 ({summary['fraction_clean']:.0%} clean)")


if __name__ == "__main__":
    main()
