"""Recompute the recovery matches of stored diff_gold results with the current judges (bench/recovery.py).

    .venv/bin/python bench/rejudge_recovery.py bench/results/diff_gold.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from recovery import emb_matches, llm_matches  # noqa: E402

from hypodisc.backends import load_backend  # noqa: E402
from hypodisc.config import load_settings  # noqa: E402
from hypodisc.verifiers.embedding import load_embedder  # noqa: E402

CONFIGS = ("proposer", "embedding", "exhaustive", "cascade")


def main(path: str) -> None:
    data = json.loads(Path(path).read_text())
    settings = load_settings()
    backend, embedder = load_backend(settings), load_embedder(settings.home)
    for name, p in data["pairs"].items():
        for cfg in CONFIGS:
            if cfg in p:
                hyps = [h["hypothesis"] for h in p[cfg]["hypotheses"]]
                p[cfg]["llm_match"] = [round(x, 3) for x in llm_matches(backend, p["predicate"], hyps)]
                p[cfg]["emb_match"] = [round(x, 3) for x in emb_matches(embedder, p["predicate"], hyps)]
        print(name, {c: p[c]["llm_match"] for c in CONFIGS if c in p}, flush=True)
    data["recovery_judge"] = "bench/recovery.py (few-shot LLM match; MiniLM cosine)"
    Path(path).write_text(json.dumps(data, indent=1))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "bench/results/diff_gold.json")
