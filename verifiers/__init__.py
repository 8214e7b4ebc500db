"""Verifiers: check a hypothesis against many texts and rank by statistics.

``from hypodisc.verifiers import LLMJudge`` still works, but importing this package loads nothing
heavy: the HTTP client reaches the scorers' report models (feature_reports.py) without numpy or scipy.
"""

from hypodisc.lazy_exports import lazy_getattr

_EXPORTS = {"LLMJudge": "hypodisc.verifiers.llm_judge", "judge_prompt": "hypodisc.verifiers.llm_judge",
            "HypothesisScore": "hypodisc.verifiers.pair_stats", "rank_on_pair": "hypodisc.verifiers.pair_stats"}
__all__ = list(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)
