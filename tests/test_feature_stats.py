"""Scorer math against values computed by hand."""

import numpy as np
import pytest

from hypodisc.verifiers import feature_stats as fs

pytestmark = pytest.mark.fast  # no model: `make test-fast`


def test_auroc_matches_hand_count():
    # positives 0.9, 0.4; negatives 0.5, 0.1: pairs (pos > neg) = (0.9>0.5, 0.9>0.1, 0.4>0.1) = 3 of 4
    labels, scores = np.array([1, 1, 0, 0]), np.array([0.9, 0.4, 0.5, 0.1])
    assert fs.auroc(labels, scores) == pytest.approx(0.75)
    assert fs._auroc_rows(labels[None], scores[None])[0] == pytest.approx(0.75)


def test_auroc_counts_ties_as_half():
    labels, scores = np.array([1, 0, 0]), np.array([0.5, 0.5, 0.1])
    assert fs.auroc(labels, scores) == pytest.approx((0.5 + 1) / 2)
    assert fs._auroc_rows(labels[None], scores[None])[0] == pytest.approx(0.75)


def test_balanced_accuracy_by_hand():
    # TPR: 1 of 2 positives >= 0.5; TNR: 2 of 3 negatives < 0.5 -> (0.5 + 2/3) / 2
    labels, probs = np.array([1, 1, 0, 0, 0]), np.array([0.7, 0.2, 0.6, 0.1, 0.3])
    assert fs.balanced_accuracy(labels, probs) == pytest.approx((0.5 + 2 / 3) / 2)
    assert fs._balanced_accuracy_rows(labels[None], probs[None], 0.5)[0] == pytest.approx((0.5 + 2 / 3) / 2)


def test_pearson_by_hand_and_constant_prediction():
    truth, pred = np.array([0.0, 1.0, 2.0]), np.array([1.0, 3.0, 2.0])
    # deviations (-1,0,1) and (-1,1,0): r = 1 / sqrt(2 * 2) = 0.5
    assert fs.pearson(truth, pred) == pytest.approx(0.5)
    assert fs.pearson(truth, np.zeros(3)) == 0.0


def test_always_no_is_chance_on_every_binary_metric():
    labels = np.array([1, 1, 1, 0, 0])
    ests = fs.binary_scores(labels, np.zeros(5), resamples=200)
    assert ests["auroc"].value == 0.5 and ests["balanced_accuracy"].value == 0.5
    assert ests["auroc"].ci_low == ests["auroc"].ci_high == 0.5


def test_bootstrap_interval_brackets_the_point_and_shrinks_with_n():
    rng = np.random.default_rng(0)
    small = np.r_[np.ones(10), np.zeros(10)].astype(int)
    big = np.r_[np.ones(200), np.zeros(200)].astype(int)
    widths = []
    for labels in (small, big):
        scores = labels * 0.6 + rng.uniform(0, 1, len(labels))
        est = fs.binary_scores(labels, scores, resamples=500)["auroc"]
        assert est.ci_low <= est.value <= est.ci_high
        widths.append(est.ci_high - est.ci_low)
    assert widths[1] < widths[0] / 2


def test_stratified_resamples_keep_both_classes():
    # One positive among eight: a replicate without it would have no AUROC (nan would reach the CI).
    labels = np.array([1, 0, 0, 0, 0, 0, 0, 0])
    est = fs.binary_scores(labels, np.array([0.9, 0.1, 0.2, 0.95, 0.3, 0.4, 0.5, 0.6]), resamples=300)["auroc"]
    assert np.isfinite([est.ci_low, est.ci_high]).all() and est.ci_low < est.value < est.ci_high


def test_binary_scores_refuse_a_single_class():
    with pytest.raises(ValueError, match="both positive and negative"):
        fs.binary_scores(np.ones(4, int), np.ones(4))


def test_perfect_separation_gives_auroc_one_with_degenerate_ci():
    labels = np.array([1, 1, 1, 0, 0, 0])
    est = fs.binary_scores(labels, np.array([0.9, 0.8, 0.7, 0.3, 0.2, 0.1]), resamples=100)["auroc"]
    assert (est.value, est.ci_low, est.ci_high) == (1.0, 1.0, 1.0)
