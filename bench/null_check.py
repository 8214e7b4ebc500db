"""A/A control: random halves of one corpus over many seeds; count runs reporting any q < 0.05.

    .venv/bin/python bench/null_check.py --seeds 200

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
    ap.add_argument("--n", type=int, default=120)
    args = ap.parse_args()
    embedder = load_embedder(load_settings().home)
    texts = load_nlparam("agnews")["texts"]
    corpus = [texts[i] for i in np.random.default_rng(0).choice(len(texts), args.n, replace=False)]
    hits = raw = 0
    for seed in range(args.seeds):
        res = run_null_check(corpus, DiffConfig(verifier="embedding", seed=seed, top_k=len(HYPOTHESES)),
                             backend=None, embedder=embedder, candidates=HYPOTHESES)
        hits += any(h.q_value < 0.05 for h in res.hypotheses)
        raw += any(h.p_value < 0.05 for h in res.hypotheses)
    print(f"{hits}/{args.seeds} A/A runs had a hypothesis with q < 0.05 ({1 - hits / args.seeds:.1%} clean); "
          f"{raw}/{args.seeds} had a raw p < 0.05")


if __name__ == "__main__":
    main()
