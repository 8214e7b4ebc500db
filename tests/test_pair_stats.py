import numpy as np
import pytest
from scipy import stats

from hypodisc.verifiers.pair_stats import rank_on_pair, score_pair

pytestmark = pytest.mark.fast  # no model: `make test-fast`


def test_against_scipy_and_hand_values():
    a = [0.9, 0.8, 0.7, 0.95]
    b = [0.1, 0.3, 0.2, 0.75]
    s = score_pair("h", a, b)
    assert s.validity == pytest.approx(np.mean(a) - np.mean(b))
    assert s.p_value == pytest.approx(stats.ttest_ind(a, b, equal_var=False, alternative="greater").pvalue)
    # AUROC by hand: of 16 (a, b) pairs, a > b in 15 (0.7 < 0.75 is the only loss).
    assert s.auroc == pytest.approx(15 / 16)
    lo, hi = s.ci
    assert lo < s.validity < hi
    # Welch interval by hand.
    va, vb = np.var(a, ddof=1) / 4, np.var(b, ddof=1) / 4
    dof = (va + vb) ** 2 / (va**2 / 3 + vb**2 / 3)
    half = stats.t.ppf(0.975, dof) * np.sqrt(va + vb)
    assert (lo, hi) == pytest.approx((s.validity - half, s.validity + half))


def test_constant_scores_are_not_significant():
    s = score_pair("h", [0.5, 0.5], [0.5, 0.5])
    assert s.p_value == 1.0 and s.validity == 0.0


def test_rank_orders_by_validity():
    pa = np.array([[0.2, 0.3], [0.9, 0.8]])
    pb = np.array([[0.2, 0.2], [0.1, 0.2]])
    ranked = rank_on_pair(["weak", "strong"], pa, pb)
    assert [r.hypothesis for r in ranked] == ["strong", "weak"]


def test_too_few_texts():
    with pytest.raises(ValueError, match="at least 2"):
        score_pair("h", [0.5], [0.1, 0.2])
