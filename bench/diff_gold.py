"""Benchmark: recovery of gold predicates on nlparam one-vs-rest pairs, four verifier configs.

For each pair the proposer runs once; the same candidates and the same seeded
splits are then ranked four ways: proposer order, embedding ranker only, the LLM
verifier on every candidate (exhaustive), and the cascade (ranker -> LLM with
successive elimination -> confirmation). LLM configs run on --llm-pairs only
(CPU time: ~1.6 s per judgment with the default model on 2 cores).

    .venv/bin/python bench/diff_gold.py --out bench/results/diff_gold.json

``--routes`` measures today's defaults instead: each proposer route (contrast, llm, and both: the
union of their candidates) ranked by the embedding verifier, and the final pipeline (``run_diff`` with
``DiffConfig()``, resuming the contrast route's proposal with its sources, so nothing is proposed twice), on the same
seeded splits; pairs run round-robin over the three datasets so a partial run is a fair sample:

    .venv/bin/python bench/diff_gold.py --routes --out bench/results/diff_routes.json

``--routes --no-llm-route`` skips the LLM route (and so ``both``), whose long comparison prompts cost most of
a pair's time, to measure the contrast route and the final pipeline on more pairs in the same hours.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gold_pairs import gold_pairs  # noqa: E402
from recovery import emb_matches, llm_matches, recovered  # noqa: E402

from hypodisc.backends import load_backend  # noqa: E402
from hypodisc.config import load_settings  # noqa: E402
from hypodisc.verifiers.embedding import load_embedder  # noqa: E402
from hypodisc.workflows import DiffConfig, run_diff  # noqa: E402


LLM_MATCH = True


def summarize(res, backend, embedder, gold):
    hyps = [h.hypothesis for h in res.hypotheses]
    e = emb_matches(embedder, gold, hyps)
    ll = llm_matches(backend, gold, hyps) if LLM_MATCH else []  # else filled in by bench/rejudge_recovery.py
    return {
        "hypotheses": [h.model_dump(exclude={"support", "counter_examples"}) for h in res.hypotheses],
        "emb_match": [round(x, 3) for x in e], "llm_match": [round(x, 3) for x in ll],
        **recovered(e, ll),
        "cost": res.cost.total.model_dump(), "stages": [s.model_dump() for s in res.cost.stages],
    }


def round_robin(pairs):
    """agnews/0, dbpedia/0, bills/0, agnews/1, ...: a run stopped early still covers every dataset."""
    by_ds: dict[str, list] = {}
    for p in pairs:
        by_ds.setdefault(p.dataset, []).append(p)
    lists = list(by_ds.values())
    return [lst[i] for i in range(max(map(len, lists), default=0)) for lst in lists if i < len(lst)]


def run_routes(pairs, backend, embedder, args, results) -> None:
    def done(pair) -> bool:
        rec = results["pairs"].get(pair.name, {})
        return "error" in rec or ("final" in rec and "proposal" in rec["contrast"])

    def stale(pair) -> bool:  # measured before ``final`` kept the proposal's sources: rerun, last
        return pair.name in results["pairs"]

    for pair in sorted((p for p in pairs if not done(p)), key=stale):
        rec = {"predicate": pair.predicate, "n_a": len(pair.a), "n_b": len(pair.b)}
        cfg = dict(seed=args.seed)
        t0 = time.perf_counter()
        try:
            proposals: dict[str, dict] = {}
            for route in ("contrast",) if args.no_llm_route else ("contrast", "llm"):
                t = time.perf_counter()
                res = run_diff(pair.a, pair.b, None, DiffConfig(proposer=route, verifier="embedding", **cfg),
                               backend=backend, embedder=embedder,
                               on_checkpoint=lambda stage, data, r=route: proposals.__setitem__(r, data))
                rec[route] = summarize(res, backend, embedder, pair.predicate)
                rec[route]["candidates"] = [c.hypothesis for c in res.candidates]
                rec[route]["proposal"] = proposals[route]  # candidates, replies and sources, to resume from
                rec[route]["wall_s"] = round(time.perf_counter() - t, 1)
            if not args.no_llm_route:
                union = list(dict.fromkeys(rec["contrast"]["candidates"] + rec["llm"]["candidates"]))
                res = run_diff(pair.a, pair.b, None, DiffConfig(verifier="embedding", **cfg), backend=backend,
                               embedder=embedder, candidates=union)
                rec["both"] = summarize(res, backend, embedder, pair.predicate)
            t = time.perf_counter()
            # The contrast route's proposal (candidates and their sources) resumed: the default pipeline
            # exactly, the same split and seed, without proposing twice.
            res = run_diff(pair.a, pair.b, None, DiffConfig(**cfg), backend=backend, embedder=embedder,
                           resume={"propose": proposals["contrast"]})
            rec["final"] = summarize(res, backend, embedder, pair.predicate)
            rec["final"]["wall_s"] = round(time.perf_counter() - t + rec["contrast"]["wall_s"], 1)
        except Exception as exc:  # a degenerate pair is recorded, not fatal
            rec["error"] = f"{type(exc).__name__}: {exc}"
        rec["wall_s"] = round(time.perf_counter() - t0, 1)
        results["pairs"][pair.name] = rec
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1))
        found = {k: (rec[k]["top5_emb"], rec[k]["top5_llm"]) for k in ("contrast", "llm", "both", "final") if k in rec}
        print(f"{pair.name:12s} {pair.predicate:40s} {rec['wall_s']:6.1f}s {rec.get('error', '')} "
              f"top5 (emb, llm): {found}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-per-side", type=int, default=40)
    ap.add_argument("--pairs", default="all", help="comma-separated names like agnews/0, or 'all'")
    ap.add_argument("--llm-pairs", default="", help="pairs that also run the LLM configs (cascade, exhaustive)")
    ap.add_argument("--exhaustive-pairs", default="", help="pairs that also run the exhaustive LLM config")
    ap.add_argument("--candidates", type=int, default=15)
    ap.add_argument("--max-chars", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("bench/results/diff_gold.json"))
    ap.add_argument("--no-llm-match", action="store_true", help="leave LLM recovery matches to rejudge_recovery.py")
    ap.add_argument("--routes", action="store_true", help="today's defaults: each proposer route and the final pipeline")
    ap.add_argument("--no-llm-route", action="store_true", help="--routes without the LLM route (and so without both)")
    args = ap.parse_args()
    global LLM_MATCH
    LLM_MATCH = not args.no_llm_match

    settings = load_settings()
    backend = load_backend(settings)
    embedder = load_embedder(settings.home)
    pairs = gold_pairs(n_per_side=args.n_per_side, seed=args.seed, max_chars=args.max_chars)
    if args.pairs != "all":
        want = set(args.pairs.split(","))
        pairs = [p for p in pairs if p.name in want]
    llm_pairs = set(filter(None, args.llm_pairs.split(",")))
    exh_pairs = set(filter(None, args.exhaustive_pairs.split(",")))
    results = json.loads(args.out.read_text()) if args.out.exists() else {"pairs": {}}
    results["args"] = {k: str(v) for k, v in vars(args).items()}
    results["backend"], results["model"] = backend.name, backend.model
    if args.routes:
        run_routes(round_robin(pairs), backend, embedder, args, results)
        return
    base = dict(n_candidates=args.candidates, per_prompt=15, top_k=5, seed=args.seed, judge_max_chars=args.max_chars)
    for pair in pairs:
        rec = results["pairs"].get(pair.name, {"predicate": pair.predicate, "n_a": len(pair.a), "n_b": len(pair.b)})
        rec.pop("error", None)
        t0 = time.perf_counter()
        try:
            if "proposer" not in rec:
                res = run_diff(pair.a, pair.b, None, DiffConfig(verifier="proposer", **base), backend=backend,
                               embedder=embedder)
                rec["candidates"] = [c.hypothesis for c in res.candidates]
                rec["separability"] = res.separability.model_dump()
                rec["proposer"] = summarize(res, backend, embedder, pair.predicate)
            cands = rec["candidates"]
            if "embedding" not in rec:
                res = run_diff(pair.a, pair.b, None, DiffConfig(verifier="embedding", **base), backend=backend,
                               embedder=embedder, candidates=cands)
                rec["embedding"] = summarize(res, backend, embedder, pair.predicate)
            if pair.name in llm_pairs and "cascade" not in rec:
                res = run_diff(pair.a, pair.b, None, DiffConfig(verifier="cascade", ranker_keep=6, screen_batch=7,
                                                                **base),
                               backend=backend, embedder=embedder, candidates=cands)
                rec["cascade"] = summarize(res, backend, embedder, pair.predicate)
                rec["cascade"]["candidates"] = [c.model_dump() for c in res.candidates]
            if pair.name in exh_pairs and "exhaustive" not in rec:
                res = run_diff(pair.a, pair.b, None, DiffConfig(verifier="exhaustive", **base), backend=backend,
                               embedder=embedder, candidates=cands)
                rec["exhaustive"] = summarize(res, backend, embedder, pair.predicate)
        except Exception as exc:  # a degenerate pair (e.g. 3 positives) is recorded, not fatal
            rec["error"] = f"{type(exc).__name__}: {exc}"
        rec["wall_s"] = round(rec.get("wall_s", 0) + time.perf_counter() - t0, 1)
        results["pairs"][pair.name] = rec
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1))
        tops = {k: rec[k]["hypotheses"][0]["hypothesis"] for k in ("proposer", "embedding", "cascade", "exhaustive")
                if k in rec and rec[k]["hypotheses"]}
        print(f"{pair.name:12s} {pair.predicate:45s} {rec['wall_s']:7.1f}s {rec.get('error', '')} {tops}", flush=True)
    backend.close()


if __name__ == "__main__":
    main()
