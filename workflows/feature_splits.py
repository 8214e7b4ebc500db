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
from collections.abc import Sequence
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


def _active(pool: Sequence[ActivationExample], threshold: float) -> list[ActivationExample]:
    return [e for e in pool if e.max_activation > threshold]


def sample_explainer_examples(pool: Sequence[ActivationExample], threshold: float, k: int, strategy: Sampling,
                              rng: np.random.Generator) -> list[ActivationExample]:
    """``k`` activating examples of ``pool`` (the explain pool), strongest first.

    top: the k strongest. quantiles: the pool cut into k strength bands, one from
    each, so the explanation covers weak activations too. random: uniform.
    """
    ranked = sorted(_active(pool, threshold), key=lambda e: -e.max_activation)
    if len(ranked) <= k:
        return ranked
    if strategy == "top":
        picked = list(range(k))
    elif strategy == "quantiles":
        bands = np.array_split(np.arange(len(ranked)), k)
        picked = [int(rng.choice(band)) for band in bands]
    elif strategy == "random":
        picked = sorted(int(i) for i in rng.choice(len(ranked), size=k, replace=False))
    else:
        raise ValueError(f"unknown sampling strategy {strategy!r} (use top, quantiles or random)")
    return [ranked[i] for i in picked]


def _draw(items: list[ActivationExample], k: int, rng: np.random.Generator) -> list[ActivationExample]:
    if len(items) <= k:
        return items
    return [items[int(i)] for i in sorted(rng.choice(len(items), size=k, replace=False))]


def silent_examples(pool: Sequence[ActivationExample], threshold: float, k: int,
                    rng: np.random.Generator) -> list[ActivationExample]:
    return _draw([e for e in pool if e.max_activation <= threshold], k, rng)


def active_examples(pool: Sequence[ActivationExample], threshold: float, k: int,
                    rng: np.random.Generator) -> list[ActivationExample]:
    return _draw(_active(pool, threshold), k, rng)


Mode = Literal["split", "crossfit"]


@dataclass(frozen=True)
class Fold:
    """One round's pools: what the explainer, the selection among its candidates and the scorers may see."""

    explain: tuple[ActivationExample, ...]
    validate: tuple[ActivationExample, ...]
    test: tuple[ActivationExample, ...]


@dataclass(frozen=True)
class FeaturePlan:
    """How one feature is explained and scored.

    ``split``: one round on disjoint explain / validate / test pools. ``crossfit``, for features with too few
    examples to hold three pools: every example is explained from and tested on, in different rounds (fold i is
    tested by an explanation written and chosen on the other folds), and the reported explanation is written
    on all of them (``final``), so a small feature never starves the explainer. Its score is the held-out score
    of the procedure, pooled over folds, not of that final sentence.
    """

    feature: FeatureRecord
    mode: Mode
    examples: tuple[ActivationExample, ...]
    folds: tuple[Fold, ...]
    final: Fold


def _fold_of(indices: list[int], k: int, rng: np.random.Generator) -> list[int]:
    """Fold numbers for examples sorted strongest first, dealt in blocks of k so each fold gets strong and weak."""
    out = [0] * len(indices)
    for lo in range(0, len(indices), k):
        for pos, f in zip(range(lo, min(lo + k, len(indices))), rng.permutation(k)):
            out[pos] = int(f)
    return out


def plan_feature(record: FeatureRecord, seed: int = 0, mode: str = "auto", min_split_active: int = 15,
                 folds: int = 3) -> FeaturePlan:
    """Split when the feature has ``min_split_active`` distinct firing examples (or ``mode="split"``), else
    cross-fit over ``folds`` folds (fewer when there are fewer firing examples)."""
    split = split_feature(record, seed)
    n_active = sum(1 for e in split.examples if split.is_active(e))
    if mode == "split" or (mode == "auto" and n_active >= min_split_active):
        fold = Fold(*(tuple(split.pool(name)) for name in ("explain", "validate", "test")))
        return FeaturePlan(record, "split", split.examples, (fold,), fold)
    rng = feature_rng(seed + 7, record.feature_id)
    k = max(2, min(folds, n_active))
    active = sorted((i for i, e in enumerate(split.examples) if split.is_active(e)),
                    key=lambda i: -split.examples[i].max_activation)
    silent = [int(i) for i in rng.permutation([i for i, e in enumerate(split.examples) if not split.is_active(e)])]
    fold_of = dict(zip(active, _fold_of(active, k, rng))) | dict(zip(silent, _fold_of(silent, k, rng)))
    everything = split.examples
    rounds = []
    for f in range(k):
        test = tuple(e for i, e in enumerate(everything) if fold_of[i] == f)
        rest = tuple(e for i, e in enumerate(everything) if fold_of[i] != f)
        rounds.append(Fold(rest, rest, test))
    return FeaturePlan(record, "crossfit", everything, tuple(rounds), Fold(everything, everything, ()))
