"""Disjoint explainer / validation / test pools for one feature, and sampling within them.

delphi draws explainer and scorer examples from one pool with one seed, so a
scorer can be shown the very contexts the explanation was written from, which
inflates scores. Here every (deduplicated) example is assigned to exactly one
pool *before* any sampling, so no strategy can leak across: the explainer only
ever sees ``explain``, best-of-k only ``validate``, the scorers only ``test``.

Assignment is stratified by strength: activating examples are sorted by
activation and dealt out in small blocks, so each pool gets strong and weak
examples rather than the test pool getting only the leftovers.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

import numpy as np

from hypodisc.datasets.feature_records import ActivationExample, FeatureRecord, dedupe_examples

Sampling = Literal["top", "quantiles", "random"]

#: Out of every block of 5 activating examples (strongest first): 2 explain, 1 validate, 2 test.
BLOCK = ("explain", "explain", "validate", "test", "test")


@dataclass(frozen=True)
class FeatureSplit:
    """Deduplicated examples of one feature and the pool each one belongs to."""

    feature: FeatureRecord
    examples: tuple[ActivationExample, ...]
    explain: tuple[int, ...]
    validate: tuple[int, ...]
    test: tuple[int, ...]

    def pool(self, name: str) -> list[ActivationExample]:
        return [self.examples[i] for i in getattr(self, name)]

    def is_active(self, ex: ActivationExample) -> bool:
        return ex.max_activation > self.feature.threshold


def feature_rng(seed: int, feature_id: str) -> np.random.Generator:
    """A generator private to one feature, so adding a feature never reshuffles another."""
    digest = hashlib.sha256(f"{seed}:{feature_id}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _deal(indices: list[int], rng: np.random.Generator) -> dict[str, list[int]]:
    pools: dict[str, list[int]] = {"explain": [], "validate": [], "test": []}
    for lo in range(0, len(indices), len(BLOCK)):
        block = indices[lo: lo + len(BLOCK)]
        # a short last block still gives test its share before validate
        roles = list(BLOCK) if len(block) == len(BLOCK) else ["explain", "test", "validate", "test"][: len(block)]
        for idx, role in zip(block, rng.permutation(roles)):
            pools[str(role)].append(idx)
    return pools


def split_feature(record: FeatureRecord, seed: int = 0) -> FeatureSplit:
    examples = tuple(dedupe_examples(record.examples))
    rng = feature_rng(seed, record.feature_id)
    active = sorted((i for i, e in enumerate(examples) if e.max_activation > record.threshold),
                    key=lambda i: -examples[i].max_activation)
    silent = [int(i) for i in rng.permutation([i for i, e in enumerate(examples)
                                              if e.max_activation <= record.threshold])]
    a, s = _deal(active, rng), _deal(silent, rng)
    return FeatureSplit(record, examples, *(tuple(a[k] + s[k]) for k in ("explain", "validate", "test")))


def sample_explainer_examples(split: FeatureSplit, k: int, strategy: Sampling,
                              rng: np.random.Generator) -> list[ActivationExample]:
    """``k`` activating examples from the explain pool, strongest first.

    top: the k strongest. quantiles: the pool cut into k strength bands, one from
    each, so the explanation covers weak activations too. random: uniform.
    """
    pool = sorted((e for e in split.pool("explain") if split.is_active(e)), key=lambda e: -e.max_activation)
    if len(pool) <= k:
        return pool
    if strategy == "top":
        picked = list(range(k))
    elif strategy == "quantiles":
        bands = np.array_split(np.arange(len(pool)), k)
        picked = [int(rng.choice(band)) for band in bands]
    elif strategy == "random":
        picked = sorted(int(i) for i in rng.choice(len(pool), size=k, replace=False))
    else:
        raise ValueError(f"unknown sampling strategy {strategy!r} (use top, quantiles or random)")
    return [pool[i] for i in picked]


def silent_examples(split: FeatureSplit, pool: str, k: int, rng: np.random.Generator) -> list[ActivationExample]:
    silent = [e for e in split.pool(pool) if not split.is_active(e)]
    if len(silent) <= k:
        return silent
    return [silent[int(i)] for i in sorted(rng.choice(len(silent), size=k, replace=False))]


def active_examples(split: FeatureSplit, pool: str, k: int, rng: np.random.Generator) -> list[ActivationExample]:
    active = [e for e in split.pool(pool) if split.is_active(e)]
    if len(active) <= k:
        return active
    return [active[int(i)] for i in sorted(rng.choice(len(active), size=k, replace=False))]
