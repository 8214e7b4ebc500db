"""llama.cpp flash attention on CPU: prefill speed of one long prompt, off and on, in one run.

    .venv/bin/python bench/flash_attn.py --tokens 430 --reps 2

Loads the default model twice per repetition (off, then on), decodes the first ``--tokens`` tokens of
README.md from an empty cache, and prints tokens per second. The backend keeps flash attention off by
default (BENCHMARKS.md, "Flash attention"): D3-size jobs, made of short texts over cached prefixes,
were no faster with it.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import llama_cpp

from hypodisc.backends import resolve_model_for
from hypodisc.config import load_settings


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=430)
    ap.add_argument("--reps", type=int, default=2)
    args = ap.parse_args()
    path = resolve_model_for(load_settings())[0]
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for rep in range(args.reps):
        for flash in (False, True):
            llm = llama_cpp.Llama(model_path=str(path), n_ctx=4096, n_threads=2, verbose=False, flash_attn=flash)
            tokens = llm.tokenize(text.encode())[: args.tokens]
            t0 = time.perf_counter()
            llm.eval(tokens)
            seconds = time.perf_counter() - t0
            print(f"rep {rep} flash_attn={flash}: {len(tokens) / seconds:.1f} tok/s prefill", flush=True)
            llm.close()


if __name__ == "__main__":
    main()
