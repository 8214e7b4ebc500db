"""Image-diff known-answer benchmark: Acc@1 / Acc@5 per source and difficulty, and the A/A control.

    python bench/image_diff.py run   --split test --captioner detectors --out bench/results/image_diff_test_detectors.json
    python bench/image_diff.py aa    --out bench/results/image_diff_aa.json
    python bench/image_diff.py judge bench/results/image_diff_test_detectors.json

``run`` generates the pairs (datasets/image_sets.py; nothing committed), runs each through the workflow
exactly as `hypodisc image-diff` does (the registry's runner, the default engines, the default config
but for the captioner), and saves the top 5 with their statistics and the time per job. ``judge``
scores each top-5 hypothesis against the gold with VisDiff's 0/1/2 rubric by two judges side by side:

* LLM: Qwen2.5-Coder-0.5B (not the 1.5B that proposed and ranked): P(yes) that the candidate names the
  same visual difference (2), else that it names a broader or narrower version of it (1); threshold 0.5;
* embedding: all-MiniLM-L6-v2 cosine of candidate (its leading verb dropped) and gold: >= 0.6 is 2,
  >= 0.45 is 1. These cut-offs were set before any image-diff output was read and are not calibrated on
  image pairs (the label-match calibration in BENCHMARKS.md is for feature labels).

Acc@1 = s1 / 2 and Acc@5 = max(s1..s5) / 2, as VisDiff. A hypothesis counts **strictly** only when the
pipeline itself calls it significant (q < 0.05, V > floor); the loose figure counts every top-5 row.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from hypodisc.config import load_settings
from hypodisc.datasets.image_sets import all_pairs, split_dev_test, write_pair
from hypodisc.workflows.engines import Engines
from hypodisc.workflows.registry import get_workflow

EMB_FULL, EMB_PARTIAL = 0.6, 0.45
LLM_THRESHOLD = 0.5
JUDGE_MODEL = "qwen2.5-coder-0.5b"

_SYSTEM = ("You compare two short descriptions of how one set of images differs from another. Answer with one "
           "word: Yes or No.")


def _same(gold: str, hyp: str) -> list[dict]:
    return [{"role": "system", "content": _SYSTEM},
            {"role": "user", "content": f"Reference difference: images show {gold}\nCandidate: images {hyp}\n"
                                        "Does the candidate describe the same visual concept as the reference?"}]


def _partial(gold: str, hyp: str) -> list[dict]:
    return [{"role": "system", "content": _SYSTEM},
            {"role": "user", "content": f"Reference difference: images show {gold}\nCandidate: images {hyp}\n"
                                        "Is the candidate a broader, narrower or closely related version of the "
                                        "reference concept?"}]


def _pairs(split: str, n: int, seed: int, sources: list[str] | None):
    pairs = all_pairs(n_per_set=n, seed=seed, sources=sources)
    dev, test = split_dev_test(pairs, seed=seed)
    return {"dev": dev, "test": test, "all": pairs}[split]


def _request(pair, folder: Path, captioner: str, config: dict) -> dict:
    from hypodisc.datasets.images import load_image_set, to_wire

    row = write_pair(pair, folder)
    sets = {}
    for side in ("a", "b"):
        index = folder / f"{side}.jsonl"
        sets[side] = to_wire(load_image_set(index if index.exists() else row[side]))
    return {"a": sets["a"], "b": sets["b"], "config": {"captioner": captioner, **config}}


def _summary(result) -> list[dict]:
    return [{"hypothesis": h.hypothesis, "validity": h.validity, "q_value": h.q_value, "auroc": h.auroc,
             "significant": h.significant, "scored_by": h.scored_by} for h in result.hypotheses[:5]]


def run(args) -> None:
    settings = load_settings()
    engines = Engines(settings)
    wf = get_workflow("image-diff")
    config = json.loads(args.config) if args.config else {}
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, pair in enumerate(_pairs(args.split, args.n, args.seed, args.sources)):
            if args.captioner == "given" and pair.captions_a is None:
                continue
            req = wf.parse(_request(pair, Path(tmp) / pair.pair_id, args.captioner, config))
            t0 = time.perf_counter()
            result = wf.run(req, engines)
            seconds = time.perf_counter() - t0
            records.append({"pair_id": pair.pair_id, "source": pair.source, "difficulty": pair.difficulty,
                            "difference": pair.difference, "seconds": round(seconds, 1), "top5": _summary(result),
                            "candidates": len(result.candidates), "warnings": result.warnings})
            print(f"[{k + 1}] {pair.pair_id} ({seconds:.0f}s): " + "; ".join(
                f"{h['hypothesis']}{'*' if h['significant'] else ''}" for h in records[-1]["top5"]), flush=True)
            _save(args.out, {"split": args.split, "captioner": args.captioner, "config": config, "n": args.n,
                             "seed": args.seed, "model": result.model, "pairs": records})
    engines.close()


def aa(args) -> None:
    """Two random halves of one set: how often is anything reported at q < 0.05?"""
    settings = load_settings()
    engines = Engines(settings)
    wf = get_workflow("image-diff")
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        for pair in _pairs("all", args.n * 2, args.seed, args.sources):
            if args.pairs and pair.pair_id not in args.pairs.split(","):
                continue
            req = _request(pair, Path(tmp) / pair.pair_id, args.captioner, {})
            rng = np.random.default_rng([args.seed, 7])
            perm = rng.permutation(len(req["a"]))
            half = len(perm) // 2
            req = {**req, "a": [req["a"][i] for i in perm[:half]], "b": [req["a"][i] for i in perm[half:]]}
            t0 = time.perf_counter()
            result = wf.run(wf.parse(req), engines)
            records.append({"pair_id": pair.pair_id, "set": pair.set1, "n_per_half": half,
                            "seconds": round(time.perf_counter() - t0, 1), "top5": _summary(result),
                            "any_significant": any(h.significant for h in result.hypotheses)})
            print(records[-1]["pair_id"], records[-1]["any_significant"], flush=True)
            _save(args.out, {"captioner": args.captioner, "n_per_half": args.n, "runs": records})
    engines.close()


def judge(args) -> None:
    from hypodisc.backends import load_backend
    from hypodisc.verifiers.embedding import load_embedder

    data = json.loads(Path(args.result).read_text())
    settings = load_settings(model=JUDGE_MODEL)
    llm = load_backend(settings)
    emb = load_embedder(settings.home)
    for rec in data["pairs"]:
        hyps = [h["hypothesis"] for h in rec["top5"]]
        gold = rec["difference"]
        bare = [" ".join(h.split()[1:]) if h.split()[0] in ("shows", "contains") else h for h in hyps]
        cos = (emb.encode(bare) @ emb.encode([gold])[0]).tolist() if hyps else []
        same = llm.yes_no_probs([_same(gold, h) for h in hyps]) if hyps else []
        part = llm.yes_no_probs([_partial(gold, h) for h in hyps]) if hyps else []
        for h, c, s, p in zip(rec["top5"], cos, same, part):
            h["emb_cos"], h["llm_same"], h["llm_partial"] = round(c, 3), round(s, 3), round(p, 3)
            h["emb_score"] = 2 if c >= EMB_FULL else 1 if c >= EMB_PARTIAL else 0
            h["llm_score"] = 2 if s >= LLM_THRESHOLD else 1 if p >= LLM_THRESHOLD else 0
    llm.close()
    if args.hand:
        hand = _hand_scores(args.hand)
        for rec in data["pairs"]:
            for rank, h in enumerate(rec["top5"], 1):
                if (rec["pair_id"], rank) in hand:
                    h["hand_score"] = hand[rec["pair_id"], rank]
    data["judges"] = {"llm": f"{JUDGE_MODEL} P(yes) >= {LLM_THRESHOLD}", "embedding": f"minilm >= {EMB_FULL} / {EMB_PARTIAL}"}
    data["summary"] = summarise(data["pairs"])
    _save(args.result, data)
    print(json.dumps(data["summary"], indent=1))


def _hand_scores(path: str) -> dict[tuple[str, int], int]:
    """(pair_id, rank) -> 0/1/2 from a hand-check JSONL ({pair_id, rank, hypothesis, gold, hand_score, note})."""
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    return {(r["pair_id"], int(r["rank"])): int(r["hand_score"]) for r in rows}


def acc(rec: dict, key: str, strict: bool) -> tuple[float, float]:
    """(Acc@1, Acc@5) of one pair by one judge; strict counts only significant rows."""
    s = [h.get(key, 0) if (h["significant"] or not strict) else 0 for h in rec["top5"]]
    return (s[0] / 2 if s else 0.0), (max(s) / 2 if s else 0.0)


def summarise(records: list[dict]) -> dict:
    out = {}
    groups: dict[str, list[dict]] = {}
    for r in records:
        groups.setdefault(f"{r['source']}/{r['difficulty']}", []).append(r)
        groups.setdefault(f"all/{r['difficulty']}", []).append(r)
        groups.setdefault("all", []).append(r)
    for name, recs in sorted(groups.items()):
        row = {"pairs": len(recs), "median_s": float(np.median([r["seconds"] for r in recs]))}
        for key in ("llm_score", "emb_score", "hand_score"):
            if not all(all(key in h for h in r["top5"]) for r in recs):
                continue
            for strict in (True, False):
                a1, a5 = zip(*(acc(r, key, strict) for r in recs))
                tag = f"{key.split('_')[0]}_{'strict' if strict else 'loose'}"
                row[tag] = [round(float(np.mean(a1)), 2), round(float(np.mean(a5)), 2)]
        out[name] = row
    return out


def _save(path, data) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(data, indent=1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("run", "aa"):
        p = sub.add_parser(name)
        p.add_argument("--out", required=True)
        p.add_argument("--captioner", default="detectors", choices=("detectors", "given"))
        p.add_argument("--n", type=int, default=30, help="images per set (aa: per half)")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--sources", type=lambda s: s.split(","), default=None)
        if name == "run":
            p.add_argument("--split", choices=("dev", "test", "all"), default="test")
            p.add_argument("--config", default="", help="ImageDiffConfig overrides as JSON")
        else:
            p.add_argument("--pairs", default="", help="comma-separated pair ids whose set A is halved")
    p = sub.add_parser("judge")
    p.add_argument("result")
    p.add_argument("--hand", default="", help="hand-check JSONL whose 0/1/2 scores join the two judges'")
    args = ap.parse_args()
    {"run": run, "aa": aa, "judge": judge}[args.cmd](args)


if __name__ == "__main__":
    main()
