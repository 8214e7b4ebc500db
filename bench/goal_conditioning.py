"""Goal conditioning on OpenD5 corpora: the same pair with and without the D5 research goal.

    .venv/bin/python bench/goal_conditioning.py --out bench/results/goal_conditioning.json

Each run is ``run_diff`` with today's defaults (``DiffConfig()``; only ``top_k`` and, if given, ``ranker_keep``
are set), so the hypotheses, V, q and seconds are what a user gets. Resumable: finished runs are kept.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import yaml

from hypodisc.backends import load_backend
from hypodisc.config import load_settings
from hypodisc.proposers.goal import ResearchGoal
from hypodisc.verifiers.embedding import load_embedder
from hypodisc.workflows import DiffConfig, run_diff

OPEND5 = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "opend5"
# yc_startups:bay_area was a default until it first ran: pairs.yaml names classes (location_usa) that its corpus
# does not have (bay_area, not_bay_area). The humour edits pair is one the issue asks for by name.
DEFAULT = "rate_my_prof:female_male,abc_headlines:2007_2008,microedit_humor:unfunny_funny"


def load_pair(corpus: str, pair: str, n: int, seed: int, max_chars: int):
    spec = yaml.safe_load((OPEND5 / "pairs.yaml").read_text())[corpus][0]
    data = json.loads((OPEND5 / "corpora" / f"{corpus}.json").read_text())
    p = spec["pairs"][pair]
    rng = random.Random(seed)

    def side(classes):
        missing = [c for c in classes if c not in data["data"]]
        if missing:
            raise SystemExit(f"{corpus}:{pair}: pairs.yaml names classes {missing} that the corpus lacks "
                             f"(it has {sorted(data['data'])})")
        texts = [t for c in classes for t in data["data"][c] if t.strip()]
        return [t[:max_chars] for t in rng.sample(texts, min(n, len(texts)))]

    app = spec["applications"][0]
    goal = ResearchGoal(dataset_description=data["description"].removeprefix("Dataset contains ").rstrip("."),
                        generation=spec["generation"], user=app["user"], target=app["target"],
                        a_description=p["pos_desc"], b_description=p["neg_desc"])
    return side(p["pos_class"]), side(p["neg_class"]), goal


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", default=DEFAULT)
    ap.add_argument("--n-per-side", type=int, default=40)
    ap.add_argument("--max-chars", type=int, default=400)
    ap.add_argument("--top", type=int, default=5)
    ap.add_argument("--ranker-keep", type=int, default=None, help="default: DiffConfig's")
    ap.add_argument("--out", type=Path, default=Path("bench/results/goal_conditioning.json"))
    args = ap.parse_args()
    settings = load_settings()
    backend, embedder = load_backend(settings), load_embedder(settings.home)
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    cfg = DiffConfig(top_k=args.top, seed=0, **({"ranker_keep": args.ranker_keep} if args.ranker_keep else {}))
    for item in args.pairs.split(","):
        corpus, pair = item.split(":")
        a, b, goal = load_pair(corpus, pair, args.n_per_side, 0, args.max_chars)
        rec = results.get(item, {"goal": goal.render(), "n_a": len(a), "n_b": len(b)})
        for label, g in (("without_goal", None), ("with_goal", goal)):
            if label in rec:
                continue
            t0 = time.perf_counter()
            res = run_diff(a, b, g, cfg, backend=backend, embedder=embedder)
            rec[label] = {"hypotheses": [h.model_dump(exclude={"support", "counter_examples"}) for h in res.hypotheses],
                          "candidates": [c.hypothesis for c in res.candidates], "wall_s": round(time.perf_counter() - t0, 1),
                          "cost": res.cost.total.model_dump()}
            results[item] = rec
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(results, indent=1))
            print(item, label, f"{rec[label]['wall_s']} s", [(h.hypothesis, h.validity, h.q_value) for h in res.hypotheses],
                  flush=True)
    backend.close()


if __name__ == "__main__":
    main()
