"""Why HypotheSAEs' verification is blind with the default model: its annotation prompts against our judge's.

    .venv/bin/python bench/peer_annotation_probe.py --pairs agnews/0,dbpedia/0,bills/0 \\
        --out bench/results/peer_annotation_probe.json

Same model (the embedded default, through our llama.cpp backend, which applies the GGUF's chat template),
same texts (the first --texts of the pair's A and B texts, as ``bench/peer_hypothesaes.py`` and ``bench/diff_gold.py`` see them),
the gold predicate as the property. For each prompt: P(yes) on every text, the AUROC of P(yes) for A vs B
(how well it ranks), and the share of texts with P(yes) > 0.5 (what a greedy yes/no reply, which is what
hypothesaes parses, says "yes" to). HypotheSAEs' prompts are read from its installed package (the peer venv
that ``bench/peer_env.sh`` builds); nothing of it is imported or copied.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gold_pairs import gold_pairs  # noqa: E402

from hypodisc.backends import load_backend  # noqa: E402
from hypodisc.config import load_settings  # noqa: E402
from hypodisc.verifiers.llm_judge import judge_prompt  # noqa: E402
from hypodisc.workflows import DiffConfig  # noqa: E402

PROMPTS = "hypothesaes/prompts"


def peer_prompt(home: Path, name: str) -> str:
    """A prompt file of the hypothesaes that bench/peer_env.sh installed in $HYPODISC_HOME/peer-venv."""
    found = sorted((home / "peer-venv").glob(f"lib/python*/site-packages/{PROMPTS}/{name}.txt"))
    if not found:
        sys.exit(f"hypothesaes' {name}.txt not found under {home / 'peer-venv'}: run bash bench/peer_env.sh")
    return found[0].read_text()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", default="agnews/0,dbpedia/0,bills/0")
    ap.add_argument("--n-per-side", type=int, default=40)
    ap.add_argument("--texts", type=int, default=20, help="texts per side probed")
    ap.add_argument("--out", type=Path, default=Path("bench/results/peer_annotation_probe.json"))
    args = ap.parse_args()
    settings = load_settings()
    backend = load_backend(settings)
    wanted = args.pairs.split(",")
    pairs = [p for p in gold_pairs(n_per_side=args.n_per_side, seed=0, max_chars=400,
                                   datasets=sorted({w.split("/")[0] for w in wanted})) if p.name in wanted]
    templates = {name: peer_prompt(settings.home, name) for name in ("annotate", "annotate-simple")}
    rows = []
    for pair in pairs:
        texts = pair.a[: args.texts] + pair.b[: args.texts]
        labels = np.r_[np.ones(len(pair.a[: args.texts])), np.zeros(len(pair.b[: args.texts]))]
        prop = pair.predicate.rstrip(".")
        chats = {f"hypothesaes {name}": [[{"role": "user", "content": t.format(hypothesis=prop, text=x)}]
                                         for x in texts] for name, t in templates.items()}
        order = DiffConfig().judge_order  # the layout the default pipeline judges with
        chats[f"hypodisc judge ({order})"] = [judge_prompt(prop, x, order) for x in texts]
        for name, prompts in chats.items():
            p = np.asarray(backend.yes_no_probs(prompts))
            row = {"pair": pair.name, "predicate": prop, "prompt": name, "auroc": round(float(roc_auc_score(labels, p)), 3),
                   "yes_share_a": round(float((p[labels == 1] > 0.5).mean()), 3),
                   "yes_share_b": round(float((p[labels == 0] > 0.5).mean()), 3),
                   "mean_p_a": round(float(p[labels == 1].mean()), 3), "mean_p_b": round(float(p[labels == 0].mean()), 3)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    args.out.write_text(json.dumps({"model": backend.model, "texts_per_side": args.texts, "rows": rows}, indent=1) + "\n")
    print("\n| pair | prompt | AUROC | P(yes) > 0.5 on A | on B | mean P(yes) A / B |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['pair']} | {r['prompt']} | {r['auroc']:.2f} | {r['yes_share_a']:.0%} | {r['yes_share_b']:.0%} | "
              f"{r['mean_p_a']:.2f} / {r['mean_p_b']:.2f} |")


if __name__ == "__main__":
    main()
