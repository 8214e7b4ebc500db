"""vLLM for real: the in-process engine (CPU build, its own env) and `vllm serve` over HTTP,
each held to the same contract as llama.cpp and compared with it on the same weights."""

import json
import subprocess

import pytest

from hypodisc.backends.openai_http import OpenAIBackend
from hypodisc.backends.selfcheck import run_selfcheck

from contract import assert_agree, assert_contract

pytestmark = pytest.mark.vllm

# SmolLM2 through llama.cpp (Q4_1) vs vLLM (the same weights dequantized, run in bf16): measured
# gaps were <= 0.06 in P(yes) and <= 0.1 nats per continuation; the tolerances leave headroom.
P_TOL, LP_TOL = 0.15, 0.5


@pytest.fixture(scope="module")
def llama_report(smol):
    return run_selfcheck(smol)


_ENGINE_CHECK = """
import json
import sys

from hypodisc.backends import load_backend
from hypodisc.backends.base import GenerationParams
from hypodisc.backends.selfcheck import run_selfcheck
from hypodisc.config import load_settings
from hypodisc.errors import UnsupportedInputError

def main(report_path):
    # built as `hypodisc backend-check --backend vllm` builds it; one engine serves both checks, since
    # starting a vLLM engine on the CPU is most of their cost
    llm = load_backend(load_settings(None, backend="vllm", model="smollm2-135m", gpu_memory_utilization=0.3,
                                     max_model_len=2048, enforce_eager=True))
    with open(report_path, "w") as f:
        json.dump(run_selfcheck(llm), f)
    params = GenerationParams(max_tokens=8)
    parts = [{"role": "user", "content": [{"type": "text", "text": "Name a colour."}]}]
    text = [{"role": "user", "content": "Name a colour."}]
    assert llm.generate([parts], params)[0].texts == llm.generate([text], params)[0].texts
    image = [{"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                          {"type": "image", "data": b"\\x89PNG\\r\\n\\x1a\\n"}]}]
    for call in (lambda: llm.generate([text, image], params), lambda: llm.continuation_logprobs([image], [" A"])):
        try:
            call()
        except UnsupportedInputError as exc:
            print("refused:", exc)
        else:
            raise AssertionError("an image reached a text-only model")
    llm.close()

if __name__ == "__main__":  # vLLM's engine starts worker processes by spawning
    main(sys.argv[1])
"""


@pytest.fixture(scope="module")
def engine_run(vllm_python, smol_hf, tmp_path_factory):
    """One in-process vLLM engine on SmolLM2: its self-check report and what it said of image parts."""
    work = tmp_path_factory.mktemp("vllm_engine")
    script, report = work / "engine_check.py", work / "vllm.json"
    script.write_text(_ENGINE_CHECK)
    proc = subprocess.run([str(vllm_python), str(script), str(report)], capture_output=True, text=True,
                          timeout=900, cwd="/tmp")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(report.read_text()), proc.stdout


def test_vllm_engine_contract_and_agreement(engine_run, llama_report):
    report, _ = engine_run
    assert report["backend"] == "vllm" and report["context_length"] == 2048
    assert_contract(report)
    assert_agree(llama_report, report, P_TOL, LP_TOL)


def test_vllm_engine_reads_text_parts_and_refuses_images_for_a_text_model(engine_run):
    _, stdout = engine_run
    assert "refused: the vllm backend's model" in stdout and "multimodal model" in stdout
    assert "refused: the vllm backend scores continuations after text contexts only" in stdout


@pytest.fixture(scope="module")
def served(vllm_server):
    backend = OpenAIBackend(vllm_server, "auto", max_retries=1)
    yield backend
    backend.close()


def test_openai_backend_against_vllm_serve(served, llama_report):
    assert served.model == "smollm2-135m"  # picked from /v1/models
    assert served.context_length == 2048  # read from the server
    report = run_selfcheck(served)
    assert_contract(report)
    assert_agree(llama_report, report, P_TOL, LP_TOL)


def test_openai_raw_text_yes_no_uses_completions(served, smol):
    """A raw-text prompt goes to /v1/completions as is: P(yes) as llama.cpp gives on the same weights."""
    prompt = "Question: Is fire hot? Answer Yes or No.\nAnswer:"
    assert served.yes_no_probs([prompt])[0] == pytest.approx(smol.yes_no_probs([prompt])[0], abs=P_TOL)


def test_openai_prompt_too_long(served):
    from hypodisc.errors import PromptTooLongError

    with pytest.raises(PromptTooLongError, match="127.0.0.1"):
        served.yes_no_probs([[{"role": "user", "content": "word " * 3000}]])
