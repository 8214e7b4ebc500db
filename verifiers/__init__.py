"""Verifiers: check a hypothesis against many texts and rank by statistics."""

from hypodisc.verifiers.llm_judge import LLMJudge, judge_prompt
from hypodisc.verifiers.pair_stats import HypothesisScore, rank_on_pair

__all__ = ["LLMJudge", "judge_prompt", "HypothesisScore", "rank_on_pair"]
