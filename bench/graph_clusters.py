"""Graph-clusters known-answer benchmark: subject-verb agreement (and the capitals task's accuracy).

    python bench/graph_clusters.py accuracy --model smollm2-135m --out bench/results/graph_accuracy_smollm2.json
    python bench/graph_clusters.py run --model smollm2-135m --split dev --n 40 --out bench/results/graph_sva_dev_smollm2.json
    python bench/graph_clusters.py number bench/results/graph_sva_*.result.json --out bench/results/graph_sva_number.json
    python bench/graph_clusters.py run --task capitals --model qwen2.5-coder-1.5b --split dev --n 12 --out bench/results/graph_capitals_dev_qwen15b.json

``accuracy`` measures the model on the tasks before anything is traced: SVA (all 120 prompts of
``transluce_circuits_sva_simple_test.jsonl``; correct = the right verb form's logit above the wrong
one's) and capitals in two forms (two-hop "the state containing {city}" and one-hop "the capital of
{state}"; correct = the capital's first token is the top next token after "Answer:").

``run --task capitals`` does the same with the one-hop capitals prompts (the form the 1.5B model gets
right; SmolLM2 gets neither form), the target being the capital's first token against the mean logit; it
has no known-answer rule, only the table and a hand check.

``run`` splits the SVA prompts 50/50 by a fixed seed (dev, test; nothing is tuned on either in this
commit: the workflow runs at its defaults but for the tracer), keeps the first ``n`` of the split that
the model gets right, and runs the graph-clusters workflow exactly as the CLI does (the registry's
runner, the default engines: the embedded 1.5B model describes). It saves the result and a summary:
graph completeness, k, each cluster's description with held-out simulation and detection scores
beside the other-cluster and random-set controls, ablation effects beside a random set, and whether a
cluster **names grammatical number** (its description matches ``NUMBER_WORDS``; printed for a hand
check) **and** its ablation removes at least half of the logit difference.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "autointerp"
SVA = DATA / "transluce_circuits_sva_simple_test.jsonl"
CAPITALS = DATA / "adag_capitals_case_study_dataset.json"
NUMBER_WORDS = re.compile(r"\b(singular|plural|plurality|number|agreement|agree|count(?:able)?|multiple)\b", re.I)
SEED = 0


def sva_rows() -> list[dict]:
    return [json.loads(line) for line in SVA.read_text().splitlines() if line.strip()]


def split(rows: list, seed: int = SEED) -> tuple[list, list]:
    order = np.random.default_rng(seed).permutation(len(rows))
    half = len(rows) // 2
    return [rows[i] for i in sorted(order[:half])], [rows[i] for i in sorted(order[half:])]


def _first_id(tokenizer, text: str) -> int:
    return tokenizer(text, add_special_tokens=False)["input_ids"][0]


def _logits(tm, prompt: str):
    from hypodisc.datasets.graph_tracing import next_token_logits

    return next_token_logits(tm.model, tm.tokenizer, prompt)


def sva_correct(tm, row: dict) -> bool:
    logits = _logits(tm, row["clean_prefix"])
    return bool(logits[_first_id(tm.tokenizer, row["clean_answer"])] > logits[_first_id(tm.tokenizer, row["patch_answer"])])


CAPITAL_FORMS = {"two-hop": "What is the capital of the state containing {city}?\nAnswer:",
                 "one-hop": "What is the capital of {state}?\nAnswer:"}


def capital_items() -> list[dict]:
    return json.loads(CAPITALS.read_text())["items"]


def capital_correct(tm, template: str, item: dict) -> bool:
    """The capital's first token is the top next token after the prompt."""
    return int(_logits(tm, template.format(**item)).argmax()) == _first_id(tm.tokenizer, " " + item["capital"])


