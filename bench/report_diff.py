"""Markdown tables for BENCHMARKS.md from bench/results/diff_gold.json.

    .venv/bin/python bench/report_diff.py
    .venv/bin/python bench/report_diff.py bench/results/diff_routes.json   # diff_gold.py --routes
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from recovery import EMB_THRESHOLD, LLM_THRESHOLD  # noqa: E402

CONFIGS = ("proposer", "embedding", "exhaustive", "cascade",
           "contrast", "llm", "both", "final")  # the last four: diff_gold.py --routes
ALL_PAIRS = {"proposer", "embedding", "contrast", "llm", "both", "final"}  # run on every pair: failures are misses


def hits(r: dict, key: str, thr: float) -> tuple[bool, bool]:
    m = r[key]
    return bool(m and m[0] >= thr), any(x >= thr for x in m[:5])


def main(path: str = "bench/results/diff_gold.json", emb_thr: float = EMB_THRESHOLD, llm_thr: float = LLM_THRESHOLD) -> None:
    pairs = json.loads(Path(path).read_text())["pairs"]
    for p in pairs.values():
        for cfg in CONFIGS:
            if cfg in p:
                r = p[cfg]
                r["top1_emb"], r["top5_emb"] = hits(r, "emb_match", emb_thr)
                r["top1_llm"], r["top5_llm"] = hits(r, "llm_match", llm_thr)
    print(f"Recovery thresholds: embedding cosine >= {emb_thr}, LLM match P(yes) >= {llm_thr}\n")
    print("| config | pairs | top-1 (emb) | top-5 (emb) | top-1 (LLM) | top-5 (LLM) | judgments/pair | wall s/pair |")
    print("|---|---|---|---|---|---|---|---|")
    for cfg in CONFIGS:
        rows = [p[cfg] for p in pairs.values() if cfg in p]
        if not rows:
            continue
        # pairs that failed (too few texts, no usable proposal) count as misses for the all-pairs configs
        n = len(pairs) if cfg in ALL_PAIRS else len(rows)
        frac = lambda k: f"{sum(r[k] for r in rows)}/{n}"  # noqa: E731
        judg = sum(r["cost"]["judgments"] for r in rows) / len(rows)
        wall = sum(r["cost"]["wall_s"] for r in rows) / len(rows)
        print(f"| {cfg} | {n} | {frac('top1_emb')} | {frac('top5_emb')} | {frac('top1_llm')} | {frac('top5_llm')} "
              f"| {judg:.0f} | {wall:.0f} |")
    # the same comparison restricted to pairs where the LLM configs ran
    llm_pairs = [name for name, p in pairs.items() if "cascade" in p or "exhaustive" in p]
    if llm_pairs:
        print(f"\nPairs with LLM configs: {', '.join(llm_pairs)}\n")
        print("| pair | gold | config | top-5 hypotheses (emb match / LLM match) | judgments | wall s |")
        print("|---|---|---|---|---|---|")
        for name in llm_pairs:
            p = pairs[name]
            for cfg in CONFIGS:
                if cfg not in p:
                    continue
                r = p[cfg]
                hyps = "; ".join(f"{h['hypothesis']} ({e:.2f}/{m:.2f})" for h, e, m in
                                 zip(r["hypotheses"], r["emb_match"], r["llm_match"]))
                print(f"| {name} | {p['predicate']} | {cfg} | {hyps} | {r['cost']['judgments']} | {r['cost']['wall_s']:.0f} |")
    errors = {n: p["error"] for n, p in pairs.items() if "error" in p}
    if errors:
        print("\nErrors: " + "; ".join(f"{n}: {e}" for n, e in errors.items()))
    print("\nPer pair (top-1 of each config):\n")
    print("| pair | gold | sep. AUROC | proposer top-1 | embedding top-1 |")
    print("|---|---|---|---|---|")
    for name, p in pairs.items():
        if "proposer" not in p:
            continue
        t = lambda c: p[c]["hypotheses"][0]["hypothesis"] if c in p and p[c]["hypotheses"] else "-"  # noqa: E731
        print(f"| {name} | {p['predicate']} | {p['separability']['cv_auroc']:.2f} | {t('proposer')} | {t('embedding')} |")


if __name__ == "__main__":
    args = sys.argv[1:]
    main(*(args[:1]), *(float(x) for x in args[1:]))
