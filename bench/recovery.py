"""Does a discovered hypothesis recover the gold predicate? Two judges, shown side by side.

* embedding: cosine(all-MiniLM) between hypothesis and gold predicate >= a threshold;
* LLM: the default model answers, after eight worked examples on unrelated topics,
  whether the hypothesis picks out the same kind of text as the gold predicate.
"""

from __future__ import annotations

from hypodisc.backends.base import Chat

EMB_THRESHOLD = 0.6
LLM_THRESHOLD = 0.7  # its probabilities are compressed (BENCHMARKS.md, Judge quality)


#: Few-shot turns (topics disjoint from every nlparam gold predicate) shared as one cached prefix.
_SHOTS = [
    ("has a topic of cooking", "describes a recipe or a dish", "Yes"),
    ("has a topic of cooking", "uses a friendly, informal tone", "No"),
    ("has a topic of music", "mentions a band, an album or a concert", "Yes"),
    ("has a topic of music", "mentions specific numbers and dates", "No"),
    ("has a topic of weather", "is about storms, rain or temperatures", "Yes"),
    ("has a topic of weather", "describes an event in a city", "No"),
    ("has a topic of medicine", "discusses doctors, patients or treatments", "Yes"),
    ("has a topic of medicine", "contains factual information and statistics", "No"),
]
_SYSTEM = ("You decide whether a candidate property picks out the same kind of text as a reference property: the same "
           "topic, or a clear part of it. Generic properties that would fit texts of any topic do not match. "
           "Answer with one word: Yes or No.")


def _turn(gold: str, hyp: str) -> str:
    return f"Reference: {gold.rstrip('.')}\nCandidate: {hyp}\nSame kind of text?"


def match_prompt(gold: str, hypothesis: str) -> Chat:
    chat = [{"role": "system", "content": _SYSTEM}]
    for g, h, answer in _SHOTS:
        chat += [{"role": "user", "content": _turn(g, h)}, {"role": "assistant", "content": answer}]
    return chat + [{"role": "user", "content": _turn(gold, hypothesis)}]


def llm_matches(backend, gold: str, hyps: list[str]) -> list[float]:
    return backend.yes_no_probs([match_prompt(gold, h) for h in hyps]) if hyps else []


def emb_matches(embedder, gold: str, hyps: list[str]) -> list[float]:
    if not hyps:
        return []
    g = embedder.encode([gold.rstrip(".")])
    h = embedder.encode(hyps)
    return (h @ g[0]).tolist()


#: the recovery flags every benchmark record carries
FLAGS = ("top1_emb", "top5_emb", "top1_llm", "top5_llm")


def recovered(emb: list[float], llm: list[float]) -> dict[str, bool]:
    """Is the gold among the first 1 / 5 hypotheses, by each judge? (An empty list recovers nothing.)"""
    return {"top1_emb": any(x >= EMB_THRESHOLD for x in emb[:1]), "top5_emb": any(x >= EMB_THRESHOLD for x in emb[:5]),
            "top1_llm": any(x >= LLM_THRESHOLD for x in llm[:1]), "top5_llm": any(x >= LLM_THRESHOLD for x in llm[:5])}


def mark(record: dict) -> str:
    """'EL', 'E-', '-L' or '--': top-5 recovery by the strict embedding judge and by the LLM judge."""
    return f"{'E' if record['top5_emb'] else '-'}{'L' if record['top5_llm'] else '-'}"