def task_prompts(tm, task: str, split_name: str) -> tuple[list[dict], int, int]:
    """(prompts the model gets right in this half, rows in the half, how many it gets right). SVA: target the
    right verb form against the wrong one; capitals (one-hop): the capital's first token against the mean."""
    if task == "sva":
        dev, test = split(sva_rows())
        rows = dev if split_name == "dev" else test
        good = [r for r in rows if sva_correct(tm, r)]
        return ([{"prompt": r["clean_prefix"], "target": r["clean_answer"], "contrast": r["patch_answer"]}
                 for r in good], len(rows), len(good))
    dev, test = split(capital_items())
    rows = dev if split_name == "dev" else test
    template = CAPITAL_FORMS["one-hop"]
    good = [it for it in rows if capital_correct(tm, template, it)]
    return ([{"prompt": template.format(**it),
              "target": tm.tokenizer.decode([_first_id(tm.tokenizer, " " + it["capital"])])} for it in good],
            len(rows), len(good))


def accuracy(args) -> None:
    from hypodisc.config import load_settings
    from hypodisc.datasets.graph_tracing import load_tracing_model

    tm = load_tracing_model(args.model, load_settings().home)
    rows = sva_rows()
    sva = [sva_correct(tm, r) for r in rows]
    forms = CAPITAL_FORMS
    cap_acc = {}
    for name, template in forms.items():
        hits = [capital_correct(tm, template, it) for it in capital_items()]
        cap_acc[name] = {"correct": int(sum(hits)), "n": len(hits), "accuracy": round(float(np.mean(hits)), 3)}
    out = {"model": args.model, "sva": {"correct": int(sum(sva)), "n": len(sva), "accuracy": round(float(np.mean(sva)), 3),
                                       "by_case": {c: round(float(np.mean([s for s, r in zip(sva, rows) if r["case"] == c])), 3)
                                                   for c in sorted({r["case"] for r in rows})}},
           "capitals": cap_acc, "capitals_template": forms}
    Path(args.out).write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))


def run(args) -> None:
    from hypodisc.config import load_settings
    from hypodisc.workflows.engines import Engines
    from hypodisc.workflows.graph_models import GraphClustersRequest
    from hypodisc.workflows.registry import get_workflow

    settings = load_settings()
    engines = Engines(settings)
    tm, _ = engines.get("tracer").get(args.model)
    correct, n_rows, n_correct = task_prompts(tm, args.task, args.split)
    prompts = chosen = correct[: args.n]
    config = {"tracer_model": args.model, "max_nodes": args.max_nodes}
    req = GraphClustersRequest.model_validate({"prompts": prompts, "config": config})
    workflow = get_workflow("graph-clusters")
    t0 = time.perf_counter()
    result = workflow.run(req, engines, progress=lambda s, d, t: print(f"  {s} {d}/{t}", flush=True))
    wall = time.perf_counter() - t0
    stage = {s.stage: s.wall_s for s in result.cost.stages}
    clusters = []
    for c in result.clusters:
        d = c.description
        row = {"cluster": c.cluster_id, "neurons": len(c.neurons), "layers": c.layers, "label": c.label,
               "reads": [t.token for t in c.inputs[:4]], "promotes": [t.token for t in c.promoted[:4]],
               "names_number": bool(NUMBER_WORDS.search(c.label or "")) if args.task == "sva" else None,
               "candidates": [x.text for x in d.candidates] if d else []}
        for scorer in ("simulation", "detection"):
            if d and scorer in d.scores:
                s = d.scores[scorer]
                b = d.controls.borrowed.scores.get(scorer) if d.controls.borrowed else None
                r = c.random_control.get(scorer)
                row[scorer] = {"score": round(s.score, 3), "ci": [round(s.ci_low, 3), round(s.ci_high, 3)],
                               "other_cluster": None if b is None else round(b.score, 3),
                               "random_set": None if r is None else round(r.score, 3)}
            elif d:
                row[scorer] = {"skipped": d.skipped.get(scorer, "not run")}
        if c.causal:
            row["ablation"] = {"removed_share": c.causal.removed_share, "random_removed_share": c.causal.random_removed_share,
                               "flips": c.causal.flips_ablated, "steered_change": c.causal.steered_change,
                               "flips_steered": c.causal.flips_steered}
        row["number_cluster"] = bool(row["names_number"] and c.causal and c.causal.removed_share >= 0.5)
        clusters.append(row)
    done = [g.completeness for g in result.graphs if g.completeness is not None]
    summary = {
        "model": args.model, "task": args.task, "split": args.split, "seed": SEED, "split_prompts": n_rows,
        "model_correct": n_correct, "task_accuracy": round(n_correct / n_rows, 3), "traced": len(chosen), "max_nodes": args.max_nodes,
        "describer": result.describer_model, "completeness_median": round(float(np.median(done)), 3) if done else None,
        "k": result.clustering.k, "silhouette": result.clustering.silhouettes[result.clustering.k],
        "p_partition": result.clustering.p_partition, "p_null": result.clustering.p_null,
        "structured": result.clustering.structured, "neurons": result.clustering.neurons,
        "seconds_per_graph": round(stage.get("trace", 0.0) / max(len(chosen), 1), 1),
        "seconds_per_cluster_described": round(stage.get("describe", 0.0) / max(2 * len(result.clusters), 1), 1),
        "seconds_per_cluster_intervened": round(stage.get("intervene", 0.0) / max(len(result.clusters), 1), 1),
        "wall_s": round(wall, 1),
        "found_number_cluster": any(c["number_cluster"] for c in clusters) if args.task == "sva" else None,
        "clusters": clusters, "warnings": result.warnings}
    Path(args.out).write_text(json.dumps(summary, indent=1))
    Path(args.out).with_suffix(".result.json").write_text(result.model_dump_json())
    print(json.dumps({k: v for k, v in summary.items() if k != "clusters"}, indent=1))
    for c in clusters:
        print(json.dumps(c))


