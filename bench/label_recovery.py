"""Does a feature explanation recover the gold concept? Two judges, calibrated on hand-labelled pairs.

The feature-labelling benchmark asks whether a written explanation of a feature ("words for animals
such as dog and horse") names its known gold concept ("animals"). Golds come in four families:
WordNet categories, positional rules ('the word right after "of"'), grammar ("past-tense verbs")
and text-level predicates ("has a topic of sports.").

Rubric (the labels in bench/data/label_match_pairs.jsonl and the LLM judge's system prompt):

* MATCH: the explanation names the gold concept, a synonym of it, or the concept with extra correct
  context: "the word 'red' and other colour words" matches "colours"; "'like' introducing a simile"
  matches "the word 'like' in comparisons"; "mentions bands, albums or concerts" matches "is about music.".
* NOT a match:
  - a different concept, near misses included ("months of the year" for "days of the week"; the
    trigger word itself, 'the word "with"', for 'the word right after "with"');
  - a much narrower member or a single example word: "the word 'red'" does not match "colours",
    "dogs" does not match "animals", "mentions garlic" does not match "has a topic of cooking.";
  - a much broader class: "nouns" does not match "animals", "news" does not match "has a topic of sports.";
  - a generic answer: "common words", "punctuation", "is formal in tone".

The pairs use golds that are not the benchmark's own (datasets/known_features.py: kitchen utensils,
spices, card games, conjunctions, reflexive pronouns, the word right after "with", texts about
astronomy, chess or medical research, ...), so the thresholds are not tuned on the reported features.
Pairs marked ``"prompt_dev": 1`` chose the LLM judge's wording; the calibration reports the others apart.

Judges:

* ``EmbeddingJudge``: cosine(all-MiniLM-L6-v2) of explanation and gold >= a threshold, calibrated to
  the best balanced accuracy on the pairs (``bench/recovery.py``'s ``emb_matches``);
* ``LLMJudge``: P(yes) from a *different* model than the explainer (the explainer is
  Qwen2.5-Coder-1.5B; the judge is Qwen2.5-Coder-0.5B) that the explanation names the gold concept,
  rubric in the system prompt and worked turns on concepts disjoint from the pairs and the benchmark.
  Threshold 0.5 unless calibration on the pairs beats it out of sample.

Accuracies are reported on the pairs themselves and cross-validated (leave one pair out, and leave
one gold out: a gold's pairs never help choose the threshold they are scored with).

Calibrated on 158 pairs (71 matches, 32 golds; bench/results/label_match_calibration.json), balanced
accuracy on the pairs / leave-one-gold-out: embedding >= 0.570: 0.761 / 0.748 (AUROC 0.81); 0.5B judge
>= 0.599: 0.786 / 0.786 (AUROC 0.85; at 0.5 it says yes to nearly everything: 0.672, TNR 0.34); both
judges together (``match_both``): 0.809, 5 false matches in 87 non-matches.

    .venv/bin/python bench/label_recovery.py calibrate --out bench/results/label_match_calibration.json
    .venv/bin/python bench/label_recovery.py judge "spices" "names of spices like cumin" "the word 'cumin'"
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from recovery import emb_matches  # noqa: E402

from hypodisc.backends.base import Chat  # noqa: E402

PAIRS = Path(__file__).resolve().parent / "data" / "label_match_pairs.jsonl"
CALIBRATION = Path(__file__).resolve().parent / "results" / "label_match_calibration.json"
EXPLAINER_MODEL = "qwen2.5-coder-1.5b"
JUDGE_MODEL = "qwen2.5-coder-0.5b"

#: The LLM judge's threshold unless calibration beats it out of sample.
LLM_PRIOR = 0.5
#: Calibrated on the pairs (bench/results/label_match_calibration.json; ``load_thresholds`` reads that file,
#: ``calibrate`` recomputes): MiniLM cosine, and qwen2.5-coder-0.5b's P(yes) with this prompt, which is
#: yes-biased at 0.5 (TPR 1.00 but TNR 0.34 there).
EMB_THRESHOLD = 0.5696
LLM_THRESHOLD = 0.5991
#: the LLM judge keeps 0.5 unless a calibrated threshold wins by this much out of sample
LLM_MIN_GAIN = 0.02


# --------------------------------------------------------------------------------------------- pairs


def load_pairs(path: Path = PAIRS) -> list[dict]:
    """The labelled pairs: {"gold", "explanation", "match": 0|1, "why"[, "prompt_dev": 1]} per line."""
    pairs = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    for i, p in enumerate(pairs):
        if set(p) < {"gold", "explanation", "match"} or p["match"] not in (0, 1):
            raise ValueError(f"{path}:{i + 1}: need gold, explanation and match 0/1, got {p}")
    return pairs


# ------------------------------------------------------------------------------------ threshold maths


def confusion(scores, labels, threshold: float) -> dict[str, int]:
    s, y = np.asarray(scores, float), np.asarray(labels, int)
    pred = s >= threshold
    return {"tp": int(np.sum(pred & (y == 1))), "fp": int(np.sum(pred & (y == 0))),
            "tn": int(np.sum(~pred & (y == 0))), "fn": int(np.sum(~pred & (y == 1)))}


def _rates(c: dict[str, int]) -> dict[str, float]:
    pos, neg, n = c["tp"] + c["fn"], c["tn"] + c["fp"], sum(c.values())
    tpr = c["tp"] / pos if pos else 0.0
    tnr = c["tn"] / neg if neg else 0.0
    return {"balanced_accuracy": (tpr + tnr) / 2, "accuracy": (c["tp"] + c["tn"]) / n if n else 0.0,
            "tpr": tpr, "tnr": tnr}


def balanced_accuracy(scores, labels, threshold: float) -> float:
    return _rates(confusion(scores, labels, threshold))["balanced_accuracy"]


def auroc(scores, labels) -> float:
    """P(a match scores above a non-match), ties half: how well the scores rank, whatever the threshold."""
    s, y = np.asarray(scores, float), np.asarray(labels, int)
    pos, neg = s[y == 1], s[y == 0]
    if not len(pos) or not len(neg):
        return float("nan")
    return float(np.mean((pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])))


def best_threshold(scores, labels) -> tuple[float, float]:
    """(threshold, balanced accuracy): the cut (midway between adjacent scores) with the best balanced
    accuracy; among equally good cuts, the middle one."""
    s = np.unique(np.asarray(scores, float))
    cuts = np.concatenate([[s[0] - 1e-6], (s[:-1] + s[1:]) / 2, [s[-1] + 1e-6]])
    accs = np.array([balanced_accuracy(scores, labels, t) for t in cuts])
    best = np.flatnonzero(accs >= accs.max() - 1e-12)
    t = float(cuts[best[len(best) // 2]])
    return t, float(accs.max())


def cross_validated(scores, labels, groups=None) -> dict:
    """Out-of-sample predictions: each pair is predicted with the threshold fitted on the other pairs
    (``groups`` given: on the pairs of the other groups). Returns the pooled rates and confusion."""
    s, y = np.asarray(scores, float), np.asarray(labels, int)
    g = np.arange(len(s)) if groups is None else np.asarray(groups)
    pred = np.zeros(len(s), bool)
    thresholds = []
    for key in dict.fromkeys(g.tolist()):
        test = g == key
        t, _ = best_threshold(s[~test], y[~test])
        thresholds.append(t)
        pred[test] = s[test] >= t
    c = {"tp": int(np.sum(pred & (y == 1))), "fp": int(np.sum(pred & (y == 0))),
         "tn": int(np.sum(~pred & (y == 0))), "fn": int(np.sum(~pred & (y == 1)))}
    return {**_rates(c), "confusion": c, "folds": len(thresholds),
            "threshold_range": [round(min(thresholds), 4), round(max(thresholds), 4)]}


def _report(scores, labels, groups, threshold: float) -> dict:
    c = confusion(scores, labels, threshold)
    return {"threshold": round(threshold, 4), **{k: round(v, 4) for k, v in _rates(c).items()},
            "auroc": round(auroc(scores, labels), 4), "confusion": c,
            "cv_leave_one_out": _round(cross_validated(scores, labels)),
            "cv_leave_one_gold_out": _round(cross_validated(scores, labels, groups))}


def _round(d: dict) -> dict:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in d.items()}


def _by_gold(pairs: list[dict], score_fn) -> list[float]:
    """Score pairs one gold at a time (one batch per gold), in the pairs' order."""
    out = [0.0] * len(pairs)
    groups: dict[str, list[int]] = {}
    for i, p in enumerate(pairs):
        groups.setdefault(p["gold"], []).append(i)
    for gold, idx in groups.items():
        for i, v in zip(idx, score_fn(gold, [pairs[i]["explanation"] for i in idx])):
            out[i] = float(v)
    return out


