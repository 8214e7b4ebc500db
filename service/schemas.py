"""HTTP schemas: the OpenAPI document is generated from these, so they are the API's source of truth."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from hypodisc.workflows.cost import StageCost

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
ACTIVE: tuple[JobStatus, ...] = ("queued", "running")
TERMINAL: tuple[JobStatus, ...] = ("succeeded", "failed", "cancelled")


class ErrorDetail(BaseModel):
    code: str = Field(..., description="machine-readable, stable: e.g. invalid_request, corpus_too_large")
    message: str = Field(..., description="what went wrong, for a person")
    fields: list[dict] | None = Field(None, description="per-field problems, for validation errors")


class ErrorResponse(BaseModel):
    error: ErrorDetail


class JobInfo(BaseModel):
    id: str
    workflow: str
    status: JobStatus
    stage: str | None = Field(None, description="what the job is doing now")
    progress: float = Field(..., ge=0, le=1, description="fraction of the current job done (rough, by stage)")
    cost: list[StageCost] = Field([], description="cost so far, per finished stage")
    attempts: int = Field(..., description="runs started; above 1 means it resumed after an interruption")
    error_code: str | None = None
    error: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    links: dict[str, str] = Field({}, description="status, result, events and cancel URLs")


class JobList(BaseModel):
    jobs: list[JobInfo]
    total: int
    limit: int
    offset: int


class VerifyRequest(BaseModel):
    """Score given hypotheses on given texts, synchronously: the verifier as a service."""

    hypotheses: list[str] = Field(..., min_length=1, description="properties to check")
    texts: list[str] = Field(..., min_length=1, description="texts to check them on")
    verifier: Literal["llm", "embedding"] = Field(
        "llm", description="llm: P(yes) from the yes/no judge; embedding: cosine similarity (fast, uncalibrated)")


class VerifyResponse(BaseModel):
    scores: list[list[float]] = Field(..., description="scores[i][j]: hypothesis i on text j")
    score_kind: Literal["p_yes", "cosine"]
    model: str | None
    seconds: float


class Health(BaseModel):
    status: Literal["ok"]
    version: str
    auth: bool
    backend: str
    model: str | None
    llm_loaded: bool
    jobs: dict[str, int] = Field(..., description="job counts by status")
