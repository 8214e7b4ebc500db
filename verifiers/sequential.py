"""Successive elimination over hypotheses (D5 step 5, made configurable).

Texts arrive in rounds. After each round every active hypothesis gets a Welch
confidence interval for its validity V; a hypothesis whose upper bound falls
below the k-th best lower bound among the active ones cannot reach the top k
and stops being judged; so does one whose upper bound is below ``floor`` (by
default 0: it is confidently *not* more often true of A, whatever its rank). The screening data only *selects*; p-values are
computed later on a disjoint confirmation split, so stopping early never biases
the reported statistics.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from hypodisc.verifiers.pair_stats import welch_ci

#: score_fn(hypothesis indices, A text indices, B text indices) -> (P_A matrix, P_B matrix)
ScoreFn = Callable[[list[int], list[int], list[int]], tuple[np.ndarray, np.ndarray]]


@dataclass
class ScreenState:
    n_hypotheses: int
    scores_a: list[list[float]] = field(default_factory=list)
    scores_b: list[list[float]] = field(default_factory=list)
    eliminated_at: list[int | None] = field(default_factory=list)  # round index, None while active
    rounds: int = 0
    judgments: int = 0

    def __post_init__(self) -> None:
        self.scores_a = [[] for _ in range(self.n_hypotheses)]
        self.scores_b = [[] for _ in range(self.n_hypotheses)]
        self.eliminated_at = [None] * self.n_hypotheses

    @property
    def active(self) -> list[int]:
        return [i for i, e in enumerate(self.eliminated_at) if e is None]

    def validity(self, i: int) -> float:
        a, b = self.scores_a[i], self.scores_b[i]
        return float(np.mean(a) - np.mean(b)) if a and b else float("nan")

    def bounds(self, i: int, level: float) -> tuple[float, float]:
        a, b = np.asarray(self.scores_a[i]), np.asarray(self.scores_b[i])
        if len(a) < 2 or len(b) < 2:
            return -1.0, 1.0
        if np.ptp(np.r_[a, b]) == 0:
            v = float(a.mean() - b.mean())
            return v, v
        return welch_ci(a, b, level)


def successive_elimination(n_hypotheses: int, a_idx: Sequence[int], b_idx: Sequence[int], score_fn: ScoreFn,
                           keep: int, batch: int = 8, level: float = 0.9, min_per_side: int = 4,
                           eliminate: bool = True, floor: float | None = 0.0, progress: Callable[[int, int], None] | None = None) -> ScreenState:
    """Judge hypotheses round by round on the screening texts, dropping clear losers.

    With ``eliminate=False`` every hypothesis sees every screening text (the exhaustive baseline).
    """
    st = ScreenState(n_hypotheses)
    a_idx, b_idx = list(a_idx), list(b_idx)
    n_rounds = max(1, -(-max(len(a_idx), len(b_idx)) // batch))
    done = 0
    for r in range(n_rounds):
        active = st.active
        if not active:
            break
        ra, rb = a_idx[r * batch:(r + 1) * batch], b_idx[r * batch:(r + 1) * batch]
        if not ra and not rb:
            break
        pa, pb = score_fn(active, ra, rb)
        for row, i in enumerate(active):
            st.scores_a[i].extend(pa[row].tolist() if len(ra) else [])
            st.scores_b[i].extend(pb[row].tolist() if len(rb) else [])
        st.judgments += len(active) * (len(ra) + len(rb))
        st.rounds = r + 1
        done += len(active) * (len(ra) + len(rb))
        if eliminate and min(len(st.scores_a[active[0]]), len(st.scores_b[active[0]])) >= min_per_side:
            bounds = {i: st.bounds(i, level) for i in active}
            lowers = sorted((lo for lo, _ in bounds.values()), reverse=True)
            cut = lowers[keep - 1] if len(active) > keep else -np.inf
            if floor is not None:
                cut = max(cut, floor)
            for i in active:
                if bounds[i][1] < cut:
                    st.eliminated_at[i] = r
        if progress:
            remaining = len(st.active) * (len(a_idx[(r + 1) * batch:]) + len(b_idx[(r + 1) * batch:]))
            progress(done, done + remaining if r + 1 < n_rounds else done)
    return st