# --------------------------------------------------------------------------------------------- judges


class EmbeddingJudge:
    """cosine(MiniLM) of explanation and gold (trailing full stop dropped) >= threshold."""

    def __init__(self, embedder, threshold: float = EMB_THRESHOLD):
        self.embedder, self.threshold = embedder, threshold

    def scores(self, gold: str, explanations: list[str]) -> list[float]:
        return emb_matches(self.embedder, gold, list(explanations))

    def score_pairs(self, pairs: list[dict]) -> list[float]:
        return _by_gold(pairs, self.scores)

    def calibrate(self, pairs: list[dict], scores: list[float] | None = None) -> dict:
        """Set the threshold with the best balanced accuracy on the pairs; return the report
        (accuracy on the pairs and cross-validated)."""
        scores = self.score_pairs(pairs) if scores is None else scores
        labels, groups = [p["match"] for p in pairs], [p["gold"] for p in pairs]
        self.threshold, _ = best_threshold(scores, labels)
        return _report(scores, labels, groups, self.threshold)


#: The LLM judge's system prompt: the rubric above, in short.
SYSTEM = (
    "You check whether an explanation of a language-model feature names a reference concept.\n"
    "Answer Yes when the explanation names the concept, a synonym of it, or the concept with extra correct "
    "detail or examples.\n"
    "Answer No when the explanation names a different concept, only one example word or a much narrower part "
    "of the concept, a much broader class, or something generic that fits almost anything.\n"
    "Answer with one word: Yes or No."
)

