"""The 39 gold one-vs-rest corpus pairs from nlparam (AGNews 4, DBpedia 14, Bills 21).

Corpus A = texts whose gold predicate holds, B = texts where it does not; both
sides are subsampled to the same size with a fixed seed, so every config and
every peer sees exactly the same texts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

NLPARAM = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "nlparam"
FILES = {"agnews": "data_cluster_agnews.json", "dbpedia": "data_cluster_dbpedia.json",
         "bills": "data_cluster_bills_2048.json"}


@dataclass
class GoldPair:
    name: str                 # e.g. "agnews/3"
    dataset: str
    predicate: str            # gold, e.g. "has a topic of sports."
    goal: str
    a: list[str]
    b: list[str]
    # per-text gold labels of the *other* predicates are not needed here
    all_predicates: list[str] = field(default_factory=list)


def load_nlparam(dataset: str) -> dict:
    path = (NLPARAM / FILES[dataset]).resolve()
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: the benchmark reads ../shared/data/nlparam")
    return json.loads(path.read_text())


def gold_pairs(n_per_side: int = 100, seed: int = 0, datasets=("agnews", "dbpedia", "bills"),
               max_chars: int | None = None) -> list[GoldPair]:
    pairs = []
    for ds in datasets:
        d = load_nlparam(ds)
        texts = d["texts"]
        den = np.asarray(d["reference_phi_denotation"], dtype=int)
        preds = d["reference_phi_predicate_strings"]
        for k, pred in enumerate(preds):
            rng = np.random.default_rng([seed, k, len(ds)])
            pos, neg = np.flatnonzero(den[:, k] == 1), np.flatnonzero(den[:, k] == 0)
            n = min(n_per_side, len(pos), len(neg))
            ia, ib = rng.choice(pos, n, replace=False), rng.choice(neg, n, replace=False)
            clip = (lambda t: t[:max_chars]) if max_chars else (lambda t: t)
            pairs.append(GoldPair(f"{ds}/{k}", ds, pred, d["goal"], [clip(texts[i]) for i in ia],
                                  [clip(texts[i]) for i in ib], list(preds)))
    return pairs


if __name__ == "__main__":
    for p in gold_pairs():
        print(p.name, len(p.a), len(p.b), p.predicate)
