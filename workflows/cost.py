"""Per-stage cost accounting: wall time, LLM calls and tokens, verifier judgments, embedded texts."""

from __future__ import annotations

import time
from contextlib import contextmanager

from pydantic import BaseModel

from hypodisc.backends.base import Usage


class StageCost(BaseModel):
    stage: str
    wall_s: float = 0.0
    llm_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    judgments: int = 0
    embedded_texts: int = 0


class Cost(BaseModel):
    stages: list[StageCost] = []

    @property
    def total(self) -> StageCost:
        tot = StageCost(stage="total")
        for s in self.stages:
            for k in ("wall_s", "llm_calls", "prompt_tokens", "completion_tokens", "judgments", "embedded_texts"):
                setattr(tot, k, getattr(tot, k) + getattr(s, k))
        return tot


class CostMeter:
    """Snapshots the backend's and embedder's counters around each stage."""

    def __init__(self, backend=None, embedder=None):
        self.backend, self.embedder = backend, embedder
        self.cost = Cost()

    def _usage(self) -> Usage:
        return self.backend.usage.snapshot() if self.backend is not None else Usage()

    def _embedded(self) -> int:
        return self.embedder.calls if self.embedder is not None else 0

    @contextmanager
    def stage(self, name: str):
        u0, e0, t0 = self._usage(), self._embedded(), time.perf_counter()
        try:
            yield
        finally:
            du = self._usage() - u0
            self.cost.stages.append(StageCost(
                stage=name, wall_s=round(time.perf_counter() - t0, 3), llm_calls=du.calls,
                prompt_tokens=du.prompt_tokens, completion_tokens=du.completion_tokens,
                judgments=du.yes_no_judgments, embedded_texts=self._embedded() - e0))
