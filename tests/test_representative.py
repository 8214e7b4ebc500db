
"""Representative samples and the separability diagnostic, on real embeddings and synthetic features."""

import pytest
import numpy as np

from hypodisc.proposers.representative import separability, tfidf_features

pytestmark = pytest.mark.fast  # no model: `make test-fast`


def test_separated_features_give_high_auroc_and_typical_first():
    rng = np.random.default_rng(0)
    xa = rng.normal(1.0, 1.0, (30, 8))
    xb = rng.normal(-1.0, 1.0, (30, 8))
    xa[0] = 6.0  # the most A-like text
    sep = separability(xa, xb, seed=0)
    assert sep.cv_auroc > 0.9 and sep.verdict == "clearly separable"
    assert sep.order_a()[0] == 0


def test_identical_distributions_are_barely_distinguishable():
    rng = np.random.default_rng(1)
    sep = separability(rng.normal(size=(40, 8)), rng.normal(size=(40, 8)), seed=0)
    assert sep.cv_auroc < 0.7


def test_tfidf_path_on_words():
    a = [f"the match ended {i} goals to nil in the league" for i in range(12)]
    b = [f"shares rose {i} percent after quarterly earnings" for i in range(12)]
    xa, xb = tfidf_features(a, b)
    sep = separability(xa, xb, seed=0, features="tfidf")
    assert sep.cv_auroc > 0.95 and sep.folds == 5


def test_few_texts_shrink_the_folds():
    rng = np.random.default_rng(2)
    assert separability(rng.normal(size=(3, 4)), rng.normal(size=(3, 4)), seed=0).folds == 3
