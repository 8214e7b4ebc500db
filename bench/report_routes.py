"""Markdown tables for BENCHMARKS.md from a ``diff_gold.py --routes`` run and, optionally, a variant of it.

    .venv/bin/python bench/report_routes.py bench/results/diff_routes_form_views.json \\
        [--variant bench/results/diff_abstraction.json]

Only pairs whose record holds the contrast route's proposal count (``final`` then is the default pipeline
exactly); older records are listed apart. Recovery is top-5 by the strict embedding judge (cosine >= 0.6)
and by the LLM judge (P(yes) >= 0.7), as stored.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from recovery import FLAGS, mark


def _top(r: dict, k: int = 3) -> str:
    return "; ".join(f"{h['hypothesis']} ({e:.2f}/{m:.2f})"
                     for h, e, m in zip(r["hypotheses"][:k], r["emb_match"], r["llm_match"]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("routes", type=Path)
    ap.add_argument("--variant", type=Path)
    args = ap.parse_args()
    pairs = json.loads(args.routes.read_text())["pairs"]
    current = {n: p for n, p in pairs.items() if "final" in p and "proposal" in p["contrast"]}
    older = sorted(n for n, p in pairs.items() if n not in current and "final" in p)
    errors = {n: p["error"] for n, p in pairs.items() if "error" in p}
    n = len(current) + len(errors)  # a pair that failed is a miss
    print(f"Pairs measured on today's pipeline: {len(current)} (+ {len(errors)} failed, counted as misses)\n")
    print("| route | top-5 (emb) | top-5 (LLM) | top-1 (emb) | top-1 (LLM) | LLM calls / pair | wall s / pair |")
    print("|---|---|---|---|---|---|---|")
    for route in ("contrast", "final"):
        rows = [p[route] for p in current.values()]
        c = Counter(k for r in rows for k in FLAGS if r[k])
        calls = sum(r["cost"]["llm_calls"] for r in rows) / max(1, len(rows))
        wall = sum(p[route]["wall_s"] for p in current.values()) / max(1, len(rows))
        print(f"| {route} | {c['top5_emb']}/{n} | {c['top5_llm']}/{n} | {c['top1_emb']}/{n} | {c['top1_llm']}/{n} "
              f"| {calls:.0f} | {wall:.0f} |")
    by_ds: dict[str, list[dict]] = {}
    for name, p in current.items():
        by_ds.setdefault(name.split("/")[0], []).append(p["final"])
    print("\nFinal pipeline by dataset (top-5, emb / LLM): " + "; ".join(
        f"{ds} {sum(r['top5_emb'] for r in rs)}/{len(rs)} / {sum(r['top5_llm'] for r in rs)}/{len(rs)}"
        for ds, rs in sorted(by_ds.items())))
    print("\n| pair | gold | contrast | final | final top 3 (emb / LLM match) |")
    print("|---|---|---|---|---|")
    for name, p in current.items():
        print(f"| {name} | {p['predicate'].rstrip('.')} | {mark(p['contrast'])} | {mark(p['final'])} "
              f"| {_top(p['final'])} |")
    if older:
        print(f"\nMeasured before `final` resumed the proposal (not counted): {', '.join(older)}")
    if errors:
        print("\nFailed: " + "; ".join(f"{k}: {v}" for k, v in errors.items()))
    if args.variant:
        var = json.loads(args.variant.read_text())
        vp = {k: v for k, v in var["pairs"].items() if k in current}
        print(f"\nVariant {var['args'].get('set')} on {len(vp)} of these pairs (same proposals, same splits):\n")
        print("| pair | default (E/L) | variant (E/L) | new candidates | variant top 3 |")
        print("|---|---|---|---|---|")
        for name, r in vp.items():
            print(f"| {name} | {mark(current[name]['final'])} | {mark(r['variant'])} | "
                  f"{'; '.join(r['new_candidates']) or '-'} | {_top(r['variant'])} |")
        for key in ("top5_emb", "top5_llm"):
            d, v = sum(current[k]["final"][key] for k in vp), sum(r["variant"][key] for r in vp.values())
            print(f"\n{key}: default {d}/{len(vp)}, variant {v}/{len(vp)}", end="")
        print()


if __name__ == "__main__":
    main()
