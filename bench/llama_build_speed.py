"""Portable vs native llama.cpp builds, side by side in one run on the same host.

    python bench/llama_build_speed.py                       # finds both wheels in $HYPODISC_HOME/wheels
    python bench/llama_build_speed.py --rounds 3 --model qwen2.5-coder-1.5b

The portable wheel (scripts/llama_wheel.py's default) and a native one (HYPODISC_LLAMA_NATIVE=1, built
with ``python3 scripts/llama_wheel.py --cache-dir $HYPODISC_HOME/wheels --native``) are each unpacked into
a private folder; every measurement runs in a fresh child process that imports llama_cpp from that
folder. Rounds alternate portable, native, portable, native... so both see the same machine state.
Measured per round: prefill tokens/s (one 384-token eval), decode tokens/s (64 greedy tokens), and
seconds per yes/no judgment (16 judge prompts through LlamaCppBackend, prefix reuse on).
Results go to bench/results/llama_build_speed.json and a markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"

CHILD = r"""
import json, os, sys, time
import llama_cpp
from hypodisc.backends.llamacpp import LlamaCppBackend
from hypodisc.datasets import demo_pair
from hypodisc.verifiers.llm_judge import judge_prompt

model = sys.argv[1]
threads = int(sys.argv[2])
out = {"llama_cpp_file": llama_cpp.__file__}
llm = llama_cpp.Llama(model_path=model, n_ctx=1024, n_batch=512, n_threads=threads, verbose=False)
a, b = demo_pair()
text = " ".join(a)[:6000].encode()
tokens = llm.tokenize(text, add_bos=True)[:384]
t0 = time.perf_counter(); llm.eval(tokens); dt = time.perf_counter() - t0
out["prefill_tok_s"] = len(tokens) / dt
llm.reset()
t0 = time.perf_counter()
res = llm.create_completion(prompt="Write a paragraph about the sea:", max_tokens=64, temperature=0.0)
dt = time.perf_counter() - t0
out["decode_tok_s"] = res["usage"]["completion_tokens"] / dt
llm.close()
backend = LlamaCppBackend(model, n_ctx=2048, n_threads=threads)
prompts = [judge_prompt("is about technology.", t) for t in (a[:8] + b[:8])]
t0 = time.perf_counter(); backend.yes_no_probs(prompts); dt = time.perf_counter() - t0
out["s_per_judgment"] = dt / len(prompts)
backend.close()
print(json.dumps(out))
"""


def find_wheel(home: Path, native: bool) -> Path:
    cmd = [sys.executable, str(REPO / "scripts" / "llama_wheel.py"), "--cache-dir", str(home / "wheels"), "--dry-run"]
    res = subprocess.run(cmd + (["--native"] if native else []), capture_output=True, text=True, check=True)
    word, _, path = res.stdout.strip().partition(" ")
    if word != "reuse":
        kind = "native (HYPODISC_LLAMA_NATIVE=1)" if native else "portable"
        sys.exit(f"no cached {kind} wheel in {home / 'wheels'}: build it with "
                 f"python3 scripts/llama_wheel.py --cache-dir {home / 'wheels'}{' --native' if native else ''}")
    return Path(path)


def unpack(wheel: Path, dest: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps",
                    "--no-compile", "--target", str(dest), str(wheel)], check=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="qwen2.5-coder-1.5b")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--out", type=Path, default=RESULTS / "llama_build_speed.json")
    a = p.parse_args()

    from hypodisc.backends.llamacpp_probe import cpu_flags
    from hypodisc.backends.model_store import ModelStore
    from hypodisc.config import load_settings

    home = load_settings().home
    model = ModelStore(home).resolve(a.model)
    wheels = {"portable": find_wheel(home, native=False), "native": find_wheel(home, native=True)}
    runs: dict[str, list[dict]] = {k: [] for k in wheels}
    with tempfile.TemporaryDirectory() as tmp:
        dirs = {}
        for kind, wheel in wheels.items():
            dirs[kind] = Path(tmp) / kind
            unpack(wheel, dirs[kind])
        for r in range(a.rounds):
            for kind in wheels:
                env = dict(os.environ, PYTHONPATH=str(dirs[kind]))
                res = subprocess.run([sys.executable, "-c", CHILD, str(model), str(a.threads)], capture_output=True,
                                     text=True, env=env, cwd="/tmp")
                if res.returncode != 0:
                    sys.exit(f"{kind} round {r} failed ({res.returncode}): {res.stderr[-2000:]}")
                row = json.loads(res.stdout.strip().splitlines()[-1])
                assert row["llama_cpp_file"].startswith(str(dirs[kind])), row["llama_cpp_file"]
                runs[kind].append(row)
                print(f"round {r} {kind}: {row}", file=sys.stderr, flush=True)

    metrics = ("prefill_tok_s", "decode_tok_s", "s_per_judgment")
    summary = {kind: {m: statistics.median(x[m] for x in rows) for m in metrics} for kind, rows in runs.items()}
    ratio = {m: summary["portable"][m] / summary["native"][m] for m in metrics}
    flags = set(cpu_flags().split())
    result = {"model": a.model, "rounds": a.rounds, "threads": a.threads, "cpu": platform.processor(),
              "has_avx512f": "avx512f" in flags, "has_amx_tile": "amx_tile" in flags,
              "wheels": {k: str(v) for k, v in wheels.items()}, "runs": runs, "median": summary,
              "portable_over_native": ratio}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=1))
    print("| build | prefill tok/s | decode tok/s | s per yes/no judgment |\n|---|---|---|---|")
    for kind in wheels:
        s = summary[kind]
        print(f"| {kind} | {s['prefill_tok_s']:.1f} | {s['decode_tok_s']:.1f} | {s['s_per_judgment']:.2f} |")
    print(f"| portable / native | {ratio['prefill_tok_s']:.2f} | {ratio['decode_tok_s']:.2f} | "
          f"{ratio['s_per_judgment']:.2f} |")


if __name__ == "__main__":
    main()
