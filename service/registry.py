"""Which workflows the jobs API runs: each is a request schema, a result schema and a plain function.

The service adds nothing to a workflow: it validates the request against its limits,
calls the same function the CLI and the benchmarks call, and stores what comes back.
New workflows (images, graphs) register here as they land.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from hypodisc.errors import HypodiscError
from hypodisc.service.engines import JobEngines
from hypodisc.service.settings import ServiceSettings
from hypodisc.workflows.diff import MIN_TEXTS_PER_SIDE, needs_embedder, needs_llm, run_diff
from hypodisc.workflows.diff_models import DiffRequest, DiffResult
from hypodisc.workflows.label_features import label_features
from hypodisc.workflows.label_features import needs_embedder as label_needs_embedder
from hypodisc.workflows.label_features import needs_llm as label_needs_llm
from hypodisc.workflows.label_models import LabelRequest, LabelResult


class InputRejected(HypodiscError):
    """A request the service refuses before queueing it; carries the HTTP status and error code."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code = status, code


@dataclass
class JobContext:
    """What a running job gets from the worker."""

    engines: JobEngines
    progress: Callable[[str, int, int], None]
    resume: dict
    on_checkpoint: Callable[[str, dict], None]


@dataclass(frozen=True)
class WorkflowSpec:
    name: str
    summary: str
    request_model: type[BaseModel]
    result_model: type[BaseModel]
    check: Callable[[Any, ServiceSettings], None]
    run: Callable[[Any, JobContext], BaseModel]
    #: stage name -> (start, end) share of the whole job, so one progress bar spans all stages
    stage_spans: dict[str, tuple[float, float]]

    def fraction(self, stage: str, done: int, total: int, last: float) -> float:
        span = self.stage_spans.get(stage)
        if span is None:
            return last
        lo, hi = span
        return max(last, lo + (hi - lo) * (done / total if total > 0 else 1.0))


def check_corpus_limits(name: str, texts: list[str], limits: ServiceSettings, minimum: int = 1) -> None:
    if len(texts) > limits.max_texts_per_corpus:
        raise InputRejected(413, "corpus_too_large", f"corpus {name} has {len(texts)} texts; the limit is "
                                                     f"{limits.max_texts_per_corpus}")
    for i, t in enumerate(texts):
        if len(t) > limits.max_text_chars:
            raise InputRejected(413, "text_too_long", f"corpus {name}, text {i}: {len(t)} characters; the limit is "
                                                      f"{limits.max_text_chars}")
    n = sum(1 for t in texts if t.strip())
    if n < minimum:
        raise InputRejected(422, "corpus_too_small", f"corpus {name} has {n} non-empty texts; at least {minimum} "
                                                     "are needed")


def _check_diff(req: DiffRequest, limits: ServiceSettings) -> None:
    check_corpus_limits("a", req.a, limits, MIN_TEXTS_PER_SIDE)
    check_corpus_limits("b", req.b, limits, MIN_TEXTS_PER_SIDE)
    if req.hypotheses is not None and not any(h.strip() for h in req.hypotheses):
        raise InputRejected(422, "no_hypotheses", "hypotheses is given but holds no non-empty hypothesis")


def _run_diff(req: DiffRequest, ctx: JobContext) -> DiffResult:
    cfg = req.config
    backend = ctx.engines.llm() if needs_llm(cfg, req.hypotheses is not None) else None
    embedder = ctx.engines.embedder() if needs_embedder(cfg) or cfg.dedupe_threshold < 1.0 else None
    return run_diff(req.a, req.b, req.goal, req.config, backend=backend, embedder=embedder,
                    candidates=req.hypotheses, progress=ctx.progress, resume=ctx.resume,
                    on_checkpoint=ctx.on_checkpoint)


def _check_labels(req: LabelRequest, limits: ServiceSettings) -> None:
    if not req.features:
        raise InputRejected(422, "no_features", "features is empty; give at least one feature record")
    if len(req.features) > min(limits.max_features_per_job, req.config.max_features):
        raise InputRejected(413, "too_many_features", f"{len(req.features)} features; the limit is "
                                                      f"{min(limits.max_features_per_job, req.config.max_features)}")
    seen: set[str] = set()
    for i, f in enumerate(req.features):
        if f.feature_id in seen:
            raise InputRejected(422, "duplicate_feature_id", f"features[{i}]: feature_id {f.feature_id!r} appears "
                                                             "twice")
        seen.add(f.feature_id)
        if len(f.examples) > limits.max_examples_per_feature:
            raise InputRejected(413, "too_many_examples", f"feature {f.feature_id!r} has {len(f.examples)} "
                                                          f"examples; the limit is {limits.max_examples_per_feature}")
        for j, ex in enumerate(f.examples):
            if sum(len(t) for t in ex.tokens) > limits.max_text_chars:
                raise InputRejected(413, "text_too_long", f"feature {f.feature_id!r}, example {j}: longer than "
                                                          f"{limits.max_text_chars} characters")


def _run_labels(req: LabelRequest, ctx: JobContext) -> LabelResult:
    ids = [f.feature_id for f in req.features]
    backend = ctx.engines.llm() if label_needs_llm(req.config, req.explanations, ids) else None
    embedder = ctx.engines.embedder() if label_needs_embedder(req.config) else None
    return label_features(req.features, req.config, backend=backend, embedder=embedder,
                          explanations=req.explanations, progress=ctx.progress)


WORKFLOWS: dict[str, WorkflowSpec] = {
    "diff": WorkflowSpec(
        name="diff",
        summary="Text differences (D5/D3): what is more often true of corpus A than of corpus B",
        request_model=DiffRequest, result_model=DiffResult, check=_check_diff, run=_run_diff,
        stage_spans={"representative samples": (0.0, 0.05), "proposing": (0.05, 0.4),
                     "embedding ranker": (0.4, 0.45), "screening (LLM)": (0.45, 0.7),
                     "confirming (LLM)": (0.7, 1.0), "judging": (0.45, 1.0)}),
    "label-features": WorkflowSpec(
        name="label-features",
        summary="Feature labels (delphi-class): explain what each SAE latent or neuron responds to, and score the "
                "explanation on held-out examples beside a borrowed-explanation control and an always-no baseline",
        request_model=LabelRequest, result_model=LabelResult, check=_check_labels, run=_run_labels,
        stage_spans={"explain": (0.0, 0.35), "score": (0.35, 1.0)}),
}
