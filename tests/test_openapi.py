"""The OpenAPI document: the committed copy is current, and the API keeps to it without server errors.

The fuzzing half runs schemathesis against the app in-process (ASGI) over a
temporary SQLite store, with no worker threads (``concurrency=0``: submitted jobs
queue and never run). It runs twice: auth off, and auth on with a valid key, so
the key check and the per-key paths are exercised too. Only "no 5xx" is asserted,
for schema-valid (positive) and schema-violating (negative) requests; valid bodies are
also sent reshaped to pass the service's limits, so verify really scores and diff jobs
really queue. ``/v1/verify`` runs the real verifiers, so the settings point at the
small SmolLM2-135M and cap the pairs per call. Requests aimed at ``{job_id}`` are also
sent with the ids of real finished jobs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from conftest import HOME, REPO
from hypodisc.config import Settings
from hypodisc.service.app import create_app
from hypodisc.workflows.engines import Engines
from hypodisc.service.openapi import openapi_json
from hypodisc.service.settings import ServiceSettings
from hypodisc.service.job_store import JobStore

FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                database=None, print_blob=True)
# /v1/verify runs the real LLM judge (seconds per call on a busy CPU): fewer examples, and no shrinking,
# which would re-run the model hundreds of times; a failure still shows the request that failed.
FUZZ_SLOW = settings(FUZZ, max_examples=8, phases=[Phase.explicit, Phase.generate])
SLOW = {"POST /v1/verify"}


@pytest.mark.fast  # cheap, and a stale file failed CI once: the fast lane catches it first
def test_committed_openapi_json_is_current():
    committed = (REPO / "openapi.json").read_bytes()
    assert committed == openapi_json().encode(), (
        "openapi.json is out of date with the code; regenerate it with `hypodisc openapi --out openapi.json` "
        "and commit the result")


# -- fuzzing -----------------------------------------------------------------------------------------
class Api:
    """An app over its own temporary store, with a few finished jobs of the key to aim job_id at."""

    def __init__(self, root: Path, auth: bool, engines: Engines):
        self.store = JobStore(f"sqlite:///{root / 'service.db'}")
        service = ServiceSettings(concurrency=0, auth=auth, max_verify_pairs=2, max_text_chars=2000,
                                  max_active_jobs_per_key=10_000)
        self.app = create_app(service, engines.settings, store=self.store)
        self.app.state.engines = engines  # one engine per process, as in the service: the models load once
        self.key = self.store.create_key("fuzz").secret if auth else None
        key_id = self.store.key_id_for(self.key) if auth else None
        self.job_ids = []
        for outcome in ("succeeded", "failed", "cancelled"):
            job_id = self.store.create_job("diff", {"a": ["x"], "b": ["y"]}, key_id).id
            self.store.claim_next("seed")
            if outcome == "succeeded":
                self.store.finish(job_id, "seed", {"hypotheses": [], "note": "seeded"}, None)
            else:
                self.store.fail(job_id, "seed", outcome, f"seeded as {outcome}", cancelled=outcome == "cancelled")
            self.job_ids.append(job_id)

    @property
    def headers(self) -> dict[str, str] | None:
        return {"X-API-Key": self.key} if self.key else None

    def close(self) -> None:
        self.store.close()


@pytest.fixture(scope="module")
def engines():
    shared = Engines(Settings(home=HOME, model="smollm2-135m", n_ctx=2048, n_threads=2))
    yield shared
    shared.close()


@pytest.fixture(scope="module")
def api_open(tmp_path_factory, engines):
    api = Api(tmp_path_factory.mktemp("api-open"), auth=False, engines=engines)
    yield api
    api.close()


@pytest.fixture(scope="module")
def api_keyed(tmp_path_factory, engines):
    api = Api(tmp_path_factory.mktemp("api-keyed"), auth=True, engines=engines)
    yield api
    api.close()


_PATHS = json.loads(openapi_json())["paths"]
OPERATIONS = [f"{method.upper()} {path}" for path, item in _PATHS.items() for method in item]
# Negative (schema-violating) requests need something to violate: GET /v1/health takes no input.
WITH_INPUT = {f"{method.upper()} {path}" for path, item in _PATHS.items() for method, op in item.items()
              if op.get("parameters") or op.get("requestBody")}
APIS = {"auth_off": "api_open", "valid_key": "api_keyed"}


@pytest.fixture(scope="module")
def schemas(api_open, api_keyed):
    return {name: schemathesis.openapi.from_asgi("/openapi.json", api.app)
            for name, api in (("auth_off", api_open), ("valid_key", api_keyed))}


CALL_TIMEOUT_S = 300  # the first /v1/verify loads the model; the client's default read timeout is too short


def _past_the_limits(operation: str, body):
    """Generated bodies nearly all stop at the limit checks (too many verify pairs, fewer than 6 texts a
    side), so the deep paths would never run: a copy reshaped to pass them, keeping the generated text."""
    if not isinstance(body, dict):
        return None
    body = dict(body)
    if operation == "POST /v1/verify" and isinstance(body.get("hypotheses"), list) \
            and isinstance(body.get("texts"), list):
        body["hypotheses"] = body["hypotheses"][:1]
        text = body["texts"][0] if body["texts"] and isinstance(body["texts"][0], str) else ""
        body["texts"] = [text if text.strip() else "a generated text may be blank; this one is not"]
        return body  # one judgment: the LLM takes seconds a judgment on a busy 2-core box
    if operation == "POST /v1/jobs/diff" and isinstance(body.get("a"), list) and isinstance(body.get("b"), list):
        for side in ("a", "b"):
            body[side] = [*body[side][:20], *(f"filler text {i} of corpus {side}" for i in range(6))]
        return body
    return None


def _call_without_server_errors(case, api: Api, operation: str, mode: GenerationMode) -> None:
    response = case.call(headers=api.headers, timeout=CALL_TIMEOUT_S)
    case.validate_response(response, checks=[not_a_server_error])
    reshaped = _past_the_limits(operation, case.body) if mode is GenerationMode.POSITIVE else None
    if reshaped is not None:
        case.body = reshaped
        response = case.call(headers=api.headers, timeout=CALL_TIMEOUT_S)
        case.validate_response(response, checks=[not_a_server_error])
    # Random job ids only ever reach the 404 branch; aim the same call at real, finished jobs too
    # (finished, so the event stream ends and cancel is a no-op).
    if "job_id" in (case.path_parameters or {}):
        for job_id in api.job_ids:
            case.path_parameters["job_id"] = job_id
            response = case.call(headers=api.headers, timeout=CALL_TIMEOUT_S)
            case.validate_response(response, checks=[not_a_server_error])


@pytest.mark.timeout(300)
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("who", list(APIS))
def test_api_has_no_server_errors(request, schemas, who, operation, mode):
    """Schema-driven requests (valid, and for negative mode invalid) never get a 5xx.

    Driven through hypothesis directly: schemathesis' own pytest loader (``from_fixture``)
    does not work with pytest 9 (it sets ``request.node._nodeid``).
    """
    if mode is GenerationMode.NEGATIVE and operation not in WITH_INPUT:
        pytest.skip(f"{operation} takes no input, so there is no invalid request to generate")
    api: Api = request.getfixturevalue(APIS[who])
    method, path = operation.split(" ", 1)
    strategy = schemas[who][path][method].as_strategy(generation_mode=mode)

    @(FUZZ_SLOW if operation in SLOW else FUZZ)
    @given(case=strategy)
    def run(case):
        _call_without_server_errors(case, api, operation, mode)

    run()


def test_verify_prompt_too_long_is_413_not_500(api_open):
    """Found by the fuzzing above: a hypothesis or text within the character limits can still be more
    tokens than the model's context (the judge clips texts by characters, not tokens)."""
    client = TestClient(api_open.app, raise_server_exceptions=False)
    for body in ({"hypotheses": ["is cheerful"], "texts": ["\U0001f600" * 2000]},  # ~6k tokens in 2k characters
                 {"hypotheses": ["é" * 2000], "texts": ["short"]}):  # hypotheses are not clipped at all
        r = client.post("/v1/verify", json=body)
        assert r.status_code == 413, r.text
        assert r.json()["error"]["code"] == "prompt_too_long"
        assert "context window" in r.json()["error"]["message"]


def test_list_offset_beyond_a_64_bit_integer_is_an_empty_page(api_keyed):
    """Found by the fuzzing above: offset has no upper bound, and 2**63 overflowed the database's integer."""
    client = TestClient(api_keyed.app, raise_server_exceptions=False)
    r = client.get("/v1/jobs", params={"offset": 2**63, "limit": 5}, headers=api_keyed.headers)
    assert r.status_code == 200, r.text
    key_id = api_keyed.store.key_id_for(api_keyed.key)
    assert r.json()["jobs"] == [] and r.json()["total"] == api_keyed.store.list_jobs(key_id, limit=1, offset=0)[1] > 0