def number(args) -> None:
    """Is a cluster about grammatical number, whatever its description says? Per cluster of a saved result:
    how many of its firing and of its silent prompts have a plural subject (the SVA rows' ``case``), with
    Fisher's exact test. Reads only the saved result; changes nothing."""
    from scipy.stats import fisher_exact

    from hypodisc.datasets.graph_features import cluster_records
    from hypodisc.datasets.graph_json import read_graph
    from hypodisc.workflows.graph_models import GraphClustersResult

    case = {r["clean_prefix"]: r["case"] for r in sva_rows()}
    out = {}
    for path in args.results:
        res = GraphClustersResult.model_validate_json(Path(path).read_text())
        graphs = [read_graph(g) for g in res.graph_json]
        clusters = {c.cluster_id: [tuple(map(int, n.split("_"))) for n in c.neurons] for c in res.clusters}
        rows = []
        for rec, c in zip(cluster_records(graphs, clusters, fire_fraction=res.config.fire_fraction,
                                          fire_quantile=res.config.fire_quantile), res.clusters):
            fired = [case[e.text] == "plural" for e in rec.examples if e.max_activation > rec.threshold]
            silent = [case[e.text] == "plural" for e in rec.examples if e.max_activation <= rec.threshold]
            table = [[sum(fired), len(fired) - sum(fired)], [sum(silent), len(silent) - sum(silent)]]
            rows.append({"cluster": c.cluster_id, "label": c.label, "neurons": len(c.neurons),
                         "fired_plural": f"{sum(fired)}/{len(fired)}", "silent_plural": f"{sum(silent)}/{len(silent)}",
                         "fisher_p": float(f"{fisher_exact(table)[1]:.2g}"),
                         "removed_share": c.causal.removed_share if c.causal else None,
                         "random_removed_share": c.causal.random_removed_share if c.causal else None})
            print(path, json.dumps(rows[-1]))
        out[path] = rows
    Path(args.out).write_text(json.dumps(out, indent=1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("accuracy")
    a.add_argument("--model", default="smollm2-135m")
    a.add_argument("--out", required=True)
    r = sub.add_parser("run")
    r.add_argument("--model", default="smollm2-135m")
    r.add_argument("--task", choices=["sva", "capitals"], default="sva",
                   help="capitals: the one-hop prompts the model answers right, split 50/50 as SVA is")
    r.add_argument("--split", choices=["dev", "test"], required=True)
    r.add_argument("--n", type=int, default=40)
    r.add_argument("--max-nodes", type=int, default=60)
    r.add_argument("--out", required=True)
    n = sub.add_parser("number")
    n.add_argument("results", nargs="+", help="*.result.json files written by run")
    n.add_argument("--out", required=True)
    args = ap.parse_args()
    {"accuracy": accuracy, "run": run, "number": number}[args.cmd](args)


if __name__ == "__main__":
    main()
