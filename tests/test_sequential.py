
"""Successive elimination on fixed score tables: losers stop early, the best k always survive."""

import pytest
import numpy as np

from hypodisc.verifiers.sequential import successive_elimination

pytestmark = pytest.mark.fast  # no model: `make test-fast`


def table_scorer(p_a: np.ndarray, p_b: np.ndarray, calls: list):
    def score(active, ia, ib):
        calls.append((list(active), list(ia), list(ib)))
        return p_a[np.ix_(active, ia)], p_b[np.ix_(active, ib)]
    return score


def synthetic(n_h=6, n=48, seed=0):
    rng = np.random.default_rng(seed)
    true_v = np.linspace(0.6, -0.2, n_h)  # hypothesis 0 best, the last ones clearly bad
    p_a = np.clip(0.4 + true_v[:, None] / 2 + rng.normal(0, 0.1, (n_h, n)), 0, 1)
    p_b = np.clip(0.4 - true_v[:, None] / 2 + rng.normal(0, 0.1, (n_h, n)), 0, 1)
    return p_a, p_b


def test_clear_losers_are_eliminated_and_the_best_survive():
    p_a, p_b = synthetic()
    calls = []
    st = successive_elimination(6, range(48), range(48), table_scorer(p_a, p_b, calls), keep=2, batch=8)
    assert {0, 1} <= set(st.active)
    assert st.eliminated_at[5] is not None and st.eliminated_at[4] is not None
    exhaustive = 6 * 96
    assert st.judgments < exhaustive
    assert st.judgments == sum(len(a) * (len(ia) + len(ib)) for a, ia, ib in calls)
    # an eliminated hypothesis is never judged again
    for i in range(6):
        if st.eliminated_at[i] is not None:
            assert len(st.scores_a[i]) == 8 * (st.eliminated_at[i] + 1)


def test_no_elimination_judges_everything():
    p_a, p_b = synthetic()
    st = successive_elimination(6, range(48), range(48), table_scorer(p_a, p_b, []), keep=2, batch=8, eliminate=False)
    assert st.active == list(range(6)) and st.judgments == 6 * 96
    assert np.isclose(st.validity(0), p_a[0].mean() - p_b[0].mean())


def test_rank_rule_never_drops_below_keep():
    p_a, p_b = synthetic(n_h=4)
    st = successive_elimination(4, range(48), range(48), table_scorer(p_a, p_b, []), keep=4, batch=8, floor=None)
    assert st.active == [0, 1, 2, 3]


def test_floor_drops_hypotheses_confidently_below_zero():
    p_a, p_b = synthetic(n_h=4)  # true V: 0.6, 0.33, 0.07, -0.2
    st = successive_elimination(4, range(48), range(48), table_scorer(p_a, p_b, []), keep=4, batch=8)
    assert st.active == [0, 1, 2] and st.eliminated_at[3] == 0
