"""``check_workflow``: the battery every registered workflow passes, like scikit-learn's check_estimator.

It reads nothing but the workflow's declaration (its examples, surfaces and limits), so a new workflow
gets it for free. No model: the scripted backend (judging by a hash of the prompt, proposing with the
example's ``reply``) and the hashing embedder. What it checks:

* the declaration: stages and spans, the result tag, Optional limits, known engine names, a page script
  that registers the workflow, a CLI printer that imports;
* the valid example through the CLI (its readers' ``to_args`` and the config options), over HTTP with
  ``Client.submit`` and the generated ``Client.submit_<name>``: the same request, and the same result
  as calling the workflow directly (except the declared volatile fields);
* a declared upload form (multipart files) builds the same request and result as the JSON route;
* the bad example gives its stable error code to ``check``, to the CLI and over HTTP (both client calls);
* a queued-then-running job cancels at its next progress step;
* a job whose worker died resumes from its checkpoints (requeued, attempt 2) without redoing the
  checkpointed stages, and ends with the same result;
* the job and index pages carry the workflow's section, form and script, and the script is served.
"""

from __future__ import annotations

import contextlib
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from typer.testing import CliRunner

from conftest import REPO, free_port
from hypodisc.backends.scripted import ScriptedBackend
from hypodisc.client import Client, ServiceError
from hypodisc.config import Settings
from hypodisc.errors import InputRejected
from hypodisc.service.app import create_app
from hypodisc.service.job_store import JobStore
from hypodisc.service.settings import ServiceSettings
from hypodisc.verifiers.embedding import HashingEmbedder
from hypodisc.workflows.contract import Checkpoints, Workflow
from hypodisc.workflows.engines import ENGINE_NAMES, Engines

STATIC = REPO / "service" / "static" / "workflows"
TEMPLATES = REPO / "service" / "templates" / "workflows"


def hash_judge(prompt: str) -> float:
    """A deterministic P(yes) in [0.1, 0.9] that knows no workflow's prompts."""
    return 0.1 + 0.8 * (zlib.crc32(prompt.encode()) % 1000) / 1000


def scripted_engines(workflow: Workflow, home: Path) -> Engines:
    reply = workflow.surfaces.examples.reply
    return Engines(Settings(home=home), llm=ScriptedBackend(hash_judge, reply), embedder=HashingEmbedder())


class GatedEngines(Engines):
    """Scripted engines whose every hand-out waits for ``gate``: a job can be held running on purpose."""

    def __init__(self, inner: Engines):
        super().__init__(inner.settings, llm=inner._llm, embedder=inner._embedder)
        self.gate, self.entered = threading.Event(), threading.Event()

    def _hold(self) -> None:
        self.entered.set()
        assert self.gate.wait(60), "the gate was never opened"

    def llm(self):
        self._hold()
        return super().llm()

    def embedder(self):
        self._hold()
        return super().embedder()


def comparable(result: Any, workflow: Workflow) -> dict:
    data = result.model_dump(mode="json") if hasattr(result, "model_dump") else dict(result)
    return {k: v for k, v in data.items() if k not in workflow.surfaces.examples.volatile}


@contextlib.contextmanager
def serve(engines: Engines, store: JobStore, home: Path, **service: Any) -> Iterator[tuple[Client, Any]]:
    """A real uvicorn server in this process over ``store``; yields a client and the app."""
    app = create_app(ServiceSettings(auth=False, **{"concurrency": 1, "lease_s": 2.0, **service}),
                     Settings(home=home), store=store, engines=engines)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        with Client(f"http://127.0.0.1:{server.config.port}") as client:
            yield client, app
    finally:
        server.should_exit = True
        thread.join(10)


def _until(pred, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (value := pred()):
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} not met in {timeout} s")