#: Worked turns, on concepts disjoint from bench/data/label_match_pairs.jsonl and the benchmark's golds.
SHOTS = [
    ("gemstones", "precious stones such as ruby, emerald and sapphire", "Yes"),
    ("gemstones", "the word 'diamond'", "No"),
    ("question words", "interrogative words like who, what and where", "Yes"),
    ("question words", "function words", "No"),
    ('the word right before "for"', 'the token that comes just before "for"', "Yes"),
    ('the word right before "for"', 'the word "for"', "No"),
    ("geometric shapes", "the word 'circle' and other shape names", "Yes"),
    ("geometric shapes", "common words", "No"),
    ("is about fishing.", "describes catching fish with rods, bait or nets", "Yes"),
    ("is about fishing.", "is about the outdoors", "No"),
]


def _turn(gold: str, explanation: str) -> str:
    # Explanation first, and the question says "neither narrower nor broader": of four wordings tried on
    # 39 pairs (26 of them still in the file, marked prompt_dev), this one ranked them best (AUROC 0.87
    # vs 0.74-0.83) and was the least yes-biased; the calibration reports the other pairs separately.
    return (f"Explanation: {explanation}\nConcept: {gold.rstrip('.')}\n"
            "Does the explanation name this concept, neither narrower nor broader?")


