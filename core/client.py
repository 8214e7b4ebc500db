"""A thin httpx client for the hypodisc service: submit, follow, fetch.

    from hypodisc.client import Client
    with Client("http://127.0.0.1:8080", api_key="hd_...") as hd:
        job = hd.submit_diff(a_texts, b_texts, goal="how do complaints differ from praise?")
        result = hd.wait(job.id, progress=lambda j: print(j.stage, j.progress))
        for h in result.hypotheses:
            print(h.hypothesis, h.validity, h.q_value)

Results come back as the same pydantic models the workflows return. Any registered workflow can
be submitted with ``submit(name, request)``; ``submit_diff`` and ``submit_label_features`` are typed
shortcuts. This module imports httpx, pydantic and the workflows' schemas: nothing heavier.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
from httpx_sse import connect_sse

from pydantic import BaseModel

from hypodisc.datasets.feature_records import FeatureRecord
from hypodisc.errors import HypodiscError
from hypodisc.proposers.goal import ResearchGoal
from hypodisc.service.schemas import ACTIVE, JobInfo, JobList, VerifyResponse
from hypodisc.workflows.diff_models import DiffConfig, DiffResult
from hypodisc.workflows.label_models import LabelConfig, LabelResult
from hypodisc.workflows.registry import WORKFLOWS


class ServiceError(HypodiscError):
    """An error answer from the service, with its HTTP status and machine-readable code."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code = status, code


class JobFailed(HypodiscError):
    def __init__(self, job: JobInfo):
        super().__init__(f"job {job.id} {job.status}: {job.error_code}: {job.error}")
        self.job = job


class Client:
    def __init__(self, base_url: str = "http://127.0.0.1:8080", api_key: str | None = None, timeout: float = 60.0,
                 transport: httpx.BaseTransport | None = None):
        headers = {"X-API-Key": api_key} if api_key else {}
        self._http = httpx.Client(base_url=base_url, headers=headers, timeout=timeout, transport=transport)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _request(self, method: str, path: str, **kwargs) -> httpx.Response:
        resp = self._http.request(method, path, **kwargs)
        if resp.status_code >= 400:
            try:
                err = resp.json()["error"]
                raise ServiceError(resp.status_code, err["code"], err["message"])
            except (ValueError, KeyError, TypeError):
                raise ServiceError(resp.status_code, f"http_{resp.status_code}", resp.text[:500]) from None
        return resp

    # -- jobs ---------------------------------------------------------------------------------
    def submit(self, workflow: str, request: BaseModel | dict) -> JobInfo:
        """Submit a job of any registered workflow; ``request`` is its request model or the same as a dict."""
        if workflow not in WORKFLOWS:
            raise HypodiscError(f"unknown workflow {workflow!r}; known: {', '.join(WORKFLOWS)}")
        body = request.model_dump(mode="json", exclude_none=True) if isinstance(request, BaseModel) else request
        return JobInfo.model_validate(self._request("POST", f"/v1/jobs/{workflow}", json=body).json())

    def submit_diff(self, a: list[str], b: list[str], goal: str | ResearchGoal | None = None,
                    config: DiffConfig | dict | None = None, hypotheses: list[str] | None = None) -> JobInfo:
        body: dict[str, Any] = {"a": list(a), "b": list(b)}
        if goal is not None:
            body["goal"] = goal.model_dump() if isinstance(goal, ResearchGoal) else goal
        if config is not None:
            body["config"] = config.model_dump() if isinstance(config, DiffConfig) else config
        if hypotheses is not None:
            body["hypotheses"] = list(hypotheses)
        return self.submit("diff", body)

    def submit_label_features(self, features: list[FeatureRecord] | list[dict],
                              config: LabelConfig | dict | None = None,
                              explanations: dict[str, str] | None = None) -> JobInfo:
        body: dict[str, Any] = {"features": [f.model_dump(mode="json") if isinstance(f, FeatureRecord) else f
                                             for f in features]}
        if config is not None:
            body["config"] = config.model_dump() if isinstance(config, LabelConfig) else config
        if explanations is not None:
            body["explanations"] = dict(explanations)
        return self.submit("label-features", body)

    def job(self, job_id: str) -> JobInfo:
        return JobInfo.model_validate(self._request("GET", f"/v1/jobs/{job_id}").json())

    def jobs(self, limit: int = 50, offset: int = 0, status: str | None = None) -> JobList:
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if status:
            params["status"] = status
        return JobList.model_validate(self._request("GET", "/v1/jobs", params=params).json())

    def cancel(self, job_id: str) -> JobInfo:
        return JobInfo.model_validate(self._request("POST", f"/v1/jobs/{job_id}/cancel").json())

    def result(self, job_id: str, workflow: str | None = None) -> DiffResult | LabelResult:
        """The finished job's result as its workflow's model (one extra GET when ``workflow`` is not given)."""
        workflow = workflow or self.job(job_id).workflow
        return WORKFLOWS[workflow].result_model.model_validate(self._request("GET", f"/v1/jobs/{job_id}/result").json())

    def events(self, job_id: str) -> Iterator[JobInfo]:
        """Progress as the server streams it (SSE); ends when the job does."""
        with connect_sse(self._http, "GET", f"/v1/jobs/{job_id}/events", timeout=None) as source:
            if source.response.status_code >= 400:
                source.response.read()
                self._request("GET", f"/v1/jobs/{job_id}")  # raises the service's error
            for event in source.iter_sse():
                if event.data:
                    yield JobInfo.model_validate_json(event.data)

    def wait(self, job_id: str, progress: Callable[[JobInfo], None] | None = None, timeout: float | None = None,
             poll_s: float = 1.0) -> DiffResult | LabelResult:
        """Block until the job ends; its result, or JobFailed. Polls (simple and proxy-proof)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            info = self.job(job_id)
            if progress:
                progress(info)
            if info.status not in ACTIVE:
                break
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {info.status} ({info.stage}) after {timeout} s")
            time.sleep(poll_s)
        if info.status != "succeeded":
            raise JobFailed(info)
        return self.result(job_id, info.workflow)

    # -- the synchronous verifier --------------------------------------------------------------
    def verify(self, hypotheses: list[str], texts: list[str], verifier: str = "llm") -> VerifyResponse:
        body = {"hypotheses": list(hypotheses), "texts": list(texts), "verifier": verifier}
        return VerifyResponse.model_validate(self._request("POST", "/v1/verify", json=body).json())