# -- the checks -------------------------------------------------------------------------------------------
def check_declaration(workflow: Workflow) -> None:
    last = 0.0
    for stage in workflow.stages:
        lo, hi = workflow.stage_spans[stage]
        assert 0.0 <= lo < hi <= 1.0
        last = workflow.fraction(stage, 1, 1, last)
    assert last == 1.0, f"{workflow.name}: the last stage does not reach the end"
    assert workflow.result_model.model_fields["workflow"].default == workflow.name
    assert all(v is None for v in workflow.unlimited().model_dump().values())
    request = workflow.parse(workflow.surfaces.examples.valid())
    assert set(workflow.needs(request)) <= set(ENGINE_NAMES), f"unknown engines in {workflow.needs(request)}"
    page = workflow.surfaces.page
    script = (STATIC / page.script).read_text()
    assert f'hypodisc.register("{workflow.name}"' in script, f"{page.script} does not register {workflow.name}"
    assert (TEMPLATES / page.section).is_file() and (page.form is None or (TEMPLATES / page.form).is_file())
    module, function = workflow.surfaces.cli.printer.split(":")
    assert callable(getattr(__import__(module, fromlist=[function]), function))


def check_bad_input(workflow: Workflow) -> None:
    ex = workflow.surfaces.examples
    with pytest.raises(InputRejected) as rejected:
        workflow.check(workflow.parse(ex.invalid()), workflow.unlimited())
    assert rejected.value.code == ex.invalid_code


def _cli(workflow: Workflow, request: dict, tmp: Path, monkeypatch) -> tuple[Any, list, Path]:
    """Run ``hypodisc <name>`` in-process on the request (as files and options) with scripted engines."""
    from hypodisc import cli
    from hypodisc.cli_workflows import request_args

    seen: list = []
    run = cli.run_workflow

    def spy(name, req, settings):
        seen.append(req)
        return run(name, req, settings)

    monkeypatch.setattr(cli, "make_engines", lambda settings: scripted_engines(workflow, tmp))
    monkeypatch.setattr(cli, "run_workflow", spy)
    folder = tmp / f"cli-{len(list(tmp.glob('cli-*')))}"
    folder.mkdir()
    out = folder / "result.json"
    args = [workflow.name, *request_args(workflow, request, folder), "--json", str(out), "--home", str(tmp)]
    return CliRunner().invoke(cli.app, args), seen, out


def check_cli(workflow: Workflow, reference: Any, tmp: Path, monkeypatch) -> None:
    ex = workflow.surfaces.examples
    res, seen, out = _cli(workflow, ex.valid(), tmp, monkeypatch)
    assert res.exit_code == 0, (res.output, res.exception)
    expected = workflow.parse(ex.valid()).model_dump(mode="json")
    assert seen and seen[0].model_dump(mode="json") == expected, "the CLI built another request"
    result = workflow.result_model.model_validate_json(out.read_text())
    assert comparable(result, workflow) == comparable(reference, workflow)
    bad, _, _ = _cli(workflow, ex.invalid(), tmp, monkeypatch)
    assert isinstance(bad.exception, InputRejected), (bad.output, bad.exception)
    assert bad.exception.code == ex.invalid_code, bad.exception


def check_http(workflow: Workflow, client: Client, reference: Any) -> None:
    ex = workflow.surfaces.examples
    shortcut = getattr(client, "submit_" + workflow.name.replace("-", "_"))
    for job in (client.submit(workflow.name, workflow.parse(ex.valid())), shortcut(**ex.valid())):
        assert job.workflow == workflow.name
        result = client.wait(job.id, timeout=60, poll_s=0.05)
        assert isinstance(result, workflow.result_model)
        assert comparable(result, workflow) == comparable(reference, workflow)
    for submit in (lambda: client.submit(workflow.name, ex.invalid()), lambda: shortcut(**ex.invalid())):
        with pytest.raises(ServiceError) as refused:
            submit()
        assert refused.value.code == ex.invalid_code


def check_upload(workflow: Workflow, client: Client, reference: Any) -> None:
    """A declared upload form builds the same request from files: the same result as the JSON route."""
    upload = workflow.surfaces.upload
    if upload is None:
        return
    files, forms = upload.to_parts(workflow.surfaces.examples.valid())
    parts = [(field, (name, data)) for field, items in files.items() for name, data in items]
    base = str(client._http.base_url).rstrip("/")
    r = httpx.post(f"{base}/v1/jobs/{workflow.name}/files", files=parts, data=forms, timeout=60)
    assert r.status_code == 202, r.text
    result = client.wait(r.json()["id"], timeout=60, poll_s=0.05)
    assert comparable(result, workflow) == comparable(reference, workflow)
    bad = httpx.post(f"{base}/v1/jobs/{workflow.name}/files", files=parts, data={**forms, "config": "{nope"}, timeout=60)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "malformed_json"


