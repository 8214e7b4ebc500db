"""A thin httpx client for the hypodisc service: submit, follow, fetch.

    from hypodisc.client import Client
    with Client("http://127.0.0.1:8080", api_key="hd_...") as hd:
        job = hd.submit_diff(a_texts, b_texts, goal="how do complaints differ from praise?")
        result = hd.wait(job.id, progress=lambda j: print(j.stage, j.progress))
        for h in result.hypotheses:
            print(h.hypothesis, h.validity, h.q_value)

Results come back as the same pydantic models the workflows return. Any registered workflow can
be submitted with ``submit(name, request)``; ``submit_<name>(...)`` (``submit_diff``,
``submit_label_features``) is generated for each from its request model's fields, in their order.
This module imports httpx, pydantic and the workflows' schemas: nothing heavier.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
from httpx_sse import connect_sse

from pydantic import BaseModel

from hypodisc.errors import HypodiscError
from hypodisc.service.schemas import ACTIVE, JobInfo, JobList, VerifyResponse
from hypodisc.workflows.contract import Workflow
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

    def job(self, job_id: str) -> JobInfo:
        return JobInfo.model_validate(self._request("GET", f"/v1/jobs/{job_id}").json())

    def jobs(self, limit: int = 50, offset: int = 0, status: str | None = None) -> JobList:
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if status:
            params["status"] = status
        return JobList.model_validate(self._request("GET", "/v1/jobs", params=params).json())

    def cancel(self, job_id: str) -> JobInfo:
        return JobInfo.model_validate(self._request("POST", f"/v1/jobs/{job_id}/cancel").json())

    def result(self, job_id: str, workflow: str | None = None) -> BaseModel:
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
             poll_s: float = 1.0) -> BaseModel:
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


def _json_ready(value: Any) -> Any:
    """Models (also inside lists and dicts) as JSON-like data; the service validates the rest."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    return value


def _shortcut(workflow: Workflow) -> Callable[..., JobInfo]:
    """``Client.submit_<name>``: the request model's fields as parameters (required ones positional first,
    in field order), sent as given; fields left None are not sent."""
    fields = workflow.request_model.model_fields
    params = [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                default=inspect.Parameter.empty if f.is_required() else None, annotation=f.annotation)
              for name, f in fields.items()]
    params.sort(key=lambda p: p.default is not inspect.Parameter.empty)
    signature = inspect.Signature([inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD), *params],
                                  return_annotation=JobInfo)

    def submit_shortcut(self: Client, *args: Any, **kwargs: Any) -> JobInfo:
        bound = signature.bind(self, *args, **kwargs)
        body = {k: _json_ready(v) for k, v in bound.arguments.items() if k != "self" and v is not None}
        return self.submit(workflow.name, body)

    submit_shortcut.__name__ = submit_shortcut.__qualname__ = "submit_" + workflow.name.replace("-", "_")
    submit_shortcut.__signature__ = signature  # type: ignore[attr-defined]
    submit_shortcut.__doc__ = f"Submit a {workflow.name} job: {workflow.summary}"
    return submit_shortcut


for _wf in WORKFLOWS.values():
    setattr(Client, "submit_" + _wf.name.replace("-", "_"), _shortcut(_wf))
