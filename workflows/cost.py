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

    @classmethod
    def from_usage(cls, stage: str, wall_s: float, usage: Usage, embedded_texts: int) -> "StageCost":
        return cls(stage=stage, wall_s=round(wall_s, 3), llm_calls=usage.calls, prompt_tokens=usage.prompt_tokens,
                   completion_tokens=usage.completion_tokens, judgments=usage.yes_no_judgments,
                   embedded_texts=embedded_texts)


class Cost(BaseModel):
    stages: list[StageCost] = []

    def stage_times(self, at_least: float = 0.5) -> str:
        """The stages' wall times as one bracketed line for printers, e.g. ``[propose 59s, confirm 80s]``."""
        return "[" + ", ".join(f"{st.stage} {st.wall_s:.0f}s" for st in self.stages if st.wall_s >= at_least) + "]"

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
            self.cost.stages.append(StageCost.from_usage(name, time.perf_counter() - t0, self._usage() - u0,
                                                         self._embedded() - e0))
