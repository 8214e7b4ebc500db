"""The FastAPI app: the jobs API, the synchronous verifier, and the results pages.

Entry points only: validation against limits, auth, and translating store rows to
schemas. The work itself is the workflow functions, run by :mod:`hypodisc.service.runner`.
(No ``from __future__ import annotations`` here: the per-workflow routes are built in a
loop and FastAPI reads their annotations at definition time.)
"""

import asyncio
import inspect
import logging
import os
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Union

import anyio
import jinja2
from fastapi import Depends, FastAPI, File, Form, Query, Request, Security, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import APIKeyHeader
from fastapi.sse import EventSourceResponse, format_sse_event
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from hypodisc import __version__
from hypodisc.config import Settings, load_settings
from hypodisc.workflows.engines import Engines
from hypodisc.errors import InputRejected, pydantic_problem
from hypodisc.service.limits import BodySizeLimit
from hypodisc.service.runner import JobRunner
from hypodisc.service.schemas import (TERMINAL, ErrorResponse, Health, JobInfo, JobList, VerifyRequest,
                                     VerifyResponse)
from hypodisc.service.settings import ServiceSettings
from hypodisc.service.job_store import JobRow, JobStore
from hypodisc.workflows.contract import check_corpus
from hypodisc.workflows.registry import WORKFLOWS

log = logging.getLogger("hypodisc.service")
#: Any workflow's result, told apart by its ``workflow`` tag (one schema per workflow in openapi.json).
AnyResult = Annotated[Union[tuple(w.result_model for w in WORKFLOWS.values())], Field(discriminator="workflow")]
HERE = Path(__file__).parent
API_KEY_HEADER = "X-API-Key"
_key_header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="a key from `hypodisc keys create`")


class ApiError(Exception):
    """Every 4xx the API sends: HTTP status, a stable machine-readable code, and a message."""

    def __init__(self, status: int, code: str, message: str, fields: list[dict] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields


def _error(status: int, code: str, message: str, fields: list[dict] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if fields is not None:
        body["fields"] = fields
    return JSONResponse({"error": body}, status_code=status)


_STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                 405: "method_not_allowed", 413: "body_too_large", 415: "unsupported_media_type",
                 429: "too_many_requests"}
ERRORS = {s: {"model": ErrorResponse} for s in (401, 404, 409, 413, 422, 429)}


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError):
        return _error(exc.status, exc.code, exc.message, exc.fields)

    @app.exception_handler(InputRejected)
    async def input_rejected(_: Request, exc: InputRejected):
        return _error(exc.status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError):
        fields = [{"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", ""), "type": e.get("type", "")}
                  for e in exc.errors()]
        if not fields:
            return _error(422, "invalid_request", "invalid request", fields)
        problem = pydantic_problem(exc)
        if any(f.get("type") == "json_invalid" for f in fields):
            return _error(422, "malformed_json", f"the request body is not valid JSON ({problem.msg})", fields)
        if fields[0]["loc"] == ["body"] and fields[0].get("type") in ("model_attributes_type", "dict_type"):
            return _error(422, "invalid_request", "the request body must be a JSON object sent with "
                                                  "Content-Type: application/json", fields)
        where = ".".join(map(str, problem.loc[1:])) or "body"
        return _error(422, "invalid_request", f"{where}: {problem.msg}", fields)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException):
        return _error(exc.status_code, _STATUS_CODES.get(exc.status_code, f"http_{exc.status_code}"), str(exc.detail))


# -- dependencies ---------------------------------------------------------------------------------
def _state(request: Request):
    return request.app.state


class Caller(BaseModel):
    key_id: str | None
    any_key: bool  # auth off: one user, who sees every job


def caller(request: Request, api_key: Annotated[str | None, Security(_key_header)] = None) -> Caller:
    st = request.app.state
    if not st.service.auth:
        return Caller(key_id=None, any_key=True)
    if not api_key:
        raise ApiError(401, "missing_api_key", f"send an API key in the {API_KEY_HEADER} header "
                                               "(make one with `hypodisc keys create`)")
    key_id = st.store.key_id_for(api_key)
    if key_id is None:
        raise ApiError(401, "invalid_api_key", "this API key is unknown or revoked")
    return Caller(key_id=key_id, any_key=False)