class LLMJudge:
    """P(yes) that the explanation names the gold concept, from a judge model other than the explainer."""

    def __init__(self, backend, threshold: float = LLM_THRESHOLD):
        self.backend, self.threshold = backend, threshold

    @staticmethod
    def prompt(gold: str, explanation: str) -> Chat:
        chat = [{"role": "system", "content": SYSTEM}]
        for g, e, answer in SHOTS:
            chat += [{"role": "user", "content": _turn(g, e)}, {"role": "assistant", "content": answer}]
        return chat + [{"role": "user", "content": _turn(gold, explanation)}]

    def scores(self, gold: str, explanations: list[str]) -> list[float]:
        return self.backend.yes_no_probs([self.prompt(gold, e) for e in explanations]) if explanations else []

    def score_pairs(self, pairs: list[dict]) -> list[float]:
        return _by_gold(pairs, self.scores)

    def calibrate(self, pairs: list[dict], scores: list[float] | None = None) -> dict:
        """Keep LLM_PRIOR (0.5) unless the best threshold on the pairs beats it out of sample (leave one gold out)
        by at least LLM_MIN_GAIN balanced accuracy; then store that threshold. Returns the report,
        with the fixed-0.5 figures beside it."""
        scores = self.score_pairs(pairs) if scores is None else scores
        labels, groups = [p["match"] for p in pairs], [p["gold"] for p in pairs]
        fixed = _rates(confusion(scores, labels, LLM_PRIOR))["balanced_accuracy"]
        tuned, _ = best_threshold(scores, labels)
        cv = cross_validated(scores, labels, groups)["balanced_accuracy"]
        adopt = cv >= fixed + LLM_MIN_GAIN
        self.threshold = tuned if adopt else LLM_PRIOR
        rep = _report(scores, labels, groups, self.threshold)
        at_half = confusion(scores, labels, LLM_PRIOR)
        rep["at_0.5"] = {**_round(_rates(at_half)), "confusion": at_half}
        rep["best_threshold_on_pairs"] = round(tuned, 4)
        rep["calibrated_threshold_adopted"] = bool(adopt)
        return rep


def judge(gold: str, explanations: list[str], *, emb_judge: EmbeddingJudge,
          llm_judge: LLMJudge | None = None) -> list[dict]:
    """Per explanation: {emb, emb_match, llm, llm_match} (llm fields None without an LLM judge)."""
    emb = emb_judge.scores(gold, explanations)
    llm = llm_judge.scores(gold, explanations) if llm_judge is not None else [None] * len(explanations)
    return [{"emb": round(float(e), 4), "emb_match": bool(e >= emb_judge.threshold),
             "llm": None if p is None else round(float(p), 4),
             "llm_match": None if p is None else bool(p >= llm_judge.threshold)}
            for e, p in zip(emb, llm)]


def match_both(row: dict) -> bool:
    """Both judges say the explanation recovers the gold (False when the LLM judge did not run)."""
    return bool(row["emb_match"]) and bool(row["llm_match"])


def combined(rows: list[dict]) -> dict:
    """Both judges together on scored pairs (rows with match, emb_match, llm_match): "both" requires
    both to say match (match_both), "either" one of them."""
    labels = [r["match"] for r in rows]
    out = {}
    for name, fn in (("both", match_both), ("either", lambda r: bool(r["emb_match"]) or bool(r["llm_match"]))):
        c = confusion([float(fn(r)) for r in rows], labels, 0.5)
        out[name] = {**_round(_rates(c)), "confusion": c}
    return out


def load_thresholds(path: Path = CALIBRATION) -> dict[str, float]:
    """{"emb": t, "llm": t} from a calibration result file, else the module defaults."""
    if not Path(path).exists():
        return {"emb": EMB_THRESHOLD, "llm": LLM_THRESHOLD}
    data = json.loads(Path(path).read_text())
    return {"emb": data["embedding"]["threshold"],
            "llm": data["llm"]["threshold"] if data.get("llm") else LLM_THRESHOLD}


