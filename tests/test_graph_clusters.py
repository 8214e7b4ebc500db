"""Clustering neuron profiles, on arrays with known structure (planted groups) and none (Gaussian noise);
the real-graph case is in test_graph_profiles.py."""

from __future__ import annotations

import numpy as np
import pytest

from hypodisc.errors import InputRejected

pytest.importorskip("sklearn")
from hypodisc.verifiers.graph_clusters import cluster_profiles, within_similarity  # noqa: E402

pytestmark = pytest.mark.fast


def planted(seed: int = 0, per: int = 8, groups: int = 3, dim: int = 40,
            noise: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(groups, dim))
    truth = np.repeat(np.arange(groups), per)
    return centres[truth] + noise * rng.normal(size=(groups * per, dim)), truth


def test_planted_groups_are_found_and_beat_both_controls():
    x, truth = planted()
    report = cluster_profiles(x, seed=1, n_permutations=199, n_null=20)
    assert report.k == 3 and report.silhouette > 0.5
    # the found partition is the planted one (up to label names)
    labels = np.array(report.labels)
    assert all(len(set(labels[truth == g])) == 1 for g in range(3)) and len(set(labels)) == 3
    assert report.within_similarity > report.control_mean + 0.3
    assert report.p_partition == pytest.approx(1 / 200) and report.p_null == pytest.approx(1 / 21)
    assert report.structured
    assert sorted(np.bincount(report.control_labels)) == sorted(np.bincount(report.labels))  # same sizes
    assert set(report.silhouettes) == set(range(2, 9))
    assert "k=3" in report.summary()


def test_random_profiles_show_no_strong_structure():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(40, 60))
    report = cluster_profiles(x, seed=0, n_permutations=199, n_null=20)
    assert max(report.silhouettes.values()) < 0.25, report.silhouettes
    assert not report.structured
    # the partition control alone is fooled (clustering picks tight groups even in noise); the null is not
    assert report.p_null > 0.05, report.null_silhouettes


def test_same_seed_same_report_and_seed_moves_only_the_controls():
    x, _ = planted(seed=3)
    a = cluster_profiles(x, seed=5, n_permutations=99, n_null=5)
    b = cluster_profiles(x, seed=5, n_permutations=99, n_null=5)
    c = cluster_profiles(x, seed=6, n_permutations=99, n_null=5)
    assert a == b
    assert c.labels == a.labels and c.silhouettes == a.silhouettes
    assert c.control_labels != a.control_labels


def test_too_few_neurons_is_a_clear_error():
    for n in (0, 1, 2):
        with pytest.raises(InputRejected, match="at least 3 recurring neurons") as info:
            cluster_profiles(np.ones((n, 4)))
        assert info.value.code == "too_few_nodes"
    with pytest.raises(InputRejected, match="NaN"):
        cluster_profiles(np.array([[1.0, 0], [0, 1], [np.nan, 1]]))


def test_k_is_capped_by_the_number_of_neurons_and_zero_rows_are_far_from_all():
    x = np.array([[1.0, 0, 0], [0.9, 0.1, 0], [0, 0, 0], [0, 1.0, 0]])
    report = cluster_profiles(x, n_permutations=9, n_null=0)
    assert set(report.silhouettes) == {2, 3}
    assert within_similarity(np.eye(3), np.array([0, 1, 2])) != within_similarity(np.eye(3), np.array([0, 1, 2]))  # nan