CallerDep = Annotated[Caller, Depends(caller)]


def _job_or_404(request: Request, job_id: str, who: Caller) -> JobRow:
    row = request.app.state.store.get_job(job_id, who.key_id, any_key=who.any_key)
    if row is None:  # another key's job looks exactly like a missing one
        raise ApiError(404, "job_not_found", f"no job {job_id!r}")
    return row


def job_info(row: JobRow) -> JobInfo:
    base = f"/v1/jobs/{row.id}"
    return JobInfo(id=row.id, workflow=row.workflow, status=row.status, stage=row.stage, progress=row.progress,
                   cost=(row.cost or {}).get("stages", []), attempts=row.attempts, error_code=row.error_code,
                   error=row.error, created_at=row.created_at, started_at=row.started_at,
                   finished_at=row.finished_at,
                   links={"self": base, "result": f"{base}/result", "events": f"{base}/events",
                          "cancel": f"{base}/cancel", "page": f"/jobs/{row.id}"})


def _submit(request: Request, workflow: str, body: BaseModel, who: Caller) -> JSONResponse:
    st = request.app.state
    spec = WORKFLOWS[workflow]
    spec.check(body, st.service.limits_for(spec))
    if st.store.active_jobs(who.key_id) >= st.service.max_active_jobs_per_key:
        raise ApiError(429, "too_many_jobs", f"this key already has {st.service.max_active_jobs_per_key} queued or "
                                             "running jobs; wait for one to finish or cancel one")
    row = st.store.create_job(workflow, body.model_dump(mode="json"), who.key_id)
    if st.runner is not None:
        st.runner.notify()
    info = job_info(row)
    return JSONResponse(info.model_dump(mode="json"), status_code=202, headers={"Location": info.links["self"]})


def _add_workflow_routes(app: FastAPI, name: str) -> None:
    spec = WORKFLOWS[name]
    Model = spec.request_model

    def submit(request: Request, body: Model, who: CallerDep) -> JobInfo:  # type: ignore[valid-type]
        return _submit(request, name, body, who)

    app.add_api_route(f"/v1/jobs/{name}", submit, methods=["POST"], status_code=202, response_model=JobInfo,
                      summary=f"Submit a {name} job", description=spec.summary, tags=["jobs"],
                      operation_id=f"submit_{name.replace('-', '_')}", responses=ERRORS)


def _add_upload_route(app: FastAPI, name: str) -> None:
    """``POST /v1/jobs/<name>/files`` for a workflow that declares an upload form: its file and text fields
    become multipart parameters (in the OpenAPI document too); its ``build`` turns them into a request."""
    spec = WORKFLOWS[name]
    upload = spec.surfaces.upload
    if upload is None:
        return

    def submit_files(request: Request, who: Caller, **fields: Any) -> JSONResponse:
        files = {k: [(f.filename or k, f.file.read()) for f in fields[k]] for k in upload.files}
        body = upload.build(files, {k: fields.get(k) for k in upload.forms})
        return _submit(request, name, spec.parse(body), who)

    kw = inspect.Parameter.KEYWORD_ONLY
    submit_files.__signature__ = inspect.Signature(
        [inspect.Parameter("request", kw, annotation=Request), inspect.Parameter("who", kw, annotation=CallerDep)]
        + [inspect.Parameter(k, kw, annotation=Annotated[list[UploadFile], File(description=d)])
           for k, d in upload.files.items()]
        + [inspect.Parameter(k, kw, default=None, annotation=Annotated[str | None, Form(description=d)])
           for k, d in upload.forms.items()])
    app.add_api_route(f"/v1/jobs/{name}/files", submit_files, methods=["POST"], status_code=202,
                      response_model=JobInfo, summary=upload.summary or f"Submit a {name} job as uploaded files",
                      tags=["jobs"], operation_id=f"submit_{name.replace('-', '_')}_files", responses=ERRORS)


def _config_defaults(config_model: type[BaseModel]):
    defaults = config_model().model_dump(mode="json")

    def config_defaults() -> Response:
        return JSONResponse(defaults)

    return config_defaults


