"""Turning next-token log-probabilities into P(yes) / (P(yes) + P(no)).

Tokenizers spell the answer many ways ("Yes", " yes", "YES"…), so every
variant's first token counts toward its side. Probabilities are summed in log
space so a peaked distribution does not underflow.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

YES_WORDS = ("Yes", "yes", "YES")
NO_WORDS = ("No", "no", "NO")


def classify_token(text: str) -> str | None:
    """'yes', 'no' or None for a decoded token such as ' Yes' or 'NO'."""
    word = text.strip().lower()
    return word if word in ("yes", "no") else None


def variant_token_ids(
    tokenize: Callable[[str], list[int]], detokenize: Callable[[int], str]
) -> tuple[frozenset[int], frozenset[int]]:
    """First-token ids for every spelling of yes and no that the tokenizer has.

    A spelling whose first token is only a fragment (``"Y"``) is skipped, so an
    id never counts for a word it does not spell.
    """
    sides: dict[str, set[int]] = {"yes": set(), "no": set()}
    for side, words in (("yes", YES_WORDS), ("no", NO_WORDS)):
        for word in words:
            for spelled in (word, " " + word):
                ids = tokenize(spelled)
                if ids and classify_token(detokenize(ids[0])) == side:
                    sides[side].add(ids[0])
    if not sides["yes"] or not sides["no"]:
        raise ValueError("tokenizer has no single-token spelling of yes or no")
    return frozenset(sides["yes"]), frozenset(sides["no"])


def _logsumexp(values: Iterable[float]) -> float:
    vals = [v for v in values if v != -math.inf]
    if not vals:
        return -math.inf
    top = max(vals)
    return top + math.log(sum(math.exp(v - top) for v in vals))


def p_yes(yes_logprobs: Iterable[float], no_logprobs: Iterable[float]) -> float:
    """Normalised P(yes); 0.5 when neither side has any mass (the model said neither)."""
    ly, ln = _logsumexp(yes_logprobs), _logsumexp(no_logprobs)
    if ly == -math.inf and ln == -math.inf:
        return 0.5
    return 1.0 / (1.0 + math.exp(min(ln - ly, 700.0))) if ly != -math.inf else 0.0


def p_yes_from_top_logprobs(top: Iterable[tuple[str, float]]) -> float:
    """P(yes) from an OpenAI-style top-k list of ``(token_text, logprob)`` pairs.

    A list, not a dict: two token ids may decode to the same text and both count.
    """
    top = list(top)
    yes = [lp for tok, lp in top if classify_token(tok) == "yes"]
    no = [lp for tok, lp in top if classify_token(tok) == "no"]
    return p_yes(yes, no)