# ----------------------------------------------------------------------------------------------- CLI


def _home() -> Path:
    from hypodisc.config import load_settings

    return load_settings().home


def load_embedding_judge(threshold: float | None = None) -> EmbeddingJudge:
    from hypodisc.verifiers.embedding import load_embedder

    return EmbeddingJudge(load_embedder(_home()), EMB_THRESHOLD if threshold is None else threshold)


def load_llm_judge(model: str = JUDGE_MODEL, threshold: float | None = None,
                   n_threads: int | None = None) -> LLMJudge:
    from hypodisc.backends.llamacpp import LlamaCppBackend
    from hypodisc.backends.model_store import ModelStore

    if model == EXPLAINER_MODEL:
        raise SystemExit(f"error: the judge must not be the explainer ({EXPLAINER_MODEL})")
    backend = LlamaCppBackend(ModelStore(_home()).resolve(model), n_ctx=2048, model_name=model, n_threads=n_threads)
    return LLMJudge(backend, LLM_THRESHOLD if threshold is None else threshold)


def _rel(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path(__file__).resolve().parents[1]))
    except ValueError:
        return str(path)


def _row(name: str, r: dict) -> str:
    c = r["confusion"]
    return (f"{name:<10} {r['threshold']:>6.3f} {r['balanced_accuracy']:>6.3f} {r['accuracy']:>6.3f} "
            f"{r['cv_leave_one_out']['balanced_accuracy']:>7.3f} "
            f"{r['cv_leave_one_gold_out']['balanced_accuracy']:>7.3f}"
            f" {r['auroc']:>6.3f}   {c['tp']:>3} {c['fp']:>3} {c['tn']:>3} {c['fn']:>3}")


