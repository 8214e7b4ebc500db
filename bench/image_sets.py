"""Write the known-answer image-set pairs (VisDiffBench format) to a folder.

    python bench/image_sets.py --out DIR [--n 30] [--seed 0] [--sources synthetic,emoji,...] [--split dev|test]

Each pair goes to DIR/<source>/<name>/ (a/*.png, b/*.png, and a.jsonl / b.jsonl with the source's own
captions where it has them); DIR/pairs.jsonl lists one VisDiffBench row per pair, with "a" and "b" relative
to DIR and a "split" (dev or test, from split_dev_test). Nothing here is committed: regenerate at will.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from hypodisc.datasets.image_sets import SOURCES, all_pairs, split_dev_test, write_pair


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="folder to write the pairs and pairs.jsonl to")
    ap.add_argument("--n", type=int, default=30, help="images per set (default 30)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sources", default=",".join(SOURCES),
                    help=f"comma-separated subset of {','.join(SOURCES)} (default all)")
    ap.add_argument("--split", choices=("all", "dev", "test"), default="all", help="write only one half")
    args = ap.parse_args(argv)

    sources = [s.strip() for s in args.sources.split(",") if s.strip()]
    unknown = [s for s in sources if s not in SOURCES]
    if unknown:
        ap.error(f"unknown source(s) {unknown}; known: {', '.join(SOURCES)}")
    t0 = time.time()
    pairs = all_pairs(n_per_set=args.n, seed=args.seed, sources=sources)
    dev, _ = split_dev_test(pairs, seed=args.seed)
    dev_ids = {p.pair_id for p in dev}
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for p in pairs:
        split = "dev" if p.pair_id in dev_ids else "test"
        if args.split != "all" and split != args.split:
            continue
        folder = out / p.pair_id
        row = write_pair(p, folder)
        row["a"] = str(Path(row["a"]).relative_to(out))
        row["b"] = str(Path(row["b"]).relative_to(out))
        row["split"] = split
        row["n_a"], row["n_b"] = len(p.images_a), len(p.images_b)
        row["given_captions"] = p.captions_a is not None and p.captions_b is not None
        rows.append(row)
    (out / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

    w = max([len(r["pair_id"]) for r in rows] + [7])
    print(f"{'pair_id':<{w}}  {'diff':<6}  {'split':<5}  {'n':>7}  {'set1 / set2':<50}  gold")
    for r in rows:
        sets = f"{r['set1']} / {r['set2']}"
        print(f"{r['pair_id']:<{w}}  {r['difficulty']:<6}  {r['split']:<5}  {r['n_a']:>3}/{r['n_b']:<3}  "
              f"{sets:<50}  {r['difference']}")
    print(f"{len(rows)} pairs from {len({r['source'] for r in rows})} sources written to {out}/pairs.jsonl "
          f"in {time.time() - t0:.1f}s")
    return 0 if rows else 1


if __name__ == "__main__":
    sys.exit(main())
