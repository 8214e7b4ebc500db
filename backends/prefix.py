"""Ordering and prefix arithmetic that make shared prompt prefixes reusable.

llama.cpp keeps one KV cache, so it only reuses the prefix shared with the
*previous* prompt; vLLM's prefix cache also benefits from locality. Sorting a
batch by token ids puts prompts that share a prefix next to each other.
"""

from __future__ import annotations

from collections.abc import Sequence


def prefix_order(token_lists: Sequence[Sequence[int]]) -> list[int]:
    """Indices that visit the prompts in lexicographic token order."""
    return sorted(range(len(token_lists)), key=lambda i: list(token_lists[i]))


def common_prefix_len(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n
