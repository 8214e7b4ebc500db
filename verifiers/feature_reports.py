"""What a feature-explanation scorer reports: the score, its CI, other metrics and the per-example breakdown.

Lives with the scorers that build it (:mod:`hypodisc.verifiers.feature_scorers`) so they import nothing
from the workflows above them; the feature-labelling contract re-exports these models, so the service's
schema and the JSON results are unchanged. Pydantic only.
"""

from __future__ import annotations

from pydantic import BaseModel


class ScoredExample(BaseModel):
    text: str
    truth: float
    prediction: float


class Metric(BaseModel):
    value: float
    ci_low: float
    ci_high: float


class ScoreReport(BaseModel):
    """A score, its CI, the other metrics and what each test example got."""

    scorer: str
    metric: str
    score: float
    ci_low: float
    ci_high: float
    metrics: dict[str, Metric]
    n_positive: int
    n_negative: int
    breakdown: list[ScoredExample] = []
