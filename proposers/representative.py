"""Representative samples: which texts best exemplify each side (D3/D5 step 1).

A cross-validated logistic regression predicts the side of every text from its
features (sentence embeddings, or TF-IDF when no embedder is wanted). Texts the
held-out classifier is surest about are the most typical of their side, so the
proposer sees those first. The cross-validated AUROC doubles as a diagnostic:
near 0.5 means the corpora are barely distinguishable, itself a useful answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict


@dataclass(frozen=True)
class Separability:
    cv_auroc: float
    folds: int
    features: str
    p_a: np.ndarray   # held-out P(side A) for each A text
    p_b: np.ndarray   # held-out P(side A) for each B text

    def order_a(self) -> np.ndarray:
        """A indices, most typical of A first."""
        return np.argsort(-self.p_a, kind="stable")

    def order_b(self) -> np.ndarray:
        """B indices, most typical of B first."""
        return np.argsort(self.p_b, kind="stable")

    @property
    def verdict(self) -> str:
        if self.cv_auroc < 0.6:
            return "barely distinguishable"
        if self.cv_auroc < 0.75:
            return "weakly separable"
        return "clearly separable"


def separability(x_a, x_b, seed: int, folds: int = 5, features: str = "embedding") -> Separability:
    """Cross-validated P(A) per text from feature matrices (dense or sparse)."""
    n_a, n_b = x_a.shape[0], x_b.shape[0]
    folds = max(2, min(folds, n_a, n_b))
    if hasattr(x_a, "toarray") or hasattr(x_b, "toarray"):
        from scipy.sparse import vstack
        x = vstack([x_a, x_b])
    else:
        x = np.vstack([x_a, x_b])
    y = np.r_[np.ones(n_a, int), np.zeros(n_b, int)]
    clf = LogisticRegression(C=1.0, max_iter=2000)
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    p = cross_val_predict(clf, x, y, cv=cv, method="predict_proba")[:, 1]
    return Separability(float(roc_auc_score(y, p)), folds, features, p[:n_a], p[n_a:])


def tfidf_features(texts_a: Sequence[str], texts_b: Sequence[str]):
    vec = TfidfVectorizer(min_df=1, max_features=20000, ngram_range=(1, 2), sublinear_tf=True)
    x = vec.fit_transform(list(texts_a) + list(texts_b))
    return x[: len(texts_a)], x[len(texts_a):]