def check_cancel(workflow: Workflow, client: Client, app: Any, engines: GatedEngines) -> None:
    """A running job (held at its first engine) cancels at its next progress step."""
    job = client.submit(workflow.name, workflow.surfaces.examples.valid())
    assert engines.entered.wait(30), "the job never asked for an engine"
    client.cancel(job.id)
    _until(lambda: (s := app.state.runner._running.get(job.id)) is not None and s.cancel.is_set(),
           what="the worker hearing of the cancel")
    engines.gate.set()
    info = _until(lambda: (j := client.job(job.id)).status not in ("queued", "running") and j, what="the job ending")
    assert info.status == "cancelled", info


def check_restart(workflow: Workflow, reference: Any, saved: dict, tmp: Path) -> None:
    """A job whose worker died after saving checkpoints is requeued and resumes from them."""
    request = workflow.parse(workflow.surfaces.examples.valid()).model_dump(mode="json")
    store = JobStore(f"sqlite:///{tmp / 'restart.db'}")
    row = store.create_job(workflow.name, request, None)
    assert store.claim_next("crashed-worker").id == row.id
    for name, data in saved.items():
        store.save_checkpoint(row.id, "crashed-worker", name, data)
    resaved: list[str] = []
    save = store.save_checkpoint
    store.save_checkpoint = lambda job_id, owner, name, data: (resaved.append(name), save(job_id, owner, name, data))
    try:
        with serve(scripted_engines(workflow, tmp), store, tmp) as (client, _):
            result = client.wait(row.id, timeout=60, poll_s=0.1)
            assert client.job(row.id).attempts == 2
    finally:
        store.close()
    assert comparable(result, workflow) == comparable(reference, workflow)
    assert not set(saved) & set(resaved), f"checkpointed stages {set(saved) & set(resaved)} ran again"


def check_pages(workflow: Workflow, client: Client, base_url: str) -> None:
    page = workflow.surfaces.page
    job_html = httpx.get(f"{base_url}/jobs/any").text
    script = f'<script src="/static/workflows/{page.script}" data-workflow="{workflow.name}"></script>'
    assert f'<div class="workflow-result" data-workflow="{workflow.name}">' in job_html and script in job_html
    index_html = httpx.get(f"{base_url}/").text
    assert script in index_html
    if page.form:
        assert f'<div class="workflow-form" data-workflow="{workflow.name}">' in index_html
    served = httpx.get(f"{base_url}/static/workflows/{page.script}")
    assert served.status_code == 200 and f'hypodisc.register("{workflow.name}"' in served.text
    assert httpx.get(f"{base_url}/v1/schema/{workflow.name}-config").json() == \
        workflow.config_model().model_dump(mode="json")


def check_workflow(workflow: Workflow, tmp: Path, monkeypatch) -> None:
    """Every check above, in order; ``tmp`` is an empty folder, ``monkeypatch`` pytest's fixture."""
    check_declaration(workflow)
    check_bad_input(workflow)
    first = Checkpoints()
    reference = workflow.run(workflow.parse(workflow.surfaces.examples.valid()), scripted_engines(workflow, tmp),
                             checkpoints=first)
    check_cli(workflow, reference, tmp, monkeypatch)
    engines = GatedEngines(scripted_engines(workflow, tmp))
    store = JobStore(f"sqlite:///{tmp / 'jobs.db'}")
    try:
        with serve(engines, store, tmp) as (client, app):
            check_cancel(workflow, client, app, engines)
            check_http(workflow, client, reference)
            check_upload(workflow, client, reference)
            check_pages(workflow, client, str(client._http.base_url).rstrip("/"))
    finally:
        store.close()
    check_restart(workflow, reference, first.saved, tmp)