# -- the app --------------------------------------------------------------------------------------
def create_app(service: ServiceSettings | None = None, settings: Settings | None = None,
               store: JobStore | None = None, engines: Engines | None = None) -> FastAPI:
    service = service or ServiceSettings()
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        st = app.state
        if not service.auth:
            log.warning("authentication is OFF: anyone who can reach %s:%s can submit and read jobs",
                        service.host, service.port)
        st.runner = None
        if service.concurrency > 0:
            st.runner = JobRunner(st.store, st.engines, service)
            st.runner.start()
        try:
            yield
        finally:
            if st.runner is not None:
                await anyio.to_thread.run_sync(st.runner.stop)
            st.engines.close()

    app = FastAPI(title="hypodisc", version=__version__, lifespan=lifespan,
                  description="Natural-language hypothesis discovery as a service: submit a job, follow its "
                              "progress, read ranked hypotheses with held-out statistics.")
    app.state.service, app.state.settings = service, settings
    app.state.store = store or JobStore(service.resolved_db_url(settings.home))
    app.state.engines = engines or Engines(settings)
    app.state.runner = None
    app.add_middleware(BodySizeLimit, max_bytes=service.max_body_bytes)
    _install_error_handlers(app)

    for name in WORKFLOWS:
        _add_workflow_routes(app, name)
        _add_upload_route(app, name)

    @app.get("/v1/jobs", response_model=JobList, tags=["jobs"], summary="List your jobs, newest first",
             responses=ERRORS)
    def list_jobs(request: Request, who: CallerDep,
                  limit: Annotated[int, Query(ge=1, le=200)] = 50, offset: Annotated[int, Query(ge=0)] = 0,
                  status: Annotated[str | None, Query(pattern="^(queued|running|succeeded|failed|cancelled)$")] = None,
                  workflow: Annotated[str | None, Query(max_length=32)] = None) -> JobList:
        rows, total = request.app.state.store.list_jobs(who.key_id, limit=limit, offset=offset, status=status,
                                                        workflow=workflow, any_key=who.any_key)
        return JobList(jobs=[job_info(r) for r in rows], total=total, limit=limit, offset=offset)

    @app.get("/v1/jobs/{job_id}", response_model=JobInfo, tags=["jobs"], summary="A job's status, stage, progress "
             "and cost so far", responses=ERRORS)
    def get_job(request: Request, job_id: str, who: CallerDep) -> JobInfo:
        return job_info(_job_or_404(request, job_id, who))

    @app.get("/v1/jobs/{job_id}/result", tags=["jobs"], summary="A finished job's result",
             response_model=AnyResult, responses={
                 200: {"description": "the workflow's result; its `workflow` field says which schema it is"},
                 **ERRORS})
    def get_result(request: Request, job_id: str, who: CallerDep,
                   download: Annotated[bool, Query(description="send as a file attachment")] = False):
        row = _job_or_404(request, job_id, who)
        if row.status != "succeeded":
            code = {"failed": "job_failed", "cancelled": "job_cancelled"}.get(row.status, "job_not_finished")
            msg = row.error if row.status in ("failed", "cancelled") and row.error else f"the job is {row.status}"
            raise ApiError(409, code, msg)
        headers = {"Content-Disposition": f'attachment; filename="hypodisc-{row.workflow}-{row.id}.json"'} \
            if download else None
        return JSONResponse({"workflow": row.workflow, **row.result}, headers=headers)

    @app.post("/v1/jobs/{job_id}/cancel", response_model=JobInfo, tags=["jobs"], responses=ERRORS,
              summary="Cancel a job: queued jobs at once, running ones at their next progress step")
    def cancel_job(request: Request, job_id: str, who: CallerDep) -> JobInfo:
        row = _job_or_404(request, job_id, who)
        if row.status not in TERMINAL:
            request.app.state.store.request_cancel(job_id)
        return job_info(_job_or_404(request, job_id, who))

    @app.get("/v1/jobs/{job_id}/events", tags=["jobs"], responses={
        200: {"content": {"text/event-stream": {}}, "description": "`progress` events (JobInfo as JSON) on every "
              "change, then one `end` event when the job finishes"}, **ERRORS},
        summary="Follow a job's progress as Server-Sent Events")
    async def job_events(request: Request, job_id: str, who: CallerDep):
        store = request.app.state.store
        await anyio.to_thread.run_sync(_job_or_404, request, job_id, who)

        async def stream():
            last, last_sent = None, time.monotonic()
            yield format_sse_event(retry=2000)
            while True:
                row = await anyio.to_thread.run_sync(lambda: store.get_job(job_id, any_key=True))
                if row is None:
                    return
                data = job_info(row).model_dump_json()
                if data != last:
                    last, last_sent = data, time.monotonic()
                    yield format_sse_event(event="progress", data_str=data)
                if row.status in TERMINAL:
                    yield format_sse_event(event="end", data_str=data)
                    return
                if time.monotonic() - last_sent > 15:
                    last_sent = time.monotonic()
                    yield format_sse_event(comment="keep-alive")
                if await request.is_disconnected():
                    return
                await asyncio.sleep(0.5)

        return EventSourceResponse(stream(), headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.post("/v1/verify", response_model=VerifyResponse, tags=["verify"], responses=ERRORS,
              summary="Score given hypotheses on given texts, synchronously (small inputs only)")
    def verify(request: Request, body: VerifyRequest, who: CallerDep) -> VerifyResponse:
        from hypodisc.errors import PromptTooLongError
        from hypodisc.verifiers.embedding import similarity
        from hypodisc.verifiers.llm_judge import LLMJudge

        st = request.app.state
        pairs = len(body.hypotheses) * len(body.texts)
        if pairs > st.service.max_verify_pairs:
            raise ApiError(413, "too_many_pairs", f"{len(body.hypotheses)} hypotheses x {len(body.texts)} texts = "
                                                  f"{pairs} judgments; the synchronous limit is "
                                                  f"{st.service.max_verify_pairs} (submit a diff job with "
                                                  "hypotheses for more)")
        check_corpus("texts", body.texts, st.service)
        check_corpus("hypotheses", body.hypotheses, st.service)
        t0 = time.perf_counter()
        if body.verifier == "embedding":
            emb = st.engines.embedder()
            scores = similarity(emb.encode(body.hypotheses), emb.encode(body.texts))
            model, kind = "minilm", "cosine"
        else:
            llm = st.engines.llm()
            try:
                scores = LLMJudge(llm).score(body.hypotheses, body.texts)
            except PromptTooLongError as exc:  # the client's input, not a server fault
                raise ApiError(413, "prompt_too_long", f"{exc.message}; shorten the hypotheses or texts") from None
            model, kind = llm.model, "p_yes"
        return VerifyResponse(scores=[[round(float(x), 6) for x in row] for row in scores], score_kind=kind,
                              model=model, seconds=round(time.perf_counter() - t0, 3))

    @app.get("/v1/health", response_model=Health, tags=["service"], summary="Liveness, version and queue counts")
    def health(request: Request) -> Health:
        st = request.app.state
        return Health(status="ok", version=__version__, auth=st.service.auth, backend=st.settings.backend,
                      model=st.settings.model, llm_loaded=st.engines.llm_loaded, jobs=st.store.queue_depth())

    # -- pages ------------------------------------------------------------------------------------
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    # The pages take no per-request data (the JS fetches it with the key), so render them once. Each
    # workflow's page share (its script, job-page section and index-page form) is named by its declaration.
    pages = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)
    page_specs = {name: wf.surfaces.page for name, wf in WORKFLOWS.items()}
    index_html, job_html = (pages.get_template(name).render(workflows=page_specs)
                            for name in ("index.html", "job.html"))

    @app.get("/", include_in_schema=False, response_class=HTMLResponse)
    def index_page() -> HTMLResponse:
        return HTMLResponse(index_html)

    @app.get("/jobs/{job_id}", include_in_schema=False, response_class=HTMLResponse)
    def job_page(job_id: str) -> HTMLResponse:
        return HTMLResponse(job_html)

    for name, wf in WORKFLOWS.items():  # each workflow's config defaults, for forms (/v1/schema/diff-config)
        app.add_api_route(f"/v1/schema/{name}-config", _config_defaults(wf.config_model), methods=["GET"],
                          include_in_schema=False)

    return app


def app_from_env() -> FastAPI:
    """For ``uvicorn --factory`` with several workers: settings come from HYPODISC_* variables."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # an entry point: see hypodisc.cli.main
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return create_app(ServiceSettings(), load_settings())
