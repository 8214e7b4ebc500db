"""A/A control: random halves of one corpus over many seeds; count runs reporting any q < 0.05.

    .venv/bin/python bench/null_check.py --seeds 200
    .venv/bin/python bench/null_check.py --verifier cascade --seeds 40 --n 40   # the LLM cascade, D3 size
    .venv/bin/python bench/null_check.py --verifier cascade --seeds 40 --n 40 --first-seed 30   # resume

120 random AG News texts (all four topics, seed 0), eight fixed hypotheses, the
embedding verifier's held-out statistics and BH over all candidates: the same
loop as tests/test_diff.py::test_null_check_finds_nothing_in_at_least_95_percent_of_seeds.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gold_pairs import load_nlparam  # noqa: E402

from hypodisc.config import load_settings  # noqa: E402
from hypodisc.verifiers.embedding import load_embedder  # noqa: E402
from hypodisc.workflows import DiffConfig, run_null_check  # noqa: E402

HYPOTHESES = ["is about computers, software or the internet", "reports company earnings, deals or markets",
              "mentions a sports team", "is written in French", "has a topic of politics", "mentions a number",
              "quotes a person", "mentions a country"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=200)
    ap.add_argument("--first-seed", type=int, default=0, help="resume a long run: seeds first-seed .. seeds-1")
    ap.add_argument("--n", type=int, default=120)
    ap.add_argument("--verifier", choices=["embedding", "cascade"], default="embedding")
    args = ap.parse_args()
    settings = load_settings()
    embedder = load_embedder(settings.home)
    backend = None
    if args.verifier == "cascade":
        from hypodisc.backends import load_backend

        backend = load_backend(settings)
    texts = load_nlparam("agnews")["texts"]
    hits = raw = 0
    seeds = range(args.first_seed, args.seeds)
    for seed in seeds:
        draw = 0 if args.verifier == "embedding" else seed
        corpus = [texts[i] for i in np.random.default_rng(draw).choice(len(texts), args.n, replace=False)]
        res = run_null_check(corpus, DiffConfig(verifier=args.verifier, seed=seed, top_k=5 if backend else len(HYPOTHESES)),
                             backend=backend, embedder=embedder, candidates=HYPOTHESES)
        hits += any(h.q_value < 0.05 for h in res.hypotheses)
        raw += any(h.p_value < 0.05 for h in res.hypotheses)
        if backend is not None:
            print(f"seed {seed}: min q {min((h.q_value for h in res.hypotheses), default=1.0):.3f}, "
                  f"{res.cost.total.judgments} judgments, {res.cost.total.wall_s:.0f} s", flush=True)
    print(f"{hits}/{len(seeds)} A/A runs had a hypothesis with q < 0.05 ({1 - hits / len(seeds):.1%} clean); "
          f"{raw}/{len(seeds)} had a raw p < 0.05")


if __name__ == "__main__":
    main()
