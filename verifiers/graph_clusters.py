"""Groups of recurring attribution-graph neurons by profile similarity, with the controls that say
whether the groups mean anything.

Input: one row per neuron (``ProfileSet.matrix()`` from ``hypodisc.datasets.graph_profiles``, or any
array), compared by cosine similarity of the L2-normalised rows. Method: average-linkage
agglomerative clustering on cosine distance (``1 − cos``), which needs no embedding and gives the
same answer for the same input (no seed involved).

**Choosing k**: the k in ``k_range`` (capped at ``n − 1``) with the highest mean silhouette
(cosine distance); every k's score is reported. Following Kaufman & Rousseeuw's reading of the
silhouette, a best score below ``min_silhouette`` (0.25: "no substantial structure") means the
profiles have no strong cluster structure, and :attr:`ClusterReport.structured` is then false.

**Controls** (all from ``numpy.random.default_rng(seed)``):

* *random partition of the same cluster sizes*: the chosen labels permuted over the neurons. The
  score is the mean cosine similarity over within-cluster pairs; ``p_partition`` is the share of
  ``n_permutations`` such partitions scoring at least the real one (``(1 + hits) / (1 + n)``). This
  asks "are the groups tighter than arbitrary groups of these sizes?" and is weak on its own:
  clustering picks tight groups even in structureless data.
* *shuffled-profile null* (the stronger one): every column of the matrix permuted independently
  across neurons (each coordinate's distribution kept, the way coordinates go together destroyed),
  then the whole procedure (choosing k included) rerun; ``p_null`` is the share of ``n_null`` such
  runs whose best silhouette reaches the real one.

:attr:`ClusterReport.structured` needs all three: silhouette ≥ ``min_silhouette``, ``p_partition`` and
``p_null`` below ``alpha``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hypodisc.errors import InputRejected


@dataclass(frozen=True)
class ClusterReport:
    keys: tuple[str, ...]                 # one per neuron, in input order
    labels: tuple[int, ...]               # cluster per neuron, 0..k-1
    k: int
    criterion: str
    silhouettes: dict[int, float]         # k -> mean silhouette
    within_similarity: float              # mean cosine similarity over within-cluster pairs
    control_labels: tuple[int, ...]       # one seeded random partition of the same sizes
    control_similarity: float             # its within-cluster similarity
    control_mean: float                   # mean over n_permutations such partitions
    p_partition: float
    null_silhouettes: tuple[float, ...]   # best silhouette of each shuffled-profile run
    p_null: float
    seed: int
    structured: bool

    @property
    def silhouette(self) -> float:
        return self.silhouettes[self.k]

    def clusters(self) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        for key, label in zip(self.keys, self.labels):
            out.setdefault(label, []).append(key)
        return out

    def summary(self) -> str:
        scores = ", ".join(f"k={k}: {s:.3f}" for k, s in self.silhouettes.items())
        sizes = sorted((len(m) for m in self.clusters().values()), reverse=True)
        null = np.mean(self.null_silhouettes) if self.null_silhouettes else float("nan")
        return (f"{len(self.keys)} neurons, k={self.k} ({self.criterion}; {scores}); sizes {sizes}; "
                f"within-cluster cosine {self.within_similarity:.3f} vs random partition {self.control_similarity:.3f} "
                f"(mean of permutations {self.control_mean:.3f}, p={self.p_partition:.4f}); shuffled-profile null "
                f"silhouette {null:.3f} (p={self.p_null:.4f}); structured: {self.structured}")


def _unit_rows(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def _distances(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    unit = _unit_rows(x)
    sim = np.clip(unit @ unit.T, -1.0, 1.0)
    dist = 1.0 - sim
    np.fill_diagonal(dist, 0.0)
    return sim, np.clip(dist, 0.0, 2.0)


def within_similarity(sim: np.ndarray, labels: np.ndarray) -> float:
    """Mean of ``sim`` over pairs i < j in the same cluster (nan when every cluster is a singleton)."""
    same = labels[:, None] == labels[None, :]
    pairs = np.triu(same, k=1)
    return float(sim[pairs].mean()) if pairs.any() else float("nan")


def _best_k(dist: np.ndarray, ks: Sequence[int], linkage: str) -> tuple[int, dict[int, float], np.ndarray]:
    from sklearn.cluster import AgglomerativeClustering
    from sklearn.metrics import silhouette_score

    scores: dict[int, float] = {}
    labelings: dict[int, np.ndarray] = {}
    for k in ks:
        labels = AgglomerativeClustering(n_clusters=k, metric="precomputed", linkage=linkage).fit_predict(dist)
        labelings[k] = labels
        scores[k] = float(silhouette_score(dist, labels, metric="precomputed")) if len(set(labels)) > 1 else -1.0
    best = max(ks, key=lambda k: (scores[k], -k))  # ties: the fewer clusters
    return best, scores, labelings[best]


def cluster_profiles(profiles: np.ndarray, keys: Sequence[str] | None = None, *, k_range: Sequence[int] = range(2, 9),
                     linkage: str = "average", seed: int = 0, n_permutations: int = 999, n_null: int = 50,
                     min_silhouette: float = 0.25, alpha: float = 0.05) -> ClusterReport:
    """Cluster the rows of ``profiles`` (see the module docstring for the criterion and the controls)."""
    x = np.asarray(profiles, dtype=np.float64)
    n = x.shape[0] if x.ndim == 2 else 0
    keys = tuple(keys) if keys is not None else tuple(str(i) for i in range(n))
    if x.ndim != 2 or n < 3:
        raise InputRejected(f"clustering needs at least 3 recurring neurons (a silhouette needs 2 ≤ k ≤ n − 1); "
                            f"got {n}",
                            "trace more prompts, raise max_nodes, or lower min_graphs", code="too_few_nodes")
    if len(keys) != n:
        raise ValueError(f"{len(keys)} keys for {n} profiles")
    if not np.isfinite(x).all():
        raise InputRejected("profiles contain NaN or infinite values", code="bad_profiles")
    ks = sorted({k for k in k_range if 2 <= k <= n - 1})
    if not ks:
        raise ValueError(f"k_range {list(k_range)} has no k in 2..{n - 1}")
    sim, dist = _distances(x)
    k, scores, labels = _best_k(dist, ks, linkage)
    real = within_similarity(sim, labels)

    rng = np.random.default_rng(seed)
    perms = [rng.permutation(labels) for _ in range(max(n_permutations, 1))]
    perm_scores = np.array([within_similarity(sim, p) for p in perms])
    p_partition = float((1 + np.sum(perm_scores >= real - 1e-12)) / (1 + len(perms)))

    null_sil = []
    for _ in range(n_null):
        shuffled = np.column_stack([rng.permutation(col) for col in x.T])
        _, null_scores, _ = _best_k(_distances(shuffled)[1], ks, linkage)
        null_sil.append(max(null_scores.values()))
    p_null = float((1 + sum(s >= scores[k] - 1e-12 for s in null_sil)) / (1 + n_null)) if n_null else float("nan")

    structured = bool(scores[k] >= min_silhouette and p_partition < alpha and (n_null == 0 or p_null < alpha))
    return ClusterReport(
        keys=keys, labels=tuple(int(v) for v in labels), k=k,
        criterion=f"highest mean silhouette (cosine distance, {linkage} linkage) over k in {ks[0]}..{ks[-1]}",
        silhouettes=scores, within_similarity=real, control_labels=tuple(int(v) for v in perms[0]),
        control_similarity=float(perm_scores[0]), control_mean=float(perm_scores.mean()), p_partition=p_partition,
        null_silhouettes=tuple(null_sil), p_null=p_null, seed=seed, structured=structured)


__all__ = ["ClusterReport", "cluster_profiles", "within_similarity"]
