"""HypotheSAEs beside hypodisc on the same gold pairs: both ranked lists scored by the same recovery judges.

    .venv/bin/python bench/peer_recovery.py bench/results/peer_hypothesaes_*.json \\
        --ours bench/results/peer_ours.json --out bench/results/peer_recovery.json

Each peer file is a ``bench/peer_hypothesaes.py`` run; ``--ours`` is a ``bench/diff_gold.py --routes`` run on the
same pairs (the same texts: seed 0, clipped to 400 characters). HypotheSAEs' hypotheses are taken in the order
it ends with (its held-out evaluation table, by separation score) and judged here exactly as ours were: the
strict embedding judge (MiniLM cosine with the gold >= 0.6) and the default model's LLM judge (P(yes) >= 0.7),
top-1 and top-5. Prints a markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from recovery import FLAGS, emb_matches, llm_matches, mark, recovered  # noqa: E402

from hypodisc.backends import load_backend  # noqa: E402
from hypodisc.config import load_settings  # noqa: E402
from hypodisc.verifiers.embedding import load_embedder  # noqa: E402


def peer_significant(rec: dict) -> str:
    """HypotheSAEs' own verdict: its evaluation reports [significant, tested, Bonferroni threshold]."""
    sig = (rec.get("eval_metrics") or {}).get("Significant")
    return f"{sig[0]} of {sig[1]} (Bonferroni)" if isinstance(sig, list) and len(sig) >= 2 else "not evaluated"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("peer", type=Path, nargs="+")
    ap.add_argument("--ours", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=Path("bench/results/peer_recovery.json"))
    args = ap.parse_args()

    settings = load_settings()
    backend, embedder = load_backend(settings), load_embedder(settings.home)
    ours = json.loads(args.ours.read_text())["pairs"]
    rows = []
    for path in args.peer:
        run = json.loads(path.read_text())
        for rec in run["pairs"]:
            hyps = [h for h in rec.get("ranked_hypotheses", []) if h]
            gold = rec.get("predicate") or ours.get(rec["pair"], {}).get("predicate", "")
            e, m = emb_matches(embedder, gold, hyps), llm_matches(backend, gold, hyps)
            mine_rec = ours.get(rec["pair"], {})
            mine = mine_rec.get("final")
            rows.append({
                "pair": rec["pair"], "gold": gold, "peer_file": str(path),
                "peer": {"hypotheses": hyps, "emb_match": [round(x, 3) for x in e],
                         "llm_match": [round(x, 3) for x in m],
                         **recovered(e, m),
                         "wall_s": rec.get("wall_s"), "llm": rec.get("llm"), "significant": peer_significant(rec),
                         "eval_metrics": rec.get("eval_metrics"), "errors": rec.get("errors"),
                         "evaluated": [{k: v for k, v in r.items() if k in ("hypothesis", "separation_score",
                                                                            "separation_pvalue", "regression_coef",
                                                                            "regression_pval")}
                                       for r in rec.get("evaluated", [])]},
                "ours": None if mine is None else {
                    "hypotheses": [h["hypothesis"] for h in mine["hypotheses"]],
                    "q": [h.get("q_value") for h in mine["hypotheses"]],
                    "significant": f"{sum(bool(h.get('significant')) for h in mine['hypotheses'])} of "
                                   f"{len(mine['hypotheses'])} shown (BH q < 0.05)",
                    "emb_match": mine["emb_match"], "llm_match": mine["llm_match"],
                    **{k: mine[k] for k in FLAGS},
                    # proposing (the contrast route's run) + verifying (the resumed default pipeline)
                    "wall_s": mine.get("wall_s"),
                    "llm_calls": mine_rec["contrast"]["cost"]["llm_calls"] + mine["cost"]["llm_calls"]},
            })
    args.out.write_text(json.dumps({"rows": rows}, indent=1) + "\n")

    def top(r: dict) -> str:
        return (f"{r['hypotheses'][0]} ({r['emb_match'][0]:.2f}/{r['llm_match'][0]:.2f})" if r["hypotheses"]
                else "—")

    print("| pair | gold | tool | top hypothesis (emb / LLM match) | top-5 (E strict, L LLM) | significant | wall s | LLM calls |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        p = r["peer"]
        llm = p.get("llm") or {}
        print(f"| {r['pair']} | {r['gold']} | HypotheSAEs | {top(p)} | {mark(p)} | {p['significant']} | {p['wall_s']} | "
              f"{llm.get('calls', '?')} |")
        o = r["ours"]
        if o:
            print(f"| {r['pair']} | {r['gold']} | hypodisc | {top(o)} | {mark(o)} | {o['significant']} | {o['wall_s']} | "
                  f"{o['llm_calls']} |")
    n = len(rows)
    for tool in ("peer", "ours"):
        got = [r[tool] for r in rows if r[tool]]
        print(f"{tool}: top-5 strict {sum(g['top5_emb'] for g in got)}/{n}, LLM {sum(g['top5_llm'] for g in got)}/{n}; "
              f"top-1 strict {sum(g['top1_emb'] for g in got)}/{n}, LLM {sum(g['top1_llm'] for g in got)}/{n}")


if __name__ == "__main__":
    main()
