"""Known-answer feature labels: planted WordNet / position / grammar token features and nlparam text features,
explained by today's and the new explainer, scored by the same scorers on the same held-out examples.

    # the new explainer (the workflow's defaults) on the dev half, then on the test half
    python bench/label_known.py run --split dev --out bench/results/label_known_dev.json
    python bench/label_known.py run --split test --out bench/results/label_known_test.json
    # the explainer as it was before (bench/explainer_2026_11.py), scored by today's scorers
    python bench/label_known.py run --split test --explainer 2026-11 --out bench/results/label_known_test_old.json
    # five-example versions of the same features (cross-fitted)
    python bench/label_known.py run --split test --few 5 --out bench/results/label_known_test_few.json
    # recovery by both judges (bench/label_recovery.py), written into each run file, and the tables
    python bench/label_known.py judge bench/results/label_known_test.json bench/results/label_known_test_old.json

Each record keeps the explanation, its candidates, the scores with CIs, the controls and the seconds the
feature took. Recovery (does the explanation name the gold?) is judged afterwards by bench/label_recovery.py,
so no judge's verdict can feed back into a run. The dev/test split is datasets.known_features' fixed one.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from hypodisc.backends.llamacpp import LlamaCppBackend
from hypodisc.backends.model_store import ModelStore
from hypodisc.config import load_settings
from hypodisc.datasets.known_features import FAMILIES, few_examples, known_features
from hypodisc.verifiers.embedding import load_embedder
from hypodisc.workflows.label_features import label_features
from hypodisc.workflows.label_models import LabelConfig

from baseline import old_explanations

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def _log(stage: str, done: int, total: int) -> None:
    print(f"  {stage}: {done}/{total}  ({time.strftime('%H:%M:%S')})", file=sys.stderr, flush=True)


def cmd_run(args) -> None:
    feats = [f for f in known_features(SHARED, args.families.split(","), seed=args.seed)
             if f.split == args.split and (not args.ids or f.feature_id in args.ids.split(","))][: args.limit]
    if args.few:
        feats = [type(f)(few_examples(f.record, args.few, args.few, seed=args.seed), f.gold, f.family, f.split)
                 for f in feats]
    home = load_settings().home
    backend = LlamaCppBackend(ModelStore(home).resolve(args.model), n_ctx=4096, model_name=args.model,
                              n_threads=args.threads)
    embedder = load_embedder(home)
    cfg = LabelConfig(**json.loads(args.config)) if args.config else LabelConfig()
    done = json.loads(args.out.read_text()) if args.out.exists() else {"features": []}
    have = {r["feature_id"] for r in done["features"]}
    for f in feats:
        if f.record.feature_id in have:
            continue
        t0 = time.perf_counter()
        given = old_explanations(backend, [f.record], cfg) if args.explainer == "2026-11" else None
        res = label_features([f.record], cfg, backend=backend, embedder=embedder, explanations=given,
                             progress=_log)
        lab = res.features[0]
        borrowed = None  # one feature per run has no other feature to borrow from: controls come from the set
        done["features"].append({
            "feature_id": lab.feature_id, "family": f.family, "split": f.split, "gold": f.gold,
            "explanation": lab.explanation, "mode": lab.split.mode,
            "candidates": [c.model_dump() for c in lab.candidates],
            "scores": {k: {"score": v.score, "ci_low": v.ci_low, "ci_high": v.ci_high} for k, v in lab.scores.items()},
            "borrowed": borrowed, "seconds": round(time.perf_counter() - t0, 1),
            "judgments": res.cost.total.judgments, "prompt_tokens": res.cost.total.prompt_tokens})
        done["bench"] = {"explainer": args.explainer, "config": cfg.model_dump(mode="json"), "model": args.model,
                         "machine": f"{os.cpu_count()} cores", "few": args.few, "seed": args.seed}
        args.out.write_text(json.dumps(done, indent=1))
        print(f"{lab.feature_id}: {lab.explanation!r} ({f.gold}) {done['features'][-1]['seconds']} s", flush=True)


def _judges(no_llm: bool):
    sys.path.insert(0, str(ROOT / "bench"))
    import label_recovery as lr

    return lr, lr.load_embedding_judge(), None if no_llm else lr.load_llm_judge()


def cmd_judge(args) -> None:
    """Recovery of each run's explanations by both judges, written beside the run and summarised per family."""
    lr, emb, llm = _judges(args.no_llm)
    for path in args.runs:
        data = json.loads(path.read_text())
        for r in data["features"]:
            verdict = lr.judge(r["gold"], [r["explanation"] or ""], emb_judge=emb, llm_judge=llm)[0]
            r["recovery"] = {k: (float(v) if not isinstance(v, bool) else v) for k, v in verdict.items()}
        path.write_text(json.dumps(data, indent=1))
        print(f"\n{path.name} ({data['bench']['explainer']} explainer, few={data['bench']['few']})")
        print(table(data["features"]))


def table(rows: list[dict]) -> str:
    """Per family: features, and the share whose explanation each judge (and both) counts as naming the gold."""
    fams = sorted({r["family"] for r in rows}) + ["all"]
    out = ["| family | n | embedding judge | LLM judge (0.5B) | both | median s |", "|---|---|---|---|---|---|"]
    for fam in fams:
        rs = [r for r in rows if fam in ("all", r["family"])]
        if not rs:
            continue
        emb = sum(r["recovery"]["emb_match"] for r in rs)
        llm = sum(r["recovery"].get("llm_match", False) for r in rs)
        both = sum(r["recovery"]["emb_match"] and r["recovery"].get("llm_match", False) for r in rs)
        secs = sorted(r["seconds"] for r in rs)[len(rs) // 2]
        out.append(f"| {fam} | {len(rs)} | {emb}/{len(rs)} ({emb / len(rs):.0%}) | {llm}/{len(rs)} "
                   f"({llm / len(rs):.0%}) | {both}/{len(rs)} ({both / len(rs):.0%}) | {secs:.0f} |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run")
    run.add_argument("--split", choices=["dev", "test"], required=True)
    run.add_argument("--families", default=",".join(FAMILIES))
    run.add_argument("--explainer", choices=["new", "2026-11"], default="new")
    run.add_argument("--few", type=int, default=0, help="keep only N firing and N silent examples per feature")
    run.add_argument("--limit", type=int, default=None)
    run.add_argument("--ids", default="", help="only these feature ids (comma-separated)")
    run.add_argument("--config", default="", help="LabelConfig fields as JSON (default: the workflow's defaults)")
    run.add_argument("--model", default="qwen2.5-coder-1.5b")
    run.add_argument("--threads", type=int, default=None)
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--out", type=Path, required=True)
    jd = sub.add_parser("judge", help="judge recovery of the runs' explanations and print the tables")
    jd.add_argument("runs", type=Path, nargs="+")
    jd.add_argument("--no-llm", action="store_true")
    args = ap.parse_args()
    {"run": cmd_run, "judge": cmd_judge}[args.cmd](args)


if __name__ == "__main__":
    main()
