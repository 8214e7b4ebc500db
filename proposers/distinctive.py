"""The parts of texts that set one group apart: distinctive sentences and distinctive words.

Form differences (a question appended, a negating remark, a sarcastic aside, a first-person opener) are one
sentence or one word in a text whose other sentences carry its topic. A whole-text embedding sees the topic,
and a small model shown whole texts names the topic. Split into sentences, the added ones stand out: an A
sentence that resembles sentences of other A texts much more than any sentence of B is what A's texts share
beyond their topics. Shown only those sentences, a small model can name the form.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?|[?!]")


def sentences(text: str) -> list[str]:
    """A text's sentences (split after . ! or ? and a space), whitespace normalised."""
    return [s for s in _SENTENCE_END.split(" ".join(text.split())) if s]


def _top_mean_per_text(sim: np.ndarray, doc: np.ndarray, k: int, exclude: np.ndarray | None = None) -> np.ndarray:
    """Per row: its best match in each text (column group), then the mean of the k best texts. Counting texts,
    not sentences, means a sentence must echo several texts: two reports of one event do not make a pattern."""
    texts = np.unique(doc)
    best = np.stack([sim[:, doc == t].max(axis=1) for t in texts], axis=1)
    if exclude is not None:  # a sentence's own text is no evidence for it
        best[exclude[:, None] == texts[None, :]] = -np.inf
    kk = min(k, max(1, best.shape[1] - (exclude is not None)))
    top = np.sort(best, axis=1)[:, -kk:]
    top[~np.isfinite(top)] = 0.0
    return top.mean(axis=1)


def _contrast_scores(own: np.ndarray, own_doc: np.ndarray, other: np.ndarray, other_doc: np.ndarray,
                     k: int) -> np.ndarray:
    """Per sentence: closeness to the k other texts of its own group it resembles most, minus closeness to
    the k texts of the other group it resembles most. High = shared within the group, absent from the other."""
    return (_top_mean_per_text(own @ own.T, own_doc, k, exclude=own_doc)
            - _top_mean_per_text(own @ other.T, other_doc, k))


def distinctive_sentences(a: Sequence[str], b: Sequence[str], encode: Callable[[list[str]], np.ndarray],
                          shown: int = 6, k: int = 3) -> tuple[list[str], list[str]]:
    """The sentences most distinctive of A (shared across A's texts, unlike every sentence of B), and B's
    most distinctive sentences against A; each distinct sentence once, only those scoring above zero."""
    sa = [(d, s) for d, t in enumerate(a) for s in sentences(t)]
    sb = [(d, s) for d, t in enumerate(b) for s in sentences(t)]
    if len(sa) < 2 or len(sb) < 2:
        return [], []
    ea, eb = encode([s for _, s in sa]), encode([s for _, s in sb])
    da, db = np.array([d for d, _ in sa]), np.array([d for d, _ in sb])
    score_a, score_b = _contrast_scores(ea, da, eb, db, k), _contrast_scores(eb, db, ea, da, k)

    def best(items: list[tuple[int, str]], score: np.ndarray) -> list[str]:
        out: list[str] = []
        for i in np.argsort(-score, kind="stable"):
            s = items[i][1]
            if score[i] <= 0 or len(out) == shown:
                break
            if s not in out:
                out.append(s)
        return out

    return best(sa, score_a), best(sb, score_b)


@dataclass(frozen=True)
class WordGap:
    word: str        # its most common written form in A
    in_a: int        # texts of A that use it
    in_b: int        # texts of B that use it


def distinctive_words(a: Sequence[str], b: Sequence[str], top: int = 5, min_gap: float = 0.5,
                      min_count: int = 3) -> list[WordGap]:
    """Words (and ? or !) in many more of A's texts than of B's, by share of texts. Empty when nothing clears
    ``min_gap`` (share in A minus share in B)."""
    if not a or not b:
        return []

    def texts_with(texts: Sequence[str]) -> Counter:
        """How many texts use each word (lower-cased)."""
        return Counter(w for t in texts for w in {x.lower() for x in _WORD.findall(t)})

    count_a, count_b = texts_with(a), texts_with(b)
    forms = Counter(w for t in a for w in _WORD.findall(t))  # A's spellings, to show a word as A writes it
    gaps = {w: c / len(a) - count_b[w] / len(b) for w, c in count_a.items() if c >= min_count}
    chosen = sorted((w for w, g in gaps.items() if g >= min_gap), key=lambda w: (-gaps[w], w))[:top]
    written = {}
    for form, n in forms.most_common():
        written.setdefault(form.lower(), form)
    return [WordGap(written[w], count_a[w], count_b[w]) for w in chosen]


_MARK_HYPOTHESES = {"?": "contains a question mark", "!": "contains an exclamation mark"}


def literal_hypothesis(w: WordGap) -> str:
    """The word itself as a hypothesis ('uses the word "I"'): exact, checkable, and often the whole story
    of a difference in form, which the small model's free reading of the same counts can miss."""
    return _MARK_HYPOTHESES.get(w.word, f'uses the word "{w.word}"')
