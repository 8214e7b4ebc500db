"""What the explainer's views show besides the examples: counts of the marked tokens and their neighbours,
distinctive words of firing texts, and near-miss silent examples.

A 1.5B explainer shown ten marked examples names the first example's token ('the word "lamb"'); shown the
same evidence as counts ("'lamb' 2, 'wolf' 2, 'fox' 1 ...") it names the class. Near misses are the silent
examples that look most like the firing ones (TF-IDF cosine), so the contrast isolates what the feature
needs rather than the topic of the corpus.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hypodisc.datasets.feature_records import ActivationExample
from hypodisc.proposers.distinctive import WordGap, distinctive_words


@dataclass(frozen=True)
class TokenCounts:
    """How many examples mark each token, and which tokens stand right before and after a marked one."""

    marked: list[tuple[str, int]]
    before: list[tuple[str, int]]
    after: list[tuple[str, int]]
    examples: int


def _word(token: str) -> str:
    """A token as counted: without spaces, lower case ('The' and 'the' are one neighbour)."""
    return token.strip().lower()


def token_counts(examples: Sequence[ActivationExample], threshold: float, top: int = 8) -> TokenCounts:
    """Per example (a token counts once per example), the marked tokens and their neighbours, most common first."""
    marked, before, after = Counter(), Counter(), Counter()
    for ex in examples:
        toks = [_word(t) for t in ex.tokens]
        hits = [i for i, a in enumerate(ex.activations) if a > threshold and toks[i]]
        marked.update({toks[i] for i in hits})
        before.update({toks[i - 1] for i in hits if i > 0 and toks[i - 1] and ex.activations[i - 1] <= threshold})
        after.update({toks[i + 1] for i in hits
                      if i + 1 < len(toks) and toks[i + 1] and ex.activations[i + 1] <= threshold})
    return TokenCounts(marked.most_common(top), before.most_common(top), after.most_common(top), len(examples))


#: share of examples one token must cover to become a literal candidate
LITERAL_SHARE = 0.6


def literal_candidates(c: TokenCounts) -> list[str]:
    """Exact readings of the counts a small model overlooks: one marked token, or one token right before or
    after the marked ones, in most examples. Checkable, and verified like any other candidate."""
    if not c.examples:
        return []
    out = []
    for pairs, template in ((c.before, 'the word right after "{}"'), (c.marked, 'the word "{}"'),
                            (c.after, 'the word right before "{}"')):
        if pairs and pairs[0][1] >= LITERAL_SHARE * c.examples:
            out.append(template.format(pairs[0][0]))
    return out


def document_words(activating: Sequence[ActivationExample], silent: Sequence[ActivationExample],
                   top: int = 8) -> list[WordGap]:
    """Words in many more firing texts than silent ones (the text-difference view, at the small counts a
    feature's explain pool holds)."""
    if len(activating) < 3 or not silent:
        return []
    return distinctive_words([e.text for e in activating], [e.text for e in silent], top=top, min_gap=0.3,
                             min_count=2)


def near_misses(activating: Sequence[ActivationExample], silent: Sequence[ActivationExample],
                k: int) -> list[ActivationExample]:
    """The ``k`` silent examples most like some firing example (TF-IDF cosine), most alike first."""
    if not activating or not silent or k < 1:
        return []
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = [e.text for e in activating] + [e.text for e in silent]
    try:
        x = TfidfVectorizer(lowercase=True, sublinear_tf=True).fit_transform(texts)
    except ValueError:  # no word at all (punctuation-only examples)
        return list(silent[:k])
    sims = (x[len(activating):] @ x[: len(activating)].T).toarray().max(axis=1)
    order = np.argsort(-sims, kind="stable")[:k]
    return [silent[int(i)] for i in order]
