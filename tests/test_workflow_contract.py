"""The workflow registry is the one list: every workflow in it is wired into each surface.

Fast lane: no model is loaded (the OpenAPI document is the committed one, which
test_openapi.py keeps equal to what the code generates).
"""

import inspect
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.main import get_command

from hypodisc.cli import app
from hypodisc.client import Client
from hypodisc.errors import InputRejected
from hypodisc.workflows.contract import NoLimits
from hypodisc.workflows.registry import WORKFLOWS

pytestmark = pytest.mark.fast  # no model: `make test-fast`

ROOT = Path(__file__).resolve().parents[1]
OPENAPI = json.loads((ROOT / "openapi.json").read_text())
STATIC = ROOT / "service" / "static" / "workflows"


def _ref_name(schema: dict) -> str:
    return schema["$ref"].rsplit("/", 1)[-1]


@pytest.mark.parametrize("name", list(WORKFLOWS))
def test_every_workflow_has_a_cli_command_route_client_helper_and_page_renderer(name):
    """Each surface comes from the declaration: nothing is written by hand per workflow outside its modules."""
    wf = WORKFLOWS[name]
    assert name in get_command(app).commands, f"no `hypodisc {name}` command"
    post = OPENAPI["paths"][f"/v1/jobs/{name}"]["post"]
    assert _ref_name(post["requestBody"]["content"]["application/json"]["schema"]) == wf.request_model.__name__
    result = OPENAPI["paths"]["/v1/jobs/{job_id}/result"]["get"]["responses"]["200"]["content"]["application/json"]
    assert result["schema"]["discriminator"]["propertyName"] == "workflow"
    assert result["schema"]["discriminator"]["mapping"][name].endswith("/" + wf.result_model.__name__)
    helper = getattr(Client, "submit_" + name.replace("-", "_"), None)
    assert callable(helper), "no generated client shortcut"
    assert list(inspect.signature(helper).parameters)[1:] == [
        n for n, f in wf.request_model.model_fields.items() if f.is_required()] + [
        n for n, f in wf.request_model.model_fields.items() if not f.is_required()]
    script = (STATIC / wf.surfaces.page.script).read_text()
    assert re.search(rf'hypodisc\.register\("{re.escape(name)}"', script), "no page renderer"


def test_the_page_core_cli_and_client_name_no_workflow():
    """Per-workflow code lives with the workflow: the shared surfaces mention no workflow by name."""
    core = {"service/static/app.js": ROOT / "service" / "static" / "app.js",
            "service/templates/job.html": ROOT / "service" / "templates" / "job.html",
            "service/templates/index.html": ROOT / "service" / "templates" / "index.html",
            "core/client.py": ROOT / "core" / "client.py", "core/cli_workflows.py": ROOT / "core" / "cli_workflows.py",
            "service/runner.py": ROOT / "service" / "runner.py", "service/settings.py": ROOT / "service" / "settings.py"}
    for label, path in core.items():
        text = path.read_text()
        for name in WORKFLOWS:
            assert not re.search(rf'["\'/]{re.escape(name)}["\'/]', text), f"{label} names the {name} workflow"


def test_schema_names_are_unique_across_workflows():
    """Two workflows may share a model (image diffs reuse the text diff's ResearchGoal and Splits), never a
    name for two different schemas: the OpenAPI document would keep one and mis-describe the other."""
    seen: dict[str, tuple[str, dict]] = {}
    for wf in WORKFLOWS.values():
        for model in (wf.request_model, wf.config_model, wf.result_model):
            for sub, schema in model.model_json_schema().get("$defs", {}).items():
                first, known = seen.setdefault(sub, (wf.name, schema))
                assert known == schema, f"{sub} is defined differently by {first} and {wf.name}"


def test_every_stage_has_a_progress_span_and_spans_move_forward():
    for wf in WORKFLOWS.values():
        last = 0.0
        for stage in wf.stages:
            lo, hi = wf.stage_spans[stage]
            assert 0.0 <= lo < hi <= 1.0
            assert wf.fraction(stage, 1, 1, last) >= last
            last = wf.fraction(stage, 1, 1, last)
        assert last == 1.0, f"{wf.name}: the last stage does not reach the end"


def test_input_checks_carry_a_stable_code_and_status():
    diff = WORKFLOWS["diff"]
    with pytest.raises(InputRejected) as small:
        diff.check(diff.parse({"a": ["x"] * 8, "b": ["", "y"]}), NoLimits())
    with pytest.raises(InputRejected) as unlimited:
        diff.check(diff.parse({"a": ["x"] * 8, "b": ["", "y"]}), diff.unlimited())
    assert unlimited.value.code == "corpus_too_small"
    assert (small.value.code, small.value.status) == ("corpus_too_small", 422)
    with pytest.raises(InputRejected) as bad:
        diff.parse({"a": "not a list", "b": []})
    assert bad.value.code == "invalid_request" and bad.value.message.startswith("a:")
    labels = WORKFLOWS["label-features"]
    with pytest.raises(InputRejected) as none:
        labels.check(labels.parse({"features": []}), NoLimits())
    assert none.value.code == "no_features"


def test_the_client_imports_no_computation():
    code = ("import sys, hypodisc.client; heavy = ('scipy', 'sklearn', 'torch', 'llama_cpp', 'numpy', "
            "'transformers', 'sentence_transformers'); print([m for m in heavy if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/")
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
