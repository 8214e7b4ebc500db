"""Statistics for "is this hypothesis more often true of A than of B?".

V = mean P(yes | A) - mean P(yes | B) (D5's validity), a one-sided Welch t-test
from scipy, a Welch confidence interval for V, and AUROC from scikit-learn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats
from sklearn.metrics import roc_auc_score


@dataclass(frozen=True)
class HypothesisScore:
    hypothesis: str
    validity: float
    mean_a: float
    mean_b: float
    p_value: float
    ci: tuple[float, float]
    auroc: float
    n_a: int
    n_b: int

    def to_dict(self) -> dict:
        return asdict(self)


def welch_ci(a: np.ndarray, b: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Two-sided Welch interval for mean(a) - mean(b)."""
    res = stats.ttest_ind(a, b, equal_var=False)
    ci = res.confidence_interval(confidence_level=level)
    return float(ci.low), float(ci.high)


def score_pair(hypothesis: str, p_a: Sequence[float], p_b: Sequence[float]) -> HypothesisScore:
    a, b = np.asarray(p_a, float), np.asarray(p_b, float)
    if len(a) < 2 or len(b) < 2:
        raise ValueError("each group needs at least 2 texts for a t-test")
    if np.ptp(np.concatenate([a, b])) == 0:
        p, ci = 1.0, (0.0, 0.0)  # no variation at all: nothing to test
    else:
        p = float(stats.ttest_ind(a, b, equal_var=False, alternative="greater").pvalue)
        ci = welch_ci(a, b)
    labels = np.r_[np.ones(len(a)), np.zeros(len(b))]
    return HypothesisScore(
        hypothesis=hypothesis, validity=float(a.mean() - b.mean()), mean_a=float(a.mean()), mean_b=float(b.mean()),
        p_value=p, ci=ci, auroc=float(roc_auc_score(labels, np.r_[a, b])), n_a=len(a), n_b=len(b),
    )


def rank_on_pair(hypotheses: Sequence[str], probs_a: np.ndarray, probs_b: np.ndarray) -> list[HypothesisScore]:
    """Score every hypothesis (rows of the P(yes) matrices) and sort by validity, best first."""
    scores = [score_pair(h, probs_a[i], probs_b[i]) for i, h in enumerate(hypotheses)]
    return sorted(scores, key=lambda s: s.validity, reverse=True)
