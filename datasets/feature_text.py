"""Rendering activation examples as text for prompts: highlights, levels, clipping.

The explainer and the fuzzing scorer must mark tokens the same way, or the
scorer would test a notation the explanation was never written against.
"""

from __future__ import annotations

from collections.abc import Sequence

from hypodisc.datasets.feature_records import ActivationExample

OPEN, CLOSE = "<<", ">>"


def level(activation: float, max_activation: float, top: int = 10) -> int:
    """Activation on a 0..top integer scale relative to the feature's maximum."""
    if max_activation <= 0 or activation <= 0:
        return 0
    return max(0, min(top, round(top * activation / max_activation)))


def highlight(tokens: Sequence[str], marked: Sequence[bool]) -> str:
    """Join tokens, wrapping each run of marked tokens in ``<<`` ``>>``.

    Leading spaces stay outside the marks (`` <<cat>>``), so the marked text
    reads as the word itself.
    """
    out: list[str] = []
    inside = False
    for tok, mark in zip(tokens, marked):
        if mark and not inside:
            stripped = tok.lstrip()
            out.append(tok[: len(tok) - len(stripped)] + OPEN + stripped)
            inside = True
            continue
        if not mark and inside:
            out.append(CLOSE)
            inside = False
        out.append(tok)
    if inside:
        out.append(CLOSE)
    return "".join(out)


def clip(text: str, max_chars: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= max_chars else text[: max_chars - 1].rstrip() + "…"


def clip_tokens(example: ActivationExample, max_chars: int) -> tuple[list[str], list[float]]:
    """A window of tokens around the strongest activation that fits ``max_chars``."""
    toks, acts = list(example.tokens), list(example.activations)
    if sum(len(t) for t in toks) <= max_chars:
        return toks, acts
    peak = max(range(len(acts)), key=acts.__getitem__)
    lo = hi = peak
    size = len(toks[peak])
    while True:
        grew = False
        if hi + 1 < len(toks) and size + len(toks[hi + 1]) <= max_chars:
            hi += 1
            size += len(toks[hi])
            grew = True
        if lo > 0 and size + len(toks[lo - 1]) <= max_chars:
            lo -= 1
            size += len(toks[lo])
            grew = True
        if not grew:
            break
    return toks[lo: hi + 1], acts[lo: hi + 1]


def render_marked(example: ActivationExample, threshold: float, max_chars: int) -> str:
    """An example with its activating tokens marked (one line, clipped around the peak)."""
    toks, acts = clip_tokens(example, max_chars)
    return " ".join(highlight(toks, [a > threshold for a in acts]).split())


def top_tokens(example: ActivationExample, threshold: float, max_activation: float, k: int = 3) -> str:
    """``cat (10), dog (7)``: the strongest activating tokens with their levels."""
    ranked = sorted((a, t.strip()) for t, a in zip(example.tokens, example.activations) if a > threshold)[::-1]
    seen: dict[str, int] = {}
    for act, tok in ranked:
        if tok and tok not in seen:
            seen[tok] = level(act, max_activation)
        if len(seen) == k:
            break
    return ", ".join(f"{tok!r} ({lvl})" for tok, lvl in seen.items())