def cmd_calibrate(args) -> None:
    pairs = load_pairs(args.pairs)
    if args.limit:
        pairs = pairs[:args.limit]
    labels = [p["match"] for p in pairs]
    out: dict = {"pairs_file": _rel(args.pairs), "n_pairs": len(pairs), "n_match": sum(labels),
                 "n_nonmatch": len(pairs) - sum(labels), "n_golds": len({p["gold"] for p in pairs}),
                 "embedder": "all-MiniLM-L6-v2", "judge_model": None, "explainer_model": EXPLAINER_MODEL}
    t0 = time.perf_counter()
    emb_judge = load_embedding_judge()
    emb = emb_judge.score_pairs(pairs)
    out["embedding"] = emb_judge.calibrate(pairs, emb)
    out["embedding"]["seconds"] = round(time.perf_counter() - t0, 1)
    llm = [None] * len(pairs)
    out["llm"] = None
    if not args.no_llm:
        t0 = time.perf_counter()
        llm_judge = load_llm_judge(args.model, n_threads=args.threads)
        out["judge_model"] = args.model
        llm = llm_judge.score_pairs(pairs)
        out["llm"] = llm_judge.calibrate(pairs, llm)
        out["llm"]["seconds"] = round(time.perf_counter() - t0, 1)
        rest = [i for i, p in enumerate(pairs) if not p.get("prompt_dev")]
        rest_llm, rest_y = [llm[i] for i in rest], [labels[i] for i in rest]
        out["llm"]["excluding_prompt_dev"] = {
            "n_pairs": len(rest), "note": "pairs not marked prompt_dev (those chose the prompt wording)",
            **_report(rest_llm, rest_y, [pairs[i]["gold"] for i in rest], llm_judge.threshold),
            "at_0.5": _round(_rates(confusion(rest_llm, rest_y, LLM_PRIOR)))}
        out["llm"]["system_prompt"] = SYSTEM
        out["llm"]["shots"] = [list(s) for s in SHOTS]
        t_llm = llm_judge.threshold
    t_emb = emb_judge.threshold
    out["thresholds"] = {"emb": out["embedding"]["threshold"], "llm": out["llm"]["threshold"] if out["llm"] else None}
    out["pairs"] = [{**p, "emb": round(e, 4), "emb_match": int(e >= t_emb),
                     **({"llm": round(q, 4), "llm_match": int(q >= t_llm)} if q is not None else {})}
                    for p, e, q in zip(pairs, emb, llm)]
    if out["llm"]:
        out["combined"] = combined(out["pairs"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")

    print(f"{len(pairs)} pairs ({sum(labels)} match, {len(pairs) - sum(labels)} not), {out['n_golds']} golds")
    print(f"{'judge':<10} {'thr':>6} {'bacc':>6} {'acc':>6} {'cv-loo':>7} {'cv-gold':>7} {'auroc':>6}   "
          f"{'tp':>3} {'fp':>3} {'tn':>3} {'fn':>3}")
    print(_row("embedding", out["embedding"]))
    if out["llm"]:
        print(_row("llm", out["llm"]))
        h = out["llm"]["at_0.5"]
        print(f"{'llm@0.5':<10} {0.5:>6.3f} {h['balanced_accuracy']:>6.3f} {h['accuracy']:>6.3f}"
              f"   (calibrated threshold adopted: {out['llm']['calibrated_threshold_adopted']})")
        for name, r in out["combined"].items():
            c = r["confusion"]
            print(f"{name:<10} {'':>6} {r['balanced_accuracy']:>6.3f} {r['accuracy']:>6.3f}   {'':>7} {'':>7} {'':>6}"
                  f"   {c['tp']:>3} {c['fp']:>3} {c['tn']:>3} {c['fn']:>3}")
    for key in ("emb", "llm"):
        wrong = [p for p in out["pairs"] if f"{key}_match" in p and p[f"{key}_match"] != p["match"]]
        print(f"\n{key} errors ({len(wrong)}):")
        for p in wrong:
            print(f"  {'FN' if p['match'] else 'FP'} {p[key]:.3f}  {p['gold']!r} <- {p['explanation']!r}  [{p['why']}]")
    print(f"\nwrote {args.out}")


def cmd_judge(args) -> None:
    t = load_thresholds(args.calibration)
    emb_judge = load_embedding_judge(t["emb"])
    llm_judge = None if args.no_llm else load_llm_judge(args.model, t["llm"], args.threads)
    if llm_judge is not None and args.model != JUDGE_MODEL:
        print(f"note: the calibrated LLM threshold {t['llm']} is for {JUDGE_MODEL}", file=sys.stderr)
    rows = judge(args.gold, args.explanations, emb_judge=emb_judge, llm_judge=llm_judge)
    for expl, row in zip(args.explanations, rows):
        print(json.dumps({"explanation": expl, **row, "match_both": match_both(row)}))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("calibrate", help="run both judges on the labelled pairs; write thresholds and accuracies")
    c.add_argument("--pairs", type=Path, default=PAIRS)
    c.add_argument("--out", type=Path, default=CALIBRATION)
    c.add_argument("--limit", type=int, default=0, help="first N pairs only (0: all)")
    c.add_argument("--no-llm", action="store_true", help="embedding judge only")
    c.add_argument("--model", default=JUDGE_MODEL, help="LLM judge model (not the explainer)")
    c.add_argument("--threads", type=int, default=None)
    c.set_defaults(fn=cmd_calibrate)
    j = sub.add_parser("judge", help="judge explanations against one gold with the calibrated thresholds")
    j.add_argument("gold")
    j.add_argument("explanations", nargs="+")
    j.add_argument("--calibration", type=Path, default=CALIBRATION)
    j.add_argument("--no-llm", action="store_true")
    j.add_argument("--model", default=JUDGE_MODEL)
    j.add_argument("--threads", type=int, default=None)
    j.set_defaults(fn=cmd_judge)
    args = ap.parse_args(argv)
    args.fn(args)


if __name__ == "__main__":
    main()
