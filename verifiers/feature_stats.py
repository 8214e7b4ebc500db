"""Metrics for feature-explanation scores, with stratified bootstrap intervals.

Every scorer reduces to predictions against truths on a held-out test set:
binary truths (does the feature fire?) scored by AUROC and balanced accuracy,
or real-valued truths (how strongly?) scored by Pearson correlation. A score
without an interval invites over-reading "0.8", so each comes with a bootstrap
CI. The resampling is stratified (positives and negatives resampled
separately) so every replicate keeps both classes and the AUROC stays defined.
AUROC is computed from ranks so a thousand replicates cost one vectorised call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.stats import bootstrap as scipy_bootstrap
from scipy.stats import rankdata
from sklearn.metrics import balanced_accuracy_score, roc_auc_score

DEFAULT_RESAMPLES = 1000


@dataclass(frozen=True)
class Estimate:
    value: float
    ci_low: float
    ci_high: float

    def to_dict(self) -> dict[str, float]:
        return {"value": self.value, "ci_low": self.ci_low, "ci_high": self.ci_high}


def auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """sklearn's AUROC (ties count half); 0.5 when only one class is present."""
    labels = np.asarray(labels, dtype=int)
    if len(np.unique(labels)) < 2:
        return 0.5
    return float(roc_auc_score(labels, scores))


def balanced_accuracy(labels: np.ndarray, probs: np.ndarray, threshold: float = 0.5) -> float:
    """Mean of the true-positive and true-negative rates of ``probs >= threshold``."""
    labels = np.asarray(labels, dtype=int)
    return float(balanced_accuracy_score(labels, (np.asarray(probs) >= threshold).astype(int)))


def pearson(truth: np.ndarray, pred: np.ndarray) -> float:
    """Pearson r; 0 when either side is constant (a constant prediction explains nothing)."""
    return float(_pearson_rows(np.asarray(truth, float)[None, :], np.asarray(pred, float)[None, :])[0])


def _auroc_rows(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Row-wise Mann-Whitney AUROC; each row must hold both classes."""
    ranks = rankdata(scores, axis=1)
    pos = labels.astype(bool)
    n_pos = pos.sum(axis=1)
    n_neg = labels.shape[1] - n_pos
    rank_sum = np.where(pos, ranks, 0.0).sum(axis=1)
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def _balanced_accuracy_rows(labels: np.ndarray, probs: np.ndarray, threshold: float) -> np.ndarray:
    pos = labels.astype(bool)
    hit = probs >= threshold
    tpr = (hit & pos).sum(axis=1) / pos.sum(axis=1)
    tnr = (~hit & ~pos).sum(axis=1) / (~pos).sum(axis=1)
    return (tpr + tnr) / 2


def _pearson_rows(truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    t = truth - truth.mean(axis=1, keepdims=True)
    p = pred - pred.mean(axis=1, keepdims=True)
    denom = np.sqrt((t * t).sum(axis=1) * (p * p).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (t * p).sum(axis=1) / denom
    return np.where(denom > 1e-12, r, 0.0)


def bootstrap(stat_rows: Callable[[np.ndarray, np.ndarray], np.ndarray], labels: np.ndarray, preds: np.ndarray,
              strata: np.ndarray, *, resamples: int = DEFAULT_RESAMPLES, level: float = 0.95,
              seed: int = 0) -> Estimate:
    """Point estimate and percentile CI of a row-wise statistic under stratified resampling.

    ``scipy.stats.bootstrap`` resamples each of several samples on its own; the samples here are the
    strata's example indices, so every replicate keeps each stratum's size (both classes present).
    """
    labels, preds = np.asarray(labels, float), np.asarray(preds, float)
    point = float(stat_rows(labels[None, :], preds[None, :])[0])
    if len(labels) < 2 or resamples < 1:
        return Estimate(point, point, point)
    strata = np.asarray(strata, int)
    groups = [np.flatnonzero(strata == s) for s in np.unique(strata)]
    varied = tuple(g for g in groups if len(g) > 1)
    fixed = np.concatenate([g for g in groups if len(g) == 1] or [np.zeros(0, int)])  # resampling one is itself
    if not varied:
        return Estimate(point, point, point)

    def statistic(*idx: np.ndarray, axis: int = -1) -> np.ndarray:
        same = np.broadcast_to(fixed, idx[0].shape[:-1] + fixed.shape)
        rows = np.concatenate([*idx, same], axis=-1)  # (replicates, n) indices, every stratum at its own size
        return stat_rows(labels[rows], preds[rows])

    res = scipy_bootstrap(varied, statistic, n_resamples=resamples, vectorized=True, method="percentile",
                          confidence_level=level, rng=np.random.default_rng(seed))
    lo, hi = res.confidence_interval
    return Estimate(point, float(lo), float(hi))


def binary_scores(labels, probs, *, resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
                  threshold: float = 0.5) -> dict[str, Estimate]:
    """AUROC and balanced accuracy of probabilities against 0/1 labels, each with a CI.

    With only one class present neither metric means anything; the caller
    should not get here (the workflow refuses test sets without both classes).
    """
    labels = np.asarray(labels, int)
    if len(np.unique(labels)) < 2:
        raise ValueError("binary scores need both positive and negative examples")
    probs = np.asarray(probs, float)
    return {
        "auroc": bootstrap(_auroc_rows, labels, probs, labels, resamples=resamples, seed=seed),
        "balanced_accuracy": bootstrap(lambda y, p: _balanced_accuracy_rows(y, p, threshold), labels, probs,
                                       labels, resamples=resamples, seed=seed),
    }


def correlation_score(truth, pred, strata, *, resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> Estimate:
    """Pearson r of predicted against true activations, CI stratified by firing / silent."""
    return bootstrap(_pearson_rows, np.asarray(truth, float), np.asarray(pred, float), np.asarray(strata, int),
                     resamples=resamples, seed=seed)
