"""Benchmark: a variant of the default pipeline on the very proposals a ``diff_gold.py --routes`` run made.

Each pair's stored contrast-route proposal (candidates, replies, sources) is resumed, so the variant and the
default differ only in what comes after proposing; the splits and seed are the same. Recovery is judged as
in ``diff_gold.py`` and set beside the stored ``final`` of the same pair:

    .venv/bin/python bench/diff_variant.py --routes-file bench/results/diff_routes_form_views.json \\
        --set abstraction=true --out bench/results/diff_abstraction.json

Pairs already in ``--out`` are skipped (resumable); ``--pairs`` picks some.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from diff_gold import summarize  # noqa: E402
from recovery import FLAGS  # noqa: E402
from gold_pairs import gold_pairs  # noqa: E402

from hypodisc.backends import load_backend  # noqa: E402
from hypodisc.config import load_settings  # noqa: E402
from hypodisc.verifiers.embedding import load_embedder  # noqa: E402
from hypodisc.workflows import DiffConfig, run_diff  # noqa: E402


def overrides(pairs: list[str]) -> dict:
    """``key=value`` pairs, the values read as JSON when they parse (true, 3, ["a"]) and as text otherwise."""
    out = {}
    for kv in pairs:
        key, _, value = kv.partition("=")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--routes-file", type=Path, required=True, help="a diff_gold.py --routes results file")
    ap.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", help="DiffConfig fields of the variant")
    ap.add_argument("--pairs", default="all", help="comma-separated names like agnews/0, or 'all'")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()

    routes = json.loads(args.routes_file.read_text())
    n_per_side = int(routes["args"]["n_per_side"])
    seed = int(routes["args"]["seed"])
    cfg = DiffConfig(seed=seed, **overrides(args.set))
    settings = load_settings()
    backend, embedder = load_backend(settings), load_embedder(settings.home)
    results = json.loads(args.out.read_text()) if args.out.exists() else {"pairs": {}}
    results["args"] = {k: str(v) for k, v in vars(args).items()}
    results["config"] = cfg.model_dump()
    want = None if args.pairs == "all" else set(args.pairs.split(","))
    for pair in gold_pairs(n_per_side=n_per_side, seed=seed, max_chars=int(routes["args"]["max_chars"])):
        stored = routes["pairs"].get(pair.name, {})
        if "proposal" not in stored.get("contrast", {}) or "final" not in stored or pair.name in results["pairs"]:
            continue
        if want is not None and pair.name not in want:
            continue
        t = time.perf_counter()
        res = run_diff(pair.a, pair.b, None, cfg, backend=backend, embedder=embedder,
                       resume={"propose": stored["contrast"]["proposal"]})
        rec = {"predicate": pair.predicate, "variant": summarize(res, backend, embedder, pair.predicate),
               "default": {k: stored["final"][k] for k in FLAGS},
               "new_candidates": [c.hypothesis for c in res.candidates
                                  if c.hypothesis not in stored["contrast"]["proposal"]["candidates"]],
               "wall_s": round(time.perf_counter() - t, 1)}
        results["pairs"][pair.name] = rec
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1))
        v = rec["variant"]
        print(f"{pair.name:12s} {pair.predicate:40s} {rec['wall_s']:6.1f}s top5 (emb, llm): variant "
              f"{(v['top5_emb'], v['top5_llm'])} default {(rec['default']['top5_emb'], rec['default']['top5_llm'])} "
              f"new {rec['new_candidates']}", flush=True)
    backend.close()


if __name__ == "__main__":
    main()
